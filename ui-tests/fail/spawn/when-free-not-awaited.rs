// `spawn_when_free!` makes a future that starts the child once the limit has room; dropped
// unawaited, the child never runs. Each form is told to await it.
use scope::{scoped, spawn_in_place_when_free, spawn_when_free, Interrupted};

#[scoped(limit = 2)]
async fn statement(items: Vec<u32>) -> Result<(), Interrupted> {
    for _ in items {
        spawn_when_free!(async { Ok::<(), Interrupted>(()) });
    }
    Ok(())
}

#[scoped(limit = 2)]
async fn let_underscore() -> Result<(), Interrupted> {
    let _ = spawn_in_place_when_free!(async { Ok::<(), Interrupted>(()) });
    Ok(())
}

fn main() {}
