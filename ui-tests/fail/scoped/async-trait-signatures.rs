use scope::scoped;

#[async_trait::async_trait]
trait Service {
    async fn ping(&self);
    async fn count(&self) -> u32;
    async fn call(&self) -> Result<u32, Box<dyn std::error::Error>>;
}

// Under `#[async_trait]` (here below `#[scoped]`, which then sees the boxed future), the
// signature gets the same checks as a plain async fn's: the return type must carry the
// scope's result, and a boxed error must cross threads.
struct Below;
#[async_trait::async_trait]
#[scoped]
impl Service for Below {
    async fn ping(&self) {}

    async fn count(&self) -> u32 {
        1
    }

    async fn call(&self) -> Result<u32, Box<dyn std::error::Error>> {
        Ok(1)
    }
}

fn main() {}
