use scope::scope as nursery;
use scope::{scoped, spawn, Interrupted};

// A problem the outer pass found in a scope it did not see as one (renamed on import) keeps
// its message, at the user's code.
#[scoped]
async fn outer() -> Result<usize, Interrupted> {
    let words = vec!["a", "b"];
    nursery!({
        let n = spawn!(async { Ok::<_, Interrupted>(words.len()) });
        n.await
    })
    .await
}

fn main() {}
