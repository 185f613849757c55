use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _ = tokio::task::spawn_blocking(|| 1 + 1);
    Ok(())
}

fn main() {}
