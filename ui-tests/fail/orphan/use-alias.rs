use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    use tokio::spawn as go;
    let _ = go(async {});
    Ok(())
}

fn main() {}
