//! Observability: what the task tree costs per child when it is on, what the `tracing` and
//! `metrics` features cost with a subscriber or recorder installed (rows present when the bench
//! is built with them), and how long a snapshot of 100,000 live children takes and holds a lock.
//!
//! What the features cost when they are compiled in but unused, and what the whole module costs
//! when they are off, are the `spawn` and `in_place` groups of runs built with and without
//! them (BENCHMARKS.md, "Observability").

use std::time::{Duration, Instant};

use scope::{observe, Config, Interrupted, Scope};
use tokio::runtime::Runtime;

use crate::harness::{interleave, nanos, runs_on, Plan, Row, Rt, Stats, Target};
use crate::rt::on;
use crate::tasks::{per_task, scope_in_place, scope_spawn};

/// Children alive in the snapshot rows.
const LIVE: usize = 100_000;

/// Ours with the task tree on, against ours with it off.
pub(crate) fn tracked(plan: Plan, ct: &Runtime, mt: &Runtime, rows: &mut Vec<Row>) {
    for (rt, code) in [(ct, Rt::Current), (mt, Rt::Multi2)] {
        if !runs_on(code) {
            continue;
        }
        let [on_, off] = interleave(
            plan,
            [
                &mut || {
                    let _tracking = observe::track();
                    per_task(on(rt, scope_spawn()))
                },
                &mut || per_task(on(rt, scope_spawn())),
            ],
        );
        rows.push(
            Row::new(
                "observe.tracked.spawn_join",
                code,
                on_,
                "ours, task tree off",
                off,
                Target::Info,
            )
            .note("per spawned child with observe::track() alive: a record per child"),
        );
    }
    if runs_on(Rt::Current) {
        let [on_, off] = interleave(
            plan,
            [
                &mut || {
                    let _tracking = observe::track();
                    per_task(ct.block_on(scope_in_place()))
                },
                &mut || per_task(ct.block_on(scope_in_place())),
            ],
        );
        rows.push(
            Row::new(
                "observe.tracked.in_place",
                Rt::Current,
                on_,
                "ours, task tree off",
                off,
                Target::Info,
            )
            .note("per in-place child with observe::track() alive"),
        );
    }
}

/// A subscriber that wants every span and event and keeps nothing: the floor of any
/// subscriber's cost.
#[cfg(feature = "tracing")]
struct Discard(std::sync::atomic::AtomicU64);

#[cfg(feature = "tracing")]
impl tracing::Subscriber for Discard {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let id = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::span::Id::from_u64(id + 1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Ours under a subscriber that wants every span, against ours with none installed (the
/// feature compiled in). Current-thread only: the subscriber is the thread's default.
#[cfg(feature = "tracing")]
pub(crate) fn traced(plan: Plan, ct: &Runtime, rows: &mut Vec<Row>) {
    let dispatch = tracing::Dispatch::new(Discard(std::sync::atomic::AtomicU64::new(0)));
    with_and_without(
        plan,
        ct,
        rows,
        ["observe.traced.spawn_join", "observe.traced.in_place"],
        "ours, no subscriber",
        "a span per scope and child, entered at each poll, under a subscriber that keeps nothing",
        |batch| tracing::dispatcher::with_default(&dispatch, batch),
    );
}

/// Ours with a Prometheus recorder installed, against ours with none (the feature compiled
/// in). Current-thread only: the recorder is the thread's local one.
#[cfg(feature = "metrics")]
pub(crate) fn metered(plan: Plan, ct: &Runtime, rows: &mut Vec<Row>) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    with_and_without(
        plan,
        ct,
        rows,
        ["observe.metered.spawn_join", "observe.metered.in_place"],
        "ours, no recorder",
        "counters and gauges per child, recorded by metrics-exporter-prometheus",
        |batch| metrics::with_local_recorder(&recorder, batch),
    );
}

/// A batch of spawned children (`names[0]`) and one of in-place children (`names[1]`), each
/// run inside `with` against on its own, on the current-thread runtime.
#[cfg(any(feature = "tracing", feature = "metrics"))]
fn with_and_without(
    plan: Plan,
    ct: &Runtime,
    rows: &mut Vec<Row>,
    names: [&str; 2],
    peer: &str,
    note: &str,
    with: impl Fn(&dyn Fn() -> f64) -> f64,
) {
    if !runs_on(Rt::Current) {
        return;
    }
    for (name, spawned) in [(names[0], true), (names[1], false)] {
        let batch = || {
            if spawned {
                per_task(on(ct, scope_spawn()))
            } else {
                per_task(ct.block_on(scope_in_place()))
            }
        };
        let [ours_with, ours_without] = interleave(plan, [&mut || with(&batch), &mut || batch()]);
        rows.push(
            Row::new(
                name,
                Rt::Current,
                ours_with,
                peer,
                ours_without,
                Target::Info,
            )
            .note(note),
        );
    }
}

/// One sample: spawn `LIVE` waiting children in a tracked scope, snapshot, cancel. Returns the
/// times to spawn them and to take the snapshot, the snapshot's longest lock hold, and its
/// size.
async fn snapshot_sample() -> (Duration, Duration, Duration, usize) {
    let _tracking = observe::track();
    let s = &Scope::new(Config::new().name("big"));
    let mut out = (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0);
    let ran: Result<(), Interrupted> = s
        .run(async {
            let start = Instant::now();
            for _ in 0..LIVE {
                s.spawn(std::future::pending::<()>());
            }
            let spawned = start.elapsed();
            // Let them start (they show as running).
            tokio::task::yield_now().await;
            let start = Instant::now();
            let tree = observe::snapshot();
            let took = start.elapsed();
            out = (spawned, took, tree.max_lock_hold(), tree.len());
            drop(tree);
            s.cancel("measured");
            Ok(())
        })
        .await;
    ran.expect("the body's value stands");
    out
}

pub(crate) fn snapshot(plan: Plan, ct: &Runtime, rows: &mut Vec<Row>) {
    if !runs_on(Rt::Current) {
        return;
    }
    let reps = plan.reps.min(9);
    for _ in 0..plan.warmup.min(1) {
        ct.block_on(snapshot_sample());
    }
    let (mut spawn, mut took, mut hold) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let (s, t, h, n) = ct.block_on(snapshot_sample());
        assert!(n > LIVE, "the snapshot holds every live child ({n})");
        spawn.push(nanos(s));
        took.push(nanos(t));
        hold.push(nanos(h));
    }
    let (spawn, took, hold) = (Stats::of(spawn), Stats::of(took), Stats::of(hold));
    rows.push(
        Row::new(
            "observe.snapshot.100k",
            Rt::Current,
            took,
            "spawning the 100,000 children",
            spawn,
            Target::Info,
        )
        .note("observe::snapshot() of a scope with 100,000 live spawned children"),
    );
    rows.push(
        Row::new(
            "observe.snapshot.100k.hold",
            Rt::Current,
            hold,
            "the whole snapshot",
            took,
            Target::Info,
        )
        .note("the longest a registry shard was locked (what a spawn or an end may wait)"),
    );
}
