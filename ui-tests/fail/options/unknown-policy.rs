use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(policy = all_or_nothing)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
