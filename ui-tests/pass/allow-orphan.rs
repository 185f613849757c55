use scope::{scoped, Interrupted};

// The one opt-out of the orphan lint, on a statement.
#[scoped]
async fn fire_and_forget() -> Result<(), Interrupted> {
    #[scope::allow_orphan]
    let handle = tokio::spawn(async { 1 });
    #[scope::allow_orphan]
    tokio::task::spawn_blocking(|| ());
    let _ = handle.await;
    Ok(())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert!(block_on(fire_and_forget()).is_ok());
}
