//! Fail-fast reaction: 100 children, one fails; the time from its failure to the scope's
//! return, against the errgroup people write by hand with a `JoinSet` and a
//! `CancellationToken`.

use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scope::{Config, Interrupted, Scope};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::harness::{interleave, nanos, runs_on, Plan, Row, Rt, Target};
use crate::rt::{on, park_then, until_parked};

const CHILDREN: usize = 100;
const CULPRIT: usize = CHILDREN / 2;

#[derive(Debug)]
enum Error {
    Failed,
    Interrupted(Interrupted),
}

impl From<Interrupted> for Error {
    fn from(e: Interrupted) -> Self {
        Error::Interrupted(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed => f.write_str("the culprit failed"),
            Error::Interrupted(e) => e.fmt(f),
        }
    }
}

/// When the culprit failed.
type Stamp = Arc<Mutex<Option<Instant>>>;

/// The culprit: waits for the signal, notes the time and fails.
async fn culprit(go: oneshot::Receiver<()>, failed_at: Stamp) -> Result<(), Error> {
    go.await.expect("the signal is sent");
    *failed_at.lock().expect("the stamp") = Some(Instant::now());
    Err(Error::Failed)
}

fn since(failed_at: &Stamp) -> Duration {
    failed_at
        .lock()
        .expect("the stamp")
        .expect("the culprit failed")
        .elapsed()
}

async fn ours() -> Duration {
    let parked = Arc::new(AtomicUsize::new(0));
    let failed_at = Stamp::default();
    let (go, signal) = oneshot::channel();
    let mut signal = Some(signal);
    let s = &Scope::new(Config::new());
    let out: Result<(), Error> = s
        .run(async {
            for i in 0..CHILDREN {
                if i == CULPRIT {
                    let signal = signal.take().expect("one culprit");
                    s.spawn(culprit(signal, Arc::clone(&failed_at)));
                } else {
                    let parked = Arc::clone(&parked);
                    s.spawn(async move {
                        park_then(&parked, scope::cancelled()).await;
                        Ok::<(), Error>(())
                    });
                }
            }
            until_parked(&parked, CHILDREN - 1).await;
            go.send(()).expect("the culprit waits");
            Ok(())
        })
        .await;
    let took = since(&failed_at);
    assert!(
        matches!(out, Err(Error::Failed)),
        "the culprit's error is the scope's"
    );
    took
}

async fn errgroup() -> Duration {
    let parked = Arc::new(AtomicUsize::new(0));
    let failed_at = Stamp::default();
    let (go, signal) = oneshot::channel();
    let mut signal = Some(signal);
    let token = CancellationToken::new();
    let mut set = JoinSet::new();
    for i in 0..CHILDREN {
        if i == CULPRIT {
            let signal = signal.take().expect("one culprit");
            set.spawn(culprit(signal, Arc::clone(&failed_at)));
        } else {
            let parked = Arc::clone(&parked);
            let token = token.clone();
            set.spawn(async move {
                park_then(&parked, token.cancelled()).await;
                Ok::<(), Error>(())
            });
        }
    }
    until_parked(&parked, CHILDREN - 1).await;
    go.send(()).expect("the culprit waits");
    let mut first = None;
    while let Some(joined) = set.join_next().await {
        if let Err(e) = joined.expect("no panics") {
            if first.is_none() {
                first = Some(e);
                token.cancel();
            }
        }
    }
    let took = since(&failed_at);
    assert!(
        matches!(first, Some(Error::Failed)),
        "the culprit's error is the group's"
    );
    took
}

pub(crate) fn reaction(plan: Plan, ct: &Runtime, mt: &Runtime, rows: &mut Vec<Row>) {
    for (rt, rt_code) in [(ct, Rt::Current), (mt, Rt::Multi2)] {
        if !runs_on(rt_code) {
            continue;
        }
        let [scope, group] = interleave(
            plan,
            [&mut || nanos(on(rt, ours())), &mut || {
                nanos(on(rt, errgroup()))
            }],
        );
        rows.push(
            Row::new(
                "failfast.reaction",
                rt_code,
                scope,
                "JoinSet+CancellationToken errgroup",
                group,
                Target::Ratio(0.8),
            )
            .note("100 children, one fails: from its failure to the scope's return"),
        );
    }
}
