use scope::{scoped, Interrupted};
use std::future::Future;

// The desugared form of an `async fn` (as trait methods with a `Send` bound are written): the
// help says to write the `async fn`, not to add `async` in front of `-> impl Future`.
#[scoped]
fn get() -> impl Future<Output = Result<u32, Interrupted>> + Send {
    async move { Ok(scope::spawn!(async { Ok(1) }).await?) }
}

fn main() {}
