use scope::{scoped, spawn, Interrupted};

// `#[scoped]` on an `impl` block applies to each async fn; a method's own attribute wins.
struct Service;

#[scoped(limit = 4)]
impl Service {
    async fn one(&self) -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(1) }).await?)
    }

    #[scoped(policy = supervise)]
    async fn all(&self) -> Result<u32, scope::Failures<Interrupted>> {
        let a = spawn!(async { Ok(2) });
        Ok(a.await?)
    }

    fn sync_helper(&self) -> u32 {
        3
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    let s = Service;
    assert_eq!(block_on(s.one()).ok(), Some(1));
    assert_eq!(block_on(s.all()).ok(), Some(2));
    assert_eq!(s.sync_helper(), 3);
}
