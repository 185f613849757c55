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

use super::admission::{Admitted, Queued, Room, Seq, Ticket, NO_SEQ};
use super::child::{Child, HandleCx};
use super::mode::Mode;
use super::outcome::TaskOutput;
use super::tracker::{Enclosing, Tracker};
use super::{LocalTask, Lost, Scope, Shared, Target};
use crate::cause::Cause;
use crate::cx::{Cx, EnclosingScope, Enter, Lazy, LAZY};
use crate::error::{
    drop_after_panic, drop_caught, panic_message, ChildFailed, Interrupted, NotStarted, SpawnError,
};
use crate::info::{TaskId, TaskInfo};
use crate::observe::{ChildObs, OBSERVED};

/// How a child's outcome reaches its handle.
pub(crate) trait Deliver<T> {
    type Output;
    /// The handle reads the outcome from the task itself: what the task could not deliver
    /// (it ended without completing) goes to the scope's records (`Shared::record_lost`).
    const DIRECT: bool = false;
    /// The child completed (its own way, or by panicking). An outcome nobody will read (its
    /// handle is gone, perhaps while this ran) goes to `unread`, which drops it where the
    /// caller says: inside the scope's context, with a panic of its destructor the child's.
    fn deliver(
        &mut self,
        out: Result<T, Interrupted>,
        unread: impl FnOnce(Result<T, Interrupted>),
    ) -> Self::Output;
    /// The child ended without completing: it never started, or it was aborted.
    fn dropped(&mut self, out: Result<T, Interrupted>);
    /// Whether nobody will read what is delivered (the handle is gone, so the value is
    /// dropped as it is delivered); `false` when that is not known.
    fn unread(&self) -> bool {
        false
    }
}

/// A panic's payload.
type Panic = Box<dyn std::any::Any + Send>;

/// The outcome is the task's output, read through its `JoinHandle`.
pub(crate) struct Direct;

impl<T> Deliver<T> for Direct {
    type Output = Result<T, Interrupted>;
    const DIRECT: bool = true;
    fn deliver(
        &mut self,
        out: Result<T, Interrupted>,
        _: impl FnOnce(Result<T, Interrupted>),
    ) -> Self::Output {
        // If the handle is gone, tokio drops the value after the child's end: only a value
        // without a destructor is delivered this way (see `spawn_inner`).
        out
    }
    fn dropped(&mut self, _: Result<T, Interrupted>) {
        // The handle learns it from the `JoinHandle` (cancelled) and the scope's records
        // (`record_lost`).
    }
}

/// The outcome goes through a channel: in-place children, spawned children that were queued
/// before they became tasks, and spawned children whose value has a destructor.
pub(crate) struct Channel<T>(pub(super) Option<oneshot::Sender<Result<T, Interrupted>>>);

impl<T> Deliver<T> for Channel<T> {
    type Output = ();
    fn deliver(
        &mut self,
        out: Result<T, Interrupted>,
        unread: impl FnOnce(Result<T, Interrupted>),
    ) {
        if let Some(tx) = self.0.take() {
            // The send wakes the handle's waker, which may be a user's: a panic there must not
            // skip the rest of the child's end (the value is sent by then).
            let mut refused = None;
            crate::error::wake_caught(|| refused = tx.send(out).err());
            if let Some(out) = refused {
                // Nobody will read it (the handle may have gone since `unread()` was asked:
                // it is dropped on another thread): user code; no lock is held.
                unread(out);
            }
        }
    }
    fn dropped(&mut self, out: Result<T, Interrupted>) {
        // Ended without completing: a cancellation or a panic, not the child's value.
        self.deliver(out, drop);
    }
    fn unread(&self) -> bool {
        self.0.as_ref().is_some_and(oneshot::Sender::is_closed)
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
    /// A `try_spawn` that found room but no slot to take yet: its place is promised until it
    /// arrives (see [`Room::Promised`]).
    Promised,
}

impl Admit {
    /// Gives back a reserved slot (and place) the child will not use (it was refused).
    fn release<E>(self, shared: &Shared<E>) {
        match self {
            Admit::Held { slot, seq } => {
                shared.child_started(seq);
                if slot {
                    shared.release_slot();
                }
            }
            Admit::Promised => shared.admission.unpromise(),
            Admit::Queue | Admit::Refuse => {}
        }
    }

    /// What `try_spawn`'s look for room makes of the child's admission.
    fn after(room: Room) -> Admit {
        match room {
            // Its slot (and place) is taken: spawned into it as into a reserved one.
            Room::Slot(seq) => Admit::Held { slot: true, seq },
            Room::Promised => Admit::Promised,
            Room::Free => Admit::Queue,
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
/// A background child: stopped when the body returns, which is not a failure.
pub(crate) const BACKGROUND: u8 = 16;
/// Handed to the runtime as a task (32 is the context's `LAZY`): the runtime may drop it.
const TASK: u8 = 64;

pub(crate) type OkOf<F, E> = <<F as Future>::Output as TaskOutput<E>>::Ok;

/// A child's output split into its value and its error.
type ResultOf<F, E> = Result<OkOf<F, E>, E>;

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
        // The child's own context, or while its `LAZY` flag is set the context its own
        // derives from (see `own_cx`).
        cx: Option<Cx>,
        // The epoch of the scope's registry of own contexts when the child last looked.
        seen: u32,
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
                    let home = (&mut *this.flags, this.info.id());
                    let _enter = Enter::child_in_drop(this.cx, this.scope, home, *this.seen);
                    let mut fut = this.fut.as_mut();
                    // A task is dropped unfinished only by an abort (its own, its grace's
                    // end, its scope's; or its runtime's shutdown): the work below it goes
                    // with it, whatever is left of the graces of the scopes in it, as the
                    // scope's forced abort takes the scopes below.
                    let task = flags & TASK != 0;
                    catch_unwind(AssertUnwindSafe(move || {
                        super::run::drop_past_every_grace(task, || fut.set(None));
                    }))
                    .err()
                } else {
                    None
                };
                let shared = &**this.shared;
                let background = flags & BACKGROUND != 0;
                // (One that never started reads the scope's cause below, as any does.)
                let by_runtime = if flags & TASK != 0 && panicked.is_none() {
                    let lazy = lazy(flags, this.info);
                    dropped_by_its_runtime(this.cx.as_ref(), lazy, this.info, background, shared)
                        .filter(|_| flags & STARTED != 0)
                } else {
                    None
                };
                if !background {
                    let (cx, lazy, seen) = (this.cx.as_ref(), lazy(flags, this.info), *this.seen);
                    shared.cut_short(|| cancelled_alone(cx, lazy, seen, shared).is_some());
                }
                // Its destructor panicked: that is the child's panic.
                let out = if let Some(payload) = panicked {
                    if D::DIRECT {
                        let message = panic_message(payload.as_ref());
                        shared.record_lost(this.info.id(), background, Lost::DropPanic(message));
                    }
                    Some(Err(shared.panicked(this.info, payload).into()))
                } else if let Some(cause) = by_runtime {
                    if D::DIRECT {
                        let lost = Lost::Dropped(Arc::clone(&cause));
                        shared.record_lost(this.info.id(), background, lost);
                    }
                    Some(Err(Interrupted::from_shared_cause(cause)))
                } else if D::DIRECT && flags & STARTED != 0 && !OBSERVED {
                    // An aborted task's handle reads "aborted" from tokio, and nothing else
                    // reads its outcome: none is built (its cause would be an allocation).
                    this.obs.unregister(this.info.id());
                    None
                } else {
                    let own = own_cause(this.cx.as_ref(), lazy(*this.flags, this.info), shared);
                    if flags & STARTED == 0 {
                        let why = why_not_started(own, shared);
                        if D::DIRECT {
                            let lost = Lost::NotStarted(Arc::clone(&why));
                            shared.record_lost(this.info.id(), background, lost);
                        }
                        Some(Err(NotStarted::from_shared_cause(why).into()))
                    } else {
                        Some(Err(Interrupted::from_shared_cause(why_stopped(own, shared))))
                    }
                };
                // Its slot and place go back before its handle learns of its end, as a
                // completed child's do: once the handle says it finished, there is room.
                shared.child_started(*this.seq);
                if flags & SLOT != 0 {
                    shared.release_slot();
                }
                if let Some(out) = out {
                    this.obs.ended(&shared.obs, this.info, &out);
                    this.deliver.dropped(out);
                }
            }
            if flags & BACKGROUND != 0 {
                this.shared.forget_background(this.info.id());
            }
            // The child is over, and so is its own context, if it has one.
            end_own_cx(this.cx, *this.flags, this.info, *this.seen, this.shared);
            // A node its handle made and the registry kept for it: the child is over, and
            // so is that node (one made after the look above, before the epoch moved, is
            // found here only). (Its callbacks may run and drop here: user code, with no
            // lock held.)
            if let Some(kept) = this.shared.own_cxs.release(this.info.id()) {
                end_cx(&kept, this.info, this.shared);
                drop_after_panic(kept);
            }
            // Still without one: its waits parked without a node (kept past its end) get
            // one, ended so, as its own would have been.
            if let (Some(parent), true) = (this.cx.as_ref(), *this.flags & LAZY != 0) {
                let (info, shared) = (&*this.info, &**this.shared);
                shared.own_cxs.end_waits(info.id(), parent, |own| {
                    end_cx(&own, info, shared);
                    drop_after_panic(own);
                });
            }
            if flags & UNIT != 0 {
                this.shared.tracker.exit();
            }
        }
    }
}

/// A child that is over ends its own context, if it has one (`Cause::Finished`, naming the
/// child), as a scope's ends with the scope: a clone of it held elsewhere (a token bridged to
/// another library, a watcher) learns that the work is over and lets go of it. A lazy child
/// has one only if its handle made it (the registry's epoch moved since the child looked).
#[inline]
fn end_own_cx<E>(cx: &mut Option<Cx>, flags: u8, info: &TaskInfo, seen: u32, shared: &Shared<E>) {
    let own = if flags & LAZY == 0 {
        cx.take()
    } else if shared.own_cxs.epoch() != seen {
        shared.own_cxs.take(info.id())
    } else {
        return;
    };
    if let Some(own) = own {
        end_cx(&own, info, shared);
        drop_after_panic(own);
    }
}

/// Ends a child's context (its callbacks run now: a panic of one is the scope's, as at its
/// other looks at a context).
#[cold]
#[inline(never)]
pub(super) fn end_cx<E>(cx: &Cx, info: &TaskInfo, shared: &Shared<E>) {
    shared.catching(|| cx.finish(info));
}

/// The cause of the child's own context: its own if it has one, else the one it would inherit
/// from the context it derives from (`cx` while `lazy`).
fn own_cause<E>(cx: Option<&Cx>, lazy: Lazy, shared: &Shared<E>) -> Option<Arc<Cause>> {
    let Some(id) = lazy else {
        return cx.and_then(|cx| shared.cause_in(cx));
    };
    // A context the registry kept for it (its handle made one): read, not taken, so that
    // the child's end finds it and ends it (its callbacks are user code, run there under a
    // catch, not dropped unrun here).
    if let Some(own) = shared.own_cxs.find(id) {
        let cause = shared.cause_in(&own);
        drop_after_panic(own);
        return cause;
    }
    cx.and_then(|cx| shared.cause_in(cx))
        .map(|c| crate::cx::inherited(&c))
}

/// The cause of the child's own cancel, if it was cancelled alone (by its handle): not through
/// its scope. `seen`: the registry's epoch the child last looked at (a lazy child without a
/// context created by its handle since was not cancelled alone).
fn cancelled_alone<E>(
    cx: Option<&Cx>,
    lazy: Lazy,
    seen: u32,
    shared: &Shared<E>,
) -> Option<Arc<Cause>> {
    if lazy.is_some() && shared.own_cxs.epoch() == seen {
        return None;
    }
    own_cause(cx, lazy, shared).filter(|c| by_handle(c))
}

/// A child's task dropped unfinished with nothing of ours behind it (no abort sealed
/// its scope or one above, neither its scope nor the child was cancelled): its runtime
/// dropped it, shutting down. That is a cancel of the scope, with a cause that says so: the
/// body learns that the runtime is going, a value it returned first is not its success (the
/// child was cut short), and the handle reads the cause (not "aborted": nobody aborted it).
/// Returns the cause. Cold: a child ends so only at a runtime's shutdown.
#[cold]
#[inline(never)]
fn dropped_by_its_runtime<E>(
    cx: Option<&Cx>,
    lazy: Lazy,
    info: &TaskInfo,
    background: bool,
    shared: &Shared<E>,
) -> Option<Arc<Cause>> {
    if shared.tracker.is_sealed_anywhere()
        || shared.is_cancelled_in(&shared.child_parent(background))
        || own_cause(cx, lazy, shared).is_some()
    {
        return None;
    }
    Some(runtime_dropped(shared, info))
}

/// Cancels the scope for a child its runtime dropped as it shut down (see
/// [`dropped_by_its_runtime`]; a blocking child's job, too): the cause, which names the child.
#[cold]
#[inline(never)]
pub(super) fn runtime_dropped<E>(shared: &Shared<E>, info: &TaskInfo) -> Arc<Cause> {
    let cause = Cause::explicit(format!("the runtime shut down, dropping child `{info}`"));
    mark_runtime_gone_up(shared);
    shared.cancel_own(cause.clone());
    Arc::new(cause)
}

/// Cancels the scope for its runtime's shutdown, seen by a timer of its own that the runtime
/// fired early (no task of the scope was there to tell): the deadline would never come.
#[cold]
#[inline(never)]
pub(super) fn runtime_shut_down<E>(shared: &Shared<E>) {
    mark_runtime_gone_up(shared);
    shared.cancel_own(Cause::explicit("the runtime shut down"));
}

/// Marks this scope's runtime gone, and that of every scope it is nested in: their timers went
/// with the runtime too (an enclosing scope's grace or deadline, once this one's result
/// reaches it).
fn mark_runtime_gone_up<E>(shared: &Shared<E>) {
    shared.mark_runtime_gone();
    let mut up = shared.tracker.enclosing().cloned();
    while let Some(scope) = up {
        scope.runtime_gone();
        up = scope.tracker().enclosing().cloned();
    }
}

/// Whether a cause on a child's own context came from its handle: not inherited from its
/// scope, and not the scope's deadline (which a child's context checks for itself).
pub(crate) fn by_handle(cause: &Cause) -> bool {
    !matches!(cause, Cause::ParentCancelled(_)) && !cause.is_deadline()
}

/// Why a child never started: it was cancelled alone (its own cause, `own`), or its scope
/// closed (the scope's cause, not the "parent cancelled" its context inherits).
pub(crate) fn why_not_started<E>(own: Option<Arc<Cause>>, shared: &Shared<E>) -> Arc<Cause> {
    match own {
        Some(own) if !matches!(*own, Cause::ParentCancelled(_)) => own,
        own => shared.stop_cause(own, "the scope was dropped"),
    }
}

/// Why a child that did not complete stopped: its own context's cause (`own`), else its
/// scope's.
pub(crate) fn why_stopped<E>(own: Option<Arc<Cause>>, shared: &Shared<E>) -> Arc<Cause> {
    own.unwrap_or_else(|| shared.stop_cause(None, "the scope was dropped"))
}

impl<F, E, D> ChildTask<F, E, D>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display + Send + 'static,
    D: Deliver<OkOf<F, E>>,
{
    /// A child whose own context is created when first needed, from `parent` (see `own_cx`).
    #[inline]
    fn new(
        shared: &Arc<Shared<E>>,
        parent: Cx,
        info: TaskInfo,
        fut: F,
        deliver: D,
        flags: u8,
    ) -> Self {
        ChildTask {
            fut: Some(fut),
            shared: Arc::clone(shared),
            scope: Some(Arc::clone(shared) as Arc<dyn Enclosing>),
            obs: ChildObs::new(&shared.obs, &info, &parent, flags & UNIT != 0),
            cx: Some(parent),
            seen: shared.own_cxs.epoch(),
            info,
            deliver,
            flags: flags | LAZY,
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
            if *this.flags & LAZY != 0 {
                adopt_own(&mut this);
            }
            // A child whose context is cancelled before its first poll never runs. (The check
            // may fire a passed deadline: the scope's bookkeeping, whose callbacks' panics are
            // the scope's, not unwound through the child's task or the run's poll.)
            if this
                .cx
                .as_ref()
                .is_some_and(|cx| this.shared.is_cancelled_in(cx))
            {
                return Poll::Ready(finish_unstarted(this));
            }
            *this.flags |= STARTED;
            this.obs.started(&this.shared.obs, this.info);
        } else if *this.flags & LAZY != 0 {
            adopt_own(&mut this);
        }
        let (polled, dropped, at_end) = {
            let home = (&mut *this.flags, this.info.id());
            let _enter = Enter::child(this.cx, this.scope, home, *this.seen);
            let _obs = this.obs.enter();
            let polled = match this.fut.as_mut().as_pin_mut() {
                Some(fut) => catch_unwind(AssertUnwindSafe(|| {
                    fut.poll(task).map(TaskOutput::into_result)
                })),
                None => return Poll::Pending,
            };
            // An error is read against the child's state as it returned it (see
            // `ErrorEnd`), before its destructor runs.
            let at_end = match polled {
                Ok(Poll::Ready(Err(_))) => error_end(this.shared),
                _ => ErrorEnd::NONE,
            };
            // Returned or panicked: the future is dropped now, still as the child (its
            // destructor is part of it), without entering it a second time.
            let dropped = match polled {
                Ok(Poll::Pending) => Ok(()),
                _ => drop_future(this.fut.as_mut()),
            };
            (polled, dropped, at_end)
        };
        if let Ok(Poll::Pending) = polled {
            if *this.seq != NO_SEQ {
                // Its first poll is done: its place in the start window passes on. (A child
                // that completed passes it on after its end is settled, in `complete`.)
                this.shared
                    .child_started(std::mem::replace(this.seq, NO_SEQ));
            }
            return Poll::Pending;
        }
        Poll::Ready(complete(this, polled, dropped, at_end))
    }
}

/// What an error a child returned answers, read as it returned it: before its future's
/// destructor runs (which may take long) and the scope settles its end. A cancel of the child
/// alone or of its scope, or the body's end for a background child, that comes in between
/// does not make an error returned before it its consequence.
#[derive(Clone, Copy)]
struct ErrorEnd(u8);

impl ErrorEnd {
    /// Not an error (nothing read).
    const NONE: Self = Self(0);
    /// An error: the bits below say what it answers.
    const ERROR: u8 = 1;
    /// The child had been cancelled alone (by its handle) when it returned it.
    const ALONE: u8 = 2;
    /// The body had ended (for a background child, its stop) when it returned it.
    const OVER: u8 = 4;
    /// The scope had been cancelled (by anyone, an ancestor included) when it returned it.
    const AHEAD: u8 = 8;
}

/// Reads, for a child that has just returned an error (still entered as the child), what that
/// error answers (see [`ErrorEnd`]).
#[cold]
#[inline(never)]
fn error_end<E>(shared: &Shared<E>) -> ErrorEnd {
    let (cx, lazy, seen) = crate::cx::current_child();
    let mut bits = ErrorEnd::ERROR;
    if cancelled_alone(cx.as_ref(), lazy, seen, shared).is_some() {
        bits |= ErrorEnd::ALONE;
    }
    if shared.background_over() {
        bits |= ErrorEnd::OVER;
    }
    if shared.caught_up_own() {
        bits |= ErrorEnd::AHEAD;
    }
    // (The clone of the context is dropped here, outside the ambient slot's borrow.)
    drop(cx);
    ErrorEnd(bits)
}

/// Drops a child's future that returned or panicked, in place; a panic of its destructor is
/// the child's.
#[inline(never)]
fn drop_future<F>(mut fut: Pin<&mut Option<F>>) -> Result<(), Panic> {
    catch_unwind(AssertUnwindSafe(move || fut.set(None)))
}

/// A child without its own context yet takes the one its handle created meanwhile, if any (it
/// looks only when the registry's epoch moved: one atomic load otherwise).
#[inline]
fn adopt_own<F, E, D>(this: &mut ChildTaskProj<'_, F, E, D>)
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display,
    D: Deliver<OkOf<F, E>>,
{
    let epoch = this.shared.own_cxs.epoch();
    if epoch != *this.seen {
        *this.seen = epoch;
        if *this.flags & LAZY != 0 {
            adopt_slow(&this.shared.own_cxs, this.info.id(), this.cx, this.flags);
        }
    }
}

/// The registry's epoch moved: the child looks itself up (off the hot path, and not generic).
#[cold]
#[inline(never)]
fn adopt_slow(registry: &super::own_cx::OwnCxs, id: TaskId, cx: &mut Option<Cx>, flags: &mut u8) {
    if let Some(own) = registry.take(id) {
        *cx = Some(own);
        *flags &= !LAZY;
    }
}

/// The child's lazy mark (see `cx::Lazy`): its id while its `LAZY` flag is set.
#[inline]
fn lazy(flags: u8, info: &TaskInfo) -> Lazy {
    (flags & LAZY != 0).then(|| info.id())
}

/// The child's future returned (or panicked) and was dropped (`dropped`: a panic of its
/// destructor is the child's panic): its outcome is settled with the scope and delivered to
/// the handle.
#[inline(never)]
#[allow(clippy::needless_pass_by_value)] // Reason: taken by reference, the poll's frame grows (48 B per nested in-place level, measured).
fn complete<F, E, D>(
    this: ChildTaskProj<'_, F, E, D>,
    polled: Result<Poll<ResultOf<F, E>>, Panic>,
    dropped: Result<(), Panic>,
    at_end: ErrorEnd,
) -> D::Output
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display,
    D: Deliver<OkOf<F, E>>,
{
    // What the panic makes moot (a second panic's payload, the value the future returned
    // before its destructor panicked) is user code: dropped here, under a catch.
    let out = match (polled, dropped) {
        (Ok(Poll::Ready(out)), Ok(())) => Ok(out),
        (Err(payload), Ok(())) | (Ok(Poll::Pending), Err(payload)) => Err(payload),
        (Err(payload), Err(second)) => {
            drop_moot(this.shared, second);
            Err(payload)
        }
        (Ok(Poll::Ready(out)), Err(payload)) => {
            drop_moot(this.shared, out);
            Err(payload)
        }
        (Ok(Poll::Pending), Ok(())) => unreachable!("a pending poll does not complete"),
    };
    *this.flags |= DONE;
    // An error is read as it was returned (see `ErrorEnd`); a value or a panic as it is now.
    let over = match at_end.0 {
        0 => this.shared.background_over(),
        bits => bits & ErrorEnd::OVER != 0,
    };
    let (result, consequence) = if *this.flags & BACKGROUND != 0 && over {
        // Stopped with the body's end: not a failure of the scope (a panic still is).
        let result = match out {
            Ok(Ok(value)) => Ok(value),
            // The error is dropped here (user code: a panic of its `Drop` is the child's),
            // inside the scope's context.
            Ok(Err(error)) => match this.shared.in_cx(|| drop_caught(error)) {
                Ok(()) => {
                    let own =
                        own_cause(this.cx.as_ref(), lazy(*this.flags, this.info), this.shared);
                    Err(Interrupted::from_shared_cause(why_stopped(
                        own,
                        this.shared,
                    )))
                }
                Err(payload) => Err(this.shared.panicked(this.info, payload).into()),
            },
            Err(payload) => Err(this.shared.panicked(this.info, payload).into()),
        };
        (result, None)
    } else {
        let lazy = lazy(*this.flags, this.info);
        let (cx, seen, shared) = (this.cx.as_ref(), *this.seen, &**this.shared);
        // (Asked of an error only, which was read as it was returned.)
        let alone = || {
            (at_end.0 & ErrorEnd::ALONE != 0)
                .then(|| cancelled_alone(cx, lazy, seen, shared))
                .flatten()
        };
        shared.settle(this.info, out, alone, at_end.0 & ErrorEnd::AHEAD != 0)
    };
    let (shared, info) = (&**this.shared, &*this.info);
    let delivered = report_end(
        this.deliver,
        this.obs,
        shared,
        info,
        result,
        consequence.as_ref(),
    );
    if *this.seq != NO_SEQ {
        // After the settle, as the slot below: its place in the start window (a child that
        // completed in its first poll) lets no queued child through after a failure.
        shared.child_started(std::mem::replace(this.seq, NO_SEQ));
    }
    if *this.flags & SLOT != 0 {
        // After the settle: a failure has closed admission by now, so its slot is not
        // handed to a queued child.
        *this.flags &= !SLOT;
        shared.release_slot();
    }
    delivered.unwrap_or_else(|result| {
        this.deliver
            .deliver(result, |unread| drop_unread(shared, info, unread))
    })
}

/// Drops what a child's panic made moot (what its future returned before its destructor
/// panicked, or that second panic's payload): user code, dropped inside the scope's context,
/// as the future was, with a panic of its own dropped as every second panic is.
#[cold]
#[inline(never)]
fn drop_moot<E, T>(shared: &Shared<E>, moot: T) {
    shared.in_cx(|| drop_after_panic(moot));
}

/// Drops an outcome whose handle went while it was being delivered (on another thread):
/// inside the scope's context, as an outcome found unread before is (`report_end`), with a
/// panic of its destructor the child's.
#[cold]
#[inline(never)]
pub(crate) fn drop_unread<T, E>(shared: &Shared<E>, info: &TaskInfo, unread: T) {
    if let Err(payload) = shared.in_cx(|| drop_caught(unread)) {
        let _ = shared.panicked(info, payload);
    }
}

/// Reports a settled child's end. A value nobody will read (its handle is gone) is dropped
/// first, so that a panic of its destructor, the child's panic, is reported as its end:
/// `Ok` with what delivering it gave; `Err` with the outcome, still to deliver (after the
/// caller has passed its slot on: whoever receives it may reserve the slot at once).
/// `consequence`: the error the child returned answering its scope's cancel (see
/// [`Shared::settle`]), for its events.
pub(crate) fn report_end<T, E, D: Deliver<T>>(
    deliver: &mut D,
    obs: &mut ChildObs,
    shared: &Shared<E>,
    info: &TaskInfo,
    result: Result<T, Interrupted>,
    consequence: Option<&ChildFailed>,
) -> Result<D::Output, Result<T, Interrupted>> {
    if result.is_ok() && deliver.unread() {
        let mut panic = None;
        // Dropped inside the scope's context, as the child's future was.
        let delivered =
            shared.in_cx(|| deliver.deliver(result, |unread| panic = drop_caught(unread).err()));
        let end = panic.map_or(Ok(()), |payload| Err(shared.panicked(info, payload).into()));
        obs.ended_settled(&shared.obs, info, &end, consequence);
        Ok(delivered)
    } else {
        obs.ended_settled(&shared.obs, info, &result, consequence);
        Err(result)
    }
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
    let mut fut = this.fut;
    // Dropped inside its context, as a child that never started is (`PinnedDrop`): its
    // destructors see its slots and its cancel. (The cause is read after the guard is gone:
    // a `Cx::current()` there may have made its own context.)
    let dropped = {
        let home = (&mut *this.flags, this.info.id());
        let _enter = Enter::child_in_drop(this.cx, this.scope, home, *this.seen);
        catch_unwind(AssertUnwindSafe(move || fut.set(None)))
    };
    if *this.flags & BACKGROUND == 0 {
        let (cx, lazy, seen) = (this.cx.as_ref(), lazy(*this.flags, this.info), *this.seen);
        let shared = &**this.shared;
        shared.cut_short(|| cancelled_alone(cx, lazy, seen, shared).is_some());
    }
    let out = if let Err(payload) = dropped {
        Err(this.shared.panicked(this.info, payload).into())
    } else {
        let own = own_cause(this.cx.as_ref(), lazy(*this.flags, this.info), this.shared);
        Err(NotStarted::from_shared_cause(why_not_started(own, this.shared)).into())
    };
    // After its destructor's panic, if any, is settled (as the slot below).
    this.shared
        .child_started(std::mem::replace(this.seq, NO_SEQ));
    if *this.flags & SLOT != 0 {
        *this.flags &= !SLOT;
        this.shared.release_slot();
    }
    this.obs.ended(&this.shared.obs, this.info, &out);
    // Never run: no value of the child's to drop.
    this.deliver.deliver(out, drop)
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M> {
    /// The handle of a child refused because the scope is closed: it never runs. Its future
    /// is dropped here, and a panic of its destructor is the child's (see
    /// [`Shared::drop_refused`]).
    fn refused<T, F>(&'s self, info: TaskInfo, cx: &Cx, fut: F) -> Child<'s, T>
    where
        E: Send + 'static,
    {
        // Refused for an enclosing scope's forced abort, whose cancel may still be on its
        // way down: that cancel is the reason.
        let cause = self
            .shared
            .stop_cause(None, "the scope is closed: its body has returned");
        cx.cancel_with(Cause::ParentCancelled(Arc::clone(&cause)));
        let out = self.shared.drop_refused(&info, fut, cause);
        Child::done(cx.clone(), info, out, &**self.shared)
    }

    /// Queues a boxed in-place child (the run takes it when admitted); the handle reads its
    /// outcome from `rx`. Refused only for a promised child (`Full`: see
    /// [`Admission::arrive`](super::admission::Admission::arrive)).
    fn push_in_place<T>(
        &'s self,
        info: TaskInfo,
        background: bool,
        fut: Pin<Box<M::Task<'env>>>,
        rx: oneshot::Receiver<Result<T, Interrupted>>,
        admit: Admit,
    ) -> Result<Child<'s, T>, SpawnError>
    where
        E: Send + 'static,
    {
        let shared: &Arc<Shared<E>> = &self.shared;
        let id = info.id();
        // A background child takes no slot (the body's end stops it, and a limit could keep
        // the body from ending): it is admitted at once, as into a reserved slot.
        let limited = shared.admission.is_limited();
        let unlimited = background && limited;
        let slot = limited && !background;
        let mut arrived = None;
        let rejected = {
            let mut local = self.local.lock();
            if local.finished || shared.tracker.is_closed() {
                Some(fut)
            } else if unlimited || matches!(admit, Admit::Held { .. }) {
                // Into a reserved slot: it is the next child the run takes (the children
                // ahead of it are those already admitted), not one still waiting for a slot.
                // Acquire: pairs with the Release increments of the admitted count.
                let admitted = shared
                    .admission
                    .in_place_admitted
                    .load(crate::sync::Ordering::Acquire);
                let at = admitted.min(local.tasks.len());
                local.tasks.insert(at, LocalTask { id, fut, slot });
                None
            } else {
                local.tasks.push_back(LocalTask { id, fut, slot });
                if limited {
                    // It arrives under the local queue's lock (admission's is a leaf), so
                    // that in-place children arrive in the order the run takes them in: a
                    // promised child's arrival then sees every child ahead of it.
                    let arrival = shared
                        .admission
                        .arrive(Queued::InPlace, admit == Admit::Promised);
                    if let Err((_, SpawnError::Full)) = &arrival {
                        // Not queued: taken back out, to be dropped outside the lock.
                        let task = local.tasks.pop_back();
                        drop(local);
                        drop(arrival);
                        drop(rx);
                        drop(task);
                        return Err(SpawnError::Full);
                    }
                    arrived = Some(arrival);
                }
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
            shared.admission.admitted_in_place();
            shared.start_queued(Admitted(Queued::InPlace, NO_SEQ));
            shared.child_started(seq);
        } else if !limited || unlimited {
            shared.admission.admitted_in_place();
            shared.start_queued(Admitted(Queued::InPlace, NO_SEQ));
        } else {
            match arrived {
                Some(Ok(Some(now))) => shared.start_queued(now),
                // Queued: admitted when a slot frees. Closed: the run drops it.
                _ => shared.tracker.wake_owner(),
            }
        }
        Ok(Child::in_place(
            HandleCx::Lazy { background },
            info,
            rx,
            &**shared,
        ))
    }

    /// Spawns a `Send + 'static` child: on the runtime, or in place without one.
    pub(super) fn spawn_inner<F>(
        &'s self,
        info: TaskInfo,
        fut: F,
        admit: Admit,
        background: bool,
    ) -> Result<Child<'s, OkOf<F, E>>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: Send + 'static,
        E: From<Interrupted> + fmt::Display + Send + 'static,
    {
        let shared: &Arc<Shared<E>> = &self.shared;
        let mut admit = admit;
        if admit == Admit::Refuse {
            if self.is_closed() {
                return Err(SpawnError::Closed);
            }
            admit = Admit::after(shared.admission.take_room(false)?);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to spawn on: it runs in place, on the scope's own task.
            return self.try_in_place_boxed(info, fut, M::boxed_send, admit, background);
        };
        let Some((parent, kind)) = self.child_parent(background) else {
            admit.release(shared);
            return Ok(self.refused(info, &shared.cx.child(), fut));
        };
        if shared.is_cancelled_own() {
            admit.release(shared);
            return Ok(self.refused(info, &parent.child(), fut));
        }
        // A unit of live work, here and in every enclosing scope, before anything starts.
        if shared.tracker.enter().is_err() {
            admit.release(shared);
            return Ok(self.refused(info, &parent.child(), fut));
        }
        let cx = HandleCx::Lazy { background };
        // A background child takes no slot: the body's end stops it, and a limit could keep
        // the body from ending.
        let limited = shared.admission.is_limited() && !background;
        let now = match admit {
            // Into a reserved slot: its place in the start window is taken now, at its spawn.
            Admit::Held { slot: true, seq } if seq == NO_SEQ => Some(shared.admission.open_place()),
            Admit::Held { slot: true, seq } => Some(seq),
            Admit::Promised => shared.admission.try_admit_promised(),
            _ if limited => shared.admission.try_admit(),
            _ => shared.tracker.is_started().then_some(NO_SEQ),
        };
        if let Some(seq) = now {
            let flags = if limited { UNIT | SLOT } else { UNIT } | kind;
            // A value with a destructor goes through a channel, as a queued child's does:
            // tokio drops a value its handle no longer waits for after the task's end (after
            // the child gave its unit back, so after its scope may have resolved), where the
            // channel's sender drops it inside the child's end.
            if std::mem::needs_drop::<OkOf<F, E>>() {
                let (tx, rx) = oneshot::channel();
                let delivery = Channel(Some(tx));
                let mut task = ChildTask::new(shared, parent, info.clone(), fut, delivery, flags);
                task.seq = seq;
                let handle = started(shared, task, &info, &runtime, background);
                return Ok(Child::spawned_via(cx, info, handle, rx, &**shared));
            }
            let mut task = ChildTask::new(shared, parent, info.clone(), fut, Direct, flags);
            task.seq = seq;
            let handle = started(shared, task, &info, &runtime, background);
            return Ok(Child::spawned(cx, info, handle, &**shared));
        }
        // Queued: its future waits in the admission queue, not as a task.
        let (tx, rx) = oneshot::channel();
        let task = ChildTask::new(
            shared,
            parent,
            info.clone(),
            fut,
            Channel(Some(tx)),
            UNIT | kind,
        );
        let ticket = Arc::new(Ticket::default());
        if background {
            shared.add_background(info.id(), Target::Queued(Arc::clone(&ticket)));
        }
        let start = start_later(
            runtime,
            Arc::clone(shared),
            Arc::clone(&ticket),
            task,
            limited,
        );
        let queued = Queued::Spawn(Arc::clone(&ticket), Box::new(start));
        let arrived = if limited {
            shared.admission.arrive(queued, admit == Admit::Promised)
        } else {
            shared
                .admission
                .arrive_unlimited(queued)
                .map_err(|closed| (closed, SpawnError::Closed))
        };
        match arrived {
            Ok(Some(now)) => shared.start_queued(now),
            Ok(None) => {
                // Waiting holds units above too: the enclosing scopes' forced abort reaches
                // the queue.
                Tracker::register_queued(&(Arc::clone(shared) as Arc<dyn Enclosing>));
            }
            // A promised child that a spawn from another thread overtook: not queued behind
            // a full limit, refused (dropped unstarted, outside the lock, with its handle's
            // side of the channel).
            Err((refused, SpawnError::Full)) => {
                drop(refused);
                drop(rx);
                return Err(SpawnError::Full);
            }
            // Admission closed: dropped unstarted, outside the lock; `rx` learns why.
            Err((closed, _)) => drop(closed),
        }
        Ok(Child::queued(cx, info, rx, ticket, &**shared))
    }

    /// An in-place child, boxed for the scope's mode by `boxed`, admitted as `admit` says
    /// (never a promised one: see [`try_in_place_boxed`](Self::try_in_place_boxed)).
    pub(super) fn in_place_boxed<F, B>(
        &'s self,
        info: TaskInfo,
        fut: F,
        boxed: B,
        admit: Admit,
        background: bool,
    ) -> Child<'s, OkOf<F, E>>
    where
        F: Future + 'env,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: 'env,
        E: From<Interrupted> + fmt::Display + Send + 'static,
        B: FnOnce(ChildTask<F, E, Channel<OkOf<F, E>>>) -> Pin<Box<M::Task<'env>>>,
    {
        debug_assert!(admit != Admit::Promised);
        match self.try_in_place_boxed(info, fut, boxed, admit, background) {
            Ok(child) => child,
            // Only a promised child's arrival is refused.
            Err(_) => unreachable!("an in-place child was refused without a promise"),
        }
    }

    /// [`in_place_boxed`](Self::in_place_boxed), for a child whose place may be promised:
    /// `Full` if a child spawned meanwhile filled the limit ahead of it.
    pub(super) fn try_in_place_boxed<F, B>(
        &'s self,
        info: TaskInfo,
        fut: F,
        boxed: B,
        admit: Admit,
        background: bool,
    ) -> Result<Child<'s, OkOf<F, E>>, SpawnError>
    where
        F: Future + 'env,
        F::Output: TaskOutput<E>,
        OkOf<F, E>: 'env,
        E: From<Interrupted> + fmt::Display + Send + 'static,
        B: FnOnce(ChildTask<F, E, Channel<OkOf<F, E>>>) -> Pin<Box<M::Task<'env>>>,
    {
        let shared: &Arc<Shared<E>> = &self.shared;
        let Some((parent, kind)) = self
            .child_parent(background)
            .filter(|_| !self.closed_here())
        else {
            admit.release(shared);
            return Ok(self.refused(info, &shared.cx.child(), fut));
        };
        let (tx, rx) = oneshot::channel();
        let id = info.id();
        let task = ChildTask::new(shared, parent, info.clone(), fut, Channel(Some(tx)), kind);
        let child = self.push_in_place(info, background, boxed(task), rx, admit)?;
        if background {
            shared.add_background(id, Target::InPlace(id));
        }
        Ok(child)
    }
}

impl<'s, 'env, E: Send + 'static, M: Mode> Scope<'s, 'env, E, M> {
    /// The context a new child's own derives from, and its kind: a background child's
    /// derives from the background context (none once the body has returned).
    fn child_parent(&self, background: bool) -> Option<(Cx, u8)> {
        if background {
            Some((self.shared.background_cx()?, BACKGROUND))
        } else {
            Some((self.shared.cx.clone(), 0))
        }
    }
}

/// Registers a spawned child's task for the forced abort.
fn register<E: Send + 'static>(
    shared: &Arc<Shared<E>>,
    handle: super::tracker::TaskHandle,
    runtime: &tokio::runtime::Handle,
) {
    Tracker::register_task(
        &(Arc::clone(shared) as Arc<dyn Enclosing>),
        handle,
        Some(runtime),
    );
}

/// A child admitted at once, started on the runtime: its abort handle registered with the
/// scope (and as a background child's stop target).
fn started<F, E, D>(
    shared: &Arc<Shared<E>>,
    task: ChildTask<F, E, D>,
    info: &TaskInfo,
    runtime: &tokio::runtime::Handle,
    background: bool,
) -> tokio::task::JoinHandle<D::Output>
where
    F: Future + Send + 'static,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display + Send + 'static,
    D: Deliver<OkOf<F, E>> + Send + 'static,
    D::Output: Send + 'static,
{
    let mut task = task;
    task.flags |= TASK;
    task.obs.handed_over(info);
    let handle = runtime.spawn(task);
    register(shared, handle.abort_handle().into(), runtime);
    if background {
        shared.add_background(info.id(), Target::Task(handle.abort_handle().into()));
    }
    handle
}

/// The start of a queued spawned child: becomes a task when admitted, unless its handle
/// aborted it first. It starts on the runtime it was spawned on, whatever thread admits it (a
/// slot can be given back on a thread without a runtime: a `Reserved` dropped there).
fn start_later<F, E>(
    runtime: tokio::runtime::Handle,
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
        task.flags |= TASK;
        task.obs.handed_over(&task.info);
        let handle = runtime.spawn(task);
        ticket.started(&handle.abort_handle().into());
        register(&shared, handle.abort_handle().into(), &runtime);
    }
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M> {
    pub(super) fn try_in_place_check(&self) -> Result<Admit, SpawnError> {
        // As `spawn_in_place` admits (an in-place child runs on the scope's own run, which an
        // enclosing scope's forced abort stops with it).
        if self.closed_here() {
            return Err(SpawnError::Closed);
        }
        Ok(Admit::after(self.shared.admission.take_room(true)?))
    }
}
