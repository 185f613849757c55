use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _handles = vec![tokio::spawn(async {})];
    Ok(())
}

fn main() {}
