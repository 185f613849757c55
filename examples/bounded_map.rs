//! Bounded parallel map, the errgroup pattern: process many items with at most N at a time,
//! results in input order, and the first failure cancels the rest.
//!
//! Go writes this with `errgroup.WithContext` + `SetLimit` and a results slice indexed by
//! position, and relies on every goroutine checking `ctx.Done()`. Here the scope's `limit`
//! queues the extra children, the first error is the scope's error (unchanged), and the
//! siblings are cancelled and joined before the function returns. Run it with
//! `cargo run --example bounded_map`.
//!
//! One difference from Go: `spawn!` under a limit never blocks, so every item's future waits
//! in the scope's queue (a `Vec` of handles here as well). That suits a few thousand items.
//! For a million, wait for a slot before making each child, as Go's `Go` blocks:
//! `spawn_when_free!(fut).await?`, or `scope::map` (lazy and in order, as `batch` shows).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scope::{scoped, spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("item {0} is invalid")]
    Invalid(u64),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// Counts a child as running until its future is dropped: finished, or cancelled at an
/// `.await` (a cancelled child never reaches the code after it).
struct Running(Arc<AtomicUsize>);

impl Running {
    fn enter(running: &Arc<AtomicUsize>, peak: &AtomicUsize) -> Self {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        Running(running.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Squares every item, at most `limit` at once; results come back in input order.
#[scoped(limit = limit)]
async fn square_all(
    items: Vec<u64>,
    limit: usize,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
) -> Result<Vec<u64>, AppError> {
    let handles: Vec<_> = items
        .into_iter()
        .map(|item| {
            let (running, peak) = (running.clone(), peak.clone());
            spawn!(async move {
                let _running = Running::enter(&running, &peak);
                tokio::time::sleep(Duration::from_millis(10)).await;
                if item == 13 {
                    return Err(AppError::Invalid(item));
                }
                Ok(item * item)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await?);
    }
    Ok(out)
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let start = Instant::now();
    let squares = square_all((1..=12).collect(), 4, running.clone(), peak.clone()).await?;
    println!(
        "12 items, at most {} at once, in {:?}: {squares:?}",
        peak.load(Ordering::SeqCst),
        start.elapsed()
    );
    assert_eq!(squares, (1..=12u64).map(|i| i * i).collect::<Vec<_>>());
    assert!(peak.load(Ordering::SeqCst) <= 4);

    let out = square_all((1..=40).collect(), 4, running.clone(), peak.clone()).await;
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    let err = out.unwrap_err();
    println!(
        "with an invalid item: {err}; children still running: {}",
        running.load(Ordering::SeqCst)
    );
    assert!(matches!(err, AppError::Invalid(13)));
    assert_eq!(
        running.load(Ordering::SeqCst),
        0,
        "every child was joined before the return"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bounded_map_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
