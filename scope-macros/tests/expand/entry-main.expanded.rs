fn main() -> Result<(), AppError> {
    let __rt = ::scope::__private::tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("failed to build the tokio runtime");
    ::scope::__private::Result::Ok(
        ::scope::__private::main_entry(
            __rt,
            ::scope::__private::MainConfig::new()
                .grace(::scope::__private::Duration::from_secs(5u64))
                .signals(
                    &[
                        ::scope::__private::Signal::Terminate,
                        ::scope::__private::Signal::Hangup,
                    ],
                ),
            async {
                let __body_error = ::scope::__private::BodyError::new();
                '__scope_end: {
                    let scope: ::scope::__private::Scope<
                        '_,
                        '_,
                        <Result<(), AppError> as ::scope::ScopeResult>::Error,
                        ::scope::__private::Sendable,
                    > = ::scope::__private::Scope::new(
                        ::scope::__private::Config::new()
                            .name("main")
                            .shutdown_grace(
                                ::scope::__private::Duration::from_secs(5u64),
                            ),
                    );
                    let __scope = &scope;
                    break '__scope_end (::scope::__private::MainOutcome::of_scope(
                            __scope
                                .run(async {
                                    (&__body_error)
                                        .run::<
                                            _,
                                            <Result<(), AppError> as ::scope::ScopeResult>::Error,
                                        >(
                                            async {
                                                let __out: Result<(), AppError> = {
                                                    let server = (__scope).spawn(serve());
                                                    server.await?;
                                                    Ok(())
                                                };
                                                __out
                                            },
                                            |__error| {
                                                #[allow(unused_imports)]
                                                use ::scope::__private::{
                                                    ViaBoxedError as _, ViaDisplay as _, ViaError as _,
                                                };
                                                (&::scope::__private::ErrorLine(__error)).line()
                                            },
                                        )
                                        .await
                                })
                                .await,
                            __scope,
                            |__error| {
                                #[allow(unused_imports)]
                                use ::scope::__private::{
                                    ViaBoxedError as _, ViaDisplay as _, ViaError as _,
                                };
                                (&::scope::__private::ErrorLine(__error)).line()
                            },
                        )
                        .with_body_error(__body_error));
                }
            },
        ),
    )
}
