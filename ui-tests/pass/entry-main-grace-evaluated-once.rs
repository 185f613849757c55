// `grace` serves the application and the program's scope: its expression runs once.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn grace() -> Duration {
    CALLS.fetch_add(1, Ordering::SeqCst);
    Duration::from_secs(1)
}

#[scope::main(grace = grace())]
async fn main() {
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    // The program's grace is the main scope's at a shutdown only: any other cancel gives the
    // grace of any scope, zero.
    assert_eq!(scope::current_grace(), Duration::ZERO);
}
