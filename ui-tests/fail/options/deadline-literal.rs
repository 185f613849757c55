use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(deadline = 5)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
