//! Services: named, long-lived owners of detached work (law 7).
//!
//! Work that must outlive the request that started it goes to a [`Service`]. It keeps the
//! request's slot values (not its cancellation, as Go's `WithoutCancel`), gets its own time
//! bound (a per-task deadline; see [`ServiceConfig::new`] for why there is one by default),
//! and is owned by the service: [`Service::drain`] waits for it within a budget and
//! [`Service::stop`] cancels, waits a grace, then aborts, and reports what it cut short.
//! Each task has a handle with its outcome ([`ServiceHandle`]); a failure is also kept by the
//! service until read ([`Service::failures`]), so none is lost. With
//! [`ServiceConfig::workers`], `n` tasks run at once over the service's queue (bounded by
//! [`ServiceConfig::capacity`], if set).
//!
//! A service made under an application ([`App`](crate::App), which `#[scope::main]` makes)
//! belongs to it: the application's shutdown drains and stops it (see [`App`](crate::App)).
//! There is no ambient spawn.
//!
//! The files: `config.rs` (the set-up), `task.rs` (a task's life, its handle),
//! `report.rs` (failures, drain errors, what a stop did).

mod config;
mod report;
mod task;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use self::config::{ServiceConfig, DEFAULT_TASK_TIMEOUT};
use self::report::FailureKind;
pub use self::report::{DrainError, StopReport, TaskFailure};
use self::task::{Ended, ServiceTask};
pub use self::task::{ServiceHandle, ServiceOutput};
use crate::cause::{Cause, Signal};
use crate::cx::Cx;
use crate::error::SpawnError;
use crate::info::{TaskId, TaskInfo};
use crate::observe::ScopeObs;
use crate::scope::tracker::{Enclosing, Tracker};
use crate::slab::Slab;

/// A panic's payload, kept to be resumed.
pub(crate) type Panic = Box<dyn std::any::Any + Send>;

/// Keeps `payload` in `kept` if it holds none; a later one is dropped (its `Drop` is user
/// code: outside the lock).
pub(crate) fn keep_in(kept: &Mutex<Option<Panic>>, payload: Option<Panic>) {
    let later = payload.and_then(|payload| {
        let mut kept = kept.lock();
        if kept.is_none() {
            *kept = Some(payload);
            None
        } else {
            Some(payload)
        }
    });
    crate::error::drop_after_panic(later);
}
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering};

/// Failures kept until read; past it, only counted (a service whose failures nobody reads
/// must not grow without bound).
const KEPT_FAILURES: usize = 256;

pub(crate) struct Inner {
    info: TaskInfo,
    cx: Cx,
    obs: ScopeObs,
    task_timeout: Duration,
    grace: Duration,
    /// Its tasks are daemons: the application's shutdown cancels them.
    daemon: bool,
    /// Tasks accepted and not yet finished.
    capacity: Option<Arc<Semaphore>>,
    /// Tasks running at once.
    workers: Option<Arc<Semaphore>>,
    /// The live tasks: the same accounting as a scope's (a scope entered in a task is nested
    /// in it, so a drain waits for its children too).
    tracker: Tracker,
    /// Who is alive, and how the others ended.
    table: Mutex<Table>,
    /// Tasks whose end is recorded (out of `table.live`) that have not yet let go of their
    /// tracker unit: they are handing their outcome to their handle (whose waker is not ours)
    /// or dropping an unread one. Raised under the table's lock as a task leaves `live`,
    /// lowered just before it lets go of its unit, so that a count taken under the lock sees
    /// each task in one place or the other until then.
    ending: AtomicUsize,
    /// The stops under way: while there is one, it gives the grace and aborts what outlives
    /// it, not the tasks. A stop whose future is dropped before its end aborts nothing: the
    /// tasks' own graces apply again.
    stopping: AtomicUsize,
    /// Woken when the last stop under way ends (or its future is dropped).
    no_stop: tokio::sync::Notify,
    /// A stop is aborting what outlived its grace.
    aborting: AtomicBool,
    /// Its grace's running out has been reported (once, as a scope's run reports its own).
    grace_ran_out: AtomicBool,
    /// Why its shutdown was forced, if it was (a second signal, the application's run ended
    /// before its shutdown): what its aborted tasks were cut short by.
    forced: Mutex<Option<String>>,
    /// Its end has been reported (in the tree, the metrics and the events), by the first call
    /// that saw it ended: a stop that ran to its end, a drain that finished, a forced abort.
    end_reported: AtomicBool,
    /// A task of it failed / panicked, ever (read or not): how its end is reported. A task
    /// cut short by a stop's abort, by its runtime's shutdown, or after its handle's cancel
    /// is not a failure here (it reports a stop, as a scope's aborted child does), though
    /// `failures()` lists it; one dropped at its own deadline is.
    any_failed: AtomicBool,
    /// A task of it was dropped by its runtime's shutdown: with no cancel of the service, it
    /// ends cancelled, not completed.
    runtime_dropped: AtomicBool,
    any_panicked: AtomicBool,
}

#[derive(Default)]
struct Table {
    live: Slab<Live>,
    failures: Vec<TaskFailure>,
    /// Failures past [`KEPT_FAILURES`], not kept.
    failures_lost: usize,
    not_started: usize,
    /// `not_started` when the application's shutdown first reached the service (a daemon's
    /// turn, the stop after its drain, a forced abort; whichever came first), until a report
    /// of the shutdown's takes it: that report counts the tasks dropped unstarted since,
    /// whichever part of the shutdown dropped them.
    shutdown_from: Option<usize>,
    /// `not_started` when a stop of the program's own began, until a stop's report takes it:
    /// a stop given up on (a `timeout` around it) has dropped the queued tasks already, and
    /// the next stop's report counts them.
    stop_from: Option<usize>,
    /// Tasks dropped when their grace ran out (their own ends, not a stop's abort), ever.
    dropped: usize,
    /// The tasks a stop's abort reached while stops are under way (cleared when the last one
    /// ends): a stop running beside the one that aborted them reports them aborted too, not
    /// stopped within its grace.
    stop_aborted: Vec<TaskInfo>,
    /// The tasks a stop's abort reached that no stop's report has named yet (the stop that
    /// aborted them was given up on before its report): the next report names them aborted.
    unreported_aborted: Vec<TaskInfo>,
}

impl Table {
    /// Where a stop counts the tasks it drops unstarted from: for the application's shutdown,
    /// where the shutdown first reached the service (noted now if it had not); else now.
    fn stop_begins(&mut self, shutdown: bool) -> Option<usize> {
        if !shutdown {
            return Some(*self.stop_from.get_or_insert(self.not_started));
        }
        if self.shutdown_from.is_none() {
            self.shutdown_from = Some(self.not_started);
        }
        None
    }

    /// For the report that ends a stop that began counting at `from` (the shutdown's, if
    /// `None`): the tasks it dropped unstarted, those ended so and those still waiting for a
    /// worker (dropped unstarted as their abort lands).
    fn not_started_in_stop(&mut self, from: Option<usize>) -> usize {
        let from = from
            .or_else(|| self.shutdown_from.take())
            .unwrap_or(self.not_started);
        // Taken: a later stop counts from its own start.
        self.stop_from = None;
        let mut queued = 0;
        let _ = self.live.find(|l| {
            queued += usize::from(!l.started);
            false
        });
        self.not_started - from + queued
    }
}

struct Live {
    info: TaskInfo,
    started: bool,
}

/// The wait of a task for a worker, in the line from now (the order of the spawn calls), not
/// from the task's first poll: on a multi-thread runtime a task spawned from a worker is
/// polled first (its LIFO slot), so the first polls come out of order. A free worker is taken
/// at once. The semaphore keeps the waiter (its waker is the task's from its first poll on);
/// outside the cooperative budget, so that a spent budget does not keep it out of the line.
fn join_the_line(workers: Arc<Semaphore>) -> task::WaitWorker {
    let mut wait: task::WaitWorker = Box::pin(tokio::task::unconstrained(workers.acquire_owned()));
    let mut now = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(permit) = wait.as_mut().poll(&mut now) {
        wait = Box::pin(std::future::ready(permit));
    }
    wait
}

/// A stop under way, counted until its future ends or is dropped.
struct StopUnderWay<'a>(&'a Inner);

impl<'a> StopUnderWay<'a> {
    fn begin(inner: &'a Inner) -> Self {
        // Release: a task that sees the stop's cancel sees the count too.
        inner.stopping.fetch_add(1, Ordering::Release);
        StopUnderWay(inner)
    }
}

impl Drop for StopUnderWay<'_> {
    fn drop(&mut self) {
        if self.0.stopping.fetch_sub(1, Ordering::AcqRel) == 1 {
            // (Names only: no user code under the lock.)
            self.0.table.lock().stop_aborted = Vec::new();
            // The tasks past their grace that left their end to this stop end now.
            self.0.no_stop.notify_waiters();
        }
    }
}

/// How long [`Service::stop`] waits for its aborted tasks to end: an aborted task ends at its
/// next poll, but one stuck in a blocking call (a synchronous client, an `fsync`) cannot be
/// made to, and the stop (and the application's shutdown) does not wait for it longer. Both
/// waits are tokio timers: a task blocking a worker thread of the runtime (rather than
/// calling its blocking code through `spawn_blocking`) can hold back the timers of that
/// runtime too, and the stop's grace and this wait with them, until the worker is free.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(scope::ABORT_WAIT, Duration::from_secs(1));
/// ```
pub const ABORT_WAIT: Duration = Duration::from_secs(1);

impl Drop for Inner {
    fn drop(&mut self) {
        // The last clone of a service that was never stopped or drained (each of its tasks
        // holds it, so they have all ended): its end is reported now, as its start was when it
        // was made. The cause as observed: a drop runs no `on_cancel` callback.
        let cause = self.cx.observed_cause();
        self.report_end_with(cause.as_ref());
    }
}

impl Enclosing for Inner {
    fn tracker(&self) -> &Tracker {
        &self.tracker
    }
    fn grace(&self) -> Duration {
        self.grace
    }
    /// A panic no report of a scope entered in one of its tasks carries (the task dropped
    /// that scope's run): a failure of the service, under the name of the task that panicked.
    fn panicked_below(
        &self,
        task: &TaskInfo,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Option<Box<dyn std::any::Any + Send>> {
        self.panicked_late(task, crate::error::panic_message(payload.as_ref()));
        crate::error::drop_after_panic(payload);
        None
    }
}

/// Whether `failures` say that `task` was dropped (at its grace, or by an abort).
fn was_dropped(failures: &[TaskFailure], task: &TaskInfo) -> bool {
    failures
        .iter()
        .any(|f| f.kind == FailureKind::Dropped && f.task.id() == task.id())
}

/// Where a daemon service's turn in the shutdown started (see [`Service::stop_daemons`]): its
/// tasks running then, and its counts of tasks that never started and that were dropped.
pub(crate) struct DaemonTurn {
    running: Vec<TaskInfo>,
    dropped: usize,
}

impl Inner {
    /// A stop's cancel, with `signal` as its cause; the service's first cancel is reported
    /// (once, whichever call sees it: this stop's, an earlier stop's or drain's, or one made
    /// through its context, `svc.cx().cancel(..)`). A panic of an `on_cancel` callback it ran
    /// is returned, for the stop to resume once it has done its work (the cancel has reached
    /// every task by then).
    fn cancel_for_stop(&self, signal: Signal) -> Option<Panic> {
        let cancelled = catch_unwind(AssertUnwindSafe(|| {
            self.cx.cancel_with(Cause::Shutdown { signal })
        }));
        self.obs.cancelled(&self.cx);
        cancelled.err()
    }

    /// Reports the service's end, once (a stop cut short before its end reports nothing: the
    /// next call that sees it ended does).
    fn report_end(&self) {
        self.report_end_with(self.cx.cause_arc().as_ref());
    }

    /// [`report_end`](Self::report_end) with the cause read by the caller.
    fn report_end_with(&self, cause: Option<&Arc<Cause>>) {
        if self.end_reported.swap(true, Ordering::AcqRel) {
            return;
        }
        // Every failure of its life counts, read through `failures()` already or not: each
        // was noted as it was kept (`keep_failure`, under the table's lock, which the callers
        // that took failures out took after it).
        let panicked = self.any_panicked.load(Ordering::Relaxed);
        let failed = self.any_failed.load(Ordering::Relaxed);
        let cause = cause
            .map(|c| &**c)
            .filter(|c| !matches!(c, Cause::Finished { .. }));
        if cause.is_some() {
            // Cancelled before its end (by a stop, or through its context): reported first,
            // if nothing has yet.
            self.obs.cancelled(&self.cx);
        }
        // Tasks dropped by their runtime's shutdown, with no cancel of the service: it ended
        // cancelled (a cause made for the outcome only; the tasks reported their stops).
        let runtime_gone;
        let cause = match cause {
            None if self.runtime_dropped.load(Ordering::Relaxed) => {
                runtime_gone = Cause::explicit("its runtime shut down");
                Some(&runtime_gone)
            }
            cause => cause,
        };
        self.obs.finished(cause, panicked, failed);
    }

    /// What a task aborted by a stop was cut short by.
    pub(super) fn aborted_by(&self) -> String {
        match &*self.forced.lock() {
            Some(why) => format!("aborted at once: {why}"),
            None => format!("aborted after the stop's grace of {:?}", self.grace),
        }
    }

    /// A stop's abort of what still runs (reported as aborted, by the stop): returns the
    /// tasks it reaches, noted for any stop under way beside it, which reports them aborted
    /// too, not stopped within its grace.
    fn abort_for_stop(&self) -> Vec<TaskInfo> {
        let aborted = self.running();
        {
            let mut table = self.table.lock();
            if self.stopping() {
                table.stop_aborted.extend(aborted.iter().cloned());
            }
            table.unreported_aborted.extend(aborted.iter().cloned());
        }
        self.aborting.store(true, Ordering::Relaxed);
        self.tracker.abort_all();
        aborted
    }

    /// Whether a stop is under way (then its abort, not a task's own, ends what outlives the
    /// grace, so that the stop reports it as aborted).
    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire) != 0
    }

    /// Waits until no stop is under way (the last one ended, or its future was dropped).
    pub(super) async fn no_stop_under_way(&self) {
        loop {
            let mut ended = std::pin::pin!(self.no_stop.notified());
            // Registered before the look: a stop ending in between is not missed.
            ended.as_mut().enable();
            if !self.stopping() {
                return;
            }
            ended.await;
        }
    }

    /// The tasks not yet gone: those alive, and those whose end is recorded but which are
    /// still handing over their outcome. (Its tracker also counts the children of scopes
    /// entered in them, which a drain waits for but which are not the service's tasks.)
    fn active(&self) -> usize {
        let table = self.table.lock();
        table.live.len() + self.ending.load(Ordering::Relaxed)
    }

    /// A task whose end was recorded lets go of its tracker unit: it stops counting as ending
    /// first, so that whoever sees the tracker idle (a drain, a stop) reads no task
    /// [`active`](Service::active). (Between the two, a drain whose budget runs out may count
    /// no task while the tracker is not yet idle: see `drain_keeping`.)
    pub(super) fn exit_ended(&self) {
        // Release: ordered before the unit's release below, which the idle wait acquires.
        self.ending.fetch_sub(1, Ordering::Release);
        self.tracker.exit();
    }

    /// A stop's (or a daemon's turn's) cancel gave its tasks the service's grace, if any.
    fn grace_began(&self) {
        if !self.grace.is_zero() {
            self.obs.grace_began(self.grace);
        }
    }

    /// Its grace ran out with work aborted: a warning in its span, once, and only for a grace
    /// it gave (a zero grace gives none to run out, as a scope's does not).
    fn grace_ran_out(&self) {
        // Relaxed: only which call reports it is decided.
        if !self.grace.is_zero() && !self.grace_ran_out.swap(true, Ordering::Relaxed) {
            self.obs.grace_ran_out();
        }
    }

    fn aborting(&self) -> bool {
        // Relaxed: set before the aborts it explains; a task dropped by one reads it after.
        self.aborting.load(Ordering::Relaxed)
    }

    fn started(&self, key: usize) {
        if let Some(live) = self.table.lock().live.get_mut(key) {
            live.started = true;
        }
    }

    /// Records how a task ended (its failure's message was made before, outside the lock).
    fn ended(&self, key: usize, info: &TaskInfo, ended: Ended) {
        let mut table = self.table.lock();
        let _live = table.live.remove(key);
        // Relaxed: read under this lock (with `live`); lowered by the task once it is gone.
        self.ending.fetch_add(1, Ordering::Relaxed);
        match ended {
            Ended::Completed | Ended::Answered(_) => {}
            Ended::NotStarted(_) => table.not_started += 1,
            Ended::Failed(kind, message) => {
                if kind == FailureKind::Dropped {
                    table.dropped += 1;
                }
                self.keep_failure(&mut table, info, kind, message);
            }
        }
    }

    /// A task that ended has panicked after all: its handle dropped its unread output,
    /// whose destructor panicked (the message was made outside the lock).
    pub(super) fn panicked_late(&self, info: &TaskInfo, message: String) {
        let mut table = self.table.lock();
        self.keep_failure(&mut table, info, FailureKind::Panicked, message);
    }

    fn keep_failure(&self, table: &mut Table, info: &TaskInfo, kind: FailureKind, message: String) {
        if kind != FailureKind::Dropped {
            self.any_failed.store(true, Ordering::Relaxed);
        }
        if kind == FailureKind::Panicked {
            self.any_panicked.store(true, Ordering::Relaxed);
        }
        if table.failures.len() < KEPT_FAILURES {
            table.failures.push(TaskFailure {
                task: info.clone(),
                kind,
                message,
            });
        } else {
            table.failures_lost += 1;
        }
    }

    /// The live tasks that have started, by name.
    fn running(&self) -> Vec<TaskInfo> {
        let table = self.table.lock();
        let mut out = Vec::new();
        let _ = table.live.find(|l| {
            if l.started {
                out.push(l.info.clone());
            }
            false
        });
        out
    }
}

/// A named, long-lived owner of detached work, with a drain budget. Cloning gives another
/// handle onto the same service.
///
/// Dropping every handle neither drains nor stops it: each of its tasks holds the service and
/// runs on to its end, bounded only by its task timeout ([`ServiceConfig::task_timeout`], 30 s
/// by default; none with `Duration::MAX`, nor for a daemon's tasks unless one is given). Work
/// made so is detached on purpose, and the orphan lint of `#[scoped]` does not see it: a
/// service made inside a scope's body outlives the scope. Under an application the
/// application's shutdown still stops it; outside one, end it with [`drain`](Service::drain) or
/// [`stop`](Service::stop) before its last handle goes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Cx, Service, ServiceConfig, Slot};
/// static REQUEST_ID: Slot<u32> = Slot::new("REQUEST_ID");
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let audit = Service::new(ServiceConfig::new("audit"));
/// let request = Cx::root().with_slot(&REQUEST_ID, 7);
/// let record = request.clone().run(async {
///     // Outlives the request, keeps its slots, not its cancellation.
///     audit.spawn(async move { Ok::<_, String>(REQUEST_ID.get()) }).unwrap()
/// }).await;
/// request.cancel("response sent");
/// assert_eq!(record.await.unwrap(), Ok(Some(7)));
/// audit.drain(Duration::from_secs(1)).await.unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl Service {
    /// Creates a service with its own root context. Made under an application (inside
    /// `#[scope::main]`, or under [`App::cx`](crate::App::cx)), it belongs to it: the
    /// application's shutdown drains and stops it. The application keeps every service made
    /// under it until its run ends: make services once, at start-up, not one per request.
    ///
    /// # Examples
    ///
    /// The service's context is a root: cancelling the caller's does not reach it.
    ///
    /// ```
    /// use scope::{Cx, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let request = Cx::root();
    /// let svc = request
    ///     .clone()
    ///     .run(async { Service::new(ServiceConfig::new("audit")) })
    ///     .await;
    /// request.cancel("request done");
    /// assert!(!svc.cx().is_cancelled());
    /// assert!(!svc.is_closed());
    /// # });
    /// ```
    #[track_caller]
    #[must_use]
    pub fn new(config: ServiceConfig) -> Self {
        let task_timeout = config.effective_task_timeout();
        let (info, cx) = (TaskInfo::here(Some(config.name)), Cx::root());
        let service = Self {
            inner: Arc::new(Inner {
                obs: ScopeObs::service(&info, &cx),
                info,
                cx,
                task_timeout,
                grace: config.grace,
                daemon: config.daemon,
                capacity: config
                    .capacity
                    .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)))),
                workers: config
                    .workers
                    .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)))),
                tracker: Tracker::with_waiters(None),
                table: Mutex::new(Table::default()),
                stopping: AtomicUsize::new(0),
                no_stop: tokio::sync::Notify::new(),
                aborting: AtomicBool::new(false),
                grace_ran_out: AtomicBool::new(false),
                ending: AtomicUsize::new(0),
                forced: Mutex::new(None),
                end_reported: AtomicBool::new(false),
                any_failed: AtomicBool::new(false),
                runtime_dropped: AtomicBool::new(false),
                any_panicked: AtomicBool::new(false),
            }),
        };
        #[cfg(not(loom))]
        crate::app::adopt_current(&service);
        service
    }

    /// Another handle onto a service the application keeps.
    #[cfg(not(loom))]
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    #[cfg(not(loom))]
    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The service's context: cancelled by [`stop`](Service::stop), ended (not an error:
    /// [`Cause::Finished`]) by a [`drain`](Service::drain) that finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Service, ServiceConfig, Signal};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// assert!(!svc.cx().is_cancelled());
    /// assert!(svc.stop().await.is_clean());
    /// let cause = svc.cx().cause().unwrap();
    /// assert!(matches!(cause, Cause::Shutdown { signal: Signal::Requested(_) }));
    /// assert_eq!(cause.to_string(), "shutdown requested: service stop");
    /// # });
    /// ```
    #[must_use]
    pub fn cx(&self) -> &Cx {
        &self.inner.cx
    }

    /// Who the service is.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// let (svc, line) = (Service::new(ServiceConfig::new("audit")), line!());
    /// assert_eq!(svc.info().to_string(), "audit");
    /// assert_eq!(svc.info().location().line(), line); // where it was created
    /// ```
    #[must_use]
    pub fn info(&self) -> &TaskInfo {
        &self.inner.info
    }

    /// Tasks alive now (running, waiting for a worker, or handing their outcome to their
    /// handle: a task is counted until it is gone, so a [`drain`](Service::drain) that
    /// finished leaves none).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// assert_eq!(svc.active(), 0);
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// let _ = svc.spawn(async move {
    ///     let _ = rx.await;
    /// })
    /// .unwrap();
    /// assert_eq!(svc.active(), 1);
    /// tx.send(()).unwrap();
    /// svc.drain(std::time::Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(svc.active(), 0);
    /// # });
    /// ```
    #[must_use]
    pub fn active(&self) -> usize {
        self.inner.active()
    }

    /// Whether the service refuses new work (it is draining or stopped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Service, ServiceConfig, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// assert!(!svc.is_closed());
    /// svc.drain(Duration::from_secs(1)).await.unwrap();
    /// assert!(svc.is_closed());
    /// assert_eq!(svc.spawn(async {}).err(), Some(SpawnError::Closed));
    /// # });
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        // Its context cancelled by hand (`svc.cx().cancel(..)`) refuses new work too.
        self.inner.tracker.is_closed() || self.inner.cx.is_cancelled()
    }

    /// Hands detached work to the service, named after the service. The task runs with a
    /// context that has the caller's slot values (the ambient context's), the service's
    /// cancellation, and the service's per-task deadline (from when it starts). Refused with a
    /// typed error when the service is closed, full, or there is no tokio runtime. The handle
    /// gives the task's outcome; dropping it leaves the task running.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig, SpawnError};
    /// // Outside a tokio runtime there is nothing to run the task on.
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// assert_eq!(svc.spawn(async {}).err(), Some(SpawnError::NoRuntime));
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Result<ServiceHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: ServiceOutput,
    {
        let info = TaskInfo::here(self.inner.info.name().map(|n| Cow::Owned(n.to_owned())));
        self.spawn_info(info, fut)
    }

    /// [`spawn`](Service::spawn) with the task's own name, which reports use (what drained,
    /// what was aborted, what failed).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// let task = svc.spawn_named(format!("audit of {}", "r-1"), async {}).unwrap();
    /// assert_eq!(task.info().name(), Some("audit of r-1"));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> Result<ServiceHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: ServiceOutput,
    {
        self.spawn_info(TaskInfo::here(Some(name.into())), fut)
    }

    fn spawn_info<F>(&self, info: TaskInfo, fut: F) -> Result<ServiceHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: ServiceOutput,
    {
        let inner = &self.inner;
        if self.is_closed() {
            return Err(SpawnError::Closed);
        }
        let capacity = match &inner.capacity {
            None => None,
            Some(q) => Some(
                Arc::clone(q)
                    .try_acquire_owned()
                    .map_err(|_| SpawnError::Full)?,
            ),
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
        // The request's slots and the service's cancellation; the deadline comes when the
        // task starts.
        let cx = Cx::current().detach().merge(&inner.cx);
        if inner.tracker.enter().is_err() {
            return Err(SpawnError::Closed);
        }
        let key = inner.table.lock().live.insert(Live {
            info: info.clone(),
            started: false,
        });
        let wait = inner.workers.as_ref().map(|w| join_the_line(Arc::clone(w)));
        let (task, handle) = ServiceTask::new(inner, info, key, fut, cx, wait, capacity);
        let join = runtime.spawn(task);
        let scope: Arc<dyn Enclosing> = Arc::clone(inner) as Arc<dyn Enclosing>;
        Tracker::register_task(&scope, join.abort_handle().into(), Some(&runtime));
        Ok(handle)
    }

    /// Stops accepting work and waits for the accepted work (the tasks waiting for a worker
    /// included) to finish, at most `budget`. A drain that finished ends the service's context
    /// ([`Cause::Finished`], naming the service); one that overran leaves it running.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](crate::Cx::on_cancel) callback panics when a finished drain ends
    /// the service's context, the panic is resumed here once the drain has done its work
    /// (the context ended, the service's end reported).
    ///
    /// A budget is timed by tokio's timer: on a runtime built without timers, a drain with a
    /// budget that is not zero and work left to wait for panics, as tokio's `sleep` does. A
    /// zero budget, a drain with nothing left, or one outside any runtime, needs none: it
    /// looks once.
    ///
    /// # Cancel safety
    ///
    /// Dropped before it resolves, it leaves the service closed to new work (the close is its
    /// first step) and its running work running, as an overrun does.
    ///
    /// # Examples
    ///
    /// Work that overruns the budget keeps running until [`stop`](Service::stop):
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{DrainError, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("slow"));
    /// let _ = svc.spawn(tokio::time::sleep(Duration::from_secs(10))).unwrap();
    /// let budget = Duration::from_millis(10);
    /// assert_eq!(svc.drain(budget).await, Err(DrainError::Overrun { still_running: 1, budget }));
    /// assert_eq!(svc.active(), 1);
    /// assert_eq!(svc.stop().await.aborted().len(), 1);
    /// assert_eq!(svc.active(), 0);
    /// # });
    /// ```
    pub async fn drain(&self, budget: Duration) -> Result<(), DrainError> {
        let kept = Mutex::new(None);
        let drained = self.drain_keeping(budget, &kept).await;
        if let Some(payload) = kept.lock().take() {
            resume_unwind(payload);
        }
        drained
    }

    /// [`drain`](Service::drain), keeping the panic of an `on_cancel` callback run by the
    /// end of the service's context in `kept` instead of resuming it (the application's
    /// shutdown goes on to the other services, and resumes it at its end).
    pub(crate) async fn drain_keeping(
        &self,
        budget: Duration,
        kept: &Mutex<Option<Panic>>,
    ) -> Result<(), DrainError> {
        self.inner.tracker.close();
        if within(budget, self.inner.tracker.idle()).await.is_some() {
            self.drained(kept);
            return Ok(());
        }
        // Counted first, then a last look: a task that ended as the budget ran out (gone since
        // the count, or before it) is not reported still running, and a drain whose work has
        // all ended by its answer has drained.
        let still_running = self.active();
        if self.inner.tracker.units() == 0 {
            self.drained(kept);
            return Ok(());
        }
        Err(DrainError::Overrun {
            still_running,
            budget,
        })
    }

    /// A drain found the service done for good (closed, nothing left): its context ends, so
    /// work detached under it learns so.
    fn drained(&self, kept: &Mutex<Option<Panic>>) {
        let scope = self.inner.info.clone();
        let ended = catch_unwind(AssertUnwindSafe(|| {
            self.inner.cx.cancel_with(Cause::Finished { scope })
        }));
        // Its end, once: in the tree, the metrics and the events (a stop under way reports it,
        // with the failures it takes).
        if !self.inner.stopping() {
            self.inner.report_end();
        }
        keep_in(kept, ended.err());
    }

    /// The application's shutdown reaches a daemon service: closed to new work, its tasks
    /// cancelled with `signal` (the drain that follows waits for them). Nothing for another
    /// service. Returns the panic of an `on_cancel` callback its cancel ran, if any.
    ///
    /// The turn it starts is read by [`daemon_cut`](Service::daemon_cut) once the drain
    /// that follows has finished.
    #[cfg_attr(loom, allow(dead_code))] // Reason: the application is not built under loom.
    pub(crate) fn stop_daemons(&self, signal: Signal) -> (Option<DaemonTurn>, Option<Panic>) {
        let inner = &self.inner;
        if !inner.daemon {
            return (None, None);
        }
        inner.tracker.close();
        let running = inner.running();
        let dropped = {
            let mut table = inner.table.lock();
            table.stop_begins(true);
            table.dropped
        };
        let panic = inner.cancel_for_stop(signal);
        inner.grace_began();
        let turn = DaemonTurn { running, dropped };
        (Some(turn), panic)
    }

    /// A daemon's turn in the shutdown, once its drain has finished: a stop's report if the
    /// shutdown cut work short (a task that did not end within the service's grace after the
    /// cancel and was dropped, a task that never started), else `None` (it drained).
    #[cfg_attr(loom, allow(dead_code))] // Reason: the application is not built under loom.
    pub(crate) fn daemon_cut(&self, turn: DaemonTurn) -> Option<StopReport> {
        let mut table = self.inner.table.lock();
        let not_started = table.not_started_in_stop(None);
        if table.dropped == turn.dropped && not_started == 0 {
            return None;
        }
        let failures = std::mem::take(&mut table.failures);
        drop(table);
        let (aborted, stopped): (Vec<TaskInfo>, Vec<TaskInfo>) = turn
            .running
            .into_iter()
            .partition(|t| was_dropped(&failures, t));
        if !aborted.is_empty() {
            self.inner.grace_ran_out();
        }
        Some(StopReport {
            service: Some(self.inner.info.clone()),
            stopped,
            aborted,
            not_started,
            failures,
        })
    }

    /// A daemon's stop after a turn whose drain did not finish (work below its tasks held it
    /// past the application's grace): the tasks its turn dropped at the service's grace were
    /// gone when the stop began, and are named among the stop's aborted, as
    /// [`daemon_cut`](Service::daemon_cut) names them when the drain finishes.
    #[cfg_attr(loom, allow(dead_code))] // Reason: the application is not built under loom.
    pub(crate) fn with_daemon_turn(
        &self,
        mut stop: StopReport,
        turn: Option<DaemonTurn>,
    ) -> StopReport {
        let Some(turn) = turn else {
            return stop;
        };
        let named: HashSet<TaskId> = stop
            .aborted
            .iter()
            .chain(&stop.stopped)
            .map(TaskInfo::id)
            .collect();
        let cut: Vec<TaskInfo> = turn
            .running
            .into_iter()
            .filter(|t| !named.contains(&t.id()) && was_dropped(&stop.failures, t))
            .collect();
        if !cut.is_empty() {
            self.inner.grace_ran_out();
        }
        stop.aborted.extend(cut);
        stop
    }

    /// [`abort_at_once`](Service::abort_at_once) where nobody reads the report (the
    /// application's run ended before its shutdown, or before the service was adopted): the
    /// failures it took go back in front of the unread ones, for
    /// [`failures`](Service::failures). Returns the panic of an `on_cancel` callback, if any.
    #[cfg_attr(loom, allow(dead_code))] // Reason: the application is not built under loom.
    pub(crate) fn abort_unread(&self, signal: Signal, why: String) -> Option<Panic> {
        let (report, panic) = self.abort_at_once(signal, why);
        let mut failures = report.failures;
        if !failures.is_empty() {
            let mut table = self.inner.table.lock();
            failures.append(&mut table.failures);
            table.failures = failures;
        }
        panic
    }

    /// The shutdown is forced (a second signal, or the application's run ended before its
    /// shutdown; `why` says which, for the aborted tasks' failures): closed, cancelled with
    /// `signal` and aborted at once, with no grace and no wait (the caller is about to
    /// return, or the process to exit).
    /// Reports the tasks it aborted (by name) and the failures not read before, with the
    /// panic of an `on_cancel` callback its cancel ran, if any (the abort is done).
    #[cfg_attr(loom, allow(dead_code))] // Reason: the application is not built under loom.
    pub(crate) fn abort_at_once(&self, signal: Signal, why: String) -> (StopReport, Option<Panic>) {
        let inner = &self.inner;
        inner.tracker.close();
        *inner.forced.lock() = Some(why);
        // Before the cancel: a task waiting for a worker that the cancel wakes may end
        // unstarted on another thread at once.
        inner.table.lock().stop_begins(true);
        let panic = inner.cancel_for_stop(signal);
        inner.tracker.force();
        let aborted = inner.abort_for_stop();
        // The tasks dropped unstarted (by this abort, or by a daemon's turn before it), and
        // those still waiting for a worker, dropped unstarted as the abort lands (their ends
        // come after this returns): counted under one lock, so none twice.
        let (failures, not_started) = {
            let mut table = inner.table.lock();
            let not_started = table.not_started_in_stop(None);
            (std::mem::take(&mut table.failures), not_started)
        };
        inner.report_end();
        let report = StopReport {
            service: Some(inner.info.clone()),
            stopped: Vec::new(),
            aborted,
            not_started,
            failures,
        };
        (report, panic)
    }

    /// Stops the service: refuses new work, cancels the running work (cause: shutdown),
    /// drops the work still waiting for a worker, lets the running work finish within the
    /// service's grace (and the budgets of its [`shield_for`](crate::shield_for) regions),
    /// aborts what is left, and waits until every task is gone (at most [`ABORT_WAIT`] after
    /// the abort: a task stuck in a blocking call cannot be aborted, and ends when its call
    /// returns). Reports what it stopped, what it aborted (by name), and the failures not read
    /// before.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](crate::Cx::on_cancel) callback panics when the stop cancels the
    /// running work, the first such panic is resumed here once the stop has done its work
    /// (every task cancelled, given the grace, aborted past it).
    ///
    /// The grace, and the bounded wait for the tasks it aborts, are timed by tokio's timer: on
    /// a runtime built without timers, a stop that has a grace to wait or a task to abort
    /// panics, as tokio's `sleep` does. A stop outside any runtime needs none: it waits for
    /// nothing (as a scope's grace is not waited there).
    ///
    /// # Cancel safety
    ///
    /// Dropped before it resolves, it loses its report and aborts nothing itself; the service
    /// stays closed and cancelled, and each task it cancelled is still dropped once the
    /// service's grace after its cancel runs out. The next stop's report then says what the
    /// dropped one did: the tasks it dropped unstarted, and those it aborted (as aborted,
    /// not stopped within the grace).
    ///
    /// # Examples
    ///
    /// A cooperative task sees the shutdown and finishes within the grace:
    ///
    /// ```
    /// use scope::{Cause, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// let task = svc
    ///     .spawn_named("flush", async move { Ok::<_, String>(scope::cancelled().await) })
    ///     .unwrap();
    /// tokio::task::yield_now().await; // it has started (on this current-thread runtime)
    /// let report = svc.stop().await;
    /// assert!(matches!(task.await.unwrap().unwrap().root(), Cause::Shutdown { .. }));
    /// assert_eq!(report.stopped()[0].name(), Some("flush"));
    /// assert!(report.aborted().is_empty());
    /// assert!(svc.is_closed());
    /// # });
    /// ```
    pub async fn stop(&self) -> StopReport {
        let kept = Mutex::new(None);
        let report = self.stop_keeping(&kept, false).await;
        let panic = kept.lock().take();
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
        report
    }

    /// [`stop`](Service::stop), keeping the panic of an `on_cancel` callback its cancel ran in
    /// `kept` as soon as it happens (a stop dropped part way loses none), instead of resuming
    /// it; the stop's work is done either way.
    ///
    /// `shutdown`: the application's shutdown stops it (which counts what it dropped unstarted
    /// from where it first reached the service).
    pub(crate) async fn stop_keeping(
        &self,
        kept: &Mutex<Option<Panic>>,
        shutdown: bool,
    ) -> StopReport {
        let inner = &self.inner;
        inner.tracker.close();
        let running = inner.running();
        // A stop before this one reached its abort (and was then given up on, so its report
        // is lost): every task still running was aborted by it, and did not stop within this
        // one's grace either.
        let aborted_before = inner.aborting();
        let from = inner.table.lock().stop_begins(shutdown);
        // Counted before the cancel, so that a task that sees the cancel sees the stop; until
        // this future ends or is dropped (a `timeout` around it, an unwinding `on_cancel`).
        let _under_way = StopUnderWay::begin(inner);
        keep_in(
            kept,
            inner.cancel_for_stop(Signal::Requested(Cow::Borrowed("service stop"))),
        );
        inner.grace_began();
        let mut aborted = Vec::new();
        if within(inner.grace, inner.tracker.idle()).await.is_none() {
            // The abort waits for the budgeted shields under way (within their budgets); those
            // started from now on are not waited for.
            inner.tracker.force();
            inner.tracker.unheld().await;
            aborted = inner.abort_for_stop();
            if !aborted.is_empty() {
                inner.grace_ran_out();
            }
            // An aborted task ends at its next poll; one stuck in a blocking call cannot be
            // made to, and the stop does not wait for it past this bound (it is reported
            // aborted, and ends when its call returns).
            let _ = within(ABORT_WAIT, inner.tracker.idle()).await;
        }
        // A task another stop under way aborted did not stop within this one's grace either.
        let (by_another, mut stopped): (Vec<TaskInfo>, Vec<TaskInfo>) = {
            let ours: HashSet<TaskId> = aborted.iter().map(TaskInfo::id).collect();
            let table = inner.table.lock();
            let all: HashSet<TaskId> = table.stop_aborted.iter().map(TaskInfo::id).collect();
            running
                .into_iter()
                .filter(|t| !ours.contains(&t.id()))
                .partition(|t| aborted_before || all.contains(&t.id()))
        };
        aborted.extend(by_another);
        let (failures, not_started) = {
            let mut table = inner.table.lock();
            // What a stop given up on aborted, and no report named: aborted, once.
            for task in std::mem::take(&mut table.unreported_aborted) {
                stopped.retain(|t| t.id() != task.id());
                if !aborted.iter().any(|t| t.id() == task.id()) {
                    aborted.push(task);
                }
            }
            let not_started = table.not_started_in_stop(from);
            (std::mem::take(&mut table.failures), not_started)
        };
        inner.report_end();
        StopReport {
            service: Some(inner.info.clone()),
            stopped,
            aborted,
            not_started,
            failures,
        }
    }

    /// Takes the failures recorded since they were last read: tasks that returned an error,
    /// panicked, or were dropped (their deadline's grace ran out, a stop aborted them, their
    /// handle's [`cancel`](crate::ServiceHandle::cancel) and its grace ran out, their runtime
    /// shut down). An
    /// error a task returns after it was asked to stop (a stop of its service, the
    /// application's shutdown, its handle's `cancel`: `?` on the interruption, say) answers
    /// that request and is not a failure; one after its own deadline is. The
    /// service keeps up to 256 unread; past that it counts them
    /// ([`failures_lost`](Service::failures_lost)).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// drop(svc.spawn(async { Err::<(), _>("disk full") }).unwrap()); // nobody awaits it
    /// svc.drain(std::time::Duration::from_secs(1)).await.unwrap();
    /// let failures = svc.failures();
    /// assert_eq!(failures.len(), 1);
    /// assert_eq!(failures[0].to_string(), "task `audit` failed: disk full");
    /// assert!(svc.failures().is_empty()); // taken
    /// # });
    /// ```
    #[must_use]
    pub fn failures(&self) -> Vec<TaskFailure> {
        std::mem::take(&mut self.inner.table.lock().failures)
    }

    /// Failures not kept because 256 were unread.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// let svc = Service::new(ServiceConfig::new("quiet"));
    /// assert_eq!(svc.failures_lost(), 0);
    /// ```
    #[must_use]
    pub fn failures_lost(&self) -> usize {
        self.inner.table.lock().failures_lost
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("info", &self.inner.info)
            .field("active", &self.active())
            .field("closed", &self.is_closed())
            .field("task_timeout", &self.inner.task_timeout)
            .field("grace", &self.inner.grace)
            .finish_non_exhaustive()
    }
}

/// `fut`'s output if it comes within `budget`. A zero budget, or one asked for outside a tokio
/// runtime (where no timer can run), looks once and waits for nothing: as a scope's grace
/// is not waited there, and instead of tokio's panic for a timer outside a runtime.
async fn within<F: Future>(budget: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    // Looked at once first: what is ready needs no timer (an idle service's stop, on a
    // runtime without timers, panicked in tokio as the unneeded timer was made).
    let now = std::future::poll_fn(|task| match fut.as_mut().poll(task) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await;
    if now.is_some() || budget.is_zero() || tokio::runtime::Handle::try_current().is_err() {
        return now;
    }
    // The budget's end, or its timer cut short by the runtime's shutdown: no timer of that
    // runtime would wake this wait again.
    match futures_util::future::select(fut, std::pin::pin!(crate::timer::Delay::after(budget)))
        .await
    {
        futures_util::future::Either::Left((out, _)) => Some(out),
        futures_util::future::Either::Right(_) => None,
    }
}
