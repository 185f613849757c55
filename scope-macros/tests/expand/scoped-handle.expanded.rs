async fn bounded() -> Result<u8, AppError> {
    '__scope_end: {
        let scope: ::scope::__private::Scope<
            '_,
            '_,
            <Result<u8, AppError> as ::scope::ScopeResult>::Error,
            ::scope::__private::Sendable,
        > = ::scope::__private::Scope::new(
            ::scope::__private::Config::new().name("bounded").limit(1usize),
        );
        let __scope = &scope;
        let s = __scope;
        break '__scope_end (__scope
            .run(async {
                if false {
                    return ::scope::__private::body_type::<Result<u8, AppError>>();
                }
                {
                    let __out: Result<u8, AppError> = {
                        let first = (__scope).try_spawn(async { Ok(1) })?;
                        if s.is_closed() {
                            return Ok(0);
                        }
                        s.cancel("enough");
                        Ok(first.await?)
                    };
                    __out
                }
            })
            .await);
    }
}
