//! Blocking children: a closure on tokio's blocking pool, as a child of the scope. A blocking
//! thread cannot be aborted: the scope waits for the closure to return, however it is
//! cancelled, and the closure learns of the cancellation through the context it is given.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tokio::sync::oneshot;

use super::admission::{Queued, Seq, Ticket, NO_SEQ};
use super::child::{Child, HandleCx};
use super::mode::Mode;
use super::outcome::TaskOutput;
use super::spawn::{by_handle, drop_unread, report_end, why_not_started, Channel, Deliver};
use super::tracker::{Enclosing, PendingJob, TaskHandle, Tracker};
use super::{Scope, Shared};
use crate::cause::Cause;
use crate::cx::{Cx, Enter};
use crate::error::{drop_caught, Interrupted, NotStarted};
use crate::info::TaskInfo;
use crate::observe::ChildObs;
use crate::sync::Mutex;

/// A blocking closure waiting to run, or running: it holds a unit of its scope's tracker
/// (and a slot of its limit) until it returns, or until it is dropped unstarted.
struct Job<F, T, E> {
    f: Option<F>,
    shared: Arc<Shared<E>>,
    /// The scope, as the enclosing scope of code the job runs (and of its closure's drop).
    scope: Arc<dyn Enclosing>,
    cx: Cx,
    info: TaskInfo,
    obs: ChildObs,
    tx: Channel<T>,
    slot: bool,
    seq: Seq,
    /// Handed to the pool: the runtime may drop it unrun (see `Drop`).
    handed: bool,
    /// What its handle's abort marks: a value the closure returns after one is dropped.
    ticket: Arc<Ticket>,
}

impl<F, O, E> Job<F, O::Ok, E>
where
    F: FnOnce(&Cx) -> O + Send + 'static,
    O: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// Runs the closure on this (blocking) thread, with its context as the ambient one.
    fn run(mut self) {
        let seq = std::mem::replace(&mut self.seq, NO_SEQ);
        self.shared.child_started(seq);
        let Some(f) = self.f.take() else {
            return;
        };
        // Asked as the scope's bookkeeping: a passed deadline this fires runs its callbacks,
        // a panic of one kept for the scope.
        if self.shared.is_cancelled_in(&self.cx) {
            // Cancelled before it started: it never runs (`Drop` reports it).
            self.f = Some(f);
            return;
        }
        self.obs.started(&self.shared.obs, &self.info);
        let out = {
            let _obs = self.obs.enter();
            let mut cx = Some(self.cx.clone());
            let mut scope = Some(Arc::clone(&self.scope));
            let _enter = Enter::scope_code(&mut cx, &mut scope);
            let job_cx = &self.cx;
            catch_unwind(AssertUnwindSafe(move || f(job_cx)))
        };
        let own = &self.cx;
        // (Settled as it returns: what is read now is what held then.)
        let (result, consequence) = self.shared.settle(
            &self.info,
            out,
            || {
                self.shared
                    .cause_in(own)
                    .filter(|c| super::spawn::by_handle(c))
            },
            true,
        );
        let (shared, info) = (&*self.shared, &self.info);
        // Aborted while it ran (no thread can be stopped): what it returned then is not read,
        // as a spawned child's future is dropped at an abort; its handle reads the abort.
        let result = match result {
            Ok(value) if self.ticket.end() => {
                // Its own cause: the abort's, or a cancel that reached it before (its scope's,
                // a deadline), as a spawned sibling aborted then reads.
                let cause = self
                    .shared
                    .cause_in(own)
                    .unwrap_or_else(|| Arc::new(Cause::explicit("aborted")));
                self.drop_late(value, cause)
            }
            result => result,
        };
        let undelivered = report_end(
            &mut self.tx,
            &mut self.obs,
            shared,
            info,
            result,
            consequence.as_ref(),
        )
        .err();
        if std::mem::take(&mut self.slot) {
            // Before the value is delivered, as for the other kinds: whoever receives it may
            // reserve the slot at once. After the settle: a failure has closed admission by
            // now, so the slot is not handed to a queued child.
            shared.release_slot();
        }
        if let Some(result) = undelivered {
            self.tx
                .deliver(result, |unread| drop_unread(shared, info, unread));
        }
    }
}

impl<F, T, E> Job<F, T, E>
where
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// The value a closure returned after its handle aborted it: dropped inside the child's
    /// context, as an aborted spawned child's future is (a panic there is the child's), and
    /// the abort read instead.
    fn drop_late(&self, value: T, cause: Arc<Cause>) -> Result<T, Interrupted> {
        // As an aborted spawned child: stopped alone if the abort was its first cancel.
        self.shared.cut_short(|| by_handle(&cause));
        match self.drop_in_its_cx(value) {
            Ok(()) => Err(Interrupted::from_shared_cause(cause)),
            Err(payload) => Err(self.shared.panicked(&self.info, payload).into()),
        }
    }
}

impl<F, T, E> Job<F, T, E> {
    /// Drops what the user's code made or captured inside the job's context, as a future is
    /// dropped inside its own: its slots, its cancel. A panic there is handed back.
    fn drop_in_its_cx<V>(&self, value: V) -> Result<(), Box<dyn std::any::Any + Send>> {
        let mut cx = Some(self.cx.clone());
        let mut scope = Some(Arc::clone(&self.scope));
        let _enter = Enter::scope_code_in_drop(&mut cx, &mut scope);
        drop_caught(value)
    }
}

impl<F, T, E> Drop for Job<F, T, E> {
    fn drop(&mut self) {
        let unstarted = self.f.take().map(|f| {
            let (shared, cx) = (&self.shared, &self.cx);
            if self.handed && !shared.tracker.is_sealed_anywhere() && !shared.is_cancelled_in(cx) {
                // Neither a stop nor a cancel of ours: the runtime dropped the job from its
                // pool's queue, shutting down (see `spawn::runtime_dropped`).
                let _ = super::spawn::runtime_dropped(shared, &self.info);
            }
            shared.cut_short(|| shared.cause_in(cx).is_some_and(|c| by_handle(&c)));
            // Never ran: its scope closed first, or it was cancelled before its thread came.
            // What the closure captured is user code: a panic dropping it is this child's
            // panic, and the bookkeeping below happens all the same. Dropped inside the job's
            // context, as a future that never started is: its slots, its cancel.
            let dropped = self.drop_in_its_cx(f);
            let out: Result<T, Interrupted> = match dropped {
                Ok(()) => {
                    let cause = why_not_started(self.shared.cause_in(&self.cx), &self.shared);
                    Err(NotStarted::from_shared_cause(cause).into())
                }
                Err(payload) => Err(self.shared.panicked(&self.info, payload).into()),
            };
            self.obs.ended(&self.shared.obs, &self.info, &out);
            out
        });
        // Its slot and place go back before its handle learns of its end (see `ChildTask`).
        self.shared.child_started(self.seq);
        if self.slot {
            self.shared.release_slot();
        }
        if let Some(out) = unstarted {
            // Not the child's value: nothing of the user's to drop.
            self.tx.dropped(out);
        }
        // The child is over, and so is its context (see `spawn::end_cx`).
        super::spawn::end_cx(&self.cx, &self.info, &self.shared);
        self.shared.tracker.exit();
    }
}

/// A blocking job handed to the pool, until a thread takes it or a stop drops it.
struct JobCell<J>(Mutex<Option<J>>);

/// The pool's hold on a job's cell: dropped with the pool's closure, it drops a job still
/// there (never run).
struct Unrun<J: Send>(Arc<JobCell<J>>);

impl<J: Send> Drop for Unrun<J> {
    fn drop(&mut self) {
        self.0.drop_unstarted();
    }
}

impl<J: Send> PendingJob for JobCell<J> {
    fn drop_unstarted(&self) {
        let job = self.0.lock().take();
        // Outside the lock: its drop reports it and drops what the closure captured.
        drop(job);
    }

    fn is_gone(&self) -> bool {
        self.0.lock().is_none()
    }
}

impl<'s, 'env, E, M> Scope<'s, 'env, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    pub(super) fn blocking_inner<F, O>(&'s self, info: TaskInfo, f: F) -> Child<'s, O::Ok>
    where
        F: FnOnce(&Cx) -> O + Send + 'static,
        O: TaskOutput<E>,
        O::Ok: Send + 'static,
    {
        let shared: &Arc<Shared<E>> = &self.shared;
        let cx = shared.cx.child();
        let (tx, rx) = oneshot::channel();
        let ticket = Arc::new(Ticket::default());
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !self.is_closed() && shared.tracker.enter().is_ok() => runtime,
            found => {
                // It never runs: its context ends now, as a refused spawned child's does
                // (a watcher handed it wakes), for the reason it was turned away.
                let cause = if found.is_err() {
                    const NO_RUNTIME: &str = "no tokio runtime to run blocking work on";
                    cx.cancel_with(Cause::explicit(NO_RUNTIME));
                    Arc::new(Cause::explicit(NO_RUNTIME))
                } else {
                    let closed = "the scope is closed: its body has returned";
                    let cause = shared.stop_cause(None, closed);
                    cx.cancel_with(Cause::ParentCancelled(Arc::clone(&cause)));
                    cause
                };
                // What the closure captured is dropped now: a panic there is this child's.
                let _ = tx.send(shared.drop_refused(&info, f, cause));
                return Child::queued(HandleCx::Own(cx), info, rx, ticket, &**shared);
            }
        };
        let limited = shared.admission.is_limited();
        let job = Job {
            f: Some(f),
            shared: Arc::clone(shared),
            scope: Arc::clone(shared) as Arc<dyn Enclosing>,
            obs: ChildObs::blocking(&shared.obs, &info, &cx),
            cx: cx.clone(),
            info: info.clone(),
            tx: Channel(Some(tx)),
            slot: false,
            seq: NO_SEQ,
            handed: false,
            ticket: Arc::clone(&ticket),
        };
        let t = Arc::clone(&ticket);
        // Started on the runtime it was spawned on, whatever thread admits it (a slot can be
        // given back on a thread without a runtime).
        let start = move |seq: Seq| {
            let mut job = job;
            job.slot = limited;
            job.seq = seq;
            if !t.may_start() {
                return;
            }
            // Its place in the start window ends as it is handed to the pool, not when a
            // thread takes it: the pool's queue keeps the order the window is for, and a busy
            // pool (a long job, a small `max_blocking_threads`) must not hold back the slots
            // that are free. (The slot itself stays taken until the closure returns.)
            job.seq = NO_SEQ;
            // It will run: not a future its scope keeps (the leak check tells them apart).
            job.obs.handed_over(&job.info);
            job.handed = true;
            let shared = Arc::clone(&job.shared);
            // In a cell that a stop empties: a job still waiting for a thread of the pool is
            // dropped at once, unstarted, and does not hold its scope open until a thread
            // frees (aborting tokio's blocking task would not drop it before then).
            let cell = Arc::new(JobCell(Mutex::new(Some(job))));
            let waiting = TaskHandle::Job(Arc::clone(&cell) as Arc<dyn PendingJob>);
            // The pool may drop the closure without running it (a runtime shutting down): the
            // guard empties the cell then, so that the job reports and gives its unit back.
            let guard = Unrun(cell);
            drop(runtime.spawn_blocking(move || {
                let job = guard.0 .0.lock().take();
                if let Some(job) = job {
                    job.run();
                }
            }));
            t.started(&waiting);
            // The forced abort (here or in an enclosing scope) reaches it too.
            Tracker::register_task(
                &(Arc::clone(&shared) as Arc<dyn Enclosing>),
                waiting,
                Some(&runtime),
            );
            shared.child_started(seq);
        };
        let queued = Queued::Spawn(Arc::clone(&ticket), Box::new(start));
        let started = shared.tracker.is_started() && !limited;
        let now = if started {
            Ok(Some(super::admission::Admitted(queued, NO_SEQ)))
        } else {
            shared.admission.arrive(queued, false)
        };
        match now {
            Ok(Some(now)) => shared.start_queued(now),
            Ok(None) => {
                // Waiting holds units above too: the enclosing scopes' forced abort reaches
                // the queue (as for a spawned child).
                Tracker::register_queued(&(Arc::clone(shared) as Arc<dyn Enclosing>));
            }
            Err((closed, _)) => drop(closed),
        }
        Child::queued(HandleCx::Own(cx), info, rx, ticket, &**shared)
    }
}
