//! A hedged request and a quorum read. The hedge asks a mirror, and if no answer has come
//! after 500 ms asks the next one too, and so on: the first success wins, and the others are
//! cancelled, whether still waiting for their turn or in flight, and joined before the answer
//! is returned. A failure is not an answer here: the next mirror still waits for its turn
//! (where a failed mirror should bring the next one forward, hand each attempt a
//! `tokio::sync::Notify` that the attempt before it notifies as it fails, and let it wait for
//! its turn or that notice, whichever comes first). If every mirror fails, every failure comes
//! back, each with its mirror's name.
//! The quorum read asks every replica at once and takes the answers as they arrive
//! (`ChildSet::join_next`), until two have answered; the slowest is then cancelled and joined.
//!
//! Go's version is a goroutine per mirror sending into a buffered channel, a `select` on the
//! first value, and a `cancel()`: the losers stop when they next look at `ctx.Done()`, nothing
//! waits for them, and the errors of an all-failed race are whatever the loop kept. Here the
//! race is a scope with the `first_ok` policy: its candidates are its children, so the losers
//! have ended before the race returns, and an all-failed race returns `Failures`, every error
//! in the order they happened. Run it with `cargo run --example hedged`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scope::{scoped, spawn, ChildSet, Failures, Interrupted};

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0} is down")]
    Down(&'static str),
    #[error("no quorum: {got} of the {need} answers needed")]
    NoQuorum { got: usize, need: usize },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// A mirror: its name, how long it takes to answer, and whether it answers at all.
#[derive(Clone, Copy)]
struct Mirror(&'static str, u64, bool);

/// How long the hedge waits for an answer before it asks the next mirror too.
const HEDGE_AFTER: Duration = Duration::from_millis(500);

/// How each attempt ended, in the order they ended.
type Log = Arc<Mutex<Vec<String>>>;

/// One attempt, alive while its future is: when it is dropped, finished or cancelled, it
/// logs how it ended, or how far it had got.
struct Attempt {
    mirror: &'static str,
    sent: bool,
    ended: Option<&'static str>,
    log: Log,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let how = match (self.ended, self.sent) {
            (Some(how), _) => how,
            (None, true) => "cancelled in flight",
            (None, false) => "cancelled before it was sent",
        };
        let line = format!("{}: {how}", self.mirror);
        self.log.lock().unwrap().push(line);
    }
}

/// Asks `mirror` after waiting `wait` for its turn.
async fn ask(Mirror(name, ms, up): Mirror, wait: Duration, log: Log) -> Result<String, FetchError> {
    let mut attempt = Attempt {
        mirror: name,
        sent: false,
        ended: None,
        log,
    };
    // Each wait answers a cancel at once (another mirror won, the deadline, Ctrl-C), as real
    // I/O under a scope would: the stand-ins do not make the scope wait out a grace.
    // An answer before this ends: dropped here, never sent.
    scope::run_until_cancelled(tokio::time::sleep(wait)).await?;
    attempt.sent = true;
    scope::run_until_cancelled(tokio::time::sleep(Duration::from_millis(ms))).await?; // the request
    if up {
        attempt.ended = Some("answered");
        Ok(format!("release.tar.gz from {name}"))
    } else {
        attempt.ended = Some("failed");
        Err(FetchError::Down(name))
    }
}

/// The hedge: mirror `i` is asked `i * HEDGE_AFTER` after the start, unless one has answered
/// by then. A `first_ok` body starts the candidates; the race returns the first success.
#[scoped(policy = first_ok, timeout = 5s)]
async fn hedged_get(mirrors: &[Mirror], log: &Log) -> Result<String, Failures<FetchError>> {
    for (turn, mirror) in (0..).zip(mirrors) {
        spawn!(
            name = mirror.0,
            ask(*mirror, HEDGE_AFTER * turn, log.clone())
        );
    }
}

/// The quorum read: every replica at once, the answers handled as they arrive, and the rest
/// cancelled once `need` have answered. A replica that is down is an answer here, not a
/// failure of the read: its child returns the error as its value, so the scope goes on. With
/// too few replicas up, the read fails: fewer answers than the quorum are no quorum.
#[scoped(timeout = 5s)]
async fn quorum_read(
    replicas: &[Mirror],
    need: usize,
    log: &Log,
) -> Result<Vec<String>, FetchError> {
    let mut set = ChildSet::new();
    for &replica in replicas {
        let log = log.clone();
        set.push(spawn!(name = replica.0, async move {
            Ok(ask(replica, Duration::ZERO, log).await)
        }));
    }
    let mut answers = Vec::new();
    while let Some((child, outcome)) = set.join_next().await {
        let name = child.name().unwrap_or_default();
        match outcome {
            Ok(Ok(answer)) => {
                println!("  {name}: {answer}");
                answers.push(answer);
            }
            // The cancelled ones, joined here as they end: stopped by the abort, or
            // answering the cancel themselves first.
            Ok(Err(FetchError::Interrupted(stopped))) | Err(stopped) => {
                println!("  {name}: {stopped}");
            }
            Ok(Err(down)) => println!("  {down}"),
        }
        if answers.len() == need && set.cancel_all("the quorum has answered") > 0 {
            println!("  quorum reached: the others are cancelled");
        }
    }
    if answers.len() < need {
        return Err(FetchError::NoQuorum {
            got: answers.len(),
            need,
        });
    }
    Ok(answers)
}

#[scope::main]
async fn main() -> Result<(), Interrupted> {
    // The primary is slow today: the hedge asks the second mirror at 500 ms, which answers at
    // about 530 ms; the third, due at 1 s, is never asked, and the primary is cut off.
    let log = Log::default();
    let mirrors = [
        Mirror("eu", 5_000, true),
        Mirror("us", 30, true),
        Mirror("asia", 30, true),
    ];
    let start = Instant::now();
    let out = hedged_get(&mirrors, &log).await;
    let took = start.elapsed();
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    let log = log.lock().unwrap().clone();
    println!("hedged: {out:?} after {took:?}");
    for line in &log {
        println!("  {line}");
    }
    assert_eq!(out.unwrap(), "release.tar.gz from us");
    assert!(took < Duration::from_secs(3), "not the primary's 5 s");
    // Every attempt has ended, the losers included, before the race returned.
    assert_eq!(log.len(), 3);
    assert!(log.contains(&"eu: cancelled in flight".to_owned()));
    assert!(log.contains(&"asia: cancelled before it was sent".to_owned()));

    // Every mirror down: the race fails with every error, in the order they came.
    let log = Log::default();
    let mirrors = [
        Mirror("eu", 30, false),
        Mirror("us", 10, false),
        Mirror("asia", 5, false),
    ];
    let out = hedged_get(&mirrors, &log).await;
    scope::check()?;
    let failures = out.unwrap_err();
    println!("all down: {failures}");
    let names: Vec<_> = failures.iter().filter_map(|f| f.task().name()).collect();
    assert_eq!(names, ["eu", "us", "asia"]);
    assert!(failures
        .iter()
        .all(|f| matches!(f.error(), FetchError::Down(_))));

    // A quorum of two out of four replicas, one of them down: taken as they arrive.
    println!("quorum read:");
    let log = Log::default();
    let replicas = [
        Mirror("r1", 800, true),
        Mirror("r2", 10, false),
        Mirror("r3", 30, true),
        Mirror("r4", 5_000, true),
    ];
    let start = Instant::now();
    let answers = quorum_read(&replicas, 2, &log).await;
    let took = start.elapsed();
    scope::check()?;
    let answers = answers.expect("two replicas answer");
    println!("  {answers:?} after {took:?}");
    assert_eq!(
        answers,
        ["release.tar.gz from r3", "release.tar.gz from r1"],
        "in the order they arrived"
    );
    assert!(took < Duration::from_secs(3), "not the slowest's 5 s");
    assert_eq!(log.lock().unwrap().len(), 4, "all four ended, r4 cancelled");

    // Two of three replicas down: one answer is no quorum of two.
    let replicas = [
        Mirror("r1", 10, false),
        Mirror("r2", 10, false),
        Mirror("r3", 30, true),
    ];
    let out = quorum_read(&replicas, 2, &Log::default()).await;
    scope::check()?;
    println!("  with two replicas down: {out:?}");
    assert!(
        matches!(out, Err(FetchError::NoQuorum { got: 1, need: 2 })),
        "{out:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hedged_example_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
