use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _handles = vec![tokio::spawn(async {})];
    Ok(())
}

fn main() {}
