use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn fill(set: &mut JoinSet<u32>, n: u32) {
    for i in 0..n {
        set.spawn(async move { i });
    }
}

// A set made in the body and kept there (borrowed by a helper, joined, dropped) owns its
// tasks: spawning on it is no orphan.
#[scoped]
async fn sum() -> Result<u32, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 10 });
    fill(&mut set, 3).await;
    let mut total = 0;
    while let Some(n) = set.join_next().await {
        total += n.unwrap_or(0);
    }
    let mut spare = JoinSet::new();
    spare.spawn(async { 0u32 });
    drop(spare);
    // Level by level: the next level's set becomes the current one, in the body.
    let mut level = JoinSet::new();
    level.spawn(async { 1u32 });
    for _ in 0..2 {
        let mut next = JoinSet::new();
        while let Some(n) = level.join_next().await {
            let n = n.unwrap_or(0);
            next.spawn(async move { n + 1 });
        }
        level = next;
    }
    // Handed to a helper awaited right here, which joins it, directly or through a wrapper.
    total += drain(level).await;
    let mut one = JoinSet::new();
    one.spawn(async { 1u32 });
    total += tokio::time::timeout(std::time::Duration::from_secs(5), drain(one))
        .await
        .unwrap_or(0);
    let mut two = JoinSet::new();
    two.spawn(async { 1u32 });
    total += Box::pin(drain(two)).await;
    Ok(total)
}

// Handed to a child of the scope, which the scope joins.
#[scoped(handle = s)]
async fn in_a_child() -> Result<u32, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 5u32 });
    let child = s.spawn(async move { Ok::<_, Interrupted>(drain(set).await) });
    child.await
}

async fn drain(mut set: JoinSet<u32>) -> u32 {
    let mut sum = 0;
    while let Some(n) = set.join_next().await {
        sum += n.unwrap_or(0);
    }
    sum
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(sum()).ok(), Some(18));
    assert_eq!(rt.block_on(in_a_child()).ok(), Some(5));
}
