use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

struct Svc {
    workers: JoinSet<()>,
    more: JoinSet<()>,
}

impl Svc {
    // A set's `Extend` and `FromIterator` spawn each future, as its `spawn` does: extending a
    // set from outside, or collecting futures into a set that then leaves the body, starts
    // tasks that outlive the scope.
    #[scoped]
    async fn start(&mut self, outer: &mut JoinSet<()>) -> Result<(), Interrupted> {
        outer.extend([poll_forever(), poll_forever()]);
        let set: JoinSet<()> = (0..4).map(|_| poll_forever()).collect();
        self.workers = set;
        let more = JoinSet::from_iter([poll_forever()]);
        self.more = more;
        // Collected and joined here: the scope's own.
        let joined: JoinSet<()> = (0..2).map(|_| async {}).collect();
        joined.join_all().await;
        Ok(())
    }
}

fn main() {}
