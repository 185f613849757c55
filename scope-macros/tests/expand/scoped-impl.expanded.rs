impl Service {
    async fn call(&self, req: Request) -> Result<Response, AppError> {
        '__scope_end: {
            let scope: ::scope::__private::Scope<
                '_,
                '_,
                <Result<Response, AppError> as ::scope::ScopeResult>::Error,
                ::scope::__private::Sendable,
            > = ::scope::__private::Scope::new(
                ::scope::__private::Config::new()
                    .name("Service::call")
                    .grace(::scope::__private::Duration::from_millis(100u64)),
            );
            let __scope = &scope;
            break '__scope_end (__scope
                .run(async {
                    let __out: Result<Response, AppError> = {
                        let a = (__scope).spawn(backend(req));
                        Ok(a.await?)
                    };
                    __out
                })
                .await);
        }
    }
    fn not_async(&self) {}
}
