use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _ = tokio::task::spawn_local(async {});
    Ok(())
}

fn main() {}
