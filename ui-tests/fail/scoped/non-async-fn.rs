use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
