#![allow(dead_code, unreachable_pub)]
//! Helpers shared by the runtime's integration tests.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use scope_runtime::Interrupted;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("boom {0}")]
    Boom(u32),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl AppError {
    pub fn interrupted(&self) -> Option<&Interrupted> {
        match self {
            AppError::Interrupted(i) => Some(i),
            AppError::Boom(_) => None,
        }
    }
}

/// Sets its flag when dropped: proves a future was dropped (finished or cancelled).
#[derive(Debug)]
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub fn flag() -> (DropFlag, Arc<AtomicBool>) {
    let f = Arc::new(AtomicBool::new(false));
    (DropFlag(f.clone()), f)
}

/// Counts live futures: incremented on creation, decremented on drop.
#[derive(Debug)]
pub struct Live(pub Arc<AtomicUsize>);

impl Live {
    pub fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Live(counter.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A multi-thread runtime with two workers.
pub fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// A root context that a task of the current runtime cancels with `reason` after `after`
/// (an outside cancellation: a parent, an operator, a shutdown).
pub fn cancelled_after(after: std::time::Duration, reason: &'static str) -> scope_runtime::Cx {
    let cx = scope_runtime::Cx::root();
    let canceller = cx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        canceller.cancel(reason);
    });
    cx
}

/// A minimal executor without tokio: for what must work outside any runtime (a scope's
/// spawned children then run in place).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(10));
    }
}

/// Spends the calling task's cooperative budget: a tokio resource polled now answers `Pending`
/// (and registers nothing) until the task yields.
pub async fn spend_the_budget() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    for i in 0..1_000 {
        tx.send(i).unwrap();
    }
    std::future::poll_fn(|task| {
        // Pending with items left: the budget is spent.
        while rx.poll_recv(task).is_ready() {}
        assert!(!rx.is_empty(), "the budget was never spent");
        std::task::Poll::Ready(())
    })
    .await;
}
