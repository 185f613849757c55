//! Chaos: thousands of random scope trees, checked against the laws (DESIGN §2).
//!
//! Every run draws one tree from a seeded PRNG ([`Plan::draw`]):
//!
//! - **Scopes nested up to [`MAX_DEPTH`] levels.** A child's future may open a scope of its own
//!   (`Scope::new(Config::new()..)` driven by `run` (fail-fast) or `run_all` (supervise), or a
//!   `Race` (first-ok)) with children of its own. One path is drawn down to a target depth
//!   (most runs reach depth 4 or 5); other children nest at random.
//! - **Both kinds of child at every level**, spawned and in place, so every nesting occurs
//!   (in place → in place → spawned, spawned → in place → ...). In-place children borrow the
//!   run's state from the enclosing frame. A race's candidates are spawned (the race has no
//!   named in-place spawn, and the oracle needs the names).
//! - **Each child** works in steps (yields, short or slow sleeps, or a hang that only an abort
//!   ends), either watches for cancellation (it stops at its next step: it returns the
//!   interruption, or a value) or ignores it, then completes with a value, fails with an
//!   `AppError` or panics. A child that opened a scope turns the scope's outcome into its own.
//! - **Each scope** has a limit or none, a grace (often zero), and a body that spawns its
//!   children in order (some after a delay), awaits most of their handles and returns the sum
//!   of their values; some bodies return the interruption with `?` instead, a few panic, and
//!   on the paused clock a few fail with an error of their own (on two workers whether that
//!   error is kept or is the consequence of a cancel depends on an order the log does not
//!   show).
//! - **Outside events on the root**, each drawn independently: a cancel of its parent context
//!   at a random time, a deadline (`Config::timeout`), and dropping the root's future at a
//!   random time.
//!
//! What every run checks:
//!
//! - **At the moment each scope's future resolves** (the root's and every nested one's), no
//!   future below it is alive (law 1): every child future, at any depth, and every scope body
//!   carries a drop guard taken when the future is *built* (so one dropped before its first
//!   poll counts too), counted in every scope above it. When the root's future is dropped,
//!   right after the drop no in-place descendant reachable through in-place links only is
//!   alive (law 8: they are dropped with it); the spawned ones must be gone within a bound.
//! - **Afterwards** no tokio task is alive ([`LeakCheck`], baseline taken before the run), and
//!   the run finished within a time bound (a watchdog thread fails the test on a livelock).
//! - **Every outcome as the laws say**, for every scope that resolved: [`the_rules`] replays
//!   what happened in that scope, in order, and says what it must return. On the
//!   current-thread runtime with the paused clock the order of events is known (a child's
//!   end, a cancel, a body's return take effect in the scope the moment they are logged), so
//!   the outcome must be exactly that. On the multi-thread runtime: everything the order does
//!   not decide (supervise and race outcomes as sets, panics, values), and for fail-fast,
//!   that every reported failure happened. Also: every awaited handle agrees with what its
//!   child did (a fail-fast child's error after its scope's cancel, or a race loser's after
//!   the win, reads as that cancel), a
//!   body's value is the sum of what its handles gave, a returned cancellation
//!   carries the scope's own cause (law 4), and every cause a context was cancelled with is
//!   one that happened.
//!
//! Two tests run the trees: [`chaos_paused_clock`] (4,000 trees on a current-thread runtime
//! with tokio's paused clock; a seed replays its run exactly) and [`chaos_multi_thread`]
//! (1,500 trees on two workers in real time; a seed replays its plan, not its interleaving).
//! Together about ten seconds in a debug build. A failing run prints its seed, the tree and
//! the event log. Three more tests keep the harness honest: the rules by example (each
//! tagged rule of [`the_rules`] on a small history) and [`chaos_trees_have_every_shape`]
//! (the drawn trees contain every shape and behaviour above, in useful numbers).
//!
//! Environment: `CHAOS_SEED=<n>` replays one run (in both tests), `CHAOS_RUNS=<n>` changes the
//! number of runs of each test, `CHAOS_BASE=<n>` draws a different set of seeds, and
//! `CHAOS_KEEP_GOING=1` runs every seed and lists all failing ones before failing;
//! `CHAOS_LOG=1` prints every run's event log, passing or not (with `--nocapture`).

mod common;

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock, PoisonError};
use std::time::Duration;

use common::{two_workers, AppError};
use futures_util::FutureExt as _;
use scope_runtime::testing::LeakCheck;
use scope_runtime::{Cause, Child, Config, Cx, Failures, Interrupted, OnCancel, Race, Scope};
use tokio::time::{sleep, sleep_until, Instant};

const CANCEL_REASON: &str = "chaos: outside cancel";
const PLANNED_PANIC: &str = "chaos: planned panic";
/// Scope levels, the root's included.
const MAX_DEPTH: usize = 5;
/// Children per tree, at most (the trees stay modest: depth matters more than breadth).
const MAX_CHILDREN: usize = 24;
/// A step that only an abort ends.
const HANG: Duration = Duration::from_secs(3_600);
/// Trees per `cargo test` run, on the paused clock and on two workers (`CHAOS_RUNS` changes
/// both).
const PAUSED_RUNS: u64 = 4_000;
const MULTI_THREAD_RUNS: u64 = 1_500;

// ---------------------------------------------------------------------------------------------
// A tiny seeded PRNG (SplitMix64).

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn index(&mut self, n: usize) -> usize {
        usize::try_from(self.below(u64::try_from(n).unwrap())).unwrap()
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    /// Uniform in `0..=max_ms` milliseconds, at microsecond resolution.
    fn duration(&mut self, max_ms: u64) -> Duration {
        Duration::from_micros(self.below(max_ms * 1_000 + 1))
    }
}

/// The seed of run `i`: well mixed, so neighbouring runs share nothing.
fn seed_of(base: u64, i: u64) -> u64 {
    Rng::new(base ^ i.wrapping_mul(0xA24B_AED4_963E_E407)).next_u64()
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

// ---------------------------------------------------------------------------------------------
// The plan of a run: a tree of scopes and children.
//
// Ids: the root scope is 0; children are numbered 1.. in the order they are drawn (depth
// first). A child that opens a scope of its own gives it its id, so "scope 7" is the scope
// opened by child 7. Children are named `c<id>`, scopes `s<id>`.

/// How a scope is driven: the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drive {
    /// `Scope::run`: fail-fast.
    Run,
    /// `Scope::run_all`: supervise.
    RunAll,
    /// `Race::run`: first-ok.
    Race,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Spawned,
    InPlace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Yield,
    Sleep(Duration),
    /// Sleeps for an hour: only a cancel (if it watches) or an abort ends it.
    Hang,
}

/// What a child that watches for cancellation does at its first step after one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Returns the interruption as its error.
    Interruption,
    /// Returns a value (a graceful stop).
    Value,
}

/// How a child ends when it gets to the end of its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    Complete,
    Fail,
    Panic,
}

#[derive(Clone, Debug)]
struct Work {
    steps: Vec<Step>,
    /// `None`: ignores cancellation (until aborted).
    watch: Option<Stop>,
    finish: Finish,
    /// Its value (added to its scope's, for a child that opened one).
    value: u64,
}

#[derive(Clone, Debug)]
struct ChildPlan {
    id: usize,
    /// The scope it is a child of.
    scope: usize,
    kind: Kind,
    /// The body waits this long before spawning it.
    spawn_delay: Option<Duration>,
    /// Whether the body awaits its handle (or drops it at once).
    awaited: bool,
    /// Opens scope `id` first, then does its own work.
    nested: bool,
    work: Work,
    /// The scopes it is a descendant of, nearest first (its guard counts in each).
    above: Vec<usize>,
    /// Reached from the root through in-place links only: dropped with the root's future.
    attached: bool,
}

/// How a scope's body ends once it has awaited its handles (unless a strict one returned the
/// interruption first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyFinish {
    /// Returns the sum of its handles' values.
    Value,
    Panic,
    /// Fails with an error of its own ([`body_boom`]); drawn only where events are logged in
    /// the order they take effect (see [`Mode::body_failures`]).
    Fail,
}

#[derive(Clone, Debug)]
struct ScopePlan {
    id: usize,
    level: usize,
    drive: Drive,
    limit: Option<usize>,
    grace: Duration,
    /// The body returns the interruption (`?`) from the first handle that reports one.
    strict: bool,
    /// How the body ends once it has awaited its handles.
    finish: BodyFinish,
    children: Vec<usize>,
    /// The scopes its body is a descendant of: itself, then the ones above.
    above: Vec<usize>,
    /// Its body and future are dropped with the root's future.
    attached: bool,
}

/// The outside events, relative to the root's start.
#[derive(Clone, Copy, Debug, Default)]
struct Outside {
    /// Cancel the root's parent context.
    cancel_at: Option<Duration>,
    /// `Config::timeout` on the root.
    timeout: Option<Duration>,
    /// Drop the root's future.
    drop_at: Option<Duration>,
}

impl Outside {
    fn any(self) -> bool {
        self.cancel_at.is_some() || self.timeout.is_some() || self.drop_at.is_some()
    }
}

#[derive(Clone, Debug)]
struct Plan {
    seed: u64,
    outside: Outside,
    scopes: BTreeMap<usize, ScopePlan>,
    children: BTreeMap<usize, ChildPlan>,
}

impl Plan {
    fn draw(seed: u64, mode: Mode) -> Plan {
        let mut rng = Rng::new(seed);
        let outside = Outside {
            cancel_at: rng.percent(35).then(|| rng.duration(10)),
            timeout: rng.percent(25).then(|| rng.duration(10)),
            drop_at: rng.percent(20).then(|| rng.duration(12)),
        };
        let depth = match rng.below(100) {
            0..=9 => 1,
            10..=24 => 2,
            25..=44 => 3,
            45..=69 => 4,
            _ => MAX_DEPTH,
        };
        let mut draw = Draw {
            rng,
            // Hanging children only where something outside will cancel them.
            hang: outside.any(),
            body_failures: mode.body_failures,
            next: 1,
            scopes: BTreeMap::new(),
            children: BTreeMap::new(),
        };
        draw.scope(0, 1, depth, &[], true);
        Plan {
            seed,
            outside,
            scopes: draw.scopes,
            children: draw.children,
        }
    }

    fn scope(&self, id: usize) -> &ScopePlan {
        &self.scopes[&id]
    }

    fn child(&self, id: usize) -> &ChildPlan {
        &self.children[&id]
    }

    /// Scope levels in the tree.
    fn depth(&self) -> usize {
        self.scopes.values().map(|s| s.level).max().unwrap_or(1)
    }

    fn is_child_of(&self, child: usize, scope: usize) -> bool {
        self.children.get(&child).is_some_and(|c| c.scope == scope)
    }

    /// The way from scope `from` down to child `to`, with the kind of every link, e.g.
    /// `s1 > c2 (in place) > s2 > c4 (spawned)`.
    fn path(&self, from: usize, to: usize) -> String {
        let mut links = Vec::new();
        let mut at = to;
        loop {
            let c = self.child(at);
            let kind = match c.kind {
                Kind::Spawned => "spawned",
                Kind::InPlace => "in place",
            };
            links.push(format!("{} ({kind})", name(at)));
            links.push(scope_name(c.scope));
            if c.scope == from || c.scope == 0 {
                break;
            }
            at = c.scope;
        }
        links.reverse();
        links.join(" > ")
    }

    /// The same, down to scope `to`'s body.
    fn body_path(&self, from: usize, to: usize) -> String {
        if to == from {
            format!("the body of {}", scope_name(to))
        } else {
            format!(
                "the body of {} ({} > {})",
                scope_name(to),
                self.path(from, to),
                scope_name(to)
            )
        }
    }
}

struct Draw {
    rng: Rng,
    hang: bool,
    body_failures: bool,
    next: usize,
    scopes: BTreeMap<usize, ScopePlan>,
    children: BTreeMap<usize, ChildPlan>,
}

impl Draw {
    /// Draws scope `id` at `level` (1 for the root), reaching down to `spine_to` levels
    /// through one of its children. `above`: the scopes above it; `attached`: whether its
    /// future is polled by the root's own future.
    fn scope(&mut self, id: usize, level: usize, spine_to: usize, above: &[usize], attached: bool) {
        let drive = match self.rng.below(100) {
            0..=44 => Drive::Run,
            45..=84 => Drive::RunAll,
            _ => Drive::Race,
        };
        let limit = self.rng.percent(25).then(|| 1 + self.rng.index(3));
        let grace = if self.rng.percent(50) {
            Duration::ZERO
        } else {
            self.rng.duration(3)
        };
        let strict = self.rng.percent(30);
        // (No draw where bodies do not fail: those trees are the ones drawn before.)
        let finish = if self.rng.percent(3) {
            BodyFinish::Panic
        } else if self.body_failures && self.rng.percent(6) {
            BodyFinish::Fail
        } else {
            BodyFinish::Value
        };
        let on_spine = level < spine_to;
        let mut n = self.rng.index(5);
        if on_spine {
            n = n.max(1);
        }
        let spine = self.rng.index(n.max(1));
        let body_above: Vec<usize> = std::iter::once(id).chain(above.iter().copied()).collect();
        let mut children = Vec::new();
        for i in 0..n {
            if self.next > MAX_CHILDREN {
                break;
            }
            let c = self.next;
            self.next += 1;
            let kind = if drive == Drive::Race || self.rng.percent(50) {
                Kind::Spawned
            } else {
                Kind::InPlace
            };
            let spine_child = on_spine && i == spine;
            let nested = level < MAX_DEPTH && (spine_child || self.rng.percent(15));
            let spawn_delay = self.rng.percent(20).then(|| self.rng.duration(2));
            let awaited = self.rng.percent(80);
            let work = self.work(!nested);
            let child_attached = attached && kind == Kind::InPlace;
            self.children.insert(
                c,
                ChildPlan {
                    id: c,
                    scope: id,
                    kind,
                    spawn_delay,
                    awaited,
                    nested,
                    work,
                    above: body_above.clone(),
                    attached: child_attached,
                },
            );
            children.push(c);
            if nested {
                let to = if spine_child { spine_to } else { level + 1 };
                self.scope(c, level + 1, to, &body_above, child_attached);
            }
        }
        self.scopes.insert(
            id,
            ScopePlan {
                id,
                level,
                drive,
                limit,
                grace,
                strict,
                finish,
                children,
                above: body_above,
                attached,
            },
        );
    }

    /// A child's own work (after its scope, for one that opens a scope: shorter).
    fn work(&mut self, leaf: bool) -> Work {
        let n = self.rng.index(if leaf { 4 } else { 2 });
        let mut steps = Vec::with_capacity(n);
        for _ in 0..n {
            let step = match self.rng.below(100) {
                0..=14 => Step::Yield,
                15..=22 => Step::Sleep(self.rng.duration(10)),
                23..=30 if self.hang => Step::Hang,
                _ => Step::Sleep(self.rng.duration(3)),
            };
            steps.push(step);
        }
        let watch = match self.rng.below(100) {
            0..=54 => Some(Stop::Interruption),
            55..=69 => Some(Stop::Value),
            _ => None,
        };
        let finish = match self.rng.below(100) {
            0..=9 => Finish::Fail,
            10..=14 => Finish::Panic,
            _ => Finish::Complete,
        };
        Work {
            steps,
            watch,
            finish,
            value: self.rng.below(1_000),
        }
    }
}

fn name(id: usize) -> String {
    format!("c{id}")
}

fn scope_name(id: usize) -> String {
    format!("s{id}")
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.outside;
        writeln!(
            f,
            "seed {}: depth {}, {} children; outside: cancel at {:?}, timeout {:?}, drop at {:?}",
            self.seed,
            self.depth(),
            self.children.len(),
            o.cancel_at,
            o.timeout,
            o.drop_at
        )?;
        self.fmt_scope(f, 0, 1)
    }
}

impl Plan {
    fn fmt_scope(&self, f: &mut fmt::Formatter<'_>, id: usize, indent: usize) -> fmt::Result {
        let s = self.scope(id);
        let pad = "  ".repeat(indent);
        writeln!(
            f,
            "{pad}{} {:?} limit={:?} grace={:?}{}{}",
            scope_name(id),
            s.drive,
            s.limit,
            s.grace,
            if s.strict { " body=strict" } else { "" },
            match s.finish {
                BodyFinish::Value => "",
                BodyFinish::Panic => " body=panics",
                BodyFinish::Fail => " body=fails",
            },
        )?;
        for &c in &s.children {
            let p = self.child(c);
            writeln!(
                f,
                "{pad}  {} {:?}{}{} steps={:?} watch={:?} then {:?}({}){}",
                name(p.id),
                p.kind,
                p.spawn_delay
                    .map(|d| format!(" after {d:?}"))
                    .unwrap_or_default(),
                if p.awaited { " awaited" } else { "" },
                p.work.steps,
                p.work.watch,
                p.work.finish,
                p.work.value,
                if p.nested { ", opens:" } else { "" },
            )?;
            if p.nested {
                self.fmt_scope(f, c, indent + 2)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// What happened: the ledger of a run.

/// How a child ended its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Returned a value.
    Done(u64),
    /// Failed with `AppError::Boom(its id)`.
    Boom,
    /// Returned the cancellation as its error.
    Interrupted,
    Panic,
}

/// How a scope's body ended its own way (a body that did not was dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyEnd {
    Value(u64),
    /// Returned the interruption from a handle (`?`).
    Interrupted,
    /// Returned an error of its own ([`body_boom`]).
    Boom,
    Panic,
}

#[derive(Clone, Debug)]
enum Event {
    /// The root's parent context is about to be cancelled.
    OutsideCancel,
    /// The root's future is about to be dropped.
    RootDropped,
    /// A scope's context was cancelled (its `on_cancel` callback ran).
    Cancelled { scope: usize, cause: Cause },
    /// A child ended its own way (logged just before it returns or panics).
    Ended { child: usize, end: End },
    /// A scope's body ended its own way.
    Body { scope: usize, end: BodyEnd },
    /// A scope's future resolved (returned or panicked); what it returned is in `results`.
    Resolved { scope: usize },
    /// A scope's future was dropped before it resolved (with the child that opened it):
    /// logged just after.
    Dropped { scope: usize },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::OutsideCancel => f.write_str("outside cancel"),
            Event::RootDropped => f.write_str("the root's future is dropped"),
            Event::Cancelled { scope, cause } => {
                write!(f, "{} cancelled: {cause:?}", scope_name(*scope))
            }
            Event::Ended { child, end } => write!(f, "{} ended: {end:?}", name(*child)),
            Event::Body { scope, end } => write!(f, "{} body: {end:?}", scope_name(*scope)),
            Event::Resolved { scope } => write!(f, "{} resolved", scope_name(*scope)),
            Event::Dropped { scope } => write!(f, "{} dropped", scope_name(*scope)),
        }
    }
}

#[derive(Clone, Debug)]
struct Logged {
    at: Instant,
    event: Event,
}

/// How the body saw one handle resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// The child's value (`None` for a race's candidate: its value went to the race).
    Ok(Option<u64>),
    ChildFailed,
    Panicked,
    Cancelled,
}

/// What a scope's future gave, in one shape for every way of driving it.
#[derive(Debug)]
enum Returned {
    Value(u64),
    /// From `run`: the one error.
    Error(AppError),
    /// From `run_all` or a race: every failure, as (task name, error).
    Failures(Vec<(String, AppError)>),
    /// The scope's future panicked, with this message.
    Panicked(String),
}

impl Returned {
    fn from_run(out: Result<u64, AppError>) -> Self {
        match out {
            Ok(v) => Returned::Value(v),
            Err(e) => Returned::Error(e),
        }
    }

    fn from_all(out: Result<u64, Failures<AppError>>) -> Self {
        match out {
            Ok(v) => Returned::Value(v),
            Err(all) => Returned::Failures(
                all.into_iter()
                    .map(|f| (f.task().name().unwrap_or("").to_owned(), f.into_error()))
                    .collect(),
            ),
        }
    }

    fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        Returned::Panicked(message.to_owned())
    }
}

/// Which future a drop guard stands for.
#[derive(Clone, Copy, Debug)]
enum Who {
    Child(usize),
    Body(usize),
}

/// Everything a run shares: its plan, and what happened.
struct World {
    plan: Plan,
    start: OnceLock<Instant>,
    events: Mutex<Vec<Logged>>,
    seen: Mutex<BTreeMap<usize, Seen>>,
    results: Mutex<BTreeMap<usize, Returned>>,
    /// Law violations seen while running (checked once the run is over).
    violations: Mutex<Vec<String>>,
    /// Per scope id: futures below it (children at any depth, bodies) not yet dropped.
    live: Vec<AtomicUsize>,
    /// Futures that must be dropped together with the root's future.
    attached: AtomicUsize,
    /// Per id: whether child `id`'s future, and scope `id`'s body, are alive (for messages).
    child_alive: Vec<AtomicBool>,
    body_alive: Vec<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl World {
    fn new(plan: Plan) -> Self {
        let ids = plan.children.len() + 1;
        World {
            plan,
            start: OnceLock::new(),
            events: Mutex::new(Vec::new()),
            seen: Mutex::new(BTreeMap::new()),
            results: Mutex::new(BTreeMap::new()),
            violations: Mutex::new(Vec::new()),
            live: (0..ids).map(|_| AtomicUsize::new(0)).collect(),
            attached: AtomicUsize::new(0),
            child_alive: (0..ids).map(|_| AtomicBool::new(false)).collect(),
            body_alive: (0..ids).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    fn log(&self, event: Event) {
        lock(&self.events).push(Logged {
            at: Instant::now(),
            event,
        });
    }

    fn violation(&self, what: String) {
        lock(&self.violations).push(what);
    }

    fn start(&self) -> Instant {
        *self.start.get().expect("the run has started")
    }

    fn deadline(&self) -> Option<Instant> {
        self.plan.outside.timeout.map(|t| self.start() + t)
    }

    /// The scopes `who` is below, and whether it is dropped with the root's future.
    fn above(&self, who: Who) -> (&[usize], bool) {
        match who {
            Who::Child(c) => {
                let p = self.plan.child(c);
                (&p.above, p.attached)
            }
            Who::Body(s) => {
                let p = self.plan.scope(s);
                (&p.above, p.attached)
            }
        }
    }

    fn alive(&self, who: Who) -> &AtomicBool {
        match who {
            Who::Child(c) => &self.child_alive[c],
            Who::Body(s) => &self.body_alive[s],
        }
    }

    /// The futures below scope `scope` (or attached to the root) still alive, each with its
    /// path from `scope` (the kind of every link).
    fn alive_below(&self, scope: usize, attached_only: bool) -> String {
        let mut names = Vec::new();
        for p in self.plan.scopes.values() {
            let below = p.above.contains(&scope) && (!attached_only || p.attached);
            if below && self.alive(Who::Body(p.id)).load(Ordering::SeqCst) {
                names.push(self.plan.body_path(scope, p.id));
            }
        }
        for p in self.plan.children.values() {
            let below = p.above.contains(&scope) && (!attached_only || p.attached);
            if below && self.alive(Who::Child(p.id)).load(Ordering::SeqCst) {
                names.push(self.plan.path(scope, p.id));
            }
        }
        names.join("; ")
    }

    /// Child `c`'s future is being dropped by an unwind. If the scope it opened holds a body
    /// panic it never resumed (the child was aborted while the scope drained), the unwind is
    /// that panic, re-raised by the scope's future as it is dropped: the child panicked (law 5:
    /// the panic reaches the parent as the child's outcome).
    fn unwound(&self, c: usize) {
        let mut events = lock(&self.events);
        let pending = self.plan.child(c).nested
            && events.iter().any(
                |l| matches!(l.event, Event::Body { scope, end: BodyEnd::Panic } if scope == c),
            )
            && !events.iter().any(|l| match l.event {
                Event::Ended { child, .. } => child == c,
                Event::Resolved { scope } => scope == c,
                _ => false,
            });
        if pending {
            events.push(Logged {
                at: Instant::now(),
                event: Event::Ended {
                    child: c,
                    end: End::Panic,
                },
            });
        }
    }

    /// Child `c`'s future is being dropped, not by an unwind: if it opened a scope that did not
    /// resolve, that scope's future was dropped with it (just now, before this guard).
    fn dropped(&self, c: usize) {
        if !self.plan.child(c).nested {
            return;
        }
        let mut events = lock(&self.events);
        let resolved = events
            .iter()
            .any(|l| matches!(l.event, Event::Resolved { scope } if scope == c));
        if !resolved {
            events.push(Logged {
                at: Instant::now(),
                event: Event::Dropped { scope: c },
            });
        }
    }

    /// Scope `scope`'s future resolved just now: nothing below it may be alive (law 1).
    fn resolved(&self, scope: usize, returned: Returned) {
        let alive = self.live[scope].load(Ordering::SeqCst);
        if alive != 0 {
            self.violation(format!(
                "law 1: {} resolved while {alive} future(s) below it were still alive: {}",
                scope_name(scope),
                self.alive_below(scope, false)
            ));
        }
        self.log(Event::Resolved { scope });
        lock(&self.results).insert(scope, returned);
    }
}

/// Counts a future as alive from when it is built until it is dropped, in every scope above
/// it.
struct Guard {
    world: Arc<World>,
    who: Who,
}

impl Guard {
    fn new(world: &Arc<World>, who: Who) -> Self {
        let (above, attached) = world.above(who);
        for s in above {
            world.live[*s].fetch_add(1, Ordering::SeqCst);
        }
        if attached {
            world.attached.fetch_add(1, Ordering::SeqCst);
        }
        world.alive(who).store(true, Ordering::SeqCst);
        Guard {
            world: Arc::clone(world),
            who,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let (above, attached) = self.world.above(self.who);
        for s in above {
            self.world.live[*s].fetch_sub(1, Ordering::SeqCst);
        }
        if attached {
            self.world.attached.fetch_sub(1, Ordering::SeqCst);
        }
        // Last, so a count seen above zero finds the name (for the message).
        self.world.alive(self.who).store(false, Ordering::SeqCst);
        if let Who::Child(c) = self.who {
            if std::thread::panicking() {
                self.world.unwound(c);
            } else {
                self.world.dropped(c);
            }
        }
    }
}

/// Logs every cancellation of scope `scope`'s context, with its cause.
fn watch(w: &Arc<World>, cx: &Cx, scope: usize) -> OnCancel {
    let world = Arc::clone(w);
    cx.on_cancel(move |cause| {
        world.log(Event::Cancelled {
            scope,
            cause: cause.clone(),
        });
    })
}

// ---------------------------------------------------------------------------------------------
// The futures of a run.

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn boom(id: usize) -> AppError {
    AppError::Boom(u32::try_from(id).unwrap())
}

/// Where the errors of scopes' bodies are numbered from: above every child's.
const BODY_BOOM: usize = 1_000_000;

/// The error of scope `id`'s body, when it fails on its own.
fn body_boom(id: usize) -> AppError {
    boom(BODY_BOOM + id)
}

/// Works through `steps`; a watching child returns the cause at its first step after a
/// cancel, one that does not watch goes on (until aborted).
async fn work(steps: &[Step], watch: bool) -> Result<(), Cause> {
    for step in steps {
        let pause = async {
            match step {
                Step::Yield => tokio::task::yield_now().await,
                Step::Sleep(d) => sleep(*d).await,
                Step::Hang => sleep(HANG).await,
            }
        };
        if watch {
            tokio::select! {
                biased;
                cause = scope_runtime::cancelled() => return Err(cause),
                () = pause => {}
            }
        } else {
            pause.await;
        }
    }
    Ok(())
}

/// What a child does with the outcome of the scope it opened.
enum Reaction {
    /// Goes on with its own work.
    Value(u64),
    /// The scope was cancelled: returns the interruption.
    Interrupted(Cause),
    /// The scope failed: the child fails.
    Failed,
}

fn reaction(returned: &Returned, scope: usize) -> Reaction {
    let cancellation = |e: &AppError| match e {
        AppError::Interrupted(i) => i.cause().cloned(),
        AppError::Boom(_) => None,
    };
    match returned {
        Returned::Value(v) => Reaction::Value(*v),
        Returned::Error(e) => cancellation(e).map_or(Reaction::Failed, Reaction::Interrupted),
        Returned::Failures(all) => match all.first() {
            Some((task, e)) if *task == scope_name(scope) => {
                cancellation(e).map_or(Reaction::Failed, Reaction::Interrupted)
            }
            _ => Reaction::Failed,
        },
        Returned::Panicked(_) => unreachable!("a panicking scope unwinds"),
    }
}

/// Child `id`'s future. Its guard is taken by the caller, when the future is built.
fn child<'a>(w: &'a Arc<World>, id: usize, guard: Guard) -> Boxed<'a, Result<u64, AppError>> {
    Box::pin(async move {
        let _guard = guard;
        let plan = w.plan.child(id);
        let ended = |end| w.log(Event::Ended { child: id, end });
        let mut base = 0;
        if plan.nested {
            match nested(w, id).await {
                Err(payload) => {
                    ended(End::Panic);
                    resume_unwind(payload);
                }
                Ok(Reaction::Value(v)) => base = v,
                Ok(Reaction::Interrupted(cause)) => {
                    ended(End::Interrupted);
                    return Err(AppError::Interrupted(Interrupted::from_cause(cause)));
                }
                Ok(Reaction::Failed) => {
                    ended(End::Boom);
                    return Err(boom(id));
                }
            }
        }
        let value = base + plan.work.value;
        if let Err(cause) = work(&plan.work.steps, plan.work.watch.is_some()).await {
            if plan.work.watch == Some(Stop::Value) {
                ended(End::Done(value));
                return Ok(value);
            }
            ended(End::Interrupted);
            return Err(AppError::Interrupted(Interrupted::from_cause(cause)));
        }
        match plan.work.finish {
            Finish::Complete => {
                ended(End::Done(value));
                Ok(value)
            }
            Finish::Fail => {
                ended(End::Boom);
                Err(boom(id))
            }
            Finish::Panic => {
                ended(End::Panic);
                panic!("{PLANNED_PANIC} in {}", name(id));
            }
        }
    })
}

fn config(plan: &ScopePlan) -> Config {
    let mut config = Config::new().name(scope_name(plan.id)).grace(plan.grace);
    if let Some(n) = plan.limit {
        config = config.limit(n);
    }
    config
}

/// Opens scope `id` (inside child `id`) and runs it; checks law 1 at the moment its future
/// resolves. A panic of the scope's future is handed back, to be resumed by the child.
async fn nested(w: &Arc<World>, id: usize) -> Result<Reaction, Box<dyn Any + Send>> {
    let plan = w.plan.scope(id);
    let out = match plan.drive {
        Drive::Run | Drive::RunAll => {
            let scope = Scope::new(config(plan));
            let _watch = watch(w, scope.cx(), id);
            let s = &scope;
            let body = body(w, Spawner::Scope(s), id, Guard::new(w, Who::Body(id)));
            if plan.drive == Drive::Run {
                AssertUnwindSafe(s.run(body).map(Returned::from_run))
                    .catch_unwind()
                    .await
            } else {
                AssertUnwindSafe(s.run_all(body).map(Returned::from_all))
                    .catch_unwind()
                    .await
            }
        }
        Drive::Race => {
            let race = Race::new(config(plan));
            let _watch = watch(w, race.cx(), id);
            let r = &race;
            let body = body(w, Spawner::Race(r), id, Guard::new(w, Who::Body(id)));
            AssertUnwindSafe(
                r.run(body.map(|out| out.map(|_| ())))
                    .map(Returned::from_all),
            )
            .catch_unwind()
            .await
        }
    };
    match out {
        Ok(returned) => {
            let react = reaction(&returned, id);
            w.resolved(id, returned);
            Ok(react)
        }
        Err(payload) => {
            w.resolved(id, Returned::from_panic(payload.as_ref()));
            Err(payload)
        }
    }
}

/// Where a body spawns: a scope or a race.
#[derive(Clone, Copy)]
enum Spawner<'s, 'env> {
    Scope(&'s Scope<'s, 'env, AppError>),
    Race(&'s Race<'s, 'env, u64, AppError>),
}

enum Handle<'s> {
    Value(Child<'s, u64>),
    /// A race's candidate: its value goes to the race.
    Race(Child<'s, ()>),
}

impl Handle<'_> {
    async fn join(self) -> Result<Option<u64>, Interrupted> {
        match self {
            Handle::Value(h) => h.await.map(Some),
            Handle::Race(h) => h.await.map(|()| None),
        }
    }
}

impl<'s, 'env> Spawner<'s, 'env> {
    /// Starts child `c`. Its guard is taken here, as its future is built.
    fn spawn(self, w: &'env Arc<World>, c: usize) -> Handle<'s> {
        let plan = w.plan.child(c);
        let guard = Guard::new(w, Who::Child(c));
        match (self, plan.kind) {
            (Spawner::Scope(s), Kind::Spawned) => {
                let w = Arc::clone(w);
                Handle::Value(s.spawn_named(name(c), async move { child(&w, c, guard).await }))
            }
            (Spawner::Scope(s), Kind::InPlace) => {
                Handle::Value(s.spawn_in_place_named(name(c), child(w, c, guard)))
            }
            // A race's candidates are all spawned (see `Draw::scope`).
            (Spawner::Race(r), _) => {
                let w = Arc::clone(w);
                Handle::Race(r.spawn_named(name(c), async move { child(&w, c, guard).await }))
            }
        }
    }
}

/// Classifies what a handle gave, checking what it says against the child.
fn classify(w: &World, c: usize, out: &Result<Option<u64>, Interrupted>) -> Seen {
    let wrong = |what: String| w.violation(format!("the handle of {}: {what}", name(c)));
    match out {
        Ok(v) => Seen::Ok(*v),
        Err(Interrupted::ChildFailed(f)) => {
            if f.task().name() != Some(name(c).as_str()) {
                wrong(format!("ChildFailed names {}", f.task()));
            }
            Seen::ChildFailed
        }
        Err(Interrupted::Panicked(p)) => {
            if p.task().name() != Some(name(c).as_str()) || !p.message().starts_with(PLANNED_PANIC)
            {
                wrong(format!("unexpected {p:?}"));
            }
            Seen::Panicked
        }
        Err(e @ Interrupted::Config(_)) => {
            wrong(format!("unexpected {e}"));
            Seen::Cancelled
        }
        Err(_) => Seen::Cancelled,
    }
}

/// Scope `id`'s body: spawns its children in order, awaits the handles it keeps and returns
/// the sum of their values (or the first interruption, if strict; or panics).
async fn body<'s, 'env>(
    w: &'env Arc<World>,
    spawner: Spawner<'s, 'env>,
    id: usize,
    guard: Guard,
) -> Result<u64, AppError> {
    let _guard = guard;
    let plan = w.plan.scope(id);
    let mut handles = Vec::new();
    for &c in &plan.children {
        let p = w.plan.child(c);
        if let Some(d) = p.spawn_delay {
            sleep(d).await;
        }
        let handle = spawner.spawn(w, c);
        if p.awaited {
            handles.push((c, handle));
        }
    }
    let mut total = 0;
    for (c, handle) in handles {
        let out = handle.join().await;
        let seen = classify(w, c, &out);
        lock(&w.seen).insert(c, seen);
        match out {
            Ok(v) => total += v.unwrap_or(0),
            Err(i) if plan.strict && i.cause().is_some() => {
                w.log(Event::Body {
                    scope: id,
                    end: BodyEnd::Interrupted,
                });
                return Err(AppError::Interrupted(i));
            }
            Err(_) => {}
        }
    }
    match plan.finish {
        BodyFinish::Value => {
            w.log(Event::Body {
                scope: id,
                end: BodyEnd::Value(total),
            });
            Ok(total)
        }
        BodyFinish::Panic => {
            w.log(Event::Body {
                scope: id,
                end: BodyEnd::Panic,
            });
            panic!("{PLANNED_PANIC} in the body of {}", scope_name(id));
        }
        BodyFinish::Fail => {
            w.log(Event::Body {
                scope: id,
                end: BodyEnd::Boom,
            });
            Err(body_boom(id))
        }
    }
}

/// How the root's future ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RootEnd {
    Resolved,
    Dropped,
}

/// Runs the root scope with its outside events.
async fn run_root(w: &Arc<World>, parent: &Cx) -> RootEnd {
    let plan = w.plan.scope(0);
    let mut config = config(plan).parent(parent.clone());
    if let Some(t) = w.plan.outside.timeout {
        config = config.timeout(t);
    }
    match plan.drive {
        Drive::Run | Drive::RunAll => {
            let scope = Scope::new(config);
            let _watch = watch(w, scope.cx(), 0);
            let s = &scope;
            let body = body(w, Spawner::Scope(s), 0, Guard::new(w, Who::Body(0)));
            let fut: Boxed<'_, Returned> = if plan.drive == Drive::Run {
                Box::pin(s.run(body).map(Returned::from_run))
            } else {
                Box::pin(s.run_all(body).map(Returned::from_all))
            };
            drive_root(w, parent, fut).await
        }
        Drive::Race => {
            let race = Race::new(config);
            let _watch = watch(w, race.cx(), 0);
            let r = &race;
            let body = body(w, Spawner::Race(r), 0, Guard::new(w, Who::Body(0)));
            let fut: Boxed<'_, Returned> = Box::pin(
                r.run(body.map(|out| out.map(|_| ())))
                    .map(Returned::from_all),
            );
            drive_root(w, parent, fut).await
        }
    }
}

/// Polls the root's future against the outside cancel and the drop; checks law 1 the moment
/// it resolves, and law 8 right after it is dropped.
async fn drive_root(w: &Arc<World>, parent: &Cx, fut: Boxed<'_, Returned>) -> RootEnd {
    let start = w.start();
    let outside = w.plan.outside;
    let mut fut = AssertUnwindSafe(fut).catch_unwind();
    let canceller = pin!(async {
        if let Some(at) = outside.cancel_at {
            sleep_until(start + at).await;
            w.log(Event::OutsideCancel);
            parent.cancel(CANCEL_REASON);
        }
        std::future::pending::<()>().await;
    });
    let dropper = pin!(async {
        match outside.drop_at {
            Some(at) => sleep_until(start + at).await,
            None => std::future::pending().await,
        }
    });
    let out = tokio::select! {
        biased;
        out = &mut fut => Some(out),
        () = dropper => None,
        () = canceller => unreachable!("the canceller never finishes"),
    };
    if let Some(out) = out {
        // The root's future has just resolved: nothing below it may be alive.
        let returned = match out {
            Ok(returned) => returned,
            Err(payload) => Returned::from_panic(payload.as_ref()),
        };
        w.resolved(0, returned);
        return RootEnd::Resolved;
    }
    w.log(Event::RootDropped);
    // Dropping it may re-raise its body's panic, if the body panicked and the scope had not
    // finished draining (law 5: the panic is not lost).
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(fut))) {
        let body_panicked = lock(&w.events).iter().any(|l| {
            matches!(
                l.event,
                Event::Body {
                    scope: 0,
                    end: BodyEnd::Panic
                }
            )
        });
        if !body_panicked || !panic_text(payload.as_ref()).starts_with(PLANNED_PANIC) {
            w.violation(format!(
                "dropping the root's future panicked: {}",
                panic_text(payload.as_ref())
            ));
        }
    }
    // Law 8: the in-place children (at any depth, through in-place links) were dropped with it.
    let attached = w.attached.load(Ordering::SeqCst);
    if attached != 0 {
        w.violation(format!(
            "law 8: {attached} in-place descendant future(s) still alive right after the root's \
             future was dropped: {}",
            w.alive_below(0, true)
        ));
    }
    RootEnd::Dropped
}

// ---------------------------------------------------------------------------------------------
// The oracle.

/// What happened in one scope, in the order it happened, up to its resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// The scope's context was cancelled (by anything: outside, a failure, a deadline).
    Cancelled,
    /// A child of the scope ended its own way.
    Child(usize, End),
    /// The scope's body ended its own way.
    Body(BodyEnd),
}

/// Where a scope's first cancellation came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// Its parent, a deadline, an explicit cancel: nothing in the scope explains it.
    Outside,
    /// One of its children failed or panicked, its body failed, or (race) a candidate won.
    Inside,
}

/// Reads a scope's cause; `None` for a cause this test does not know, which is the scope's
/// own "finished" cause (a scope's context ends with it once the scope has resolved; matched
/// by elimination, so the oracle does not depend on its name).
fn origin(cause: &Cause, drive: Drive) -> Option<Origin> {
    if matches!(cause, Cause::SiblingFailed { .. } | Cause::Panicked { .. }) {
        Some(Origin::Inside)
    } else if matches!(cause, Cause::Explicit { .. }) {
        // A race's winner cancels the race explicitly; nothing else cancels a scope's own
        // context explicitly while it runs (dropping a scope does, but it returns nothing).
        Some(if drive == Drive::Race {
            Origin::Inside
        } else {
            Origin::Outside
        })
    } else if matches!(
        cause,
        Cause::ParentCancelled(_) | Cause::DeadlineExceeded { .. } | Cause::Shutdown { .. }
    ) {
        Some(Origin::Outside)
    } else {
        None
    }
}

/// One scope's history, as the oracle reads it.
#[derive(Debug)]
struct View {
    id: usize,
    drive: Drive,
    items: Vec<Item>,
    /// The first cause of the scope's context (its own "finished" cause aside), whenever it
    /// was logged.
    cause: Option<Cause>,
    /// Where that cause came from, if it was logged before the scope resolved.
    origin: Option<Origin>,
    /// Where it came from, whenever it was logged (multi-thread: a cancel can land, and its
    /// callback run on another thread, while the scope finishes).
    any_origin: Option<Origin>,
    /// The cancellation certainly took effect before the scope finished: it was logged before
    /// the scope's last child or body event, or the body never ended its own way (it was
    /// aborted, or never started because the scope was entered cancelled).
    early: bool,
    /// Some child of the scope did not end its own way before the scope resolved: it never
    /// started, or was aborted or dropped (only a cancel does that).
    unended: bool,
}

impl View {
    /// Scope `id`'s history: the events of its children, its body and its context, up to
    /// `resolved` (the index of its `Resolved` event). With `ordered`, the deadline counts
    /// from the first event at or past it: the runtime checks a deadline when it looks, so a
    /// scope is past it from then on, whoever noticed first.
    ///
    /// `uncertain_below`: count the panics from below that may or may not have reached it
    /// (see [`panic_reaches`]).
    fn new(
        w: &World,
        events: &[Logged],
        id: usize,
        resolved: usize,
        ordered: bool,
        uncertain_below: bool,
    ) -> View {
        let drive = w.plan.scope(id).drive;
        let mut items = Vec::new();
        let mut cancelled_at = None;
        let (mut cause, mut origin, mut any_origin) = (None, None, None);
        for (i, logged) in events.iter().enumerate() {
            if let Event::Cancelled { scope, cause: c } = &logged.event {
                let Some(o) = self::origin(c, drive).filter(|_| *scope == id && cause.is_none())
                else {
                    continue;
                };
                cause = Some(c.clone());
                any_origin = Some(o);
                if i < resolved {
                    cancelled_at = Some(i);
                    origin = Some(o);
                }
            }
        }
        if ordered {
            if let Some(deadline) = w.deadline() {
                if let Some(i) = events[..resolved].iter().position(|l| l.at >= deadline) {
                    if cancelled_at.is_none_or(|c| i < c) {
                        cancelled_at = Some(i);
                    }
                    origin.get_or_insert(Origin::Outside);
                }
            }
        }
        // Panics from below that no report of a dropped scope carried, each where it reached
        // this scope: at the later of the panic and the drops it went up through.
        let mut from_below: Vec<(usize, usize)> = events[..resolved]
            .iter()
            .enumerate()
            .filter_map(|(i, l)| match l.event {
                Event::Ended {
                    child,
                    end: End::Panic,
                } if !w.plan.is_child_of(child, id) => panic_reaches(w, events, child, i, id)
                    .filter(|&(_, certain)| certain || uncertain_below)
                    .map(|(at, _)| (at, child)),
                _ => None,
            })
            .filter(|&(at, _)| at < resolved)
            .collect();
        from_below.sort_unstable();
        let mut last = None;
        for (i, logged) in events[..resolved].iter().enumerate() {
            if cancelled_at == Some(i) {
                items.push(Item::Cancelled);
            }
            for &(_, child) in from_below.iter().filter(|&&(at, _)| at == i) {
                items.push(Item::Child(child, End::Panic));
                last = Some(i);
            }
            match logged.event {
                Event::Ended { child, end } if w.plan.is_child_of(child, id) => {
                    items.push(Item::Child(child, end));
                    last = Some(i);
                }
                Event::Body { scope, end } if scope == id => {
                    items.push(Item::Body(end));
                    last = Some(i);
                }
                _ => {}
            }
        }
        let body_ended = items.iter().any(|i| matches!(i, Item::Body(_)));
        let unended = w.plan.scope(id).children.iter().any(|&c| {
            !events[..resolved]
                .iter()
                .any(|l| matches!(l.event, Event::Ended { child, .. } if child == c))
        });
        let early = any_origin.is_some()
            && (!body_ended || cancelled_at.zip(last).is_some_and(|(c, l)| c < l));
        View {
            id,
            drive,
            items,
            cause,
            origin,
            any_origin,
            early,
            unended,
        }
    }

    /// [A4] The body returned its value before the scope's context was cancelled, and that
    /// cancel then stopped a child short: it never started, was aborted or dropped, or ended
    /// with an error or the interruption, not a value of its own.
    fn cut_short_after_body(&self) -> bool {
        let Some(body) = self
            .items
            .iter()
            .position(|i| matches!(i, Item::Body(BodyEnd::Value(_))))
        else {
            return false;
        };
        let Some(cancel) = self.items.iter().position(|i| *i == Item::Cancelled) else {
            return false;
        };
        body < cancel
            && (self.unended
                || self.items[cancel..]
                    .iter()
                    .any(|i| matches!(i, Item::Child(_, e) if !matches!(e, End::Done(_)))))
    }
}

/// Where child `c`'s panic (logged at `at`) reaches scope `id`, if it does: a scope whose
/// future was dropped (with no panic of its body's to resume as the drop's own) hands the
/// panics no report of it carries to the scope it was entered under, as the drop happens
/// (law 5); a scope that resolved reported them itself.
///
/// Also whether it certainly does: a dropped fail-fast scope (or race) on the way that had a
/// failure before the panic came may have dropped it as it came (fail-fast keeps the first
/// failure, while a run being dropped keeps every panic), which the log cannot tell apart:
/// then either reading stands.
fn panic_reaches(
    w: &World,
    events: &[Logged],
    c: usize,
    mut at: usize,
    id: usize,
) -> Option<(usize, bool)> {
    let mut certain = true;
    let mut from = c;
    let mut n = w.plan.child(c).scope;
    while n != id {
        if n == 0 {
            return None;
        }
        let dropped = events
            .iter()
            .position(|l| matches!(l.event, Event::Dropped { scope } if scope == n))?;
        let body_panicked = events
            .iter()
            .any(|l| matches!(l.event, Event::Body { scope, end: BodyEnd::Panic } if scope == n));
        if body_panicked {
            return None;
        }
        if w.plan.scope(n).drive != Drive::RunAll {
            let failed_before = events[..at].iter().any(|l| match l.event {
                Event::Ended { child, end } => {
                    child != from && w.plan.is_child_of(child, n) && !matches!(end, End::Done(_))
                }
                Event::Body { scope, end } => {
                    scope == n && matches!(end, BodyEnd::Boom | BodyEnd::Interrupted)
                }
                Event::Cancelled { scope, .. } => scope == n,
                _ => false,
            });
            certain &= !failed_before;
        }
        at = at.max(dropped);
        from = n;
        n = w.plan.child(n).scope;
    }
    Some((at, certain))
}

/// One failure as a scope reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Report {
    /// Child `c` failed with its own error.
    Boom(usize),
    /// Child `c` returned the cancellation as its error.
    Interrupted(usize),
    /// Child `c` panicked.
    Panicked(usize),
    /// The scope's body failed with its own error.
    BodyFailed,
    /// The cancellation (from `run`: the scope's own, or a child's, which read the same).
    Cancelled,
}

/// What a scope returns, in the oracle's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Want {
    Value(u64),
    /// `run`: the one error.
    One(Report),
    /// `run_all` and race: whether the scope's own cancellation is among the failures, and the
    /// children's failures in the order they happened.
    All {
        own: bool,
        children: Vec<Report>,
    },
    /// The scope's future panicked (its body did).
    Panic,
}

/// **The rules**: what a scope must return, given what happened in it, in order.
///
/// This is the one place that encodes the outcome rules of the contract (DESIGN §2 laws 3
/// and 5, §6; `docs/decisions.md`), including the two changes of the contract issue:
///
/// - **(a) the body has the last word on an outside cancellation** (replaces "a cancelled
///   scope always returns the cancellation"): if the body returns a value on its own, that
///   value is the result, whether the cancellation came before or after it returned; if the
///   body was dropped (aborted) or returned the interruption, the result is the cancellation;
///   a child's failure or panic always wins over the body. Under supervise, a body that
///   returned a value has answered the cancellation: only the children's failures are
///   reported ([S2]). A race's body returns `()`, which answers nothing ([R2]); a winner
///   answers it, but a candidate's panic fails it all the same, and then a win that came
///   after the cancel (it did not stop the race) answers nothing ([R3]). Under supervise and
///   in a race, a body that returned the interruption after the scope's context was
///   cancelled answered that cancel: it is no failure of its own ([S3]), and the scope's own
///   entry is there only if no failure explains the cancel.
/// - **(b) a finished scope's context is cancelled with a cause that says so**: that cause is
///   not a cancellation of the scope (see [`origin`]: an unknown cause is ignored).
/// - **(c) a value the body returned before the cancel answers nothing** ([A4]): if that
///   cancel then stops a child short (never started, aborted, or ended with an error, the
///   interruption or a panic), the result is the cancellation (under supervise, the scope's
///   own entry first when the cancel came from outside); children that answer it with values
///   of their own leave the body's.
///
/// Each rule is tagged; adjust it here if the contract changes.
fn the_rules(view: &View) -> Want {
    let mut cancelled = false;
    // Fail-fast: the one failure kept.
    let mut first: Option<Report> = None;
    // Supervise and race: every failure, in order.
    let mut all: Vec<Report> = Vec::new();
    let mut winner: Option<u64> = None;
    let mut won_after_cancel = false;
    let mut body_failed = false;
    let mut value: Option<u64> = None;
    // [S3] The body's interruption is kept as a failure only if the scope's context was not
    // cancelled before it (then it answers that cancel: a consequence, as under fail-fast).
    let mut body_kept = false;
    let mut context_cancelled = false;
    let mut body_panicked = false;
    let mut child_panicked = false;
    for item in &view.items {
        match *item {
            Item::Cancelled => {
                cancelled = true;
                context_cancelled = true;
            }
            Item::Child(_, End::Done(v)) => {
                // [R1] Race: the first success wins (whenever it comes), unless the body's
                // failure came first ([B1]); [R3] one after a cancel did not stop the race.
                if winner.is_none() && !body_failed {
                    won_after_cancel = context_cancelled;
                    winner = Some(v);
                }
            }
            Item::Child(c, end @ (End::Boom | End::Interrupted)) => {
                let report = if end == End::Boom {
                    Report::Boom(c)
                } else {
                    Report::Interrupted(c)
                };
                // [F1] Fail-fast keeps the first failure and cancels the siblings; a failure
                // after the scope was cancelled (from outside or by an earlier failure) is a
                // consequence and is dropped.
                if first.is_none() && !cancelled {
                    first = Some(report);
                    cancelled = true;
                }
                // [S1] Supervise (and race) keep every failure, and do not cancel.
                all.push(report);
            }
            Item::Child(c, End::Panic) => {
                // [P1] A panic cancels the siblings whatever the policy, and is kept unless
                // a failure was kept before it (also after a cancel: it is never a
                // consequence).
                if first.is_none() {
                    first = Some(Report::Panicked(c));
                }
                child_panicked = true;
                cancelled = true;
                context_cancelled = true;
                all.push(Report::Panicked(c));
            }
            Item::Body(BodyEnd::Value(v)) => value = Some(v),
            Item::Body(BodyEnd::Interrupted) => body_kept = !context_cancelled,
            Item::Body(BodyEnd::Boom) => {
                // [B1] The body's own error: kept under fail-fast as a child's is; under
                // supervise and in a race unless a cancel (or a win) came before it. Kept, it
                // cancels the scope whatever the policy.
                let kept = match view.drive {
                    Drive::Run => first.is_none() && !cancelled,
                    Drive::RunAll => !context_cancelled,
                    Drive::Race => !context_cancelled && winner.is_none(),
                };
                if kept {
                    first.get_or_insert(Report::BodyFailed);
                    all.push(Report::BodyFailed);
                    (body_failed, cancelled, context_cancelled) = (true, true, true);
                }
            }
            Item::Body(BodyEnd::Panic) => body_panicked = true,
        }
    }
    // [P2] A body's panic is resumed once the children have drained: the future panics.
    if body_panicked {
        return Want::Panic;
    }
    // The scope's own cancellation, among the failures: when it came from outside (no failure
    // explains it), or when the body returned it.
    let cancelled_from_outside = view.origin == Some(Origin::Outside);
    match view.drive {
        Drive::Run => match (first, value) {
            // [A2] The body was dropped, or returned the interruption: the cancellation. (A
            // child's returned interruption reads the same as the scope's own.)
            (None, None) | (Some(Report::Interrupted(_)), _) => Want::One(Report::Cancelled),
            // [A3] A child's failure or panic wins over the body.
            (Some(failure), _) => Want::One(failure),
            // [A4] The body's value came before the cancel that then stopped a child short:
            // it answered nothing, and the cut-short work is the cancellation.
            (None, Some(_)) if view.cut_short_after_body() => Want::One(Report::Cancelled),
            // [A1] The body returned a value: it stands, cancelled or not (or the cancel came
            // after it and every child answered it with a value of its own).
            (None, Some(v)) => Want::Value(v),
        },
        Drive::RunAll => match value {
            // [A4] for supervise: a value before a cancel from outside that then stopped a
            // child short answered nothing: the scope's own cancellation comes first.
            Some(_) if view.cut_short_after_body() && cancelled_from_outside => Want::All {
                own: true,
                children: all,
            },
            // [A1] + [A3] for supervise: the body's value stands if no child failed.
            Some(v) if all.is_empty() => Want::Value(v),
            // [S2] A body that returned a value has had its last word on the cancellation:
            // only the children's failures are reported.
            Some(_) => Want::All {
                own: false,
                children: all,
            },
            // [S2] A body that was dropped or returned the interruption: the scope's own
            // cancellation is reported too, unless a failure explains it (and, with nothing
            // else to say, a body that did not complete is reported as the scope's failure).
            None => Want::All {
                own: cancelled_from_outside || body_kept || all.is_empty(),
                children: all,
            },
        },
        Drive::Race => match winner {
            Some(v) if !child_panicked => Want::Value(v),
            // [R3] A candidate's panic (before the win, or while a loser stopped) is never
            // dropped for a winner: every failure, and no entry of the race's own for a
            // cancellation its win stopped, only for a body that returned one. A win that came
            // after a cancel from outside answered nothing: that cancel is reported.
            Some(_) => Want::All {
                own: body_kept || (won_after_cancel && cancelled_from_outside),
                children: all,
            },
            // [R2] No success: every failure (none, if there was no candidate), and the race's
            // own cancellation if it came from outside (a race's body returns `()`, which does
            // not answer a cancellation) or the body returned it.
            None => Want::All {
                own: cancelled_from_outside || body_kept,
                children: all,
            },
        },
    }
}

fn child_id(task: &str) -> Option<usize> {
    task.strip_prefix('c').and_then(|n| n.parse().ok())
}

/// Reads one error a scope returned. `task`: the failure's task (`None` from `run`).
fn read_error(view: &View, task: Option<&str>, error: &AppError) -> Result<Report, String> {
    let own = scope_name(view.id);
    let report = match error {
        AppError::Boom(id) => match usize::try_from(*id).unwrap() {
            id if id == BODY_BOOM + view.id => Report::BodyFailed,
            id => Report::Boom(id),
        },
        AppError::Interrupted(Interrupted::Panicked(p)) => {
            if !p.message().starts_with(PLANNED_PANIC) {
                return Err(format!("an unplanned panic: {p:?}"));
            }
            Report::Panicked(
                p.task()
                    .name()
                    .and_then(child_id)
                    .ok_or_else(|| format!("a panic of an unknown task: {p:?}"))?,
            )
        }
        AppError::Interrupted(i) if i.cause().is_some() => match task {
            None => Report::Cancelled,
            Some(t) if t == own => Report::Cancelled,
            Some(t) => Report::Interrupted(
                child_id(t).ok_or_else(|| format!("a failure of an unknown task {t:?}"))?,
            ),
        },
        AppError::Interrupted(other) => return Err(format!("an unexpected error: {other}")),
    };
    // A child's failure is reported under the child's name.
    match (task, report) {
        (Some(t), Report::Boom(c) | Report::Panicked(c)) if Some(c) != child_id(t) => {
            Err(format!("{report:?} reported for task {t}"))
        }
        // The body's failure is reported under the scope's name.
        (Some(t), Report::BodyFailed) if t != own => {
            Err(format!("{report:?} reported for task {t}"))
        }
        _ => Ok(report),
    }
}

/// Reads what a scope returned in the oracle's terms, checking the causes it carries.
fn read(view: &View, returned: &Returned) -> Result<Want, String> {
    let own_cause_ok = |e: &AppError| match e {
        AppError::Interrupted(i) => i.cause() == view.cause.as_ref(),
        AppError::Boom(_) => false,
    };
    Ok(match returned {
        Returned::Value(v) => Want::Value(*v),
        Returned::Panicked(message) => {
            if !message.starts_with(PLANNED_PANIC) {
                return Err(format!("an unplanned panic: {message}"));
            }
            Want::Panic
        }
        Returned::Error(e) => {
            let report = read_error(view, None, e)?;
            // A child's failure that is itself an interruption (a nested race's own entry,
            // say) reads as the scope's cancellation ([A2]), but carries the child's cause:
            // the failure the scope was cancelled with names it, and its message is the
            // error's.
            let a_childs = matches!(view.cause.as_ref(), Some(Cause::SiblingFailed { task, message })
                if task.name().and_then(child_id).is_some() && *message == e.to_string());
            // Law 4: the cause survives to the caller.
            if report == Report::Cancelled && view.cause.is_some() && !own_cause_ok(e) && !a_childs
            {
                return Err(format!(
                    "returned {e:?}, but the scope's context was cancelled by {:?}",
                    view.cause
                ));
            }
            Want::One(report)
        }
        Returned::Failures(list) => {
            let own_name = scope_name(view.id);
            let mut own = false;
            let mut own_cause = false;
            let mut children = Vec::new();
            // [S3] One entry of the scope's own at most (no callback panics here): the body's
            // interruption is not a second one beside the scope's cancellation. (The body's
            // own error, also under the scope's name, is read as a failure: [B1].)
            let body_failed = |e: &AppError| matches!(e, AppError::Boom(_));
            let owns = list
                .iter()
                .filter(|(task, e)| *task == own_name && !body_failed(e))
                .count();
            if owns > 1 {
                return Err(format!(
                    "the scope's own entry is there {owns} times: {list:?}"
                ));
            }
            for (task, e) in list {
                if *task == own_name && !body_failed(e) {
                    own = true;
                    own_cause |= own_cause_ok(e);
                } else {
                    children.push(read_error(view, Some(task), e)?);
                }
            }
            if view.origin == Some(Origin::Outside) && own && !own_cause {
                return Err(format!(
                    "no failure of the scope carries its cause {:?}: {list:?}",
                    view.cause
                ));
            }
            Want::All { own, children }
        }
    })
}

/// Checks a scope's outcome on the multi-thread runtime, where the log's order is not the
/// order in which things took effect: everything that order does not decide. (Supervise and
/// race are judged as sets; fail-fast: every reported failure happened, and the rules that
/// hold whatever the order.)
fn plausible(view: &View, want: &Want, got: &Want) -> Result<(), String> {
    let ended = |end: &dyn Fn(End) -> bool| {
        view.items
            .iter()
            .any(|i| matches!(*i, Item::Child(_, e) if end(e)))
    };
    let panicked = ended(&|e| e == End::Panic);
    let body_value = view.items.iter().find_map(|i| match i {
        Item::Body(BodyEnd::Value(v)) => Some(*v),
        _ => None,
    });
    let child_ended = |c: usize, end: End| view.items.contains(&Item::Child(c, end));
    let verdict = |ok: bool, rule: &str| if ok { Ok(()) } else { Err(rule.to_owned()) };
    if *want == Want::Panic || *got == Want::Panic {
        return verdict(want == got, "[P2] the future panics iff the body panicked");
    }
    match (view.drive, got) {
        (Drive::Run, Want::Value(v)) => {
            verdict(body_value == Some(*v), "[A1] a value is the body's")?;
            verdict(!panicked, "[P1] a child panicked: the scope fails")
        }
        (Drive::Run, Want::One(Report::Boom(c))) => verdict(
            child_ended(*c, End::Boom),
            "the reported failure did not happen",
        ),
        (Drive::Run, Want::One(Report::Panicked(c))) => verdict(
            child_ended(*c, End::Panic),
            "the reported panic did not happen",
        ),
        (Drive::Run, Want::One(Report::Cancelled)) => {
            verdict(
                view.any_origin.is_some(),
                "a cancellation, but the scope was not cancelled",
            )?;
            // [A2] + [A3] A child's returned interruption (its own nested scope's, not this
            // scope's cancel) reads as a cancellation and wins over the body's value, as any
            // child's failure does; with no cancel from outside, that is the only way a
            // cancellation can come back beside a value.
            let child_interrupted = ended(&|e| e == End::Interrupted);
            // [A4] A value before a cancel that then stopped a child short answered nothing
            // (on this runtime the log's order does not say which came first).
            let stopped_short = view.unended || ended(&|e| !matches!(e, End::Done(_)));
            verdict(
                body_value.is_none()
                    || (child_interrupted && view.any_origin != Some(Origin::Outside))
                    || (view.any_origin.is_some() && stopped_short),
                "[A1] the body returned a value: it stands",
            )?;
            verdict(
                !panicked,
                "[P1] a child panicked: the scope reports the panic",
            )
        }
        (Drive::RunAll | Drive::Race, Want::All { own, children }) => {
            let want_children = match want {
                Want::All { children, .. } => children,
                // [A4] The log's order said the value answered (the cancel, logged late,
                // may have landed before a child's end): no child failed.
                Want::Value(_) if view.drive == Drive::RunAll => &Vec::new(),
                _ => return Err(format!("the rules say {want:?}")),
            };
            let (mut got_children, mut want_children) = (children.clone(), want_children.clone());
            got_children.sort_unstable();
            want_children.sort_unstable();
            verdict(
                got_children == want_children,
                &format!("[S1] every child's failure, and only those: {want_children:?}"),
            )?;
            // [S2] / [R2] The scope's own entry: required when its cancellation from outside
            // certainly took effect before it finished (or the body returned it); allowed
            // when one from outside was logged at all (it may have landed while the scope
            // was finishing). Under supervise, never after the body returned a value.
            let body_interrupted = view.items.contains(&Item::Body(BodyEnd::Interrupted));
            // [S3] Kept (an entry of the scope's own) only if nothing cancelled the scope: on
            // this runtime the log's order does not say whether a cancel came before it.
            let never_cancelled = !view
                .items
                .iter()
                .any(|i| matches!(i, Item::Cancelled | Item::Child(_, End::Panic)));
            let answered = match view.drive {
                Drive::RunAll => body_value.is_some(),
                // [R3] A race whose win stopped it was answered, though a panic fails it. A
                // win that came after a cancel from outside (the race's first cause, which
                // the logged cause is) did not stop it and answers nothing once a panic fails
                // the race: the cancel is reported.
                _ => {
                    ended(&|e| matches!(e, End::Done(_)))
                        && view.any_origin != Some(Origin::Outside)
                }
            };
            let outside = view.any_origin == Some(Origin::Outside) && !answered;
            let required = (view.early && outside) || (body_interrupted && never_cancelled);
            // [A4] A value before an outside cancel that then stopped a child short answered
            // nothing (the log's order does not say which came first here).
            let stopped_short = view.unended || ended(&|e| !matches!(e, End::Done(_)));
            let unanswered = view.drive == Drive::RunAll
                && view.any_origin == Some(Origin::Outside)
                && stopped_short;
            let allowed = outside || body_interrupted || unanswered;
            verdict(
                *own == required || (*own && allowed),
                &format!("[S2] the scope's own cancellation reported: {required}"),
            )
        }
        (Drive::RunAll, Want::Value(v)) => verdict(
            want == got
                // [A4] The log's order said the cancel came after the value (its callback,
                // logged late, may have run after the body's return took it into account).
                || (*want == Want::All { own: true, children: Vec::new() }
                    && body_value == Some(*v)),
            &format!("[A1] a value only from the body, if no child failed: {want:?}"),
        ),
        (Drive::Race, Want::Value(v)) => {
            verdict(
                ended(&|e| e == End::Done(*v)),
                "[R1] the race's value is a candidate's",
            )?;
            verdict(!panicked, "[R3] a candidate panicked: no winner answers")
        }
        _ => Err(format!("the rules say {want:?}")),
    }
}

/// Whether a cancellation cause names something that happened before it was logged.
fn cause_happened(w: &World, cause: &Cause, before: &[Logged], at: Instant) -> bool {
    let ended = |task: &str, ok: &dyn Fn(End) -> bool| {
        before.iter().any(|l| match l.event {
            Event::Ended { child, end } => Some(child) == child_id(task) && ok(end),
            _ => false,
        })
    };
    let body = |task: &str, ok: &dyn Fn(BodyEnd) -> bool| {
        before.iter().any(|l| match l.event {
            Event::Body { scope, end } => task == scope_name(scope) && ok(end),
            _ => false,
        })
    };
    let root = cause.root();
    if let Cause::Explicit { reason } = root {
        // The outside cancel, or the runtime's own (a race's winner, a dropped scope).
        reason != CANCEL_REASON
            || before
                .iter()
                .any(|l| matches!(l.event, Event::OutsideCancel))
    } else if let Cause::DeadlineExceeded { .. } = root {
        w.deadline().is_some_and(|d| at >= d)
    } else if let Cause::SiblingFailed { task, .. } = root {
        let task = task.name().unwrap_or("");
        ended(task, &|e| matches!(e, End::Boom | End::Interrupted))
            || body(task, &|e| matches!(e, BodyEnd::Interrupted | BodyEnd::Boom))
    } else if let Cause::Panicked { task, .. } = root {
        let task = task.name().unwrap_or("");
        ended(task, &|e| e == End::Panic) || body(task, &|e| e == BodyEnd::Panic)
    } else {
        // A shutdown never happens here; an unknown cause is a scope's "finished" cause.
        !matches!(root, Cause::Shutdown { .. })
    }
}

/// Every awaited handle agrees with what its child did (see [`check`]).
fn handles_agree(
    w: &World,
    events: &[Logged],
    seen: &BTreeMap<usize, Seen>,
    ended: &BTreeMap<usize, End>,
    ordered: bool,
) -> Result<(), String> {
    // Every awaited handle agrees with what its child did. An error a fail-fast scope's
    // child (or a race's candidate) returned after that scope's cancel is the cancel's
    // consequence: its handle reads
    // the cancel (made no later than the child's end, where the clock is paused; a cancel's
    // log may follow the end it caused within one instant).
    let cancelled_before_end = |c: usize| {
        let scope = w.plan.child(c).scope;
        let end = events
            .iter()
            .find(|l| matches!(l.event, Event::Ended { child, .. } if child == c));
        events.iter().any(|l| {
            matches!(l.event, Event::Cancelled { scope: at, .. } if at == scope)
                && (!ordered || end.is_none_or(|end| l.at <= end.at))
        })
    };
    for (c, s) in seen {
        let agrees = match (s, ended.get(c)) {
            (Seen::Ok(Some(v)), Some(End::Done(w))) => v == w,
            (Seen::Ok(None), Some(End::Done(_)))
            | (Seen::ChildFailed, Some(End::Boom | End::Interrupted))
            | (Seen::Panicked, Some(End::Panic))
            | (Seen::Cancelled, None) => true,
            (Seen::Cancelled, Some(End::Boom | End::Interrupted)) => {
                matches!(
                    w.plan.scope(w.plan.child(*c).scope).drive,
                    Drive::Run | Drive::Race
                ) && cancelled_before_end(*c)
            }
            _ => false,
        };
        if !agrees {
            return Err(format!(
                "the handle of {} saw {s:?}, but the child did {:?}",
                name(*c),
                ended.get(c)
            ));
        }
    }
    Ok(())
}

/// Checks a finished run: the law violations seen while it ran, the handles, the causes, and
/// every scope's outcome. `ordered`: events were logged in the order they took effect.
fn check(w: &World, ordered: bool) -> Result<(), String> {
    let violations = lock(&w.violations).clone();
    if !violations.is_empty() {
        return Err(violations.join("\n"));
    }
    let events = lock(&w.events).clone();
    let seen = lock(&w.seen).clone();
    let results = lock(&w.results);

    // Each child ended its own way at most once.
    let mut ended: BTreeMap<usize, End> = BTreeMap::new();
    for l in &events {
        if let Event::Ended { child, end } = l.event {
            if ended.insert(child, end).is_some() {
                return Err(format!("{} ended twice", name(child)));
            }
        }
    }

    handles_agree(w, &events, &seen, &ended, ordered)?;

    // Every cause a context was cancelled with is one that happened (laws 2 and 4).
    for (i, l) in events.iter().enumerate() {
        if let Event::Cancelled { scope, cause } = &l.event {
            if !cause_happened(w, cause, &events[..i], l.at) {
                return Err(format!(
                    "{} was cancelled by {cause:?}, which did not happen",
                    scope_name(*scope)
                ));
            }
        }
    }

    // A body's value is the sum of what its handles gave.
    for l in &events {
        if let Event::Body {
            scope,
            end: BodyEnd::Value(v),
        } = l.event
        {
            let plan = w.plan.scope(scope);
            let mut sum = 0;
            for &c in plan.children.iter().filter(|c| w.plan.child(**c).awaited) {
                match seen.get(&c) {
                    Some(Seen::Ok(x)) => sum += x.unwrap_or(0),
                    Some(_) => {}
                    None => {
                        return Err(format!(
                            "{} returned before reading {}",
                            scope_name(scope),
                            name(c)
                        ))
                    }
                }
            }
            if sum != v {
                return Err(format!(
                    "{} returned {v}, its handles gave {sum}",
                    scope_name(scope)
                ));
            }
        }
    }

    // Every scope that resolved returned what the rules say.
    for (i, l) in events.iter().enumerate() {
        let Event::Resolved { scope } = l.event else {
            continue;
        };
        let returned = &results[&scope];
        // Judged with the panics from below that may have reached it, and, if that fails,
        // without them: either reading stands (see `panic_reaches`).
        let judge = |uncertain_below: bool| {
            let view = View::new(w, &events, scope, i, ordered, uncertain_below);
            let want = the_rules(&view);
            let got = read(&view, returned)
                .map_err(|e| format!("{}: {e} (returned {returned:?})", scope_name(scope)))?;
            let verdict = if ordered {
                if got == want {
                    Ok(())
                } else {
                    Err(format!("the rules say {want:?}"))
                }
            } else {
                plausible(&view, &want, &got)
            };
            Ok::<_, String>((view, got, verdict))
        };
        let (view, got, mut verdict) = judge(true)?;
        if verdict.is_err() {
            let (other, _, without) = judge(false)?;
            if other.items != view.items && without.is_ok() {
                verdict = without;
            }
        }
        verdict.map_err(|e| {
            format!(
                "{} ({:?}) returned {got:?}: {e}\n  returned: {returned:?}\n  history: {:?}",
                scope_name(scope),
                view.drive,
                view.items
            )
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One run.

/// How runs are driven and judged.
#[derive(Clone, Copy, Debug)]
struct Mode {
    /// Events are logged in the order they take effect (one thread): judge exactly.
    ordered: bool,
    /// The root must finish within this (in the runtime's time).
    bound: Duration,
    /// After the root's future was dropped, its spawned descendants must be gone within
    /// this (their graces, then the abort).
    settle: Duration,
    /// Bodies may fail with errors of their own. Only where events are logged in the order
    /// they take effect: whether a body's error is kept or is the consequence of a cancel
    /// depends on which came first, which two workers' log does not say.
    body_failures: bool,
}

const PAUSED: Mode = Mode {
    ordered: true,
    body_failures: true,
    bound: Duration::from_secs(60),
    settle: Duration::from_secs(1),
};

const REAL_TIME: Mode = Mode {
    ordered: false,
    body_failures: false,
    bound: Duration::from_secs(10),
    settle: Duration::from_secs(2),
};

/// A run's result, for the tally.
struct Outcome {
    kind: &'static str,
    depth: usize,
}

/// One run on the current runtime: the tree, the time bound, the leak check, the oracle. A
/// failure carries the run's event log.
async fn one_run(seed: u64, mode: Mode) -> Result<Outcome, String> {
    let w = Arc::new(World::new(Plan::draw(seed, mode)));
    let judged = judge(&w, mode).await;
    if std::env::var_os("CHAOS_LOG").is_some() {
        eprintln!("seed {seed}:\n{}", log_of(&w));
    }
    match judged {
        Ok(kind) => Ok(Outcome {
            kind,
            depth: w.plan.depth(),
        }),
        Err(why) => Err(format!("{why}\nevents:\n{}", log_of(&w))),
    }
}

async fn judge(w: &Arc<World>, mode: Mode) -> Result<&'static str, String> {
    let leaks = LeakCheck::new();
    let parent = Cx::root();
    w.start.set(Instant::now()).expect("set once");
    let end = tokio::time::timeout(mode.bound, run_root(w, &parent))
        .await
        .map_err(|_| format!("law 9: the root did not finish within {:?}", mode.bound))?;
    // The dropped root's spawned descendants: signalled, and aborted after their grace.
    let until = Instant::now() + mode.settle;
    loop {
        let alive = w.live[0].load(Ordering::SeqCst);
        if alive == 0 {
            break;
        }
        if Instant::now() >= until {
            return Err(format!(
                "law 8: {alive} descendant future(s) still alive {:?} after the root's future \
                 was dropped: {}",
                mode.settle,
                w.alive_below(0, false)
            ));
        }
        sleep(Duration::from_millis(1)).await;
    }
    leaks
        .check()
        .await
        .map_err(|leaked| format!("law 10: {leaked}"))?;
    check(w, mode.ordered)?;
    Ok(match (end, lock(&w.results).get(&0)) {
        (RootEnd::Dropped, _) => "dropped",
        (_, Some(Returned::Value(_))) => "value",
        (_, Some(Returned::Error(AppError::Boom(id)))) if *id as usize == BODY_BOOM => {
            "body failed"
        }
        (_, Some(Returned::Error(AppError::Boom(_)))) => "child failed",
        (_, Some(Returned::Error(AppError::Interrupted(Interrupted::Panicked(_))))) => {
            "child panicked"
        }
        (_, Some(Returned::Error(_))) => "cancelled",
        (_, Some(Returned::Failures(_))) => "failures",
        (_, Some(Returned::Panicked(_))) => "body panicked",
        (_, None) => "none",
    })
}

/// The event log of a run, for a failure message.
fn log_of(w: &World) -> String {
    let start = w.start.get().copied();
    let mut out = String::new();
    for l in lock(&w.events).iter() {
        let at = start.map(|s| l.at.saturating_duration_since(s));
        let _ = writeln!(out, "  {at:>12.3?}  {}", l.event);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Driving many runs.

/// Silences the planned panics (thousands of them) and nothing else.
fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with(PLANNED_PANIC) {
                default(info);
            }
        }));
    });
}

/// Fails the test (exits the process) if no run finishes for `limit` of real time: a livelock
/// that no in-runtime timeout can catch.
struct Watchdog {
    state: Arc<(AtomicU64, AtomicU64, AtomicBool)>,
}

impl Watchdog {
    fn start(test: &'static str, mode: Mode, limit: Duration) -> Watchdog {
        let state = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false)));
        let s = Arc::clone(&state);
        std::thread::spawn(move || {
            let (finished, seed, done) = &*s;
            let mut last = (finished.load(Ordering::SeqCst), std::time::Instant::now());
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let now = finished.load(Ordering::SeqCst);
                if now != last.0 {
                    last = (now, std::time::Instant::now());
                } else if last.1.elapsed() > limit {
                    let seed = seed.load(Ordering::SeqCst);
                    eprintln!(
                        "{test}: run with seed {seed} made no progress for {limit:?}; replay with \
                         CHAOS_SEED={seed}\n{}",
                        Plan::draw(seed, mode)
                    );
                    std::process::exit(101);
                }
            }
        });
        Watchdog { state }
    }

    fn running(&self, seed: u64) {
        self.state.1.store(seed, Ordering::SeqCst);
    }

    fn finished(&self) {
        self.state.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.state.2.store(true, Ordering::SeqCst);
    }
}

fn seeds(default_runs: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("CHAOS_SEED") {
        return vec![seed];
    }
    let base = env_u64("CHAOS_BASE").unwrap_or(0x5C0F_E0C4_A05C_0DE5);
    let runs = env_u64("CHAOS_RUNS").unwrap_or(default_runs);
    (0..runs).map(|i| seed_of(base, i)).collect()
}

/// Runs `one` for every seed. A failing run prints its seed, its tree and its event log; with
/// `CHAOS_KEEP_GOING=1` every seed runs and the failing ones are listed at the end. A tally
/// of the outcomes and depths is printed at the end (shown with `--nocapture`).
fn many(
    test: &'static str,
    mode: Mode,
    default_runs: u64,
    one: impl Fn(u64) -> Result<Outcome, String>,
) {
    quiet_planned_panics();
    let keep_going = std::env::var_os("CHAOS_KEEP_GOING").is_some();
    let watchdog = Watchdog::start(test, mode, Duration::from_secs(30));
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut depths: BTreeMap<usize, usize> = BTreeMap::new();
    let mut failed: Vec<(u64, String)> = Vec::new();
    let started = std::time::Instant::now();
    let seeds = seeds(default_runs);
    for &seed in &seeds {
        watchdog.running(seed);
        let result = catch_unwind(AssertUnwindSafe(|| one(seed)))
            .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(panic.as_ref()))));
        watchdog.finished();
        match result {
            Ok(outcome) => {
                *kinds.entry(outcome.kind).or_default() += 1;
                *depths.entry(outcome.depth).or_default() += 1;
            }
            Err(why) => {
                eprintln!(
                    "{test}: run failed; replay with CHAOS_SEED={seed}\n{why}\n{}",
                    Plan::draw(seed, mode)
                );
                failed.push((seed, why.lines().next().unwrap_or("").to_owned()));
                if !keep_going {
                    break;
                }
            }
        }
    }
    eprintln!(
        "{test}: {} runs in {:.1?}; outcomes {kinds:?}; depths {depths:?}",
        seeds.len(),
        started.elapsed()
    );
    if !failed.is_empty() {
        let list = failed.iter().fold(String::new(), |mut list, (seed, why)| {
            let _ = write!(list, "\n  CHAOS_SEED={seed}: {why}");
            list
        });
        panic!("{test}: {} failing run(s):{list}", failed.len());
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Runs on one thread with tokio's paused clock: deterministic (a seed replays its run
/// exactly), and the order of events is the order in which they took effect, so every
/// outcome is judged exactly.
#[test]
fn chaos_paused_clock() {
    many("chaos_paused_clock", PAUSED, PAUSED_RUNS, |seed| {
        paused_runtime().block_on(one_run(seed, PAUSED))
    });
}

/// Runs on two worker threads in real time: spawned children race the cancels, each other
/// and their scopes for real.
#[test]
fn chaos_multi_thread() {
    many("chaos_multi_thread", REAL_TIME, MULTI_THREAD_RUNS, |seed| {
        two_workers().block_on(one_run(seed, REAL_TIME))
    });
}

/// [`the_rules`] for a hand-written history (for the examples below), every child of which
/// ended its own way.
fn rules_for(drive: Drive, origin: Option<Origin>, items: &[Item]) -> Want {
    rules_with(drive, origin, items, false)
}

/// [`the_rules`] for a hand-written history; `unended`: some child did not end its own way.
fn rules_with(drive: Drive, origin: Option<Origin>, items: &[Item], unended: bool) -> Want {
    the_rules(&View {
        id: 0,
        drive,
        items: items.to_vec(),
        cause: None,
        origin,
        any_origin: origin,
        early: origin.is_some(),
        unended,
    })
}

fn all(own: bool, children: &[Report]) -> Want {
    Want::All {
        own,
        children: children.to_vec(),
    }
}

const OUTSIDE: Option<Origin> = Some(Origin::Outside);
const INSIDE: Option<Origin> = Some(Origin::Inside);

/// The rules by example, fail-fast (`run`), including the contract issue's change: a value
/// from the body after an outside cancellation is the result.
#[test]
fn the_rules_by_example_fail_fast() {
    use BodyEnd as B;
    use End::{Boom, Interrupted as Int, Panic};
    use Item::{Body, Cancelled, Child};
    use Report as R;
    // [A1] The body has the last word on an outside cancellation, before or after it.
    assert_eq!(
        rules_for(Drive::Run, OUTSIDE, &[Cancelled, Body(B::Value(5))]),
        Want::Value(5)
    );
    assert_eq!(
        rules_for(Drive::Run, OUTSIDE, &[Body(B::Value(5)), Cancelled]),
        Want::Value(5)
    );
    // [A4] A value before the cancel answers nothing: a child the cancel then stopped short
    // (its error or interruption, or it never ended its own way) makes it the cancellation;
    // children that answer it with values of their own leave the body's.
    assert_eq!(
        rules_for(
            Drive::Run,
            OUTSIDE,
            &[Body(B::Value(5)), Cancelled, Child(1, Boom)]
        ),
        Want::One(R::Cancelled)
    );
    assert_eq!(
        rules_with(Drive::Run, OUTSIDE, &[Body(B::Value(5)), Cancelled], true),
        Want::One(R::Cancelled)
    );
    assert_eq!(
        rules_for(
            Drive::Run,
            OUTSIDE,
            &[Body(B::Value(5)), Cancelled, Child(1, End::Done(2))]
        ),
        Want::Value(5)
    );
    assert_eq!(
        rules_with(Drive::Run, OUTSIDE, &[Cancelled, Body(B::Value(5))], true),
        Want::Value(5)
    );
    // [A2] Dropped, or returned the interruption: the cancellation.
    assert_eq!(
        rules_for(Drive::Run, OUTSIDE, &[Cancelled, Child(1, Int)]),
        Want::One(R::Cancelled)
    );
    assert_eq!(
        rules_for(Drive::Run, OUTSIDE, &[Cancelled, Body(B::Interrupted)]),
        Want::One(R::Cancelled)
    );
    // [F1] + [A3] The first failure wins over the body; one after a cancel is a consequence.
    assert_eq!(
        rules_for(
            Drive::Run,
            INSIDE,
            &[Child(1, Boom), Cancelled, Child(2, Boom), Body(B::Value(5))]
        ),
        Want::One(R::Boom(1))
    );
    assert_eq!(
        rules_for(
            Drive::Run,
            OUTSIDE,
            &[Cancelled, Child(1, Boom), Body(B::Value(5))]
        ),
        Want::Value(5)
    );
    // [P1] A panic is kept after a cancel, but not after a kept failure.
    assert_eq!(
        rules_for(
            Drive::Run,
            OUTSIDE,
            &[Cancelled, Child(1, Panic), Body(B::Value(5))]
        ),
        Want::One(R::Panicked(1))
    );
    assert_eq!(
        rules_for(
            Drive::Run,
            INSIDE,
            &[Child(2, Boom), Cancelled, Child(1, Panic)]
        ),
        Want::One(R::Boom(2))
    );
}

/// The rules by example, supervise (`run_all`), first-ok (race), and a body's panic.
#[test]
fn the_rules_by_example_supervise_and_race() {
    use BodyEnd as B;
    use End::{Boom, Done, Interrupted as Int, Panic};
    use Item::{Body, Cancelled, Child};
    use Report as R;
    // [S1] Every failure, in order; [S2] no own entry when a failure explains the cancel.
    assert_eq!(
        rules_for(
            Drive::RunAll,
            INSIDE,
            &[
                Child(1, Boom),
                Child(2, Done(3)),
                Child(3, Panic),
                Cancelled,
                Child(4, Int)
            ]
        ),
        all(false, &[R::Boom(1), R::Panicked(3), R::Interrupted(4)])
    );
    // [S2] An outside cancel is reported when the body did not answer it with a value; [A1]
    // a value stands if no child failed.
    assert_eq!(
        rules_for(Drive::RunAll, OUTSIDE, &[Cancelled, Child(1, Int)]),
        all(true, &[R::Interrupted(1)])
    );
    assert_eq!(
        rules_for(
            Drive::RunAll,
            OUTSIDE,
            &[Cancelled, Child(1, Int), Body(B::Value(0))]
        ),
        all(false, &[R::Interrupted(1)])
    );
    assert_eq!(
        rules_for(Drive::RunAll, OUTSIDE, &[Cancelled, Body(B::Value(7))]),
        Want::Value(7)
    );
    // [A4] A value before an outside cancel that then stopped a child short answered nothing.
    assert_eq!(
        rules_with(
            Drive::RunAll,
            OUTSIDE,
            &[Body(B::Value(7)), Cancelled],
            true
        ),
        all(true, &[])
    );
    assert_eq!(
        rules_for(
            Drive::RunAll,
            OUTSIDE,
            &[Body(B::Value(7)), Cancelled, Child(1, Int)]
        ),
        all(true, &[R::Interrupted(1)])
    );
    assert_eq!(
        rules_for(Drive::RunAll, OUTSIDE, &[Cancelled, Body(B::Interrupted)]),
        all(true, &[])
    );
    // [R3] A candidate's panic fails a race that had a winner, before or after the win.
    assert_eq!(
        rules_for(
            Drive::Race,
            INSIDE,
            &[Child(1, Done(4)), Child(2, Panic), Child(3, Int)]
        ),
        all(false, &[R::Panicked(2), R::Interrupted(3)])
    );
    assert_eq!(
        rules_for(Drive::Race, INSIDE, &[Child(1, Panic), Child(2, Done(4))]),
        all(false, &[R::Panicked(1)])
    );
    // [R1] The first success wins; [R2] else every failure.
    assert_eq!(
        rules_for(
            Drive::Race,
            INSIDE,
            &[Child(1, Boom), Child(2, Done(4)), Child(3, Done(9))]
        ),
        Want::Value(4)
    );
    assert_eq!(
        rules_for(
            Drive::Race,
            OUTSIDE,
            &[Cancelled, Child(1, Int), Child(2, Boom), Body(B::Value(0))]
        ),
        all(true, &[R::Interrupted(1), R::Boom(2)])
    );
    // [R3] A win that came after a cancel from outside did not stop the race: once a panic
    // fails it, the cancel is reported.
    assert_eq!(
        rules_for(
            Drive::Race,
            OUTSIDE,
            &[Cancelled, Child(1, Done(4)), Child(2, Panic)]
        ),
        all(true, &[R::Panicked(2)])
    );
    // [P2] A body's panic makes the scope's future panic, whatever else happened.
    for drive in [Drive::Run, Drive::RunAll, Drive::Race] {
        assert_eq!(
            rules_for(drive, INSIDE, &[Child(1, Boom), Body(B::Panic)]),
            Want::Panic
        );
    }
}

/// The rules by example: a body that fails with an error of its own.
#[test]
fn the_rules_by_example_a_body_that_fails() {
    use BodyEnd as B;
    use End::{Boom, Done, Interrupted as Int};
    use Item::{Body, Cancelled, Child};
    use Report as R;
    // [B1] The body's own error: under fail-fast the first failure, if no cancel came before
    // it; under supervise and in a race, kept unless a cancel (or a win) came before it.
    assert_eq!(
        rules_for(Drive::Run, INSIDE, &[Body(B::Boom), Child(1, Boom)]),
        Want::One(R::BodyFailed)
    );
    assert_eq!(
        rules_for(Drive::Run, INSIDE, &[Child(1, Boom), Body(B::Boom)]),
        Want::One(R::Boom(1))
    );
    assert_eq!(
        rules_for(Drive::Run, OUTSIDE, &[Cancelled, Body(B::Boom)]),
        Want::One(R::Cancelled)
    );
    assert_eq!(
        rules_for(
            Drive::RunAll,
            INSIDE,
            &[Child(1, Boom), Body(B::Boom), Child(2, Int)]
        ),
        all(false, &[R::Boom(1), R::BodyFailed, R::Interrupted(2)])
    );
    assert_eq!(
        rules_for(Drive::RunAll, OUTSIDE, &[Cancelled, Body(B::Boom)]),
        all(true, &[])
    );
    assert_eq!(
        rules_for(Drive::Race, INSIDE, &[Body(B::Boom), Child(1, Done(4))]),
        all(false, &[R::BodyFailed])
    );
    assert_eq!(
        rules_for(Drive::Race, INSIDE, &[Child(1, Done(4)), Body(B::Boom)]),
        Want::Value(4)
    );
}

/// The trees the chaos tests draw have every shape and behaviour the module docs promise, in
/// useful numbers (so a change to [`Plan::draw`] cannot quietly drop one).
#[test]
fn chaos_trees_have_every_shape() {
    if env_u64("CHAOS_SEED").is_some() {
        return;
    }
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut count =
        |what: &'static str, yes: bool| *counts.entry(what).or_default() += usize::from(yes);
    let seeds = seeds(PAUSED_RUNS);
    for &seed in &seeds {
        let plan = Plan::draw(seed, PAUSED);
        let o = plan.outside;
        count("depth 5", plan.depth() == MAX_DEPTH);
        count("outside cancel", o.cancel_at.is_some());
        count("deadline", o.timeout.is_some());
        count("drop of the root", o.drop_at.is_some());
        for s in plan.scopes.values() {
            let nested = s.id != 0;
            count("nested run", nested && s.drive == Drive::Run);
            count("nested run_all", nested && s.drive == Drive::RunAll);
            count("nested race", nested && s.drive == Drive::Race);
            count("limit", s.limit.is_some());
            count("grace", !s.grace.is_zero());
            count("strict body", s.strict);
            count("panicking body", s.finish == BodyFinish::Panic);
            count("failing body", s.finish == BodyFinish::Fail);
        }
        for c in plan.children.values() {
            let kinds: Vec<Kind> = std::iter::successors(Some(c.id), |&id| {
                Some(plan.child(id).scope).filter(|&s| s != 0)
            })
            .map(|id| plan.child(id).kind)
            .collect();
            let spawned = Kind::Spawned;
            let in_place = Kind::InPlace;
            count(
                "in place > in place > spawned",
                kinds.starts_with(&[spawned, in_place, in_place]),
            );
            count(
                "spawned > spawned > spawned",
                kinds.starts_with(&[spawned, spawned, spawned]),
            );
            count(
                "spawned > in place",
                kinds.starts_with(&[in_place, spawned]),
            );
            count(
                "in place at depth 5",
                kinds.len() == MAX_DEPTH - 1 && kinds[0] == in_place,
            );
            count(
                "spawned at depth 5",
                kinds.len() == MAX_DEPTH - 1 && kinds[0] == spawned,
            );
            count("hang", c.work.steps.contains(&Step::Hang));
            count("ignores cancellation", c.work.watch.is_none());
            count(
                "stops with the interruption",
                c.work.watch == Some(Stop::Interruption),
            );
            count("stops with a value", c.work.watch == Some(Stop::Value));
            count("fails", c.work.finish == Finish::Fail);
            count("panics", c.work.finish == Finish::Panic);
        }
    }
    eprintln!("{} trees: {counts:?}", seeds.len());
    let rare: Vec<_> = counts
        .iter()
        .filter(|(_, n)| **n < seeds.len() / 50)
        .collect();
    assert!(
        rare.is_empty(),
        "too rare in {} trees: {rare:?}",
        seeds.len()
    );
}
