use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(local = true)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
