use scope::{scope, scoped, spawn, Interrupted};

// `words` is declared in the scope's body: an in-place child cannot borrow it either (the
// body ends before the scope joins its children), so the help does not offer one.
#[scoped]
async fn in_a_fn() -> Result<usize, Interrupted> {
    let words = vec!["a", "b"];
    let n = spawn!(async { Ok(words.len()) });
    Ok(n.await?)
}

async fn in_a_block() -> Result<usize, Interrupted> {
    scope!(error = Interrupted, {
        let words = vec!["a", "b"];
        let n = spawn!(async { Ok(words.len()) });
        Ok(n.await?)
    })
    .await
}

// A parameter outlives the scope: an in-place child may borrow it, and the help says so.
#[scoped]
async fn a_parameter(words: Vec<&'static str>) -> Result<usize, Interrupted> {
    let n = spawn!(async { Ok(words.len()) });
    Ok(n.await?)
}

fn main() {}
