use futures::future::join_all;
use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn work() -> u32 {
    1
}

// A set joined in the body stays there, under another binding of its name or in a list
// joined there: neither leaves with the body's value.
#[scoped]
async fn shadowed() -> Result<Vec<u32>, Interrupted> {
    let mut tasks = JoinSet::new();
    tasks.spawn(work());
    let tasks = tasks.join_all().await;
    Ok(tasks)
}

#[scoped]
async fn listed() -> Result<usize, Interrupted> {
    let mut a = JoinSet::new();
    a.spawn(work());
    let mut b = JoinSet::new();
    b.spawn(work());
    let joined = join_all(vec![a.join_all(), b.join_all()]).await;
    let mut c = JoinSet::new();
    c.spawn(work());
    let mut d = JoinSet::new();
    d.spawn(work());
    let all = vec![c, d];
    let mut n = joined.len();
    for set in all {
        n += set.join_all().await.len();
    }
    let mut e = JoinSet::new();
    e.spawn(work());
    let pair = [e];
    for set in pair {
        n += set.join_all().await.len();
    }
    Ok(n)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(shadowed()).unwrap(), vec![1]);
    assert_eq!(rt.block_on(listed()).unwrap(), 5);
}
