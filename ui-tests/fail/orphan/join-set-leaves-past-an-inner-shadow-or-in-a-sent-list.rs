use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn work() -> u32 {
    1
}

// A `let` in an inner block (or a closure) that reuses the set's name hides it only there: the
// set still leaves as the body's value after that block.
#[scoped]
async fn leaks() -> Result<JoinSet<u32>, Interrupted> {
    let mut tasks = JoinSet::new();
    tasks.spawn(work());
    let n = {
        let tasks = 3;
        tasks + 1
    };
    let count = |k: usize| {
        let tasks = k;
        tasks
    };
    let _ = (n, count(1));
    Ok(tasks)
}

// A `vec![..]` given to an awaited method is handed on with what it holds, as a tuple or an
// array is.
#[scoped]
async fn sent(tx: tokio::sync::mpsc::Sender<Vec<JoinSet<u32>>>) -> Result<(), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(work());
    tx.send(vec![set]).await.ok();
    Ok(())
}

fn main() {}
