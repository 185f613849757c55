use scope::{scoped, spawn, Interrupted};

async fn count(words: &str) -> Result<usize, Interrupted> {
    Ok(words.split_whitespace().count())
}

// A call that takes a reference parameter may keep it (as `count` does) or not (a fn that
// copies what it needs first): rustc has the last word, and its error underlines the call in
// the `spawn!`, not the attribute.
#[scoped]
async fn total(first: &str, second: &str) -> Result<usize, Interrupted> {
    let a = spawn!(count(first));
    let b = spawn!(name = "second", count(second));
    Ok(a.await? + b.await?)
}

fn main() {}
