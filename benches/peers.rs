//! The peer comparison harness (DESIGN §9): every row runs ours and a peer side by side in
//! one process, interleaved, and prints the medians and their ratio.
//!
//! ```text
//! cargo bench --bench peers                 # full
//! cargo bench --bench peers -- --quick      # quick (or SCOPE_BENCH_QUICK=1)
//! cargo bench --bench peers -- fanout slot  # only the groups whose name contains a word
//! ```
//!
//! Each row is printed as one tab-separated line starting with `row` (columns in
//! `harness::TSV_HEADER`), then a human table; the lines also go to `<target>/bench-peers.tsv`.
//!
//! For profiling (see BENCHMARKS.md): `SCOPE_BENCH_SIDE=k` runs only side `k` of every
//! comparison (0 is ours), `SCOPE_BENCH_RT=ct|mt2` only the rows on that runtime.
#![allow(clippy::cast_precision_loss)] // Reason: counts and sizes here are far below 2^52.

#[path = "peers/compile.rs"]
mod compile;
#[path = "peers/context.rs"]
mod context;
#[path = "peers/failfast.rs"]
mod failfast;
#[path = "peers/harness.rs"]
mod harness;
#[path = "peers/items.rs"]
mod items;
#[path = "peers/memory.rs"]
mod memory;
#[path = "peers/nesting.rs"]
mod nesting;
#[path = "peers/observe.rs"]
mod observe;
#[path = "peers/rt.rs"]
mod rt;
#[path = "peers/slots.rs"]
mod slots;
#[path = "peers/tasks.rs"]
mod tasks;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use harness::{Plan, Row};

/// The settings of one run.
struct Run {
    quick: bool,
    plan: Plan,
    filters: Vec<String>,
    target_dir: PathBuf,
}

/// The groups of rows, in the order they run.
const GROUPS: [&str; 12] = [
    "spawn",
    "in_place",
    "nesting",
    "cx",
    "is_cancelled",
    "fanout",
    "slot",
    "memory",
    "failfast",
    "items",
    "observe",
    "compile",
];

fn run_group(run: &Run, group: &str, rows: &mut Vec<Row>) {
    let plan = run.plan;
    match group {
        "spawn" => tasks::spawned(plan, &rt::current_thread(), &rt::multi_thread(), rows),
        "in_place" => tasks::in_place(plan, &rt::current_thread(), rows),
        "nesting" => nesting::stack_and_cancel(plan, rows),
        "cx" => context::create_cancel(plan, rows),
        "is_cancelled" => context::is_cancelled(plan, rows),
        "fanout" => context::fan_out(plan, &rt::current_thread(), &rt::multi_thread(), rows),
        "slot" => slots::lookup(plan, rows),
        "memory" => {
            let probes = Plan {
                warmup: 0,
                reps: if run.quick { 1 } else { 5 },
            };
            memory::per_child(probes, rows);
        }
        // Reaction times are short and noisy: more samples.
        "failfast" => failfast::reaction(
            plan.scaled(5),
            &rt::current_thread(),
            &rt::multi_thread(),
            rows,
        ),
        "items" => {
            let probes = Plan {
                warmup: 0,
                reps: if run.quick { 1 } else { 3 },
            };
            items::million(probes, run.quick, rows);
        }
        "observe" => {
            let ct = rt::current_thread();
            observe::tracked(plan, &ct, &rt::multi_thread(), rows);
            // Metrics first: once a tracing subscriber has been installed (`traced`), the
            // spans' "none installed yet" fast path is gone for the rest of the process.
            #[cfg(feature = "metrics")]
            observe::metered(plan, &ct, rows);
            #[cfg(feature = "tracing")]
            observe::traced(plan, &ct, rows);
            observe::snapshot(plan, &ct, rows);
        }
        "compile" => {
            let builds = Plan {
                warmup: 0,
                reps: if run.quick { 1 } else { 5 },
            };
            compile::compile_time(builds, run.quick, &run.target_dir, rows);
        }
        other => unreachable!("unknown group {other}"),
    }
}

/// `<target>`: the bench runs as `<target>/release/deps/peers-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(|e| {
        let deps = e.parent()?;
        (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(PathBuf::from))?
    });
    from_exe.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(rustc).arg("-V").output().ok().map_or_else(
        || "unknown".into(),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    );
    format!("nproc={cpus} cpu={model} rustc={version}")
}

/// The load averages (1, 5, 15 min): other work on the machine skews the figures.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join("/"),
    )
}

fn parse() -> Run {
    let mut quick = std::env::var("SCOPE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut filters = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            // What `cargo bench` passes to every bench.
            "--bench" => {}
            flag if flag.starts_with('-') => eprintln!("peers: ignoring unknown flag {flag}"),
            word => filters.push(word.to_owned()),
        }
    }
    let plan = if quick {
        Plan { warmup: 1, reps: 7 }
    } else {
        Plan {
            warmup: 3,
            reps: 21,
        }
    };
    Run {
        quick,
        plan,
        filters,
        target_dir: target_dir(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--probe-memory") {
        memory::probe(args.get(i + 1).map_or("", String::as_str));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--probe-items") {
        let side = args.get(i + 1).map_or("", String::as_str);
        let n = args.get(i + 2).and_then(|n| n.parse().ok()).unwrap_or(0);
        items::probe(side, n);
        return;
    }
    let run = parse();
    if let Some(k) = harness::only_side() {
        eprintln!(
            "peers: SCOPE_BENCH_SIDE={k}: only side {k} of each comparison runs (for profiling)"
        );
    }
    let started = Instant::now();
    let mode = if run.quick { "quick" } else { "full" };
    let machine = format!("{} load-at-start={}", machine(), load());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "# scope peers: mode={mode} warmup={} reps={} {machine}",
        run.plan.warmup, run.plan.reps
    );
    let _ = writeln!(out, "{}", harness::TSV_HEADER);
    let mut rows = Vec::new();
    for group in GROUPS {
        if !run.filters.is_empty() && !run.filters.iter().any(|f| group.contains(f.as_str())) {
            continue;
        }
        let since = Instant::now();
        let first = rows.len();
        eprintln!("peers: {group} ...");
        run_group(&run, group, &mut rows);
        for row in &rows[first..] {
            let _ = writeln!(out, "{}", row.tsv());
        }
        let _ = out.flush();
        eprintln!(
            "peers: {group} done in {:.1} s",
            since.elapsed().as_secs_f64()
        );
    }
    let table = harness::table(&rows);
    let _ = writeln!(out, "\n{table}");
    let elapsed = started.elapsed().as_secs_f64();
    let _ = writeln!(
        out,
        "peers: {} rows in {elapsed:.1} s ({mode}), load at the end {}",
        rows.len(),
        load()
    );

    let mut file = format!(
        "# scope peers: mode={mode} warmup={} reps={} {machine}\n",
        run.plan.warmup, run.plan.reps
    );
    file.push_str(harness::TSV_HEADER);
    file.push('\n');
    for row in &rows {
        file.push_str(&row.tsv());
        file.push('\n');
    }
    // The human table too, as comments, so that the file stays machine-readable.
    for line in table.lines() {
        let _ = writeln!(file, "# {line}");
    }
    let _ = writeln!(file, "# {elapsed:.1} s, load-at-end={}", load());
    if harness::only_side().is_some() {
        eprintln!("peers: profiling run (SCOPE_BENCH_SIDE): bench-peers.tsv left as it was");
        return;
    }
    let path = run.target_dir.join("bench-peers.tsv");
    match std::fs::write(&path, file) {
        Ok(()) => eprintln!("peers: wrote {}", path.display()),
        Err(e) => eprintln!("peers: could not write {}: {e}", path.display()),
    }
}
