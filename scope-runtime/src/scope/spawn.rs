//! Spawning: the spawn methods of a scope, and the future every child runs in.
//!
//! A child's life: it takes a unit of live work (spawned children only), is admitted or
//! queued (`admission.rs`), starts as a runtime task or in the run's in-place set, runs with
//! its own context as the ambient one, and ends by settling its outcome with the scope
//! (`outcome.rs`), handing its slot of the limit on, delivering the outcome to its handle
//! (`child.rs`), and, once its future is dropped, giving its unit back.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::admission::{Admitted, Queued, Seq, Ticket, NO_SEQ};
use super::child::Child;
use super::mode::Mode;
use super::outcome::TaskOutput;
use super::tracker::{Enclosing, Tracker};
use super::{LocalTask, Scope, Shared};
use crate::cause::Cause;
use crate::cx::{Cx, EnclosingScope, Enter};
use crate::error::{panic_message, Interrupted, NotStarted, SpawnError};
use crate::info::TaskInfo;
use crate::observe::ChildObs;

/// How a child's outcome reaches its handle.
pub(crate) trait Deliver<T> {
    type Output;
    /// The child completed (its own way, or by panicking).
    fn deliver(&mut self, out: Result<T, Interrupted>) -> Self::Output;
    /// The child ended without completing: it never started, or it was aborted.
    fn dropped(&mut self, out: Result<T, Interrupted>);
}

/// The outcome is the task's output, read through its `JoinHandle`.
pub(crate) struct Direct;

impl<T> Deliver<T> for Direct {
    type Output = Result<T, Interrupted>;
    fn deliver(&mut self, out: Result<T, Interrupted>) -> Result<T, Interrupted> {
        out
    }
    fn dropped(&mut self, _: Result<T, Interrupted>) {
        // The handle learns it from the `JoinHandle` (cancelled) and the scope's records.
    }
}

/// The outcome goes through a channel: in-place children, and spawned children that were
/// queued before they became tasks.
pub(crate) struct Channel<T>(Option<oneshot::Sender<Result<T, Interrupted>>>);

impl<T> Deliver<T> for Channel<T> {
    type Output = ();
    fn deliver(&mut self, out: Result<T, Interrupted>) {
        if let Some(tx) = self.0.take() {
            // A dropped handle does not want it; the value is dropped here (no lock is held).
            let _ = tx.send(out);
        }
    }
    fn dropped(&mut self, out: Result<T, Interrupted>) {
        self.deliver(out);
    }
}

/// How a new child is admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Now if it may start, else queued behind the others (`spawn`).
    Queue,
    /// Now, or refused with a typed error (`try_spawn`).
    Refuse,
    /// Now, into a slot already reserved (`slot`: it holds a slot of the limit; `seq`: its
    /// place in the start window).
    Held { slot: bool, seq: Seq },
}

impl Admit {
    /// Gives back a reserved slot (and place) the child will not use (it was refused).
    fn release<E>(self, shared: &Shared<E>) {
        if let Admit::Held { slot, seq } = self {
            shared.child_started(seq);
            if slot {
                shared.release_slot();
            }
        }
    }
}

/// It has been polled (it started running).
const STARTED: u8 = 1;
/// It completed and delivered its outcome.
const DONE: u8 = 2;
/// It holds a slot of the scope's limit.
const SLOT: u8 = 4;
/// It holds a unit of the scope's tracker.
const UNIT: u8 = 8;

pub(crate) type OkOf<F, E> = <<F as Future>::Output as TaskOutput<E>>::Ok;

pin_project_lite::pin_project! {
    /// The future every child runs in, spawned or in place: the user's future, polled with the
    /// child's context as the ambient one, its panics (in `poll` and in its destructor) turned
    /// into outcomes, and its end reported to the scope and to the handle. Written by hand so
    /// the user's future is stored once, inline.
    #[project = ChildTaskProj]
    pub(crate) struct ChildTask<F, E, D>
    where
        F: Future,
        F::Output: TaskOutput<E>,
        E: From<Interrupted>,
        E: fmt::Display,
        D: Deliver<OkOf<F, E>>,
    {
        // Dropped first, by hand (see `PinnedDrop`): the unit is given back only after it.
        #[pin]
        fut: Option<F>,
        shared: Arc<Shared<E>>,
        // The scope, as the enclosing scope of scopes entered in the child.
        scope: EnclosingScope,
        cx: Option<Cx>,
        info: TaskInfo,
        obs: ChildObs,
        deliver: D,
        flags: u8,
        // Its place in the scope's start window (`NO_SEQ` if none), given back at its first
        // poll.
        seq: Seq,
    }

    impl<F, E, D> PinnedDrop for ChildTask<F, E, D>
    where
        F: Future,
        F::Output: TaskOutput<E>,
        E: From<Interrupted>,
        E: fmt::Display,
        D: Deliver<OkOf<F, E>>,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let flags = *this.flags;
            if flags & DONE == 0 {
                // Ended without completing: never started, or aborted (the grace ran out,
                // the scope was dropped, or the handle aborted it).
                let panicked = if this.fut.is_some() {
                    let _enter = Enter::scope_code(this.cx, this.scope);
                    let mut fut = this.fut.as_mut();
                    catch_unwind(AssertUnwindSafe(move || fut.set(None))).err()
                } else {
                    None
                };
                let shared = &**this.shared;
                let out = match panicked {
                    // Its destructor panicked: that is the child's panic.
                    Some(payload) => {
                        shared.record_drop_panic(this.info.id(), panic_message(payload.as_ref()));
                        Err(shared.panicked(this.info, payload).into())
                    }
                    None => {
                        if flags & STARTED == 0 {
                            Err(NotStarted::new(why_not_started(this.cx.as_ref(), shared)).into())
                        } else {
                            Err(Interrupted::from_shared_cause(why_stopped(this.cx.as_ref(), shared)))
                        }
                    }
                };
                this.obs.ended(&shared.obs, this.info, &out);
                this.deliver.dropped(out);
                shared.child_started(*this.seq);
                if flags & SLOT != 0 {
                    shared.release_slot();
                }
            }
            if flags & UNIT != 0 {
                this.shared.tracker.exit();
            }
        }
    }
}

/// Why a child never started: it was cancelled alone (its own cause), or its scope closed
/// (the scope's cause, not the "parent cancelled" its context inherits).
pub(crate) fn why_not_started<E>(cx: Option<&Cx>, shared: &Shared<E>) -> Arc<Cause> {
    match cx.and_then(Cx::cause_arc) {
        Some(own) if !matches!(*own, Cause::ParentCancelled(_)) => own,
        own => shared
            .cx
            .cause_arc()
            .or(own)
            .unwrap_or_else(|| Arc::new(Cause::explicit("the scope was dropped"))),
    }
}

/// Why a child that did not complete stopped: its own context's cause, else its scope's.
pub(crate) fn why_stopped<E>(cx: Option<&Cx>, shared: &Shared<E>) -> Arc<Cause> {
    cx.and_then(Cx::cause_arc)
        .or_else(|| shared.cx.cause_arc())
        .unwrap_or_else(|| Arc::new(Cause::explicit("the scope was dropped")))
}

impl<F, E, D> ChildTask<F, E, D>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display + Send + 'static,
    D: Deliver<OkOf<F, E>>,
{
    #[inline]
    fn new(shared: &Arc<Shared<E>>, cx: Cx, info: TaskInfo, fut: F, deliver: D, flags: u8) -> Self {
        ChildTask {
            fut: Some(fut),
            shared: Arc::clone(shared),
            scope: Some(Arc::clone(shared) as Arc<dyn Enclosing>),
            obs: ChildObs::new(&shared.obs, &info, &cx, flags & UNIT != 0),
            cx: Some(cx),
            info,
            deliver,
            flags,
            seq: NO_SEQ,
        }
    }
}

impl<F, E, D> Future for ChildTask<F, E, D>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display,
    D: Deliver<OkOf<F, E>>,
{
    type Output = D::Output;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<D::Output> {
        // The hot path only (in-place children nest: one frame per level).
        let mut this = self.project();
        if *this.flags & (STARTED | DONE) != STARTED {
            if *this.flags & DONE != 0 {
                // Polled again after it completed: it has nothing more to give.
                return Poll::Pending;
            }
            // A child whose context is cancelled before its first poll never runs.
            if this.cx.as_ref().is_some_and(Cx::is_cancelled) {
                return Poll::Ready(finish_unstarted(this));
            }
            *this.flags |= STARTED;
            this.obs.started(&this.shared.obs, this.info);
        }
        let polled = {
            let _enter = Enter::scope_code(this.cx, this.scope);
            let _obs = this.obs.enter();
            match this.fut.as_mut().as_pin_mut() {
                Some(fut) => catch_unwind(AssertUnwindSafe(|| fut.poll(task))),
                None => return Poll::Pending,
            }
        };
        if *this.seq != NO_SEQ {
            // Its first poll is done: its place in the start window passes on.
            this.shared
                .child_started(std::mem::replace(this.seq, NO_SEQ));
        }
        if let Ok(Poll::Pending) = polled {
            return Poll::Pending;
        }
        Poll::Ready(complete(this, polled))
    }
}

/// The child's future returned (or panicked): it is dropped, in place (its destructor is part
/// of the child, so a panic there is the child's panic), and its outcome settled with the
/// scope and delivered to the handle.
#[inline(never)]
fn complete<F, E, D>(
    mut this: ChildTaskProj<'_, F, E, D>,
    polled: Result<Poll<F::Output>, Box<dyn std::any::Any + Send>>,
) -> D::Output
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display,
    D: Deliver<OkOf<F, E>>,
{
    let dropped = {
        let _enter = Enter::scope_code(this.cx, this.scope);
        let mut fut = this.fut.as_mut();
        catch_unwind(AssertUnwindSafe(move || fut.set(None)))
    };
    let out = match (polled, dropped) {
        (Ok(Poll::Ready(out)), Ok(())) => Ok(out),
        (Err(payload), _) | (Ok(_), Err(payload)) => Err(payload),
        (Ok(Poll::Pending), Ok(())) => unreachable!("a pending poll does not complete"),
    };
    *this.flags |= DONE;
    let result = this.shared.settle(this.info, out);
    this.obs.ended(&this.shared.obs, this.info, &result);
    if *this.flags & SLOT != 0 {
        // After the settle: a failure has closed admission by now, so its slot is not
        // handed to a queued child.
        *this.flags &= !SLOT;
        this.shared.release_slot();
    }
    this.deliver.deliver(result)
}

/// A child cancelled before its first poll: dropped unstarted, reported as never run.
#[cold]
#[inline(never)]
fn finish_unstarted<F, E, D>(this: ChildTaskProj<'_, F, E, D>) -> D::Output
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display,
    D: Deliver<OkOf<F, E>>,
{
    *this.flags |= DONE;
    this.shared.child_started(*this.seq);
    let mut fut = this.fut;
    let out = match catch_unwind(AssertUnwindSafe(move || fut.set(None))) {
        Err(payload) => Err(this.shared.panicked(this.info, payload).into()),
        Ok(()) => Err(NotStarted::new(why_not_started(this.cx.as_ref(), this.shared)).into()),
    };
    if *this.flags & SLOT != 0 {
        *this.flags &= !SLOT;
        this.shared.release_slot();
    }
    this.obs.ended(&this.shared.obs, this.info, &out);
    this.deliver.deliver(out)
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M> {
    /// The handle of a child refused because the scope is closed: it never runs.
    fn refused<T>(&'s self, info: TaskInfo, cx: &Cx) -> Child<'s, T>
    where
        E: Send + 'static,
    {
        let cause = self.shared.cx.cause_arc().unwrap_or_else(|| {
            Arc::new(Cause::explicit(
                "the scope is closed: its body has returned",
            ))
        });
        cx.cancel_with(Cause::ParentCancelled(Arc::clone(&cause)));
        Child::done(
            cx.clone(),
            info,
            Err(NotStarted::new(cause).into()),
            &**self.shared,
        )
    }

    /// Queues a boxed in-place child (the run takes it when admitted); the handle reads its
    /// outcome from `rx`.
    fn push_in_place<T>(
        &'s self,
        info: TaskInfo,
        cx: Cx,
        fut: Pin<Box<M::Task<'env>>>,
        rx: oneshot::Receiver<Result<T, Interrupted>>,
        admit: Admit,
    ) -> Child<'s, T>
    where
        E: Send + 'static,
    {
        let shared: &Arc<Shared<E>> = &self.shared;
        let id = info.id();
        let rejected = {
            let mut local = self.local.lock();
            if local.finished || shared.tracker.is_closed() {
                Some(fut)
            } else {
                local.tasks.push_back(LocalTask { id, fut });
                None
            }
        };
        if let Some(fut) = rejected {
            // Closed meanwhile: dropped unstarted (outside the lock); `rx` learns why.
            drop(fut);
            admit.release(shared);
        } else if let Admit::Held { seq, .. } = admit {
            // Into a reserved slot: an in-place child starts at its admission, so its place
            // in the start window passes on at once.
            shared.start_queued(Admitted(Queued::InPlace, NO_SEQ));
            shared.child_started(seq);
        } else if !shared.admission.is_limited() {
            shared.start_queued(Admitted(Queued::InPlace, NO_SEQ));
        } else {
            match shared.admission.arrive(Queued::InPlace) {
                Ok(Some(now)) => shared.start_queued(now),
                // Queued: admitted when a slot frees. Closed: the run drops it.
                Ok(None) | Err(_) => shared.tracker.wake_owner(),
            }
        }
        Child::in_place(cx, info, rx, &**shared)
    }

    /// Spawns a `Send + 'static` child: on the runtime, or in place without one.
    pub(super) fn spawn_inner<F>(
        &'s self,
        info: TaskInfo,
        fut: F,
        admit: Admit,
    ) -> Result<Child<'s, OkOf<F, E>>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
        E: From<Interrupted> + fmt::Display + Send + 'static,
    {
        let shared: &Arc<Shared<E>> = &self.shared;
        if admit == Admit::Refuse {
            if self.is_closed() {
                return Err(SpawnError::Closed);
            }
            if !shared.admission.has_room() {
                return Err(SpawnError::Full);
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to spawn on: it runs in place, on the scope's own task.
            return Ok(self.in_place_boxed(info, fut, M::boxed_send, admit));
        };
        let cx = shared.cx.child();
        if shared.cx.is_cancelled() {
            admit.release(shared);
            return Ok(self.refused(info, &cx));
        }
        // A unit of live work, here and in every enclosing scope, before anything starts.
        if shared.tracker.enter().is_err() {
            admit.release(shared);
            return Ok(self.refused(info, &cx));
        }
        let limited = shared.admission.is_limited();
        let now = match admit {
            Admit::Held { slot: true, seq } => Some(seq),
            _ if limited => shared.admission.try_admit(),
            _ => shared.tracker.is_started().then_some(NO_SEQ),
        };
        if let Some(seq) = now {
            let flags = if limited { UNIT | SLOT } else { UNIT };
            let mut task = ChildTask::new(shared, cx.clone(), info.clone(), fut, Direct, flags);
            task.seq = seq;
            let handle = runtime.spawn(task);
            register(shared, handle.abort_handle());
            return Ok(Child::spawned(cx, info, handle, &**shared));
        }
        // Queued: its future waits in the admission queue, not as a task.
        let (tx, rx) = oneshot::channel();
        let task = ChildTask::new(
            shared,
            cx.clone(),
            info.clone(),
            fut,
            Channel(Some(tx)),
            UNIT,
        );
        let ticket = Arc::new(Ticket::default());
        let start = start_later(Arc::clone(shared), Arc::clone(&ticket), task, limited);
        let queued = Queued::Spawn(Arc::clone(&ticket), Box::new(start));
        match shared.admission.arrive(queued) {
            Ok(Some(now)) => shared.start_queued(now),
            Ok(None) => {}
            // Admission closed: dropped unstarted, outside the lock; `rx` learns why.
            Err(closed) => drop(closed),
        }
        Ok(Child::queued(cx, info, rx, ticket, &**shared))
    }

    /// An in-place child, boxed for the scope's mode by `boxed`.
    pub(super) fn in_place_boxed<F, B>(
        &'s self,
        info: TaskInfo,
        fut: F,
        boxed: B,
        admit: Admit,
    ) -> Child<'s, OkOf<F, E>>
    where
        F: Future + 'env,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: 'env,
        E: From<Interrupted> + fmt::Display + Send + 'static,
        B: FnOnce(ChildTask<F, E, Channel<OkOf<F, E>>>) -> Pin<Box<M::Task<'env>>>,
    {
        let shared: &Arc<Shared<E>> = &self.shared;
        let cx = shared.cx.child();
        if self.is_closed() {
            admit.release(shared);
            return self.refused(info, &cx);
        }
        let (tx, rx) = oneshot::channel();
        let task = ChildTask::new(shared, cx.clone(), info.clone(), fut, Channel(Some(tx)), 0);
        self.push_in_place(info, cx, boxed(task), rx, admit)
    }
}

/// Registers a spawned child's task for the forced abort.
fn register<E: Send + 'static>(shared: &Arc<Shared<E>>, handle: super::tracker::TaskHandle) {
    Tracker::register_task(&(Arc::clone(shared) as Arc<dyn Enclosing>), handle);
}

/// The start of a queued spawned child: becomes a task when admitted, unless its handle
/// aborted it first.
fn start_later<F, E>(
    shared: Arc<Shared<E>>,
    ticket: Arc<Ticket>,
    task: ChildTask<F, E, Channel<OkOf<F, E>>>,
    limited: bool,
) -> impl FnOnce(Seq) + Send + 'static
where
    F: Future + Send + 'static,
    F::Output: TaskOutput<E>,
    OkOf<F, E>: Send + 'static,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    move |seq| {
        let mut task = task;
        if limited {
            // Admission handed it a slot, and a place in the start window.
            task.flags |= SLOT;
            task.seq = seq;
        }
        if !ticket.may_start() {
            // Aborted while it waited: dropped unstarted (its slot passes on).
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let handle = runtime.spawn(task);
                ticket.started(&handle.abort_handle());
                register(&shared, handle.abort_handle());
            }
            Err(_) => {
                // Admitted where no runtime runs (it cannot happen from the scope's own run,
                // which runs on one): it cannot start, and says why.
                task.cx
                    .as_ref()
                    .map(|cx| cx.cancel("no tokio runtime to start the child on"));
            }
        }
    }
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M> {
    pub(super) fn try_in_place_check(&self) -> Result<(), SpawnError> {
        if self.is_closed() {
            return Err(SpawnError::Closed);
        }
        if !self.shared.admission.has_room() {
            return Err(SpawnError::Full);
        }
        Ok(())
    }
}
