use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

// The body's value leaves it as `return` does: a set there (as it is, wrapped, or as the
// value of a branch) takes its tasks past the scope.
#[scoped]
async fn start_workers(n: usize) -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(poll_forever());
    }
    Ok(set)
}

#[scoped]
async fn either(fast: bool) -> Result<JoinSet<()>, Interrupted> {
    let mut a = JoinSet::new();
    a.spawn(poll_forever());
    let b = JoinSet::new();
    if fast {
        Ok(a)
    } else {
        Ok(b)
    }
}

// Under another name, given by a branch's value.
#[scoped]
async fn chosen(fast: bool) -> Result<(), Interrupted> {
    let mut a = JoinSet::new();
    a.spawn(poll_forever());
    let kept = if fast { a } else { JoinSet::new() };
    std::mem::forget(kept);
    Ok(())
}

// Moved out inside a macro's arguments.
#[scoped]
async fn held(keep: &mut Vec<JoinSet<()>>) -> Result<(), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    keep.extend(vec![set]);
    Ok(())
}

struct Poller {
    workers: JoinSet<()>,
}

impl Poller {
    #[scoped]
    async fn restart(&mut self, stop: tokio::sync::oneshot::Receiver<()>) -> Result<(), Interrupted> {
        let mut set = JoinSet::new();
        set.spawn(poll_forever());
        tokio::select! {
            _ = stop => {}
            () = std::future::ready(()) => { self.workers = set; }
        }
        Ok(())
    }
}

fn main() {}
