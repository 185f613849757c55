use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    type H = tokio::runtime::Handle;
    H::current().spawn(async {});
    Ok(())
}

fn main() {}
