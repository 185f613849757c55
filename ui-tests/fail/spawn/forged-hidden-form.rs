use scope::{scoped, spawn, Interrupted};

// The macros' hidden `@..` forms name only their own variables: written by hand with a handle
// of the user's, `spawn!(@scope h, fut)` is no spawn on `h` that the lint cannot see.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    fn fire() {
        let h = tokio::runtime::Handle::current();
        spawn!(@scope h, async {});
    }
    fire();
    Ok(())
}

fn main() {}
