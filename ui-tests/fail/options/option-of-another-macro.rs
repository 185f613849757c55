use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(flavor = "current_thread")]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
