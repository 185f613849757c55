use scope::{scope, scoped, spawn, Interrupted};
use tokio::task::JoinSet;

// A set that comes back from a child, a block, a closure or a wrapper and is joined in the
// body stays the body's; what its join yields, its length, or another element of the tuple
// it is in is not the set, and may leave.
#[scoped]
async fn joined() -> Result<(u32, usize), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 1u32 });
    let c = spawn!(async move { Ok(set) });
    let back = c.await?;
    let ones = back.join_all().await;
    let mut other = JoinSet::new();
    other.spawn(async { 2u32 });
    let twos = async move { other.join_all().await }.await;
    let mut third = JoinSet::new();
    third.spawn(async { 3u32 });
    let t = (third, 3usize);
    let threes = t.0.join_all().await;
    let mut fourth = JoinSet::new();
    fourth.spawn(async { 4u32 });
    let s4 = Some(fourth).unwrap();
    let len = s4.len();
    let fours = s4.join_all().await;
    let mut fifth = JoinSet::new();
    fifth.spawn(async { 5u32 });
    let fives = scope!({ Ok::<_, Interrupted>(fifth.join_all().await) }).await?;
    let n = ones.iter().chain(&twos).chain(&threes).chain(&fours).chain(&fives).sum();
    Ok((n, len + t.1))
}

#[tokio::main]
async fn main() {
    assert_eq!(joined().await.unwrap(), (15, 4));
}
