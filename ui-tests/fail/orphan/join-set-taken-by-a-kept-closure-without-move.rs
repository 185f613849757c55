use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn finish(mut set: JoinSet<()>) {
    while set.join_next().await.is_some() {}
}

type Drain = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

struct Poller {
    stop: Option<Box<dyn FnOnce() + Send>>,
    take: Option<Box<dyn FnOnce() -> JoinSet<()> + Send>>,
    later: Option<Drain>,
}

impl Poller {
    // A closure or an `async` block without `move` that takes the set by value (it drops
    // it, passes it on, or yields it) owns it: kept, it carries the set out of the body as a
    // `move` one does.
    #[scoped]
    async fn start(&mut self) -> Result<(), Interrupted> {
        let mut workers = JoinSet::new();
        workers.spawn(poll_forever());
        self.stop = Some(Box::new(|| drop(workers)));
        let mut more = JoinSet::new();
        more.spawn(poll_forever());
        self.take = Some(Box::new(|| more));
        let mut last = JoinSet::new();
        last.spawn(poll_forever());
        self.later = Some(Box::pin(async { finish(last).await }));
        Ok(())
    }
}

fn main() {}
