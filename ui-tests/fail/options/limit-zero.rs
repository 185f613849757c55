use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(limit = 0)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
