use scope::{scoped, Interrupted};

// The opt-out on a statement covers the whole statement, whatever its shape: an assignment
// (syn hands the statement's attributes to its left side), a compound assignment, a struct
// literal.
struct Worker {
    task: tokio::task::JoinHandle<()>,
}

struct Service {
    flusher: Option<tokio::task::JoinHandle<()>>,
    workers: Vec<Worker>,
}

impl Service {
    #[scoped]
    async fn start(&mut self) -> Result<(), Interrupted> {
        #[scope::allow_orphan]
        self.flusher = Some(tokio::spawn(async {})); // owned by the service, on purpose

        let metrics;
        #[scope::allow_orphan]
        metrics = tokio::spawn(async {});
        let _ = metrics.await;

        let mut started = 0;
        #[scope::allow_orphan]
        started += usize::from(tokio::spawn(async {}).is_finished());
        let _ = started;

        #[scope::allow_orphan]
        Worker { task: tokio::spawn(async {}) }.task.abort();

        self.workers.push(
            #[scope::allow_orphan]
            Worker { task: tokio::spawn(async {}) },
        );
        Ok(())
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    let mut service = Service { flusher: None, workers: Vec::new() };
    assert!(block_on(service.start()).is_ok());
    assert!(service.flusher.is_some());
    assert_eq!(service.workers.len(), 1);
}
