//! A supervisor with restart: a consumer that loses its connection is restarted with an
//! exponential backoff, a shutdown stops it without counting as a failure, and a child that
//! keeps crashing makes the supervisor give up, as Erlang/OTP's do past their restart
//! intensity (where OTP's exits with `shutdown` and logs a report, `run` returns the child's
//! last error, unchanged, and the report goes to its `on_event` callback).
//!
//! Go's version is a `for` loop around `fn(ctx)` with a hand-rolled backoff, and the usual bugs
//! are a cancellation counted as a failure, a backoff `time.Sleep` that ignores `ctx.Done()`,
//! and a failure list that grows for ever. Here `Supervisor` counts failures in a bounded
//! sliding window (the restart intensity), sleeps its backoff on the context, reports every
//! decision to a callback, and runs its children as children of its own scope, so they are
//! joined before it returns. Run it with `cargo run --example supervisor`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scope::{
    scope, spawn, Backoff, Config, Cx, Interrupted, Restart, Supervisor, SupervisorAction,
    SupervisorEvent,
};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("connection lost")]
    ConnectionLost,
    #[error("corrupt input")]
    Corrupt,
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

type Log = Arc<Mutex<Vec<String>>>;

/// Prints every decision and keeps it for the assertions.
fn reporter(log: &Log) -> impl Fn(&SupervisorEvent<'_, AppError>) + Send + Sync + 'static {
    let log = log.clone();
    move |event| {
        let line = match event.action() {
            SupervisorAction::Restart { delay } => format!(
                "{} (run {}) failed: {}; restart in {delay:?}",
                event.child(),
                event.attempt(),
                event
                    .error()
                    .map_or_else(|| "-".into(), ToString::to_string),
            ),
            SupervisorAction::Stop => format!("{} stopped", event.child()),
            SupervisorAction::GiveUp => format!(
                "{} (run {}) failed again: giving up",
                event.child(),
                event.attempt()
            ),
        };
        println!("  {line}");
        log.lock().unwrap().push(line);
    }
}

/// The ingest supervisor: a consumer that loses its connection on its first three runs, then
/// consumes until it is asked to stop by cancelling `stop` (a context it runs under).
fn ingest(log: &Log, runs: &Arc<AtomicU32>, stop: &Cx) -> Supervisor<AppError> {
    let runs = runs.clone();
    let config = Config::new()
        .name("ingest")
        .parent(stop.clone())
        .grace(Duration::from_millis(500));
    Supervisor::new(config)
        .backoff(Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(500),
        ))
        .intensity(5, Duration::from_secs(10))
        .on_event(reporter(log))
        .child("consumer", Restart::Permanent, move || {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await; // connect
                if run <= 3 {
                    return Err(AppError::ConnectionLost);
                }
                let cause = scope::cancelled().await; // consume until shutdown
                println!("  consumer: stopping ({cause})");
                Ok(())
            }
        })
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    println!("a consumer that reconnects, then a shutdown:");
    let log = Log::default();
    let runs = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    // The supervisor is stopped through a context it runs under, not through its handle: a
    // child cancelled through its handle has its result dropped as a consequence of that
    // cancel, and the supervisor's own result (a panic in a child's clean-up, say) would be
    // lost. `stop` is made under the scope's context, so Ctrl-C, and the scope's own cancel
    // (a sibling's failure), still reach the supervisor, which answers within its own grace.
    let stopped = scope!(error = AppError, grace = 1s, {
        let stop = Cx::current().child();
        let supervisor = spawn!(name = "ingest", ingest(&log, &runs, &stop).run());
        // Run 4 starts about 160 ms in: the stop comes well after it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.cancel("shutdown requested");
        // The supervisor's own result: `Ok` when every child answered the stop in time.
        Ok(supervisor.await)
    })
    .await?;
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    println!("stopped after {:?}: {stopped:?}", start.elapsed());
    assert!(stopped.is_ok(), "a shutdown is not a failure");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        4,
        "three failures, one good run"
    );
    assert_eq!(
        *log.lock().unwrap(),
        [
            "consumer (run 1) failed: connection lost; restart in 20ms",
            "consumer (run 2) failed: connection lost; restart in 40ms",
            "consumer (run 3) failed: connection lost; restart in 80ms",
        ],
        "the backoff doubles; the shutdown is not reported as a failure"
    );

    println!("a child that keeps crashing, next to a healthy one:");
    let log = Log::default();
    let healthy_stopped = Arc::new(Mutex::new(None));
    let seen = healthy_stopped.clone();
    let out = Supervisor::<AppError>::new(
        Config::new()
            .name("pipeline")
            .grace(Duration::from_millis(200)),
    )
    .backoff(Backoff::new(
        Duration::from_millis(10),
        Duration::from_millis(100),
    ))
    .intensity(2, Duration::from_secs(10))
    .on_event(reporter(&log))
    .child("parser", Restart::Permanent, || async {
        Err::<(), _>(AppError::Corrupt)
    })
    .child("uploader", Restart::Permanent, move || {
        let seen = seen.clone();
        async move {
            let cause = scope::cancelled().await;
            *seen.lock().unwrap() = Some(cause.to_string());
        }
    })
    .run()
    .await;
    scope::check()?;
    println!("gave up: {out:?}");
    assert!(
        matches!(out, Err(AppError::Corrupt)),
        "the last error, unchanged"
    );
    assert_eq!(
        log.lock().unwrap().len(),
        3,
        "two restarts, then the give-up"
    );
    assert_eq!(
        healthy_stopped.lock().unwrap().as_deref(),
        Some("parent cancelled: sibling task `parser` failed: corrupt input"),
        "giving up stopped the other child, which was joined"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_supervisor_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
