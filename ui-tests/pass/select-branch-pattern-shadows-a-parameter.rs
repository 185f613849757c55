use scope::{scoped, Interrupted};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// A batch of the service's own, with a `spawn` that starts nothing.
struct Batch {
    jobs: Vec<u32>,
}

impl Batch {
    fn spawn(&mut self, job: u32) {
        self.jobs.push(job);
    }
}

// A `select!` branch's pattern binds `set` to a value of the body's own: in that branch's
// block it is not the parameter of the same name, and spawning on it is no orphan.
#[scoped]
async fn feed(
    set: &mut JoinSet<u32>,
    rx: &mut mpsc::Receiver<(u32, Batch)>,
) -> Result<usize, Interrupted> {
    let queued = tokio::select! {
        Some((job, mut set)) = rx.recv() => {
            set.spawn(job);
            set.jobs.len()
        }
        else => 0,
    };
    Ok(queued + set.len())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send((7, Batch { jobs: vec![1] })).unwrap();
    let mut set = JoinSet::new();
    assert_eq!(rt.block_on(feed(&mut set, &mut rx)).unwrap(), 2);
}
