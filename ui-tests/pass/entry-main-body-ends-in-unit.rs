// A `main` that returns a `Result` may end its body in `()` (or leave it with a bare
// `return;`), as any scope's body may: its value is `Ok(())`. (Such a body has no `?`: the
// `async` block it is returns `()`.)
#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Interrupted(#[from] scope::Interrupted),
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    let c = scope::spawn!(async { Ok(()) });
    assert!(c.await.is_ok());
    if std::env::args().count() > 100 {
        return;
    }
    println!("done");
    #[allow(clippy::needless_return)]
    return;
}
