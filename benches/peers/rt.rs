//! The runtimes the rows run on, and helpers shared by the async rows.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Runtime};

pub(crate) fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

pub(crate) fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a 2-worker runtime")
}

/// Runs `fut` as a task of `rt` (so that what it spawns goes to a worker's own queue, as in an
/// application) and returns its output.
pub(crate) fn on<F>(rt: &Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(fut))
        .expect("the measuring task completes")
}

/// Polls `fut`; after its first poll (when it has registered its waker, so that a wake-up can
/// no longer be missed) counts it in `parked`.
pub(crate) async fn park_then<F: Future>(parked: &AtomicUsize, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut first = true;
    std::future::poll_fn(|task| {
        let polled = fut.as_mut().poll(task);
        if first {
            first = false;
            parked.fetch_add(1, Ordering::Release);
        }
        polled
    })
    .await
}

/// Yields until `parked` reaches `n`.
pub(crate) async fn until_parked(parked: &AtomicUsize, n: usize) {
    while parked.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
    }
}
