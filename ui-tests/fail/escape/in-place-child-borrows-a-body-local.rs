use scope::{scoped, spawn_in_place, Interrupted};

// An in-place child may borrow from outside its scope, not from the scope's own body: the
// body ends (and drops `words`) before the scope joins its children.
#[scoped]
async fn handler() -> Result<usize, Interrupted> {
    let words = vec!["a", "b"];
    let n = spawn_in_place!(async { Ok(words.len()) });
    Ok(n.await?)
}

fn main() {}
