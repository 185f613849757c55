use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

struct Poller {
    workers: JoinSet<()>,
}

impl Poller {
    // A set made in the body owns its tasks only while it stays there: moved out (to a
    // field, a caller's collection, a returned value, under another name), it takes them
    // past the scope.
    #[scoped]
    async fn start(&mut self, more: &mut Vec<JoinSet<()>>) -> Result<(), Interrupted> {
        let mut set = JoinSet::new();
        set.spawn(poll_forever());
        self.workers = set;

        let mut other: JoinSet<()> = JoinSet::default();
        other.spawn(poll_forever());
        more.push(other);

        let mut first = JoinSet::new();
        first.spawn(poll_forever());
        let renamed = first;
        more.push(renamed);

        let mut swapped = JoinSet::new();
        swapped.spawn(poll_forever());
        std::mem::swap(&mut self.workers, &mut swapped);
        Ok(())
    }
}

// Sent on a channel: an awaited method hands it on.
#[scoped]
async fn sent(tx: tokio::sync::mpsc::Sender<JoinSet<()>>) -> Result<(), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let _ = tx.send(set).await;
    Ok(())
}

#[scoped]
async fn handed_back() -> Result<Poller, Interrupted> {
    let mut workers = JoinSet::new();
    workers.spawn(poll_forever());
    Ok(Poller { workers })
}

fn main() {}
