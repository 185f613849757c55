//! Retry with a cancellable, deadline-aware exponential backoff: a flaky upstream is retried
//! until it answers, an error that retrying cannot fix is returned at once, a request whose
//! deadline leaves no room for the next backoff gives up before the deadline instead of
//! sleeping past it, and a cancel wakes a backoff sleep at once.
//!
//! Go's version is a loop with `time.Sleep` (or a `select` on `ctx.Done()` when someone
//! remembered), and it typically sleeps towards a deadline it cannot beat. Here `Retry` reads
//! the ambient context: the scope's cancellation ends a sleep, the scope's deadline bounds
//! it, and both come back typed, in the caller's own error type. Run it with
//! `cargo run --example retry`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use scope::{scope, scoped, spawn, Backoff, Cause, Interrupted, Retry, RetryIf};

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("upstream timed out")]
    Timeout,
    #[error("item {0} does not exist")]
    NotFound(u32),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// An upstream that times out on its first `flaky` calls, then answers.
struct Upstream {
    calls: AtomicU32,
    flaky: u32,
}

impl Upstream {
    fn new(flaky: u32) -> Self {
        Upstream {
            calls: AtomicU32::new(0),
            flaky,
        }
    }

    async fn get(&self, id: u32) -> Result<String, FetchError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        if id == 404 {
            return Err(FetchError::NotFound(id));
        }
        if call <= self.flaky {
            return Err(FetchError::Timeout);
        }
        Ok(format!("item {id}"))
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Timeouts are worth another attempt; a missing item is not.
fn policy(jitter: bool) -> Retry<impl RetryIf<FetchError>> {
    Retry::new()
        .attempts(5)
        .backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(2)).jitter(jitter))
        .when(|e: &FetchError| matches!(e, FetchError::Timeout))
}

/// One request, bounded by `timeout`: the retry runs under the scope's context and deadline.
#[scoped(timeout = timeout)]
async fn fetch(
    upstream: &Upstream,
    id: u32,
    timeout: Duration,
    jitter: bool,
) -> Result<String, FetchError> {
    policy(jitter).run(|_| upstream.get(id)).await
}

#[scope::main]
async fn main() -> Result<(), FetchError> {
    let upstream = Upstream::new(2);
    let start = Instant::now();
    let item = fetch(&upstream, 7, Duration::from_secs(5), true).await?;
    println!(
        "flaky upstream: {item:?} after {} calls, {:?}",
        upstream.calls(),
        start.elapsed()
    );
    assert_eq!(item, "item 7");
    assert_eq!(upstream.calls(), 3, "two timeouts retried, then the answer");

    let upstream = Upstream::new(0);
    let missing = fetch(&upstream, 404, Duration::from_secs(5), true).await;
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    println!("missing item: {missing:?} after {} call", upstream.calls());
    assert!(matches!(missing, Err(FetchError::NotFound(404))));
    assert_eq!(
        upstream.calls(),
        1,
        "the predicate says retrying cannot help"
    );

    // Always timing out, under a 1.4 s deadline (no jitter, so the schedule is exact): calls
    // at about 0, 100, 300 and 700 ms; the next backoff (800 ms) would end past the deadline,
    // so it gives up at about 710 ms with the deadline's error instead of sleeping until then.
    let upstream = Upstream::new(u32::MAX);
    let start = Instant::now();
    let late = fetch(&upstream, 7, Duration::from_millis(1_400), false).await;
    let took = start.elapsed();
    scope::check()?;
    println!(
        "deadline too close: {late:?} after {} calls, {took:?}",
        upstream.calls()
    );
    assert!(matches!(
        late,
        Err(FetchError::Interrupted(Interrupted::DeadlineExceeded(_)))
    ));
    assert_eq!(upstream.calls(), 4);
    assert!(
        took < Duration::from_millis(1_400),
        "returned before the deadline"
    );

    // A cancel during a 5 s backoff wakes it at once, with the cause.
    let upstream = Upstream::new(u32::MAX);
    let (out, took) = scope!(error = FetchError, grace = 1s, |s| {
        let cx = s.cx().clone();
        spawn!(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cx.cancel("user pressed stop");
        });
        let start = Instant::now();
        let slow = Retry::new()
            .attempts(10)
            .backoff(Backoff::new(Duration::from_secs(5), Duration::from_secs(5)));
        let out = slow.run(|_| upstream.get(7)).await;
        // The body answers the cancel with what it got: the scope's result.
        Ok((out, start.elapsed()))
    })
    .await?;
    scope::check()?;
    println!("cancelled: {out:?} after {took:?}");
    let Err(FetchError::Interrupted(Interrupted::Cancelled(c))) = out else {
        panic!("expected the cancellation, got {out:?}");
    };
    assert_eq!(c.cause(), &Cause::explicit("user pressed stop"));
    assert!(took < Duration::from_secs(5), "not after the backoff");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_retry_example_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
