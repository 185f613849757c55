//! A channel pipeline: a producer, a transform that handles at most `LIMIT` items at a time,
//! and one consumer that the transform's children all send into (the fan-in), which batches
//! what it gets and writes each batch. Bounded tokio `mpsc` channels join the stages, so a
//! slow stage makes the ones before it wait (backpressure). A deadline stops it part-way:
//! every stage ends, the consumer writes the partial batch it holds, no task is left running,
//! and every item is either written or counted as dropped.
//!
//! In Go this is a goroutine per stage, `close(out)` in a `defer`, a `WaitGroup` to close the
//! merged channel, errgroup's `SetLimit`, and a `select` on `ctx.Done()` next to every send.
//! Here the stages are children of one scope, which returns only once every stage has ended,
//! and the cancel reaches each of them. Two Go habits still cause trouble, shown below:
//!
//! 1. `cancelled().await; flush().await` under the default grace of zero: the scope aborts
//!    its children as soon as it sees the cancel, so the flush is dropped at its first
//!    `.await` that has to wait. Give the scope a grace, and the flush a `shield_for` budget.
//! 2. A producer that ignores `send`'s error. Go's `defer cancel()` would stop it when the
//!    consumer's function returns; a scope's body returning cancels no child, so the producer
//!    loops on and the scope never closes. End it on the `SendError`, or make it a background
//!    child (`Scope::spawn_background`), which the body's return stops.
//!
//! Run it with `cargo run --example pipeline`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scope::testing::LeakCheck;
use scope::{scope, scoped, spawn, spawn_when_free, Cause, Interrupted};
use tokio::sync::mpsc;

// Room in each channel (once one is full, its sender waits), the transform's limit, the
// batch size, the transform's work per item, one write, and the final flush's budget.
const CAPACITY: usize = 16;
const LIMIT: usize = 4;
const BATCH: usize = 32;
const WORK: Duration = Duration::from_millis(2);
const WRITE: Duration = Duration::from_millis(10);
const FLUSH_BUDGET: Duration = Duration::from_secs(1);
/// How long a partial batch waits for more items before it is written anyway (a slow source's
/// items are not held for ever).
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Where the items ended up: each is counted when it is made, then as written or dropped;
/// `batches` is the sink, the batches written in order.
#[derive(Default)]
struct Ledger {
    produced: AtomicUsize,
    written: AtomicUsize,
    dropped: AtomicUsize,
    batches: Mutex<Vec<Vec<u64>>>,
}

impl Ledger {
    /// (produced, written, dropped).
    fn counts(&self) -> (usize, usize, usize) {
        let n = |count: &AtomicUsize| count.load(Ordering::SeqCst);
        (n(&self.produced), n(&self.written), n(&self.dropped))
    }

    /// The sizes of the batches written.
    fn sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }
}

/// One value on its way through. Dropped before its batch is written (in a channel's buffer,
/// in a transform cut off part-way, in a batch never flushed), it counts itself as dropped.
struct Item {
    value: u64,
    written: bool,
    ledger: Arc<Ledger>,
}

impl Item {
    fn new(value: u64, ledger: &Arc<Ledger>) -> Self {
        ledger.produced.fetch_add(1, Ordering::SeqCst);
        let ledger = Arc::clone(ledger);
        Item {
            value,
            written: false,
            ledger,
        }
    }

    /// Its batch has been written: its value, for the batch.
    fn into_written(mut self) -> u64 {
        self.written = true;
        self.ledger.written.fetch_add(1, Ordering::SeqCst);
        self.value
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        if !self.written {
            self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// What the consumer reports: the items in its final flush, and the cancel that stopped it
/// (`None`: its input ended).
#[derive(Default)]
struct Report {
    last_flush: usize,
    stopped_by: Option<Cause>,
}

/// Stage 1: sends `0..n`. `send` waits while the channel is full (backpressure), and
/// `run_until_cancelled` ends that wait at the cancel. A `SendError` means the receiver is
/// gone and nothing more will be read, so the producer ends (ignoring it is trap 2).
async fn produce(n: u64, tx: mpsc::Sender<Item>, ledger: Arc<Ledger>) -> Result<(), Interrupted> {
    for value in 0..n {
        let item = Item::new(value, &ledger);
        if scope::run_until_cancelled(tx.send(item)).await?.is_err() {
            break; // the error carried the item back; it is dropped (and counted) with it
        }
    }
    Ok(())
}

/// Stage 2: squares each value in a nested scope with a limit, one child per item.
/// `spawn_when_free!` waits for a free slot before the next item is taken off the channel,
/// so a slow transform holds the producer back. All the children send into one channel (the
/// fan-in). At a cancel this scope (grace zero: nothing to clean up) drops its children and
/// the items they hold.
async fn transform(
    mut rx: mpsc::Receiver<Item>,
    tx: mpsc::Sender<Item>,
) -> Result<(), Interrupted> {
    scope!(error = Interrupted, limit = LIMIT, {
        while let Some(mut item) = rx.recv().await {
            let tx = tx.clone();
            spawn_when_free!(async move {
                tokio::time::sleep(WORK).await;
                item.value *= item.value;
                // One send, then the child ends: on an error (the consumer is gone) the item
                // is dropped, and counted.
                let _ = tx.send(item).await;
                Ok(())
            })
            .await?;
        }
        Ok(())
    })
    .await
}

/// Writes a batch: `took` of I/O, after which its items are in the sink.
async fn write(ledger: &Ledger, held: &mut Vec<Item>, took: Duration) {
    tokio::time::sleep(took).await;
    let batch = held.drain(..).map(Item::into_written).collect();
    ledger.batches.lock().unwrap().push(batch);
}

/// Stage 3, the fan-in's one consumer: batches what arrives and writes each batch when it is
/// full, or when it has waited `FLUSH_EVERY` since the last write, whichever comes first. When
/// its input ends (every sender gone) or the pipeline is cancelled, it writes what it holds.
async fn batch(mut rx: mpsc::Receiver<Item>, ledger: Arc<Ledger>) -> Result<Report, Interrupted> {
    let mut report = Report::default();
    let mut held = Vec::with_capacity(BATCH);
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + FLUSH_EVERY, FLUSH_EVERY);
    loop {
        tokio::select! {
            biased; // the cancel first: once it has come, nothing more is taken
            cause = scope::cancelled() => {
                report.stopped_by = Some(cause);
                break;
            }
            next = rx.recv() => {
                let Some(item) = next else { break }; // the input has ended
                held.push(item);
                if held.len() == BATCH {
                    write(&ledger, &mut held, WRITE).await;
                    every.reset();
                }
            }
            // A partial batch waited long enough: written as it is.
            _ = every.tick() => {
                if !held.is_empty() {
                    write(&ledger, &mut held, WRITE).await;
                }
            }
        }
    }
    // The flush starts after the cancel has been seen. Under the default grace of zero the
    // scope starts its forced abort in the turn it sees the cancel, so this task would be
    // aborted at the flush's first wait (trap 1). `shield_for` alone would not reliably save
    // it: the forced abort waits only for shields already running when it begins, and this
    // one starts at about that moment. So `pipeline` has a grace, the time its stages get to
    // see the cancel and wind down. The shield on top lets a flush slower than that grace
    // still finish within its own budget, and the write inside it sees a context that is
    // not cancelled.
    report.last_flush = held.len();
    if !held.is_empty() {
        scope::shield_for(FLUSH_BUDGET, write(&ledger, &mut held, WRITE)).await?;
    }
    Ok(report)
}

/// The pipeline: three stages joined by bounded channels, with `budget` to run, and a grace
/// for the stages to wind down after a cancel.
#[scoped(timeout = budget, grace = 1s)]
async fn pipeline(n: u64, budget: Duration, ledger: Arc<Ledger>) -> Result<Report, Interrupted> {
    let (to_transform, from_producer) = mpsc::channel(CAPACITY);
    let (to_batcher, from_transform) = mpsc::channel(CAPACITY);
    spawn!(name = "produce", produce(n, to_transform, ledger.clone()));
    spawn!(name = "transform", transform(from_producer, to_batcher));
    let batcher = spawn!(name = "batch", batch(from_transform, ledger));
    // After a cancel the consumer still answers within the grace, its flush written. A value
    // the body returns then is the scope's result (a graceful stop), and the other stages'
    // interruptions are not failures.
    batcher.await
}

/// Trap 1, the way a Go user writes it: wait for the cancel, then flush. With the default
/// grace of zero the flush is aborted at its first wait, and the body is dropped with it.
async fn flush_without_grace(ledger: Arc<Ledger>) -> Result<(), Interrupted> {
    scope!(error = Interrupted, name = "no-grace", timeout = 20ms, {
        let stage = spawn!(async move {
            let mut held: Vec<Item> = (0..3).map(|v| Item::new(v, &ledger)).collect();
            scope::cancelled().await;
            // A slow disk: the abort comes long before the write could end. (`held` is
            // dropped unwritten.)
            write(&ledger, &mut held, Duration::from_secs(2)).await;
            Ok(())
        });
        stage.await
    })
    .await
}

/// Trap 2: the consumer (here the body) takes ten values and returns. The ticker ignores
/// `send`'s error, so it never learns that nobody is listening: as a plain child it keeps the
/// scope open for ever; as a background child, the body's return stops it.
async fn take_ten(background: bool) -> Result<u64, Interrupted> {
    scope!(error = Interrupted, |s| {
        let (tx, mut rx) = mpsc::channel::<u64>(CAPACITY);
        let ticker = async move {
            for tick in 0..u64::MAX {
                let _ = tx.send(tick).await; // the trap: an `Err` means nobody will ever read
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok::<(), Interrupted>(())
        };
        if background {
            s.spawn_background(ticker);
        } else {
            spawn!(ticker);
        }
        let mut sum = 0;
        for _ in 0..10 {
            sum += rx.recv().await.unwrap_or_default();
        }
        Ok(sum)
    })
    .await
}

#[scope::main]
async fn main() -> Result<(), Interrupted> {
    let leaks = LeakCheck::new();

    // 1. A hundred items and time enough: all written, the partial batch at the input's end.
    let ledger = Arc::new(Ledger::default());
    let out = pipeline(100, Duration::from_secs(10), ledger.clone()).await;
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    let report = out.expect("the input ends well before the deadline");
    println!("1. input ended: batches of {:?}", ledger.sizes());
    assert!(report.stopped_by.is_none());
    assert_eq!(ledger.counts(), (100, 100, 0));
    // Full batches, then the partial one at the input's end (a stall of `FLUSH_EVERY` on a
    // loaded machine may have written a partial batch earlier, by time: every item is still
    // written once, in batches of at most `BATCH`).
    let sizes = ledger.sizes();
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    assert!(sizes.iter().all(|&n| (1..=BATCH).contains(&n)));

    // 2. A source that never ends, and a 300 ms deadline.
    let ledger = Arc::new(Ledger::default());
    let start = Instant::now();
    let out = pipeline(u64::MAX, Duration::from_millis(300), ledger.clone()).await;
    let took = start.elapsed();
    scope::check()?;
    let report = out.expect("a graceful stop: the body returned the consumer's report");
    let cause = report.stopped_by.expect("stopped by the deadline");
    let (produced, written, dropped) = ledger.counts();
    let sizes = ledger.sizes();
    println!(
        "2. {cause} after {took:?}: {produced} produced, {written} written in {} batches \
         (the last {} at the cancel), {dropped} dropped in flight",
        sizes.len(),
        report.last_flush,
    );
    assert!(cause.is_deadline());
    // Every item produced was either written or counted as dropped where the cancel found it.
    assert_eq!(produced, written + dropped);
    // The partial batch held at the cancel was written last; every earlier batch was full.
    let (last, full) = sizes.split_last().expect("batches were written");
    assert!(full.iter().all(|&n| n == BATCH));
    assert!(report.last_flush == 0 || *last == report.last_flush);
    // Backpressure: the producer never got further ahead of the consumer than the two
    // channels, the limit, and the one item waiting on each side of the transform.
    assert!(dropped <= 2 * CAPACITY + LIMIT + 2);
    assert!(took < Duration::from_secs(3));

    // 3. Trap 1: the same flush under the default grace of zero.
    let ledger = Arc::new(Ledger::default());
    let out = flush_without_grace(ledger.clone()).await;
    scope::check()?;
    let err = out.expect_err("the deadline, not a value");
    let (produced, written, dropped) = ledger.counts();
    println!("3. no grace: {err}; of {produced} held items {written} written, {dropped} dropped");
    // The body was dropped at the deadline too; the flush was aborted at its first wait.
    assert!(matches!(err, Interrupted::DeadlineExceeded(_)));
    assert_eq!((written, dropped), (0, produced));
    assert!(ledger.sizes().is_empty());

    // 4. Trap 2: a producer that ignores `send`'s error keeps its scope open.
    let stuck = tokio::time::timeout(Duration::from_millis(300), take_ten(false)).await;
    scope::check()?;
    assert!(stuck.is_err(), "still open 300 ms after its body returned");
    let sum = take_ten(true).await?;
    println!("4. ignoring SendError: open after 300 ms; as a background child: {sum}");
    assert_eq!(sum, 45, "0 + 1 + ... + 9");

    // Nothing left running: dropping the stuck scope aborted its producer.
    leaks.assert_clean().await;
    println!("no task left behind");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pipeline_example_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
