use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    { tokio::runtime::Handle::current() }.spawn(async {});
    Ok(())
}

fn main() {}
