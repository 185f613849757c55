use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    tokio::r#spawn(async {});
    tokio::runtime::Handle::current().r#spawn(async {});
    Ok(())
}

fn main() {}
