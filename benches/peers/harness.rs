//! The measuring method and the report: repetitions interleaved between the sides of a
//! comparison, median with min and max, one machine-readable line per row, a human table.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// How many times each side of a comparison runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Unrecorded runs of every side before the recorded ones.
    pub(crate) warmup: usize,
    /// Recorded runs of every side.
    pub(crate) reps: usize,
}

impl Plan {
    pub(crate) fn scaled(self, factor: usize) -> Plan {
        Plan {
            warmup: self.warmup,
            reps: self.reps * factor,
        }
    }
}

/// The median, minimum and maximum of the repetitions of one side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stats {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Stats {
    pub(crate) fn of(mut samples: Vec<f64>) -> Stats {
        assert!(!samples.is_empty(), "a side needs at least one sample");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            f64::midpoint(samples[n / 2 - 1], samples[n / 2])
        };
        Stats {
            median,
            min: samples[0],
            max: samples[n - 1],
        }
    }

    /// Divides every figure (a batch's time into a per-item time).
    pub(crate) fn per(self, n: f64) -> Stats {
        Stats {
            median: self.median / n,
            min: self.min / n,
            max: self.max / n,
        }
    }
}

/// Runs every side `plan.warmup` times unrecorded, then `plan.reps` times each, interleaved
/// (rep r starts with side r mod K), so that drift of the machine hits all sides alike. Each
/// call of a side returns one sample.
///
/// For profiling, `SCOPE_BENCH_SIDE=k` runs only side `k` of every comparison; the figures of
/// the other sides are then `NaN`.
pub(crate) fn interleave<const K: usize>(
    plan: Plan,
    mut sides: [&mut dyn FnMut() -> f64; K],
) -> [Stats; K] {
    let only = only_side();
    let runs = |k: usize| only.is_none_or(|only| only == k);
    for _ in 0..plan.warmup {
        for (k, side) in sides.iter_mut().enumerate() {
            if runs(k) {
                black_box(side());
            }
        }
    }
    let mut samples: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(plan.reps));
    for rep in 0..plan.reps {
        for j in 0..K {
            let k = (rep + j) % K;
            samples[k].push(if runs(k) { sides[k]() } else { f64::NAN });
        }
    }
    samples.map(Stats::of)
}

/// The side chosen with `SCOPE_BENCH_SIDE`, if any.
pub(crate) fn only_side() -> Option<usize> {
    static ONLY: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *ONLY.get_or_init(|| std::env::var("SCOPE_BENCH_SIDE").ok()?.parse().ok())
}

/// Whether rows on `rt` run: all unless `SCOPE_BENCH_RT` names one (`ct` or `mt2`), for
/// profiling one runtime at a time.
pub(crate) fn runs_on(rt: Rt) -> bool {
    static ONLY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ONLY.get_or_init(|| std::env::var("SCOPE_BENCH_RT").ok())
        .as_deref()
        .is_none_or(|only| only == rt.code())
}

/// Nanoseconds per call of `op`, over `iters` calls; what `op` returns is kept opaque.
#[inline(never)]
pub(crate) fn per_op<R>(iters: u32, mut op: impl FnMut() -> R) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(op());
    }
    nanos(start.elapsed()) / f64::from(iters)
}

pub(crate) fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// The unit of a row's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Nanos,
    Bytes,
}

impl Unit {
    fn code(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Bytes => "B",
        }
    }

    fn human(self, v: f64) -> String {
        match self {
            Unit::Nanos if v >= 1e9 => format!("{:.2} s", v / 1e9),
            Unit::Nanos if v >= 1e6 => format!("{:.2} ms", v / 1e6),
            Unit::Nanos if v >= 1e4 => format!("{:.1} us", v / 1e3),
            Unit::Nanos if v >= 100.0 => format!("{v:.0} ns"),
            Unit::Nanos => format!("{v:.2} ns"),
            Unit::Bytes => format!("{v:.0} B"),
        }
    }
}

/// What DESIGN §9 asks of a row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// No target: the row is there to explain another one.
    Info,
    /// `ours / peer` at most this.
    Ratio(f64),
    /// `ours - peer` at most this many units.
    Extra(f64),
}

impl Target {
    fn code(self) -> String {
        match self {
            Target::Info => "-".to_owned(),
            Target::Ratio(r) => format!("<={}x", short(r)),
            Target::Extra(e) => format!("<=+{}", short(e)),
        }
    }

    fn met(self, ours: f64, peer: f64) -> Option<bool> {
        match self {
            Target::Info => None,
            Target::Ratio(r) => Some(ours / peer <= r),
            Target::Extra(e) => Some(ours - peer <= e),
        }
    }
}

/// At most three decimals, without trailing zeros.
fn short(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The runtime a row ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rt {
    /// Not on a runtime (or it does not matter).
    None,
    /// A current-thread tokio runtime.
    Current,
    /// A multi-thread tokio runtime with 2 workers.
    Multi2,
}

impl Rt {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Rt::None => "-",
            Rt::Current => "ct",
            Rt::Multi2 => "mt2",
        }
    }
}

/// One comparison: ours against one peer.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) rt: Rt,
    pub(crate) unit: Unit,
    pub(crate) peer: String,
    pub(crate) target: Target,
    pub(crate) figures: Result<(Stats, Stats), String>,
    pub(crate) note: String,
}

impl Row {
    pub(crate) fn new(
        name: impl Into<String>,
        rt: Rt,
        ours: Stats,
        peer: impl Into<String>,
        theirs: Stats,
        target: Target,
    ) -> Row {
        Row {
            name: name.into(),
            rt,
            unit: Unit::Nanos,
            peer: peer.into(),
            target,
            figures: Ok((ours, theirs)),
            note: String::new(),
        }
    }

    /// A row that could not be measured, and why.
    pub(crate) fn unavailable(
        name: impl Into<String>,
        rt: Rt,
        peer: impl Into<String>,
        target: Target,
        why: impl Into<String>,
    ) -> Row {
        Row {
            name: name.into(),
            rt,
            unit: Unit::Nanos,
            peer: peer.into(),
            target,
            figures: Err(why.into()),
            note: String::new(),
        }
    }

    pub(crate) fn unit(mut self, unit: Unit) -> Row {
        self.unit = unit;
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    fn ratio(&self) -> Option<f64> {
        self.figures.as_ref().ok().map(|(o, p)| o.median / p.median)
    }

    fn verdict(&self) -> &'static str {
        match &self.figures {
            Err(_) => "unavailable",
            Ok((o, p)) => match self.target.met(o.median, p.median) {
                None => "info",
                Some(true) => "met",
                Some(false) => "MISSED",
            },
        }
    }

    /// The machine-readable line (tab-separated; see [`TSV_HEADER`]).
    pub(crate) fn tsv(&self) -> String {
        let num = |v: f64| format!("{v:.3}");
        let (ours, theirs, ratio, extra) = match &self.figures {
            Ok((o, p)) => (
                num(o.median),
                num(p.median),
                format!("{:.4}", o.median / p.median),
                [num(o.min), num(o.max), num(p.min), num(p.max)],
            ),
            Err(_) => (
                "NA".into(),
                "NA".into(),
                "NA".into(),
                ["NA".to_owned(), "NA".into(), "NA".into(), "NA".into()],
            ),
        };
        let note = match &self.figures {
            Err(why) => why.clone(),
            Ok(_) if self.note.is_empty() => "-".to_owned(),
            Ok(_) => self.note.clone(),
        };
        let [omin, omax, pmin, pmax] = extra;
        format!(
            "row\t{}\t{}\t{ours}\t{}\t{theirs}\t{ratio}\t{}\t{}\t{}\t{omin}\t{omax}\t{pmin}\t{pmax}\t{}",
            self.name,
            self.rt.code(),
            self.peer,
            self.target.code(),
            self.verdict(),
            self.unit.code(),
            note.replace(['\t', '\n'], " "),
        )
    }
}

/// The columns of [`Row::tsv`]; `ours` and `peer_value` are medians in `unit`.
pub(crate) const TSV_HEADER: &str = "#row\tname\truntime\tours\tpeer\tpeer_value\tratio\ttarget\tverdict\tunit\tours_min\tours_max\tpeer_min\tpeer_max\tnote";

/// The human table of every row.
pub(crate) fn table(rows: &[Row]) -> String {
    let header = [
        "name",
        "rt",
        "ours (median)",
        "peer",
        "peer (median)",
        "ratio",
        "target",
        "verdict",
        "ours min..max",
    ];
    let mut cells: Vec<[String; 9]> = vec![header.map(str::to_owned)];
    for r in rows {
        let (ours, theirs, spread) = match &r.figures {
            Ok((o, p)) => (
                r.unit.human(o.median),
                r.unit.human(p.median),
                format!("{}..{}", r.unit.human(o.min), r.unit.human(o.max)),
            ),
            Err(why) => ("-".into(), "-".into(), why.clone()),
        };
        let ratio = r
            .ratio()
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}x"));
        cells.push([
            r.name.clone(),
            r.rt.code().to_owned(),
            ours,
            r.peer.clone(),
            theirs,
            ratio,
            r.target.code(),
            r.verdict().to_owned(),
            spread,
        ]);
    }
    let mut widths = [0usize; 9];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in cells.iter().enumerate() {
        let mut line = String::new();
        for (j, (c, w)) in row.iter().zip(widths).enumerate() {
            // Text columns to the left, figures to the right.
            if matches!(j, 0 | 1 | 3 | 7 | 8) {
                let _ = write!(line, "{c:<w$}  ");
            } else {
                let _ = write!(line, "{c:>w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

/// Runs this bench binary again with `args` (a fresh process, so that one side's freed memory
/// is not reused by the next) and returns what its `probe\t` line says; `what` names the probe
/// in the error.
pub(crate) fn run_probe(args: &[&str], what: &str) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| format!("starting the probe: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("probe\t"))
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "the {what} probe failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })
}
