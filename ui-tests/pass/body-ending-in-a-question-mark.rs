use scope::{scoped, spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("bad input")]
    Bad,
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

// A body whose value is a `?` expression, as a plain async fn may end: `Err(e)?` to fail, a
// child's value taken with `?`, a branch that fails so. Each has the fn's type.

#[scoped]
async fn fails() -> Result<u32, AppError> {
    Err(AppError::Bad)?
}

#[scoped]
async fn child_value() -> Result<u32, AppError> {
    // The child's value is itself a `Result`: the tail is `Result<u32, AppError>`.
    let child = spawn!(async { Ok::<_, AppError>(Ok::<u32, AppError>(7)) });
    child.await?
}

#[scoped]
async fn branch(ok: bool) -> Result<u32, AppError> {
    if ok {
        Ok(1)
    } else {
        Err(AppError::Bad)?
    }
}

#[scoped(policy = supervise)]
async fn supervised() -> Result<u32, scope::Failures<AppError>> {
    Err(AppError::Bad)?
}

// A race's body gives no value: its error, after starting the candidates.
#[scoped(policy = first_ok)]
async fn race(fail: bool) -> Result<u32, scope::Failures<AppError>> {
    spawn!(async {
        std::future::pending::<()>().await;
        Ok::<u32, AppError>(1)
    });
    if fail {
        Err(AppError::Bad)?
    } else {
        Ok(())
    }
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    assert!(matches!(fails().await, Err(AppError::Bad)));
    assert_eq!(child_value().await?, 7);
    assert_eq!(branch(true).await?, 1);
    assert!(matches!(branch(false).await, Err(AppError::Bad)));
    let failures = supervised().await.unwrap_err();
    assert_eq!(failures.len(), 1);
    assert!(matches!(failures.primary().map(|f| f.error()), Some(AppError::Bad)));
    let failures = race(true).await.unwrap_err();
    assert!(matches!(failures.primary().map(|f| f.error()), Some(AppError::Bad)));
    Ok(())
}
