use scope::{scoped, spawn, Interrupted};
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

/// Another, whose `spawn` only counts.
struct Tally;

impl Tally {
    fn spawn(&self, n: usize) -> usize {
        n
    }
}

// A `select!` branch's pattern binds `set` to a value of the body's own: in that branch's
// block it is not the parameter of the same name, and spawning on it is no orphan (an
// or-pattern's too).
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
    let more = tokio::select! {
        Ok(set) | Err(set) = async { Ok::<Tally, Tally>(Tally) } => set.spawn(1),
    };
    Ok(queued + more + set.len())
}

// Nor is a name a branch binds the reference parameter `name` (the child owns its `String`),
// or the scope's handle `s`, or `outer`, which held the handle before the branch.
#[scoped(handle = s)]
async fn lengths(name: &str, rx: &mut mpsc::Receiver<String>) -> Result<usize, Interrupted> {
    let outer = s;
    assert!(!outer.is_closed());
    let mut total = name.len();
    for _ in 0..3 {
        total += tokio::select! {
            Some(name) = rx.recv() => spawn!(async move { Ok::<_, Interrupted>(name.len()) }).await?,
            else => 0,
        };
    }
    Ok(total)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send((7, Batch { jobs: vec![1] })).unwrap();
    let mut set = JoinSet::new();
    assert_eq!(rt.block_on(feed(&mut set, &mut rx)).unwrap(), 3);
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send("abc".to_owned()).unwrap();
    drop(tx);
    assert_eq!(rt.block_on(lengths("xy", &mut rx)).unwrap(), 5);
}
