async fn all_settled() -> Result<(), Failures<AppError>> {
    '__scope_end: {
        let scope: ::scope::__private::Scope<
            '_,
            '_,
            <Result<
                (),
                Failures<AppError>,
            > as ::scope::__private::SupervisedResult>::Error,
            ::scope::__private::Sendable,
        > = ::scope::__private::Scope::new(
            ::scope::__private::Config::new().name("all_settled"),
        );
        let __scope = &scope;
        break '__scope_end (__scope
            .run_all(async {
                let __out: <Result<
                    (),
                    Failures<AppError>,
                > as ::scope::__private::SupervisedResult>::Body = {
                    let _ = (__scope).spawn(work());
                    Ok(())
                };
                __out
            })
            .await);
    }
}
async fn fastest() -> Result<u32, Failures<AppError>> {
    '__scope_end: {
        let scope: ::scope::__private::Race<
            '_,
            '_,
            _,
            <Result<
                u32,
                Failures<AppError>,
            > as ::scope::__private::SupervisedResult>::Error,
            ::scope::__private::Local,
        > = ::scope::__private::Race::new_local(
            ::scope::__private::Config::new().name("fastest"),
        );
        let __scope = &scope;
        break '__scope_end (__scope
            .run(async {
                let _ = (__scope).spawn_in_place(mirror(1));
                let _ = (__scope).spawn_in_place(mirror(2));
            })
            .await);
    }
}
