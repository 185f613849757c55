// A set made inside a literal, or put into a local by a method of it, that stays in the body
// (joined there, or dropped with it) is the body's: its tasks end with the scope. Reading a
// field that holds no set moves nothing.
use std::collections::HashMap;

use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

struct Workers {
    set: JoinSet<u32>,
    id: u32,
}

#[scoped]
async fn joined() -> Result<u32, Interrupted> {
    let mut w = Workers { set: JoinSet::new(), id: 1 };
    w.set.spawn(async { 2 });
    let sum: u32 = w.set.join_all().await.into_iter().sum();
    Ok(sum + w.id)
}

#[scoped]
async fn in_lists() -> Result<usize, Interrupted> {
    let mut shards = vec![JoinSet::new()];
    shards[0].spawn(async { 1_u32 });
    let mut by_key = HashMap::new();
    by_key.entry(1).or_insert_with(JoinSet::new).spawn(async { 2_u32 });
    let mut n = 0;
    for set in shards.into_iter().chain(by_key.into_values()) {
        n += set.join_all().await.len();
    }
    Ok(n)
}

#[tokio::main]
async fn main() {
    assert_eq!(joined().await.unwrap(), 3);
    assert_eq!(in_lists().await.unwrap(), 2);
}
