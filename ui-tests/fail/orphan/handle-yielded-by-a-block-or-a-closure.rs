use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

async fn work() {}

// A runtime handle that an awaited block or a closure called on the spot yields is still a
// handle: its tasks are no children of the scope.
#[scoped]
async fn via_block() -> Result<(), Interrupted> {
    let h = async { Handle::current() }.await;
    h.spawn(work());
    Ok(())
}

#[scoped]
async fn via_closure() -> Result<(), Interrupted> {
    (move || Handle::current())().spawn(work());
    Ok(())
}

fn main() {}
