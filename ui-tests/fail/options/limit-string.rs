use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped(limit = "x")]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
