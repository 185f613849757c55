use scope::{scoped, spawn, Interrupted};

// Trait-impl methods, including `async fn` in a trait.
trait Handler {
    async fn handle(&self, x: u32) -> Result<u32, Interrupted>;
}

struct Double;

impl Handler for Double {
    #[scoped(name = "double")]
    async fn handle(&self, x: u32) -> Result<u32, Interrupted> {
        Ok(spawn!(async move { Ok(x * 2) }).await?)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert_eq!(block_on(Double.handle(21)).ok(), Some(42));
}
