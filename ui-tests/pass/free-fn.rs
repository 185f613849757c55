use scope::{scoped, spawn, spawn_in_place, Interrupted};

// A free async fn: spawned and in-place children, `?` and an early return.
#[scoped(name = "sum", limit = 2, timeout = 5s, grace = 10ms)]
async fn sum(values: Vec<u32>, stop_at: u32) -> Result<u32, Interrupted> {
    let first = spawn!(async move { Ok(values.iter().sum::<u32>()) });
    let total = first.await?;
    if total >= stop_at {
        return Ok(stop_at);
    }
    let local = spawn_in_place!(name = "double", async move { Ok(total * 2) });
    Ok(local.await?)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn assert_send<T: Send>(_: &T) {}

fn main() {
    // A #[scoped] fn's future is `Send`: it can itself be spawned on a multi-thread runtime.
    assert_send(&sum(vec![1], 2));
    assert_eq!(block_on(sum(vec![1, 2, 3], 100)).ok(), Some(12));
    assert_eq!(block_on(sum(vec![50, 60], 100)).ok(), Some(100));
}
