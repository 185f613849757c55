use scope::{scoped, spawn, Interrupted};

use std::fmt::Display;

// An `impl Trait` in the return type, and a user error type that takes `Interrupted`.
#[derive(Debug)]
enum AppError {
    Interrupted(Interrupted),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Interrupted(e) => write!(f, "interrupted: {e}"),
        }
    }
}

impl From<Interrupted> for AppError {
    fn from(e: Interrupted) -> Self {
        AppError::Interrupted(e)
    }
}

#[scoped]
async fn label(n: u32) -> Result<impl Display, AppError> {
    let v = spawn!(async move { Ok::<u32, AppError>(n + 1) }).await?;
    Ok(format!("#{v}"))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    let out = block_on(label(1));
    assert_eq!(out.map(|d| d.to_string()).ok(), Some("#2".to_owned()));
    let _ = AppError::Interrupted;
}
