use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

type Drain = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

struct Poller {
    stop: Option<Box<dyn FnOnce() + Send>>,
    drain: Option<Drain>,
    later: Option<Drain>,
}

impl Poller {
    // A set the body makes, carried out of it by what captures it (a stop callback, a drain
    // future kept in a field): its tasks outlive the scope.
    #[scoped]
    async fn start(&mut self) -> Result<(), Interrupted> {
        let mut workers = JoinSet::new();
        workers.spawn(poll_forever());
        self.stop = Some(Box::new(move || workers.abort_all()));
        let mut more = JoinSet::new();
        more.spawn(poll_forever());
        self.drain = Some(Box::pin(async move { while more.join_next().await.is_some() {} }));
        let mut last = JoinSet::new();
        last.spawn(poll_forever());
        let fut = async move { while last.join_next().await.is_some() {} };
        self.later = Some(Box::pin(fut));
        Ok(())
    }
}

fn main() {}
