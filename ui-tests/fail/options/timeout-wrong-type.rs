use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(timeout = budget)]
async fn handler(budget: u64) -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
