use std::sync::Arc;

use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// A handle copied or wrapped where it is spawned on, a handle taken out of a tuple parameter,
// and `self` in a method the body declares for `Handle`: each is still the runtime's.
#[scoped]
async fn handler((h, _n): (Handle, u32)) -> Result<(), Interrupted> {
    let shared = Arc::new(Handle::current());
    Arc::clone(&shared).spawn(async {});
    Some(h.clone()).unwrap().spawn(async {});
    let copy = Handle::clone(&h);
    copy.spawn(async {});
    trait Fire {
        fn fire(&self);
    }
    impl Fire for Handle {
        fn fire(&self) {
            self.spawn(async {});
        }
    }
    h.fire();
    Ok(())
}

fn main() {}
