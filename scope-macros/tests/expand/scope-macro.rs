// `scope!` in expression position: a header of options (here the error type and a handle),
// then the body.
async fn caller(words: &[&str]) -> Result<usize, AppError> {
    scope!(limit = 2, error = AppError, |s| {
        let a = spawn_in_place!(async { Ok(words.len()) });
        let b = try_spawn_in_place!(async { Ok(1) })?;
        let _ = s.cx();
        Ok(a.await? + b.await?)
    })
    .await
}
