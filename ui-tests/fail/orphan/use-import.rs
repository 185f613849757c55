use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    use tokio::task;
    let _ = task::spawn(async {});
    Ok(())
}

fn main() {}
