use scope::{scoped, spawn, spawn_in_place, Interrupted};

use scope::Failures;

// Each policy, and the `local` flag (children need not be `Send`).
#[scoped(policy = supervise)]
async fn all_settled() -> Result<(), Failures<Interrupted>> {
    let _ = spawn!(async { Ok::<(), Interrupted>(()) });
    Ok(())
}

#[scoped(policy = first_ok)]
async fn race() -> Result<u32, Failures<Interrupted>> {
    let _ = spawn!(async { Ok::<u32, Interrupted>(1) });
    Ok(())
}

#[scoped(local)]
async fn local() -> Result<u32, Interrupted> {
    let rc = std::rc::Rc::new(5);
    Ok(spawn_in_place!(async move { Ok(*rc) }).await?)
}

#[scoped(local, policy = first_ok)]
async fn local_race() -> Result<u32, Failures<Interrupted>> {
    let _ = spawn_in_place!(async { Ok::<u32, Interrupted>(2) });
    Ok(())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert!(block_on(all_settled()).is_ok());
    assert_eq!(block_on(race()).ok(), Some(1));
    assert_eq!(block_on(local()).ok(), Some(5));
    assert_eq!(block_on(local_race()).ok(), Some(2));
}
