use scope::{scoped, Interrupted};

// The opt-out on a method of an impl declared in a scope's body holds for that method, in a
// plain impl and in a `#[scoped]` one (on a method it leaves out).
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    struct Metrics;
    impl Metrics {
        #[scope::allow_orphan]
        fn start(&self) -> tokio::task::JoinHandle<()> {
            tokio::spawn(async {})
        }
    }
    struct Flusher;
    #[scoped]
    impl Flusher {
        #[scope::unscoped]
        #[scope::allow_orphan]
        async fn start(&self) -> tokio::task::JoinHandle<()> {
            tokio::spawn(async {})
        }
    }
    let _ = Metrics.start().await;
    let _ = Flusher.start().await.await;
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    assert!(rt.block_on(handler()).is_ok());
}
