use scope::{scope, scoped, spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

// The body's value is the fn's result: `Ok(..)` forgotten.
#[scoped]
async fn get() -> Result<u32, Interrupted> {
    let c = spawn!(async { Ok(1) });
    c.await?
}

// A child's result handed on as it is, with the child's error type.
#[scoped]
async fn pass_through() -> Result<u32, ApiError> {
    let c = spawn!(async { Ok(1) });
    c.await
}

async fn block() -> Result<u32, ApiError> {
    scope!(error = ApiError, {
        let c = spawn!(async { Ok(2) });
        c.await?
    })
    .await
}

fn main() {}
