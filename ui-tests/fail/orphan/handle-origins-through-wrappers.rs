use std::sync::Arc;

use axum::extract::State;
use scope::{scoped, spawn, Interrupted};
use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

// Where a handle came from is followed through an extractor taken apart in the pattern, a
// lock around a set from outside, a trait object, and past a loop whose body shadows the name.
#[scoped]
async fn upload(
    State(tracker): State<TaskTracker>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    spawner: &dyn futures_util::task::Spawn,
    ids: Vec<u32>,
) -> Result<(), Interrupted> {
    tracker.spawn(async {});
    tasks.lock().await.spawn(async {});
    let _ = spawner.spawn_obj(Box::pin(async {}).into());
    let handle = Handle::current();
    for id in ids {
        let handle = spawn!(async move { Ok::<u32, Interrupted>(id) }); // shadows in the loop
        handle.await?;
    }
    handle.spawn(async {}); // the runtime's handle again
    Ok(())
}

fn main() {}
