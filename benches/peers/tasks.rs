//! Children: spawned (on the runtime) and in place (polled by the scope's own future), per
//! task, in batches.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use scope::{Config, Cx, Interrupted, Scope};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use crate::harness::{interleave, nanos, runs_on, Plan, Row, Rt, Target};
use crate::rt::on;

/// Children per batch.
const BATCH: u32 = 10_000;

/// Spawn `BATCH` children in a scope; the scope's `run` joins them.
pub(crate) async fn scope_spawn() -> Duration {
    let start = Instant::now();
    let s = &Scope::new(Config::new());
    let joined: Result<(), Interrupted> = s
        .run(async {
            for i in 0..BATCH {
                s.spawn(async move {
                    black_box(i);
                });
            }
            Ok(())
        })
        .await;
    joined.expect("the batch completes");
    start.elapsed()
}

/// Spawn `BATCH` tasks into a `JoinSet` and join them.
async fn joinset_spawn() -> Duration {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..BATCH {
        set.spawn(async move {
            black_box(i);
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.expect("the task completes");
    }
    start.elapsed()
}

/// The floor of a spawned child under the current design: a `JoinSet` task that owns a child
/// context (every child of a scope has its own, so that it can be cancelled alone).
async fn joinset_with_cx() -> Duration {
    let start = Instant::now();
    let parent = Cx::root();
    let mut set = JoinSet::new();
    for i in 0..BATCH {
        let cx = parent.child();
        set.spawn(async move {
            black_box(i);
            drop(cx);
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.expect("the task completes");
    }
    start.elapsed()
}

/// `tokio::spawn` `BATCH` tasks, keep the handles, await each.
async fn bare_spawn() -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(BATCH as usize);
    for i in 0..BATCH {
        handles.push(tokio::spawn(async move {
            black_box(i);
        }));
    }
    for handle in handles {
        handle.await.expect("the task completes");
    }
    start.elapsed()
}

/// Start `BATCH` in-place children in a scope; the scope's `run` polls and joins them.
pub(crate) async fn scope_in_place() -> Duration {
    let start = Instant::now();
    let s = &Scope::new(Config::new());
    let joined: Result<(), Interrupted> = s
        .run(async {
            for i in 0..BATCH {
                s.spawn_in_place(async move {
                    black_box(i);
                });
            }
            Ok(())
        })
        .await;
    joined.expect("the batch completes");
    start.elapsed()
}

/// Push `BATCH` futures into a `FuturesUnordered` and drain it, in place.
async fn futures_unordered() -> Duration {
    let start = Instant::now();
    let mut set = FuturesUnordered::new();
    for i in 0..BATCH {
        set.push(async move {
            black_box(i);
        });
    }
    while set.next().await.is_some() {}
    start.elapsed()
}

/// The floor of an in-place child under the current design: a boxed future (children of
/// different types share one set) in a `FuturesUnordered`; a child's own context is made only
/// when something needs it.
async fn boxed() -> Duration {
    let start = Instant::now();
    let mut set: FuturesUnordered<Pin<Box<dyn Future<Output = ()> + Send>>> =
        FuturesUnordered::new();
    for i in 0..BATCH {
        set.push(Box::pin(async move {
            black_box(i);
        }));
    }
    while set.next().await.is_some() {}
    start.elapsed()
}

/// Spawn `BATCH` jobs in a moro scope and await the scope.
async fn moro_scope() -> Duration {
    let start = Instant::now();
    moro::async_scope!(|s| -> () {
        for i in 0..BATCH {
            s.spawn(async move {
                black_box(i);
            });
        }
    })
    .await;
    start.elapsed()
}

pub(crate) fn per_task(d: Duration) -> f64 {
    nanos(d) / f64::from(BATCH)
}

pub(crate) fn spawned(plan: Plan, ct: &Runtime, mt: &Runtime, rows: &mut Vec<Row>) {
    for (rt, rt_code) in [(ct, Rt::Current), (mt, Rt::Multi2)] {
        if !runs_on(rt_code) {
            continue;
        }
        let [ours, joinset, bare, floor] = interleave(
            plan,
            [
                &mut || per_task(on(rt, scope_spawn())),
                &mut || per_task(on(rt, joinset_spawn())),
                &mut || per_task(on(rt, bare_spawn())),
                &mut || per_task(on(rt, joinset_with_cx())),
            ],
        );
        let note = "per task, batches of 10,000 spawned from a task; the scope's run joins them";
        rows.push(
            Row::new(
                "spawn_join",
                rt_code,
                ours,
                "JoinSet",
                joinset,
                Target::Ratio(1.0),
            )
            .note(note),
        );
        rows.push(
            Row::new(
                "spawn_join",
                rt_code,
                ours,
                "tokio::spawn+JoinHandle",
                bare,
                Target::Info,
            )
            .note(note),
        );
        rows.push(
            Row::new(
                "spawn_join.floor",
                rt_code,
                ours,
                "JoinSet + a child Cx per task",
                floor,
                Target::Info,
            )
            .note("a task and a context node per child: what each child cost before contexts were made when first needed"),
        );
    }
}

pub(crate) fn in_place(plan: Plan, ct: &Runtime, rows: &mut Vec<Row>) {
    let [ours, unordered, moro, joinset, floor] = interleave(
        plan,
        [
            &mut || per_task(ct.block_on(scope_in_place())),
            &mut || per_task(ct.block_on(futures_unordered())),
            &mut || per_task(ct.block_on(moro_scope())),
            &mut || per_task(on(ct, joinset_spawn())),
            &mut || per_task(ct.block_on(boxed())),
        ],
    );
    let note = "per task, batches of 10,000 trivial children polled on the scope's task";
    rows.push(
        Row::new(
            "in_place",
            Rt::Current,
            ours,
            "FuturesUnordered",
            unordered,
            Target::Ratio(1.25),
        )
        .note(note),
    );
    rows.push(
        Row::new(
            "in_place",
            Rt::Current,
            ours,
            "JoinSet",
            joinset,
            Target::Ratio(1.0 / 3.0),
        )
        .note("at least 3x faster than spawning the same children into a JoinSet"),
    );
    rows.push(Row::new("in_place", Rt::Current, ours, "moro", moro, Target::Info).note(note));
    rows.push(
        Row::new(
            "in_place.floor",
            Rt::Current,
            ours,
            "FuturesUnordered<Box<dyn Future>>",
            floor,
            Target::Info,
        )
        .note("what the design needs at least: one allocation per child (its future, boxed)"),
    );
}
