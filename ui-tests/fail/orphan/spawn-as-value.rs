use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _handles: Vec<_> = vec![async {}].into_iter().map(tokio::spawn).collect();
    Ok(())
}

fn main() {}
