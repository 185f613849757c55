//! The child handle: await it for the child's value; cancel or abort that one child.

use crate::sync::{AtomicBool, Ordering};
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::admission::Ticket;
use super::own_cx::ToWake;
use super::{Brand, Lost, Shared, Target};
use crate::cause::Cause;
use crate::cx::Cx;
use crate::error::{drop_caught, resume_unless_unwinding, Interrupted, NotStarted, Panicked};
use crate::info::{TaskId, TaskInfo};

/// What a child handle needs of its scope (type-erased over the scope's error type).
pub(crate) trait ChildScope: Send + Sync {
    /// The child's own context, created now if nobody has yet (see `own_cx`), with the waits
    /// parked for it to wake once the caller holds nothing.
    fn child_cx(&self, id: TaskId, background: bool) -> (Cx, ToWake);
    /// The child has ended: a node kept for it goes (returned, to be dropped by the caller).
    fn release_cx(&self, id: TaskId) -> Option<Cx>;
    fn stop(&self, target: Target, after_grace: bool);
    fn take_lost(&self, id: TaskId) -> Option<Lost>;
    /// The cause a child's own context has, or would have if it had one: its parent's,
    /// inherited.
    fn cause(&self, background: bool) -> Option<Arc<Cause>>;
    /// The destructor of a value the child `info` delivered panicked as its handle (or a
    /// set holding its outcome) dropped it unread: the child's panic while the run goes on;
    /// handed back, for the dropping code to resume, once the run has ended.
    fn unread_panicked(
        &self,
        info: &TaskInfo,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Option<Box<dyn std::any::Any + Send>>;
}

impl<E: Send> ChildScope for Shared<E> {
    fn child_cx(&self, id: TaskId, background: bool) -> (Cx, ToWake) {
        let parent = self.child_parent(background);
        self.own_cxs.get_or_create_unwoken(id, &parent, true)
    }
    fn release_cx(&self, id: TaskId) -> Option<Cx> {
        self.own_cxs.release(id)
    }
    fn stop(&self, target: Target, after_grace: bool) {
        self.stop_child(target, after_grace);
    }
    fn take_lost(&self, id: TaskId) -> Option<Lost> {
        Shared::take_lost(self, id)
    }
    fn cause(&self, background: bool) -> Option<Arc<Cause>> {
        self.child_parent(background)
            .cause_arc()
            .map(|c| crate::cx::inherited(&c))
            .or_else(|| if background { None } else { self.lost_cause() })
    }
    fn unread_panicked(
        &self,
        info: &TaskInfo,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Option<Box<dyn std::any::Any + Send>> {
        // The same as the child's own drop of a value nobody would read: its panic. Once the
        // run has ended (or was dropped), no outcome is left to join it: it is the panic of
        // the code that dropped the value, as any destructor's.
        self.panicked_late(info, payload)
    }
}

/// A handle onto a child: await it for the child's value.
///
/// It carries the scope's lifetime, so it cannot outlive the scope. Dropping it does not
/// detach or cancel the child: the scope still owns and joins it. A value the child sent and
/// nobody read is dropped with the handle; a panic of its destructor is the child's panic
/// (law 5) while the scope runs, whether the child or the handle dropped the value.
///
/// Awaiting gives `Ok(value)`, or an [`Interrupted`]: the child was cancelled or aborted,
/// panicked, failed (its own error went to the scope; see [`Scope::run`](crate::Scope::run)),
/// or never started. An error the child returns after its scope's cancel under fail-fast
/// (the scope's own, or the one a sibling's failure made), or after another candidate won a
/// [`Race`](crate::Race), is that cancel's consequence: nobody reports it, and the handle
/// reads the cancellation the child answered, as after [`cancel`](Child::cancel); a
/// supervised scope keeps such an error, and the handle reads the failure. (The child has
/// its scope's [grace](crate::Config::grace) to return it: with the default of zero, the
/// abort at the cancel races the code after `cancelled().await`, and an error it would have
/// returned may never be made.)
///
/// A child's error always goes to its scope (fail-fast: the scope fails with it; supervised:
/// it is among the scope's [`Failures`](crate::Failures)), even when the body awaits the handle
/// and would handle it. For an error the body decides about (a fallback, a partial result: what
/// Swift's `try? await group.next()` or Kotlin's `supervisorScope` with `await` do), make it
/// the child's value: return `Ok::<_, E>(result)` with `result` a `Result<T, YourError>`, and
/// the handle gives it back typed.
///
/// # Examples
///
/// ```
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// s.run(async {
///     let child = s.spawn_named("answer", async { Ok::<_, Interrupted>(42) });
///     assert_eq!(child.info().name(), Some("answer"));
///     assert_eq!(child.await?, 42);
///     Ok::<_, Interrupted>(())
/// })
/// .await
/// # }).unwrap();
/// ```
pub struct Child<'s, T> {
    /// The child's own context, once someone needed it (see `own_cx`).
    cx: OnceLock<Cx>,
    /// A background child (its context derives from the scope's background context).
    background: bool,
    /// A [`cancel`](Child::cancel) through this handle has been made (its stop scheduled, if
    /// one was due): a later one schedules none again.
    cancel_made: AtomicBool,
    info: TaskInfo,
    kind: Kind<T>,
    scope: &'s dyn ChildScope,
    _brand: Brand<'s>,
}

enum Kind<T> {
    /// A runtime task, started at once.
    Spawned(JoinHandle<Result<T, Interrupted>>),
    /// A runtime task, started at once, whose value goes through a channel (a value with a
    /// destructor: dropped inside the child when nobody reads it).
    SpawnedVia(JoinHandle<()>, oneshot::Receiver<Result<T, Interrupted>>),
    /// A spawned child that was queued before it became a task.
    Queued(oneshot::Receiver<Result<T, Interrupted>>, Arc<Ticket>),
    /// An in-place child.
    InPlace(oneshot::Receiver<Result<T, Interrupted>>),
    /// The outcome is known (taken once awaited). Behind a `Mutex` reached only through
    /// `&mut` (never locked): the handle is `Sync` whatever `T` is, as tokio's `JoinHandle`,
    /// since no `&self` method reads the value.
    Done(Mutex<Option<Result<T, Interrupted>>>),
}

/// A new handle's context: the child's own, or (`Lazy`) created when first needed.
pub(crate) enum HandleCx {
    Own(Cx),
    Lazy { background: bool },
}

impl<'s, T> Child<'s, T> {
    fn new(cx: HandleCx, info: TaskInfo, kind: Kind<T>, scope: &'s dyn ChildScope) -> Self {
        let (cx, background) = match cx {
            HandleCx::Own(cx) => (OnceLock::from(cx), false),
            HandleCx::Lazy { background } => (OnceLock::new(), background),
        };
        Child {
            cx,
            background,
            cancel_made: AtomicBool::new(false),
            info,
            kind,
            scope,
            _brand: std::marker::PhantomData,
        }
    }

    pub(crate) fn spawned(
        cx: HandleCx,
        info: TaskInfo,
        handle: JoinHandle<Result<T, Interrupted>>,
        scope: &'s dyn ChildScope,
    ) -> Self {
        Self::new(cx, info, Kind::Spawned(handle), scope)
    }

    pub(crate) fn spawned_via(
        cx: HandleCx,
        info: TaskInfo,
        handle: JoinHandle<()>,
        rx: oneshot::Receiver<Result<T, Interrupted>>,
        scope: &'s dyn ChildScope,
    ) -> Self {
        Self::new(cx, info, Kind::SpawnedVia(handle, rx), scope)
    }

    pub(crate) fn queued(
        cx: HandleCx,
        info: TaskInfo,
        rx: oneshot::Receiver<Result<T, Interrupted>>,
        ticket: Arc<Ticket>,
        scope: &'s dyn ChildScope,
    ) -> Self {
        Self::new(cx, info, Kind::Queued(rx, ticket), scope)
    }

    pub(crate) fn in_place(
        cx: HandleCx,
        info: TaskInfo,
        rx: oneshot::Receiver<Result<T, Interrupted>>,
        scope: &'s dyn ChildScope,
    ) -> Self {
        Self::new(cx, info, Kind::InPlace(rx), scope)
    }

    pub(crate) fn done(
        cx: Cx,
        info: TaskInfo,
        out: Result<T, Interrupted>,
        scope: &'s dyn ChildScope,
    ) -> Self {
        Self::new(
            HandleCx::Own(cx),
            info,
            Kind::Done(Mutex::new(Some(out))),
            scope,
        )
    }

    /// The child's context. Cancelling it only asks the child to stop;
    /// [`cancel`](Child::cancel) also aborts it once the scope's grace runs out (in a
    /// [`ChildSet`](crate::ChildSet): [`ChildSet::cancel`](crate::ChildSet::cancel)).
    /// A child still waiting for a slot of the scope's [limit](crate::Config::limit) is not
    /// asked, as it is not running: it keeps its place in the queue until a slot frees, then
    /// ends [`NotStarted`](crate::Interrupted::NotStarted) without a poll, and its handle
    /// waits until then. [`cancel`](Child::cancel) and [`abort`](Child::abort) take it out of
    /// the queue at once.
    ///
    /// # Examples
    ///
    /// The child runs with this context as its ambient one:
    ///
    /// ```
    /// use scope::{Config, Cx, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let child = s.spawn(async { Ok::<_, Interrupted>(Cx::current()) });
    ///     let handle_cx = child.cx().clone();
    ///     assert!(child.await?.same_as(&handle_cx));
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn cx(&self) -> &Cx {
        match self.cx.get() {
            Some(cx) => cx,
            None => self.make_cx(),
        }
    }

    /// The child's own context, asked of the handle for the first time: made (or found in the
    /// scope's registry) outside the handle's cell, so that no user code runs while the cell
    /// is being set, where another thread's call on the same handle would wait for it.
    #[cold]
    fn make_cx(&self) -> &Cx {
        let (made, to_wake) = self.scope.child_cx(self.info.id(), self.background);
        // The cell only takes the value in. Two calls at once get the same node (the
        // registry keeps it for the child): the second one's clone goes once the cell is
        // set, and with it no last reference.
        let cx = self.cx.get_or_init(move || made);
        // The waits the child parked before it had a context move over to it: woken now,
        // when a call from another thread finds the context set.
        to_wake.wake();
        // Made after the child ended: nothing will take it from the registry, which keeps
        // such a node for the child, and the child's end did not end it, as it ends a
        // child's own context: it ends now (its callbacks, a handle's, run here: under no
        // lock). A node the child made itself is not kept, and its end ends it: a child
        // whose value was sent may not have got there yet.
        if self.is_finished() {
            self.end_kept_cx();
        }
        cx
    }

    /// Ends a context this handle made that the registry still keeps for the child, once the
    /// child is over (its outcome is in): at `cx()`, at the outcome, at the handle's drop. The
    /// child's end ends such a node, but one made between that end and the task's completion
    /// (what `JoinHandle::is_finished` reports) was not yet there for it. One load when the
    /// registry keeps none.
    fn end_kept_cx(&self) {
        if let Some(kept) = self.scope.release_cx(self.info.id()) {
            // A node kept for a child has no callback of the child's (it never took it); a
            // handle's callbacks run here.
            kept.finish(&self.info);
        }
    }

    /// Who the child is.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let named = s.spawn_named("answer", async { Ok::<_, Interrupted>(42) });
    ///     let unnamed = s.spawn(async { Ok::<_, Interrupted>(0) });
    ///     assert_eq!(named.info().to_string(), "answer");
    ///     assert_eq!(unnamed.info().location().file(), file!()); // known by its call site
    ///     Ok::<_, Interrupted>(named.await? + unnamed.await?)
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn info(&self) -> &TaskInfo {
        &self.info
    }

    /// The scope the child belongs to (as its handle sees it).
    pub(super) fn owner(&self) -> &'s dyn ChildScope {
        self.scope
    }

    /// What to abort for this child, if it may still be running.
    fn target(&self) -> Option<Target> {
        match &self.kind {
            Kind::Spawned(handle) => Some(Target::Task(handle.abort_handle().into())),
            Kind::SpawnedVia(handle, _) => Some(Target::Task(handle.abort_handle().into())),
            Kind::Queued(_, ticket) => Some(Target::Queued(Arc::clone(ticket))),
            Kind::InPlace(_) => Some(Target::InPlace(self.info.id())),
            Kind::Done(_) => None,
        }
    }

    /// Cancels this child only, as the scope cancels its children: its context is cancelled
    /// now (it sees the cause at its next check or await of
    /// [`cancelled`](crate::Cx::cancelled)), and if it is still running after the scope's
    /// [grace](crate::Config::grace) it is aborted (with the default grace of zero, at once),
    /// unless a budgeted [`shield_for`](crate::shield_for) is under way in the scope then: the
    /// abort waits for it, until its budget's end at the latest (and a moment for it to answer
    /// there), as the scope's own forced
    /// abort does. The abort takes the work below the child along: the spawned children of
    /// the scopes in it are aborted with it, however long their own graces (the scope's grace
    /// bounds them, as it does at the scope's own forced abort). The scope and the siblings
    /// go on. Returns whether this call cancelled it:
    /// `false` if it was cancelled before, or has finished (its outcome stands). A child whose
    /// context was cancelled before through [`cx`](Child::cx) (which only asks) still gets the
    /// grace and the abort from this call.
    ///
    /// What the child returns after this cancel is a consequence of it: an error it returns
    /// then is dropped (it is not a failure of the scope) and the handle reads the
    /// cancellation. An error it returned before this call stands, even while its future's
    /// destructor still runs (this call may then return `true`): it is read as it was
    /// returned. A value it returns then (its work done within the grace; a blocking
    /// child's, whenever it returns, since no abort stops its thread) stands: the handle
    /// reads it, even though this call returned `true`. To stop a child and still read its own result (a supervisor that
    /// reports a panic in its clean-up, say), cancel a context it was given instead
    /// (`Config::parent(stop.clone())`, then `stop.cancel(..)`): its outcome is then its own.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](crate::Cx::on_cancel) callback on the child's context panics, the
    /// first such panic is resumed here, after the cancel has reached every callback and the
    /// abort after the grace is scheduled (as [`Cx::cancel`](crate::Cx::cancel) does; dropped,
    /// as there, when a panic already unwinds through the caller).
    ///
    /// # Examples
    ///
    /// A child that does not look is aborted once the grace runs out:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Cause, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().grace(Duration::from_millis(50)));
    /// let out = s
    ///     .run(async {
    ///         let unwanted = s.spawn(async {
    ///             tokio::time::sleep(Duration::from_secs(3600)).await; // never looks
    ///             Ok::<_, Interrupted>("never computed")
    ///         });
    ///         let wanted = s.spawn(async { Ok::<_, Interrupted>("kept") });
    ///         tokio::task::yield_now().await; // both have started (on this current-thread runtime)
    ///         assert!(unwanted.cancel("not needed"));
    ///         let start = tokio::time::Instant::now();
    ///         let Err(Interrupted::Cancelled(c)) = unwanted.await else { unreachable!() };
    ///         assert_eq!(c.cause(), &Cause::explicit("not needed"));
    ///         assert_eq!(start.elapsed(), Duration::from_millis(50)); // the grace, then the abort
    ///         wanted.await
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), "kept");
    /// # });
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        if self.is_finished() {
            // Nothing left to cancel; no context is made for it.
            return false;
        }
        // A callback's panic reaches the caller, after the stop it must not skip (only the
        // first cancel runs callbacks, so a panic means this call cancelled it; making the
        // context wakes the waits parked on the child, whose wakers' panics are dropped
        // there, so none comes from that).
        let cancel = catch_unwind(AssertUnwindSafe(|| self.cx().cancel(reason)));
        let first = cancel.as_ref().map_or(true, |first| *first);
        // The stop (the grace, then the abort) follows a cancel of this child alone: this
        // one, or one of its context made before (`cx().cancel`, a bridged token), which
        // only asked. A cancel inherited from the scope is the scope's to bound.
        let alone_before = || {
            self.cx()
                .cause_arc()
                .is_some_and(|c| super::spawn::by_handle(&c))
        };
        // Relaxed: only this handle's own calls read it.
        let made_before = self.cancel_made.swap(true, Ordering::Relaxed);
        if (first || (!made_before && alone_before())) && !self.is_finished() {
            if let Some(target) = self.target() {
                self.scope.stop(target, true);
            }
        }
        cancel.unwrap_or_else(|payload| {
            resume_unless_unwinding(payload);
            true
        })
    }

    /// Aborts this child at once, as `JoinHandle::abort` does: a spawned child's task is
    /// aborted (dropped at its next `.await`), an in-place child is dropped by the scope at
    /// its next poll, a queued child never starts. Its context is cancelled first (cause:
    /// "aborted"), so its own children are cancelled too, and the spawned children of the
    /// scopes in it are aborted with it, whatever their own graces. The scope and the siblings
    /// go on. A child that has finished keeps its outcome. A blocking child
    /// ([`spawn_blocking`](crate::Scope::spawn_blocking)) cannot be stopped: its closure runs
    /// to its end, and the scope waits for it; its handle reads the abort once the closure has
    /// returned (as tokio's `spawn_blocking` handle waits for its closure; one still waiting
    /// for a thread of the blocking pool never starts, and its handle resolves at once), and
    /// what the closure returns then (a value, or an error taken for the abort's consequence)
    /// is dropped, as a spawned child's future is at an abort (a panic is kept). An abort that comes once the
    /// child has finished ([`is_finished`](Child::is_finished)) finds it finished.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](crate::Cx::on_cancel) callback on the child's context panics, the
    /// first such panic is resumed here, after the child was aborted (dropped when a panic
    /// already unwinds through the caller, as [`Cx::cancel`](crate::Cx::cancel) does).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let stuck = s.spawn(std::future::pending::<Result<u8, Interrupted>>());
    ///         tokio::task::yield_now().await; // it has started (on this current-thread runtime)
    ///         stuck.abort();
    ///         let Err(Interrupted::Cancelled(c)) = stuck.await else { unreachable!() };
    ///         assert_eq!(c.cause().to_string(), "aborted");
    ///
    ///         // Aborted before it ever ran: it says so.
    ///         let never = s.spawn(std::future::pending::<Result<u8, Interrupted>>());
    ///         never.abort();
    ///         let Err(Interrupted::NotStarted(n)) = never.await else { unreachable!() };
    ///         assert_eq!(n.cause().to_string(), "aborted");
    ///         Ok::<_, Interrupted>("the scope goes on")
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), "the scope goes on");
    /// # });
    /// ```
    pub fn abort(&self) {
        if self.is_finished() {
            // Its outcome stands.
            return;
        }
        if let Kind::Queued(_, ticket) = &self.kind {
            ticket.aborting_by_handle();
        }
        // A callback's panic reaches the caller, after the abort it must not skip.
        let cancel = catch_unwind(AssertUnwindSafe(|| self.cx().cancel("aborted")));
        if let Some(target) = self.target() {
            self.scope.stop(target, false);
        }
        if let Err(payload) = cancel {
            resume_unless_unwinding(payload);
        }
    }

    /// Whether the child has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    ///     let child = s.spawn(async move {
    ///         let _ = rx.await;
    ///         Ok::<_, Interrupted>(1)
    ///     });
    ///     assert!(!child.is_finished()); // it waits for `tx`
    ///     tx.send(()).unwrap();
    ///     while !child.is_finished() {
    ///         tokio::task::yield_now().await;
    ///     }
    ///     assert_eq!(child.await?, 1);
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        match &self.kind {
            Kind::Spawned(h) => h.is_finished(),
            Kind::SpawnedVia(_, rx) | Kind::Queued(rx, _) | Kind::InPlace(rx) => {
                rx.is_terminated() || !rx.is_empty()
            }
            Kind::Done(_) => true,
        }
    }

    /// Why the child has no value although its handle learnt nothing: it was aborted.
    fn lost(&self) -> Interrupted {
        match self.scope.take_lost(self.info.id()) {
            Some(Lost::DropPanic(message)) => {
                return Panicked::without_payload(self.info.clone(), message).into();
            }
            Some(Lost::NotStarted(cause)) => return NotStarted::from_shared_cause(cause).into(),
            Some(Lost::Dropped(cause)) => return Interrupted::from_shared_cause(cause),
            None => {}
        }
        let cause = self
            .cx
            .get()
            .and_then(Cx::cause_arc)
            .or_else(|| self.scope.cause(self.background))
            .unwrap_or_else(|| Arc::new(Cause::explicit("the child was aborted")));
        Interrupted::from_shared_cause(cause)
    }
}

#[cold]
fn polled_after_done() -> Interrupted {
    Interrupted::from_cause(Cause::explicit(
        "the child's handle was polled after it completed",
    ))
}

// The child's value is only ever moved, never pinned.
impl<T> Unpin for Child<'_, T> {}

impl<T> Drop for Child<'_, T> {
    fn drop(&mut self) {
        // (A handle that made no context pays one load.)
        if self.cx.get().is_some() && self.is_finished() {
            self.end_kept_cx();
        }
        if let Kind::SpawnedVia(_, rx) | Kind::Queued(rx, _) | Kind::InPlace(rx) = &mut self.kind {
            // Closed first: a child that has not sent yet drops its value itself, inside its
            // end (a panic there is its own). One sent already is dropped here, with its
            // handle, under a catch: a panic of its destructor (which the panic hook has
            // printed) is the child's all the same while the scope runs, whichever of the
            // two came first; once the run has ended, it is this code's (never while
            // a panic unwinds already: see `ChildScope::unread_panicked`).
            rx.close();
            if let Ok(unread) = rx.try_recv() {
                if let Err(payload) = drop_caught(unread) {
                    if let Some(payload) = self.scope.unread_panicked(&self.info, payload) {
                        resume_unless_unwinding(payload);
                    }
                }
            }
        }
    }
}

impl<T> Future for Child<'_, T> {
    type Output = Result<T, Interrupted>;
    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = match &mut self.kind {
            Kind::Spawned(h) => match Pin::new(h).poll(task) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r.ok(),
            },
            Kind::SpawnedVia(_, rx) | Kind::Queued(rx, _) | Kind::InPlace(rx) => {
                match Pin::new(rx).poll(task) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => r.ok(),
                }
            }
            Kind::Done(r) => match r.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
                Some(out) => Some(out),
                // Its outcome was given already: polled again (a `select!` loop over
                // `&mut child`), it says so rather than make up an abort.
                None => return Poll::Ready(Err(polled_after_done())),
            },
        };
        let out = polled.unwrap_or_else(|| Err(self.lost()));
        self.kind = Kind::Done(Mutex::new(None));
        if self.cx.get().is_some() {
            self.end_kept_cx();
        }
        Poll::Ready(out)
    }
}

impl<T> fmt::Debug for Child<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("info", &self.info)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
