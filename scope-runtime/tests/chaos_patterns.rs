//! Chaos for the patterns: random trees of the shapes `chaos.rs` does not draw, checked against
//! the laws (DESIGN §2).
//!
//! Every run draws one tree from a seeded PRNG ([`draw`]), nested up to four levels:
//! supervisors (every restart policy, backoff with or without jitter, an intensity), `map`,
//! `for_each` and `map_stream` (a limit or none, fail-fast or supervised, in place, unordered),
//! plain and local scopes (fail-fast or supervised, with a limit or none), races and local races
//! (`!Send` in-place candidates), each wrapped at times in `shield` or `shield_for`. A scope's
//! children are started every way there is (`spawn`, `spawn_in_place`, `spawn_background`,
//! `reserve`, `try_reserve`, `try_spawn`, `spawn_when_free`, `spawn_blocking`), some cancelled
//! or aborted alone through their handles, or joined through a `ChildSet` that cancels or
//! aborts one or all of them. Leaves yield, sleep or hang, watch for the cancel or not, and
//! complete, fail or panic. Outside events on the root: a cancel of its parent context at a
//! random time, deadlines (`Config::timeout`) on any level, and dropping the root's future.
//!
//! What every run checks:
//!
//! - **Law 1:** when any scope, supervisor, map or race resolves, no future below it is alive
//!   (every future carries a drop guard taken when it is built, counted in every level above).
//! - **Law 10:** at that moment every context cloned out from below it is cancelled.
//! - **Law 8:** after the root is dropped, its in-place descendants are gone at once, and the
//!   rest within a bound.
//! - **Law 9:** after an outside cancel, the root resolves within a bound.
//! - **No task left:** `LeakCheck`, and (paused clock) no task alive on the run's runtime.
//! - **Outcomes** (paused clock): a failure or panic of a child whose context was not cancelled
//!   when it ended is reported by its scope (a panic as a panic; for a supervisor, to its
//!   `on_event`), and no error appears that did not happen.
//!
//! Three tests: [`patterns_paused_clock`] (2,500 trees on a current-thread runtime with the
//! paused clock, on a `LocalSet`: a seed replays its run exactly), [`patterns_multi_thread`]
//! (400 trees on two workers in real time, durations divided by 8: a seed replays its plan,
//! not its interleaving), and [`pattern_trees_have_every_shape`] (the drawn trees hold every
//! shape above, in useful numbers). A failing run prints its seed and its tree.
//!
//! Environment: `PATTERNS_SEED=<n>` replays one run (in both tests), `PATTERNS_RUNS=<n>` changes
//! the number of runs of each, `PATTERNS_BASE=<n>` draws a different set of seeds.
#![cfg(not(loom))]
#![allow(missing_docs, unreachable_pub)]

use std::any::Any;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use futures_util::stream::{self, StreamExt as _};
use futures_util::FutureExt as _;
use scope_runtime::testing::LeakCheck;
use scope_runtime::{
    Backoff, ChildSet, Config, Cx, Failures, Interrupted, Race, Restart, Scope, Supervisor,
};
use tokio::time::{sleep, Instant};

const PLANNED: &str = "chaos: planned panic";
const HANG: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("boom {0}")]
    Boom(usize),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

fn is_panicked(e: &AppError) -> bool {
    matches!(e, AppError::Interrupted(Interrupted::Panicked(_)))
}

type Res = Result<u64, AppError>;
type SendFut = Pin<Box<dyn Future<Output = Res> + Send + 'static>>;
type LocalFut = Pin<Box<dyn Future<Output = Res> + 'static>>;

// ---------------------------------------------------------------------------------------------
// PRNG (xorshift64*)

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// `0..n`, as a count.
    fn count(&mut self, n: u32) -> u32 {
        u32::try_from(self.below(u64::from(n))).expect("below a u32")
    }
    /// `0..n`, as a size.
    fn size(&mut self, n: u32) -> usize {
        self.count(n) as usize
    }
    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    /// `0..=max_ms` at microsecond resolution (no ties with round deadlines).
    fn dur(&mut self, max_ms: u64) -> Duration {
        Duration::from_micros(self.below(max_ms * 1000 + 1))
    }
}

// ---------------------------------------------------------------------------------------------
// The plan

#[derive(Clone, Debug)]
enum Step {
    Yield,
    Sleep(Duration),
    Hang,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    Ok,
    Fail,
    Panic,
}

#[derive(Clone, Debug)]
struct Leaf {
    id: usize,
    steps: Vec<Step>,
    watch: bool,
    end: End,
}

#[derive(Clone, Copy, Debug)]
enum How {
    Spawn,
    InPlace,
    Background,
    Reserve,
    TryReserve,
    TrySpawn,
    WhenFree,
    Blocking,
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Cancel,
    Abort,
}

#[derive(Clone, Debug)]
struct ChildN {
    how: How,
    delay: Option<Duration>,
    node: Node,
    act: Option<(Duration, Act)>,
}

#[derive(Clone, Copy, Debug)]
enum Join {
    Each {
        question: bool,
    },
    Set {
        op: Option<(Duration, SetOp)>,
        question: bool,
    },
    Nothing,
}

#[derive(Clone, Copy, Debug)]
enum SetOp {
    CancelAll,
    AbortAll,
    CancelOne,
    AbortOne,
}

#[derive(Clone, Debug)]
struct ScopeN {
    id: usize,
    all: bool,
    limit: Option<usize>,
    grace: Duration,
    timeout: Option<Duration>,
    children: Vec<ChildN>,
    join: Join,
    body_end: End,
}

#[derive(Clone, Debug)]
struct SupN {
    id: usize,
    grace: Duration,
    timeout: Option<Duration>,
    base: Duration,
    cap: Duration,
    jitter: bool,
    restarts: u32,
    window: Duration,
    children: Vec<(Restart, Node)>,
}

#[derive(Clone, Copy, Debug)]
enum MapKind {
    Map,
    ForEach,
    Stream,
}

#[derive(Clone, Debug)]
struct MapN {
    id: usize,
    kind: MapKind,
    limit: Option<usize>,
    all: bool,
    in_place: bool,
    unordered: bool,
    grace: Duration,
    timeout: Option<Duration>,
    items: Vec<Node>,
}

#[derive(Clone, Debug)]
struct RaceN {
    id: usize,
    grace: Duration,
    timeout: Option<Duration>,
    cands: Vec<(bool, Node)>, // (in place, candidate)
    body_end: End,
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(Leaf),
    Scope(Arc<ScopeN>),
    Local(Arc<ScopeN>),
    Sup(Arc<SupN>),
    Map(Arc<MapN>),
    Race(Arc<RaceN>),
    LocalRace(Arc<RaceN>),
    Shield(Option<Duration>, Box<Node>),
}

struct Gen {
    rng: Rng,
    next_id: usize,
    scopes: usize,
    max_grace: Duration,
    max_budget: Duration,
}

impl Gen {
    fn id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }
    fn sid(&mut self) -> usize {
        self.scopes += 1;
        self.scopes
    }
    fn grace(&mut self) -> Duration {
        let g = if self.rng.pct(50) {
            Duration::ZERO
        } else {
            self.rng.dur(40)
        };
        self.max_grace = self.max_grace.max(g);
        g
    }
    fn timeout(&mut self) -> Option<Duration> {
        self.rng.pct(25).then(|| self.rng.dur(200))
    }
    fn leaf(&mut self) -> Leaf {
        let n = self.rng.below(4);
        let steps = (0..n)
            .map(|_| match self.rng.below(10) {
                0..=2 => Step::Yield,
                3..=8 => Step::Sleep(self.rng.dur(60)),
                _ => Step::Hang,
            })
            .collect();
        let end = match self.rng.below(10) {
            0..=5 => End::Ok,
            6..=7 => End::Fail,
            _ => End::Panic,
        };
        Leaf {
            id: self.id(),
            steps,
            watch: self.rng.pct(60),
            end,
        }
    }
    fn node(&mut self, depth: usize, local_ok: bool) -> Node {
        if depth == 0 || self.rng.pct(45) {
            return Node::Leaf(self.leaf());
        }
        let choice = self.rng.below(if local_ok { 9 } else { 7 });
        let node = match choice {
            0 | 1 => Node::Scope(Arc::new(self.scope(depth, false))),
            2 | 3 => Node::Sup(Arc::new(self.sup(depth))),
            4 | 5 => Node::Map(Arc::new(self.map(depth))),
            6 => Node::Race(Arc::new(self.race(depth, false))),
            7 => Node::Local(Arc::new(self.scope(depth, true))),
            _ => Node::LocalRace(Arc::new(self.race(depth, true))),
        };
        if self.rng.pct(10) {
            let budget = self.rng.pct(60).then(|| self.rng.dur(80));
            if let Some(b) = budget {
                self.max_budget += b;
            }
            Node::Shield(budget, Box::new(node))
        } else {
            node
        }
    }
    fn scope(&mut self, depth: usize, local: bool) -> ScopeN {
        let id = self.sid();
        let n = 1 + self.rng.below(5);
        let limit = self.rng.pct(40).then(|| 1 + self.rng.size(3));
        let children = (0..n)
            .map(|_| {
                let how = match self.rng.below(16) {
                    0..=4 => How::Spawn,
                    5..=7 => How::InPlace,
                    8 => How::Background,
                    9 => How::Reserve,
                    10 => How::TryReserve,
                    11 => How::TrySpawn,
                    12 => How::WhenFree,
                    _ => How::Blocking,
                };
                let node = match how {
                    How::Blocking => Node::Leaf(self.leaf()),
                    How::InPlace => self.node(depth - 1, local),
                    _ => self.node(depth - 1, false),
                };
                ChildN {
                    how,
                    delay: self.rng.pct(20).then(|| self.rng.dur(30)),
                    node,
                    act: self.rng.pct(20).then(|| {
                        let act = if self.rng.pct(50) {
                            Act::Cancel
                        } else {
                            Act::Abort
                        };
                        (self.rng.dur(60), act)
                    }),
                }
            })
            .collect();
        let join = match self.rng.below(10) {
            0..=3 => Join::Each {
                question: self.rng.pct(50),
            },
            4..=7 => Join::Set {
                op: self.rng.pct(40).then(|| {
                    let op = match self.rng.below(4) {
                        0 => SetOp::CancelAll,
                        1 => SetOp::AbortAll,
                        2 => SetOp::CancelOne,
                        _ => SetOp::AbortOne,
                    };
                    (self.rng.dur(60), op)
                }),
                question: self.rng.pct(50),
            },
            _ => Join::Nothing,
        };
        let body_end = match self.rng.below(20) {
            0 => End::Panic,
            1 | 2 => End::Fail,
            _ => End::Ok,
        };
        ScopeN {
            id,
            all: self.rng.pct(40),
            limit,
            grace: self.grace(),
            timeout: self.timeout(),
            children,
            join,
            body_end,
        }
    }
    fn sup(&mut self, depth: usize) -> SupN {
        let id = self.sid();
        let n = 1 + self.rng.below(3);
        let children = (0..n)
            .map(|_| {
                let r = match self.rng.below(3) {
                    0 => Restart::Permanent,
                    1 => Restart::Transient,
                    _ => Restart::Temporary,
                };
                (r, self.node(depth - 1, false))
            })
            .collect();
        let base = Duration::from_micros(500 + self.rng.below(10_000));
        SupN {
            id,
            grace: self.grace(),
            timeout: self.timeout(),
            base,
            cap: base * (1 + self.rng.count(8)),
            jitter: self.rng.pct(30),
            restarts: self.rng.count(4),
            window: self.rng.dur(500),
            children,
        }
    }
    fn map(&mut self, depth: usize) -> MapN {
        let id = self.sid();
        let n = self.rng.below(6);
        let items = (0..n).map(|_| self.node(depth - 1, false)).collect();
        MapN {
            id,
            kind: match self.rng.below(3) {
                0 => MapKind::Map,
                1 => MapKind::ForEach,
                _ => MapKind::Stream,
            },
            limit: self.rng.pct(60).then(|| 1 + self.rng.size(3)),
            all: self.rng.pct(40),
            in_place: self.rng.pct(30),
            unordered: self.rng.pct(30),
            grace: self.grace(),
            timeout: self.timeout(),
            items,
        }
    }
    fn race(&mut self, depth: usize, local: bool) -> RaceN {
        let id = self.sid();
        let n = self.rng.below(4);
        let cands = (0..n)
            .map(|_| {
                let in_place = self.rng.pct(40);
                (in_place, self.node(depth - 1, local && in_place))
            })
            .collect();
        RaceN {
            id,
            grace: self.grace(),
            timeout: self.timeout(),
            cands,
            body_end: if self.rng.pct(10) { End::Fail } else { End::Ok },
        }
    }
}

#[derive(Debug)]
struct Plan {
    root: Node,
    /// How many scopes (of any kind) and ids (scopes and leaves) the tree has.
    scopes: usize,
    ids: usize,
    cancel_at: Option<Duration>,
    drop_at: Option<Duration>,
    max_grace: Duration,
    max_budget: Duration,
    depth: usize,
}

fn draw(seed: u64) -> Plan {
    let mut g = Gen {
        rng: Rng::new(seed),
        next_id: 0,
        scopes: 0,
        max_grace: Duration::ZERO,
        max_budget: Duration::ZERO,
    };
    let depth = 2 + g.rng.size(3);
    // The root is never a bare leaf.
    let root = loop {
        let n = g.node(depth, true);
        if !matches!(n, Node::Leaf(_)) {
            break n;
        }
    };
    let cancel_at = g.rng.pct(35).then(|| g.rng.dur(300));
    let mut drop_at = g.rng.pct(25).then(|| g.rng.dur(300));
    if drop_at.is_none() {
        // Something must end hangs: a late cancel.
        drop_at = Some(Duration::from_secs(5));
    }
    Plan {
        root,
        scopes: g.scopes,
        ids: g.next_id,
        cancel_at,
        drop_at,
        max_grace: g.max_grace,
        max_budget: g.max_budget,
        depth,
    }
}

// ---------------------------------------------------------------------------------------------
// The world of a run

#[derive(Default)]
struct Rec {
    name: String,
    live: AtomicUsize,
    cxs: Mutex<Vec<(String, Cx)>>,
    fails: Mutex<Vec<(String, bool, bool, bool)>>, // (who, panic, clean, a real panic)
    events: Mutex<Vec<bool>>,                      // supervisor events with an error: panicked?
    resolved: AtomicBool,
}

struct World {
    guards: Mutex<std::collections::BTreeMap<u64, (String, Vec<usize>)>>,
    next_key: AtomicU64,
    scopes: Mutex<Vec<Arc<Rec>>>,
    total: AtomicUsize,
    violations: Mutex<Vec<String>>,
    strict: bool,
    scale: u32,
    log: Mutex<Vec<String>>,
    start: Instant,
}

impl World {
    fn alive_below(&self, id: usize) -> String {
        let g = self.guards.lock().unwrap();
        g.values()
            .filter(|(_, a)| a.contains(&id))
            .map(|(l, a)| format!("{l} {a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn rec(&self, i: usize) -> Arc<Rec> {
        self.scopes.lock().unwrap()[i].clone()
    }
    fn instance(&self, name: String) -> usize {
        let mut v = self.scopes.lock().unwrap();
        v.push(Arc::new(Rec {
            name,
            ..Rec::default()
        }));
        v.len() - 1
    }
    fn violation(&self, s: String) {
        self.violations.lock().unwrap().push(s);
    }
    fn d(&self, d: Duration) -> Duration {
        d / self.scale
    }
    fn keep_cx(&self, anc: &[usize], who: &str, cx: &Cx) {
        for &a in anc {
            self.rec(a)
                .cxs
                .lock()
                .unwrap()
                .push((who.to_owned(), cx.clone()));
        }
    }
    fn note(&self, s: &str) {
        let at = self.start.elapsed();
        self.log.lock().unwrap().push(format!("{at:>10.3?} {s}"));
    }
    fn record_end(&self, scope: usize, who: &str, panic: bool, clean: bool) {
        self.record_end2(scope, who, panic, clean, false);
    }
    fn record_end2(&self, scope: usize, who: &str, panic: bool, clean: bool, real: bool) {
        self.note(&format!(
            "{who} in s{scope}: {} clean={clean}",
            if panic { "panic" } else { "fail" }
        ));
        if scope > 0 {
            self.rec(scope)
                .fails
                .lock()
                .unwrap()
                .push((who.to_owned(), panic, clean, real));
        }
    }
    /// At the moment scope `id` resolved: laws 1 and 10, and the outcome rules.
    fn resolved(&self, id: usize, what: &str, got: &Got, rule: Rule, own: Option<&Cx>) {
        let r = &self.rec(id);
        let inst = id;
        let id = format!("{} (instance {id})", r.name);
        r.resolved.store(true, Ordering::SeqCst);
        self.note(&format!("{what} {id} resolved: {got:?}"));
        let live = r.live.load(Ordering::SeqCst);
        if live != 0 {
            self.violation(format!("law 1: {what} {id} resolved ({got:?}) with {live} guarded future(s) below it alive: {}", self.alive_below(inst)));
        }
        for (who, cx) in r.cxs.lock().unwrap().iter() {
            if !cx.is_cancelled() {
                self.violation(format!("law 10: {what} {id} resolved ({got:?}) but the context of {who} below it is not cancelled"));
            }
        }
        if !self.strict {
            return;
        }
        let got = &match got {
            Got::BodyPanic | Got::Panicked => Got::Panicked,
            Got::Ok => Got::Ok,
            Got::Err(e) => Got::Err(e.clone()),
        };
        let fails = std::mem::take(&mut *r.fails.lock().unwrap());
        if let (Some(cx), Got::Err(e)) = (own, got) {
            let finished = cx
                .cause()
                .is_some_and(|c| matches!(c, scope_runtime::Cause::Finished { .. }));
            if finished && fails.is_empty() {
                self.violation(format!("outcome: {what} {id} returned an error ({e}) though nothing failed in it and its context was not cancelled before it finished"));
            }
        }
        let clean_fail: Vec<_> = fails
            .iter()
            .filter(|f| f.2 && !f.1)
            .map(|f| f.0.clone())
            .collect();
        let clean_panic: Vec<_> = fails
            .iter()
            .filter(|f| f.2 && f.1)
            .map(|f| f.0.clone())
            .collect();
        match rule {
            Rule::FailFast | Rule::All => {
                if (!clean_fail.is_empty() || !clean_panic.is_empty()) && matches!(got, Got::Ok) {
                    self.violation(format!(
                        "outcome: {what} {id} returned Ok although {clean_fail:?} failed and {clean_panic:?} panicked with their context not cancelled"
                    ));
                }
                if !clean_panic.is_empty()
                    && matches!(rule, Rule::All)
                    && !matches!(got, Got::Panicked)
                {
                    self.violation(format!("outcome: {what} {id} (all-settled) lost the panic of {clean_panic:?}: {got:?}"));
                }
                // A blocking child fails on a thread of its own, beside the run: noted after a
                // panic, its failure can still reach the scope first (while the panic unwinds
                // to the child's task), and either is then the first failure.
                let raced = fails.iter().skip(1).any(|f| f.0.starts_with("blocking "));
                if !raced && fails.first().is_some_and(|f| f.1 && f.2) && matches!(got, Got::Err(_))
                {
                    self.violation(format!("outcome: {what} {id}: {clean_panic:?} panicked (first, nothing else failed) but got {got:?}"));
                }
            }
            Rule::Race => {
                let clean_panic: Vec<_> = fails
                    .iter()
                    .filter(|f| f.2 && f.3)
                    .map(|f| f.0.clone())
                    .collect();
                if !clean_panic.is_empty() && !matches!(got, Got::Panicked) {
                    self.violation(format!(
                        "outcome: race {id} lost the panic of {clean_panic:?}: {got:?}"
                    ));
                }
            }
            Rule::Sup => {
                let ev = std::mem::take(&mut *r.events.lock().unwrap());
                let ev_p = ev.iter().filter(|p| **p).count();
                let ev_f = ev.len() - ev_p;
                let got_p = usize::from(matches!(got, Got::Panicked));
                let got_f = usize::from(matches!(got, Got::Err(_)));
                if ev_p + got_p < clean_panic.len() {
                    self.violation(format!(
                        "outcome: supervisor {id}: {} clean panic(s) {clean_panic:?} but {ev_p} panic event(s), result {got:?}",
                        clean_panic.len()
                    ));
                }
                // A failure whose incarnation then crashed in the same poll with a panic from
                // below (a scope it dropped had kept one: the incarnation's crash, law 5) is
                // told as that panic: panic events beyond the children's own panics count for
                // failures.
                let surplus_panics = (ev_p + got_p).saturating_sub(clean_panic.len());
                if ev_f + got_f + surplus_panics < clean_fail.len() {
                    self.violation(format!(
                        "outcome: supervisor {id}: {} clean failure(s) {clean_fail:?} but {ev_f} failure event(s), result {got:?}",
                        clean_fail.len()
                    ));
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rule {
    FailFast,
    All,
    Race,
    Sup,
}

#[derive(Debug)]
enum Got {
    Ok,
    Panicked,
    Err(String),
    BodyPanic,
}

fn got_of(r: &Res) -> Got {
    match r {
        Ok(_) => Got::Ok,
        Err(e) if is_panicked(e) => Got::Panicked,
        Err(e) => Got::Err(e.to_string()),
    }
}

/// A `Failures` flattened into one error, a panic first.
fn flatten(f: Failures<AppError>) -> AppError {
    let mut v = f.into_vec();
    if let Some(i) = v.iter().position(|f| is_panicked(f.error())) {
        return v.swap_remove(i).into_error();
    }
    if v.is_empty() {
        return AppError::Boom(usize::MAX);
    }
    v.swap_remove(0).into_error()
}

struct Guard {
    w: Arc<World>,
    anc: Vec<usize>,
    key: u64,
}

impl Guard {
    fn new(w: &Arc<World>, anc: &[usize], label: String) -> Guard {
        for &a in anc {
            w.rec(a).live.fetch_add(1, Ordering::SeqCst);
        }
        w.total.fetch_add(1, Ordering::SeqCst);
        let key = w.next_key.fetch_add(1, Ordering::SeqCst);
        w.guards.lock().unwrap().insert(key, (label, anc.to_vec()));
        Guard {
            w: w.clone(),
            anc: anc.to_vec(),
            key,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for &a in &self.anc {
            self.w.rec(a).live.fetch_sub(1, Ordering::SeqCst);
        }
        self.w.guards.lock().unwrap().remove(&self.key);
        self.w.total.fetch_sub(1, Ordering::SeqCst);
    }
}

fn with(anc: &[usize], id: usize) -> Vec<usize> {
    let mut v = anc.to_vec();
    v.push(id);
    v
}

fn cfg(w: &World, name: String, grace: Duration, timeout: Option<Duration>) -> Config {
    let mut c = Config::new().name(name).grace(w.d(grace));
    if let Some(t) = timeout {
        c = c.timeout(w.d(t));
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Building futures

async fn leaf_work(w: Arc<World>, l: Leaf, anc: Vec<usize>) -> Res {
    let cx = Cx::current();
    w.keep_cx(&anc, &format!("leaf c{}", l.id), &cx);
    for s in &l.steps {
        let step = async {
            match s {
                Step::Yield => tokio::task::yield_now().await,
                Step::Sleep(d) => sleep(w.d(*d)).await,
                Step::Hang => sleep(HANG).await,
            }
        };
        if l.watch {
            tokio::select! {
                () = step => {}
                _ = cx.cancelled() => return Err(cx.check().unwrap_err().into()),
            }
        } else {
            step.await;
        }
    }
    match l.end {
        End::Ok => Ok(l.id as u64),
        End::Fail => Err(AppError::Boom(l.id)),
        End::Panic => panic!("{PLANNED} c{}", l.id),
    }
}

/// The future of a child placed in scope `parent` (its guard counts in `anc`, which ends with
/// `parent`): it records how it ended, and whether its context was cancelled then.
fn child_send(w: &Arc<World>, node: &Node, anc: &[usize]) -> SendFut {
    let who = who(node);
    let guard = Guard::new(w, anc, who.clone());
    let parent = anc.last().copied().unwrap_or(0);
    let w = w.clone();
    let inner = build_send(&w, node, anc);
    Box::pin(async move {
        let _guard = guard;
        let out = AssertUnwindSafe(inner).catch_unwind().await;
        let clean = !Cx::current().is_cancelled();
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                w.record_end(parent, &who, is_panicked(&e), clean);
                Err(e)
            }
            Err(p) => {
                w.record_end2(parent, &who, true, clean, true);
                resume_unwind(p)
            }
        }
    })
}

fn child_local(w: &Arc<World>, node: &Node, anc: &[usize]) -> LocalFut {
    if !matches!(node, Node::Local(_) | Node::LocalRace(_)) && !has_local(node) {
        return child_send(w, node, anc);
    }
    let who = who(node);
    let guard = Guard::new(w, anc, who.clone());
    let parent = anc.last().copied().unwrap_or(0);
    let w = w.clone();
    let inner = build_local(&w, node, anc);
    Box::pin(async move {
        let _guard = guard;
        let _not_send = Rc::new(());
        let out = AssertUnwindSafe(inner).catch_unwind().await;
        let clean = !Cx::current().is_cancelled();
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                w.record_end(parent, &who, is_panicked(&e), clean);
                Err(e)
            }
            Err(p) => {
                w.record_end2(parent, &who, true, clean, true);
                resume_unwind(p)
            }
        }
    })
}

fn has_local(node: &Node) -> bool {
    match node {
        Node::Local(_) | Node::LocalRace(_) => true,
        Node::Shield(_, n) => has_local(n),
        _ => false,
    }
}

/// The guards reachable from the root through in-place links only: dropped with the root.
fn attached(node: &Node, out: &mut Vec<String>, own: bool) {
    if own {
        out.push(who(node));
    }
    match node {
        Node::Leaf(_) | Node::Sup(_) => {}
        Node::Scope(n) | Node::Local(n) => {
            out.push(format!("body of s{}", n.id));
            for c in &n.children {
                if matches!(c.how, How::InPlace) {
                    attached(&c.node, out, true);
                }
            }
        }
        Node::Map(m) => {
            if m.in_place {
                for i in &m.items {
                    attached(i, out, true);
                }
            }
        }
        Node::Race(r) | Node::LocalRace(r) => {
            out.push(format!("body of race s{}", r.id));
            for (in_place, c) in &r.cands {
                if *in_place {
                    attached(c, out, true);
                }
            }
        }
        Node::Shield(_, inner) => attached(inner, out, false),
    }
}

fn who(node: &Node) -> String {
    match node {
        Node::Leaf(l) => format!("c{}", l.id),
        Node::Scope(s) => format!("scope s{}", s.id),
        Node::Local(s) => format!("local scope s{}", s.id),
        Node::Sup(s) => format!("supervisor s{}", s.id),
        Node::Map(s) => format!("map s{}", s.id),
        Node::Race(s) => format!("race s{}", s.id),
        Node::LocalRace(s) => format!("local race s{}", s.id),
        Node::Shield(b, n) => format!("shield({b:?}) {}", who(n)),
    }
}

fn build_send(w: &Arc<World>, node: &Node, anc: &[usize]) -> SendFut {
    let w = w.clone();
    let anc = anc.to_vec();
    match node {
        Node::Leaf(l) => Box::pin(leaf_work(w, l.clone(), anc)),
        Node::Scope(s) => Box::pin(run_scope(w, s.clone(), anc)),
        Node::Sup(s) => Box::pin(run_sup(w, s.clone(), anc)),
        Node::Map(m) => Box::pin(run_map(w, m.clone(), anc)),
        Node::Race(r) => Box::pin(run_race(w, r.clone(), anc)),
        Node::Shield(budget, inner) => {
            let inner = build_send(&w, inner, &anc);
            match budget {
                None => Box::pin(scope_runtime::shield(inner)),
                Some(b) => {
                    let b = w.d(*b);
                    Box::pin(async move {
                        match scope_runtime::shield_for(b, inner).await {
                            Ok(r) => r,
                            Err(i) => Err(i.into()),
                        }
                    })
                }
            }
        }
        Node::Local(_) | Node::LocalRace(_) => unreachable!("local node in a Send place"),
    }
}

fn build_local(w: &Arc<World>, node: &Node, anc: &[usize]) -> LocalFut {
    let w = w.clone();
    let anc = anc.to_vec();
    match node {
        Node::Local(s) => Box::pin(run_local_scope(w, s.clone(), anc)),
        Node::LocalRace(r) => Box::pin(run_local_race(w, r.clone(), anc)),
        Node::Shield(budget, inner) => {
            let inner = build_local(&w, inner, &anc);
            match budget {
                None => Box::pin(scope_runtime::shield(inner)),
                Some(b) => {
                    let b = w.d(*b);
                    Box::pin(async move {
                        match scope_runtime::shield_for(b, inner).await {
                            Ok(r) => r,
                            Err(i) => Err(i.into()),
                        }
                    })
                }
            }
        }
        _ => build_send(&w, node, &anc),
    }
}

fn blocking_closure(
    w: &Arc<World>,
    l: &Leaf,
    anc: &[usize],
) -> impl FnOnce(&Cx) -> Res + Send + 'static {
    let guard = Guard::new(w, anc, format!("blocking c{}", l.id));
    let w = w.clone();
    let l = l.clone();
    let anc = anc.to_vec();
    move |cx: &Cx| {
        let _guard = guard;
        w.keep_cx(&anc, &format!("blocking c{}", l.id), cx);
        // A few ms of real work, in 1 ms slices (bounded whatever happens).
        for _ in 0..(l.steps.len() * 3) {
            if l.watch && cx.is_cancelled() {
                w.record_end(
                    *anc.last().unwrap(),
                    &format!("blocking c{}", l.id),
                    false,
                    false,
                );
                return Err(cx.check().unwrap_err().into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        match l.end {
            End::Ok => Ok(l.id as u64),
            End::Fail => {
                w.record_end(
                    *anc.last().unwrap(),
                    &format!("blocking c{}", l.id),
                    false,
                    false,
                );
                Err(AppError::Boom(l.id))
            }
            End::Panic => {
                w.record_end2(
                    *anc.last().unwrap(),
                    &format!("blocking c{}", l.id),
                    true,
                    false,
                    true,
                );
                panic!("{PLANNED} blocking c{}", l.id)
            }
        }
    }
}

fn body_end(w: &World, id: usize, cx: &Cx, end: End, sum: u64) -> Res {
    match end {
        End::Ok => Ok(sum),
        End::Fail => Err(AppError::Boom(10_000 + id)),
        End::Panic => {
            w.record_end2(id, "body", true, !cx.is_cancelled(), true);
            panic!("{PLANNED} body of {id}")
        }
    }
}

macro_rules! scope_body {
    ($w:expr, $n:expr, $my:expr, $s:expr, $mk:ident, $inplace:ident) => {{
        let w = &$w;
        let n = &$n;
        let my = &$my;
        let s = $s;
        let _bg = Guard::new(w, my, format!("body of s{}", n.id));
        w.keep_cx(my, &format!("scope s{}", n.id), s.cx());
        let mut handles = Vec::new();
        for (i, c) in n.children.iter().enumerate() {
            if let Some(d) = c.delay {
                sleep(w.d(d)).await;
            }
            let name = format!("s{}.{i}", n.id);
            let h = match c.how {
                How::Spawn => Some(s.spawn_named(name, child_send(w, &c.node, my))),
                How::InPlace => Some(s.$inplace(name, $mk(w, &c.node, my))),
                How::Background => Some(s.spawn_background(child_send(w, &c.node, my))),
                How::Reserve => Some(
                    s.reserve()
                        .await?
                        .spawn_named(name, child_send(w, &c.node, my)),
                ),
                How::TryReserve => match s.try_reserve() {
                    Ok(slot) => Some(slot.spawn_named(name, child_send(w, &c.node, my))),
                    Err(_) => None,
                },
                How::TrySpawn => s.try_spawn(child_send(w, &c.node, my)).ok(),
                How::WhenFree => Some(s.spawn_when_free(child_send(w, &c.node, my)).await?),
                How::Blocking => {
                    let Node::Leaf(l) = &c.node else {
                        unreachable!()
                    };
                    Some(s.spawn_blocking(blocking_closure(w, l, my)))
                }
            };
            if let Some(h) = h {
                handles.push((i, h));
            }
        }
        // Single-child cancels and aborts, in time order.
        let mut acts: Vec<_> = handles
            .iter()
            .enumerate()
            .filter_map(|(k, (i, _))| n.children[*i].act.map(|(d, a)| (d, k, a)))
            .collect();
        acts.sort_by_key(|a| a.0);
        let t0 = Instant::now();
        for (d, k, a) in acts {
            tokio::time::sleep_until(t0 + w.d(d)).await;
            let h = &handles[k].1;
            w.note(&format!("s{}: {a:?} child {}", n.id, handles[k].0));
            match a {
                Act::Cancel => {
                    h.cancel("chaos: cancel one");
                }
                Act::Abort => h.abort(),
            }
        }
        let mut sum = 0u64;
        match n.join {
            Join::Each { question } => {
                for (_, h) in handles {
                    match h.await {
                        Ok(v) => sum += v,
                        Err(e) if question => return Err(e.into()),
                        Err(_) => {}
                    }
                }
            }
            Join::Set { op, question } => {
                let mut set: ChildSet<'_, u64> = ChildSet::new();
                let ids: Vec<_> = handles.iter().map(|(_, h)| h.info().id()).collect();
                for (_, h) in handles {
                    set.push(h);
                }
                if let Some((d, op)) = op {
                    sleep(w.d(d)).await;
                    w.note(&format!("s{}: set {op:?}", n.id));
                    match op {
                        SetOp::CancelAll => {
                            set.cancel_all("chaos: cancel all");
                        }
                        SetOp::AbortAll => set.abort_all(),
                        SetOp::CancelOne => {
                            if let Some(id) = ids.first() {
                                set.cancel(*id, "chaos: cancel one in set");
                            }
                        }
                        SetOp::AbortOne => {
                            if let Some(id) = ids.last() {
                                set.abort(*id);
                            }
                        }
                    }
                }
                while let Some((_, out)) = set.join_next().await {
                    match out {
                        Ok(v) => sum += v,
                        Err(e) if question => return Err(e.into()),
                        Err(_) => {}
                    }
                }
            }
            Join::Nothing => drop(handles),
        }
        body_end(w, *my.last().unwrap(), s.cx(), n.body_end, sum)
    }};
}

/// A scope's run, plain or local (`new` makes the scope, `child` a child's future, `what` names
/// it in the log): a local one's body holds an `Rc` (`hold`), so that it is not `Send`.
macro_rules! scope_run {
    ($w:ident, $n:ident, $anc:ident, $new:expr, $child:ident, $what:literal, $hold:expr) => {{
        let (w, n) = ($w, $n);
        let inst = w.instance(format!("s{}", n.id));
        let my = with(&$anc, inst);
        let mut config = cfg(&w, format!("s{}", n.id), n.grace, n.timeout);
        if let Some(limit) = n.limit {
            config = config.limit(limit);
        }
        let s = &($new)(config);
        let held = $hold;
        let body = async {
            let _held = &held;
            let r: Res = async { scope_body!(w, n, my, s, $child, spawn_in_place_named) }.await;
            if let Err(e) = &r {
                w.record_end(
                    *my.last().unwrap(),
                    "body",
                    is_panicked(e),
                    !s.cx().is_cancelled(),
                );
            }
            r
        };
        let out = if n.all {
            AssertUnwindSafe(s.run_all(body).map(|r| r.map_err(flatten)))
                .catch_unwind()
                .await
        } else {
            AssertUnwindSafe(s.run(body)).catch_unwind().await
        };
        let rule = if n.all { Rule::All } else { Rule::FailFast };
        finish_cx(&w, inst, $what, rule, out, Some(s.cx()))
    }};
}

async fn run_scope(w: Arc<World>, n: Arc<ScopeN>, anc: Vec<usize>) -> Res {
    scope_run!(w, n, anc, Scope::<AppError>::new, child_send, "scope", ())
}

async fn run_local_scope(w: Arc<World>, n: Arc<ScopeN>, anc: Vec<usize>) -> Res {
    scope_run!(
        w,
        n,
        anc,
        Scope::<AppError, scope_runtime::Local>::new_local,
        child_local,
        "local scope",
        Rc::new(0u64)
    )
}

fn finish(
    w: &World,
    id: usize,
    what: &str,
    rule: Rule,
    out: Result<Res, Box<dyn Any + Send>>,
) -> Res {
    finish_cx(w, id, what, rule, out, None)
}

fn finish_cx(
    w: &World,
    id: usize,
    what: &str,
    rule: Rule,
    out: Result<Res, Box<dyn Any + Send>>,
    own: Option<&Cx>,
) -> Res {
    match out {
        Ok(r) => {
            w.resolved(id, what, &got_of(&r), rule, own);
            r
        }
        Err(p) => {
            w.resolved(id, what, &Got::BodyPanic, rule, own);
            resume_unwind(p)
        }
    }
}

async fn run_sup(w: Arc<World>, n: Arc<SupN>, anc: Vec<usize>) -> Res {
    let inst = w.instance(format!("s{}", n.id));
    let my = with(&anc, inst);
    let id = n.id;
    let w2 = w.clone();
    let mut sup = Supervisor::<AppError>::new(cfg(&w, format!("s{}", n.id), n.grace, n.timeout))
        .backoff(
            Backoff::new(
                w.d(n.base).max(Duration::from_micros(100)),
                w.d(n.cap).max(Duration::from_micros(100)),
            )
            .jitter(n.jitter),
        )
        .intensity(n.restarts, w.d(n.window))
        .on_event(move |e| {
            w2.note(&format!(
                "s{id} event {} #{} {:?} err={:?}",
                e.child(),
                e.attempt(),
                e.action(),
                e.error().map(ToString::to_string)
            ));
            if let Some(err) = e.error() {
                w2.rec(inst).events.lock().unwrap().push(is_panicked(err));
            }
        });
    for (j, (restart, node)) in n.children.iter().enumerate() {
        let w3 = w.clone();
        let node = node.clone();
        let my3 = my.clone();
        sup = sup.child(format!("s{id}.k{j}"), *restart, move || {
            child_send(&w3, &node, &my3)
        });
    }
    let out = AssertUnwindSafe(sup.run().map(|r| r.map(|()| 0)))
        .catch_unwind()
        .await;
    finish(&w, inst, "supervisor", Rule::Sup, out)
}

async fn run_map(w: Arc<World>, n: Arc<MapN>, anc: Vec<usize>) -> Res {
    let inst = w.instance(format!("s{}", n.id));
    let my = with(&anc, inst);
    let idx: Vec<usize> = (0..n.items.len()).collect();
    let config = cfg(&w, format!("s{}", n.id), n.grace, n.timeout);
    let n2 = n.clone();
    let w2 = w.clone();
    let my2 = my.clone();
    let f = move |i: usize| child_send(&w2, &n2.items[i], &my2);
    macro_rules! go {
        ($m:expr) => {{
            let mut m = $m.config(config);
            if let Some(l) = n.limit {
                m = m.limit(l);
            }
            if n.unordered {
                m = m.unordered();
            }
            if n.in_place {
                let m = m.in_place();
                if n.all {
                    AssertUnwindSafe(
                        m.run_all()
                            .map(|r| r.map(|v: Vec<u64>| v.iter().sum()).map_err(flatten)),
                    )
                    .catch_unwind()
                    .await
                } else {
                    AssertUnwindSafe(m.run().map(|r| r.map(|v: Vec<u64>| v.iter().sum())))
                        .catch_unwind()
                        .await
                }
            } else if n.all {
                AssertUnwindSafe(
                    m.run_all()
                        .map(|r| r.map(|v: Vec<u64>| v.iter().sum()).map_err(flatten)),
                )
                .catch_unwind()
                .await
            } else {
                AssertUnwindSafe(m.run().map(|r| r.map(|v: Vec<u64>| v.iter().sum())))
                    .catch_unwind()
                    .await
            }
        }};
    }
    let out = match n.kind {
        MapKind::Map => go!(scope_runtime::map(idx, f)),
        MapKind::ForEach => go!(scope_runtime::for_each(idx, f)),
        MapKind::Stream => {
            let w4 = w.clone();
            let st = stream::iter(idx).then(move |i| {
                let d = w4.d(Duration::from_micros(i as u64 * 3_000));
                async move {
                    sleep(d).await;
                    i
                }
            });
            go!(scope_runtime::map_stream(Box::pin(st), f))
        }
    };
    let rule = if n.all { Rule::All } else { Rule::FailFast };
    finish(&w, inst, "map", rule, out)
}

macro_rules! race_body {
    ($w:expr, $n:expr, $my:expr, $race:expr, $mk:ident) => {{
        let w = &$w;
        let n = &$n;
        let my = &$my;
        let race = $race;
        let _bg = Guard::new(w, my, format!("body of race s{}", n.id));
        w.keep_cx(my, &format!("race s{}", n.id), race.cx());
        for (j, (in_place, node)) in n.cands.iter().enumerate() {
            let name = format!("s{}.r{j}", n.id);
            if *in_place {
                race.spawn_in_place_named(name, $mk(w, node, my));
            } else {
                race.spawn_named(name, child_send(w, node, my));
            }
        }
        let r = body_end(w, *my.last().unwrap(), race.cx(), n.body_end, 0).map(|_| ());
        if let Err(e) = &r {
            w.record_end(
                *my.last().unwrap(),
                "body",
                is_panicked(e),
                !race.cx().is_cancelled(),
            );
        }
        r
    }};
}

/// A race's run, plain or local (as `scope_run!`).
macro_rules! race_run {
    ($w:ident, $n:ident, $anc:ident, $new:expr, $child:ident, $what:literal) => {{
        let (w, n) = ($w, $n);
        let inst = w.instance(format!("s{}", n.id));
        let my = with(&$anc, inst);
        let race = &($new)(cfg(&w, format!("s{}", n.id), n.grace, n.timeout));
        let body = async { race_body!(w, n, my, race, $child) };
        let out = AssertUnwindSafe(race.run(body).map(|r| r.map_err(flatten)))
            .catch_unwind()
            .await;
        let own = (!n.cands.is_empty()).then(|| race.cx());
        finish_cx(&w, inst, $what, Rule::Race, out, own)
    }};
}

async fn run_race(w: Arc<World>, n: Arc<RaceN>, anc: Vec<usize>) -> Res {
    race_run!(w, n, anc, Race::<u64, AppError>::new, child_send, "race")
}

async fn run_local_race(w: Arc<World>, n: Arc<RaceN>, anc: Vec<usize>) -> Res {
    race_run!(
        w,
        n,
        anc,
        Race::<u64, AppError, scope_runtime::Local>::new_local,
        child_local,
        "local race"
    )
}

// ---------------------------------------------------------------------------------------------
// One run

#[derive(Clone, Copy)]
struct Mode {
    strict: bool,
    scale: u32,
}

/// How long the root may take to end after an outside stop, and the rest of the tree after the
/// root: every grace and shield budget of the tree, per level.
fn bound(plan: &Plan) -> Duration {
    (plan.max_grace + plan.max_budget + Duration::from_millis(150))
        * (u32::try_from(plan.depth).expect("a small depth") + 2)
        + Duration::from_secs(1)
}

/// At the moment the root resolved: laws 1, 10 and 9.
fn check_at_resolution(w: &World, plan: &Plan, start: Instant, ended_at: Instant, mode: Mode) {
    // The root's own future (still held here) keeps its guard: 1.
    let below: Vec<String> = w
        .guards
        .lock()
        .unwrap()
        .values()
        .filter(|(_, a)| a.len() > 1)
        .map(|(l, a)| format!("{l} {a:?}"))
        .collect();
    // (A shield's budget drops the scope inside it: not a scope's resolution.)
    if !below.is_empty() && !matches!(plan.root, Node::Shield(..)) {
        w.violation(format!(
            "law 1: the root resolved with {} guarded future(s) below it alive: {}",
            below.len(),
            below.join(", ")
        ));
    }
    for (who, cx) in w.rec(0).cxs.lock().unwrap().iter() {
        if !cx.is_cancelled() && !matches!(plan.root, Node::Shield(..)) {
            w.violation(format!(
                "law 10: the root resolved but the context of {who} is not cancelled"
            ));
        }
    }
    // Bounded: after the first outside stop, the root must end within the bound.
    let first_stop = [plan.cancel_at]
        .into_iter()
        .flatten()
        .map(|d| start + w.d(d))
        .min();
    if let Some(at) = first_stop {
        if ended_at > at + w.d(bound(plan)) && ended_at > at + bound(plan) / mode.scale {
            w.violation(format!(
                "law 9: the root ended {:?} after the outside cancel",
                ended_at - at
            ));
        }
    }
}

/// After the root resolved or was dropped: law 8 (the in-place tree at once, the rest within
/// the bound) and law 10 (every context below cancelled once everything ended).
async fn check_after_the_root(w: &World, plan: &Plan, resolved: bool, kind: &str) {
    if !resolved {
        let mut att = Vec::new();
        attached(&plan.root, &mut att, true);
        let alive: Vec<String> = w
            .guards
            .lock()
            .unwrap()
            .values()
            .filter(|(l, _)| att.contains(l))
            .map(|(l, a)| format!("{l} {a:?}"))
            .collect();
        if !alive.is_empty() {
            w.violation(format!("law 8: right after the root's future was dropped, in-place descendants are alive: {}", alive.join(", ")));
        }
    }
    // Law 8: after a drop everything below goes away within a bound.
    let virtual_until = Instant::now() + bound(plan);
    let real_until = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let alive = w.total.load(Ordering::SeqCst);
        if alive == 0 {
            break;
        }
        if Instant::now() >= virtual_until && std::time::Instant::now() >= real_until {
            w.violation(format!(
                "law 8: {alive} guarded future(s) still alive {:?} after the root {}: {}",
                bound(plan),
                if resolved { "resolved" } else { "was dropped" },
                w.alive_below(0)
            ));
            break;
        }
        sleep(Duration::from_millis(1)).await;
    }
    if w.total.load(Ordering::SeqCst) == 0 {
        for (who, cx) in w.rec(0).cxs.lock().unwrap().iter() {
            if !cx.is_cancelled() {
                w.violation(format!("law 8/10: after the root ({kind}) and every descendant ended, the context of {who} is not cancelled"));
            }
        }
    }
}

async fn one_run(seed: u64, mode: Mode) -> Result<&'static str, String> {
    let plan = draw(seed);
    let w = Arc::new(World {
        guards: Mutex::new(std::collections::BTreeMap::default()),
        next_key: AtomicU64::new(0),
        scopes: Mutex::new(vec![Arc::new(Rec {
            name: "root".into(),
            ..Rec::default()
        })]),
        total: AtomicUsize::new(0),
        violations: Mutex::new(Vec::new()),
        strict: mode.strict,
        scale: mode.scale,
        log: Mutex::new(Vec::new()),
        start: Instant::now(),
    });
    let leaks = LeakCheck::new();
    let parent = Cx::root();
    let canceller = plan.cancel_at.map(|at| {
        let p = parent.clone();
        let w = w.clone();
        tokio::spawn(async move {
            sleep(w.d(at)).await;
            w.note("outside cancel");
            p.cancel("chaos: outside cancel");
        })
    });
    // Root: placed in "scope 0" (the whole tree).
    let root = child_local(&w, &plan.root, &[0]);
    let root = parent.clone().run(root);
    let start = Instant::now();
    let mut root = Box::pin(AssertUnwindSafe(root).catch_unwind());
    let drop_at = plan.drop_at.map(|d| start + w.d(d));
    let outcome = tokio::select! {
        r = &mut root => Some(r),
        () = async { match drop_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => None,
    };
    let ended_at = Instant::now();
    let kind = match &outcome {
        None => {
            w.note("root dropped");
            "dropped"
        }
        Some(Ok(Ok(_))) => "ok",
        Some(Ok(Err(e))) if is_panicked(e) => "panicked",
        Some(Ok(Err(_))) => "error",
        Some(Err(_)) => "panic",
    };
    if outcome.is_some() {
        check_at_resolution(&w, &plan, start, ended_at, mode);
    }
    // A run dropped after its body panicked (draining its children, a blocking one holding
    // it) resumes that panic from its drop, by design (docs/decisions.md, "A dropped run drops
    // the body's value itself"): a planned one is the root's outcome then; any other is not.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(root))) {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(ToString::to_string))
            .unwrap_or_default();
        if outcome.is_none() && message.starts_with(PLANNED) {
            w.note("the root's drop resumed its body's planned panic");
        } else {
            w.violation(format!("the root's drop panicked: {message}"));
        }
    }
    check_after_the_root(&w, &plan, outcome.is_some(), kind).await;
    if let Some(c) = canceller {
        c.abort();
        let _ = c.await;
    }
    if w.violations.lock().unwrap().is_empty() {
        if let Err(leaked) = leaks.check().await {
            w.violation(format!("leak: {leaked}"));
        }
    }
    let v = w.violations.lock().unwrap().clone();
    if v.is_empty() {
        Ok(kind)
    } else {
        let log = w.log.lock().unwrap().join("\n");
        Err(format!(
            "{}\nroot: {kind}\nlog:\n{log}\nplan: {plan:#?}",
            v.join("\n")
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Driving

fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let m = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !m.starts_with(PLANNED) {
                default(info);
            }
        }));
    });
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().expect("a number"))
}

fn many(
    test: &'static str,
    runs: u64,
    base: u64,
    one: impl Fn(u64) -> Result<&'static str, String>,
) {
    quiet();
    let seeds: Vec<u64> = if let Some(seed) = env_u64("PATTERNS_SEED") {
        vec![seed]
    } else {
        let base = env_u64("PATTERNS_BASE").unwrap_or(base);
        (0..env_u64("PATTERNS_RUNS").unwrap_or(runs))
            .map(|i| base.wrapping_add(i))
            .collect()
    };
    let progress = Arc::new((
        AtomicU64::new(0),
        AtomicU64::new(u64::MAX),
        AtomicBool::new(false),
    ));
    let p = progress.clone();
    std::thread::spawn(move || {
        let mut last = (0, std::time::Instant::now());
        while !p.2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            let now = p.0.load(Ordering::SeqCst);
            if now != last.0 {
                last = (now, std::time::Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(20) {
                let seed = p.1.load(Ordering::SeqCst);
                eprintln!("{test}: seed {seed} made no progress for 20 s (livelock/hang); replay with PATTERNS_SEED={seed}\n{:#?}", draw(seed));
                std::process::exit(101);
            }
        }
    });
    let mut kinds = std::collections::BTreeMap::new();
    let mut failed = Vec::new();
    let t = std::time::Instant::now();
    for &seed in &seeds {
        progress.1.store(seed, Ordering::SeqCst);
        let r = catch_unwind(AssertUnwindSafe(|| one(seed))).unwrap_or_else(|p| {
            Err(format!(
                "the run panicked: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(ToString::to_string))
                    .unwrap_or_default()
            ))
        });
        progress.0.fetch_add(1, Ordering::SeqCst);
        match r {
            Ok(k) => *kinds.entry(k).or_insert(0usize) += 1,
            Err(why) => {
                eprintln!("{test}: FAILED, replay with PATTERNS_SEED={seed}\n{why}\n");
                failed.push((seed, why.lines().next().unwrap_or("").to_owned()));
                if failed.len() >= 5 {
                    break;
                }
            }
        }
    }
    progress.2.store(true, Ordering::SeqCst);
    eprintln!(
        "{test}: {} runs in {:.1?}; {kinds:?}",
        seeds.len(),
        t.elapsed()
    );
    if !failed.is_empty() {
        let mut s = String::new();
        for (seed, why) in &failed {
            let _ = write!(s, "\n  PATTERNS_SEED={seed}: {why}");
        }
        panic!("{test}: failing runs:{s}");
    }
}

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn patterns_paused_clock() {
    many("patterns_paused_clock", 2500, 0x6800_0000, |seed| {
        let rt = paused();
        let local = tokio::task::LocalSet::new();
        let out = local.block_on(
            &rt,
            one_run(
                seed,
                Mode {
                    strict: true,
                    scale: 1,
                },
            ),
        );
        drop(local);
        let alive = rt.metrics().num_alive_tasks();
        if out.is_ok() && alive != 0 {
            return Err(format!("{alive} tokio task(s) alive after the run"));
        }
        out
    });
}

#[test]
fn patterns_multi_thread() {
    many("patterns_multi_thread", 400, 0x6868_0000, |seed| {
        let rt = two_workers();
        let local = tokio::task::LocalSet::new();
        let out = local.block_on(
            &rt,
            one_run(
                seed,
                Mode {
                    strict: false,
                    scale: 8,
                },
            ),
        );
        drop(local);
        out
    });
}

/// One more of `what` in `seen`.
fn note(seen: &mut std::collections::BTreeMap<String, usize>, what: String) {
    *seen.entry(what).or_insert(0) += 1;
}

/// Counts the shapes of `node` (and below) into `seen`.
fn shapes(node: &Node, seen: &mut std::collections::BTreeMap<String, usize>) {
    match node {
        Node::Leaf(l) => {
            note(seen, format!("leaf ends {:?}", l.end));
            if l.steps.iter().any(|s| matches!(s, Step::Hang)) {
                note(seen, "leaf hangs".into());
            }
            if !l.watch {
                note(seen, "leaf ignores the cancel".into());
            }
        }
        Node::Scope(n) | Node::Local(n) => scope_shapes(n, matches!(node, Node::Local(_)), seen),
        Node::Sup(n) => {
            note(seen, "supervisor".into());
            for (restart, c) in &n.children {
                note(seen, format!("supervised {restart:?}"));
                shapes(c, seen);
            }
        }
        Node::Map(n) => {
            note(seen, format!("{:?}", n.kind));
            if n.in_place {
                note(seen, "map in place".into());
            }
            for c in &n.items {
                shapes(c, seen);
            }
        }
        Node::Race(n) | Node::LocalRace(n) => {
            note(
                seen,
                if matches!(node, Node::LocalRace(_)) {
                    "local race"
                } else {
                    "race"
                }
                .into(),
            );
            for (in_place, c) in &n.cands {
                if *in_place {
                    note(seen, "race candidate in place".into());
                }
                shapes(c, seen);
            }
        }
        Node::Shield(budget, inner) => {
            note(
                seen,
                if budget.is_some() {
                    "shield_for"
                } else {
                    "shield"
                }
                .into(),
            );
            shapes(inner, seen);
        }
    }
}

/// Counts the shapes of a scope's node (and below) into `seen`.
fn scope_shapes(n: &ScopeN, local: bool, seen: &mut std::collections::BTreeMap<String, usize>) {
    note(seen, if local { "local scope" } else { "scope" }.into());
    if n.all {
        note(seen, "supervised scope".into());
    }
    if n.limit.is_some() {
        note(seen, "scope with a limit".into());
    }
    if n.timeout.is_some() {
        note(seen, "deadline".into());
    }
    note(
        seen,
        format!(
            "join {}",
            match n.join {
                Join::Each { .. } => "each",
                Join::Set { op: None, .. } => "set",
                Join::Set {
                    op: Some((_, op)), ..
                } => match op {
                    SetOp::CancelAll => "set, cancel all",
                    SetOp::AbortAll => "set, abort all",
                    SetOp::CancelOne => "set, cancel one",
                    SetOp::AbortOne => "set, abort one",
                },
                Join::Nothing => "nothing",
            }
        ),
    );
    for c in &n.children {
        note(seen, format!("child {:?}", c.how));
        if let Some((_, act)) = c.act {
            note(seen, format!("child {act:?} alone"));
        }
        shapes(&c.node, seen);
    }
}

#[test]
fn pattern_trees_have_every_shape() {
    // What the paused-clock test draws (its base, its number of runs): each shape and event in
    // useful numbers, so that a change to the drawing cannot quietly stop testing one.
    let mut seen = std::collections::BTreeMap::new();
    let (mut scopes, mut ids, mut deep, mut cancels, mut drops) = (0, 0, 0, 0, 0);
    for seed in 0x6800_0000..0x6800_0000 + 2500 {
        let plan = draw(seed);
        shapes(&plan.root, &mut seen);
        scopes += plan.scopes;
        ids += plan.ids;
        deep += usize::from(plan.depth >= 4);
        cancels += usize::from(plan.cancel_at.is_some());
        drops += usize::from(plan.drop_at.is_some_and(|d| d < Duration::from_secs(5)));
    }
    let mut expected: Vec<String> = [
        "leaf ends Ok",
        "leaf ends Fail",
        "leaf ends Panic",
        "leaf hangs",
        "leaf ignores the cancel",
        "scope",
        "local scope",
        "supervised scope",
        "scope with a limit",
        "deadline",
        "join each",
        "join set",
        "join set, cancel all",
        "join set, abort all",
        "join set, cancel one",
        "join set, abort one",
        "join nothing",
        "child Cancel alone",
        "child Abort alone",
        "supervisor",
        "supervised Permanent",
        "supervised Transient",
        "supervised Temporary",
        "Map",
        "ForEach",
        "Stream",
        "map in place",
        "race",
        "local race",
        "race candidate in place",
        "shield",
        "shield_for",
    ]
    .map(String::from)
    .to_vec();
    for how in [
        "Spawn",
        "InPlace",
        "Background",
        "Reserve",
        "TryReserve",
        "TrySpawn",
        "WhenFree",
        "Blocking",
    ] {
        expected.push(format!("child {how}"));
    }
    let rare: Vec<String> = expected
        .iter()
        .filter(|what| seen.get(*what).copied().unwrap_or(0) < 50)
        .cloned()
        .collect();
    assert!(
        rare.is_empty(),
        "shapes drawn fewer than 50 times: {rare:?}\n{seen:#?}"
    );
    assert!(scopes >= 2500 && ids > scopes, "{scopes} scopes, {ids} ids");
    assert!(deep >= 500, "only {deep} trees four levels deep");
    assert!(
        cancels >= 500 && drops >= 300,
        "{cancels} outside cancels, {drops} drops"
    );
}
