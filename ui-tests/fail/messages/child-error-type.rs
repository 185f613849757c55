use scope::{scoped, spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
#[error("store failed")]
struct StoreError;

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

async fn load(id: u32) -> Result<u32, StoreError> {
    Ok(id)
}

#[scoped]
async fn get(id: u32) -> Result<u32, ApiError> {
    let user = spawn!(load(id));
    Ok(user.await?)
}

fn main() {}
