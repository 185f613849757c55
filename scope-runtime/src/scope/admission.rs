//! A scope's admission: which children start now, and the queue of those that wait, in spawn
//! order, for a slot of the scope's limit or for the scope to start running.
//!
//! A queued child is not a task: it is its future, stored here (a spawned child) or in the
//! scope's local queue (an in-place child), and becomes a task (or is polled) only when
//! admitted. Once admission is closed (the scope was cancelled, or failed), nothing queued
//! starts: the queue is handed back to be dropped, and the handles report that their children
//! never ran.
//!
//! # Lock order
//!
//! The admission lock is a leaf: it is held only to move entries and counts. Starting,
//! waking and dropping an entry happen after it is released.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use super::tracker::TaskHandle;
use crate::error::SpawnError;
use crate::sync::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, AtomicWaker, Mutex, Ordering};

/// A child waiting for admission.
pub(crate) enum Queued {
    /// A spawned child: calling it starts the child on the runtime; dropping it, never. The
    /// ticket is shared with its handle.
    Spawn(Arc<Ticket>, Box<dyn FnOnce(Seq) + Send>),
    /// The next in-place child of the scope's local queue.
    InPlace,
    /// A spawning loop waiting for a slot before it creates its next child.
    Waiter(Arc<Waiter>),
}

/// A spawning loop waiting for a slot ([`Scope::reserve`](crate::Scope::reserve)).
///
/// Its answer and its giving up race (a child's end hands it a slot on one thread while its
/// `Reserve` is dropped on another): the state moves out of `WAITING` once, by a
/// compare-and-swap, so exactly one side owns a granted slot and passes it on.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// `WAITING`, `GRANTED` (it holds a slot now), `REFUSED` (admission closed) or
    /// `ABANDONED` (its future was dropped before an answer reached it).
    state: AtomicU8,
    /// Its place in the start window, once granted.
    seq: AtomicU64,
    waker: AtomicWaker,
}

const WAITING: u8 = 0;
const GRANTED: u8 = 1;
const REFUSED: u8 = 2;
const ABANDONED: u8 = 3;

impl Default for Waiter {
    fn default() -> Self {
        Waiter {
            state: AtomicU8::new(WAITING),
            seq: AtomicU64::new(NO_SEQ),
            waker: AtomicWaker::default(),
        }
    }
}

impl Waiter {
    /// Hands it a slot at place `seq` (or refuses it), and wakes it. `false` if it had given
    /// up meanwhile: then a granted slot is still the caller's, to pass on.
    #[must_use = "a slot handed to a waiter that gave up must be passed on"]
    pub(crate) fn answer(&self, granted: bool, seq: Seq) -> bool {
        // Relaxed: published by the Release compare-and-swap below.
        self.seq.store(seq, Ordering::Relaxed);
        let answer = if granted { GRANTED } else { REFUSED };
        // Release: the waiter's Acquire load sees the answer and what preceded it. Acquire
        // on failure: nothing to read, but it orders with the giving up.
        if self
            .state
            .compare_exchange(WAITING, answer, Ordering::Release, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.waker.wake();
        true
    }

    /// Its future was dropped while it waited: `Some(seq)` if a slot (at place `seq`) was
    /// handed to it first, which the caller passes on; `None` otherwise (a slot handed to it
    /// from now on stays with whoever hands it).
    fn abandon(&self) -> Option<Seq> {
        // Acquire: pairs with the Release compare-and-swap in `answer` (its `seq`).
        match self.state.swap(ABANDONED, Ordering::Acquire) {
            // Relaxed: read after the Acquire swap that saw it granted.
            GRANTED => Some(self.seq.load(Ordering::Relaxed)),
            _ => None,
        }
    }

    /// Its place in the start window (after it was granted).
    pub(crate) fn seq(&self) -> Seq {
        // Relaxed: read after the Acquire load that saw it granted.
        self.seq.load(Ordering::Relaxed)
    }

    /// `Some(true)` once granted, `Some(false)` once refused; registers `waker` otherwise.
    pub(crate) fn poll(&self, waker: &std::task::Waker) -> Option<bool> {
        self.waker.register(waker);
        // Acquire: pairs with the Release compare-and-swap in `answer`.
        match self.state.load(Ordering::Acquire) {
            GRANTED => Some(true),
            REFUSED => Some(false),
            _ => None,
        }
    }
}

/// A spawned child's place in the start window (see [`Admission`]); [`NO_SEQ`] for children
/// that have none (in-place children, which start when admitted, and scopes without a limit).
pub(crate) type Seq = u64;

/// No place in the start window.
pub(crate) const NO_SEQ: Seq = Seq::MAX;

/// What `try_spawn`'s look for room found ([`Admission::take_room`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Room {
    /// No limit: nothing to take.
    Free,
    /// A slot, taken now, with the child's place in the start window (`NO_SEQ` for an
    /// in-place child, which takes none): the child is spawned into it as into a reserved
    /// one.
    Slot(Seq),
    /// Room, but no slot to take yet (the scope does not run, or its start window is full):
    /// the place is promised, and the child waits in the queue as any child would.
    Promised,
}

/// A child let through, with its place in the start window.
pub(crate) struct Admitted(pub(crate) Queued, pub(crate) Seq);

/// Admission to a scope's limit.
///
/// With a limit, a child takes a slot when it is let through and gives it back when it ends;
/// it also takes a place in the *start window*, given back once it has started (first
/// polled). The runtime may leave a spawned task unpolled for a while; the window keeps the
/// other slots from admitting children far beyond it meanwhile, so that no child starts more
/// than the limit's number of places away from its spawn position.
pub(crate) struct Admission {
    /// The scope's limit of running children, if it has one.
    limit: Option<usize>,
    state: Mutex<State>,
    /// In-place children at the front of the scope's local queue that are admitted (hold a
    /// slot), not yet taken by the run. Counted up under `state`'s lock as an in-place entry
    /// is let through, so that a look under that lock sees every child let through so far
    /// (see [`remove_waiting_in_place`](Self::remove_waiting_in_place)); the run takes the
    /// count (and as many children) with no lock.
    pub(crate) in_place_admitted: AtomicUsize,
}

struct State {
    /// The scope's run has started: children may start.
    started: bool,
    /// The scope was cancelled or failed: nothing queued starts any more.
    closed: bool,
    /// Children holding a slot of the limit (counted only with a limit).
    running: usize,
    queue: VecDeque<Queued>,
    /// How many of `queue`'s entries are in-place children's (see `remove_in_place`).
    in_place: usize,
    /// Spawned children that take no slot (background children), waiting only for the run
    /// to start.
    unlimited: VecDeque<Queued>,
    window: Window,
    /// Slots held by reservations (a `Reserved`, or a waiting `Reserve` answered with one),
    /// counted in `running`.
    reserved: usize,
    /// `try_spawn`s that found room but took no slot (the scope did not run yet, or its start
    /// window was full): each place is promised until its child arrives, so that two tries at
    /// once do not both count the one free place.
    promised: usize,
    /// The body has returned: nothing can be spawned into a reservation any more, so none is
    /// granted, and those held gave their slots back ([`Admission::end_reservations`]).
    reservations_over: bool,
}

/// The places of spawned children let through but perhaps not yet started: `base` is the
/// oldest place not yet started, `marks[i]` whether place `base + i` has started.
#[derive(Default)]
struct Window {
    base: Seq,
    marks: VecDeque<bool>,
}

impl Window {
    fn open(&mut self) -> Seq {
        let seq = self.base + self.marks.len() as Seq;
        self.marks.push_back(false);
        seq
    }

    fn mark(&mut self, seq: Seq) {
        let Some(i) = seq.checked_sub(self.base) else {
            return;
        };
        if let Some(m) = usize::try_from(i).ok().and_then(|i| self.marks.get_mut(i)) {
            *m = true;
        }
        while self.marks.front() == Some(&true) {
            self.marks.pop_front();
            self.base += 1;
        }
    }
}

impl Admission {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Admission {
            limit,
            in_place_admitted: AtomicUsize::new(0),
            state: Mutex::new(State {
                started: false,
                closed: false,
                running: 0,
                queue: VecDeque::new(),
                in_place: 0,
                unlimited: VecDeque::new(),
                window: Window::default(),
                reserved: 0,
                promised: 0,
                reservations_over: false,
            }),
        }
    }

    pub(crate) fn is_limited(&self) -> bool {
        self.limit.is_some()
    }

    /// A slot is free and the start window has room.
    fn room(&self, s: &State) -> bool {
        self.limit
            .is_none_or(|n| s.running < n && s.window.marks.len() < n)
    }

    fn admissible(&self, s: &State) -> bool {
        s.started && !s.closed && s.queue.is_empty() && self.room(s)
    }

    /// Takes a slot, and (for a spawned child) a place in the start window. `slot_only`: an
    /// in-place child, which starts at its admission, or a reservation, which is no child
    /// yet (the child spawned into it takes its place then: [`open_place`](Self::open_place)).
    fn grant(&self, s: &mut State, slot_only: bool) -> Seq {
        if self.limit.is_none() {
            return NO_SEQ;
        }
        s.running += 1;
        if slot_only {
            NO_SEQ
        } else {
            s.window.open()
        }
    }

    /// A place in the start window for a child spawned into a reserved slot, at its spawn.
    pub(crate) fn open_place(&self) -> Seq {
        if self.limit.is_none() {
            return NO_SEQ;
        }
        self.state.lock().window.open()
    }

    /// The first child waiting, let through if it may start now.
    fn next(&self, s: &mut State) -> Option<Admitted> {
        if !s.started || s.closed || !self.room(s) {
            return None;
        }
        let q = s.queue.pop_front()?;
        if s.queue.is_empty() && s.queue.capacity() > crate::slab::KEPT_WHEN_EMPTY {
            // A long-lived scope does not keep a burst's queue for the rest of its life (an
            // empty queue: nothing of the user's is dropped here).
            s.queue.shrink_to(crate::slab::KEPT_WHEN_EMPTY);
        }
        match q {
            Queued::InPlace => {
                s.in_place -= 1;
                self.admitted_in_place();
            }
            Queued::Waiter(_) => s.reserved += 1,
            Queued::Spawn(..) => {}
        }
        let seq = self.grant(s, matches!(q, Queued::InPlace | Queued::Waiter(_)));
        Some(Admitted(q, seq))
    }

    /// Takes a slot now (for a spawned child, with a limit) if a child may start now: the
    /// scope is running, nothing waits before it, and a slot is free.
    pub(crate) fn try_admit(&self) -> Option<Seq> {
        let mut s = self.state.lock();
        self.admissible(&s).then(|| self.grant(&mut s, false))
    }

    /// Whether a new child would find a free slot (for `try_spawn`): with a limit, fewer
    /// children hold, wait for or are promised a slot than the limit. What the look found is
    /// kept under the same lock, so that two children tried at once do not both count the
    /// one free slot: see [`Room`].
    pub(crate) fn take_room(&self, in_place: bool) -> Result<Room, super::SpawnError> {
        let Some(n) = self.limit else {
            return Ok(Room::Free);
        };
        let mut s = self.state.lock();
        let taken = s
            .running
            .saturating_add(s.queue.len())
            .saturating_add(s.promised);
        if taken >= n {
            return Err(super::SpawnError::Full);
        }
        if self.admissible(&s) {
            return Ok(Room::Slot(self.grant(&mut s, in_place)));
        }
        s.promised += 1;
        Ok(Room::Promised)
    }

    /// A promised child is not coming (it was refused on the way).
    pub(crate) fn unpromise(&self) {
        self.state.lock().promised -= 1;
    }

    /// [`try_admit`](Self::try_admit) for a promised child: admitted, its promise is kept
    /// (it holds a slot now); not, it stays promised until it [arrives](Self::arrive).
    pub(crate) fn try_admit_promised(&self) -> Option<Seq> {
        let mut s = self.state.lock();
        if !self.admissible(&s) {
            return None;
        }
        s.promised -= 1;
        Some(self.grant(&mut s, false))
    }

    /// A new child arrives: `Ok(Some(..))` starts it now (it holds a slot, with a limit),
    /// `Ok(None)` queued it, `Err((q, why))` hands it back, for the caller to drop:
    /// [`Closed`](SpawnError::Closed), admission is closed; [`Full`](SpawnError::Full), only
    /// for a promised child (below).
    ///
    /// `promised`: a `try_spawn`'s child whose place was promised at its look
    /// ([`Room::Promised`]); its arrival ends the promise, under the same lock. A child spawned
    /// from another thread between that look and this arrival (a plain spawn, which counts no
    /// promise) may have filled the limit ahead of it: then it would wait behind a full limit,
    /// which a try never does, and it is refused `Full` here instead (the try is decided at
    /// its arrival).
    pub(crate) fn arrive(
        &self,
        q: Queued,
        promised: bool,
    ) -> Result<Option<Admitted>, (Queued, SpawnError)> {
        let mut s = self.state.lock();
        if promised {
            s.promised -= 1;
        }
        if s.closed {
            return Err((q, SpawnError::Closed));
        }
        if promised
            && !self.admissible(&s)
            && self
                .limit
                .is_some_and(|n| s.running.saturating_add(s.queue.len()) >= n)
        {
            return Err((q, SpawnError::Full));
        }
        if self.admissible(&s) {
            let seq = self.grant(&mut s, matches!(q, Queued::InPlace));
            if matches!(q, Queued::InPlace) {
                self.admitted_in_place();
            }
            return Ok(Some(Admitted(q, seq)));
        }
        if matches!(q, Queued::InPlace) {
            s.in_place += 1;
        }
        s.queue.push_back(q);
        Ok(None)
    }

    /// A new spawned child that takes no slot of the limit (a background child): `Ok(Some(..))`
    /// starts it now, `Ok(None)` queued it until the run starts, `Err(q)` hands it back
    /// because admission is closed (drop it).
    pub(crate) fn arrive_unlimited(&self, q: Queued) -> Result<Option<Admitted>, Queued> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(q);
        }
        if s.started {
            return Ok(Some(Admitted(q, NO_SEQ)));
        }
        s.unlimited.push_back(q);
        Ok(None)
    }

    /// The scope starts running: the children to start now (those that take no slot first,
    /// then the others), each group in spawn order.
    pub(crate) fn start(&self) -> Vec<Admitted> {
        let mut s = self.state.lock();
        s.started = true;
        let mut now: Vec<Admitted> = std::mem::take(&mut s.unlimited)
            .into_iter()
            .map(|q| Admitted(q, NO_SEQ))
            .collect();
        now.extend(std::iter::from_fn(|| self.next(&mut s)));
        now
    }

    /// A child holding a slot has ended: the slot passes to the first child waiting (returned,
    /// to be started by the caller), or is freed. Nothing is handed on once closed.
    pub(crate) fn release(&self) -> Option<Admitted> {
        let mut s = self.state.lock();
        s.running = s.running.saturating_sub(1);
        self.next(&mut s)
    }

    /// The spawned child at place `seq` has started (or will never start): the window moves
    /// on, and the children it lets through are returned, to be started by the caller.
    pub(crate) fn started(&self, seq: Seq) -> Vec<Admitted> {
        if seq == NO_SEQ {
            return Vec::new();
        }
        let mut s = self.state.lock();
        s.window.mark(seq);
        std::iter::from_fn(|| self.next(&mut s)).collect()
    }

    /// A spawning loop asks for a slot: `Ok(Some(seq))` it holds one now (and the place
    /// `seq`), `Ok(None)` it waits in the queue (answered through `waiter`), `Err(())`
    /// admission is closed.
    pub(crate) fn reserve(&self, waiter: &Arc<Waiter>) -> Result<Option<Seq>, ()> {
        let mut s = self.state.lock();
        if s.closed || s.reservations_over {
            return Err(());
        }
        if self.admissible(&s) {
            s.reserved += 1;
            return Ok(Some(self.grant(&mut s, true)));
        }
        s.queue.push_back(Queued::Waiter(Arc::clone(waiter)));
        Ok(None)
    }

    /// A spawning loop asks for a slot now, without waiting: `Ok(seq)` it holds one (and the
    /// place `seq`), `Err(..)` why not.
    pub(crate) fn try_reserve(&self) -> Result<Seq, SpawnError> {
        let mut s = self.state.lock();
        if s.closed || s.reservations_over {
            Err(SpawnError::Closed)
        } else if !s.started {
            Err(SpawnError::NotRunning)
        } else if self.admissible(&s) {
            s.reserved += 1;
            Ok(self.grant(&mut s, true))
        } else {
            Err(SpawnError::Full)
        }
    }

    /// A waiting spawning loop gave up (its future was dropped): it leaves the queue. If it
    /// was handed a slot meanwhile, returns that slot's place in the start window: the caller
    /// passes the slot (and the place) on.
    pub(crate) fn give_up(&self, waiter: &Arc<Waiter>) -> Option<Seq> {
        if self.withdraw(waiter) {
            return None;
        }
        waiter.abandon()
    }

    /// Takes a waiting spawning loop out of the queue. `false` if it was no longer there (it
    /// was answered meanwhile).
    fn withdraw(&self, waiter: &Arc<Waiter>) -> bool {
        let mut s = self.state.lock();
        let Some(i) = position_from_both_ends(
            &s.queue,
            |q| matches!(q, Queued::Waiter(w) if Arc::ptr_eq(w, waiter)),
        ) else {
            return false;
        };
        s.queue.remove(i);
        true
    }

    /// Takes a queued spawned child out of the queue (its handle cancelled it before it
    /// started), for the caller to drop outside the lock.
    pub(crate) fn remove(&self, ticket: &Arc<Ticket>) -> Option<Queued> {
        if !ticket.is_waiting() {
            // A task already (or aborted): in the queue no more, no search for it.
            return None;
        }
        let mut s = self.state.lock();
        let is = |q: &Queued| matches!(q, Queued::Spawn(t, _) if Arc::ptr_eq(t, ticket));
        if let Some(i) = position_from_both_ends(&s.queue, is) {
            return s.queue.remove(i);
        }
        let i = position_from_both_ends(&s.unlimited, is)?;
        s.unlimited.remove(i)
    }

    /// One in-place child fewer waits (its handle cancelled it before it was admitted): takes
    /// its entry out: the child at `at` in the scope's local queue is the `at - admitted`-th
    /// waiting one (the waiting in-place children and their entries are in the same order),
    /// or the last one if there are fewer. `Some(false)` if none waits; `None` if the child
    /// is among those let through (a slot reached it on another thread, maybe as the caller
    /// looked): it holds a slot, and the caller stops it as a running one.
    pub(crate) fn remove_waiting_in_place(&self, at: usize) -> Option<bool> {
        let mut s = self.state.lock();
        // Acquire: with the lock, every entry let through so far is counted.
        let rank = at.checked_sub(self.in_place_admitted.load(Ordering::Acquire))?;
        if s.in_place == 0 {
            return Some(false);
        }
        // Looked for from the nearer end: a set stops its newest children first, and a
        // search from the front for each made stopping many of them quadratic.
        let rank = rank.min(s.in_place - 1);
        let mut in_place = s
            .queue
            .iter()
            .enumerate()
            .filter(|(_, q)| matches!(q, Queued::InPlace))
            .map(|(i, _)| i);
        let found = if rank < s.in_place / 2 {
            in_place.nth(rank)
        } else {
            in_place.nth_back(s.in_place - 1 - rank)
        };
        let Some(i) = found else {
            return Some(false);
        };
        s.queue.remove(i);
        s.in_place -= 1;
        Some(true)
    }

    /// An in-place child is let through (it holds a slot, or needs none): counted for the run
    /// to take.
    pub(crate) fn admitted_in_place(&self) {
        // Release: the run's Acquire swap sees the child pushed before it.
        self.in_place_admitted.fetch_add(1, Ordering::Release);
    }

    /// A reservation's slot leaves it (to the child spawned into it, or given back as it is
    /// dropped): `false` if the reservation gave it back already, as the body returned
    /// ([`end_reservations`](Self::end_reservations)), and it holds nothing.
    pub(crate) fn claim_reserved(&self) -> bool {
        let mut s = self.state.lock();
        if s.reservations_over {
            return false;
        }
        s.reserved -= 1;
        true
    }

    /// The body has returned, and nothing can be spawned into a reservation any more: the
    /// slots the reservations hold (wherever they are kept: the body's value, a variable of
    /// the caller's) are given back, and none is granted from now on. Returns the spawning
    /// loops still waiting, for the caller to refuse, and the children the freed slots let
    /// through, for the caller to start (both outside the lock).
    pub(crate) fn end_reservations(&self) -> (Vec<Arc<Waiter>>, Vec<Admitted>) {
        let mut s = self.state.lock();
        if s.reservations_over {
            return (Vec::new(), Vec::new());
        }
        s.reservations_over = true;
        s.running = s.running.saturating_sub(s.reserved);
        s.reserved = 0;
        let mut waiters = Vec::new();
        s.queue.retain(|q| match q {
            Queued::Waiter(w) => {
                waiters.push(Arc::clone(w));
                false
            }
            _ => true,
        });
        let admitted = std::iter::from_fn(|| self.next(&mut s)).collect();
        (waiters, admitted)
    }

    /// Closes admission: nothing queued starts from now on. Returns the queue, for the caller
    /// to drop outside the lock.
    pub(crate) fn close(&self) -> VecDeque<Queued> {
        let mut s = self.state.lock();
        s.closed = true;
        s.in_place = 0;
        let mut queue = std::mem::take(&mut s.queue);
        queue.append(&mut s.unlimited);
        queue
    }
}

impl Admission {
    /// The limit and how many children wait for a slot (for a scope's `Debug`).
    pub(crate) fn limit_and_queued(&self) -> (Option<usize>, usize) {
        let queued = {
            let s = self.state.lock();
            s.queue.len() + s.unlimited.len()
        };
        (self.limit, queued)
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Copied out first: the formatter's writer is the user's code, which may use the scope.
        let (started, closed, running, queued) = {
            let s = self.state.lock();
            (
                s.started,
                s.closed,
                s.running,
                s.queue.len() + s.unlimited.len(),
            )
        };
        f.debug_struct("Admission")
            .field("limit", &self.limit)
            .field("started", &started)
            .field("closed", &closed)
            .field("running", &running)
            .field("queued", &queued)
            .field(
                "in_place_admitted",
                &self.in_place_admitted.load(Ordering::Relaxed),
            )
            .finish()
    }
}

/// Something that can be stopped at once: a runtime task's abort handle (a stand-in in the
/// loom models, which run no runtime).
pub(crate) trait Abort: Clone {
    fn abort(&self);
}

impl Abort for TaskHandle {
    fn abort(&self) {
        TaskHandle::abort(self);
    }
}

/// The index of the entry that matches, looked for from both ends at once: a queued child is
/// stopped at the cost of its distance to the nearer end (which is also what its removal
/// shifts), so stopping many one after the other, oldest or newest first (a set stops its
/// newest first), is linear, not quadratic.
pub(crate) fn position_from_both_ends<T>(
    queue: &VecDeque<T>,
    is: impl Fn(&T) -> bool,
) -> Option<usize> {
    let (mut front, mut back) = (0, queue.len());
    while front < back {
        if is(&queue[front]) {
            return Some(front);
        }
        back -= 1;
        if is(&queue[back]) {
            return Some(back);
        }
        front += 1;
    }
    None
}

/// The start of a queued spawned child, shared with its handle, so that the handle can abort
/// it before or after it becomes a task.
pub(crate) struct Ticket<H = TaskHandle> {
    state: Mutex<TicketState<H>>,
    /// Its handle's [`abort`](crate::Child::abort) asked for the abort (not the end of a
    /// grace): a blocking child's closure, which no abort stops, has what it returns then
    /// dropped (see [`Ticket::end`]).
    by_handle: AtomicBool,
}

impl<H> Default for Ticket<H> {
    fn default() -> Self {
        Ticket {
            state: Mutex::new(TicketState::Waiting),
            by_handle: AtomicBool::new(false),
        }
    }
}

enum TicketState<H> {
    Waiting,
    Running(H),
    Aborted,
    /// A blocking child's closure returned before any abort: a later one finds it finished
    /// (see [`Ticket::end`]).
    Ended,
}

impl<H: Abort> Ticket<H> {
    /// Whether the child may still start (it was not aborted while it waited).
    pub(crate) fn may_start(&self) -> bool {
        !matches!(*self.state.lock(), TicketState::Aborted)
    }

    /// The child is now a task; if it was aborted meanwhile, it is aborted now.
    pub(crate) fn started(&self, handle: &H) {
        let aborted = {
            let mut s = self.state.lock();
            let aborted = matches!(*s, TicketState::Aborted);
            // (A blocking child's closure may have ended already: it stays ended.)
            if matches!(*s, TicketState::Waiting) {
                *s = TicketState::Running(handle.clone());
            }
            aborted
        };
        if aborted {
            handle.abort();
        }
    }

    /// Aborts the child: it never starts, or its task is aborted.
    pub(crate) fn abort(&self) {
        let running = {
            let mut s = self.state.lock();
            if matches!(*s, TicketState::Ended) {
                // Nothing left to abort: its outcome stands.
                return;
            }
            match std::mem::replace(&mut *s, TicketState::Aborted) {
                TicketState::Running(handle) => Some(handle),
                TicketState::Waiting | TicketState::Aborted | TicketState::Ended => None,
            }
        };
        if let Some(handle) = running {
            handle.abort();
        }
    }
}

impl<H> Ticket<H> {
    /// Its handle is about to abort it (before the abort itself).
    pub(crate) fn aborting_by_handle(&self) {
        // Release: before the abort cancels the child's context, so a closure that returns
        // because it saw that cancel is read as aborted (pairs with the Acquire in `end`).
        self.by_handle.store(true, Ordering::Release);
    }

    /// A blocking child's closure has returned: whether its handle's
    /// [`abort`](crate::Child::abort) came before, so that the value it returned is dropped
    /// and its handle reads the abort, as a spawned child's would. (The end of a grace its
    /// handle's cancel gave it aborts too, but a blocking child's cancel only asks: what it
    /// returns then stands.) An abort from now on finds it finished.
    pub(crate) fn end(&self) -> bool {
        let running = {
            let mut s = self.state.lock();
            // Acquire: pairs with the Release store in `aborting_by_handle`.
            let by_handle = self.by_handle.load(Ordering::Acquire);
            if by_handle || matches!(*s, TicketState::Aborted) {
                return by_handle;
            }
            std::mem::replace(&mut *s, TicketState::Ended)
        };
        // Outside the lock: what it held (the job's cell) may be the last reference.
        drop(running);
        false
    }

    /// Whether the child still waits to start (not yet a task, not aborted).
    pub(crate) fn is_waiting(&self) -> bool {
        matches!(*self.state.lock(), TicketState::Waiting)
    }
}

impl Ticket<TaskHandle> {
    /// Drops the child's blocking job if it still waits for a thread of the pool: stopped, it
    /// could never run (its closure is not called once its context is cancelled).
    pub(crate) fn drop_waiting_job(&self) {
        let job = match &*self.state.lock() {
            TicketState::Running(TaskHandle::Job(job)) => Some(Arc::clone(job)),
            _ => None,
        };
        // Outside the lock: the job's drop drops what the closure captured.
        if let Some(job) = job {
            job.drop_unstarted();
        }
    }

    /// Whether there is nothing left to abort: the child's task has ended, or it was aborted.
    pub(crate) fn is_finished(&self) -> bool {
        match &*self.state.lock() {
            TicketState::Waiting => false,
            TicketState::Running(handle) => handle.is_finished(),
            TicketState::Aborted | TicketState::Ended => true,
        }
    }
}

impl<H> fmt::Debug for Ticket<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.state.lock() {
            TicketState::Waiting => "waiting",
            TicketState::Running(_) => "running",
            TicketState::Aborted => "aborted",
            TicketState::Ended => "ended",
        };
        // Relaxed: a snapshot for display.
        let by_handle = self.by_handle.load(Ordering::Relaxed);
        f.debug_struct("Ticket")
            .field("state", &state)
            .field("by_handle", &by_handle)
            .finish()
    }
}
