use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(timeout = soon)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
