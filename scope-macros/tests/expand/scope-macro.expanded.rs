async fn caller(words: &[&str]) -> Result<usize, AppError> {
    {
        async {
            '__scope_end: {
                let scope: ::scope::__private::Scope<
                    '_,
                    '_,
                    <AppError as ::scope::__private::HeaderError>::Error,
                    ::scope::__private::Sendable,
                > = ::scope::__private::Scope::new(
                    ::scope::__private::Config::new().limit(2usize),
                );
                let __scope = &scope;
                let s = __scope;
                break '__scope_end (__scope
                    .run(async {
                        let a = (__scope).spawn_in_place(async { Ok(words.len()) });
                        let b = (__scope).try_spawn_in_place(async { Ok(1) })?;
                        let _ = s.cx();
                        Ok(a.await? + b.await?)
                    })
                    .await);
            }
        }
    }
        .await
}
