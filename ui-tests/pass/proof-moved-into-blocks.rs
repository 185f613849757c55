// `async move` blocks and `move` closures in a `#[scoped]` body that use the body's proof
// (a nested `scope!`, `provided!()`) each move a copy of it: a loop, or a second block, still
// has its own.
use scope::{provided, scope, scoped, Interrupted, Needs};

scope::slot!(static REQUEST_ID: u32);

#[scoped]
async fn needs_id(p: Needs![REQUEST_ID]) -> Result<u32, Interrupted> {
    Ok(*p.get(&REQUEST_ID))
}

#[scoped(slots(REQUEST_ID = 7))]
async fn fan_out(ids: Vec<u32>) -> Result<u32, Interrupted> {
    let mut sum = 0;
    for id in ids {
        // A per-item scope, run under a timeout: not a child of this scope.
        let one = async move { scope!(slots(REQUEST_ID = id), { Ok::<u32, Interrupted>(id) }).await };
        sum += one.await?;
        let read = async move { needs_id(provided!()).await };
        sum += read.await?;
    }
    let again = move || async move { needs_id(provided!()).await };
    sum += again().await? + again().await?;
    Ok(sum)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(fan_out(vec![1, 2])).unwrap(), 1 + 7 + 2 + 7 + 7 + 7);
}
