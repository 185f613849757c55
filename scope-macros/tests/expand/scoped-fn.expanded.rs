async fn fetch_all(ids: Vec<u32>) -> Result<Vec<User>, AppError> {
    '__scope_end: {
        let scope: ::scope::__private::Scope<
            '_,
            '_,
            <Result<Vec<User>, AppError> as ::scope::ScopeResult>::Error,
            ::scope::__private::Sendable,
        > = ::scope::__private::Scope::new(
            ::scope::__private::Config::new()
                .name("fetch_all")
                .limit(4usize)
                .timeout(::scope::__private::Duration::from_secs(2u64)),
        );
        let __scope = &scope;
        break '__scope_end (__scope
            .run(async {
                let __out: Result<Vec<User>, AppError> = {
                    let first = (__scope).spawn(fetch(ids[0]));
                    let rest = (__scope)
                        .spawn_in_place_named("rest", fetch_rest(&ids[1..]));
                    Ok(vec![first. await ?, rest. await ?])
                };
                __out
            })
            .await);
    }
}
