use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    use tokio::spawn as go;
    let _ = go(async {});
    Ok(())
}

fn main() {}
