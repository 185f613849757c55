// A `local` scope under `#[async_trait(?Send)]` (whose boxed futures need not be `Send`), in
// either order: its in-place children hold an `Rc`. (An error type that is `Send` itself is
// no `Send` bound of the future.)
use std::rc::Rc;

use scope::{scoped, spawn_in_place, Interrupted};

#[async_trait::async_trait(?Send)]
trait Lookup {
    async fn find(&self, x: u32) -> Result<u32, Interrupted>;
    async fn boxed(&self) -> Result<u32, Box<dyn std::error::Error + Send + Sync>>;
}

struct Below;

#[async_trait::async_trait(?Send)]
#[scoped(local)]
impl Lookup for Below {
    async fn find(&self, x: u32) -> Result<u32, Interrupted> {
        let shared = Rc::new(x);
        Ok(spawn_in_place!(async move { Ok(*shared + 1) }).await?)
    }
    async fn boxed(&self) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        let shared = Rc::new(5);
        Ok(spawn_in_place!(async move { Ok(*shared) }).await?)
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
    async fn boxed(&self) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        let shared = Rc::new(6);
        Ok(spawn_in_place!(async move { Ok(*shared) }).await?)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(Below.find(1)).unwrap(), 2);
    assert_eq!(rt.block_on(Above.find(1)).unwrap(), 3);
    assert_eq!(rt.block_on(Below.boxed()).unwrap(), 5);
    assert_eq!(rt.block_on(Above.boxed()).unwrap(), 6);
}
