//! A service's task: from accepted (maybe waiting for a worker) to started (with its own
//! deadline) to ended (its outcome recorded in the service and sent to its handle).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use tokio::sync::{oneshot, AcquireError, OwnedSemaphorePermit};

use super::report::FailureKind;
use super::Inner;
use crate::cause::Cause;
use crate::cx::{Cx, EnclosingScope, Enter, WaitCancelledOwned};
use crate::error::{
    drop_after_panic, drop_caught, keep_first, panic_message, resume_unless_unwinding, Interrupted,
    KeptPanic, NotStarted, Panicked,
};
use crate::info::TaskInfo;
use crate::observe::{ChildObs, End, ServiceTaskObs};
use crate::scope::tracker::Enclosing;
use crate::timer::Timer;

/// What a service task may return: `()`, `Result<T, E>` with any error that displays
/// itself, or a type of the user's that implements this trait to say which of its values are
/// failures. A failure is reported by the service
/// ([`Service::failures`](crate::Service::failures), with the message `failure` gives) as
/// well as by the task's handle, which returns the value whole.
///
/// # Examples
///
/// ```
/// use scope::ServiceOutput;
/// assert_eq!(().failure(), None);
/// assert_eq!(Ok::<u8, String>(1).failure(), None);
/// assert_eq!(Err::<u8, _>("disk full").failure().as_deref(), Some("disk full"));
/// ```
///
/// An output of one's own:
///
/// ```
/// use scope::{Service, ServiceConfig, ServiceOutput};
///
/// enum Delivery {
///     Sent,
///     Bounced(String),
/// }
///
/// impl ServiceOutput for Delivery {
///     fn failure(&self) -> Option<String> {
///         match self {
///             Delivery::Sent => None,
///             Delivery::Bounced(to) => Some(format!("bounced: {to}")),
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let svc = Service::new(ServiceConfig::new("mailer"));
/// let sent = svc.spawn(async { Delivery::Bounced("ann@example.com".into()) }).unwrap();
/// assert!(matches!(sent.await, Ok(Delivery::Bounced(_))));
/// assert_eq!(svc.failures()[0].message(), "bounced: ann@example.com");
/// # svc.stop().await;
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "a service task must return `()` or `Result<T, E>`, not `{Self}`",
    label = "this future's output is `{Self}`",
    note = "wrap the value: `Ok::<_, E>(value)` with an error type `E` that implements `Display`, or implement `scope::ServiceOutput` for `{Self}`"
)]
pub trait ServiceOutput: Send + 'static {
    /// The failure's message, if this output is one.
    fn failure(&self) -> Option<String>;
}

impl ServiceOutput for () {
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<T: Send + 'static, E: fmt::Display + Send + 'static> ServiceOutput for Result<T, E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(ToString::to_string)
    }
}

/// The handle of a service task: await it for the task's output, or for why there is none
/// ([`Interrupted`]: cancelled, deadline, panicked, never started). Dropping it leaves the task
/// running (it is detached work, owned by the service), and its failure is still reported by
/// the service.
///
/// The handle keeps the task's context, and with it the slot values the task was given (a
/// request's, law 7). Whichever lets them go last drops them: the task, as it ends (a value's
/// destructor that panics there is the task's late panic, in
/// [`Service::failures`](crate::Service::failures)), or the handle, if it outlives the task
/// (the panic is then where the handle is dropped, after an `.await` of it included).
///
/// # Examples
///
/// ```
/// use scope::{Interrupted, Service, ServiceConfig};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let svc = Service::new(ServiceConfig::new("math"));
/// let task = svc.spawn_named("answer", async { Ok::<_, String>(42) }).unwrap();
/// assert_eq!(task.info().name(), Some("answer"));
/// assert_eq!(task.await.unwrap(), Ok(42));
///
/// // A task that does not answer its cancel is dropped after the service's grace.
/// let slow = svc.spawn(std::future::pending::<()>()).unwrap();
/// slow.cancel("not needed");
/// let why = slow.await.unwrap_err();
/// assert_eq!(why.to_string(), "cancelled: parent cancelled: not needed");
/// # });
/// ```
#[must_use = "dropping the handle leaves the task running; call `.detach()` to say so"]
pub struct ServiceHandle<O> {
    info: TaskInfo,
    cx: Cx,
    rx: oneshot::Receiver<Result<O, Interrupted>>,
    /// The service, for a panic of the output's destructor when the handle drops it unread.
    service: Weak<Inner>,
}

impl<O> ServiceHandle<O> {
    /// The task's name (its own, or the service's) and where it was spawned.
    ///
    /// # Examples
    ///
    /// See [`ServiceHandle`].
    #[must_use]
    pub fn info(&self) -> &TaskInfo {
        &self.info
    }

    /// Cancels this task alone (its context), with `reason`. A task that does not end on its
    /// own within the service's [grace](crate::ServiceConfig::grace) is then dropped (a cancel
    /// is bounded);
    /// one still waiting for a worker never starts, and its handle reads
    /// [`Interrupted::NotStarted`]. Returns whether this call cancelled it (`false`: it was
    /// cancelled already, by this handle or by its service), as [`Cx::cancel`] does.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](Cx::on_cancel) callback on the task's context (or one below it)
    /// panics as this cancel reaches it, the panic is resumed here once every other callback
    /// and waiter has been served; the task is cancelled all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Interrupted, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("sync"));
    /// let task = svc
    ///     .spawn(async {
    ///         let cause = scope::cancelled().await;
    ///         Err::<(), _>(format!("gave up: {cause}"))
    ///     })
    ///     .unwrap();
    /// assert!(task.cancel(format!("user {} left", 7)));
    /// assert!(!task.cancel("again")); // the first reason stands
    /// assert_eq!(task.await.unwrap(), Err("gave up: parent cancelled: user 7 left".to_owned()));
    /// # });
    /// ```
    pub fn cancel(&self, reason: impl Into<std::borrow::Cow<'static, str>>) -> bool {
        self.cx.cancel(reason)
    }

    /// Lets the task run on without its handle: detached work, owned by the service, whose
    /// failure the service still reports ([`Service::failures`](crate::Service::failures)).
    /// The same as dropping the handle, said out loud.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let audit = Service::new(ServiceConfig::new("audit"));
    /// audit.spawn(async { Err::<(), _>("disk full") }).unwrap().detach();
    /// audit.drain(std::time::Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(audit.failures()[0].message(), "disk full");
    /// # });
    /// ```
    pub fn detach(self) {}

    /// Whether the task has ended (its outcome is ready).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("quick"));
    /// let task = svc.spawn(async {}).unwrap();
    /// assert!(!task.is_finished());
    /// svc.drain(std::time::Duration::from_secs(1)).await.unwrap();
    /// assert!(task.is_finished());
    /// # });
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        !self.rx.is_empty() || self.rx.is_terminated()
    }
}

impl<O> Drop for ServiceHandle<O> {
    fn drop(&mut self) {
        // Closed first: a task that has not sent yet drops its output itself, in its end (a
        // panic there is its own, in the service's failures). One sent already is dropped
        // here, with its handle, under a catch: its destructor's panic (which the panic hook
        // has printed) is the task's all the same, in the service's failures; once the
        // service is gone, it is this code's (never while a panic unwinds already).
        self.rx.close();
        if let Ok(unread) = self.rx.try_recv() {
            if let Err(payload) = drop_caught(unread) {
                match self.service.upgrade() {
                    Some(service) => {
                        service.panicked_late(&self.info, panic_message(payload.as_ref()));
                        drop_after_panic(payload);
                    }
                    None => resume_unless_unwinding(payload),
                }
            }
        }
    }
}

impl<O> Future for ServiceHandle<O> {
    type Output = Result<O, Interrupted>;
    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        if self.rx.is_terminated() {
            // Its outcome was given already: polled again (a `select!` loop over
            // `&mut handle`), it says so, as a child's handle does.
            return Poll::Ready(Err(Interrupted::from_cause(Cause::explicit(
                "the service task's handle was polled after it completed",
            ))));
        }
        match Pin::new(&mut self.rx).poll(task) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(out)) => Poll::Ready(out),
            // Every task sends its outcome when it is dropped; only a runtime that is shut
            // down without dropping its tasks would lose it.
            Poll::Ready(Err(_)) => Poll::Ready(Err(Interrupted::from_cause(Cause::explicit(
                "the service task was lost with its runtime",
            )))),
        }
    }
}

impl<O> fmt::Debug for ServiceHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("info", &self.info)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

pub(super) type WaitWorker =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send + 'static>>;
type Unheld = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The cause of a task's end that no cancel gave: a stop's abort, or else its runtime's
/// shutdown, which dropped it.
fn uncaused(inner: &Inner) -> Cause {
    if inner.aborting() {
        Cause::explicit("service task aborted")
    } else {
        Cause::explicit("its runtime shut down")
    }
}

/// Whether a stop is under way: its abort, not the task's own, ends a task past its grace. If
/// so, the task is woken when none is (the stop ended, or its future was dropped before its
/// abort: then the task's own grace applies again).
fn stop_under_way(inner: &Arc<Inner>, wait: &mut Option<Unheld>, task: &mut Context<'_>) -> bool {
    while inner.stopping() {
        let gone = wait.get_or_insert_with(|| {
            let inner = Arc::clone(inner);
            Box::pin(async move { inner.no_stop_under_way().await })
        });
        if gone.as_mut().poll(task).is_pending() {
            return true;
        }
        *wait = None;
    }
    *wait = None;
    false
}

/// How a task ended, as the service records it.
pub(super) enum Ended {
    Completed,
    Failed(FailureKind, String),
    /// It returned an error answering a cancel that asked it to stop (a stop of its service,
    /// the application's shutdown, its handle's `cancel`): a consequence of the cancel, not a
    /// failure (its handle still gets the error as its output).
    Answered(String),
    /// It never ran: why (its handle's error too).
    NotStarted(NotStarted),
}

/// How a task whose work returned ended: completed, failed, or (an error once its context was
/// cancelled by something other than a deadline) answering a request to stop. The cause is
/// read without acting on it (no deadline fired here, no callback run): a deadline that passed
/// unseen leaves the error a failure, as its deadline's.
fn returned(cx: Option<&Cx>, failure: Option<String>) -> Ended {
    match failure {
        Some(message)
            if cx
                .and_then(Cx::observed_cause)
                .is_some_and(|cause| !cause.is_deadline()) =>
        {
            Ended::Answered(message)
        }
        Some(message) => Ended::Failed(FailureKind::Failed, message),
        None => Ended::Completed,
    }
}

pin_project_lite::pin_project! {
    /// A service task's future: waits for a worker (if the service has workers), then runs
    /// the work with the task's context as the ambient one and the service as the enclosing
    /// owner of scopes entered in it; counted live until it is dropped, when its outcome is
    /// recorded and sent to the handle.
    pub(super) struct ServiceTask<F: Future> {
        #[pin]
        work: Option<F>,
        obs: ServiceTaskObs,
        // Swapped into the thread's ambient slot while the work is polled.
        cx: Option<Cx>,
        scope: EnclosingScope,
        inner: Arc<Inner>,
        info: TaskInfo,
        // The task's key in the service's table of live tasks.
        key: usize,
        started: bool,
        // While it waits for a worker: the wait.
        wait: Option<WaitWorker>,
        // The cancellation of its own context (its handle's cancel, the service's, its
        // deadline), until it is seen.
        cancelled: Option<Pin<Box<WaitCancelledOwned>>>,
        // The panic of an `on_cancel` callback that the watch above ran (it fired the task's
        // deadline first): the task's panic, reported as its end.
        kept: Option<Box<dyn Any + Send>>,
        // The owner of the task's own context while the task runs: what a passed deadline of
        // the context fired by anyone's look keeps, a callback's panic, is the task's.
        owner: Arc<TaskOwner>,
        worker: Option<OwnedSemaphorePermit>,
        // Once it is cancelled, the service's grace: past it, the work is dropped (when no
        // budgeted shield runs in the service).
        hard_stop: Option<Pin<Box<Timer>>>,
        // Past the hard stop, while a budgeted shield runs in the service: the wait for it.
        unheld: Option<Unheld>,
        // Past the hard stop, while a stop is under way (its abort ends the task): the wait
        // for no stop to be, should that stop's future be dropped before its abort.
        stop_gone: Option<Unheld>,
        capacity: Option<OwnedSemaphorePermit>,
        outcome: Option<Result<F::Output, Interrupted>>,
        ended: Option<Ended>,
        tx: Option<oneshot::Sender<Result<F::Output, Interrupted>>>,
    }

    impl<F: Future> PinnedDrop for ServiceTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Dropped at its own deadline (not by a stop, not by a runtime's shutdown): the
            // service's failure, and reported as one.
            let mut hung = false;
            if this.work.is_some() {
                let started = *this.started;
                // Its own end past the grace after a cancel (not a stop's abort): said so.
                let past_grace = this
                    .hard_stop
                    .as_ref()
                    .is_some_and(|stop| stop.deadline() <= tokio::time::Instant::now());
                let dropped = {
                    let _enter = Enter::scope_code_in_drop(this.cx, this.scope);
                    let mut work = this.work.as_mut();
                    // A panic dropping the work is the work's; the count must still go down.
                    // Cut by the service's grace (its own, or a stop's that aborts it): the
                    // work below it goes with it, whatever is left of the graces of the
                    // scopes in it (the service's grace bounds them, as a scope's forced
                    // abort bounds the scopes below it).
                    let cut = past_grace || this.inner.aborting();
                    catch_unwind(AssertUnwindSafe(move || {
                        crate::scope::drop_past_every_grace(cut, || work.set(None));
                    }))
                };
                // As observed: reading it here must not fire a deadline (and run callbacks).
                let cause = this.cx.as_ref().and_then(Cx::observed_cause);
                let cause = cause.as_deref().cloned();
                let (ended, error) = if let Err(payload) = dropped {
                    panicked(this.info, payload)
                } else if let Some(payload) = take_kept(this.kept, this.owner) {
                    panicked(this.info, payload)
                } else if started {
                    hung = !this.inner.aborting()
                        && cause.as_ref().is_some_and(Cause::is_deadline);
                    let message = if this.inner.aborting() {
                        this.inner.aborted_by()
                    } else {
                        match (cause.as_ref(), past_grace && !hung) {
                            (None, _) => {
                                // Nothing cancelled it: its runtime dropped it.
                                this.inner
                                    .runtime_dropped
                                    .store(true, std::sync::atomic::Ordering::Relaxed);
                                "its runtime shut down".to_owned()
                            }
                            (Some(c), true) => format!(
                                "{}, and it did not end within the grace of {:?}",
                                c.root(),
                                this.inner.grace
                            ),
                            (Some(c), false) => c.root().to_string(),
                        }
                    };
                    (
                        Ended::Failed(FailureKind::Dropped, message),
                        Interrupted::from_cause(cause.unwrap_or_else(|| uncaused(this.inner))),
                    )
                } else {
                    let cause = cause.unwrap_or_else(|| uncaused(this.inner));
                    let never = NotStarted::from_shared_cause(Arc::new(cause));
                    (Ended::NotStarted(never.clone()), never.into())
                };
                *this.ended = Some(ended);
                *this.outcome = Some(Err(error));
            }
            this.worker.take();
            this.capacity.take();
            if this.tx.as_ref().is_some_and(oneshot::Sender::is_closed) {
                // Nobody will read the outcome: dropped here, before the end is recorded, so
                // that a panic of its destructor is this task's (user code, no lock held),
                // inside the task's context, as its future was.
                let unread = this.outcome.take();
                if let Err(payload) = drop_inside(this.cx, this.scope, unread) {
                    *this.ended = Some(panicked(this.info, payload).0);
                }
            }
            let mut ended = this.ended.take().unwrap_or(Ended::Completed);
            // What its context's owner still keeps came after the task's end was settled (its
            // own panic came first): dropped; one coming later goes back to its looker.
            drop_after_panic(this.owner.kept.take());
            // The task is over, and so is its own context (`Cause::Finished`, naming the
            // task), as a scope child's: a clone kept elsewhere (a bridged token, a watcher)
            // learns so, rather than the task's deadline later. Its outcome was read from it
            // above. A callback's panic there is the task's, unless it ended with a failure
            // already.
            let finished = this.cx.as_ref().map(|cx| {
                let info = &*this.info;
                catch_unwind(AssertUnwindSafe(|| cx.finish(info)))
            });
            if let Some(Err(payload)) = finished {
                if matches!(ended, Ended::Completed | Ended::Answered(_)) {
                    let (panic, error) = panicked(this.info, payload);
                    ended = panic;
                    // The handle reads the same end as the service: the output it would have
                    // had is moot, dropped inside the task's context (its destructor's panic
                    // is dropped: the task has panicked already).
                    if let Some(moot) = this.outcome.replace(Err(error)) {
                        drop_after_panic(drop_inside(this.cx, this.scope, moot).err());
                    }
                } else {
                    drop_after_panic(payload);
                }
            }
            let end = match &ended {
                Ended::Completed => End::Completed,
                Ended::Failed(FailureKind::Failed, message) => End::Failed(message),
                Ended::Failed(FailureKind::Panicked, message) => End::Panicked(message),
                Ended::Failed(FailureKind::Dropped, message) if hung => End::Failed(message),
                Ended::Failed(FailureKind::Dropped, message) | Ended::Answered(message) => {
                    End::Stopped(message)
                }
                Ended::NotStarted(never) => End::NotStarted(never),
            };
            if hung {
                // Dropped at its own deadline: a failure of the service, not a stop.
                this.inner
                    .any_failed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            this.obs.service_ended(&this.inner.obs, this.info, &end);
            this.inner.ended(*this.key, this.info, ended);
            // The outcome is at the handle before the task counts itself gone, so that a
            // drain that returns finds every handle finished. A handle dropped since the check
            // above (on another thread) drops the output here (user code, no lock held),
            // inside the task's context; the end is recorded by now, so a panic there is the
            // task's late one, as when its handle drops an output sent already.
            // The send wakes the handle's waker, which may be a user's: its panic is caught and
            // dropped (the outcome is sent by then), as a child's handle's is.
            let mut unread = None;
            if let (Some(tx), Some(outcome)) = (this.tx.take(), this.outcome.take()) {
                crate::error::wake_caught(|| unread = tx.send(outcome).err());
            }
            if let Some(unread) = unread {
                if let Err(payload) = drop_inside(this.cx, this.scope, unread) {
                    this.inner
                        .panicked_late(this.info, panic_message(payload.as_ref()));
                    drop_after_panic(payload);
                }
            }
            // Its context goes now, before the task counts itself gone, not with this future
            // in the runtime's harness, which loses a panic: it may hold the last reference to
            // a request's slot values (law 7), whose destructor is user code. A panic there is
            // the task's late one (its end is told by now), as an unread output's is.
            let (cancelled, cx) = (this.cancelled.take(), this.cx.take());
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop((cancelled, cx)))) {
                this.inner
                    .panicked_late(this.info, panic_message(payload.as_ref()));
                drop_after_panic(payload);
            }
            this.inner.exit_ended();
        }
    }
}

impl<F> ServiceTask<F>
where
    F: Future + Send + 'static,
    F::Output: ServiceOutput,
{
    /// A task of `inner`, with its handle. `wait`: the worker it must wait for, if any.
    #[allow(clippy::too_many_arguments)] // Reason: one call site, which names them all.
    pub(super) fn new(
        inner: &Arc<Inner>,
        info: TaskInfo,
        key: usize,
        work: F,
        cx: Cx,
        wait: Option<WaitWorker>,
        capacity: Option<OwnedSemaphorePermit>,
    ) -> (Self, ServiceHandle<F::Output>) {
        let (tx, rx) = oneshot::channel();
        let handle = ServiceHandle {
            info: info.clone(),
            cx: cx.clone(),
            rx,
            service: Arc::downgrade(inner),
        };
        let cancelled = wait
            .is_some()
            .then(|| Box::pin(cx.clone().cancelled_owned()));
        let mut task = ServiceTask {
            work: Some(work),
            obs: ChildObs::service_task(&inner.obs, &info, &cx),
            cx: Some(cx),
            scope: Some(Arc::clone(inner) as Arc<dyn crate::scope::tracker::Enclosing>),
            inner: Arc::clone(inner),
            info,
            key,
            started: false,
            wait,
            cancelled,
            kept: None,
            owner: Arc::new(TaskOwner {
                service: Arc::clone(inner),
                kept: KeptPanic::default(),
            }),
            worker: None,
            hard_stop: None,
            unheld: None,
            stop_gone: None,
            capacity,
            outcome: None,
            ended: None,
            tx: Some(tx),
        };
        if task.wait.is_none() {
            task.start_now();
        }
        (task, handle)
    }

    /// Starts the work's time: its deadline from now, watched with its other cancellations.
    fn start_now(&mut self) {
        let cx = start(&self.inner, self.cx.as_ref(), &self.info, &self.owner);
        self.cancelled = Some(Box::pin(cx.clone().cancelled_owned()));
        self.cx = Some(cx);
        self.started = true;
        self.obs.started(&self.inner.obs, &self.info);
        self.inner.started(self.key);
    }
}

/// The context of a task that starts now, with its deadline, owned by the task (see
/// [`TaskOwner`]). The task tree follows it there (a scope entered in the work hangs under the
/// task, and the task's deadline shows).
fn start(inner: &Inner, cx: Option<&Cx>, info: &TaskInfo, owner: &Arc<TaskOwner>) -> Cx {
    let parent = cx.unwrap_or_else(|| crate::cx::background_ref());
    // `Duration::MAX` (or any timeout past what a timer can take) is no bound of its own: no
    // deadline, and so no timer to make.
    let cx = match crate::cx::deadline_in(inner.task_timeout) {
        Some(deadline) => parent
            .child_with_named_deadline(deadline, std::borrow::Cow::Owned(inner.info.to_string())),
        None => parent.child(),
    };
    crate::observe::own_cx_created(info.id(), &cx);
    // (Cancelled already: nothing is left for an owner to keep; the task sees the cancel.)
    let _ = cx.set_owner(Arc::downgrade(owner) as Weak<dyn Enclosing>);
    cx
}

/// A running service task as the owner of its own context, as a scope's run is of the
/// scope's: a callback's panic that a passed deadline of the context runs, whoever fires it
/// (the task's watch, its work, code its context was handed to, or the alarm that runs the
/// callbacks on time inside the runtime's driver, where a panic had nobody to go to), is
/// kept here for the task's end: the task's panic. (Unlike a scope's, the context keeps its
/// alarms: the task's poll may be blocked at its deadline, and a callback is what stops
/// blocking work there.)
pub(crate) struct TaskOwner {
    service: Arc<Inner>,
    /// Taken for good as the task ends.
    kept: KeptPanic,
}

impl Enclosing for TaskOwner {
    fn tracker(&self) -> &crate::scope::tracker::Tracker {
        &self.service.tracker
    }
    fn keep_callback_panic(&self, payload: Box<dyn Any + Send>) -> Option<Box<dyn Any + Send>> {
        self.kept.keep(payload)
    }
}

/// The callback panics kept for the task, by its watch and by its context's owner: the
/// first (the other is dropped).
fn take_kept(
    kept: &mut Option<Box<dyn Any + Send>>,
    owner: &TaskOwner,
) -> Option<Box<dyn Any + Send>> {
    let mut first = kept.take();
    if let Some(later) = owner.kept.take() {
        keep_first(&mut first, later);
    }
    first
}

impl<F> Future for ServiceTask<F>
where
    F: Future,
    F::Output: ServiceOutput,
{
    type Output = ();
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.work.is_none() {
            return Poll::Ready(());
        }
        if !*this.started {
            // Waiting for a worker: no user code runs here.
            if let Some(cancelled) = this.cancelled.as_mut() {
                if watch(cancelled, task, this.kept) {
                    // Cancelled first (the service stopped, or its handle cancelled it): the
                    // work never starts (dropped in `drop`).
                    return Poll::Ready(());
                }
            }
            let Some(wait) = this.wait.as_mut() else {
                return Poll::Ready(());
            };
            match wait.as_mut().poll(task) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(permit) => *this.worker = permit.ok(),
            }
            *this.wait = None;
            let cx = start(this.inner, this.cx.as_ref(), this.info, this.owner);
            *this.cancelled = Some(Box::pin(cx.clone().cancelled_owned()));
            *this.cx = Some(cx);
            *this.started = true;
            this.obs.started(&this.inner.obs, this.info);
            this.inner.started(*this.key);
        }
        // Cancelled (its deadline, its handle, the service): the grace starts.
        if let Some(cancelled) = this.cancelled.as_mut() {
            if watch(cancelled, task, this.kept) {
                *this.cancelled = None;
                // `Duration::MAX` is no limit: the end saturates, and its timer never fires.
                let at = crate::cx::deadline_after(this.inner.grace);
                *this.hard_stop = Some(Timer::at(at));
            }
        }
        if let Some(stop) = this.hard_stop.as_mut() {
            // Past the grace, and no budgeted shield runs in the service (the forced ends of
            // scopes and of `stop` wait for one too): dropped in `drop`, reported there. Under
            // a stop, the stop's abort ends it instead, and reports it as aborted.
            // The wait for the shields is bounded once, when the grace runs out: by the ends
            // of the budgets of those under way then (not of shields started after).
            if stop.as_mut().passed(task) && !stop_under_way(this.inner, this.stop_gone, task) {
                if this.inner.tracker.holds() == 0 {
                    return Poll::Ready(());
                }
                let unheld = this.unheld.get_or_insert_with(|| {
                    let inner = Arc::clone(this.inner);
                    Box::pin(async move { inner.tracker.unheld().await })
                });
                if unheld.as_mut().poll(task).is_ready() {
                    return Poll::Ready(());
                }
            }
        }
        let ended = {
            let _enter = Enter::scope_code(this.cx, this.scope);
            let _obs = this.obs.enter();
            let Some(work) = this.work.as_mut().as_pin_mut() else {
                return Poll::Ready(());
            };
            match catch_unwind(AssertUnwindSafe(|| work.poll(task))) {
                Ok(Poll::Pending) => return Poll::Pending,
                // User code (`Display`), inside the task's context, as its work ran: no lock
                // is held; a panic there is the task's panic.
                Ok(Poll::Ready(out)) => match catch_unwind(AssertUnwindSafe(|| out.failure())) {
                    Ok(failure) => Ok((out, failure)),
                    Err(payload) => {
                        drop_after_panic(out);
                        Err(payload)
                    }
                },
                Err(payload) => Err(payload),
            }
        };
        let ended = with_kept(ended, take_kept(this.kept, this.owner));
        let outcome = match ended {
            Ok((out, failure)) => {
                *this.ended = Some(returned(this.cx.as_ref(), failure));
                Ok(out)
            }
            Err(payload) => {
                let (ended, error) = panicked(this.info, payload);
                *this.ended = Some(ended);
                Err(error)
            }
        };
        let dropped = {
            let _enter = Enter::scope_code(this.cx, this.scope);
            let mut work = this.work.as_mut();
            catch_unwind(AssertUnwindSafe(move || work.set(None)))
        };
        *this.outcome = Some(match (dropped, outcome) {
            // The work's destructor panicked after it returned: the task's panic (a panic of
            // the work itself came first and stays).
            (Err(payload), Ok(out)) => {
                let (ended, error) = panicked(this.info, payload);
                *this.ended = Some(ended);
                // Its value is not delivered; one panic is reported, a second one here not.
                drop_after_panic(out);
                Err(error)
            }
            (_, outcome) => outcome,
        });
        Poll::Ready(())
    }
}

/// A callback's panic that the watch kept makes the task's end a panic (its own panic, if it
/// has one, is reported instead).
fn with_kept<T>(
    ended: Result<T, Box<dyn Any + Send>>,
    kept: Option<Box<dyn Any + Send>>,
) -> Result<T, Box<dyn Any + Send>> {
    match (ended, kept) {
        (Ok(out), Some(payload)) => {
            drop_after_panic(out);
            Err(payload)
        }
        (ended, kept) => {
            drop_after_panic(kept);
            ended
        }
    }
}

/// Polls the watch of a task's context. Its look may fire a passed deadline and run the
/// `on_cancel` callbacks of scopes under the task (a scope that inherits the task's deadline
/// has no alarm of its own for them): a callback's panic is kept as the task's, not unwound
/// through it, and the cancel has happened.
fn watch(
    cancelled: &mut Pin<Box<WaitCancelledOwned>>,
    task: &mut Context<'_>,
    kept: &mut Option<Box<dyn Any + Send>>,
) -> bool {
    match catch_unwind(AssertUnwindSafe(|| {
        cancelled.as_mut().poll(task).is_ready()
    })) {
        Ok(ready) => ready,
        Err(payload) => {
            keep_first(kept, payload);
            true
        }
    }
}

/// How a task that panicked (in its work, or dropping it or its output) ended, and what its
/// handle reads.
/// Drops a task's unread output inside the task's context (its code, as its future was);
/// a panic of its destructor comes back.
fn drop_inside<T>(
    cx: &mut Option<Cx>,
    scope: &mut EnclosingScope,
    unread: T,
) -> Result<(), Box<dyn Any + Send>> {
    let _enter = Enter::scope_code_in_drop(cx, scope);
    drop_caught(unread)
}

fn panicked(info: &TaskInfo, payload: Box<dyn std::any::Any + Send>) -> (Ended, Interrupted) {
    let message = panic_message(payload.as_ref());
    let error = Panicked::new(info.clone(), payload).into();
    (Ended::Failed(FailureKind::Panicked, message), error)
}
