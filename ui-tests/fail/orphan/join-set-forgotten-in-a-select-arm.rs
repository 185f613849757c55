use scope::{scoped, spawn, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

fn keep_forever(set: JoinSet<()>) {
    std::mem::forget(set);
}

mod registry {
    pub(crate) fn adopt(set: tokio::task::JoinSet<()>) {
        std::mem::forget(set);
    }
}

// A free fn that takes the set by value in a `select!` arm, an awaited block or a child's
// block is ordinary code of the body: the set (and its tasks) leaves with it.
#[scoped]
async fn restart(stop: tokio::sync::oneshot::Receiver<()>) -> Result<(), Interrupted> {
    let mut forgotten = JoinSet::new();
    forgotten.spawn(poll_forever());
    let mut leaked = JoinSet::new();
    leaked.spawn(poll_forever());
    tokio::select! {
        _ = stop => {}
        () = std::future::ready(()) => {
            std::mem::forget(forgotten);
            Box::leak(Box::new(leaked));
        }
    }
    let mut in_a_block = JoinSet::new();
    in_a_block.spawn(poll_forever());
    async { std::mem::forget(in_a_block) }.await;
    let mut joined = JoinSet::new();
    joined.spawn(poll_forever());
    tokio::join!(async { keep_forever(joined) });
    let mut adopted = JoinSet::new();
    adopted.spawn(poll_forever());
    spawn!(async move {
        registry::adopt(adopted);
        Ok(())
    });
    Ok(())
}

fn main() {}
