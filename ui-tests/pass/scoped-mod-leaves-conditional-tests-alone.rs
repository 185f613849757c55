// A `#[scoped]` module leaves its tests alone, also those whose test attribute is written
// under a condition (`#[cfg_attr(test, tokio::test)]`, nested or not): they are no handlers of
// the module's.
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

    #[allow(dead_code)]
    #[cfg_attr(all(), cfg_attr(test, tokio::test))]
    async fn doubles_under_two_conditions() {
        assert_eq!(double(5).await.unwrap(), 10);
    }

    // A `main` under a condition is no test: with the condition off (here, always), it is a
    // handler of the module, scoped as the others.
    #[cfg_attr(any(), tokio::main)]
    pub async fn serve() -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(1) }).await?)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(handlers::double(4)).unwrap(), 8);
    assert_eq!(rt.block_on(handlers::serve()).unwrap(), 1);
}
