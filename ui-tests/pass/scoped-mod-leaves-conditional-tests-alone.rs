// A `#[scoped]` module leaves its tests alone, also those whose test attribute is written
// under a condition (`#[cfg_attr(test, tokio::test)]`): they are no handlers of the module's.
use scope::scoped;

#[scoped]
mod handlers {
    use scope::{spawn, Interrupted};

    pub async fn double(x: u32) -> Result<u32, Interrupted> {
        Ok(spawn!(async move { Ok(x * 2) }).await?)
    }

    #[allow(dead_code)]
    #[cfg_attr(test, tokio::test)]
    async fn doubles() {
        assert_eq!(double(2).await.unwrap(), 4);
    }

    #[allow(dead_code)]
    #[cfg_attr(any(test, doc), scope::test)]
    async fn doubles_without_a_leak() {
        assert_eq!(double(3).await.unwrap(), 6);
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(handlers::double(4)).unwrap(), 8);
}
