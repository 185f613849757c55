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
use crate::sync::Mutex;

/// A child waiting for admission.
pub(crate) enum Queued {
    /// A spawned child: calling it starts the child on the runtime; dropping it, never. The
    /// ticket is shared with its handle.
    Spawn(Arc<Ticket>, Box<dyn FnOnce() + Send>),
    /// The next in-place child of the scope's local queue.
    InPlace,
}

pub(crate) struct Admission {
    /// The scope's limit of running children, if it has one.
    limit: Option<usize>,
    state: Mutex<State>,
}

struct State {
    /// The scope's run has started: children may start.
    started: bool,
    /// The scope was cancelled or failed: nothing queued starts any more.
    closed: bool,
    /// Children holding a slot of the limit (counted only with a limit).
    running: usize,
    queue: VecDeque<Queued>,
}

impl Admission {
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Admission {
            limit,
            state: Mutex::new(State {
                started: false,
                closed: false,
                running: 0,
                queue: VecDeque::new(),
            }),
        }
    }

    pub(crate) fn is_limited(&self) -> bool {
        self.limit.is_some()
    }

    fn admissible(&self, s: &State) -> bool {
        s.started && !s.closed && s.queue.is_empty() && self.limit.is_none_or(|n| s.running < n)
    }

    /// Takes a slot now if a child may start now: the scope is running, nothing waits before
    /// it, and (with a limit) a slot is free.
    pub(crate) fn try_admit(&self) -> bool {
        let mut s = self.state.lock();
        let now = self.admissible(&s);
        if now && self.limit.is_some() {
            s.running += 1;
        }
        now
    }

    /// Whether a new child would find a free slot (for `try_spawn`): with a limit, fewer
    /// children hold or wait for a slot than the limit.
    pub(crate) fn has_room(&self) -> bool {
        let s = self.state.lock();
        self.limit
            .is_none_or(|n| s.running.saturating_add(s.queue.len()) < n)
    }

    /// A new child arrives: `Ok(Some(q))` starts it now (it holds a slot, with a limit),
    /// `Ok(None)` queued it, `Err(q)` hands it back because admission is closed (drop it).
    pub(crate) fn arrive(&self, q: Queued) -> Result<Option<Queued>, Queued> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(q);
        }
        if self.admissible(&s) {
            if self.limit.is_some() {
                s.running += 1;
            }
            return Ok(Some(q));
        }
        s.queue.push_back(q);
        Ok(None)
    }

    /// The scope starts running: the children to start now, in spawn order.
    pub(crate) fn start(&self) -> Vec<Queued> {
        let mut s = self.state.lock();
        s.started = true;
        let mut now = Vec::new();
        while !s.closed && self.limit.is_none_or(|n| s.running < n) {
            let Some(q) = s.queue.pop_front() else { break };
            if self.limit.is_some() {
                s.running += 1;
            }
            now.push(q);
        }
        now
    }

    /// A child holding a slot has ended: the slot passes to the first child waiting (returned,
    /// to be started by the caller), or is freed. Nothing is handed on once closed.
    pub(crate) fn release(&self) -> Option<Queued> {
        let mut s = self.state.lock();
        if !s.closed && s.started {
            if let Some(next) = s.queue.pop_front() {
                return Some(next);
            }
        }
        s.running = s.running.saturating_sub(1);
        None
    }

    /// Takes a queued spawned child out of the queue (its handle cancelled it before it
    /// started), for the caller to drop outside the lock.
    pub(crate) fn remove(&self, ticket: &Arc<Ticket>) -> Option<Queued> {
        let mut s = self.state.lock();
        let i = s
            .queue
            .iter()
            .position(|q| matches!(q, Queued::Spawn(t, _) if Arc::ptr_eq(t, ticket)))?;
        s.queue.remove(i)
    }

    /// One in-place child fewer waits (its handle cancelled it before it was admitted): takes
    /// the last in-place entry out. `false` if none waits (every in-place child is admitted).
    pub(crate) fn remove_in_place(&self) -> bool {
        let mut s = self.state.lock();
        let Some(i) = s.queue.iter().rposition(|q| matches!(q, Queued::InPlace)) else {
            return false;
        };
        s.queue.remove(i);
        true
    }

    /// Closes admission: nothing queued starts from now on. Returns the queue, for the caller
    /// to drop outside the lock.
    pub(crate) fn close(&self) -> VecDeque<Queued> {
        let mut s = self.state.lock();
        s.closed = true;
        std::mem::take(&mut s.queue)
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Admission")
            .field("limit", &self.limit)
            .field("started", &s.started)
            .field("closed", &s.closed)
            .field("running", &s.running)
            .field("queued", &s.queue.len())
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

/// The start of a queued spawned child, shared with its handle, so that the handle can abort
/// it before or after it becomes a task.
pub(crate) struct Ticket<H = TaskHandle> {
    state: Mutex<TicketState<H>>,
}

impl<H> Default for Ticket<H> {
    fn default() -> Self {
        Ticket {
            state: Mutex::new(TicketState::Waiting),
        }
    }
}

enum TicketState<H> {
    Waiting,
    Running(H),
    Aborted,
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
            if !aborted {
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
            match std::mem::replace(&mut *s, TicketState::Aborted) {
                TicketState::Running(handle) => Some(handle),
                TicketState::Waiting | TicketState::Aborted => None,
            }
        };
        if let Some(handle) = running {
            handle.abort();
        }
    }
}

impl<H> fmt::Debug for Ticket<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.state.lock() {
            TicketState::Waiting => "waiting",
            TicketState::Running(_) => "running",
            TicketState::Aborted => "aborted",
        };
        f.debug_struct("Ticket").field("state", &state).finish()
    }
}
