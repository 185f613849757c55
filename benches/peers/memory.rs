//! Memory per live spawned child: the growth of the resident set over 100,000 parked children.
//!
//! Each measurement runs in a fresh process (this binary, started again with `--probe-memory`),
//! so that memory freed by one side cannot be reused by the other.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

use scope::{Config, Cx, Interrupted, Scope};

use crate::harness::{self, Plan, Row, Rt, Stats, Target, Unit};
use crate::rt::{current_thread, until_parked};

/// Live children per probe.
const CHILDREN: usize = 100_000;

static PARKED: AtomicUsize = AtomicUsize::new(0);

/// The one future both sides park: count itself, then wait forever.
async fn parked_child() {
    PARKED.fetch_add(1, Ordering::Release);
    std::future::pending::<()>().await;
}

/// The kernel's page size, from the auxiliary vector (`AT_PAGESZ`).
fn page_size() -> usize {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").expect("/proc/self/auxv");
    for pair in auxv.chunks_exact(16) {
        let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        if word(&pair[..8]) == AT_PAGESZ {
            return usize::try_from(word(&pair[8..])).expect("a page size fits");
        }
    }
    4096
}

/// The resident set in bytes (`/proc/self/statm`, second field, in pages).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm's resident field");
    pages * page_size()
}

/// The body of a probe process: `side` is `ours` or `tokio`. Prints the growth per child.
pub(crate) fn probe(side: &str) {
    let rt = current_thread();
    let (before, after) = rt.block_on(async {
        // Warm the runtime and the allocator with a small batch of the same kind.
        match side {
            "ours" => {
                let s = &Scope::new(Config::new());
                let warm: Result<(), Interrupted> = s
                    .run(async {
                        for _ in 0..1_000 {
                            s.spawn(async {});
                        }
                        Ok(())
                    })
                    .await;
                warm.expect("the warm-up completes");
            }
            "tokio" | "floor" => {
                let handles: Vec<_> = (0..1_000).map(|_| tokio::spawn(async {})).collect();
                for h in handles {
                    h.await.expect("the warm-up completes");
                }
            }
            other => panic!("unknown probe side {other:?}"),
        }
        let before = rss();
        let mut after = 0;
        if side == "ours" {
            let s = &Scope::new(Config::new());
            let stopped: Result<(), Interrupted> = s
                .run(async {
                    for _ in 0..CHILDREN {
                        s.spawn(parked_child());
                    }
                    until_parked(&PARKED, CHILDREN).await;
                    after = rss();
                    s.cancel("measured");
                    Ok(())
                })
                .await;
            // The body returned on its own after the cancel: it has the last word.
            stopped.expect("the scope ends once its cancelled children are gone");
        } else {
            let parent = Cx::root();
            let mut handles = Vec::with_capacity(CHILDREN);
            for _ in 0..CHILDREN {
                if side == "floor" {
                    // A bare task that owns a child context, as each child of a scope does.
                    let cx = parent.child();
                    handles.push(tokio::spawn(async move {
                        parked_child().await;
                        drop(cx);
                    }));
                } else {
                    handles.push(tokio::spawn(parked_child()));
                }
            }
            until_parked(&PARKED, CHILDREN).await;
            after = rss();
            for h in &handles {
                h.abort();
            }
            for h in handles {
                assert!(h.await.is_err(), "the task was aborted");
            }
        }
        (before, after)
    });
    let per_child = (after as f64 - before as f64) / CHILDREN as f64;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "probe\t{per_child:.1}");
    let _ = out.flush();
}

fn run_probe(side: &str) -> Result<f64, String> {
    let line = harness::run_probe(&["--probe-memory", side], side)?;
    line.trim()
        .parse()
        .map_err(|_| format!("the {side} probe printed {line:?}"))
}

pub(crate) fn per_child(plan: Plan, rows: &mut Vec<Row>) {
    const SIDES: [&str; 3] = ["ours", "tokio", "floor"];
    let mut samples: [Vec<f64>; 3] = Default::default();
    let measured = (0..plan.reps).try_for_each(|rep| {
        // Rotate which side goes first.
        for j in 0..SIDES.len() {
            let k = (rep + j) % SIDES.len();
            samples[k].push(run_probe(SIDES[k])?);
        }
        Ok::<(), String>(())
    });
    let name = "memory.per_child";
    let peer = "bare tokio::spawn task";
    match measured {
        Ok(()) => {
            let [ours, bare, floor] = samples.map(Stats::of);
            let note = "RSS growth over 100,000 parked children, per child; one process per sample";
            rows.push(
                Row::new(name, Rt::Current, ours, peer, bare, Target::Extra(128.0)).note(note),
            );
            rows.push(
                Row::new(
                    "memory.per_child.floor",
                    Rt::Current,
                    ours,
                    "bare task + a child Cx",
                    floor,
                    Target::Info,
                )
                .unit(Unit::Bytes)
                .note("what the design needs at least: a task and a context node per child"),
            );
        }
        Err(why) => rows.push(Row::unavailable(
            name,
            Rt::Current,
            peer,
            Target::Extra(128.0),
            why,
        )),
    }
    for row in rows.iter_mut().filter(|r| r.name.starts_with("memory.")) {
        row.unit = Unit::Bytes;
    }
}
