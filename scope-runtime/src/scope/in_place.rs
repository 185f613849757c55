//! The in-place children a run polls: a set with a waker per child, so that a poll of the run
//! polls only the children (and the body) that were woken, and a child finishing deep in a
//! chain of nested in-place scopes is seen by every level in the same poll.
//!
//! A child's first poll uses a waker the whole set shares, and most children (those that
//! complete at once) never need one of their own. A child still pending after its first poll
//! is *unkeyed*: if the shared waker is woken, every unkeyed child is polled again, each now
//! with a waker of its own (one per key of the set, made once and reused by the children that
//! take that key in turn). So a waker is made only for a key whose child ever waited, and a
//! child is polled at most once spuriously (futures allow spurious polls).
//!
//! # Lock order
//!
//! The ready queue's lock is a leaf: a waker takes it only to push its child's key, and the
//! run only to take the keys; the run's waker is woken after it is released.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::mode::Mode;
use super::tracker::absorb_wake;
use crate::info::{ById, TaskId};
use crate::slab::Slab;
use crate::sync::{AtomicBool, AtomicWaker, Mutex, Ordering};

/// The key of the body among the wakers.
const BODY: usize = usize::MAX;
/// The key of the waker children share for their first poll.
const SHARED: usize = usize::MAX - 1;

/// An in-place child in the set.
pub(crate) struct Running<'env, M: Mode> {
    pub(crate) id: TaskId,
    pub(crate) fut: std::pin::Pin<Box<M::Task<'env>>>,
    /// It holds a slot of the scope's limit.
    pub(crate) slot: bool,
}

/// Which children (and whether the body) were woken since the run last looked.
struct ReadyQueue {
    state: Mutex<Ready>,
    /// The run's own waker.
    run: AtomicWaker,
    /// The scope's owner (see `tracker::absorb_wake`).
    owner: usize,
}

#[derive(Default)]
struct Ready {
    keys: Vec<usize>,
    body: bool,
    /// The shared waker was woken: every unkeyed child is polled again.
    shared: bool,
}

/// The waker of one child (or of the body): marks it ready and wakes the run.
struct ChildWaker {
    key: usize,
    /// Already in the ready queue: a second wake adds nothing.
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl ChildWaker {
    /// Marks the child ready; returns whether it was not already.
    fn mark(&self) -> bool {
        // AcqRel: the run's reset (Release) before a poll orders against this swap.
        if self.queued.swap(true, Ordering::AcqRel) {
            return false;
        }
        let mut ready = self.ready.state.lock();
        match self.key {
            BODY => ready.body = true,
            SHARED => ready.shared = true,
            key => ready.keys.push(key),
        }
        true
    }
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Woken by the run's own poll (one child by another, the body by a child's failure):
        // that poll looks at the ready queue before it returns, so the task needs no wake.
        if self.mark() && !absorb_wake(self.ready.owner) {
            self.ready.run.wake();
        }
    }
}

pub(crate) struct InPlaceSet<'env, M: Mode> {
    tasks: Slab<Running<'env, M>>,
    /// A waker per key whose child ever waited (`None` until then), reused by the children
    /// that take that key in turn.
    wakers: Vec<Option<(Arc<ChildWaker>, Waker)>>,
    body: (Arc<ChildWaker>, Waker),
    /// The waker of first polls.
    shared: (Arc<ChildWaker>, Waker),
    ready: Arc<ReadyQueue>,
    /// Children added since the last poll: polled first, with the shared waker, from
    /// `fresh_at` (where a poll the budget cut short stopped).
    fresh: Vec<usize>,
    fresh_at: usize,
    /// Children pending since a poll with the shared waker.
    unkeyed: Vec<(usize, TaskId)>,
    /// The keys being polled, from `polling_at`: left by a poll the budget cut short, or
    /// empty (kept to reuse its allocation).
    polling: Vec<usize>,
    polling_at: usize,
    /// Each child's key by its id, made by the first stop of one child in a large set (a
    /// `ChildSet::cancel_all` stops them one by one: a search of the set for each made that
    /// quadratic) and kept up to date from then on, until the set is empty again.
    index: Option<Box<ById<TaskId, usize>>>,
    /// The last poll stopped early, tokio's cooperative budget spent (see `take_spent`).
    spent: bool,
}

/// Whether tokio's cooperative budget of the task polling is spent: a child that then reads
/// as pending may only be waiting for a new budget. (Asked after a child's pending poll
/// only: children that complete at once pay nothing.)
#[inline]
fn budget_spent() -> bool {
    !tokio::task::coop::has_budget_remaining()
}

/// Below this many children, a stop searches the set rather than make its index.
const INDEX_FROM: usize = 32;

fn child_waker(key: usize, ready: &Arc<ReadyQueue>) -> (Arc<ChildWaker>, Waker) {
    let w = Arc::new(ChildWaker {
        key,
        queued: AtomicBool::new(false),
        ready: Arc::clone(ready),
    });
    let waker = Waker::from(Arc::clone(&w));
    (w, waker)
}

/// The waker of `key`, made the first time a child with that key waits.
fn keyed<'a>(
    wakers: &'a mut Vec<Option<(Arc<ChildWaker>, Waker)>>,
    ready: &Arc<ReadyQueue>,
    key: usize,
) -> &'a Waker {
    if wakers.len() <= key {
        wakers.resize_with(key + 1, || None);
    }
    let (w, waker) = wakers[key].get_or_insert_with(|| child_waker(key, ready));
    // Release: a wake during the poll that follows marks it again.
    w.queued.store(false, Ordering::Release);
    waker
}

impl<'env, M: Mode> InPlaceSet<'env, M> {
    /// The set of the scope whose tracker's owner is `owner`. The body's waker is not marked
    /// woken: the run polls the body at its next poll (see `Driver::rearm`).
    pub(crate) fn new(owner: usize) -> Self {
        let ready = Arc::new(ReadyQueue {
            state: Mutex::new(Ready::default()),
            run: AtomicWaker::default(),
            owner,
        });
        let body = child_waker(BODY, &ready);
        let shared = child_waker(SHARED, &ready);
        InPlaceSet {
            tasks: Slab::default(),
            wakers: Vec::new(),
            body,
            shared,
            ready,
            fresh: Vec::new(),
            fresh_at: 0,
            unkeyed: Vec::new(),
            polling: Vec::new(),
            polling_at: 0,
            index: None,
            spent: false,
        }
    }

    /// The run's waker, woken whenever a child or the body is.
    pub(crate) fn register(&self, waker: &Waker) {
        self.ready.run.register(waker);
    }

    /// Forgets the run's waker: the run was dropped, and the task that dropped it has moved
    /// on (the cancel of the drop wakes the children waiting for it, which would wake that
    /// task). The waker is dropped here, outside every lock of ours.
    pub(crate) fn forget_run(&self) {
        drop(self.ready.run.take());
    }

    /// The waker to poll the body with.
    pub(crate) fn body_waker(&self) -> &Waker {
        &self.body.1
    }

    /// Whether the body was woken since it was last polled (clears the mark).
    pub(crate) fn take_body_wake(&self) -> bool {
        let woken = std::mem::take(&mut self.ready.state.lock().body);
        if woken {
            // Release: a wake after this point marks it again.
            self.body.0.queued.store(false, Ordering::Release);
        }
        woken
    }

    /// Whether anything was woken (or added) and waits for a poll.
    pub(crate) fn has_ready(&self) -> bool {
        if !self.fresh.is_empty() || !self.polling.is_empty() {
            return true;
        }
        let ready = self.ready.state.lock();
        ready.body || ready.shared || !ready.keys.is_empty()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Adds a child, ready to be polled.
    /// Makes room for `n` more children at once (a burst spawned in one poll of the body).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.tasks.reserve(n);
        self.fresh.reserve(n);
    }

    pub(crate) fn insert(&mut self, task: Running<'env, M>) {
        let id = task.id;
        let key = self.tasks.insert(task);
        self.fresh.push(key);
        if let Some(index) = self.index.as_deref_mut() {
            index.insert(id, key);
        }
    }

    /// A child left the set (completed): out of the index too, if there is one.
    #[cold]
    #[inline(never)]
    fn unindex(&mut self, id: TaskId) {
        if let Some(index) = self.index.as_deref_mut() {
            index.remove(&id);
        }
        if self.tasks.is_empty() {
            self.index = None;
        }
    }

    /// Polls every child added or woken since the last call, once. Calls `done` with each
    /// child that completed (already removed; its future has dropped the user's). Returns
    /// whether any completed.
    ///
    /// It stops early when a child reads as pending with tokio's cooperative budget spent
    /// (see [`take_spent`](Self::take_spent)): the children it did not reach are the first
    /// polled next time, ahead of those woken since, from where it stopped (no copy of the
    /// rest: a burst of N children woken together is worked through in N / 128 turns of
    /// constant cost each).
    #[inline]
    pub(crate) fn poll_ready(&mut self, mut done: impl FnMut(Running<'env, M>)) -> bool {
        let mut completed = false;
        // First polls, with the shared waker.
        if self.fresh_at < self.fresh.len() {
            // Release: a wake during the polls below marks it again.
            self.shared.0.queued.store(false, Ordering::Release);
            while self.fresh_at < self.fresh.len() {
                let key = self.fresh[self.fresh_at];
                self.fresh_at += 1;
                let Some(task) = self.tasks.get_mut(key) else {
                    continue;
                };
                let mut cx = Context::from_waker(&self.shared.1);
                if let Poll::Ready(()) = task.fut.as_mut().poll(&mut cx) {
                    if let Some(task) = self.tasks.remove(key) {
                        completed = true;
                        if self.index.is_some() {
                            self.unindex(task.id);
                        }
                        done(task);
                    }
                } else {
                    self.unkeyed.push((key, task.id));
                    if budget_spent() {
                        // The rest get their first poll at the run's next turn.
                        self.spent = true;
                        break;
                    }
                }
            }
            if self.fresh_at == self.fresh.len() {
                self.fresh.clear();
                self.fresh_at = 0;
            }
            // A child stopped (aborted, cancelled) while it waited on something that never
            // woke it leaves its entry: bounded by the children alive, as the list is pruned
            // when it outgrows them.
            if self.unkeyed.len() > 2 * self.tasks.len() + 32 {
                let tasks = &self.tasks;
                self.unkeyed
                    .retain(|(key, id)| tasks.get(*key).is_some_and(|t| t.id == *id));
            }
        }
        if self.spent {
            return completed;
        }
        // The keys a pass cut short left come first (woken before any since); then those
        // woken since. (A left key that a wake queued stays marked until its poll, so a
        // second wake adds nothing; at worst a stale waker of its key adds it once more: a
        // spurious poll, which futures allow.)
        if self.polling_at == self.polling.len() {
            self.polling.clear();
            self.polling_at = 0;
            let shared_woken = {
                let mut ready = self.ready.state.lock();
                std::mem::swap(&mut self.polling, &mut ready.keys);
                std::mem::take(&mut ready.shared)
            };
            if shared_woken {
                // Some unkeyed child was woken: each is polled again, now with its own waker.
                self.shared.0.queued.store(false, Ordering::Release);
                for (key, id) in std::mem::take(&mut self.unkeyed) {
                    if self.tasks.get_mut(key).is_some_and(|t| t.id == id) {
                        self.polling.push(key);
                    }
                }
            }
        }
        while self.polling_at < self.polling.len() {
            let key = self.polling[self.polling_at];
            self.polling_at += 1;
            let Some(task) = self.tasks.get_mut(key) else {
                continue;
            };
            let waker = keyed(&mut self.wakers, &self.ready, key);
            let mut cx = Context::from_waker(waker);
            if let Poll::Ready(()) = task.fut.as_mut().poll(&mut cx) {
                if let Some(task) = self.tasks.remove(key) {
                    completed = true;
                    if self.index.is_some() {
                        self.unindex(task.id);
                    }
                    done(task);
                }
            } else if budget_spent() {
                self.spent = true;
                break;
            }
        }
        if self.polling_at == self.polling.len() {
            self.polling.clear();
            self.polling_at = 0;
        }
        completed
    }

    /// Whether the last [`poll_ready`](Self::poll_ready) stopped early, tokio's cooperative
    /// budget spent (clears the mark): the run yields to the runtime and comes back with a
    /// new budget, rather than poll the rest of the children it woke. All of them run in the
    /// scope's task: with the budget spent, each would read as pending and be woken again,
    /// so every pass over them completed about as many as the budget, and a burst of N
    /// children woken together cost N / 128 polls each (`probe133`).
    pub(crate) fn take_spent(&mut self) -> bool {
        std::mem::take(&mut self.spent)
    }

    /// Takes the child `id` out of the set, if it is there.
    pub(crate) fn remove(&mut self, id: TaskId) -> Option<Running<'env, M>> {
        let key = if self.index.is_none() && self.tasks.len() < INDEX_FROM {
            self.tasks.find(|t| t.id == id)?
        } else {
            let tasks = &self.tasks;
            let index = self.index.get_or_insert_with(|| {
                Box::new(tasks.iter().map(|(key, task)| (task.id, key)).collect())
            });
            index.remove(&id)?
        };
        let task = self.tasks.remove(key);
        if self.tasks.is_empty() {
            self.index = None;
        }
        task
    }

    /// Whether the child `id` is in the set (running, not ended).
    pub(crate) fn contains(&mut self, id: TaskId) -> bool {
        if self.index.is_none() && self.tasks.len() < INDEX_FROM {
            return self.tasks.find(|t| t.id == id).is_some();
        }
        let tasks = &self.tasks;
        let index = self.index.get_or_insert_with(|| {
            Box::new(tasks.iter().map(|(key, task)| (task.id, key)).collect())
        });
        index.contains_key(&id)
    }

    /// Takes every child out of the set.
    pub(crate) fn take_all(&mut self) -> Vec<Running<'env, M>> {
        self.index = None;
        std::mem::take(&mut self.tasks).into_values().collect()
    }
}
