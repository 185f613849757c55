use futures::executor::ThreadPool;
use futures::task::SpawnExt;
use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let pool = ThreadPool::new().unwrap();
    SpawnExt::spawn(&pool, async {}).unwrap();
    pool.spawn(async {}).unwrap();
    Ok(())
}

fn main() {}
