//! Scopes: where children are spawned, joined, cancelled and accounted for.
//!
//! A scope is a value with an invariant lifetime brand `'s`. It is borrowed for `'s` by every
//! spawn, and child handles carry `'s`, so neither the handles nor the scope can be used after
//! the scope is gone (the compiler says so). It offers two kinds of child side by side:
//!
//! - **spawned** children ([`Scope::spawn`]) run on the tokio runtime in parallel; they are
//!   `Send + 'static`;
//! - **in-place** children ([`Scope::spawn_in_place`]) are polled by the scope's own future,
//!   concurrently with the body; they may borrow from outside the scope.
//!
//! [`Scope::run`] drives the body and every child to the end: the scope's future resolves only
//! after every child, and every descendant at any depth, has finished, failed, or been
//! cancelled and dropped.
//!
//! The files follow a child's life: `mode.rs` (whether in-place children must be `Send`),
//! `tracker.rs` (the live-work accounting shared with services), `admission.rs` (the limit,
//! the queue of children waiting to start and the start window), `reserve.rs` (waiting
//! admission), `spawn.rs` (spawning, and the future every child runs in), `blocking.rs`
//! (closures on the blocking pool), `child.rs` (the handle), `set.rs` (handles taken as their
//! children finish), `in_place.rs` (the set of in-place children the run polls), `run.rs` (the
//! run future: body, children, cancellation, grace, abort, finish), `outcome.rs` (what a child
//! and a scope return, and the policies), `race.rs` (first-ok), `map.rs` (the bounded map).
//!
//! # Invariants
//!
//! - **A child starts only once its scope runs.** Spawns before the run's first poll are
//!   queued (in the admission queue, or the local queue for in-place children) and started
//!   by the run, in spawn order; a scope that is never run starts nothing, and dropping it
//!   drops them unstarted.
//! - **When a child counts as live.** A spawned child takes a unit of the scope's tracker (and
//!   of every enclosing scope's) *before* it is queued or becomes a task, and gives it back
//!   only after its future has been dropped (completed, aborted, or never started). An
//!   in-place child takes no unit: it lives in the run future itself (or in the scope's local
//!   queue), which the run drains before it finishes; a forgotten run leaks its in-place
//!   children with it, and keeps nobody waiting.
//! - **Who may close.** The tracker is closed (new spawns refused) by the run when the body
//!   returns, when the scope is cancelled, or when the run future or the scope is dropped; it
//!   is sealed (nothing, not even a nested scope's child, may take a unit) by the run's finish
//!   or by the forced abort. Admission (the queue) is closed by the first failure or panic
//!   (synchronously, before the failing child's slot is released) and by cancellation, and
//!   then nothing queued starts.
//! - **What the run waits for.** The run resolves only when its body is gone, its in-place set
//!   and local queue are empty, and a compare-and-swap from zero units has sealed the tracker.
//!   So a spawn racing the close from another thread is either refused or joined, and a
//!   grandchild of a nested scope (whose units are also this scope's) is gone before this
//!   scope resolves, however the nested scope ended.
//! - **Cancellation, then the grace, then the abort.** Once the scope's context is cancelled,
//!   the run closes the tracker and admission, waits the grace, then drops the body and the
//!   in-place children and aborts every spawned task of this scope and of every nested scope
//!   (through the trackers' registries), and waits for the units to drain. One child cancelled
//!   through its handle gets the same grace, then is aborted alone.
//! - **A finished scope's context has ended**: the run cancels it with [`Cause::Finished`]
//!   after computing the outcome, so watchers of a context cloned out of it wake.
//!
//! # Lock order
//!
//! Every lock here is held only to move values in or out: `admission`'s state (the queue) and a
//! ticket's state, `local` (in-place children not yet taken by the run), `control` (requests
//! for the run), `background` (the background children's context and how to stop them),
//! `failures`, `callback_panic` (a panic of an `on_cancel` callback the scope kept), `lost`
//! (children that ended without an outcome), the in-place ready queue's `state`, a blocking
//! job's cell (until a thread takes it), a race's `winner`, the children's own contexts'
//! `table`, and a tracker's `registry`. Each is a leaf, but for `background` and the own
//! contexts' `table`, which are held while a child context is created: that links the new node
//! into the context tree under the tree's own locks, and runs no user code; and for a
//! ticket's state and a tracker's `registry`, under which a blocking job's cell is looked at
//! (is the job still there?), never emptied: a job is taken out, and dropped, with no lock
//! held. No lock is held while user code runs: a child's or the body's future is polled and
//! dropped, an error's `From` and `Display` run, a waker is woken, cloned or dropped, and a
//! cancel (which runs `on_cancel` callbacks) is made only with no lock of this module held.
//! Every lock but a race's `winner` (a `std` mutex) goes through the loom shim
//! (`crate::sync`).

pub(crate) mod admission;
mod blocking;
mod child;
mod in_place;
mod map;
mod mode;
pub(crate) mod outcome;
pub(crate) mod own_cx;
mod race;
mod reserve;
mod run;
mod set;
mod spawn;
pub(crate) mod tracker;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use self::admission::{Admission, Admitted, Queued, Seq, Ticket, NO_SEQ};
pub use self::child::Child;
pub use self::map::{for_each, map, map_stream, InPlace, Map, Spawned};
pub use self::mode::{Local, LocalScope, Mode, Sendable};
pub use self::outcome::{
    AllFailures, BodyOutput, FirstFailure, HasOutput, Never, RaceBodyOutput, TaskOutput,
};
pub use self::race::{LocalRace, Race, RaceRun};
pub use self::reserve::Reserve;
pub(crate) use self::run::drop_past_every_grace;
pub use self::run::Run;
pub use self::set::{ChildSet, Finished};
use self::spawn::OkOf;
use self::tracker::{Enclosing, TaskHandle, Tracker};
use crate::cause::Cause;
use crate::config::Config;
use crate::cx::{Cx, WeakCx};
use crate::error::{ConfigError, Interrupted, SpawnError};
use crate::info::{TaskId, TaskInfo};
use crate::slab::KEPT_WHEN_EMPTY;
use crate::sync::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Mutex, Ordering};

/// [`Shared::answered_by`]: nothing has answered the race yet.
pub(crate) const OPEN: u8 = 0;
/// [`Shared::answered_by`]: a candidate's value won the race.
pub(crate) const WON: u8 = 1;
/// [`Shared::answered_by`]: the body's failure, kept, answered the race.
pub(crate) const BODY_FAILED: u8 = 2;

/// The invariant brand of a scope's lifetime.
type Brand<'s> = PhantomData<fn(&'s ()) -> &'s ()>;

/// A scope: the owner of a set of children. Its [`run`](Scope::run) future resolves only after
/// every child has finished, failed, or been cancelled and dropped. See the crate docs for the
/// tour.
///
/// Build it with [`Scope::new`], spawn children with [`spawn`](Scope::spawn) and
/// [`spawn_in_place`](Scope::spawn_in_place), and drive it with [`run`](Scope::run) (fail-fast)
/// or [`run_all`](Scope::run_all) (supervise): the method is the policy.
///
/// # Examples
///
/// ```
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let words = vec!["a", "bb", "ccc"];
/// let s = &Scope::new(Config::new().name("lengths"));
/// let total = s
///     .run(async {
///         let spawned = s.spawn(async { Ok::<_, Interrupted>(40) });
///         let borrowed = s.spawn_in_place(async { Ok(words.iter().map(|w| w.len()).sum::<usize>()) });
///         Ok::<_, Interrupted>(spawned.await? + borrowed.await?)
///     })
///     .await?;
/// assert_eq!(total, 46);
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
///
/// A child handle cannot leave its scope:
///
/// ```compile_fail
/// use scope::{Config, Interrupted, Scope};
/// async fn escape() {
///     let mut outside = Vec::new();
///     {
///         let s = &Scope::new(Config::new());
///         let _ = s.run(async {
///             outside.push(s.spawn(async { Ok::<u8, Interrupted>(1) }));
///             Ok::<(), Interrupted>(())
///         }).await;
///     }
///     drop(outside);
/// }
/// ```
pub struct Scope<'s, 'env, E, M: Mode = Sendable> {
    shared: Owner<E>,
    /// In-place children not yet taken by the run, in spawn order.
    local: Mutex<LocalQueue<'env, M>>,
    config_error: Option<ConfigError>,
    _brand: Brand<'s>,
}

/// An in-place child, as the run holds it.
pub(crate) struct LocalTask<'env, M: Mode> {
    pub(crate) id: TaskId,
    pub(crate) fut: Pin<Box<M::Task<'env>>>,
    /// It holds a slot of the scope's limit once admitted (a background child takes none).
    pub(crate) slot: bool,
}

pub(crate) struct LocalQueue<'env, M: Mode> {
    pub(crate) tasks: VecDeque<LocalTask<'env, M>>,
    /// The run has finished: nothing more is taken from here.
    pub(crate) finished: bool,
}

/// The scope's own hold on its shared part: dropping the scope ends what it left behind.
/// (A separate type, so that the scope itself has no destructor: a scope borrowed for its
/// whole brand `'s` could not have one.)
pub(crate) struct Owner<E>(Arc<Shared<E>>);

impl<E> std::ops::Deref for Owner<E> {
    type Target = Arc<Shared<E>>;
    fn deref(&self) -> &Arc<Shared<E>> {
        &self.0
    }
}

/// The part of a scope its spawned children share with it (it is `'static`).
pub(crate) struct Shared<E> {
    pub(crate) tracker: Tracker,
    pub(crate) cx: Cx,
    pub(crate) info: TaskInfo,
    pub(crate) obs: crate::observe::ScopeObs,
    pub(crate) grace: Duration,
    /// The grace was set (see `cancel_grace`).
    pub(crate) grace_set: bool,
    /// The grace in place of `grace` when the application's shutdown cancels the scope.
    pub(crate) shutdown_grace: Option<Duration>,
    pub(crate) admission: Admission,
    /// The policy, claimed with the run: supervise (`run_all`) or fail-fast (`run`).
    pub(crate) policy: outcome::Policy,
    /// Requests for the run: aborts of in-place children, deferred aborts after a grace.
    control: Mutex<Vec<Control>>,
    /// `control` may hold requests (so that the run locks it only then).
    requested: AtomicBool,
    /// The run future finished or was dropped (what it started, it has ended or handed to
    /// a reaper).
    pub(crate) run_ended: AtomicBool,
    /// A child panicked (in its poll, its drop, or dropping its unread output): a race does
    /// not answer with a winner then.
    pub(crate) child_panicked: AtomicBool,
    /// A race's scope whose winner is in: a candidate's error after it answers the win's
    /// cancel (a consequence, not a failure).
    pub(crate) won: AtomicBool,
    /// What answered the scope first, if it is a race: its body's failure ([`BODY_FAILED`],
    /// exchanged when the run looks at the error and finds no cancel before it, before the
    /// error's `Display` runs) or a candidate's value ([`WON`], as it is stored); [`OPEN`]
    /// until one of them. Set once, by one exchange, so the two agree on which came first
    /// whatever else cancelled the race meanwhile. (A scope that is not a race has no
    /// candidates: its body's failure sets it, and only the failure's own cancel reads it.)
    pub(crate) answered_by: AtomicU8,
    /// The raw id of the child that gave up first (a supervisor's, see [`Shared::give_up`]),
    /// 0 if none: its failure is kept whatever cancel came meanwhile.
    pub(crate) gave_up: AtomicU64,
    /// When the run's last poll began to wait, yielding, with no timer to keep its time
    /// (`run::LAST_POLL_YIELDING`), as `run::wall_mark` gives it; 0 before. Here, not in the
    /// run's future, which each level of an in-place nesting builds on its stack.
    pub(crate) last_poll_from: AtomicU64,
    /// Whether the body's value answered the cancel that stopped the children (see
    /// [`Shared::body_returned`] and [`Shared::cut_short`]): `BODY_FIRST` and `CUT_SHORT`.
    after_body: AtomicU8,
    /// The context of the background children (created with the first), cancelled when the
    /// body returns; the children to stop then.
    background: Mutex<Background>,
    pub(crate) failures: Mutex<Vec<outcome::Kept<E>>>,
    /// Failures a supervised scope did not keep, past its first [`outcome::KEPT`]: counted.
    pub(crate) not_kept: AtomicUsize,
    /// The first panic of a user's `on_cancel` callback run by a cancel the scope made of its
    /// own context (see `cancel_own`), or by a passed deadline fired under it: a panic of the
    /// scope, reported at its end. Taken for good as the scope reports (or is dropped): a
    /// panic arriving later goes back to the code that fired the deadline.
    callback_panic: crate::error::KeptPanic,
    /// The first panic a scope entered under this one ended with (or hid under a
    /// cancellation, from further down), on one line: a body that returns it after a cancel
    /// has it dropped as a consequence, and the program's exit must still tell a crash from
    /// the signal's stop (`entry::MainOutcome::of_scope`).
    pub(crate) panic_below: Mutex<Option<String>>,
    /// Spawned children whose task ended without an outcome (aborted before its first poll,
    /// or its future panicked while being dropped), for their handles.
    lost: Mutex<LostTable>,
    /// Children's own contexts, created when first needed.
    pub(crate) own_cxs: own_cx::OwnCxs,
    /// For a map's scope: the first cause of an item that stopped for a cancel of its own (its
    /// error is dropped, and nothing else explains the missing item). Under fail-fast it also
    /// stops the map (see `outcome::Shared::settle`); a supervised map's report names it if
    /// the scope has no cause of its own (see `map::run_all`).
    pub(crate) items_own: Mutex<ItemsOwn>,
}

/// See [`Shared::items_own`].
pub(crate) enum ItemsOwn {
    /// Not a map's scope.
    Off,
    /// A map's scope; no item has stopped for a cancel of its own.
    Watching,
    /// The first such item's cause.
    Kept(Arc<Cause>),
}

/// The records of children that ended without an outcome (see `Shared::record_lost`).
#[derive(Default)]
pub(crate) struct LostTable {
    /// Each with the child's own context, if it had one when it ended: the record is swept
    /// once that is gone.
    records: crate::info::ById<TaskId, (Lost, Option<WeakCx>)>,
    /// The table's size after the last sweep: the next one comes when it has doubled.
    swept: usize,
}

/// Why a spawned child's task ended without an outcome its handle can read.
pub(crate) enum Lost {
    /// Its future panicked while being dropped by an abort: the message.
    DropPanic(String),
    /// It was aborted before its first poll: why.
    NotStarted(Arc<Cause>),
    /// Its runtime dropped it, shutting down: the cause the scope was cancelled with.
    Dropped(Arc<Cause>),
}

/// The background children of a scope.
#[derive(Default)]
pub(crate) struct Background {
    cx: Option<Cx>,
    /// How to stop each background child still alive, by id; `None`: the child ended before
    /// its target was added (the add then takes the mark out). A child takes its entry out
    /// when it ends, so the map holds the live ones, not every one ever spawned.
    targets: crate::info::ById<TaskId, Option<Target>>,
    over: bool,
}

/// A request for the run, which owns the timers and the in-place children.
pub(crate) enum Control {
    /// Stop this in-place child: dropped now if it has not started or `at` is `None`, else
    /// dropped at `at` (see [`Deferred`]) if it is still running then.
    StopInPlace { id: TaskId, at: Option<Deferred> },
    /// Abort this child later (it was cancelled alone).
    Deferred(Deferred, Target),
    /// Stop this child after this grace (the one in force when the stop was asked), timed by
    /// the run (asked from a thread without a runtime).
    AfterGrace(Target, Duration),
}

/// When a child cancelled alone is aborted: at the end of its grace, or of the budgets of the
/// shields that hold the abort off then.
#[derive(Clone, Copy)]
pub(crate) struct Deferred {
    pub(crate) at: Instant,
    /// `at` is the end of the shields' budgets already: the abort waits no longer.
    pub(crate) held: bool,
}

/// A child to abort.
pub(crate) enum Target {
    Task(TaskHandle),
    InPlace(TaskId),
    Queued(Arc<Ticket>),
}

impl Target {
    /// Aborts a spawned child, or one that waited for a slot and has started, once its
    /// scope's run is gone (its admission closed: one that still waited went with it; the
    /// in-place ones went with the run).
    pub(crate) fn abort_started(&self) {
        match self {
            Target::Task(handle) => handle.abort(),
            Target::Queued(ticket) => ticket.abort(),
            Target::InPlace(_) => {}
        }
    }

    /// Aborts a spawned or queued child at once (an in-place one goes through the run).
    fn abort_now<E>(&self, shared: &Shared<E>) {
        match self {
            Target::Task(handle) => handle.abort(),
            Target::Queued(ticket) => {
                // Still waiting: it never starts, and its handle learns so now.
                let queued = shared.admission.remove(ticket);
                ticket.abort();
                drop(queued);
            }
            Target::InPlace(id) => shared.request(Control::StopInPlace { id: *id, at: None }),
        }
    }
}

impl<E: Send + 'static> Enclosing for Shared<E> {
    fn tracker(&self) -> &Tracker {
        &self.tracker
    }
    fn grace(&self) -> Duration {
        self.cancel_grace()
    }
    fn runtime_gone(&self) {
        self.mark_runtime_gone();
    }
    fn child_cx(&self, id: TaskId, parent: &Cx, adopted: bool) -> Cx {
        self.own_cxs.get_or_create(id, parent, !adopted)
    }
    fn is_cancelled_for_child(&self, cx: &Cx) -> bool {
        self.is_cancelled_in(cx)
    }
    fn keep_callback_panic(
        &self,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Option<Box<dyn std::any::Any + Send>> {
        self.callback_panic.keep(payload)
    }
    fn panicked_below(
        &self,
        task: &TaskInfo,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Option<Box<dyn std::any::Any + Send>> {
        self.panicked_late(task, payload)
    }
    fn own_cxs(&self) -> Option<&own_cx::OwnCxs> {
        Some(&self.own_cxs)
    }
    fn close_queue(&self) {
        self.close_admission();
    }
    fn panic_below(&self, line: &str) {
        // Only one this scope may drop as a consequence of its cancel: a panic returned
        // before it (handled, or the scope's failure by its own right) tells nothing more.
        if !self.cx.flag_is_set() {
            return;
        }
        let mut below = self.panic_below.lock();
        if below.is_none() {
            *below = Some(line.to_owned());
        }
    }
}

/// `Shared::after_body`: the body returned its value while its scope was not cancelled.
const BODY_FIRST: u8 = 1;
/// `Shared::after_body`: a child ended without a value of its own while its scope was
/// cancelled.
const CUT_SHORT: u8 = 2;
/// `Shared::after_body`: the runtime dropped a child as it shut down (see
/// [`Shared::runtime_gone`]).
const RUNTIME_GONE: u8 = 4;
/// `Shared::after_body`: no report will read the failures (the run was dropped, or its body's
/// panic is its outcome): one that comes now is dropped at once (see [`Shared::drop_kept`]).
/// Set and read under the failures' lock.
const UNREPORTED: u8 = 8;
/// `Shared::after_body`: with [`UNREPORTED`], the run was dropped with no panic of its own to
/// resume: a panic no report carries goes to the enclosing scope (see `Shared::panic_upward`).
/// Set and read under the failures' lock.
const PANICS_UP: u8 = 16;
/// `Shared::after_body`: the run was dropped (see `Shared::end_run`). Set and read under the
/// failures' lock.
const RUN_DROPPED: u8 = 32;

/// What work refused or stopped because an enclosing scope's forced abort sealed it is told.
const ENCLOSING_ENDED: &str = "an enclosing scope has ended (finished, or aborted)";

/// A queued spawned child's start, with its place in the start window.
type Start = (Box<dyn FnOnce(Seq) + Send>, Seq);

#[cfg(not(all(test, loom)))]
std::thread_local! {
    /// The starts handed on while one is under way on this thread, for that one to run:
    /// `None` when no start is under way.
    static STARTS: std::cell::RefCell<Option<VecDeque<Start>>> =
        const { std::cell::RefCell::new(None) };
}
#[cfg(all(test, loom))]
loom::thread_local! {
    static STARTS: std::cell::RefCell<Option<VecDeque<Start>>> = std::cell::RefCell::new(None);
}

#[cfg(not(all(test, loom)))]
std::thread_local! {
    /// The scope whose body is being polled on this thread (its tracker's `owner_id`, 0 for
    /// none): the starts its slots hand on wait in [`HELD`] (see [`HoldStarts`]).
    static HOLDING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The starts held, each with the scope whose hold keeps it.
    static HELD: std::cell::RefCell<Vec<(usize, Start)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}
#[cfg(all(test, loom))]
loom::thread_local! {
    static HOLDING: std::cell::Cell<usize> = std::cell::Cell::new(0);
    static HELD: std::cell::RefCell<Vec<(usize, Start)>> = std::cell::RefCell::new(Vec::new());
}

/// Starts a queued spawned child on the runtime. A start can hand a slot on before it returns:
/// on a runtime that is shutting down, `spawn` drops the new task at once, and its drop hands
/// its slot to the next queued child (of any scope). Such a start is run by the outermost one,
/// in a loop, so that a queue of thousands costs no stack (it recursed once per child, and
/// overflowed a worker's stack). A panic of one start is resumed after the others ran.
fn start_spawned(start: Box<dyn FnOnce(Seq) + Send>, seq: Seq) {
    let mut start = Some(start);
    let outermost = STARTS.try_with(|starts| {
        let mut starts = starts.borrow_mut();
        if let Some(later) = starts.as_mut() {
            later.extend(start.take().map(|start| (start, seq)));
            false
        } else {
            *starts = Some(VecDeque::new());
            true
        }
    });
    let Ok(outermost) = outermost else {
        // The thread is being torn down (a runtime kept in a thread-local drops its tasks):
        // no list to queue on; started here.
        if let Some(start) = start {
            start(seq);
        }
        return;
    };
    if let Some(start) = start.filter(|_| outermost) {
        run_starts((start, seq));
    }
}

/// Runs `first`, then the starts queued on this thread until none is left, and closes the
/// list (the caller opened it: it is the outermost).
fn run_starts(first: Start) {
    let queued = std::iter::once(first).chain(std::iter::from_fn(pop_start));
    start_each(queued, |(start, seq)| start(seq));
}

/// The next start queued on this thread; closes the list when there is none.
fn pop_start() -> Option<Start> {
    STARTS
        .try_with(|starts| {
            let mut starts = starts.borrow_mut();
            let later = starts.as_mut().and_then(VecDeque::pop_front);
            if later.is_none() {
                *starts = None;
            }
            later
        })
        .ok()
        .flatten()
}

/// Holds, while a scope's body is polled, the starts of the queued spawned (and blocking)
/// children that the scope's slots and start window hand on, until the poll has ended and
/// the run has settled how: a body that fails or panics with a reservation in hand drops it
/// inside its poll, before the scope knows of the failure, and the queued child its slot
/// passes to would start (a blocking child would run) after the first failure (law 3; law 5
/// for a panic). Held, it starts after the settle, finds its scope cancelled and never runs.
/// Only that scope's hand-offs are held: a child admitted at once starts at once, and another
/// scope polled inside the body (nested, or on a runtime entered from it) is not held up.
pub(crate) struct HoldStarts {
    owner: usize,
    outer: usize,
}

impl HoldStarts {
    pub(crate) fn begin(owner: usize) -> Self {
        let outer = HOLDING.try_with(|h| h.replace(owner)).unwrap_or(0);
        HoldStarts { owner, outer }
    }
}

impl Drop for HoldStarts {
    fn drop(&mut self) {
        let _ = HOLDING.try_with(|h| h.set(self.outer));
        let owner = self.owner;
        let held: Vec<Start> = HELD
            .try_with(|held| {
                let mut held = held.borrow_mut();
                if held.is_empty() {
                    return Vec::new();
                }
                let (mine, others): (Vec<_>, Vec<_>) =
                    held.drain(..).partition(|(o, _)| *o == owner);
                *held = others;
                mine.into_iter().map(|(_, start)| start).collect()
            })
            .unwrap_or_default();
        start_each(held, |(start, seq)| start_spawned(start, seq));
    }
}

/// Starts each of `admitted` with `start`, even if one before it panics (the rest would be
/// dropped unstarted, their slots and window places never given back); the first panic goes
/// on afterwards (dropped instead while a panic unwinds already: a second would abort).
pub(crate) fn start_each<T>(admitted: impl IntoIterator<Item = T>, mut start: impl FnMut(T)) {
    let mut panic = None;
    for one in admitted {
        let run = std::panic::AssertUnwindSafe(|| start(one));
        if let Err(payload) = std::panic::catch_unwind(run) {
            crate::error::keep_first(&mut panic, payload);
        }
    }
    if let Some(payload) = panic {
        if std::thread::panicking() {
            crate::error::drop_after_panic(payload);
        } else {
            std::panic::resume_unwind(payload);
        }
    }
}

/// Holds `start` if its scope's body is being polled here (see [`HoldStarts`]); otherwise
/// gives it back to be started now.
fn held(owner: usize, start: Start) -> Option<Start> {
    if HOLDING.try_with(std::cell::Cell::get).unwrap_or(0) != owner {
        return Some(start);
    }
    let mut start = Some(start);
    let _ = HELD.try_with(|held| {
        if let Some(start) = start.take() {
            held.borrow_mut().push((owner, start));
        }
    });
    start
}

impl<E> Shared<E> {
    /// Runs `user` (user code the scope runs on a child's or the body's behalf once its future
    /// has ended: the destructor of a value or an error nobody will read, an error's `Display`)
    /// inside the scope's context, so that it sees the scope's slots, as the child's future did
    /// inside its own. (Not the child's own context, which it may not have made: the slots are
    /// the same, but `Cx::current()` there is the scope's.)
    pub(crate) fn in_cx<R>(&self, user: impl FnOnce() -> R) -> R {
        let mut cx = Some(self.cx.clone());
        let _enter = crate::cx::Enter::cx_only_in_drop(&mut cx);
        user()
    }

    /// Whether the failures kept so far hold a panic, and whether there are any: what a run
    /// that ends without a report (dropped, forgotten) says of itself.
    pub(crate) fn kept_flags(&self) -> (bool, bool) {
        let kept = self.failures.lock();
        let panicked = kept.iter().any(|k| matches!(k, outcome::Kept::Panicked(_)));
        (panicked, !kept.is_empty())
    }

    /// Cancels the scope's context on the scope's own behalf (a failure, a panic, its end).
    /// A user's `on_cancel` callback that panics there is a panic of the scope, kept for its
    /// end (`take_callback_panic`), not unwound through the child or the run that cancels.
    pub(crate) fn cancel_own(&self, cause: Cause) -> bool {
        // A callback's panic means this call cancelled it: only the first cancel runs them.
        let mut first = true;
        self.catching(|| first = self.cx.cancel_with(cause));
        first
    }

    /// Whether the scope's context is cancelled, asked by the scope itself: a deadline this
    /// fires runs the callbacks as [`cancel_own`](Shared::cancel_own) does.
    pub(crate) fn is_cancelled_own(&self) -> bool {
        self.is_cancelled_in(&self.cx)
    }

    /// Whether `cx` (the scope's context, or one made under it for a child) is cancelled,
    /// asked by the scope's own bookkeeping (a child's first poll, its end, the run's end): a
    /// passed deadline this fires runs its callbacks as [`cancel_own`](Shared::cancel_own)
    /// does, a panic of one kept for the scope rather than unwound through the bookkeeping.
    #[inline]
    pub(crate) fn is_cancelled_in(&self, cx: &Cx) -> bool {
        // The common case runs no code: a flag, or a live context with no deadline passed.
        match cx.is_cancelled_quiet() {
            Some(known) => known,
            None => self.is_cancelled_in_slow(cx),
        }
    }

    #[cold]
    #[inline(never)]
    fn is_cancelled_in_slow(&self, cx: &Cx) -> bool {
        let mut cancelled = true;
        self.catching(|| cancelled = cx.is_cancelled());
        cancelled
    }

    /// Whether the scope's context is cancelled, an ancestor's cancel still on its way down
    /// to it included (then recorded as its own now, see [`Cx::catch_up`]): for the scope's
    /// cold paths (its end, a refused spawn, a failure), which must not take a consequence of
    /// that cancel for something else.
    #[cold]
    pub(crate) fn caught_up_own(&self) -> bool {
        let mut cancelled = true;
        self.catching(|| cancelled = self.cx.catch_up());
        cancelled
    }

    /// Why a child of the scope that ended without an outcome was lost, as the child reads
    /// it: the scope's cause inherited (an ancestor's cancel still on its way down caught up),
    /// or an enclosing scope's end; `None` when none of these explains it.
    #[cold]
    pub(crate) fn lost_cause(&self) -> Option<Arc<Cause>> {
        self.caught_up_own();
        match self.cause_own() {
            Some(cause) => Some(crate::cx::inherited(&cause)),
            None => self
                .tracker
                .is_sealed_above()
                .then(|| Arc::new(Cause::explicit(ENCLOSING_ENDED))),
        }
    }

    /// Why the scope refuses work, or why work of it stopped: the scope's own cause (an
    /// ancestor's cancel still on its way down caught up now), else `own` (the work's own
    /// cause, if it has one), else `closed` for the scope itself, or the end of an enclosing
    /// scope whose forced abort sealed this one's work while its own context lives.
    #[cold]
    pub(crate) fn stop_cause(&self, own: Option<Arc<Cause>>, closed: &'static str) -> Arc<Cause> {
        self.caught_up_own();
        self.cause_own().or(own).unwrap_or_else(|| {
            let why = if self.tracker.is_sealed_above() {
                ENCLOSING_ENDED
            } else {
                closed
            };
            Arc::new(Cause::explicit(why))
        })
    }

    /// The scope's cause, read by its own bookkeeping (see
    /// [`is_cancelled_in`](Shared::is_cancelled_in)).
    pub(crate) fn cause_own(&self) -> Option<Arc<Cause>> {
        self.cause_in(&self.cx)
    }

    /// `cx`'s cause, read by the scope's own bookkeeping (see
    /// [`is_cancelled_in`](Shared::is_cancelled_in)).
    pub(crate) fn cause_in(&self, cx: &Cx) -> Option<Arc<Cause>> {
        let mut read = None;
        self.catching(|| read = Some(cx.cause_arc()));
        // A callback panicked: the cancel it ran for has taken effect; read it as it is.
        read.unwrap_or_else(|| cx.observed_cause())
    }

    /// Runs a cancel made on the scope's behalf, keeping a callback's panic for the scope.
    fn catching(&self, cancel: impl FnOnce()) {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(cancel)) {
            // (The scope's own code runs this: after its end nothing of it is left to run.)
            crate::error::drop_after_panic(self.callback_panic.keep(payload));
        }
    }

    /// The callback panic kept by [`cancel_own`](Shared::cancel_own), if any (taken), for
    /// good: one arriving later goes back to the code that fired it.
    pub(crate) fn take_callback_panic(&self) -> Option<Box<dyn std::any::Any + Send>> {
        self.callback_panic.take()
    }

    pub(crate) fn supervise(&self) -> bool {
        self.policy.supervises()
    }

    /// Queues a request for the run and wakes it.
    pub(crate) fn request(&self, c: Control) {
        self.control.lock().push(c);
        // Release: the run's Acquire swap sees the request pushed before it.
        self.requested.store(true, Ordering::Release);
        self.tracker.wake_owner();
    }

    /// The requests queued since the last call (none without a lock when there are none).
    pub(crate) fn take_requests(&self) -> Vec<Control> {
        // Acquire: pairs with the Release store in `request`.
        if !self.requested.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.control.lock())
    }

    /// Closes admission: nothing queued starts any more; the queued children are dropped
    /// here (outside every lock) and their handles learn they never ran.
    pub(crate) fn close_admission(&self) {
        for q in self.admission.close() {
            match q {
                // A waiting spawning loop learns that no slot will come (one that gave up
                // meanwhile holds nothing).
                Queued::Waiter(waiter) => {
                    let _ = waiter.answer(false, NO_SEQ);
                }
                other => drop(other),
            }
        }
    }

    /// The body has returned: the slots held by reservations go to the children queued
    /// behind them, and the spawning loops still waiting learn that none will come (see
    /// [`Admission::end_reservations`]).
    pub(crate) fn end_reservations(&self) {
        let (waiters, admitted) = self.admission.end_reservations();
        for waiter in waiters {
            // One that gave up meanwhile holds nothing.
            let _ = waiter.answer(false, NO_SEQ);
        }
        start_each(admitted, |admitted| self.hand_on(admitted));
    }

    /// A reservation's slot, never spawned into, passes on (unless the body's return gave it
    /// back already: [`Admission::claim_reserved`]).
    pub(crate) fn release_reserved_slot(&self) {
        if self.admission.claim_reserved() {
            self.release_slot();
        }
    }

    /// Starts a child handed a slot (or let through at the run's start).
    pub(crate) fn start_queued(&self, admitted: Admitted) {
        let Admitted(q, seq) = admitted;
        match q {
            Queued::Spawn(_, start) => start_spawned(start, seq),
            Queued::Waiter(waiter) => {
                if !waiter.answer(true, seq) {
                    // Its `Reserve` was dropped as the slot came: the slot passes on.
                    self.child_started(seq);
                    self.release_reserved_slot();
                }
            }
            // Counted as it was let through (`Admission::admitted_in_place`).
            Queued::InPlace => self.tracker.wake_owner(),
        }
    }

    /// Starts a child a slot or a place in the start window was handed on to: as
    /// [`start_queued`](Shared::start_queued), but a spawned one is held while the scope's
    /// body is polled on this thread (see [`HoldStarts`]).
    fn hand_on(&self, admitted: Admitted) {
        match admitted {
            Admitted(Queued::Spawn(_, start), seq) => {
                if let Some((start, seq)) = held(self.tracker.owner_id(), (start, seq)) {
                    start_spawned(start, seq);
                }
            }
            other => self.start_queued(other),
        }
    }

    /// A child holding a slot of the limit has ended: the slot passes on, unless the scope is
    /// cancelled (then admission closes first and nothing more starts).
    pub(crate) fn release_slot(&self) {
        if self.is_cancelled_own() {
            self.close_admission();
        }
        if let Some(next) = self.admission.release() {
            self.hand_on(next);
        }
    }

    /// The spawned child at place `seq` of the start window has started (or never will): the
    /// children the window now lets through start.
    pub(crate) fn child_started(&self, seq: Seq) {
        start_each(self.admission.started(seq), |admitted| {
            self.hand_on(admitted);
        });
    }

    /// The grace its cancelled children get. When the cancel is the application's shutdown:
    /// its shutdown grace if set; else its grace if set; else its enclosing scope's (so that
    /// work in flight in a nested scope drains within the program's grace instead of being
    /// cut at the signal; the enclosing scope's own abort bounds it anyway); the shutdown
    /// grace and the inherited one never past the scope's own deadline (law 4: a request's
    /// `timeout` still bounds it during a shutdown). Any other cancel: its grace.
    pub(crate) fn cancel_grace(&self) -> Duration {
        let shutdown = || {
            self.cause_own()
                .is_some_and(|c| matches!(c.root(), crate::cause::Cause::Shutdown { .. }))
        };
        let within_deadline = |grace: Duration| match self.cx.deadline() {
            Some(at) => grace.min(at.saturating_duration_since(Instant::now())),
            None => grace,
        };
        if let Some(grace) = self.shutdown_grace {
            return if shutdown() {
                within_deadline(grace)
            } else {
                self.grace
            };
        }
        if self.grace_set {
            return self.grace;
        }
        match self.tracker.enclosing() {
            Some(enclosing) if shutdown() => within_deadline(enclosing.grace()),
            _ => self.grace,
        }
    }

    /// Stops one child: at once, or (`after_grace`) once the scope's grace has passed if it
    /// is still running then. A child that has not started yet is dropped at once either way.
    /// With no grace, a child stopped after it is still not aborted while budgeted shields run
    /// in the scope (law 9 holds for one child as for the scope): it is aborted when they end,
    /// at the end of their budgets at the latest (and the moment a shield has to answer there:
    /// [`Tracker::held_until`]).
    pub(crate) fn stop_child(&self, target: Target, after_grace: bool) {
        let timer = tokio::runtime::Handle::try_current().is_ok();
        // Acquire: pairs with the Release store at the run's end.
        if after_grace && !timer && !self.run_ended.load(Ordering::Acquire) {
            // Asked from a thread without a runtime (a plain thread holding the handle): the
            // grace is the run's to time, on its own runtime and clock; which grace is
            // decided now, as the stop is asked (a shutdown that comes after it is not its).
            return self.request(Control::AfterGrace(target, self.cancel_grace()));
        }
        self.stop_child_now(target, (after_grace && timer).then(|| self.cancel_grace()));
    }

    /// `stop_child` where the caller knows whether a grace can be timed here, and which:
    /// `None` stops the child at once. The grace is the one in force
    /// ([`cancel_grace`](Shared::cancel_grace)): the shutdown's while the application's
    /// shutdown cancels the scope, so a background child stopped at the body's end drains as
    /// its siblings do.
    pub(crate) fn stop_child_now(&self, target: Target, grace: Option<Duration>) {
        let at = match grace {
            None => None,
            Some(grace) if !grace.is_zero() => Some(Deferred {
                at: crate::cx::deadline_after(grace),
                held: false,
            }),
            Some(_) => self
                .tracker
                .held_until()
                .map(|at| Deferred { at, held: true }),
        };
        match (target, at) {
            (Target::InPlace(id), at) => self.request(Control::StopInPlace { id, at }),
            (Target::Queued(ticket), Some(at)) => {
                if let Some(queued) = self.admission.remove(&ticket) {
                    ticket.abort();
                    drop(queued);
                } else {
                    // A blocking job still waiting for a thread goes now; a running one (or a
                    // task) gets its grace.
                    ticket.drop_waiting_job();
                    self.request(Control::Deferred(at, Target::Queued(ticket)));
                }
            }
            (target, Some(at)) => self.request(Control::Deferred(at, target)),
            (target, None) => target.abort_now(self),
        }
    }

    /// The context a child's own context derives from: the scope's, or for a background child
    /// the background context (the scope's once that is gone).
    pub(crate) fn child_parent(&self, background: bool) -> Cx {
        if background {
            if let Some(cx) = self.background.lock().cx.clone() {
                return cx;
            }
        }
        self.cx.clone()
    }

    /// The context a new background child's context derives from (`None` once the body has
    /// returned: it is refused).
    pub(crate) fn background_cx(&self) -> Option<Cx> {
        let mut bg = self.background.lock();
        if bg.over {
            return None;
        }
        Some(bg.cx.get_or_insert_with(|| self.cx.child()).clone())
    }

    /// Remembers how to stop background child `id` at the body's end.
    pub(crate) fn add_background(&self, id: TaskId, target: Target) {
        let late = {
            let mut bg = self.background.lock();
            if bg.over {
                Some(target)
            } else if let Some(None) = bg.targets.get(&id) {
                // It has ended already.
                bg.targets.remove(&id);
                give_back_room(&mut bg.targets);
                None
            } else {
                bg.targets.insert(id, Some(target));
                None
            }
        };
        if let Some(target) = late {
            // The body returned meanwhile: it is stopped like the others.
            self.stop_child(target, true);
        }
    }

    /// Background child `id` has ended: there is nothing left to stop.
    pub(crate) fn forget_background(&self, id: TaskId) {
        let removed = {
            let mut bg = self.background.lock();
            if bg.over {
                return;
            }
            let removed = bg.targets.remove(&id);
            if removed.is_none() {
                // Its target has not been added yet: the add finds this mark.
                bg.targets.insert(id, None);
            } else {
                give_back_room(&mut bg.targets);
            }
            removed
        };
        drop(removed);
    }

    /// Whether the body has returned and the background children were told to stop.
    pub(crate) fn background_over(&self) -> bool {
        self.background.lock().over
    }

    /// The body returned a value: if its scope was not cancelled then, the value answers no
    /// cancel, and one that comes after it and stops a child short (see
    /// [`cut_short`](Shared::cut_short)) is the scope's result (see [`Shared::unanswered`]).
    pub(crate) fn body_returned(&self) {
        if !self.is_cancelled_own() {
            self.after_body.fetch_or(BODY_FIRST, Ordering::Relaxed);
        }
    }

    /// A child ended without a value of its own (it never started, was aborted or dropped, or
    /// returned an error or panicked): if its scope is cancelled, that cancel cut its work
    /// short, unless the child was stopped alone, through its handle (`alone`, asked only
    /// once the body's value is in: before, the mark does not matter, and an aborted child's
    /// end stays cheap; a body's value not yet seen here only ever marks more).
    #[cold]
    pub(crate) fn cut_short(&self, alone: impl FnOnce() -> bool) {
        if !self.is_cancelled_own() {
            return;
        }
        if self.after_body.load(Ordering::Relaxed) & BODY_FIRST != 0 && alone() {
            return;
        }
        self.after_body.fetch_or(CUT_SHORT, Ordering::Relaxed);
    }

    /// Read at the scope's end, once every child has ended (their marks are seen through the
    /// tracker's count): the body returned its value before a cancel that then stopped a
    /// child short. The body did not answer that cancel, and the stopped work is not its
    /// success: the cancellation is the scope's result.
    pub(crate) fn unanswered(&self) -> bool {
        self.after_body.load(Ordering::Relaxed) & (BODY_FIRST | CUT_SHORT) == BODY_FIRST | CUT_SHORT
    }

    /// Marks the runtime the scope's tasks ran on as shutting down (a child was dropped by
    /// it): before the cancel that says so.
    pub(crate) fn mark_runtime_gone(&self) {
        // Release: the run that sees the cancel sees this.
        self.after_body.fetch_or(RUNTIME_GONE, Ordering::Release);
    }

    /// Whether the scope's runtime dropped a child as it shut down: its timers are gone with
    /// it (tokio panics at the poll of one on a runtime shut down), so the run keeps none from
    /// then on, and ends at once (every task it would wait for has been dropped).
    pub(crate) fn runtime_gone(&self) -> bool {
        // Acquire: pairs with `mark_runtime_gone`.
        self.after_body.load(Ordering::Acquire) & RUNTIME_GONE != 0
    }

    /// Whether no report will read a failure that comes now (under the failures' lock).
    pub(crate) fn unreported(&self) -> bool {
        self.after_body.load(Ordering::Relaxed) & UNREPORTED != 0
    }

    /// No report will read a failure from now on (under the failures' lock).
    pub(crate) fn set_unreported(&self, panics_up: bool) {
        let bits = if panics_up {
            UNREPORTED | PANICS_UP
        } else {
            UNREPORTED
        };
        self.after_body.fetch_or(bits, Ordering::Relaxed);
    }

    /// The run was dropped (under the failures' lock).
    pub(crate) fn set_run_dropped(&self) {
        self.after_body.fetch_or(RUN_DROPPED, Ordering::Relaxed);
    }

    /// Whether the run was dropped (under the failures' lock).
    pub(crate) fn run_dropped(&self) -> bool {
        self.after_body.load(Ordering::Relaxed) & RUN_DROPPED != 0
    }

    /// Whether a panic no report will carry goes to the enclosing scope (see
    /// [`PANICS_UP`]; under the failures' lock).
    pub(crate) fn panics_up(&self) -> bool {
        self.after_body.load(Ordering::Relaxed) & PANICS_UP != 0
    }

    /// The body returned: the background children are cancelled (cause: the scope finished)
    /// and, after the grace, aborted.
    pub(crate) fn end_background(&self) {
        let (cx, targets) = {
            let mut bg = self.background.lock();
            bg.over = true;
            // The context stays: a child's own context created from now on derives from it.
            (bg.cx.clone(), std::mem::take(&mut bg.targets))
        };
        let Some(cx) = cx else {
            return;
        };
        self.catching(|| cx.finish(&self.info));
        for target in targets.into_values().flatten() {
            self.stop_child(target, true);
        }
    }

    /// Records why a spawned child's task ended without an outcome its handle can read, if a
    /// handle may still read it.
    ///
    /// A record lives as long as the child's own context, when the child has one (its
    /// handle keeps it: once the handle and the context are gone, the record is swept as new
    /// ones arrive). A child stopped by its scope's cancel (or the body's end, for a
    /// background child) may have none: those records last as long as the scope, and there are
    /// at most as many as children. A child stopped alone was stopped by its handle, which
    /// made its own context: if that is gone, so is the handle, and nothing is recorded.
    pub(crate) fn record_lost(&self, id: TaskId, background: bool, lost: Lost) {
        let own = self.own_cxs.find(id);
        let node = match &own {
            Some(cx) => Some(cx.downgrade()),
            None if self.is_cancelled_in(&self.child_parent(background)) => None,
            None => return,
        };
        {
            let mut table = self.lost.lock();
            if table.records.len() >= 2 * table.swept + 16 {
                // Dropping a record runs no user code (a cause, a message, a dead weak
                // reference).
                table
                    .records
                    .retain(|_, (_, node)| !node.as_ref().is_some_and(WeakCx::is_dead));
                table.swept = table.records.len();
            }
            table.records.insert(id, (lost, node));
        }
        // Outside the locks: the last reference to a context may go here.
        drop(own);
    }

    /// Why child `id`'s task ended without an outcome, if it was recorded (taken: its handle
    /// reads it once).
    pub(crate) fn take_lost(&self, id: TaskId) -> Option<Lost> {
        let taken = self.lost.lock().records.remove(&id);
        taken.map(|(lost, _)| lost)
    }
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M> {
    fn enter(config: Config) -> Self {
        let parent = config.parent.unwrap_or_else(Cx::current);
        let info = TaskInfo::new(config.name.clone(), config.location);
        // A timeout past what a timer can take (`Duration::MAX`) is no deadline.
        let deadline = match (
            config.deadline,
            config.timeout.and_then(crate::cx::deadline_in),
        ) {
            (Some(at), Some(t)) => Some(at.min(t)),
            (at, t) => at.or(t),
        };
        // Its own deadline is the one in force only if it is earlier than the one it inherits
        // (which the context keeps on a tie): else the deadline that fires is its parent's, and
        // the parent reports it.
        let own_deadline = deadline.is_some_and(|at| parent.deadline().is_none_or(|p| at < p));
        // The deadline's origin (for its cause) is the scope's name, formatted only if needed.
        let deadline = deadline.map(|at| (at, Cow::Owned(info.to_string())));
        let cx = parent.child_for_scope(deadline, &config.bindings);
        let limit = config.limit.filter(|n| *n > 0);
        let enclosing = crate::cx::enclosing_scope();
        // In no scope's or service's code: no scope or service above reports what comes down
        // (unless its context is handed down, `Config::parent(s.cx().clone())`: see
        // `ScopeObs::cancelled`).
        let topmost = enclosing.is_none();
        // Made in an application's main work outside any scope, with no grace of its own: the
        // application's grace at the shutdown (see `app::work_grace`).
        #[cfg(not(loom))]
        let shutdown_grace = match (config.shutdown_grace, topmost && config.grace.is_none()) {
            (None, true) => crate::app::work_grace(),
            (set, _) => set,
        };
        #[cfg(loom)]
        let shutdown_grace = config.shutdown_grace;
        Scope {
            shared: Owner(Arc::new(Shared {
                obs: crate::observe::ScopeObs::scope(&info, &cx, &parent, own_deadline, topmost),
                tracker: Tracker::new(enclosing),
                cx,
                info,
                grace: config.grace.unwrap_or(crate::config::DEFAULT_GRACE),
                grace_set: config.grace.is_some(),
                shutdown_grace,
                admission: Admission::new(limit),
                policy: outcome::Policy::new(),
                control: Mutex::new(Vec::new()),
                requested: AtomicBool::new(false),
                run_ended: AtomicBool::new(false),
                child_panicked: AtomicBool::new(false),
                won: AtomicBool::new(false),
                answered_by: AtomicU8::new(OPEN),
                gave_up: AtomicU64::new(0),
                last_poll_from: AtomicU64::new(0),
                after_body: AtomicU8::new(0),
                background: Mutex::new(Background::default()),
                failures: Mutex::new(Vec::new()),
                not_kept: AtomicUsize::new(0),
                callback_panic: crate::error::KeptPanic::default(),
                panic_below: Mutex::new(None),
                lost: Mutex::new(LostTable::default()),
                own_cxs: own_cx::OwnCxs::default(),
                items_own: Mutex::new(ItemsOwn::Off),
            })),
            local: Mutex::new(LocalQueue {
                tasks: VecDeque::new(),
                finished: false,
            }),
            // The limit's value decides, whatever was set before it (`limit(0).limit(4)`).
            config_error: config
                .error
                .map(|e| *e)
                .or_else(|| (config.limit == Some(0)).then_some(ConfigError::ZeroLimit)),
            _brand: PhantomData,
        }
    }

    /// The first panic a scope entered under this one ended with, on one line (see
    /// `Shared::panic_below`).
    #[cfg_attr(loom, allow(dead_code))] // Reason: the entry point is not built under loom.
    pub(crate) fn panic_below(&self) -> Option<String> {
        self.shared.panic_below.lock().clone()
    }

    /// The part of the scope its children share (for a pattern whose children act on their
    /// scope: a supervisor's give-up).
    pub(crate) fn shared_handle(&self) -> Arc<Shared<E>> {
        Arc::clone(&self.shared)
    }

    /// Whether a child panicked (its panic is the scope's outcome under fail-fast, unless a
    /// failure came first).
    #[cfg_attr(loom, allow(dead_code))] // Reason: the entry point is not built under loom.
    pub(crate) fn child_panicked(&self) -> bool {
        // Acquire: pairs with the store of a child's panic.
        self.shared.child_panicked.load(Ordering::Acquire)
    }

    /// The scope's context.
    ///
    /// # Examples
    ///
    /// It holds the scope's slots, and the body runs with it as the ambient context:
    ///
    /// ```
    /// use scope::{Config, Cx, Interrupted, Scope, Slot};
    /// static USER: Slot<&'static str> = Slot::new("USER");
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().bind(&USER, "ada"));
    /// assert_eq!(s.cx().get(&USER), Some(&"ada"));
    /// s.run(async {
    ///     assert!(Cx::current().same_as(s.cx()));
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn cx(&self) -> &Cx {
        &self.shared.cx
    }

    /// Who the scope is (its id, name and location).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("batch"));
    /// assert_eq!(s.info().name(), Some("batch"));
    /// let other: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("batch"));
    /// assert_ne!(s.info().id(), other.info().id());
    /// ```
    pub fn info(&self) -> &TaskInfo {
        &self.shared.info
    }

    /// Cancels the scope and its children with an explicit reason. Returns whether this call
    /// cancelled it (the first cause stays).
    ///
    /// The body has the last word: if it returns a value after the cancel, that value is the
    /// scope's result (a graceful stop is a success); dropped (after the grace) or returning
    /// the interruption, the result is the cancellation. A cancel after the body returned
    /// that stops a child short is the result too (see [`run`](Scope::run)).
    ///
    /// # Panics
    ///
    /// As [`Cx::cancel`](crate::Cx::cancel): if an [`on_cancel`](crate::Cx::on_cancel)
    /// callback panics, the first such panic is resumed here, after the cancel has reached the
    /// whole tree.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         assert!(s.cancel("user hit stop"));
    ///         assert!(!s.cancel("again")); // the first cause stays
    ///         // Still waiting when the cancel lands: the body is dropped.
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().to_string(), "cancelled: user hit stop");
    /// # });
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        self.shared.cx.cancel(reason)
    }

    /// Whether the scope refuses new children: its body returned, or it was cancelled; or an
    /// enclosing scope (the one whose code made this scope) has ended, finished or aborted by
    /// its grace's end (its spawned and blocking children are refused then, as work of a scope
    /// that is over; an in-place child is admitted, and stops with the scope's run). So a
    /// scope made in a body and run after that body's scope ended spawns nothing onto the
    /// runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     assert!(!s.is_closed());
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// assert!(s.is_closed()); // the body has returned
    /// assert_eq!(s.try_spawn(async {}).unwrap_err(), SpawnError::Closed);
    /// # });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed_here() || self.shared.tracker.is_sealed_anywhere()
    }

    /// Whether the scope itself is closed or cancelled (what a spawn asks first; the
    /// enclosing scopes' trackers refuse it when it enters them).
    #[inline]
    pub(crate) fn closed_here(&self) -> bool {
        self.shared.tracker.is_closed() || self.shared.is_cancelled_own()
    }

    /// The grace set for this scope: how long a cancelled child gets before it is aborted
    /// (zero unless [`Config::grace`](crate::Config::grace) set one). When the application's
    /// shutdown cancels it, a scope with a
    /// [shutdown grace](crate::Config::shutdown_grace) gives that one instead, and a scope
    /// whose grace was never set its enclosing scope's, so this may not be what they get;
    /// [`current_grace`](crate::current_grace), called in the scope's code, gives the grace
    /// in effect.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().grace(Duration::from_millis(250)));
    /// assert_eq!(s.grace(), Duration::from_millis(250));
    /// ```
    pub fn grace(&self) -> Duration {
        self.shared.grace
    }
}

impl<'s, 'env, E> Scope<'s, 'env, E, Sendable> {
    /// Enters a scope: creates its context (a child of `config`'s parent, by default the
    /// ambient context), resolves its timeout into a deadline, and binds its slots. Nothing
    /// starts until the scope is [run](Scope::run), but a timeout's clock starts here: a scope
    /// made now and run later has the time between counted.
    ///
    /// Spawned children need a tokio runtime; spawned outside one, they run in place instead
    /// (on the scope's own task), and deadlines are checked when polled but do not wake a
    /// sleeping task.
    ///
    /// # Examples
    ///
    /// By default the scope's context is a child of the ambient one:
    ///
    /// ```
    /// use scope::{Config, Cx, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let request = Cx::root();
    /// let out = request
    ///     .clone()
    ///     .run(async {
    ///         let s = &Scope::new(Config::new());
    ///         request.cancel("client went away");
    ///         s.run(async { Ok::<_, Interrupted>(()) }).await
    ///     })
    ///     .await;
    /// let Err(Interrupted::Cancelled(c)) = out else { unreachable!() };
    /// assert_eq!(c.cause().to_string(), "parent cancelled: client went away");
    /// # });
    /// ```
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self::enter(config)
    }
}

impl<'s, 'env, E> Scope<'s, 'env, E, Local> {
    /// Enters a scope whose in-place children need not be `Send` (see [`Scope::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let names = Rc::new(vec!["a", "bb"]); // not `Send`
    /// let s = &Scope::new_local(Config::new());
    /// let total = s
    ///     .run(async {
    ///         let first = s.spawn_in_place(async { Ok::<_, Interrupted>(names[0].len()) });
    ///         let second = s.spawn_in_place(async { Ok::<_, Interrupted>(names[1].len()) });
    ///         Ok::<_, Interrupted>(first.await? + second.await?)
    ///     })
    ///     .await;
    /// assert_eq!(total.unwrap(), 3);
    /// # });
    /// ```
    #[must_use]
    pub fn new_local(config: Config) -> Self {
        Self::enter(config)
    }
}

/// A slot of a scope's limit, held until a child is spawned into it (or it is dropped, which
/// hands it on). Without a limit it holds nothing and only stands for "a child may start".
/// Once the scope's body has returned, nothing can be spawned into it (the scope is closed):
/// its slot passes on then, wherever the reservation is kept, so that the children queued
/// behind it start. Forgotten (`mem::forget`) while the body runs, it keeps its slot until
/// the body returns, as a forgotten semaphore permit keeps its own.
///
/// Dropped by the body, its slot is free at once (a `try_reserve` right after finds it), but
/// a queued spawned or blocking child it passes to starts when that poll of the body ends:
/// a body that fails right after the drop must start no more children. So the body must not
/// block its thread (`block_in_place`, a channel's blocking `recv`) waiting for that child
/// in the same poll; an `.await` lets it start.
///
/// # Examples
///
/// ```
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new().limit(1));
/// let out = s
///     .run(async {
///         let slot = s.reserve().await?;
///         drop(slot); // not needed after all: the slot passes on
///         let slot = s.reserve().await?;
///         slot.spawn_named("only", async { Ok::<_, Interrupted>(7) }).await
///     })
///     .await;
/// assert_eq!(out.unwrap(), 7);
/// # });
/// ```
#[must_use = "a reserved slot is given back when dropped: start a child with it"]
pub struct Reserved<'s, 'env, E, M: Mode> {
    scope: &'s Scope<'s, 'env, E, M>,
    /// It holds a slot of the limit (`false` without a limit, or once spawned into).
    slot: bool,
    /// Its place in the start window (`NO_SEQ` without a limit, or once spawned into).
    seq: Seq,
}

impl<'s, 'env, E, M: Mode> Reserved<'s, 'env, E, M> {
    fn new(scope: &'s Scope<'s, 'env, E, M>, slot: bool, seq: Seq) -> Self {
        Reserved { scope, slot, seq }
    }

    /// Hands the slot (and the place) over to a child being spawned: the child gives them
    /// back when it starts and ends.
    fn take(mut self) -> spawn::Admit {
        // A slot given back as the body returned is not the child's: the spawn is refused
        // then anyway (the scope is closed), and gives nothing back.
        let slot = std::mem::take(&mut self.slot) && self.scope.shared.admission.claim_reserved();
        spawn::Admit::Held {
            slot,
            seq: std::mem::replace(&mut self.seq, NO_SEQ),
        }
    }
}

impl<'s, 'env, E, M> Reserved<'s, 'env, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// Spawns a child on the runtime into the reserved slot (see [`Scope::spawn`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(1));
    /// let out = s
    ///     .run(async { s.reserve().await?.spawn(async { Ok::<_, Interrupted>(2) }).await })
    ///     .await;
    /// assert_eq!(out.unwrap(), 2);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, fut: F) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        self.spawn_with(TaskInfo::here(None), fut)
    }

    /// [`spawn`](Reserved::spawn) with a name.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(1));
    /// s.run(async {
    ///     let child = s.reserve().await?.spawn_named("first", async { Ok::<_, Interrupted>(()) });
    ///     assert_eq!(child.info().name(), Some("first"));
    ///     child.await
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(self, name: impl Into<Cow<'static, str>>, fut: F) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        self.spawn_with(TaskInfo::here(Some(name.into())), fut)
    }

    /// [`spawn`](Reserved::spawn) as `info` (a map's items: at the map's call site).
    pub(crate) fn spawn_with<F>(self, info: TaskInfo, fut: F) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        let scope = self.scope;
        match scope.spawn_inner(info, fut, self.take(), false) {
            Ok(child) => child,
            Err(e) => unreachable!("a reserved spawn refuses only through its handle: {e}"),
        }
    }
}

impl<'s, 'env, E> Reserved<'s, 'env, E, Sendable>
where
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// [`spawn_in_place`](Reserved::spawn_in_place) as `info` (a map's items: at the map's
    /// call site).
    pub(crate) fn spawn_in_place_with<F>(self, info: TaskInfo, fut: F) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'env,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'env,
    {
        let scope = self.scope;
        let admit = self.take();
        scope.in_place_boxed(info, fut, |t| Box::pin(t), admit, false)
    }
}

impl<E, M: Mode> Drop for Reserved<'_, '_, E, M> {
    fn drop(&mut self) {
        let shared = &self.scope.shared;
        // Never spawned into: its place and its slot pass on.
        shared.child_started(self.seq);
        if self.slot {
            shared.release_reserved_slot();
        }
    }
}

impl<E, M: Mode> fmt::Debug for Reserved<'_, '_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserved")
            .field("scope", &self.scope.shared.info)
            .field("slot", &self.slot)
            .finish()
    }
}

// The public methods of a scope live here, with the type, so that the compiler names them
// `Scope::spawn` (not by the file they would otherwise sit in) when a bound of theirs fails;
// the machinery they call is in `spawn.rs` and `run.rs`.

impl<'s, 'env, E, M> Scope<'s, 'env, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// Spawns a child on the tokio runtime, in parallel. It must be `Send + 'static`; to
    /// borrow from outside the scope, use [`spawn_in_place`](Scope::spawn_in_place). Named by
    /// its call site.
    ///
    /// It starts once the scope runs (spawned before [`run`](Scope::run), it waits for it)
    /// and, with a [limit](crate::Config::limit), once a slot is free: until then it waits in
    /// the scope's queue, in spawn order, as a future, not a task. If the scope is closed, the
    /// child never starts and its handle resolves to [`Interrupted::NotStarted`] (use
    /// [`try_spawn`](Scope::try_spawn) to be told instead).
    ///
    /// A child cannot hold its scope's handle, so children do not spawn siblings: rustc
    /// reports a child that uses `s` as a borrow error on the scope ("does not live long
    /// enough", E0597, or "temporary value dropped while borrowed", E0716). Spawn from the
    /// body, or open a nested scope inside the child to fan out there.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let child = s.spawn(async { Ok::<_, Interrupted>(6 * 7) });
    ///         assert_eq!(child.await?, 42);
    ///         s.cancel("closing");
    ///         // Closed: this child never starts; its handle says so.
    ///         let late = s.spawn(async { Ok::<_, Interrupted>(0) });
    ///         assert!(matches!(late.await, Err(Interrupted::NotStarted(_))));
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert!(out.is_ok()); // the body returned on its own after the cancel: its value stands
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&'s self, fut: F) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        let info = TaskInfo::here(None);
        match self.spawn_inner(info, fut, spawn::Admit::Queue, false) {
            Ok(child) => child,
            Err(e) => unreachable!("spawn refuses only through its handle: {e}"),
        }
    }

    /// [`spawn`](Scope::spawn) with a name.
    ///
    /// # Examples
    ///
    /// The name shows up in the cause the siblings see:
    ///
    /// ```
    /// use scope::{Config, Scope};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let child = s.spawn_named("db", async { Err::<u8, E>("connection refused".into()) });
    ///         assert_eq!(child.info().name(), Some("db"));
    ///         Ok::<_, E>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().to_string(), "connection refused"); // the child's own error
    /// let cause = s.cx().cause().unwrap();
    /// assert_eq!(cause.to_string(), "sibling task `db` failed: connection refused");
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(
        &'s self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        self.spawn_as(TaskInfo::here(Some(name.into())), fut)
    }

    /// [`spawn_named`](Scope::spawn_named) as the task `info` (the patterns' children, known
    /// by their user's call site).
    pub(crate) fn spawn_as<F>(&'s self, info: TaskInfo, fut: F) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        match self.spawn_inner(info, fut, spawn::Admit::Queue, false) {
            Ok(child) => child,
            Err(e) => unreachable!("spawn refuses only through its handle: {e}"),
        }
    }

    /// Like [`spawn`](Scope::spawn), but refuses with a typed error when the scope is closed
    /// ([`SpawnError::Closed`]) or no slot of its limit is free ([`SpawnError::Full`]: the
    /// children holding or waiting for a slot fill the limit), instead of handing back a child
    /// that never starts or queueing it behind a full limit. A child it accepts before the
    /// scope runs waits for the run, as with `spawn`, and on a busy runtime it may wait
    /// briefly for the children spawned before it to start (the scope's start window). Racing
    /// spawns from other threads, it is decided as its child joins the queue: `Full` if the
    /// children ahead of it fill the limit by then. A close or cancel from another thread that
    /// comes after its look at the scope (or at an enclosing one) is not reported as `Closed`:
    /// the child is handed back and never starts, as one from [`spawn`](Scope::spawn) after
    /// the close (its handle reads [`NotStarted`](crate::Interrupted::NotStarted)).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(1));
    /// s.run(async {
    ///     let first = s.try_spawn(async { Ok::<_, Interrupted>(1) }).unwrap();
    ///     let refused = s.try_spawn(async { Ok::<_, Interrupted>(2) });
    ///     assert_eq!(refused.unwrap_err(), SpawnError::Full);
    ///     assert_eq!(first.await?, 1);
    ///     // The first child has finished: there is room again.
    ///     let second = s.try_spawn(async { Ok::<_, Interrupted>(2) }).unwrap();
    ///     assert_eq!(second.await?, 2);
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&'s self, fut: F) -> Result<Child<'s, OkOf<F, E>>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        self.spawn_inner(TaskInfo::here(None), fut, spawn::Admit::Refuse, false)
    }

    /// Runs a blocking closure on tokio's blocking pool, as a child of the scope: for CPU-bound
    /// work or a blocking API. The closure gets the child's context: it polls
    /// [`is_cancelled`](crate::Cx::is_cancelled) (a few atomic loads), or registers an
    /// [`on_cancel`](crate::Cx::on_cancel) callback that unblocks what it waits on.
    ///
    /// **A blocking thread cannot be aborted.** The scope waits for the closure to return,
    /// whatever happens (a failure, a cancellation, the grace running out): cancellation only
    /// asks, through the context. Check it often. A drop cannot wait: if the scope's future
    /// is dropped, the closure runs on to its end after the drop returns (its context
    /// cancelled), and the scopes around it still wait for it. A program's end does not:
    /// `#[scope::main]`'s forced exit (its grace run out, or a second signal) ends the
    /// process with the closure still running. Its
    /// outcome, panics included, is that of any child; under a limit it takes a slot. So an
    /// error it returns after its context was cancelled (its scope's cancel, or its handle's
    /// [`cancel`](crate::Child::cancel) or [`abort`](crate::Child::abort)) is taken for that
    /// cancel's consequence, not a failure of the scope, and its handle reads the cancel. A
    /// value it returns after its handle's [`abort`](crate::Child::abort) is dropped too, as a
    /// spawned child's future is at an abort, and its handle reads the abort; a value it
    /// returns after a cancel stands (the cancel only asks, even once the grace has run out).
    /// Called where no tokio runtime runs, the closure never runs and its handle says so
    /// ([`Interrupted::NotStarted`](crate::Interrupted::NotStarted), "no tokio runtime to run
    /// blocking work on").
    ///
    /// On tokio's paused clock (`start_paused`, `time::pause`) time does not move on its own
    /// while a blocking closure runs: tokio advances a paused clock only when the runtime is
    /// idle, and a blocking task in flight keeps it from being idle. A deadline or a grace
    /// then never comes while the closure waits for one (a closure that polls its context
    /// for a scope's timeout loops for ever); advance the clock by hand
    /// (`tokio::time::advance`), or test such code on the real clock.
    ///
    /// # Examples
    ///
    /// A blocking loop that polls its context stops soon after a cancel, and the scope
    /// returns only after it has:
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().grace(Duration::from_secs(5)));
    /// let out = s
    ///     .run(async {
    ///         let crunch = s.spawn_blocking(|cx| {
    ///             let mut rounds = 0u64;
    ///             while !cx.is_cancelled() {
    ///                 std::thread::sleep(Duration::from_millis(1)); // a slice of real work
    ///                 rounds += 1;
    ///             }
    ///             Ok::<_, Interrupted>(rounds)
    ///         });
    ///         tokio::time::sleep(Duration::from_millis(20)).await;
    ///         crunch.cancel("enough");
    ///         let rounds = crunch.await;
    ///         Ok::<_, Interrupted>(rounds.is_ok())
    ///     })
    ///     .await;
    /// assert!(out.unwrap(), "the closure returned on its own after the cancel");
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, O>(&'s self, f: F) -> Child<'s, O::Ok>
    where
        F: FnOnce(&Cx) -> O + Send + 'static,
        O: TaskOutput<E>,
        O::Ok: Send + 'static,
    {
        self.blocking_inner(TaskInfo::here(None), f)
    }

    /// Spawns a *background* child: one the scope stops when its body returns, instead of
    /// waiting for it (a keep-alive ping, a progress reporter, a cache refresher). When the
    /// body returns, the background children are cancelled (cause
    /// [`Cause::Finished`](crate::Cause::Finished): not an error; a body that fails cancels
    /// them with its failure instead, as every child) and, after the scope's grace (during
    /// the application's shutdown, its shutdown grace), aborted; the scope returns the body's
    /// value once they are gone. Their failure before that still fails the scope; what they
    /// return once stopped does not. One not yet polled when the body returns never starts,
    /// as any child not yet polled when its cancel comes: its clean-up after the cancel never
    /// runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let pings = Arc::new(AtomicUsize::new(0));
    /// let p = pings.clone();
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         s.spawn_background(async move {
    ///             loop {
    ///                 tokio::time::sleep(Duration::from_secs(1)).await;
    ///                 p.fetch_add(1, Ordering::SeqCst); // keep the session alive
    ///             }
    ///         });
    ///         tokio::time::sleep(Duration::from_millis(3500)).await; // the real work
    ///         Ok::<_, Interrupted>("done")
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), "done"); // the ping's end is not a failure
    /// assert_eq!(pings.load(Ordering::SeqCst), 3);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_background<F>(&'s self, fut: F) -> Child<'s, OkOf<F, E>>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        match self.spawn_inner(TaskInfo::here(None), fut, spawn::Admit::Queue, true) {
            Ok(child) => child,
            Err(e) => unreachable!("spawn refuses only through its handle: {e}"),
        }
    }

    /// Waits for a free slot of the scope's [limit](crate::Config::limit), then hands it over
    /// as a [`Reserved`] to spawn a child into: errgroup's blocking `Go`. A spawning loop that
    /// reserves before it creates each child holds at most as many children as the limit,
    /// however many items it goes through. Slots are handed out in the order they were asked
    /// for, after the children already queued. Without a limit it resolves at once; with
    /// one, slots are handed out only while the scope runs, so a `reserve()` awaited before
    /// `run` (in the same task, not joined with it) waits for good: reserve inside the body.
    ///
    /// Resolves to [`Interrupted::NotStarted`] if the scope closes first (a failure under
    /// fail-fast, a cancellation, its body's return), so that `?` ends the loop: also when a
    /// slot was handed to it just before the close, and its task had not looked yet (the slot
    /// passes on).
    ///
    /// # Cancel safety
    ///
    /// Dropped before it resolves, the `Reserve` gives up its place in the line (a slot it
    /// was granted goes to the next in line); nothing else is lost. A `select!` loop that
    /// makes a new `reserve()` each turn goes to the back of the line each time: pin one
    /// outside the loop and poll it by `&mut` until it resolves. Forgotten (`mem::forget`)
    /// instead, it keeps its place: the slot it is granted stays with it until the body
    /// returns, as a forgotten [`Reserved`] keeps its own, and what is queued behind it waits.
    ///
    /// # Examples
    ///
    /// A thousand items (a million would do the same), sixteen at a time, never more than
    /// sixteen futures alive:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(16));
    /// s.run(async {
    ///     for item in 0..1_000u64 {
    ///         let slot = s.reserve().await?;
    ///         slot.spawn(async move { Ok::<_, Interrupted>(item * 2) });
    ///     }
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn reserve(&'s self) -> Reserve<'s, 'env, E, M> {
        Reserve::new(self)
    }

    /// Takes a free slot of the scope's [limit](crate::Config::limit) now, without waiting,
    /// or says why not: errgroup's `TryGo`, with the future still in the caller's hands
    /// when it is refused (as `tokio::sync::mpsc::Sender::try_reserve` keeps the message).
    /// [`try_spawn`](Scope::try_spawn) takes the future first and drops it on a refusal;
    /// reserve first where the future holds something to answer with (a connection to tell
    /// "busy", a job to put back in its queue).
    ///
    /// Without a limit it always succeeds while the scope is open. With one:
    /// [`SpawnError::Full`] while the children holding or waiting for a slot fill the
    /// limit (a waiting [`reserve`](Scope::reserve) counts), or while a slot is free but the
    /// start window holds it (children spawned earlier not yet polled once: a slot handed
    /// out now would jump them; brief, and [`try_spawn`](Scope::try_spawn) queues the child
    /// behind them instead), and [`SpawnError::NotRunning`]
    /// before the scope runs (slots are handed out only while it runs). Either way:
    /// [`SpawnError::Closed`] once the body has returned or the scope was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(1));
    /// s.run(async {
    ///     let first = s.try_reserve().unwrap().spawn(async { Ok::<_, Interrupted>(1) });
    ///     let job = async { Ok::<_, Interrupted>(2) };
    ///     // Full: `job` is still ours, to run later or elsewhere.
    ///     assert_eq!(s.try_reserve().unwrap_err(), SpawnError::Full);
    ///     assert_eq!(first.await?, 1);
    ///     let second = s.try_reserve().unwrap().spawn(job);
    ///     assert_eq!(second.await?, 2);
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn try_reserve(&'s self) -> Result<Reserved<'s, 'env, E, M>, SpawnError> {
        if self.is_closed() {
            return Err(SpawnError::Closed);
        }
        if !self.shared.admission.is_limited() {
            return Ok(Reserved::new(self, false, NO_SEQ));
        }
        let seq = self.shared.admission.try_reserve()?;
        Ok(Reserved::new(self, true, seq))
    }

    /// [`reserve`](Scope::reserve), then [`spawn`](Scope::spawn) into the slot: waits until
    /// the child can start, then starts it.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped while it waits for a slot (a `select!` branch that lost, a
    /// `timeout`), it drops `fut` unstarted, and the slot it waited for goes to the next in
    /// line. To keep the future across such a wait, [`reserve`](Scope::reserve) first and
    /// spawn into the slot once granted: a dropped `reserve` loses no future of yours (only
    /// its place in the line, so keep one `Reserve` across the turns of a `select!` loop
    /// rather than making a new one each turn).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(4));
    /// let total = s
    ///     .run(async {
    ///         let mut handles = Vec::new();
    ///         for i in 1..=100u64 {
    ///             handles.push(s.spawn_when_free(async move { Ok::<_, Interrupted>(i) }).await?);
    ///         }
    ///         let mut total = 0;
    ///         for h in handles {
    ///             total += h.await?;
    ///         }
    ///         Ok::<_, Interrupted>(total)
    ///     })
    ///     .await;
    /// assert_eq!(total.unwrap(), 5050);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_when_free<F>(
        &'s self,
        fut: F,
    ) -> impl Future<Output = Result<Child<'s, OkOf<F, E>>, Interrupted>> + use<'s, 'env, E, M, F>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
    {
        let info = TaskInfo::here(None);
        let reserve = self.reserve();
        async move { Ok(reserve.await?.spawn_with(info, fut)) }
    }
}

macro_rules! in_place_methods {
    ($mode:ty, $doc:literal $(, $send:ident)?) => {
        impl<'s, 'env, E> Scope<'s, 'env, E, $mode>
        where
            E: From<Interrupted> + fmt::Display + Send + 'static,
        {
            #[doc = concat!("Starts an in-place child: polled by the scope's own future, ", $doc)]
            ///
            /// It may borrow from outside the scope. It runs concurrently with the body (also
            /// while the body is itself waiting), on the scope's task, not in parallel. Like a
            /// spawned child, it starts once the scope runs and a slot of its limit is free.
            ///
            /// It cannot hold its scope's handle (it may borrow only what outlives the scope):
            /// rustc reports a child that uses `s` as a borrow error on the scope ("does not
            /// live long enough", E0597, or "temporary value dropped while borrowed", E0716).
            /// Spawn siblings from the body, or open a nested scope inside the child.
            ///
            /// # Examples
            ///
            /// It borrows from outside the scope and runs while the body waits:
            ///
            /// ```
            /// use scope::{Config, Interrupted, Scope};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let greeting = String::from("hello");
            /// let (tx, rx) = tokio::sync::oneshot::channel();
            /// let s = &Scope::new(Config::new());
            /// let out = s
            ///     .run(async {
            ///         let borrowed = &greeting;
            ///         s.spawn_in_place(async move { tx.send(borrowed.len()).unwrap() });
            ///         Ok::<_, Interrupted>(rx.await.unwrap())
            ///     })
            ///     .await;
            /// assert_eq!(out.unwrap(), 5);
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place<F>(&'s self, fut: F) -> Child<'s, OkOf<F, E>>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                OkOf<F, E>: $($send +)? 'env,
            {
                self.in_place_boxed(TaskInfo::here(None), fut, |t| Box::pin(t), spawn::Admit::Queue, false)
            }

            /// [`spawn_in_place`](Self::spawn_in_place) with a name.
            ///
            /// # Examples
            ///
            /// ```
            /// use scope::{Config, Scope};
            /// type E = Box<dyn std::error::Error + Send + Sync>;
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let input = "12a";
            /// let s = &Scope::new(Config::new());
            /// let out = s
            ///     .run(async {
            ///         let child = s.spawn_in_place_named("parse", async { input.parse::<u32>().map_err(E::from) });
            ///         assert_eq!(child.info().name(), Some("parse"));
            ///         Ok::<_, E>(child.await?)
            ///     })
            ///     .await;
            /// assert_eq!(out.unwrap_err().to_string(), "invalid digit found in string");
            /// let cause = s.cx().cause().unwrap();
            /// assert_eq!(cause.to_string(), "sibling task `parse` failed: invalid digit found in string");
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place_named<F>(
                &'s self,
                name: impl Into<Cow<'static, str>>,
                fut: F,
            ) -> Child<'s, OkOf<F, E>>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                OkOf<F, E>: $($send +)? 'env,
            {
                self.in_place_boxed(TaskInfo::here(Some(name.into())), fut, |t| Box::pin(t), spawn::Admit::Queue, false)
            }

            /// [`spawn_in_place`](Self::spawn_in_place) that refuses with a typed error when
            /// the scope is closed or no slot of its limit is free. (A close from another
            /// thread that races it is as for [`try_spawn`](Scope::try_spawn).)
            ///
            /// # Examples
            ///
            /// ```
            /// use scope::{Config, Interrupted, Scope, SpawnError};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let s = &Scope::new(Config::new().limit(1));
            /// let out = s
            ///     .run(async {
            ///         let _busy = s.try_spawn_in_place(std::future::pending::<()>()).unwrap();
            ///         assert_eq!(s.try_spawn_in_place(async {}).unwrap_err(), SpawnError::Full);
            ///         s.cancel("done");
            ///         assert_eq!(s.try_spawn_in_place(async {}).unwrap_err(), SpawnError::Closed);
            ///         Ok::<_, Interrupted>(())
            ///     })
            ///     .await;
            /// assert!(out.is_ok());
            /// # });
            /// ```
            #[track_caller]
            pub fn try_spawn_in_place<F>(
                &'s self,
                fut: F,
            ) -> Result<Child<'s, OkOf<F, E>>, SpawnError>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                OkOf<F, E>: $($send +)? 'env,
            {
                let info = TaskInfo::here(None);
                let admit = self.try_in_place_check()?;
                self.try_in_place_boxed(info, fut, |t| Box::pin(t), admit, false)
            }

            /// [`reserve`](Scope::reserve), then
            /// [`spawn_in_place`](Self::spawn_in_place) into the slot.
            ///
            /// # Examples
            ///
            /// ```
            /// use scope::{Config, Interrupted, Scope};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let lines = vec!["a", "bb", "ccc"];
            /// let s = &Scope::new(Config::new().limit(2));
            /// let out = s
            ///     .run(async {
            ///         let mut handles = Vec::new();
            ///         for line in &lines {
            ///             // Borrows `lines`; at most two at a time.
            ///             handles.push(s.spawn_in_place_when_free(async move { Ok::<_, Interrupted>(line.len()) }).await?);
            ///         }
            ///         let mut total = 0;
            ///         for h in handles {
            ///             total += h.await?;
            ///         }
            ///         Ok::<_, Interrupted>(total)
            ///     })
            ///     .await;
            /// assert_eq!(out.unwrap(), 6);
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place_when_free<F>(
                &'s self,
                fut: F,
            ) -> impl Future<Output = Result<Child<'s, OkOf<F, E>>, Interrupted>> + use<'s, 'env, E, F>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                OkOf<F, E>: $($send +)? 'env,
            {
                let info = TaskInfo::here(None);
                let reserve = self.reserve();
                async move {
                    let reserved = reserve.await?;
                    let admit = reserved.take();
                    Ok(self.in_place_boxed(info, fut, |t| Box::pin(t), admit, false))
                }
            }
        }

        impl<'s, 'env, E> Scope<'s, 'env, E, $mode>
        where
            E: From<Interrupted> + fmt::Display + Send + 'static,
        {
            /// [`spawn_background`](Scope::spawn_background) for an in-place child (which may
            /// borrow from outside the scope).
            ///
            /// # Examples
            ///
            /// ```
            /// use std::cell::Cell;
            /// use std::time::Duration;
            /// use scope::{Config, Interrupted, Scope};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
            /// let done = std::sync::atomic::AtomicUsize::new(0);
            /// let reports = Cell::new(0);
            /// let s = &Scope::new_local(Config::new());
            /// let out = s
            ///     .run(async {
            ///         s.spawn_in_place_background(async {
            ///             loop {
            ///                 tokio::time::sleep(Duration::from_millis(100)).await;
            ///                 reports.set(reports.get() + 1); // print the progress
            ///                 let _ = done.load(std::sync::atomic::Ordering::Relaxed);
            ///             }
            ///         });
            ///         tokio::time::sleep(Duration::from_millis(450)).await;
            ///         Ok::<_, Interrupted>(())
            ///     })
            ///     .await;
            /// assert!(out.is_ok());
            /// assert_eq!(reports.get(), 4);
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place_background<F>(&'s self, fut: F) -> Child<'s, OkOf<F, E>>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                OkOf<F, E>: $($send +)? 'env,
            {
                self.in_place_boxed(TaskInfo::here(None), fut, |t| Box::pin(t), spawn::Admit::Queue, true)
            }
        }

        impl<'s, 'env, E> Reserved<'s, 'env, E, $mode>
        where
            E: From<Interrupted> + fmt::Display + Send + 'static,
        {
            /// Starts an in-place child into the reserved slot (see
            /// [`Scope::spawn_in_place`]).
            ///
            /// # Examples
            ///
            /// ```
            /// use scope::{Config, Interrupted, Scope};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let word = String::from("borrowed");
            /// let s = &Scope::new(Config::new().limit(1));
            /// let out = s
            ///     .run(async { s.reserve().await?.spawn_in_place(async { Ok::<_, Interrupted>(word.len()) }).await })
            ///     .await;
            /// assert_eq!(out.unwrap(), 8);
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place<F>(self, fut: F) -> Child<'s, OkOf<F, E>>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                OkOf<F, E>: $($send +)? 'env,
            {
                let scope = self.scope;
                let admit = self.take();
                scope.in_place_boxed(TaskInfo::here(None), fut, |t| Box::pin(t), admit, false)
            }
        }

    };
}

in_place_methods!(
    Sendable,
    "so it must be `Send` (use a [`LocalScope`](crate::LocalScope) otherwise).",
    Send
);
in_place_methods!(Local, "and need not be `Send`.");

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M>
where
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// Runs the scope **fail-fast** and returns the body's value, or the first failure (a
    /// child's or the body's own error, unchanged), or the cancellation.
    ///
    /// The first failure cancels the siblings (cause:
    /// [`SiblingFailed`](crate::Cause::SiblingFailed), naming the task), and no child waiting
    /// for a slot starts after it; later failures are its consequences and are dropped. The
    /// returned future resolves only after every child has ended. A scope runs once; a second
    /// `run` returns [`ConfigError::AlreadyRun`].
    ///
    /// The body has the last word on an outside cancellation (its parent, its deadline, a
    /// signal, [`cancel`](Scope::cancel)): if it then returns a value on its own, that is the
    /// result; if it is dropped (after the grace) or returns an error, the result is the
    /// cancellation (an error after the cancel is its consequence: the scope cannot tell the
    /// interruption returned with `?` from an error of the body's own, which is dropped). A
    /// child's failure (an error before the cancel) or panic wins over the body's value, and
    /// over the body's error unless that error came first: the first failure stays, and a
    /// child's panic after it is not kept (a panic is kept if no failure was). A panic of the
    /// body itself outranks everything, a child's earlier failure included (see "Panics";
    /// `child.await.unwrap()` on a failed child is such a panic); a
    /// child's error after the cancel is the cancel's consequence, as the body's is, for the
    /// same reason, and a body that answers with a value has the last word over it too
    /// ([`run_all`](Scope::run_all) keeps such errors). An error the body returned before
    /// the cancel is the first failure, and stays. (Which failure is first is decided as the
    /// scope keeps it, after the error's `Display` has described it for the siblings' cause:
    /// a child's failure kept while a slow `Display` of the body's error runs comes first.) When
    /// the grace runs out while the body still runs, the spawned tasks below (at any depth)
    /// are aborted and this scope's in-place children dropped, and the body is polled once
    /// more when they have ended (or 100 ms after the abort, for work no abort stops, such as
    /// a blocking closure waiting on the body's locals; with a grace of zero, which has no timer,
    /// at most 20 ms, yielding to the runtime meanwhile), then
    /// dropped if it still runs: a body waiting on a nested scope that answered the cancel
    /// gets that scope's value, which its stragglers no longer hold up (a nested scope
    /// cancelled by this scope's cancel, or on its own before this abort, takes the abort as
    /// the end of its own grace, however long, and drops its in-place children). (What the body runs in that poll runs after the abort began:
    /// a [`shield_for`](crate::shield_for) it starts there is not waited for.) An aborted
    /// child's handle reads the interruption in that poll. But no abort stops a
    /// [`spawn_blocking`](Scope::spawn_blocking) closure or a task stuck in synchronous code:
    /// if such a child returns before that poll, the poll hands its value to the body, as the
    /// grace would have, and a body that awaits it and returns on its own has the last word,
    /// past its deadline too. A body that must not return a value once cancelled calls
    /// [`scope::check()?`](crate::check) before it returns (any cancel then wins, within the
    /// grace too).
    ///
    /// A value the body returned *before* the cancel answers nothing: if the cancel then stops
    /// a child short (the child never started, was aborted, or ended with an error or the
    /// interruption), the result is the cancellation, so work the deadline cut is never
    /// reported as the body's success (a child's panic is still the result: it always wins).
    /// Children that answer the cancel with values of their own leave the body's value as the
    /// result, and a child stopped through its own handle does not count.
    ///
    /// A runtime that shuts down while the scope runs on (driven by `Handle::block_on` on a
    /// thread of its own, say) drops the scope's tasks: a child dropped so cancels the scope,
    /// with a cause that names it ("the runtime shut down, dropping child `upload`"), which its
    /// handle reads too, and the scope ends at once, with no grace (every task is gone, and so
    /// are the runtime's timers). So a body that returned before that does not have its value
    /// taken for a success. A scope with no spawned child learns it from its own timers,
    /// which the shutdown fires early: its deadline's cancels it with the cause "the runtime
    /// shut down" (the deadline would never come), and a grace's ends the grace; from then on
    /// it keeps no timer. (A timer first made after the shutdown, or as it begins, by the scope
    /// or by a wait or a shield in its body, panics at its first poll, as any of tokio's
    /// timers does there: tokio offers no way to ask whether a runtime is shutting down.)
    ///
    /// A run stays on the runtime it was first polled on, as any future that holds tokio's
    /// timers does: its spawned children are that runtime's tasks, and its deadline and grace
    /// are that runtime's timers. Moved to another runtime while the first lives on, not
    /// driven, its deadline does not fire until something else wakes it. Dropped anywhere
    /// (inside another runtime, or outside any), its spawned children still get their grace
    /// and are aborted after it: the grace is timed on the runtime its children were first
    /// handed to and on the one the drop happens in, and whichever ends it first aborts them
    /// (both gone before it ends: at once). (A [`Cx`](crate::Cx)'s wait is a plain value, and
    /// may move.)
    ///
    /// # Panics
    ///
    /// A panic of the body is resumed by the returned future once every child has ended (a
    /// child's panic is not: it is the child's failure,
    /// [`Interrupted::Panicked`](crate::Interrupted::Panicked)), in place of any result, a
    /// child's failure that came before it included. So is a panic of `E`'s
    /// `From<Interrupted>`, which builds the result from the interruption after every child
    /// has ended. A run dropped after its body panicked (by a `timeout` or a `select!` around
    /// it) has no result to carry the panic in: the drop resumes it, after dropping the
    /// in-place children and handing the spawned ones to their grace and abort, which end
    /// after the unwind has begun (a child's panic or failure recorded before such a drop goes
    /// with the result nobody reads). Such a drop resumes a panic of the body's value's
    /// destructor too; a panic of a destructor of what a child left (a failure kept) is printed
    /// by the panic hook and does not unwind the drop. A dropped run cancels its scope, and an
    /// [`on_cancel`](crate::Cx::on_cancel) callback that panics at that cancel panics in the
    /// drop, as a callback's panic goes to the code that made the cancel (one such panic
    /// unwinds the drop, once every child is served; any others are printed by the panic
    /// hook).
    ///
    /// # Examples
    ///
    /// A child's error comes back unchanged, in the user's own type:
    ///
    /// ```
    /// use scope::{Config, ConfigError, Interrupted, Scope};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// enum AppError {
    ///     #[error("not found: {0}")]
    ///     NotFound(String),
    ///     #[error(transparent)]
    ///     Interrupted(#[from] Interrupted),
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         s.spawn(async { Err::<(), _>(AppError::NotFound("user 7".into())) });
    ///         s.spawn(async {
    ///             scope::cancelled().await; // cancelled by the failure
    ///             Ok::<(), AppError>(())
    ///         });
    ///         Ok::<_, AppError>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().to_string(), "not found: user 7");
    ///
    /// // A scope runs once.
    /// let again = s.run(async { Ok::<_, AppError>(()) }).await;
    /// assert!(matches!(again, Err(AppError::Interrupted(Interrupted::Config(ConfigError::AlreadyRun)))));
    /// # });
    /// ```
    ///
    /// A body that hands its children to the run and returns has not answered a deadline that
    /// comes after: the children it stops make the deadline the result.
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(1).timeout(Duration::from_millis(25)));
    /// let out = s
    ///     .run(async {
    ///         for _ in 0..5 {
    ///             // One at a time, 10 ms each: the deadline comes before the fourth starts.
    ///             s.spawn(async {
    ///                 tokio::time::sleep(Duration::from_millis(10)).await;
    ///                 Ok::<_, Interrupted>(())
    ///             });
    ///         }
    ///         Ok::<_, Interrupted>("all queued")
    ///     })
    ///     .await;
    /// assert!(matches!(out, Err(Interrupted::DeadlineExceeded(_))));
    /// # });
    /// ```
    pub fn run<F>(&'s self, body: F) -> Run<'s, 'env, E, M, F, FirstFailure>
    where
        F: Future,
        F::Output: BodyOutput<E>,
    {
        self.run_with(body)
    }

    /// Runs the scope **supervised** and returns the body's value or every failure, first to
    /// last: failures do not cancel the siblings (only a panic, or the body's own error,
    /// does). It keeps the first 256 failures (a panic is kept past them too) and counts the
    /// errors after them
    /// ([`Failures::not_kept`](crate::Failures::not_kept)), so that a long-lived supervised
    /// scope (an accept loop) does not hold every failure of its life; a failure you want to
    /// keep or log in full is handled in the child. Otherwise as [`run`](Scope::run).
    ///
    /// The body's own error is a failure of its own: a body that hands on a failed child's
    /// error (`child.await?`) stops the scope, and the result holds both the child's failure
    /// and the body's (named after the scope). To report a child's failure once and go on,
    /// match the child's outcome instead of `?`. An error the body returns after an outside
    /// cancel is that cancel's consequence, as under [`run`](Scope::run): the cancellation is
    /// among the failures, the body's error is not.
    ///
    /// A value the body returned before an outside cancel that then stops a child short (see
    /// [`run`](Scope::run)) answered nothing: the cancellation comes first among the failures.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Scope};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run_all(async {
    ///         for name in ["a", "b"] {
    ///             s.spawn_named(name, async move { Err::<(), E>(format!("{name} failed").into()) });
    ///         }
    ///         let sibling = s.spawn(async { Ok::<_, E>("not cancelled") });
    ///         assert_eq!(sibling.await?, "not cancelled");
    ///         Ok::<_, E>(())
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// let mut names: Vec<_> = failures.iter().filter_map(|f| f.task().name()).collect();
    /// names.sort_unstable();
    /// assert_eq!(names, ["a", "b"]);
    /// # });
    /// ```
    pub fn run_all<F>(&'s self, body: F) -> Run<'s, 'env, E, M, F, AllFailures>
    where
        F: Future,
        F::Output: BodyOutput<E>,
    {
        self.run_with(body)
    }
}

impl<E> Drop for Owner<E> {
    fn drop(&mut self) {
        let shared = &self.0;
        // A user's `on_cancel` callback may panic in the cancel below (`cancel_own` keeps
        // it): the rest of the drop happens all the same, and the panic goes to the dropper
        // afterwards, unless a panic is unwinding already (a second one would abort).
        let started = shared.tracker.is_started();
        let mut cancelled = false;
        if !started {
            // Never run: nothing ever started; the queued children are dropped unstarted.
            shared.tracker.close();
            shared.close_admission();
            shared.tracker.abort_all();
            // A deadline that passed while nobody looked came first: it is the cause (the
            // look fires it), not the end below (law 4).
            let _ = shared.is_cancelled_own();
            shared.cancel_own(Cause::Finished {
                scope: shared.info.clone(),
            });
            cancelled = true;
        } else if !shared.run_ended.load(Ordering::Acquire) && !shared.tracker.try_finish() {
            // The run future was forgotten part-way: what it started is cancelled and aborted,
            // and its end reported (as a dropped run's is).
            shared.tracker.close();
            shared.cancel_own(Cause::explicit("scope dropped"));
            shared.obs.cancelled(&shared.cx);
            shared.close_admission();
            shared.tracker.abort_all();
            let (panicked, failed) = shared.kept_flags();
            shared
                .obs
                .finished(shared.cause_own().as_deref(), panicked, failed);
            cancelled = true;
        } else if !shared.run_ended.load(Ordering::Acquire) {
            // The run future was forgotten with nothing of it left: the scope has finished,
            // and its context ends with it (law 6). Reported as a finished run is: by the
            // cause before its end, and the failures it kept.
            let cause = shared.cause_own();
            shared.cancel_own(Cause::Finished {
                scope: shared.info.clone(),
            });
            let (panicked, failed) = shared.kept_flags();
            shared.obs.finished(cause.as_deref(), panicked, failed);
            cancelled = true;
        }
        let panic = cancelled.then(|| shared.take_callback_panic()).flatten();
        // The scope leaves the task tree with its shared part (its `ScopeObs`), once the
        // spawned children it left in their grace are gone too: until then it names them.
        if let Some(payload) = panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
        // In-place children still queued are dropped with the scope's `local`, after this,
        // outside any lock.
    }
}

impl<E, M: Mode> fmt::Debug for Scope<'_, '_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // What a user can tell of the scope: copied out first (the formatter's writer is the
        // user's code, which may use the scope).
        let shared = &self.shared;
        let (started, tasks) = shared.tracker.started_and_units();
        let (limit, queued) = shared.admission.limit_and_queued();
        f.debug_struct("Scope")
            .field("info", &shared.info)
            .field("started", &started)
            .field("closed", &self.is_closed())
            .field("cancelled", &shared.cx.is_cancelled())
            .field("tasks", &tasks)
            .field("limit", &limit)
            .field("queued", &queued)
            .finish_non_exhaustive()
    }
}

/// An emptied table of background children gives back its room past [`KEPT_WHEN_EMPTY`]: a
/// long-lived scope does not keep a burst's table (an empty one: nothing of the user's is
/// dropped here).
fn give_back_room<V>(targets: &mut crate::info::ById<TaskId, V>) {
    if targets.is_empty() && targets.capacity() > KEPT_WHEN_EMPTY {
        targets.shrink_to(KEPT_WHEN_EMPTY);
    }
}
