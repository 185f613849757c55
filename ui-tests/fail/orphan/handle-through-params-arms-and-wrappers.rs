use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// Where a handle came from is followed through a nested fn's and a closure's typed
// parameters, a `match` arm, and the wrappers that hand out their content.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    fn fire(h: &Handle) {
        h.spawn(async {});
    }
    let later = |h: Handle| {
        h.spawn(async {});
    };
    match Handle::try_current() {
        Ok(h) => {
            h.spawn(async {});
        }
        Err(_) => {}
    }
    let shared = std::sync::Arc::new(Handle::current());
    shared.spawn(async {});
    let maybe: Option<Handle> = None;
    if let Some(h) = maybe {
        h.spawn(async {});
    }
    fire(&Handle::current());
    later(Handle::current());
    Ok(())
}

fn main() {}
