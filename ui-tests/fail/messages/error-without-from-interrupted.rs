use scope::{scoped, spawn};

#[derive(Debug)]
struct StoreError;

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store error")
    }
}

#[scoped]
async fn load() -> Result<u32, StoreError> {
    let a = spawn!(async { Ok(1) });
    Ok(a.await?)
}

fn main() {}
