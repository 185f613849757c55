use scope::{scoped, Interrupted};
use tokio_util::task::TaskTracker;

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let tracker = TaskTracker::new();
    tracker.spawn(async {});
    TaskTracker::spawn(&tracker, async {});
    Ok(())
}

fn main() {}
