// A `local` scope under `#[async_trait(?Send)]` (whose boxed futures need not be `Send`), in
// either order: its in-place children hold an `Rc`.
use std::rc::Rc;

use scope::{scoped, spawn_in_place, Interrupted};

#[async_trait::async_trait(?Send)]
trait Lookup {
    async fn find(&self, x: u32) -> Result<u32, Interrupted>;
}

struct Below;

#[async_trait::async_trait(?Send)]
#[scoped(local)]
impl Lookup for Below {
    async fn find(&self, x: u32) -> Result<u32, Interrupted> {
        let shared = Rc::new(x);
        Ok(spawn_in_place!(async move { Ok(*shared + 1) }).await?)
    }
}

struct Above;

#[scoped(local)]
#[async_trait::async_trait(?Send)]
impl Lookup for Above {
    async fn find(&self, x: u32) -> Result<u32, Interrupted> {
        let shared = Rc::new(x);
        Ok(spawn_in_place!(async move { Ok(*shared + 2) }).await?)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(Below.find(1)).unwrap(), 2);
    assert_eq!(rt.block_on(Above.find(1)).unwrap(), 3);
}
