//! Children's own contexts, created on demand.
//!
//! A child runs with its scope's context until something needs one of its own (see
//! `cx::ambient`): the child itself ([`Cx::current`](crate::Cx::current) in it) or its handle
//! ([`Child::cx`](crate::Child::cx), a cancel of that child alone). Whoever is first creates
//! it here, keyed by the child's id, and every later asker gets the same node. The registry
//! holds the nodes weakly: a node lives as long as the child, the handle or anyone else keeps
//! it, and dead entries are swept as new ones arrive: when the table has doubled since the
//! last sweep. So it stays proportional to the most nodes live at a sweep, not to those live
//! now: after a burst, the burst's dead entries (each keeping its node's allocation, about
//! 290 B) stay until about as many new nodes have been made. A node the child's task did not
//! make itself is also kept strongly until the task takes it (its next poll) or ends: a
//! handle that cancels its child and is dropped at once must not take the cancel with it.
//!
//! A node created by the handle must reach the child's task: the registry's epoch counts
//! those, and a child that has no node of its own looks it up only when the epoch moved since
//! it last looked (one atomic load per poll otherwise).
//!
//! # Waiting without a node
//!
//! [`scope::cancelled()`](crate::cancelled) in a child that has no node of its own does not
//! make one: it waits on its parent's context ([`LazyWait`]), as every sibling that waits does,
//! so the scope's cancel wakes them all from one table. For a cancel of that child alone, the
//! wait also *parks* its waker here under the child's id: whoever then creates the child's node
//! takes the waker out and wakes it after moving the epoch, and the wait moves over to the new
//! node. Parking and creating both happen under the registry's lock, so either the park finds
//! the node already there (and the wait moves over at once) or the creation finds the waker.
//! The registry keeps a node so created for the waits it found parked until each has moved
//! over or left: the child may drop the node it made for itself, or end, before they look. A
//! child that ends with waits still parked (a wait kept past its end, handed to a watcher)
//! gets its node then, ended as its own would have been (`Cause::Finished`, naming it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::tracker::Enclosing;
use crate::cause::Cause;
use crate::cx::{Cx, Waiter, WeakCx};
use crate::info::{ById, TaskId};
use crate::sync::{AtomicUsize, Mutex, Ordering};

#[derive(Default)]
pub(crate) struct OwnCxs {
    table: Mutex<Table>,
    /// Bumped (after the insert) each time a node is created for a child that did not make it
    /// itself, or that was waiting without one.
    epoch: AtomicUsize,
    /// How many nodes `kept` holds: a child's end looks there only when there are some.
    kept: AtomicUsize,
    /// How many children have waits parked (`parked`'s entries): a child's end looks there
    /// only when there are some.
    parked: AtomicUsize,
}

#[derive(Default)]
struct Table {
    nodes: ById<TaskId, WeakCx>,
    /// The table's size after the last sweep: the next one comes when it has doubled.
    swept: usize,
    /// Wakers of children waiting without a node of their own (see the module's docs).
    parked: ById<TaskId, Parked>,
    /// Nodes made for a child by someone else (its handle), kept until the child's task takes
    /// them or ends.
    kept: ById<TaskId, Cx>,
    /// Nodes made while waits of their child were parked, with how many of those waits have
    /// not moved over yet: kept for them until each has (or has left), since a wait finds the
    /// node through the table's weak reference, and the child may end, or drop the node it
    /// made for itself, before they look.
    handover: ById<TaskId, (Cx, usize)>,
}

/// The wakers parked for one child: one in the common case; more when its waits are polled
/// with different wakers (a `FuturesUnordered` of them in the child). Each counts the waits
/// parked with it, so that one wait leaving takes out only its own share.
enum Parked {
    One(Waker, usize),
    Many(Vec<(Waker, usize)>),
}

/// The waits of a child parked without a node, moved over to the node just made for it: the
/// caller wakes them (user wakers) once it holds no lock and no cell being set.
#[must_use = "the waits moved over to the new node must be woken"]
pub(crate) struct ToWake(Option<Parked>);

impl ToWake {
    /// Wakes them (a panicking waker is caught, and the others are woken still).
    pub(crate) fn wake(self) {
        if let Some(parked) = self.0 {
            parked.wake();
        }
    }
}

/// How many distinct wakers a child's waits park by its id before the child is given a
/// context of its own (whose table takes a waiter in O(1)): the list is searched in full at
/// every park and unpark, which made many waits with wakers of their own quadratic.
const MANY_WAKERS: usize = 8;

impl Parked {
    /// Whether `waker` would be one more distinct waker past [`MANY_WAKERS`].
    fn full_for(&self, waker: &Waker) -> bool {
        match self {
            Parked::One(..) => false,
            Parked::Many(v) => v.len() >= MANY_WAKERS && !v.iter().any(|(w, _)| w.will_wake(waker)),
        }
    }

    /// One more wait parked with `waker` (or one that will wake the same task). Returns the
    /// waker back if it was not kept (to be dropped after the lock).
    fn add(&mut self, waker: Waker) -> Option<Waker> {
        let count = match self {
            Parked::One(w, n) if w.will_wake(&waker) => n,
            Parked::Many(v) => {
                if let Some((_, n)) = v.iter_mut().find(|(w, _)| w.will_wake(&waker)) {
                    n
                } else {
                    v.push((waker, 1));
                    return None;
                }
            }
            Parked::One(w, n) => {
                let first = (std::mem::replace(w, Waker::noop().clone()), *n);
                *self = Parked::Many(vec![first, (waker, 1)]);
                return None;
            }
        };
        *count += 1;
        Some(waker)
    }

    /// One wait parked with `waker` leaves. Returns a waker no wait parks with any more (to be
    /// dropped after the lock), and whether none is left.
    fn remove(&mut self, waker: &Waker) -> (Option<Waker>, bool) {
        match self {
            Parked::One(w, n) => {
                if !w.will_wake(waker) {
                    return (None, false);
                }
                *n -= 1;
                if *n > 0 {
                    return (None, false);
                }
                (Some(std::mem::replace(w, Waker::noop().clone())), true)
            }
            Parked::Many(v) => {
                let Some(i) = v.iter().position(|(w, _)| w.will_wake(waker)) else {
                    return (None, false);
                };
                v[i].1 -= 1;
                if v[i].1 > 0 {
                    return (None, false);
                }
                let (gone, _) = v.swap_remove(i);
                (Some(gone), v.is_empty())
            }
        }
    }

    /// How many waits are parked here.
    fn shares(&self) -> usize {
        match self {
            Parked::One(_, n) => *n,
            Parked::Many(v) => v.iter().map(|(_, n)| n).sum(),
        }
    }

    /// Wakes each parked waker; one that panics (a user's) is caught, and the others are
    /// woken still (see [`wake_caught`](crate::error::wake_caught)).
    fn wake(self) {
        match self {
            Parked::One(w, _) => crate::error::wake_caught(|| w.wake()),
            Parked::Many(v) => v
                .into_iter()
                .for_each(|(w, _)| crate::error::wake_caught(|| w.wake())),
        }
    }
}

impl OwnCxs {
    /// Child `id`'s own context: the one in the table, or a new child of `parent`. `by_handle`:
    /// the asker is not the child's task (its handle), or is but cannot adopt it now
    /// (`Cx::current()` inside `Slot::with`): the child must be told.
    pub(crate) fn get_or_create(&self, id: TaskId, parent: &Cx, by_handle: bool) -> Cx {
        let (cx, to_wake) = self.get_or_create_unwoken(id, parent, by_handle);
        to_wake.wake();
        cx
    }

    /// [`get_or_create`](Self::get_or_create), leaving the waits it moved over to the new
    /// node for the caller to wake once it holds nothing of its own (a child handle makes
    /// its context inside its `OnceLock`, which a user's waker must not run under).
    pub(crate) fn get_or_create_unwoken(
        &self,
        id: TaskId,
        parent: &Cx,
        by_handle: bool,
    ) -> (Cx, ToWake) {
        let (cx, created, parked, taken, handed) = {
            let mut table = self.table.lock();
            if let Some(cx) = table.nodes.get(&id).and_then(WeakCx::upgrade) {
                // The child itself asks, and adopts it: the registry need keep it no longer.
                let taken = if by_handle {
                    None
                } else {
                    self.unkeep(&mut table, id)
                };
                (cx, false, None, taken, None)
            } else {
                // Creating a node runs no user code (no waiter or callback is involved).
                let cx = parent.child();
                Self::insert(&mut table, id, &cx);
                if by_handle {
                    // Cloning a context runs no user code.
                    table.kept.insert(id, cx.clone());
                    self.kept.fetch_add(1, Ordering::Relaxed);
                }
                // A wait without a node must move over to this one.
                let (parked, handed) = self.hand_over(&mut table, id, &cx);
                (cx, true, parked, None, handed)
            }
        };
        // Outside the lock: the last reference to a context (its callbacks) may go here.
        drop(taken);
        drop(handed);
        if created {
            if by_handle || parked.is_some() {
                // Release: a child that sees the new epoch (Acquire) finds the entry.
                self.epoch.fetch_add(1, Ordering::Release);
            }
            crate::observe::own_cx_created(id, &cx);
        }
        // Outside the lock, by the caller: a waker is user code.
        (cx, ToWake(parked))
    }

    /// Puts child `id`'s new node in the table (sweeping dead entries when it has doubled).
    fn insert(table: &mut Table, id: TaskId, cx: &Cx) {
        if table.nodes.len() >= 2 * table.swept + 16 {
            // Dropping a dead weak reference frees memory only.
            table.nodes.retain(|_, node| !node.is_dead());
            table.swept = table.nodes.len();
        }
        table.nodes.insert(id, cx.downgrade());
    }

    /// Takes out the waits of child `id` parked without a node, and keeps its new node `cx`
    /// for them until they have moved over (see `Table::handover`). What comes back is woken,
    /// and dropped, by the caller after the lock.
    fn hand_over(&self, table: &mut Table, id: TaskId, cx: &Cx) -> (Option<Parked>, Option<Cx>) {
        let Some(parked) = table.parked.remove(&id) else {
            return (None, None);
        };
        self.parked.store(table.parked.len(), Ordering::Relaxed);
        // Cloning a context runs no user code.
        let before = table.handover.insert(id, (cx.clone(), parked.shares()));
        (Some(parked), before.map(|(cx, _)| cx))
    }

    /// Child `id` has ended without a node of its own, and waits of it are parked without one
    /// (a `scope::cancelled()` first polled in the child, kept past its end): they get one now,
    /// a child of `parent` that `end` ends (`Cause::Finished`, naming the child), as the
    /// child's own would have ended with it. One load when no child has waits parked.
    #[inline]
    pub(crate) fn end_waits(&self, id: TaskId, parent: &Cx, end: impl FnOnce(Cx)) {
        if self.parked.load(Ordering::Relaxed) != 0 {
            self.end_waits_slow(id, parent, end);
        }
    }

    #[cold]
    #[inline(never)]
    fn end_waits_slow(&self, id: TaskId, parent: &Cx, end: impl FnOnce(Cx)) {
        let (cx, parked, handed) = {
            let mut table = self.table.lock();
            if !table.parked.contains_key(&id) {
                return;
            }
            // Creating a node runs no user code (no waiter or callback is involved).
            let cx = parent.child();
            Self::insert(&mut table, id, &cx);
            let (parked, handed) = self.hand_over(&mut table, id, &cx);
            (cx, parked, handed)
        };
        // Release: a wait that sees the new epoch (Acquire) finds the entry.
        self.epoch.fetch_add(1, Ordering::Release);
        // Outside the lock: ending the node runs its callbacks, dropping one may too, and a
        // waker is user code.
        drop(handed);
        end(cx);
        if let Some(parked) = parked {
            parked.wake();
        }
    }

    /// The registry's epoch: a lazy child looks itself up when it moved. (Its low bits: a
    /// child keeps them next to its flags, and only a change matters.)
    #[allow(clippy::cast_possible_truncation)] // Reason: only the low bits are kept, on purpose.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::Acquire) as u32
    }

    /// Child `id`'s task takes its own context (it adopts it, or ends): the registry keeps it
    /// weakly from now on. The caller drops what it gets after the lock.
    pub(crate) fn take(&self, id: TaskId) -> Option<Cx> {
        let mut table = self.table.lock();
        match self.unkeep(&mut table, id) {
            Some(cx) => Some(cx),
            None => table.nodes.get(&id).and_then(WeakCx::upgrade),
        }
    }

    /// Child `id`'s task has ended: a node kept for it is kept no longer (one load when none
    /// is kept). What comes back is dropped by the caller, after the lock.
    #[inline]
    pub(crate) fn release(&self, id: TaskId) -> Option<Cx> {
        if self.kept.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.unkeep(&mut self.table.lock(), id)
    }

    fn unkeep(&self, table: &mut Table, id: TaskId) -> Option<Cx> {
        if table.kept.is_empty() {
            // The usual case: no hashing.
            return None;
        }
        let cx = table.kept.remove(&id)?;
        self.kept.fetch_sub(1, Ordering::Relaxed);
        Some(cx)
    }

    /// Child `id`'s own context, if someone created it and it is alive.
    pub(crate) fn find(&self, id: TaskId) -> Option<Cx> {
        // A context whose last other holder lets go meanwhile is dropped by the caller, after
        // the lock.
        self.table.lock().nodes.get(&id).and_then(WeakCx::upgrade)
    }

    /// Parks `waker` for a wait of child `id`, which waits without a node of its own: the
    /// creator of its node will wake it. `replacing`: the waker this same wait parked before,
    /// whose share it gives up. `Err` with the node if it exists already (and the waker back),
    /// or if `waker` would be one more distinct waker past [`MANY_WAKERS`]: then the node is
    /// made now, a child of `parent` kept for the child's task as one its handle made (which
    /// wakes the other waits parked, to move over too): held by the waits only, a handle's
    /// cancel of it would be lost with it once they let go, before the child looked. The wakers no wait parks with any more come
    /// back, to be dropped after the lock.
    pub(crate) fn park(
        &self,
        id: TaskId,
        parent: &Cx,
        waker: Waker,
        replacing: Option<&Waker>,
    ) -> Result<[Option<Waker>; 2], (Cx, Waker)> {
        let mut table = self.table.lock();
        if let Some(own) = table.nodes.get(&id).and_then(WeakCx::upgrade) {
            return Err((own, waker));
        }
        if table.parked.get(&id).is_some_and(|p| p.full_for(&waker)) {
            drop(table);
            return Err((self.get_or_create(id, parent, true), waker));
        }
        // (A node is in the table while its handover lasts: a wait that parked before it
        // was made takes the path above, and gives its share back when it moves over.)
        let old = replacing.and_then(|w| Self::remove_from(&mut table, id, w).0);
        let unkept = match table.parked.entry(id) {
            std::collections::hash_map::Entry::Occupied(mut parked) => parked.get_mut().add(waker),
            std::collections::hash_map::Entry::Vacant(room) => {
                room.insert(Parked::One(waker, 1));
                None
            }
        };
        self.parked.store(table.parked.len(), Ordering::Relaxed);
        Ok([old, unkept])
    }

    /// One wait parked with `waker` leaves: its share of the parked wakers, or, once a node
    /// was made for it meanwhile, of that node's handover. Returns a waker no wait parks with
    /// any more and a node no wait is handed over any more, to be dropped after the lock.
    /// (The count of children with waits parked is stored by the callers, once per hold of
    /// the lock, after all its changes: a re-park takes the old share out, emptying the entry,
    /// then puts the new one in, and a child's end that read the emptied count in between
    /// would skip its waits; the loom model of that race fails so.)
    fn remove_from(table: &mut Table, id: TaskId, waker: &Waker) -> (Option<Waker>, Option<Cx>) {
        if let std::collections::hash_map::Entry::Occupied(mut parked) = table.parked.entry(id) {
            let (gone, empty) = parked.get_mut().remove(waker);
            if empty {
                parked.remove();
            }
            return (gone, None);
        }
        let std::collections::hash_map::Entry::Occupied(mut handed) = table.handover.entry(id)
        else {
            return (None, None);
        };
        handed.get_mut().1 -= 1;
        if handed.get().1 > 0 {
            return (None, None);
        }
        (None, Some(handed.remove().0))
    }

    /// Takes back the share of child `id`'s parked wakers that one wait parked with `waker`
    /// (what no wait parks with, or is handed over, any more comes back, to be dropped after
    /// the lock).
    pub(crate) fn unpark(&self, id: TaskId, waker: &Waker) -> (Option<Waker>, Option<Cx>) {
        let mut table = self.table.lock();
        let gone = Self::remove_from(&mut table, id, waker);
        self.parked.store(table.parked.len(), Ordering::Relaxed);
        gone
    }

    /// [`unpark`](OwnCxs::unpark) if the lock is free now; nothing (the waker left in place)
    /// if someone holds it.
    pub(crate) fn try_unpark(&self, id: TaskId, waker: &Waker) -> (Option<Waker>, Option<Cx>) {
        let Some(mut table) = self.table.try_lock() else {
            return (None, None);
        };
        let gone = Self::remove_from(&mut table, id, waker);
        self.parked.store(table.parked.len(), Ordering::Relaxed);
        gone
    }

    /// Drops every parked waker: the scope's run has ended, every child with it. (A wait whose
    /// parent context was cancelled does not wait for the lock on its way out, which on two
    /// workers made every cancelled child of a fan-out contend for it: if another thread holds
    /// it, the waker stays here until now.) The nodes kept for waits that had parked stay: a
    /// wait kept past the scope's end (which keeps this registry) finds its child's there
    /// when it is next polled, and gives its share back when it leaves.
    pub(crate) fn clear_parked(&self) {
        let parked = {
            let mut table = self.table.lock();
            self.parked.store(0, Ordering::Relaxed);
            std::mem::take(&mut table.parked)
        };
        // Outside the lock: a waker's drop is user code.
        drop(parked);
    }
}

/// `scope::cancelled()` in a child without a node of its own: waits on its parent's context
/// (the scope's, or its background one) and answers with the cause the child's own node would
/// have had (the parent's, inherited); moves over to the child's own node once someone creates
/// it (see the module's docs).
pub(crate) struct LazyWait {
    /// The context waited on: the parent's, then (`on_own`) the child's own.
    cx: Cx,
    on_own: bool,
    id: TaskId,
    scope: Arc<dyn Enclosing>,
    /// The registry's epoch when the wait last looked.
    seen: u32,
    waiter: Waiter,
    /// The waker parked in the registry (to compare, and to know that there is one).
    parked: Option<Waker>,
}

impl LazyWait {
    /// `scope` keeps a registry (`ambient::lazy_parent` makes a lazy wait only then).
    pub(crate) fn new(parent: Cx, id: TaskId, scope: Arc<dyn Enclosing>) -> LazyWait {
        let seen = registry(&scope).epoch();
        LazyWait {
            cx: parent,
            on_own: false,
            id,
            scope,
            seen,
            waiter: Waiter::default(),
            parked: None,
        }
    }

    /// Moves the wait over to the child's own node.
    fn move_to(&mut self, own: Cx) {
        self.leave();
        self.cx = own;
        self.on_own = true;
    }

    /// Leaves the table of the context waited on, and the registry. Once the parent is
    /// cancelled (the scope is ending) it does not wait for the registry's lock: if another
    /// thread holds it, the parked waker stays until the scope's end
    /// ([`OwnCxs::clear_parked`]). Otherwise it takes the waker back now (the waker keeps the
    /// child's task allocated).
    fn leave(&mut self) {
        self.waiter.unregister(&self.cx);
        if let Some(parked) = self.parked.take() {
            let registry = registry(&self.scope);
            let taken = if self.cx.flag_is_set() {
                registry.try_unpark(self.id, &parked)
            } else {
                registry.unpark(self.id, &parked)
            };
            // Outside the lock: a waker's drop is user code.
            drop(taken);
            drop(parked);
        }
    }
}

/// The registry of the scope a lazy wait belongs to.
fn registry(scope: &Arc<dyn Enclosing>) -> &OwnCxs {
    match scope.own_cxs() {
        Some(registry) => registry,
        None => unreachable!("a lazy wait is made only in a scope with a registry"),
    }
}

impl Future for LazyWait {
    type Output = Cause;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Cause> {
        let this = self.get_mut();
        if !this.on_own {
            let epoch = registry(&this.scope).epoch();
            if epoch != this.seen {
                this.seen = epoch;
                if let Some(own) = registry(&this.scope).find(this.id) {
                    this.move_to(own);
                }
            }
        }
        if !this.on_own {
            if let Poll::Ready(cause) =
                this.waiter
                    .poll_shared_for(&this.cx, task, Some(&*this.scope))
            {
                this.leave();
                // What the child's own node would say: the parent's cause, inherited.
                return Poll::Ready(match &*cause {
                    Cause::ParentCancelled(_) => (*cause).clone(),
                    _ => Cause::ParentCancelled(cause),
                });
            }
            if this
                .parked
                .as_ref()
                .is_some_and(|w| w.will_wake(task.waker()))
            {
                return Poll::Pending;
            }
            // Cloned before the lock (a waker is user code); the ones let go are dropped after.
            let parked = registry(&this.scope).park(
                this.id,
                &this.cx,
                task.waker().clone(),
                this.parked.as_ref(),
            );
            match parked {
                Ok(unkept) => {
                    drop(unkept);
                    let before = this.parked.replace(task.waker().clone());
                    drop(before);
                    return Poll::Pending;
                }
                Err((own, waker)) => {
                    drop(waker);
                    this.move_to(own);
                }
            }
        }
        this.waiter
            .poll_shared(&this.cx, task)
            .map(|cause| (*cause).clone())
    }
}

impl Drop for LazyWait {
    fn drop(&mut self) {
        self.leave();
    }
}
