use std::sync::Arc;

use scope::{scoped, spawn, spawn_in_place, Interrupted};

// Whatever the order of `#[scoped]` and `#[async_trait]`, the fn's owned parameters stay the
// fn's: in-place children borrow them, and the body uses them after (`#[async_trait]` moves
// them into the block it boxes, which the scope's body must not take in).
#[async_trait::async_trait]
trait Count {
    async fn count(&self, words: Vec<String>, floor: u32) -> Result<usize, Interrupted>;
    async fn pair(self: Arc<Self>, pair: (u32, u32), mut extra: Vec<u32>) -> Result<u32, Interrupted>;
}

struct Above;
#[scoped]
#[async_trait::async_trait]
impl Count for Above {
    async fn count(&self, words: Vec<String>, floor: u32) -> Result<usize, Interrupted> {
        let c = spawn_in_place!(async { Ok(words.len() + floor as usize) });
        Ok(c.await? + words.len())
    }
    async fn pair(self: Arc<Self>, (a, b): (u32, u32), mut extra: Vec<u32>) -> Result<u32, Interrupted> {
        extra.push(a);
        let c = spawn_in_place!(async { Ok(extra.iter().sum::<u32>() + b) });
        Ok(c.await? + extra.len() as u32)
    }
}

struct Below;
#[async_trait::async_trait]
#[scoped]
impl Count for Below {
    async fn count(&self, words: Vec<String>, floor: u32) -> Result<usize, Interrupted> {
        let c = spawn_in_place!(async { Ok(words.len() + floor as usize) });
        Ok(c.await? + words.len())
    }
    async fn pair(self: Arc<Self>, (a, b): (u32, u32), mut extra: Vec<u32>) -> Result<u32, Interrupted> {
        extra.push(a);
        let c = spawn_in_place!(async { Ok(extra.iter().sum::<u32>() + b) });
        Ok(c.await? + extra.len() as u32)
    }
}

struct OnTheMethods;
#[async_trait::async_trait]
impl Count for OnTheMethods {
    #[scoped]
    async fn count(&self, words: Vec<String>, floor: u32) -> Result<usize, Interrupted> {
        let c = spawn_in_place!(async { Ok(words.len() + floor as usize) });
        let s = spawn!(async move { Ok(floor as usize) });
        Ok(c.await? + words.len() + s.await? - floor as usize)
    }
    #[scoped]
    async fn pair(self: Arc<Self>, (a, b): (u32, u32), mut extra: Vec<u32>) -> Result<u32, Interrupted> {
        extra.push(a);
        let c = spawn_in_place!(async { Ok(extra.iter().sum::<u32>() + b) });
        Ok(c.await? + extra.len() as u32)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let words = || vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(rt.block_on(Above.count(words(), 1)).unwrap(), 5);
    assert_eq!(rt.block_on(Below.count(words(), 1)).unwrap(), 5);
    assert_eq!(rt.block_on(OnTheMethods.count(words(), 1)).unwrap(), 5);
    assert_eq!(rt.block_on(Arc::new(Above).pair((1, 2), vec![3])).unwrap(), 8);
    assert_eq!(rt.block_on(Arc::new(Below).pair((1, 2), vec![3])).unwrap(), 8);
    assert_eq!(rt.block_on(Arc::new(OnTheMethods).pair((1, 2), vec![3])).unwrap(), 8);
}
