use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

async fn work() {}

// A runtime handle that an awaited block, a closure called on the spot or a labeled block
// yields is still a handle, wrapped (`Some(..)`) or not: its tasks are no children of the
// scope.
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

#[scoped]
async fn via_a_wrapped_block() -> Result<(), Interrupted> {
    if let Some(h) = async { Some(Handle::current()) }.await {
        h.spawn(work());
    }
    Ok(())
}

#[scoped]
async fn via_a_labeled_block() -> Result<(), Interrupted> {
    let h = 'found: {
        break 'found Handle::current();
    };
    h.spawn(work());
    Ok(())
}

fn main() {}
