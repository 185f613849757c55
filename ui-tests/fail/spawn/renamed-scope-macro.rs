use scope::scope as nursery;
use scope::{scoped, spawn, Interrupted};

async fn work() -> Result<(), Interrupted> {
    Ok(())
}

// The scope finds its macros by name: a nested `scope!` renamed on import is another macro to
// the enclosing `#[scoped]`, which binds the `spawn!` inside it to itself first.
#[scoped]
async fn outer() -> Result<(), Interrupted> {
    nursery!({
        spawn!(work());
        Ok::<_, Interrupted>(())
    })
    .await
}

// Inside a child, the same: the `spawn!` in the renamed scope is said at the `spawn!`.
#[scoped]
async fn in_a_child() -> Result<(), Interrupted> {
    let c = spawn!(async move {
        nursery!({
            let g = spawn!(work());
            g.await
        })
        .await
    });
    c.await
}

fn main() {}
