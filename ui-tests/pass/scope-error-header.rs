use scope::{scope, spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("bad input")]
    BadInput,
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // The header states the error type: no `Ok::<_, AppError>` in the body.
    let total = rt.block_on(scope!(limit = 2, error = AppError, {
        let a = spawn!(async { Ok(1) });
        let b = spawn!(async { Ok(2) });
        Ok(a.await? + b.await?)
    }));
    assert_eq!(total.unwrap(), 3);
    let failed = rt.block_on(scope!(error = AppError, {
        let a = spawn!(async { Err::<u8, _>(AppError::BadInput) });
        Ok(a.await?)
    }));
    assert!(matches!(failed, Err(AppError::BadInput)));
}
