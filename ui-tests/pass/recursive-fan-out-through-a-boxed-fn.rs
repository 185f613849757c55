// A `#[scoped]` fn that spawns itself: rustc cannot prove a recursive `async fn`'s future
// `Send` (the future's type contains itself), so write the fn by hand as one returning a boxed
// future, which `#[scoped]` scopes as it does an `async fn`.
use std::future::Future;
use std::pin::Pin;

use scope::{scoped, spawn, Interrupted};

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, Interrupted>> + Send>>;

#[scoped]
fn walk(depth: u32) -> Boxed<u64> {
    Box::pin(async move {
        if depth == 0 {
            return Ok(1);
        }
        let left = spawn!(walk(depth - 1));
        let right = spawn!(walk(depth - 1));
        Ok(left.await? + right.await?)
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(walk(6)).unwrap(), 64);
}
