use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(concurrency = 4)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
