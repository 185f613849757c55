//! Live-work accounting, one mechanism for scopes and services: how many units of work an
//! owner waits for, whether it still admits new ones, and how to abort them all.
//!
//! A *unit* is a runtime task (or a child queued to become one) that the owner must see gone
//! before it finishes. A tracker entered while the code of another owner runs (a scope opened
//! in a body or a child, a scope opened in a service task) is *nested* in it: while it holds
//! any unit it holds one unit of its enclosing tracker, so an owner waits for its descendants
//! at any depth, however the scopes in between end (finished, dropped, forgotten), and a
//! child's spawn and end touch one count, however deep its scope is.
//!
//! # Invariants
//!
//! - `state` is `units << 3 | STARTED | SEALED | CLOSED`, changed only by read-modify-writes,
//!   so every change has one place in its modification order.
//! - A nested tracker whose count is above zero holds a unit of its enclosing tracker (the
//!   *link*). Its first unit (the count from zero) is taken only after a unit of the enclosing
//!   tracker was (refused if that one is `SEALED`, and so on outwards, in a loop, while the
//!   enclosing counts are at zero too); later units are taken by a compare-and-swap from a count above
//!   zero, which touches nothing else. The count's last unit (to zero) gives the link back
//!   after its decrement. So an enclosing count never reads zero while a unit below is held:
//!   a link is taken before the count it keeps leaves zero and given back after it returns
//!   there. (Two first units racing both take a link; the one whose swap finds the count
//!   above zero gives its link back. A link given back late only holds the enclosing owner a
//!   moment longer.)
//! - A unit is refused if this tracker is `CLOSED` or `SEALED`, or if it is the first and the
//!   enclosing tracker is `SEALED`. A unit, once taken, is held until the work's future is
//!   dropped. An enclosing tracker sealed by its finish has no unit, so no link, so nothing
//!   below it is admitted again; one sealed by the forced abort seals every registered tracker
//!   below it as the abort walks down, and a unit admitted below before the walk arrives is
//!   aborted by it (or by its registration, which finds its own tracker sealed).
//! - `SEALED` is set either by the owner's finish, with a compare-and-swap from zero units (so
//!   no unit is held at that instant, and none can be taken after), or by the forced abort. A
//!   sealed tracker never admits a unit again; its count only falls. The forced abort also
//!   marks it `aborted` (before the seal) with the abort's place in the process's order of
//!   aborts ([`abort_epoch`]), which a finish does not.
//! - The forced abort reaches every task below: a tracker with a task (or a queued child) is
//!   registered in its enclosing tracker, and that one in its own, up to the first already
//!   registered, so the abort's walk down through the registered trackers finds it. The walk
//!   seals each tracker before it takes its table. So an insert into a table (a task's handle,
//!   a nested tracker) followed by a look at that table's tracker either is found by the walk
//!   or finds the tracker sealed and aborts what it inserted (the subtree below it) itself: a
//!   registration reads one seal, not every enclosing one.
//! - The owner registers its waker, then reads the count: the exit that takes the count to
//!   zero wakes it afterwards, so the last exit cannot be missed.
//!
//! - A wake for the owner made on the thread that is polling it, inside that poll, is
//!   *absorbed*: marked, and the poll goes round once more before it returns `Pending` (so a
//!   wake is never lost), instead of waking the task, which would poll it once more for nothing
//!   when the poll ends the owner.
//!
//! # Lock order
//!
//! The registry lock is held only to push or take abort handles and nested trackers (and the
//! shields' marks: the latest budget end, whether the forced abort began); aborting,
//! waking and dropping happen after it is released. A tracker takes an enclosing tracker's
//! registry lock only while holding none of its own.

use std::cell::Cell;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::task::Waker;

use crate::cx::EnclosingScope;
use crate::slab::Slab;
use crate::sync::{AtomicU64, AtomicUsize, AtomicWaker, Mutex, Ordering};
use tokio::time::Instant;

#[cfg(not(all(test, loom)))]
std::thread_local! {
    /// The owner being polled on this thread (its tracker's `owner_id`, 0 for none), with
    /// [`WOKEN`] set once a wake for it was absorbed during the poll.
    static POLLING: Cell<usize> = const { Cell::new(0) };
}
#[cfg(all(test, loom))]
loom::thread_local! {
    static POLLING: Cell<usize> = Cell::new(0);
}

#[cfg(not(all(test, loom)))]
std::thread_local! {
    /// Enclosing scopes let go of on this thread while one is already being let go here (see
    /// [`release_enclosing`]): `Some` while that outer release runs.
    static RELEASING: std::cell::RefCell<Option<Vec<Arc<dyn Enclosing>>>> =
        const { std::cell::RefCell::new(None) };
}
#[cfg(all(test, loom))]
loom::thread_local! {
    static RELEASING: std::cell::RefCell<Option<Vec<Arc<dyn Enclosing>>>> =
        std::cell::RefCell::new(None);
}

/// Lets a tracker's reference to its enclosing scope go. The last reference drops that
/// scope, whose tracker lets its own enclosing scope go: in a chain of nested scopes each held
/// only by the one below (a chain aborted from the top while its innermost child ran on), the
/// innermost's end would drop the whole chain in a recursion as deep as the chain. So a
/// release made while another runs on the same thread is queued, and the outer one drops the
/// queue in a loop. A panic of one drop (a value bound on a scope's context) lets the others
/// go first, then goes on (unless a panic already unwinds through the caller).
#[inline]
fn release_enclosing(enclosing: Arc<dyn Enclosing>) {
    // Not the last reference: a plain decrement. (If another holder lets go meanwhile and
    // this drop turns out to be the last, that scope's own release queues or loops: one more
    // level of stack at most.)
    if Arc::strong_count(&enclosing) > 1 {
        drop(enclosing);
        return;
    }
    release_last(enclosing);
}

/// [`release_enclosing`] of what is likely the last reference.
#[inline(never)]
fn release_last(enclosing: Arc<dyn Enclosing>) {
    let first = RELEASING.try_with(move |r| {
        let mut r = r.borrow_mut();
        if let Some(queue) = r.as_mut() {
            queue.push(enclosing);
            None
        } else {
            *r = Some(Vec::new());
            Some(enclosing)
        }
    });
    // (A thread's locals being torn down: dropped by the closure, as a plain drop.)
    let Ok(Some(first)) = first else {
        return;
    };
    let mut panic = catch_unwind(AssertUnwindSafe(move || drop(first))).err();
    loop {
        let next = RELEASING
            .try_with(|r| r.borrow_mut().as_mut().and_then(Vec::pop))
            .ok()
            .flatten();
        let Some(next) = next else {
            break;
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(next))) {
            crate::error::keep_first(&mut panic, payload);
        }
    }
    let _ = RELEASING.try_with(|r| r.borrow_mut().take());
    if let Some(payload) = panic {
        crate::error::resume_unless_unwinding(payload);
    }
}

/// The mark's low bit: a wake was absorbed. (An `owner_id` is a tracker's address, so its low
/// bit is free.)
const WOKEN: usize = 1;

/// The mark of an owner polling on this thread (see [`Tracker::polling`]); dropping it
/// restores the mark of the owner polled around it, if any. One word: it sits in the frame
/// of every nested in-place scope's poll.
pub(crate) struct Polling {
    outer: usize,
}

impl Polling {
    /// Whether a wake for the owner was absorbed since the poll began or this was last asked
    /// (clears it).
    #[inline(never)]
    #[allow(clippy::unused_self)] // Reason: asked of the guard, which only the polling owner holds.
    pub(crate) fn take_woken(&self) -> bool {
        POLLING
            .try_with(|p| {
                let mark = p.get();
                p.set(mark & !WOKEN);
                mark & WOKEN != 0
            })
            .unwrap_or(false)
    }
}

impl Drop for Polling {
    #[inline(never)]
    fn drop(&mut self) {
        let _ = POLLING.try_with(|p| p.set(self.outer));
    }
}

/// Whether `owner` is being polled on this thread, inside that poll: then the wake is
/// recorded for the poll (which goes round again) and `true` returned; the caller wakes no
/// task. `false`: the caller wakes the owner's task.
pub(crate) fn absorb_wake(owner: usize) -> bool {
    POLLING
        .try_with(|p| {
            let mark = p.get();
            let here = mark & !WOKEN == owner;
            if here {
                p.set(mark | WOKEN);
            }
            here
        })
        .unwrap_or(false)
}

/// An owner of live work: what a scope entered in its code is nested in.
pub(crate) trait Enclosing: Send + Sync + 'static {
    fn tracker(&self) -> &Tracker;
    /// The grace its cancelled work gets before it is aborted.
    fn grace(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// Its runtime dropped a task of work nested in it, shutting down: it keeps no timer of
    /// that runtime from then on (a scope's run; nothing for other owners).
    fn runtime_gone(&self) {}
    /// The own context of child `id` (see `cx::ambient`): created as a child of `parent` by
    /// the first to need it, the same node for every later asker. `adopted`: the child takes
    /// it as its ambient context now; otherwise (asked where the ambient context cannot be
    /// replaced) the child must learn of it at its next look, as of one its handle made.
    fn child_cx(
        &self,
        id: crate::info::TaskId,
        parent: &crate::cx::Cx,
        adopted: bool,
    ) -> crate::cx::Cx {
        let _ = (id, adopted);
        parent.child()
    }
    /// Whether `cx` (its own context) is cancelled, asked by a child that waits on it for want
    /// of a context of its own: a passed deadline this fires runs the callbacks as the owner's
    /// own code, whose panic is the owner's (a scope keeps it for its end), not the child's.
    fn is_cancelled_for_child(&self, cx: &crate::cx::Cx) -> bool {
        cx.is_cancelled()
    }
    /// A user's `on_cancel` callback panicked as a passed deadline of its own context (or one
    /// below it) was fired, by whoever looked first: the panic is the owner's (a scope keeps
    /// it for its end), not the looker's. Given back when the owner can no longer take it
    /// (it has ended): the looker's then.
    fn keep_callback_panic(
        &self,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Option<Box<dyn std::any::Any + Send>> {
        Some(payload)
    }
    /// A panic of `task`, in a scope entered under it, that no report of that scope will
    /// carry (its run was dropped, or its body's panic is its outcome): a scope takes it as a
    /// panic of work below it, as if the code that dropped the run had unwound with it (law
    /// 5). Given back when the owner cannot take it (it has ended, or it keeps no outcomes).
    fn panicked_below(
        &self,
        task: &crate::info::TaskInfo,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Option<Box<dyn std::any::Any + Send>> {
        let _ = task;
        Some(payload)
    }
    /// The registry of its children's own contexts, if it keeps one (a scope does).
    fn own_cxs(&self) -> Option<&super::own_cx::OwnCxs> {
        None
    }
    /// The forced abort of an enclosing owner reached it: the children still waiting in its
    /// queue (which hold units here and above) are dropped unstarted.
    fn close_queue(&self) {}
    /// A scope entered under it ended with a panic as its outcome (`line`: the panic, on one
    /// line), or with a cancellation that hid one from further down (see
    /// `Shared::panic_below`).
    fn panic_below(&self, line: &str) {
        let _ = line;
    }
}

/// How long past a budgeted shield's end the forced abort waits for it to answer (see
/// [`Tracker::held_until`]): its task was woken at that end and is polled soon after, but on a
/// busy runtime not always within one tick of the timer (1 ms lost the answer in 2 runs of 15
/// with two programs sharing the 2 cores). A shield that answers ends its hold at once, so
/// the margin costs nothing then: only a shield kept but no longer polled waits it out. So
/// it is generous.
const SHIELD_ANSWERS: std::time::Duration = std::time::Duration::from_millis(100);

/// What the forced abort holds of a child it may have to stop: a runtime task's abort
/// handle, or a blocking job handed to tokio's blocking pool. Aborting a blocking task does
/// not reach a job still waiting for a thread of the pool (tokio drops it only when a thread
/// takes it), so the job waits in a cell of its own, which an abort empties: a job not yet
/// taken is dropped at once, unstarted; one running is not stopped (a thread cannot be).
#[derive(Clone)]
pub(crate) enum TaskHandle {
    Task(tokio::task::AbortHandle),
    Job(Arc<dyn PendingJob>),
}

/// A blocking job waiting for a thread of the pool (see [`TaskHandle`]).
pub(crate) trait PendingJob: Send + Sync {
    /// Drops the job if no thread has taken it yet: it never runs. Called with no lock of
    /// ours held: dropping it drops what the user's closure captured.
    fn drop_unstarted(&self);
    /// Whether a thread took the job, or it was dropped: nothing is left to stop.
    fn is_gone(&self) -> bool;
}

impl TaskHandle {
    pub(crate) fn abort(&self) {
        match self {
            TaskHandle::Task(handle) => handle.abort(),
            TaskHandle::Job(job) => job.drop_unstarted(),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        match self {
            TaskHandle::Task(handle) => handle.is_finished(),
            TaskHandle::Job(job) => job.is_gone(),
        }
    }
}

impl From<tokio::task::AbortHandle> for TaskHandle {
    fn from(handle: tokio::task::AbortHandle) -> Self {
        TaskHandle::Task(handle)
    }
}

/// No new direct units (the owner's body returned, or it was cancelled).
const CLOSED: usize = 0b001;
/// No new units at all, nested ones included (finished, or forcibly aborted).
const SEALED: usize = 0b010;
/// The owner has started (a scope's run future was first polled).
const STARTED: usize = 0b100;
const UNIT: usize = 0b1000;

/// How many forced aborts the process has begun: an abort's epoch is its place in that order,
/// so that a scope can tell an abort from above that came after its start (or its cancel) from
/// one that came before. (A plain counter, outside the loom models: it orders aborts against
/// starts, it publishes nothing.)
static ABORT_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The epoch of the forced aborts begun so far (see [`ABORT_EPOCH`]): an abort later than this
/// has a greater one.
pub(crate) fn abort_epoch() -> u64 {
    // SeqCst: one total order with the aborts' increments.
    ABORT_EPOCH.load(std::sync::atomic::Ordering::SeqCst)
}

/// Begins a forced abort: its epoch (see [`ABORT_EPOCH`]).
fn next_abort_epoch() -> u64 {
    // SeqCst: see `abort_epoch`.
    ABORT_EPOCH.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

/// What [`Tracker::take_here`] did.
enum Here {
    /// A unit was taken.
    Taken,
    /// Closed or sealed (as asked): nothing taken.
    Refused,
    /// A nested tracker at zero: its link is to be taken first; nothing taken.
    AtZero,
}

/// Why a unit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This tracker is closed or sealed.
    Closed,
    /// An enclosing tracker is sealed: the work it belongs to is over.
    EnclosingSealed,
}

pub(crate) struct Tracker {
    state: AtomicUsize,
    /// Budgeted shields running here or below: the forced abort waits for them.
    holds: AtomicUsize,
    /// The owner, waiting for the count to reach zero.
    owner: AtomicWaker,
    /// Further waiters (services can have several drainers), notified at zero.
    idle: Option<tokio::sync::Notify>,
    /// A forced abort sealed this tracker (its owner's own, or an enclosing owner's that
    /// walked down to it): its [`abort_epoch`], 0 if none; a finish seals without it.
    aborted: AtomicU64,
    enclosing: EnclosingScope,
    registry: Mutex<Registry>,
    /// How many handles the registry keeps (its tasks' and jobs'), as last written under its
    /// lock: a hint, not part of the join protocol (hence a plain atomic, also under loom).
    /// Past [`PRUNED_AT_IDLE`], the count's return to zero drops the finished ones.
    kept: std::sync::atomic::AtomicUsize,
}

/// The handles a tracker whose count returns to zero may keep without looking at them: past
/// it, the finished ones go then (a long-lived scope or service does not keep a burst's ended
/// tasks' cells until its next spawn), and the lists' room beyond what is left.
const PRUNED_AT_IDLE: usize = 64;

#[derive(Default)]
struct Registry {
    /// Abort handles of this tracker's tasks, finished ones cleared now and then. (Apart
    /// from `jobs`, which are rare, so that a spawned child costs one word here.)
    aborts: Vec<tokio::task::AbortHandle>,
    /// Blocking jobs handed to the pool, gone ones cleared now and then.
    jobs: Vec<Arc<dyn PendingJob>>,
    /// The tasks a forced abort stopped, kept until the runtime has completed them (see
    /// [`Tracker::stopped_tasks_completed`]).
    stopped: Vec<tokio::task::AbortHandle>,
    /// Nested trackers that have had tasks, for the forced abort.
    nested: Slab<Weak<dyn Enclosing>>,
    /// This tracker's key in its enclosing tracker's `nested`, once registered there.
    key_in_enclosing: Option<usize>,
    /// The budget ends of the shields that hold the forced abort off, with how many shields
    /// under way end at each (see `hold`): the bound is the latest of those still running.
    held_until: BTreeMap<Instant, usize>,
    /// The owner's forced abort has begun: new shields are not waited for.
    forcing: bool,
    /// The runtime of this tracker's first task: a dropped scope's grace is timed there (see
    /// [`Tracker::runtimes`]).
    runtime: Option<tokio::runtime::Handle>,
    /// The other runtimes its tasks were handed to (rare: a run polled on one runtime, then
    /// on another), each with its tasks still kept: the grace is timed there too, while they
    /// live. One whose tasks have all finished is let go of with them (its handle can hold
    /// the last reference to a runtime dropped meanwhile, as a finished task's can).
    elsewhere: Vec<Elsewhere>,
}

/// A runtime other than the first that a tracker's tasks were handed to, with their abort
/// handles (clones of those in `aborts`).
struct Elsewhere {
    runtime: tokio::runtime::Handle,
    tasks: Vec<tokio::task::AbortHandle>,
}

/// Handles a tracker let go of, to be dropped once its registry's lock is released: a
/// finished task's handle can hold the last reference to the runtime it ran on, dropped
/// meanwhile, whose callbacks (and what they captured) are the user's.
#[derive(Default)]
struct LetGo {
    aborts: Vec<tokio::task::AbortHandle>,
    jobs: Vec<Arc<dyn PendingJob>>,
    runtimes: Vec<tokio::runtime::Handle>,
}

/// Moves the entries of `list` that `done` picks into `out` (in no particular order).
fn move_out<T>(list: &mut Vec<T>, out: &mut Vec<T>, done: impl Fn(&T) -> bool) {
    let mut i = 0;
    while i < list.len() {
        if done(&list[i]) {
            out.push(list.swap_remove(i));
        } else {
            i += 1;
        }
    }
}

impl Registry {
    /// Moves out the handles of finished tasks (if `aborts`) and of gone jobs (if `jobs`),
    /// for the caller to drop once the lock is released.
    fn let_go_of_finished(&mut self, aborts: bool, jobs: bool, out: &mut LetGo) {
        if aborts {
            move_out(
                &mut self.aborts,
                &mut out.aborts,
                tokio::task::AbortHandle::is_finished,
            );
            for other in &mut self.elsewhere {
                move_out(
                    &mut other.tasks,
                    &mut out.aborts,
                    tokio::task::AbortHandle::is_finished,
                );
            }
            let (gone, kept): (Vec<Elsewhere>, Vec<Elsewhere>) =
                std::mem::take(&mut self.elsewhere)
                    .into_iter()
                    .partition(|other| other.tasks.is_empty());
            self.elsewhere = kept;
            out.runtimes
                .extend(gone.into_iter().map(|other| other.runtime));
        }
        if jobs {
            move_out(&mut self.jobs, &mut out.jobs, |j| j.is_gone());
        }
    }

    /// Writes how many handles it keeps to the tracker's hint (under its lock).
    fn note_kept(&self, kept: &std::sync::atomic::AtomicUsize) {
        // Relaxed: a hint (see `Tracker::kept`).
        kept.store(
            self.aborts.len() + self.jobs.len(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

impl Tracker {
    /// A tracker nested in `enclosing` (if any).
    pub(crate) fn new(enclosing: EnclosingScope) -> Self {
        Tracker {
            state: AtomicUsize::new(0),
            holds: AtomicUsize::new(0),
            owner: AtomicWaker::default(),
            idle: None,
            aborted: AtomicU64::new(0),
            enclosing,
            registry: Mutex::new(Registry::default()),
            kept: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The owner this one is nested in, if any.
    pub(crate) fn enclosing(&self) -> Option<&Arc<dyn Enclosing>> {
        self.enclosing.as_ref()
    }

    /// A tracker whose idle moments also notify any number of waiters (see [`Tracker::idle`]).
    pub(crate) fn with_waiters(enclosing: EnclosingScope) -> Self {
        Tracker {
            state: AtomicUsize::new(0),
            holds: AtomicUsize::new(0),
            owner: AtomicWaker::default(),
            idle: Some(tokio::sync::Notify::new()),
            aborted: AtomicU64::new(0),
            enclosing,
            registry: Mutex::new(Registry::default()),
            kept: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Takes a unit of live work for a new direct child.
    #[inline]
    pub(crate) fn enter(&self) -> Result<(), Refused> {
        self.take(CLOSED | SEALED)
    }

    /// Takes a unit here, refused if `refuse` (flags) is set. A nested tracker's first unit
    /// (its count at zero) is taken with [`take_first`](Tracker::take_first); later ones touch
    /// only this tracker: while its count is above zero it holds a unit of its enclosing one.
    #[inline]
    fn take(&self, refuse: usize) -> Result<(), Refused> {
        match self.take_here(refuse) {
            Here::Taken => Ok(()),
            Here::Refused => Err(Refused::Closed),
            Here::AtZero => self.take_first(refuse),
        }
    }

    /// Takes a unit of this tracker alone, unless it is nested and its count is at zero (then
    /// its link must be taken first: [`Here::AtZero`], nothing taken).
    #[inline]
    fn take_here(&self, refuse: usize) -> Here {
        if self.enclosing.is_none() {
            // AcqRel: an RMW in the same order as the owner's finish; see the invariants.
            let prev = self.state.fetch_add(UNIT, Ordering::AcqRel);
            if prev & refuse != 0 {
                self.exit();
                return Here::Refused;
            }
            return Here::Taken;
        }
        // Acquire: a flag seen set stays set; the compare-and-swap below decides the rest.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & refuse != 0 {
                return Here::Refused;
            }
            if s < UNIT {
                return Here::AtZero;
            }
            // AcqRel: taken from a count above zero, which holds a unit of the enclosing
            // tracker (Acquire: after the first unit's link); ordered against the finish.
            match self
                .state
                .compare_exchange_weak(s, s + UNIT, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Here::Taken,
                Err(actual) => s = actual,
            }
        }
    }

    /// Takes this nested tracker's first unit: a unit of the enclosing tracker first (refused
    /// if that one is sealed: the work this one belongs to is over), then this one's count from
    /// zero, which keeps it (see [`take_from_zero`](Tracker::take_from_zero)).
    #[cold]
    #[inline(never)]
    fn take_first(&self, refuse: usize) -> Result<(), Refused> {
        let Some(up) = self.enclosing.as_deref().map(Enclosing::tracker) else {
            return self.take(refuse);
        };
        match up.take_here(SEALED) {
            Here::Taken => {}
            Here::Refused => return Err(Refused::EnclosingSealed),
            Here::AtZero => up.take_chain()?,
        }
        self.take_from_zero(refuse, up)
    }

    /// Takes a first unit of this nested tracker (its count at zero), whose enclosing count is
    /// at zero too: outwards to the first tracker that takes a unit alone, then inwards, each
    /// count from zero. A loop, not a recursion: a chain of idle trackers can be as long as
    /// the process has memory for (each level's run on a task of its own keeps the stack of
    /// their polls flat).
    #[cold]
    #[inline(never)]
    fn take_chain(&self) -> Result<(), Refused> {
        let mut at_zero = vec![self];
        let mut t = self;
        let top = loop {
            let Some(up) = t.enclosing.as_deref().map(Enclosing::tracker) else {
                break None;
            };
            match up.take_here(SEALED) {
                Here::Taken => break Some(up),
                Here::Refused => return Err(Refused::EnclosingSealed),
                Here::AtZero => {
                    at_zero.push(up);
                    t = up;
                }
            }
        };
        debug_assert!(top.is_some(), "an outermost tracker takes a unit alone");
        while let Some(t) = at_zero.pop() {
            let Some(up) = t.enclosing.as_deref().map(Enclosing::tracker) else {
                continue;
            };
            if t.take_from_zero(SEALED, up).is_err() {
                return Err(Refused::EnclosingSealed);
            }
        }
        Ok(())
    }

    /// With a unit of `up` (the enclosing tracker) held, takes one of this tracker from its
    /// count as it is: from zero, the unit of `up` stays held as the link; from above zero
    /// (another first unit came between), it is given back. Refused: given back too.
    fn take_from_zero(&self, refuse: usize, up: &Tracker) -> Result<(), Refused> {
        // Acquire: as in `take_here`.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & refuse != 0 {
                up.exit();
                return Err(Refused::Closed);
            }
            // AcqRel: from zero, after the enclosing unit was taken (Release: whoever takes a
            // unit from the count this makes is ordered after that); see the invariants.
            match self
                .state
                .compare_exchange_weak(s, s + UNIT, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if s >= UNIT {
                        // Another first unit was taken meanwhile: its enclosing unit is the one
                        // this count holds.
                        up.exit();
                    }
                    return Ok(());
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// Gives back a unit taken by [`enter`](Tracker::enter). Call it once the work's future
    /// has been dropped. The count's last unit gives back the enclosing unit it held, and so
    /// on outwards.
    pub(crate) fn exit(&self) {
        let mut t = self;
        while t.release_one() {
            let Some(up) = t.enclosing.as_deref() else {
                return;
            };
            t = up.tracker();
        }
    }

    /// Gives back one unit of this tracker only; returns whether it was the last (the owner
    /// and the idle waiters were woken, and a nested tracker's enclosing unit is to be given
    /// back).
    fn release_one(&self) -> bool {
        // AcqRel: the owner's Acquire of zero must see everything the work did (Release), and
        // the wake below must follow the decrement.
        let prev = self.state.fetch_sub(UNIT, Ordering::AcqRel);
        if prev / UNIT != 1 {
            return false;
        }
        // Relaxed: a hint (see `kept`).
        if self.kept.load(std::sync::atomic::Ordering::Relaxed) > PRUNED_AT_IDLE {
            self.prune_finished();
        }
        self.wake_owner();
        if let Some(idle) = &self.idle {
            idle.notify_waiters();
        }
        true
    }

    /// Lets go of the handles of finished tasks and gone jobs, and of the room their lists no
    /// longer need: the count has returned to zero with many kept. They are dropped once the
    /// lock is released (see [`LetGo`]).
    #[cold]
    #[inline(never)]
    fn prune_finished(&self) {
        let mut let_go = LetGo::default();
        {
            let mut r = self.registry.lock();
            r.let_go_of_finished(true, true, &mut let_go);
            let (aborts, jobs) = (r.aborts.len(), r.jobs.len());
            r.aborts.shrink_to(2 * aborts);
            r.jobs.shrink_to(2 * jobs);
            r.note_kept(&self.kept);
        }
        drop(let_go);
    }

    /// A budgeted shield ending at `until` starts in `scope`'s code: the forced abort of that
    /// scope's tracker and of every enclosing one waits until it ends, or until `until` at the
    /// latest; except a tracker whose forced abort has begun ([`force`](Tracker::force)):
    /// a shield started after that gets no wait there. Returns the scopes whose trackers wait
    /// for it, each to be released with [`unhold`](Tracker::unhold) once.
    pub(crate) fn hold(scope: &Arc<dyn Enclosing>, until: Instant) -> Vec<Arc<dyn Enclosing>> {
        let mut held = Vec::new();
        let mut s = Arc::clone(scope);
        loop {
            let t = s.tracker();
            {
                // Under the registry lock, as `force` sets the mark: a hold is either seen by
                // the owner's look after the mark, or refused.
                let mut r = t.registry.lock();
                if !r.forcing {
                    // Relaxed: a count the owner re-reads after its waker is registered.
                    t.holds.fetch_add(1, Ordering::Relaxed);
                    *r.held_until.entry(until).or_default() += 1;
                    held.push(Arc::clone(&s));
                }
            }
            let Some(up) = t.enclosing.clone() else {
                return held;
            };
            s = up;
        }
    }

    /// A shield this tracker waited for, whose budget ended `until`, ended: its owner,
    /// waiting to abort, may go on (or wait only for the shields still under way).
    pub(crate) fn unhold(&self, until: Instant) {
        {
            // Its end no longer bounds the wait: one that ended, with a long budget, does not
            // stretch the bound of a short one still under way.
            let mut r = self.registry.lock();
            if let Entry::Occupied(mut ending) = r.held_until.entry(until) {
                *ending.get_mut() -= 1;
                if *ending.get() == 0 {
                    ending.remove();
                }
            }
        }
        // AcqRel: orders against the owner's registration and re-read. The owner looks again
        // at each end: the bound may be nearer now, or gone.
        self.holds.fetch_sub(1, Ordering::AcqRel);
        self.wake_owner();
        if let Some(idle) = &self.idle {
            idle.notify_waiters();
        }
    }

    /// The owner's forced abort begins: budgeted shields started from now on are not waited
    /// for here (those under way are, within their budgets). So the wait is bounded by the
    /// budgets of the shields under way at this moment, however many a child starts after.
    pub(crate) fn force(&self) {
        self.registry.lock().forcing = true;
    }

    /// Whether no unit will be admitted here again: the owner finished, or a forced abort (its
    /// own, or an enclosing owner's) sealed it. While the owner's body still runs, only an
    /// abort can have.
    pub(crate) fn is_sealed(&self) -> bool {
        // Acquire: pairs with the seal's read-modify-writes.
        self.state.load(Ordering::Acquire) & SEALED != 0
    }

    /// While budgeted shields hold this tracker's forced abort off: the latest end of their
    /// budgets and [`SHIELD_ANSWERS`], the most the abort waits. `None` when none runs, or all
    /// are past that (a shield kept but no longer polled does not resolve at its budget's end:
    /// its end is the bound).
    ///
    /// Why past the end: the budget's end is the shield's, which answers then
    /// (`DeadlineExceeded`), and the code right after it runs. A bound at the very end fired in
    /// the same tick as the shield's own timer, and the abort could come first (on the paused
    /// clock, always). A shield that answers ends its hold, and the abort goes on at once.
    pub(crate) fn held_until(&self) -> Option<Instant> {
        if self.holds() == 0 {
            return None;
        }
        let end = *self.registry.lock().held_until.last_key_value()?.0;
        let until = end.checked_add(SHIELD_ANSWERS).unwrap_or(end);
        (Instant::now() < until).then_some(until)
    }

    /// Budgeted shields running here or below.
    pub(crate) fn holds(&self) -> usize {
        // Acquire: pairs with the release of `unhold`.
        self.holds.load(Ordering::Acquire)
    }

    /// Refuses new direct units from now on.
    pub(crate) fn close(&self) {
        // Release: publishes what the owner did before closing to whoever sees it closed.
        self.state.fetch_or(CLOSED, Ordering::Release);
    }

    /// Marks the owner started; returns whether it already was.
    pub(crate) fn start(&self) -> bool {
        // AcqRel: whoever sees STARTED also sees what the owner did to start.
        self.state.fetch_or(STARTED, Ordering::AcqRel) & STARTED != 0
    }

    pub(crate) fn is_started(&self) -> bool {
        // Acquire: pairs with `start`.
        self.state.load(Ordering::Acquire) & STARTED != 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with `close`.
        self.state.load(Ordering::Acquire) & (CLOSED | SEALED) != 0
    }

    /// Whether this tracker or an enclosing one is sealed: no unit can be taken here.
    pub(crate) fn is_sealed_anywhere(&self) -> bool {
        // Acquire: pairs with the seal (finish or abort).
        self.and_above()
            .any(|t| t.state.load(Ordering::Acquire) & SEALED != 0)
    }

    /// This tracker, then each enclosing one, outwards.
    fn and_above(&self) -> impl Iterator<Item = &Tracker> {
        std::iter::successors(Some(self), |t| {
            t.enclosing.as_deref().map(Enclosing::tracker)
        })
    }

    /// Whether a forced abort later than epoch `seen` (see [`abort_epoch`]) sealed this tracker
    /// or an enclosing one. A finish seals without one: a scope run after the one it was made in
    /// ended is not cut short by that end.
    pub(crate) fn aborted_since(&self, seen: u64) -> bool {
        // Acquire: pairs with the abort's store.
        self.and_above()
            .any(|t| t.aborted.load(Ordering::Acquire) > seen)
    }

    /// Whether an enclosing tracker (not this one) is sealed: the work this one belongs to
    /// was aborted from above (whose abort seals, and closes, the nested trackers too).
    pub(crate) fn is_sealed_above(&self) -> bool {
        self.enclosing
            .as_deref()
            .is_some_and(|e| e.tracker().is_sealed_anywhere())
    }

    /// Units held now (a snapshot).
    pub(crate) fn units(&self) -> usize {
        // Acquire: pairs with the release of a unit (its `AcqRel` decrement), so that a
        // caller that decides on a zero (`idle`: a service's drain or stop is over; the
        // reaper) sees what the work did before it let go.
        self.state.load(Ordering::Acquire) / UNIT
    }

    pub(crate) fn register_owner(&self, waker: &Waker) {
        self.owner.register(waker);
    }

    /// Wakes the owner (something besides the count needs its attention), or has its poll go
    /// round again if this is its poll (see the invariants).
    pub(crate) fn wake_owner(&self) {
        if !absorb_wake(self.owner_id()) {
            self.owner.wake();
        }
    }

    /// Names this tracker's owner for [`polling`](Tracker::polling) and [`absorb_wake`].
    pub(crate) fn owner_id(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// Whether the owner `id` (an [`owner_id`](Self::owner_id)) encloses this tracker's, at any
    /// depth.
    pub(crate) fn is_below(&self, id: usize) -> bool {
        self.and_above().skip(1).any(|t| t.owner_id() == id)
    }

    /// Marks the owner as polling on this thread until the guard is dropped.
    #[inline(never)]
    pub(crate) fn polling(&self) -> Polling {
        let outer = POLLING
            .try_with(|p| p.replace(self.owner_id()))
            .unwrap_or(0);
        Polling { outer }
    }

    /// The owner is done waiting (its run returned, or its future was dropped): what happens
    /// from now on (the context's end, a late exit) wakes nobody, until an owner registers
    /// again (a dropped scope's reaper).
    pub(crate) fn forget_owner(&self) {
        // Dropped here, outside every lock of ours.
        drop(self.owner.take());
    }

    /// Finishes if no unit is held: seals (and closes) the tracker and returns `true`. A
    /// tracker already sealed by an abort finishes once its count reaches zero.
    pub(crate) fn try_finish(&self) -> bool {
        // Acquire: pairs with the Release half of the last exit.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s >= UNIT {
                return false;
            }
            if s & SEALED != 0 {
                return true;
            }
            // AcqRel: the seal is ordered against every `enter` (see the invariants).
            match self.state.compare_exchange_weak(
                s,
                s | SEALED | CLOSED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// Waits until no unit is held (for owners with several waiters; see `with_waiters`).
    pub(crate) async fn idle(&self) {
        RelayedWakes::new(self.wait_until(|t| t.units() == 0)).await;
    }

    /// Waits until no budgeted shield holds this tracker's forced abort off (for owners with
    /// several waiters): until those under way now end, or their budgets do. The bound is
    /// taken now: shields started while it waits do not extend it.
    pub(crate) async fn unheld(&self) {
        RelayedWakes::new(self.unheld_here()).await;
    }

    /// [`unheld`](Self::unheld), polled with the task's own waker.
    async fn unheld_here(&self) {
        let Some(cap) = self.held_until() else {
            return;
        };
        let Some(idle) = &self.idle else {
            return;
        };
        loop {
            // Registered before the look: a shield's end wakes it, and the bound is looked at
            // again (nearer, once a long one has ended; never past the first).
            let notified = idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let Some(until) = self.held_until().map(|u| u.min(cap)) else {
                return;
            };
            // Fired, or cut short by the runtime's shutdown (which ended the shields' tasks).
            let budget = std::pin::pin!(crate::timer::Delay::until(until));
            if let futures_util::future::Either::Right(_) =
                futures_util::future::select(notified, budget).await
            {
                return;
            }
        }
    }

    /// Waits until `done` holds, looked at after each notification of the waiters (registered
    /// before the look, so that no change is missed).
    async fn wait_until(&self, done: impl Fn(&Self) -> bool) {
        let Some(idle) = &self.idle else {
            return;
        };
        loop {
            let notified = idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            notified.await;
        }
    }

    /// Drops the blocking jobs held here that still wait for a thread of the pool: the owner
    /// is cancelled, and a job whose context is cancelled never runs its closure, so it need
    /// not hold the owner for its grace (nor until some other work frees a thread).
    pub(crate) fn drop_waiting_jobs(&self) {
        let jobs: Vec<Arc<dyn PendingJob>> = {
            let r = self.registry.lock();
            if r.jobs.is_empty() {
                return;
            }
            r.jobs.clone()
        };
        // Outside the lock: a job's drop drops what its closure captured.
        for job in jobs {
            job.drop_unstarted();
        }
    }

    /// Remembers a task's abort handle for the forced abort, and registers this tracker in
    /// its enclosing one (once) so that the enclosing owner's forced abort reaches it. If this
    /// tracker or an enclosing one was sealed meanwhile, the task is aborted at once.
    pub(crate) fn register_task(
        this: &Arc<dyn Enclosing>,
        handle: TaskHandle,
        runtime: Option<&tokio::runtime::Handle>,
    ) {
        let tracker = this.tracker();
        let mut let_go = LetGo::default();
        let register_here = {
            let mut r = tracker.registry.lock();
            // (A handle's clone runs no code of the user's.)
            match (&r.runtime, runtime, &handle) {
                (None, Some(runtime), _) => r.runtime = Some(runtime.clone()),
                (Some(first), Some(runtime), TaskHandle::Task(task))
                    if first.id() != runtime.id() =>
                {
                    let id = runtime.id();
                    match r.elsewhere.iter_mut().find(|e| e.runtime.id() == id) {
                        Some(other) => other.tasks.push(task.clone()),
                        None => r.elsewhere.push(Elsewhere {
                            runtime: runtime.clone(),
                            tasks: vec![task.clone()],
                        }),
                    }
                }
                _ => {}
            }
            // Keep the lists proportional to the live tasks: let go of finished ones now and
            // then, each list at any registration (a scope that had a burst of blocking jobs
            // and then spawns only tasks does not keep the ended jobs, with their closures).
            // Up to the bound's finished handles stay between two: each keeps its task's cell,
            // and that its runtime's handle (a runtime dropped meanwhile is kept until then).
            let bound = (2 * tracker.units()).max(64);
            let (aborts, jobs) = (r.aborts.len() >= bound, r.jobs.len() >= bound);
            r.let_go_of_finished(aborts, jobs, &mut let_go);
            match handle {
                TaskHandle::Task(handle) => r.aborts.push(handle),
                TaskHandle::Job(job) => r.jobs.push(job),
            }
            r.note_kept(&tracker.kept);
            r.key_in_enclosing.is_none() && tracker.enclosing.is_some()
        };
        // Outside the lock (see `LetGo`).
        drop(let_go);
        if register_here {
            Self::register_nested(this);
        }
        // This tracker's seal only: an abort from above walks down to it, sealing it before it
        // takes its table, so the handle pushed above is either in the table the walk takes or
        // seen here (see the invariants).
        if tracker.is_sealed() {
            tracker.abort_all();
        }
    }

    /// The runtimes this tracker's tasks (and blocking jobs) were handed to, and those of the
    /// trackers nested in it, at any depth, each once: where the work below its owner runs.
    pub(crate) fn runtimes(&self) -> Vec<tokio::runtime::Handle> {
        let mut all = Vec::new();
        let mut more: Vec<Arc<dyn Enclosing>> = Vec::new();
        self.runtimes_into(&mut all, &mut more);
        while let Some(nested) = more.pop() {
            nested.tracker().runtimes_into(&mut all, &mut more);
            // (The scope let go of with no lock held.)
            drop(nested);
        }
        all
    }

    /// Adds this tracker's runtimes not in `all` yet to it, and its nested trackers to `more`.
    fn runtimes_into(
        &self,
        all: &mut Vec<tokio::runtime::Handle>,
        more: &mut Vec<Arc<dyn Enclosing>>,
    ) {
        let r = self.registry.lock();
        let own = r
            .runtime
            .iter()
            .chain(r.elsewhere.iter().map(|o| &o.runtime));
        for runtime in own {
            let id = runtime.id();
            if !all.iter().any(|known| known.id() == id) {
                all.push(runtime.clone());
            }
        }
        more.extend(r.nested.iter().filter_map(|(_, n)| n.upgrade()));
    }

    /// Registers this tracker in its enclosing one (once) for a child that waits in its
    /// owner's queue, so that the enclosing owner's forced abort reaches that queue too (a
    /// scope that is never run would otherwise hold the enclosing one open for good).
    pub(crate) fn register_queued(this: &Arc<dyn Enclosing>) {
        let tracker = this.tracker();
        let register_here = {
            let r = tracker.registry.lock();
            r.key_in_enclosing.is_none() && tracker.enclosing.is_some()
        };
        if register_here {
            Self::register_nested(this);
        }
        if tracker.is_sealed() {
            // An enclosing owner's abort came before the registration (its walk seals this
            // tracker, then closes its queue).
            this.close_queue();
        }
    }

    /// Registers this tracker in its enclosing one, and that one in its own, up the chain to
    /// the first already registered: an owner's forced abort walks down through the trackers
    /// registered in it, and one with no unit of its own (a scope between whose only work is
    /// a nested scope's) must not hide the work below it.
    fn register_nested(this: &Arc<dyn Enclosing>) {
        let mut this = Arc::clone(this);
        loop {
            let tracker = this.tracker();
            let Some(enclosing) = tracker.enclosing.clone() else {
                return;
            };
            // Lock order: never both registries at once.
            let key = enclosing
                .tracker()
                .registry
                .lock()
                .nested
                .insert(Arc::downgrade(&this));
            let stale = {
                let mut r = tracker.registry.lock();
                if r.key_in_enclosing.is_none() {
                    r.key_in_enclosing = Some(key);
                    None
                } else {
                    Some(key)
                }
            };
            if let Some(key) = stale {
                // Another task registered this tracker first (and the chain above it).
                let removed = enclosing.tracker().registry.lock().nested.remove(key);
                drop(removed);
                return;
            }
            let up = enclosing.tracker();
            if up.is_sealed() {
                // Inserted where an abort above may have passed already (it seals a tracker,
                // then takes its table, and took this one before the insert): what was
                // inserted, and everything registered below it, is aborted here. (If the walk
                // took a table above that this chain has not reached yet, the step that
                // inserts into it finds that one sealed, and aborts the chain below it.)
                tracker.abort_all();
                this.close_queue();
                return;
            }
            let registered =
                up.enclosing.is_none() || up.registry.lock().key_in_enclosing.is_some();
            if registered {
                return;
            }
            this = enclosing;
        }
    }

    /// Whether the runtime has completed every task a forced abort of this tracker stopped.
    /// A task's unit is given back as its future is dropped, and the runtime completes the
    /// task (its `JoinHandle`, which a spawned child's handle reads, is ready) just after: a
    /// body's last poll that came between read its aborted children's handles as pending,
    /// and was dropped with the value it would have returned.
    pub(crate) fn stopped_tasks_completed(&self) -> bool {
        // The handles stay in the registry while they are looked at (an abort walking down
        // from an enclosing tracker reads them there); only the finished ones come out.
        let mut finished = Vec::new();
        let all = {
            let mut r = self.registry.lock();
            move_out(
                &mut r.stopped,
                &mut finished,
                tokio::task::AbortHandle::is_finished,
            );
            r.stopped.is_empty()
        };
        // Outside the lock: a handle's drop may free its task, and with it its output.
        drop(finished);
        all
    }

    /// The forced end: seals the tracker (no unit is taken here or below from now on) and
    /// aborts every task of it and of every nested tracker, at any depth (iteratively).
    pub(crate) fn abort_all(&self) {
        let epoch = next_abort_epoch();
        let mut more: Vec<Arc<dyn Enclosing>> = Vec::new();
        let mut below = Vec::new();
        self.abort_here(&mut more, false, epoch, &mut below);
        while let Some(nested) = more.pop() {
            nested
                .tracker()
                .abort_here(&mut more, true, epoch, &mut below);
            // No lock of ours is held: the queued futures (user code) are dropped here.
            nested.close_queue();
        }
        // The tasks stopped below are this tracker's to wait for too: its owner's body may
        // await a nested scope whose body reads their handles, and that scope's run, polled
        // in this owner's last poll, has no later poll to wait in (see
        // `stopped_tasks_completed`).
        if !below.is_empty() {
            self.registry.lock().stopped.extend(below);
        }
    }

    /// `taken`: this tracker's entry was taken out of its enclosing tracker's table, so its
    /// key there no longer names it.
    /// `below`: where the abort of a nested tracker adds the tasks it stopped (and those its
    /// owner's own abort stopped before), for the tracker the abort began at.
    fn abort_here(
        &self,
        more: &mut Vec<Arc<dyn Enclosing>>,
        taken: bool,
        epoch: u64,
        below: &mut Vec<tokio::task::AbortHandle>,
    ) {
        // Release: whoever sees it aborted sees it sealed. (Before the seal: a finish racing
        // the abort is not read as one.) An abort walking down stores its own epoch; the
        // latest one stays.
        self.aborted.fetch_max(epoch, Ordering::AcqRel);
        // AcqRel: see the invariants.
        self.state.fetch_or(SEALED | CLOSED, Ordering::AcqRel);
        let (aborts, jobs, nested) = {
            let mut r = self.registry.lock();
            if taken {
                r.key_in_enclosing = None;
                // Stopped by an abort of its own owner's before this one: still below.
                below.extend(r.stopped.iter().cloned());
            }
            let taken = (
                std::mem::take(&mut r.aborts),
                std::mem::take(&mut r.jobs),
                std::mem::take(&mut r.nested),
            );
            r.note_kept(&self.kept);
            taken
        };
        for handle in &aborts {
            handle.abort();
        }
        if taken {
            below.extend(aborts.iter().cloned());
        }
        if !aborts.is_empty() {
            self.registry.lock().stopped.extend(aborts);
        }
        // Outside the lock: a job's drop drops what its closure captured.
        for job in jobs {
            job.drop_unstarted();
        }
        more.extend(nested.into_values().filter_map(|w| w.upgrade()));
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let key = self.registry.lock().key_in_enclosing.take();
        if let (Some(key), Some(enclosing)) = (key, &self.enclosing) {
            let removed = enclosing.tracker().registry.lock().nested.remove(key);
            drop(removed);
        }
        if let Some(enclosing) = self.enclosing.take() {
            release_enclosing(enclosing);
        }
    }
}

impl Tracker {
    /// Whether its owner has started, and how many units it holds (for a scope's `Debug`).
    pub(crate) fn started_and_units(&self) -> (bool, usize) {
        // Relaxed: a snapshot for display.
        let s = self.state.load(Ordering::Relaxed);
        (s & STARTED != 0, s / UNIT)
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a snapshot for display.
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("Tracker")
            .field("units", &(s / UNIT))
            .field("started", &(s & STARTED != 0))
            .field("closed", &(s & CLOSED != 0))
            .field("sealed", &(s & SEALED != 0))
            .field("nested", &self.enclosing.is_some())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// Polls a wait on the waiters' `Notify` with a waker of its own, which passes each wake on
    /// to the task's through an [`AtomicWaker`] (whose wake catches a panic of the task's
    /// waker). tokio's `Notify` wakes its waiters in batches, and a waker that panics there
    /// leaves the rest of its batch unwoken: other waits of the same tracker (a second
    /// service's drain) slept to their budgets' ends (`probe155`).
    struct RelayedWakes<F> {
        #[pin]
        wait: F,
        relay: Arc<Relay>,
    }
}

/// The task a [`RelayedWakes`] wait was last polled by.
struct Relay(AtomicWaker);

impl std::task::Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.0.wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake();
    }
}

impl<F> RelayedWakes<F> {
    fn new(wait: F) -> Self {
        RelayedWakes {
            wait,
            relay: Arc::new(Relay(AtomicWaker::default())),
        }
    }
}

impl<F: std::future::Future> std::future::Future for RelayedWakes<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        task: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        // Registered before the wait is polled: a wake from then on reaches this task.
        this.relay.0.register(task.waker());
        let relay = Waker::from(Arc::clone(this.relay));
        this.wait.poll(&mut std::task::Context::from_waker(&relay))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::{Enclosing, Refused, Tracker};

    struct Owner(Tracker);

    impl Enclosing for Owner {
        fn tracker(&self) -> &Tracker {
            &self.0
        }
    }

    /// A chain of `depth` trackers, each nested in the one before: the outermost first.
    fn chain(depth: usize) -> Vec<Arc<Owner>> {
        let mut chain = vec![Arc::new(Owner(Tracker::new(None)))];
        for _ in 1..depth {
            let up = Arc::clone(chain.last().expect("the chain has a tracker"));
            chain.push(Arc::new(Owner(Tracker::new(Some(
                up as Arc<dyn Enclosing>,
            )))));
        }
        chain
    }

    #[test]
    fn a_unit_deep_below_holds_one_unit_of_each_enclosing_tracker_not_one_per_unit() {
        let chain = chain(1_000);
        let (outermost, innermost) = (&chain[0].0, &chain[999].0);
        for _ in 0..100 {
            innermost.enter().unwrap();
        }
        // The spawns below touched one count each after the first: every enclosing tracker
        // holds one unit, the link of the one below it.
        assert_eq!(innermost.units(), 100);
        assert!(chain[..999].iter().all(|o| o.0.units() == 1));
        assert!(
            !outermost.try_finish(),
            "the outermost waits for the units below"
        );
        for _ in 0..99 {
            innermost.exit();
        }
        assert!(chain[..999].iter().all(|o| o.0.units() == 1));
        assert!(!outermost.try_finish());
        // The last unit gives every link back.
        innermost.exit();
        assert!(chain.iter().all(|o| o.0.units() == 0));
        assert!(outermost.try_finish());
        assert_eq!(innermost.enter(), Err(Refused::EnclosingSealed));
        assert!(
            chain.iter().all(|o| o.0.units() == 0),
            "a refusal keeps nothing"
        );
    }

    /// The first unit below a long chain of idle trackers links every one of them in a loop:
    /// it fits a small stack (a recursion, one frame per level, overflowed it: a chain of
    /// nested scopes each run on a task of its own keeps its polls' stack flat, `probe137`).
    #[test]
    fn a_first_unit_below_100_000_idle_trackers_needs_no_stack_per_level() {
        let done = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(|| {
                let chain = chain(100_000);
                let innermost = &chain[99_999].0;
                innermost.enter().unwrap();
                assert!(chain.iter().all(|o| o.0.units() == 1));
                innermost.exit();
                assert!(chain.iter().all(|o| o.0.units() == 0));
                assert!(chain[0].0.try_finish());
                assert_eq!(innermost.enter(), Err(Refused::EnclosingSealed));
                assert!(chain.iter().all(|o| o.0.units() == 0));
            })
            .unwrap()
            .join();
        assert!(done.is_ok());
    }

    #[test]
    fn a_first_unit_refused_below_a_sealed_tracker_gives_back_what_it_took() {
        let chain = chain(4);
        // The second tracker has units of its own; the outermost cannot finish.
        chain[1].0.enter().unwrap();
        assert!(!chain[0].0.try_finish());
        // The innermost's first unit links into the third, which links into the second
        // (already above zero: one count touched there).
        chain[3].0.enter().unwrap();
        assert_eq!(
            chain.iter().map(|o| o.0.units()).collect::<Vec<_>>(),
            [1, 2, 1, 1]
        );
        // The third closes (its owner's body returned): its own direct units are refused, a
        // unit below it is not (only a seal refuses those).
        chain[2].0.close();
        assert_eq!(chain[2].0.enter(), Err(Refused::Closed));
        chain[3].0.enter().unwrap();
        assert_eq!(
            chain.iter().map(|o| o.0.units()).collect::<Vec<_>>(),
            [1, 2, 1, 2]
        );
        chain[3].0.exit();
        chain[3].0.exit();
        chain[1].0.exit();
        assert!(chain.iter().all(|o| o.0.units() == 0));
        assert!(chain[2].0.try_finish());
        // Below a finished tracker, a first unit is refused and the links it took on the way
        // are given back.
        assert_eq!(chain[3].0.enter(), Err(Refused::EnclosingSealed));
        assert!(chain.iter().all(|o| o.0.units() == 0));
        assert!(chain[0].0.try_finish());
    }
}
