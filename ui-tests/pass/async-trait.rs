use scope::{scoped, spawn, Interrupted};

#[async_trait::async_trait]
trait Service {
    async fn call(&self, x: u32) -> Result<u32, Interrupted>;
}

// Each order works: `#[scoped]` above `#[async_trait]`, below it, or on the method.
struct Above;
#[scoped]
#[async_trait::async_trait]
impl Service for Above {
    async fn call(&self, x: u32) -> Result<u32, Interrupted> {
        Ok(spawn!(async move { Ok(x + 1) }).await?)
    }
}

struct Below;
#[async_trait::async_trait]
#[scoped]
impl Service for Below {
    async fn call(&self, x: u32) -> Result<u32, Interrupted> {
        Ok(spawn!(async move { Ok(x + 2) }).await?)
    }
}

struct OnTheMethod;
#[async_trait::async_trait]
impl Service for OnTheMethod {
    #[scoped(name = "call")]
    async fn call(&self, x: u32) -> Result<u32, Interrupted> {
        Ok(spawn!(async move { Ok(x + 3) }).await?)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(Above.call(1)).unwrap(), 2);
    assert_eq!(rt.block_on(Below.call(1)).unwrap(), 3);
    assert_eq!(rt.block_on(OnTheMethod.call(1)).unwrap(), 4);
}
