use scope::spawn as go;
use scope::{scoped, Interrupted};

// The scope finds its macros by name: a renamed import is not bound to it, and the error
// says so (it is inside a `#[scoped]` fn).
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let child = go!(async { Ok::<(), Interrupted>(()) });
    child.await
}

fn main() {}
