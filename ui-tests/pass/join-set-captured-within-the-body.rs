use scope::{scoped, spawn, Interrupted};
use tokio::task::JoinSet;

// A set captured by a block or closure that runs within the body (awaited here, called here,
// or a child the scope joins), with `move` or taking it by value without, stays the body's:
// spawning on it is no orphan.
#[scoped]
async fn joined() -> Result<u32, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 1u32 });
    let drain = async move {
        let mut n = 0;
        while let Some(v) = set.join_next().await {
            n += v.unwrap_or(0);
        }
        n
    };
    let total = drain.await;
    let mut other = JoinSet::new();
    other.spawn(async { 2u32 });
    let child = spawn!(async move {
        let mut n = 0;
        while let Some(v) = other.join_next().await {
            n += v.unwrap_or(0);
        }
        Ok::<_, Interrupted>(n)
    });
    let mut third = JoinSet::new();
    third.spawn(async { 3u32 });
    let count = move || third.len();
    let mut fourth = JoinSet::new();
    fourth.spawn(async { 4u32 });
    let stop = || drop(fourth);
    stop();
    let mut fifth = JoinSet::new();
    fifth.spawn(async { 5u32 });
    let drained = async { drain_all(fifth).await };
    let five = drained.await;
    Ok(total + child.await? + count() as u32 + five)
}

async fn drain_all(mut set: JoinSet<u32>) -> u32 {
    let mut n = 0;
    while let Some(v) = set.join_next().await {
        n += v.unwrap_or(0);
    }
    n
}

#[tokio::main]
async fn main() {
    assert_eq!(joined().await.unwrap(), 9);
}
