use std::sync::Arc;

use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// A handle handed to a combinator's closure (`Option::map`, `Result::map`) is still the
// runtime's, and so is a copy made with `Arc::clone(&h)`.
#[scoped]
async fn handler(rt: Option<Handle>) -> Result<(), Interrupted> {
    let _ = Handle::try_current().map(|h| h.spawn(async {}));
    let _ = rt.as_ref().map(|h| h.spawn(async {}));
    let shared = Arc::new(Handle::current());
    let again = Arc::clone(&shared);
    again.spawn(async {});
    Ok(())
}

fn main() {}
