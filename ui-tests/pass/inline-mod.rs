use scope::{scoped, spawn, spawn_in_place, Interrupted};

// `#[scoped]` on an inline `mod` applies to every async fn in it.
#[scoped(timeout = 1s)]
mod handlers {
    use super::*;

    pub async fn get() -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(7) }).await?)
    }

    pub struct Api;

    impl Api {
        pub async fn put(&self) -> Result<u32, Interrupted> {
            Ok(spawn_in_place!(async { Ok(8) }).await?)
        }
    }

    pub fn plain() -> u32 {
        9
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert_eq!(block_on(handlers::get()).ok(), Some(7));
    assert_eq!(block_on(handlers::Api.put()).ok(), Some(8));
    assert_eq!(handlers::plain(), 9);
}
