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

fn main() {}
