use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _ = ::tokio::spawn(async {});
    Ok(())
}

fn main() {}
