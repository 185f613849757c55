// The lines the body's type is said with make no code unreachable: a crate that forbids the
// lint builds.
#![forbid(unreachable_code)]

use scope::{scoped, spawn, Failures, Interrupted};

// A body with `return`s of its own: the first says the body's type (the fn's, or under
// `supervise` its body's `Result<T, E>`), and every `return` and `?` after it converts into
// it as in a plain fn.

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("bad")]
    Bad,
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

#[derive(Debug)]
struct Other;

impl From<Other> for AppError {
    fn from(_: Other) -> Self {
        AppError::Bad
    }
}

fn other(fail: bool) -> Result<u8, Other> {
    if fail {
        Err(Other)
    } else {
        Ok(1)
    }
}

#[scoped]
async fn fail_fast(fail: bool) -> Result<u32, AppError> {
    let v = other(fail)?;
    if v == 2 {
        return Err(AppError::Bad);
    }
    let h = spawn!(async { Ok::<_, AppError>(3u32) });
    if v == 3 {
        return Ok(h.await?);
    }
    Ok(h.await? + 1)
}

#[scoped(policy = supervise)]
async fn supervised(early: bool) -> Result<u32, Failures<AppError>> {
    spawn!(async { Ok::<_, AppError>(()) });
    if early {
        return Ok(5);
    }
    other(false)?;
    Ok(1)
}

#[scoped]
async fn server(stop: bool) -> Result<(), AppError> {
    if stop {
        return Ok(());
    }
    loop {
        other(true)?;
        tokio::task::yield_now().await;
    }
}

// Bare `return;`s give the body `()`, which a scope's body may end in: no type is said.
#[scoped]
async fn unit_body(stop: bool) -> Result<(), AppError> {
    spawn!(async { Ok::<_, AppError>(()) });
    if stop {
        return;
    }
    tokio::task::yield_now().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(fail_fast(false).await.unwrap(), 4);
    assert!(matches!(fail_fast(true).await, Err(AppError::Bad)));
    assert_eq!(supervised(true).await.unwrap(), 5);
    assert_eq!(supervised(false).await.unwrap(), 1);
    assert!(server(true).await.is_ok());
    assert!(matches!(server(false).await, Err(AppError::Bad)));
    assert!(unit_body(true).await.is_ok());
    assert!(unit_body(false).await.is_ok());
}
