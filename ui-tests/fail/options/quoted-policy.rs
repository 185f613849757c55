use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(policy = "race")]
async fn handler() -> Result<(), scope::Failures<Interrupted>> {
    Ok(())
}

fn main() {}
