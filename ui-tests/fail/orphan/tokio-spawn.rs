use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    tokio::spawn(async {});
    Ok(())
}

fn main() {}
