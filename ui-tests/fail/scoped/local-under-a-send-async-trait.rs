// A `local` scope's future is `!Send`: under `#[async_trait]` (`#[scoped]` below it), whose
// boxed futures are `Send` unless written `?Send`, the option is told what to write.
use std::rc::Rc;

use scope::{scoped, spawn_in_place, Interrupted};

#[async_trait::async_trait]
trait Lookup {
    async fn find(&self, x: u32) -> Result<u32, Interrupted>;
}

struct Table;

#[async_trait::async_trait]
#[scoped(local)]
impl Lookup for Table {
    async fn find(&self, x: u32) -> Result<u32, Interrupted> {
        let shared = Rc::new(x);
        Ok(spawn_in_place!(async move { Ok(*shared) }).await?)
    }
}

// A hand-written boxed future that is `Send` is told so in its own words.
struct ByHand;

impl ByHand {
    #[scoped(local)]
    fn find(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, Interrupted>> + Send + '_>> {
        Box::pin(async move { Ok(spawn_in_place!(async { Ok(1) }).await?) })
    }
}

fn main() {}
