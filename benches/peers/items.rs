//! A million trivial items, at most 16 at a time (DESIGN §9): through the bounded for-each
//! and through a spawn loop with waiting admission, against `futures`'
//! `stream::iter(..).buffered(16)` (peak memory: at most 2x) and a `JoinSet` + `Semaphore`
//! loop (time: at most 1.2x). Each sample runs in a fresh process (this binary, started again
//! with `--probe-items`), on a two-worker runtime, and reports its peak resident set and time.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use scope::{Config, Interrupted, Scope};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::harness::{self, nanos, Plan, Row, Rt, Stats, Target, Unit};
use crate::rt::{multi_thread, on};

const LIMIT: usize = 16;

/// The peak resident set of this process, in bytes (`VmHWM`).
fn peak_rss() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    kib * 1024.0
}

/// The body of a probe process: `side` is one of [`SIDES`], `n` the number of items. Prints
/// the peak resident set (bytes) and the time (ns).
pub(crate) fn probe(side: &str, n: u64) {
    let rt = multi_thread();
    let side = side.to_owned();
    let (took, sum) = on(&rt, async move {
        let sum = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        match side.as_str() {
            "for_each" => {
                let total = Arc::clone(&sum);
                scope::for_each(0..n, move |i| {
                    let total = Arc::clone(&total);
                    async move {
                        total.fetch_add(i, Ordering::Relaxed);
                        Ok::<_, Interrupted>(())
                    }
                })
                .limit(LIMIT)
                .run()
                .await
                .expect("the for-each completes");
            }
            "reserve" => {
                let s = &Scope::new(Config::new().limit(LIMIT));
                s.run(async {
                    for i in 0..n {
                        let total = Arc::clone(&sum);
                        s.reserve().await?.spawn(async move {
                            total.fetch_add(i, Ordering::Relaxed);
                        });
                    }
                    Ok::<_, Interrupted>(())
                })
                .await
                .expect("the loop completes");
            }
            "buffered" => {
                let total = stream::iter(0..n)
                    .map(|i| async move { i })
                    .buffered(LIMIT)
                    .fold(0, |acc, i| async move { acc + i })
                    .await;
                sum.store(total, Ordering::Relaxed);
            }
            "joinset" => {
                let permits = Arc::new(Semaphore::new(LIMIT));
                let mut set = JoinSet::new();
                for i in 0..n {
                    let permit = Arc::clone(&permits)
                        .acquire_owned()
                        .await
                        .expect("the semaphore is open");
                    let total = Arc::clone(&sum);
                    set.spawn(async move {
                        total.fetch_add(i, Ordering::Relaxed);
                        drop(permit);
                    });
                    while let Some(joined) = set.try_join_next() {
                        joined.expect("the task completes");
                    }
                }
                while let Some(joined) = set.join_next().await {
                    joined.expect("the task completes");
                }
            }
            other => panic!("unknown items probe side {other:?}"),
        }
        (nanos(start.elapsed()), sum.load(Ordering::Relaxed))
    });
    assert_eq!(sum, n * (n - 1) / 2, "every item was processed once");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "probe\t{:.0}\t{took:.0}", peak_rss());
    let _ = out.flush();
}

fn run_probe(side: &str, n: u64) -> Result<(f64, f64), String> {
    let line = harness::run_probe(&["--probe-items", side, &n.to_string()], side)?;
    let mut fields = line.split('\t').map(|f| f.trim().parse::<f64>().ok());
    fields
        .next()
        .flatten()
        .zip(fields.next().flatten())
        .ok_or_else(|| format!("the {side} probe printed {line:?}"))
}

const SIDES: [&str; 4] = ["for_each", "reserve", "buffered", "joinset"];

pub(crate) fn million(plan: Plan, quick: bool, rows: &mut Vec<Row>) {
    let n: u64 = if quick { 100_000 } else { 1_000_000 };
    let mut rss: [Vec<f64>; 4] = Default::default();
    let mut time: [Vec<f64>; 4] = Default::default();
    let measured = (0..plan.reps).try_for_each(|rep| {
        for j in 0..SIDES.len() {
            let k = (rep + j) % SIDES.len();
            let (peak, took) = run_probe(SIDES[k], n)?;
            rss[k].push(peak);
            time[k].push(took);
        }
        Ok::<(), String>(())
    });
    let label = if quick { "100k" } else { "1m" };
    if let Err(why) = measured {
        rows.push(Row::unavailable(
            format!("items.{label}.rss"),
            Rt::Multi2,
            "buffered(16)",
            Target::Ratio(2.0),
            why,
        ));
        return;
    }
    let [rss_each, rss_reserve, rss_buffered, rss_joinset] = rss.map(Stats::of);
    let [t_each, t_reserve, t_buffered, t_joinset] = time.map(Stats::of);
    let note = format!("{n} trivial items, limit {LIMIT}; peak RSS of a fresh process");
    for (name, ours) in [("for_each", rss_each), ("reserve", rss_reserve)] {
        rows.push(
            Row::new(
                format!("items.{label}.rss.{name}"),
                Rt::Multi2,
                ours,
                "stream::iter(..).buffered(16)",
                rss_buffered,
                Target::Ratio(2.0),
            )
            .unit(Unit::Bytes)
            .note(note.clone()),
        );
    }
    rows.push(
        Row::new(
            format!("items.{label}.rss.joinset"),
            Rt::Multi2,
            rss_joinset,
            "stream::iter(..).buffered(16)",
            rss_buffered,
            Target::Info,
        )
        .unit(Unit::Bytes)
        .note("the JoinSet + Semaphore loop, for reference"),
    );
    let note = format!("{n} trivial items, limit {LIMIT}; time inside a fresh process");
    for (name, ours) in [("for_each", t_each), ("reserve", t_reserve)] {
        rows.push(
            Row::new(
                format!("items.{label}.time.{name}"),
                Rt::Multi2,
                ours,
                "JoinSet + Semaphore loop",
                t_joinset,
                Target::Ratio(1.2),
            )
            .note(note.clone()),
        );
    }
    rows.push(
        Row::new(
            format!("items.{label}.time.buffered"),
            Rt::Multi2,
            t_buffered,
            "JoinSet + Semaphore loop",
            t_joinset,
            Target::Info,
        )
        .note("buffered(16) polls its futures in one task (no parallelism), for reference"),
    );
}
