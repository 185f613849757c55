fn main() -> Result<(), AppError> {
    let __rt = ::scope::__private::tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("failed to build the tokio runtime");
    ::scope::__private::main_entry(
        __rt,
        ::scope::__private::Duration::from_secs(5u64),
        async {
            let scope = ::scope::__private::Scope::new(
                ::scope::__private::Config::new()
                    .name("main")
                    .grace(::scope::__private::Duration::from_secs(5u64)),
            );
            let __scope = &scope;
            __scope
                .run(async {
                    {
                        let server = __scope.spawn(serve());
                        server.await?;
                        Ok(())
                    }
                })
                .await
        },
    )
}
