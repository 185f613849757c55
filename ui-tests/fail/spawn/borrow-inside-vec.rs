use scope::{scoped, spawn, Interrupted};

// A misused `spawn!` inside another macro's arguments gets the message it gets elsewhere.
#[scoped]
async fn handler() -> Result<usize, Interrupted> {
    let words = vec!["a", "b"];
    let children = vec![spawn!(async { Ok(words.len()) })];
    let mut n = 0;
    for c in children {
        n += c.await?;
    }
    Ok(n)
}

fn main() {}
