use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    use tokio::task;
    let _ = task::spawn(async {});
    Ok(())
}

fn main() {}
