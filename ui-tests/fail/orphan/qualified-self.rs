use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    <tokio::runtime::Handle>::current().spawn(async {});
    let h = Handle::current();
    <Handle>::spawn(&h, async {});
    Ok(())
}

fn main() {}
