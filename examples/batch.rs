//! A batch job, the errgroup pattern at scale: 10,000 items, at most 32 at a time, with a
//! progress line, and the first error stopping the rest.
//!
//! `scope::map` pulls an item only when a slot is free (the batch holds 32 items' futures, not
//! 10,000), runs each as a child of its own scope, returns the values in input order, and on
//! the first error cancels the items in flight and starts no other: the error is what it
//! returns. Progress comes from an in-place child that reads a counter while the map runs.
//! Run it with `cargo run --example batch`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use scope::{scoped, spawn_in_place, Interrupted};

#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("item {0} is corrupt")]
    Corrupt(usize),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// What happened to the items of one batch.
#[derive(Default)]
struct Tally {
    started: AtomicUsize,
    done: AtomicUsize,
    /// The highest index that ever started.
    last_started: AtomicUsize,
    /// How many had started when the corrupt item failed.
    started_at_failure: AtomicUsize,
}

/// Checks one item (a stand-in for real work: a little I/O, then a verdict).
async fn check(index: usize, corrupt: Option<usize>, tally: Arc<Tally>) -> Result<u64, BatchError> {
    tally.started.fetch_add(1, Ordering::Relaxed);
    tally.last_started.fetch_max(index, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_micros(200)).await;
    if Some(index) == corrupt {
        let started = tally.started.load(Ordering::Relaxed);
        tally.started_at_failure.store(started, Ordering::Relaxed);
        return Err(BatchError::Corrupt(index));
    }
    tally.done.fetch_add(1, Ordering::Relaxed);
    Ok(index as u64 % 7)
}

/// Runs a batch of `n` items (with one corrupt item, or none), printing its progress.
#[scoped]
async fn batch(n: usize, corrupt: Option<usize>, tally: Arc<Tally>) -> Result<u64, BatchError> {
    let progress = {
        let tally = tally.clone();
        spawn_in_place!(async move {
            loop {
                // The next tick, or the cancel (Ctrl-C): a loop that never looks would run on
                // until the shutdown's grace ran out, and hold the program's exit that long.
                let tick = tokio::time::sleep(Duration::from_millis(50));
                if scope::run_until_cancelled(tick).await.is_err() {
                    return Ok(());
                }
                let done = tally.done.load(Ordering::Relaxed);
                eprint!("\rprocessed {done}/{n}");
                if done >= n {
                    eprintln!();
                    return Ok::<_, BatchError>(());
                }
            }
        })
    };
    let sums = scope::map(0..n, |i| check(i, corrupt, tally.clone()))
        .limit(32)
        .run()
        .await;
    progress.cancel("the batch is over");
    eprintln!("\rprocessed {}/{n}", tally.done.load(Ordering::Relaxed));
    Ok(sums?.iter().sum())
}

#[scope::main]
async fn main() -> Result<(), BatchError> {
    let tally = Arc::new(Tally::default());
    let total = batch(10_000, None, tally.clone()).await?;
    println!("10,000 items checked: checksum {total}");
    assert_eq!(tally.done.load(Ordering::Relaxed), 10_000);
    assert_eq!(total, (0..10_000u64).map(|i| i % 7).sum::<u64>());

    let tally = Arc::new(Tally::default());
    let out = batch(10_000, Some(4_321), tally.clone()).await;
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    let err = out.unwrap_err();
    let started = tally.started.load(Ordering::Relaxed);
    let last = tally.last_started.load(Ordering::Relaxed);
    println!("stopped by \"{err}\": {started} items started, none past item {last}");
    assert!(matches!(err, BatchError::Corrupt(4_321)));
    // Items are admitted in order, 32 at a time: nothing far past the corrupt one started,
    // and nothing once its failure was known (the slots in flight as it failed may each
    // start one more before the scope records it: a moment, not a timer tick).
    let at_failure = tally.started_at_failure.load(Ordering::Relaxed);
    assert!(
        started <= at_failure + 32,
        "{} items started after the failure",
        started - at_failure
    );
    assert!(
        last < 4_321 + 2 * 32,
        "item {last} started far past the corrupt one"
    );
    assert!(started < 10_000);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_batch_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
