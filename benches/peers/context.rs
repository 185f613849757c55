//! The context: creating and cancelling one, asking whether it is cancelled, and cancelling
//! one parent under which N children wait.

use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use scope::{Config, Cx, Interrupted, Scope};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::harness::{interleave, nanos, per_op, runs_on, Plan, Row, Rt, Target};
use crate::rt::{on, park_then, until_parked};

/// Create-and-cancel operations per sample.
const OPS: u32 = 20_000;
/// `is_cancelled` calls per sample.
const LOADS: u32 = 2_000_000;
/// The fan-out sizes.
const FAN: [u32; 5] = [1, 10, 100, 1_000, 10_000];

pub(crate) fn create_cancel(plan: Plan, rows: &mut Vec<Row>) {
    let parent = Cx::root();
    let token = CancellationToken::new();
    let [ours_child, token_child, ours_root, token_root] = interleave(
        plan,
        [
            &mut || {
                per_op(OPS, || {
                    let child = black_box(&parent).child();
                    child.cancel("bench")
                })
            },
            &mut || {
                per_op(OPS, || {
                    let child = black_box(&token).child_token();
                    child.cancel();
                    child
                })
            },
            &mut || {
                per_op(OPS, || {
                    let root = Cx::root();
                    root.cancel("bench")
                })
            },
            &mut || {
                per_op(OPS, || {
                    let root = CancellationToken::new();
                    root.cancel();
                    root
                })
            },
        ],
    );
    rows.push(
        Row::new(
            "cx.child+cancel",
            Rt::None,
            ours_child,
            "CancellationToken::child_token+cancel",
            token_child,
            Target::Ratio(1.0),
        )
        .note("create a child of a live parent, cancel it, drop it"),
    );
    rows.push(
        Row::new(
            "cx.root+cancel",
            Rt::None,
            ours_root,
            "CancellationToken::new+cancel",
            token_root,
            Target::Ratio(1.0),
        )
        .note("create a root, cancel it, drop it"),
    );
}

pub(crate) fn is_cancelled(plan: Plan, rows: &mut Vec<Row>) {
    let live = Cx::root();
    let dead = Cx::root();
    dead.cancel("bench");
    let token_live = CancellationToken::new();
    let token_dead = CancellationToken::new();
    token_dead.cancel();
    let ambient = live.clone();
    let [ours_live, ours_dead, ours_ambient, peer_live, peer_dead] = interleave(
        plan,
        [
            &mut || per_op(LOADS, || black_box(&live).is_cancelled()),
            &mut || per_op(LOADS, || black_box(&dead).is_cancelled()),
            &mut || {
                // The free function reads the ambient context (a thread-local).
                ambient
                    .clone()
                    .run(async { per_op(LOADS, scope::is_cancelled) })
                    .now_or_never()
                    .expect("the loop does not wait")
            },
            &mut || per_op(LOADS, || black_box(&token_live).is_cancelled()),
            &mut || per_op(LOADS, || black_box(&token_dead).is_cancelled()),
        ],
    );
    let target = Target::Ratio(0.5);
    rows.push(Row::new(
        "is_cancelled.live",
        Rt::None,
        ours_live,
        "CancellationToken::is_cancelled",
        peer_live,
        target,
    ));
    rows.push(Row::new(
        "is_cancelled.cancelled",
        Rt::None,
        ours_dead,
        "CancellationToken::is_cancelled",
        peer_dead,
        target,
    ));
    rows.push(
        Row::new(
            "is_cancelled.ambient",
            Rt::None,
            ours_ambient,
            "CancellationToken::is_cancelled",
            peer_live,
            Target::Info,
        )
        .note("scope::is_cancelled() on the ambient (thread-local) context, live"),
    );
}

/// `n` spawned children of a scope wait for its cancellation; the time from `cancel()` to the
/// scope's return.
async fn fan_ours(n: u32) -> Duration {
    let parked = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new());
    let mut start = None;
    let cancelled: Result<(), Interrupted> = s
        .run(async {
            for _ in 0..n {
                let parked = Arc::clone(&parked);
                s.spawn(async move {
                    park_then(&parked, scope::cancelled()).await;
                });
            }
            until_parked(&parked, n as usize).await;
            start = Some(Instant::now());
            s.cancel("fan-out");
            Ok(())
        })
        .await;
    let took = start.expect("the body ran").elapsed();
    // The body returned on its own after the cancel: it has the last word.
    cancelled.expect("the scope ends once its cancelled children are gone");
    took
}

/// `n` tasks in a `JoinSet` wait on child tokens of one token; the time from `cancel()` to the
/// last join.
async fn fan_token(n: u32) -> Duration {
    let parked = Arc::new(AtomicUsize::new(0));
    let token = CancellationToken::new();
    let mut set = JoinSet::new();
    for _ in 0..n {
        let parked = Arc::clone(&parked);
        let child = token.child_token();
        set.spawn(async move {
            park_then(&parked, child.cancelled()).await;
        });
    }
    until_parked(&parked, n as usize).await;
    let start = Instant::now();
    token.cancel();
    while let Some(joined) = set.join_next().await {
        joined.expect("the task completes");
    }
    start.elapsed()
}

pub(crate) fn fan_out(plan: Plan, ct: &Runtime, mt: &Runtime, rows: &mut Vec<Row>) {
    for (rt, rt_code) in [(ct, Rt::Current), (mt, Rt::Multi2)] {
        if !runs_on(rt_code) {
            continue;
        }
        let mut per_child = Vec::new();
        for n in FAN {
            let [ours, token] = interleave(
                plan,
                [&mut || nanos(on(rt, fan_ours(n))), &mut || {
                    nanos(on(rt, fan_token(n)))
                }],
            );
            let peer = "CancellationToken (child tokens, JoinSet)";
            rows.push(
                Row::new(
                    format!("fanout.n{n}"),
                    rt_code,
                    ours,
                    peer,
                    token,
                    Target::Ratio(1.0),
                )
                .note("from cancel() until every waiting child is joined"),
            );
            let (ours, token) = (ours.per(f64::from(n)), token.per(f64::from(n)));
            rows.push(Row::new(
                format!("fanout.n{n}.per_child"),
                rt_code,
                ours,
                peer,
                token,
                Target::Ratio(1.0),
            ));
            per_child.push(ours);
        }
        // Linear in N: the cost per child at the largest N is close to that at 10x fewer.
        let (big, small) = (per_child[FAN.len() - 1], per_child[FAN.len() - 2]);
        rows.push(
            Row::new(
                "fanout.linear.n10000/n1000",
                rt_code,
                big,
                "ours per child at N=1,000",
                small,
                Target::Ratio(1.5),
            )
            .note("cost per child at N=10,000 over that at N=1,000"),
        );
    }
}
