//! Services: named, long-lived owners of detached work (law 7).
//!
//! Work that must outlive the request that started it goes to a [`Service`]. It keeps the
//! request's slot values (not its cancellation, as Go's `WithoutCancel`), gets its own time
//! bound, and is owned by the service: [`Service::drain`] waits for it within a budget and
//! [`Service::stop`] cancels, waits a grace, then aborts. There is no ambient spawn.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::Either;
use tokio::sync::Semaphore;

use crate::cause::{Cause, Signal};
use crate::cx::{Cx, EnclosingScope, Enter};
use crate::error::SpawnError;
use crate::info::TaskInfo;
use crate::observe::{ChildObs, ScopeObs, ServiceTaskObs};
use crate::scope::tracker::{Enclosing, Tracker};

/// The set-up of a [`Service`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::ServiceConfig;
/// let config = ServiceConfig::new("audit-log")
///     .capacity(1_000)
///     .task_timeout(Duration::from_secs(5))
///     .grace(Duration::from_secs(1));
/// assert_eq!(config.get_name(), "audit-log");
/// ```
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    name: Cow<'static, str>,
    capacity: Option<usize>,
    task_timeout: Duration,
    grace: Duration,
}

impl ServiceConfig {
    /// A service named `name`; unbounded, each task bounded to 30 s (its deadline; dropped
    /// after 5 s more of grace), 5 s of grace on stop.
    ///
    /// # Examples
    ///
    /// A task that ignores its 30 s deadline is dropped 5 s later:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let mailer = Service::new(ServiceConfig::new("mailer"));
    /// let start = tokio::time::Instant::now();
    /// mailer.spawn(tokio::time::sleep(Duration::from_secs(3600))).unwrap();
    /// mailer.drain(Duration::from_secs(3600)).await.unwrap();
    /// assert_eq!(start.elapsed(), Duration::from_secs(35));
    /// # });
    /// ```
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            capacity: None,
            task_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(5),
        }
    }

    /// The service's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// let config = ServiceConfig::new(format!("worker-{}", 3));
    /// assert_eq!(config.get_name(), "worker-3");
    /// assert_eq!(Service::new(config).info().name(), Some("worker-3"));
    /// ```
    #[must_use]
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// At most `n` tasks alive at once; [`Service::spawn`] refuses more with
    /// [`SpawnError::Full`]. `0` refuses every task.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("one-at-a-time").capacity(1));
    /// svc.spawn(std::future::pending()).unwrap();
    /// assert_eq!(svc.spawn(async {}), Err(SpawnError::Full));
    ///
    /// let none = Service::new(ServiceConfig::new("closed-door").capacity(0));
    /// assert_eq!(none.spawn(async {}), Err(SpawnError::Full));
    /// # });
    /// ```
    #[must_use]
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }

    /// Each task's own time bound: its context's deadline (the task sees it, in
    /// [`Cx::deadline`] and as a cancellation with a deadline cause, so it can wind down), and
    /// a task still running a [`grace`](ServiceConfig::grace) after it is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let svc = Service::new(
    ///     ServiceConfig::new("bounded")
    ///         .task_timeout(Duration::from_millis(10))
    ///         .grace(Duration::from_millis(5)),
    /// );
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// svc.spawn(async move {
    ///     // Cooperative: the task sees its deadline as a cancellation...
    ///     let cause = scope::cancelled().await;
    ///     let _ = tx.send(cause.is_deadline());
    ///     // ...and is dropped a grace later if it keeps going.
    ///     tokio::time::sleep(Duration::from_secs(3600)).await;
    /// })
    /// .unwrap();
    /// let start = tokio::time::Instant::now();
    /// svc.drain(Duration::from_secs(1)).await.unwrap();
    /// assert!(rx.await.unwrap());
    /// assert_eq!(start.elapsed(), Duration::from_millis(15));
    /// # });
    /// ```
    #[must_use]
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = timeout;
        self
    }

    /// How long [`Service::stop`] lets tasks observe cancellation before aborting them.
    ///
    /// # Examples
    ///
    /// A task that ignores cancellation is aborted once the grace is over:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("stubborn").grace(Duration::from_millis(100)));
    /// svc.spawn(std::future::pending()).unwrap();
    /// let start = tokio::time::Instant::now();
    /// svc.stop().await;
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// assert_eq!(svc.active(), 0);
    /// # });
    /// ```
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// Why [`Service::drain`] gave up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::DrainError;
/// let e = DrainError::Overrun { still_running: 2, budget: Duration::from_secs(1) };
/// assert_eq!(e.to_string(), "2 task(s) still running after the drain budget of 1s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    /// The budget ran out with work still running (it keeps running; call
    /// [`Service::stop`] to end it).
    #[error("{still_running} task(s) still running after the drain budget of {budget:?}")]
    Overrun {
        /// Tasks alive when the budget ran out.
        still_running: usize,
        /// The budget.
        budget: Duration,
    },
}

struct Inner {
    info: TaskInfo,
    cx: Cx,
    task_timeout: Duration,
    grace: Duration,
    queue: Option<Arc<Semaphore>>,
    obs: ScopeObs,
    /// The live tasks: the same accounting as a scope's (a scope entered in a task is nested
    /// in it, so a drain waits for its children too).
    tracker: Tracker,
}

impl Enclosing for Inner {
    fn tracker(&self) -> &Tracker {
        &self.tracker
    }
    fn grace(&self) -> Duration {
        self.grace
    }
}

/// A named, long-lived owner of detached work, with a drain budget. Cloning gives another
/// handle onto the same service.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Cx, Service, ServiceConfig, Slot};
/// static REQUEST_ID: Slot<u32> = Slot::new("REQUEST_ID");
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let audit = Service::new(ServiceConfig::new("audit"));
/// let (tx, rx) = tokio::sync::oneshot::channel();
/// let request = Cx::root().with_slot(&REQUEST_ID, 7);
/// request.clone().run(async {
///     // Outlives the request, keeps its slots, not its cancellation.
///     audit.spawn(async move { let _ = tx.send(REQUEST_ID.get()); }).unwrap();
/// }).await;
/// request.cancel("response sent");
/// assert_eq!(rx.await.unwrap(), Some(7));
/// audit.drain(Duration::from_secs(1)).await.unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl Service {
    /// Creates a service with its own root context.
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
        let (info, cx) = (TaskInfo::here(Some(config.name)), Cx::root());
        Self {
            inner: Arc::new(Inner {
                obs: ScopeObs::service(&info, &cx),
                info,
                cx,
                task_timeout: config.task_timeout,
                grace: config.grace,
                queue: config
                    .capacity
                    .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS)))),
                tracker: Tracker::with_waiters(None),
            }),
        }
    }

    /// The service's context: cancelled by [`stop`](Service::stop).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Service, ServiceConfig, Signal};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// assert!(!svc.cx().is_cancelled());
    /// svc.stop().await;
    /// let cause = svc.cx().cause().unwrap();
    /// assert!(matches!(cause, Cause::Shutdown { signal: Signal::Requested(_) }));
    /// assert_eq!(cause.to_string(), "shutdown requested by request (service stop)");
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

    /// Tasks alive now.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// assert_eq!(svc.active(), 0);
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// svc.spawn(async move {
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
        self.inner.tracker.units()
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
    /// assert_eq!(svc.spawn(async {}), Err(SpawnError::Closed));
    /// # });
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.tracker.is_closed()
    }

    /// Hands detached work to the service. The task runs with a context that has the
    /// caller's slot values (the ambient context's), the service's cancellation, and the
    /// service's per-task time bound. Refused with a typed error when the service is closed,
    /// full, or there is no tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig, SpawnError};
    /// // Outside a tokio runtime there is nothing to run the task on.
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// assert_eq!(svc.spawn(async {}), Err(SpawnError::NoRuntime));
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Result<(), SpawnError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let inner = &self.inner;
        if self.is_closed() || inner.cx.is_cancelled() {
            return Err(SpawnError::Closed);
        }
        let permit = match &inner.queue {
            None => None,
            Some(q) => Some(
                Arc::clone(q)
                    .try_acquire_owned()
                    .map_err(|_| SpawnError::Full)?,
            ),
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
        // The request's slots, the service's cancellation, and the task's own deadline (which
        // the task sees, so it can wind down; it is dropped a grace after it).
        let deadline = crate::cx::deadline_after(inner.task_timeout);
        let cx = Cx::current()
            .detach()
            .merge(&inner.cx)
            .child_with_named_deadline(deadline, Cow::Owned(inner.info.to_string()));
        let hard_stop = deadline + inner.grace;
        let work = async move {
            let _permit = permit;
            let work = pin!(fut);
            let bound = pin!(tokio::time::sleep_until(hard_stop));
            // The task's own time bound, plus the grace: past it, the work is dropped.
            if let Either::Right(_) = futures_util::future::select(work, bound).await {}
        };
        if inner.tracker.enter().is_err() {
            return Err(SpawnError::Closed);
        }
        let scope: Arc<dyn Enclosing> = Arc::clone(inner) as Arc<dyn Enclosing>;
        let task = ServiceTask {
            work: Some(work),
            obs: ChildObs::service_task(&inner.obs, &cx),
            cx: Some(cx),
            scope: Some(Arc::clone(&scope)),
            inner: Arc::clone(inner),
        };
        let handle = runtime.spawn(task);
        Tracker::register_task(&scope, handle.abort_handle());
        Ok(())
    }

    /// Stops accepting work and waits for the running work to finish, at most `budget`.
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
    /// svc.spawn(tokio::time::sleep(Duration::from_secs(10))).unwrap();
    /// let budget = Duration::from_millis(10);
    /// assert_eq!(svc.drain(budget).await, Err(DrainError::Overrun { still_running: 1, budget }));
    /// assert_eq!(svc.active(), 1);
    /// svc.stop().await;
    /// assert_eq!(svc.active(), 0);
    /// # });
    /// ```
    pub async fn drain(&self, budget: Duration) -> Result<(), DrainError> {
        self.inner.tracker.close();
        if tokio::time::timeout(budget, self.inner.tracker.idle())
            .await
            .is_ok()
        {
            Ok(())
        } else {
            Err(DrainError::Overrun {
                still_running: self.active(),
                budget,
            })
        }
    }

    /// Stops the service: refuses new work, cancels the running work (cause: shutdown),
    /// lets it finish within the service's grace, aborts what is left, and waits until every
    /// task is gone.
    ///
    /// # Examples
    ///
    /// A cooperative task sees the shutdown and finishes within the grace:
    ///
    /// ```
    /// use scope::{Cause, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// svc.spawn(async move {
    ///     let cause = scope::cancelled().await;
    ///     let _ = tx.send(cause);
    /// })
    /// .unwrap();
    /// svc.stop().await;
    /// let cause = rx.await.unwrap();
    /// assert!(matches!(cause.root(), Cause::Shutdown { .. }));
    /// assert!(svc.is_closed());
    /// # });
    /// ```
    pub async fn stop(&self) {
        self.inner.tracker.close();
        self.inner.cx.cancel_with(Cause::Shutdown {
            signal: Signal::Requested(Cow::Borrowed("service stop")),
        });
        if tokio::time::timeout(self.inner.grace, self.inner.tracker.idle())
            .await
            .is_err()
        {
            self.inner.tracker.abort_all();
            self.inner.tracker.idle().await;
        }
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("info", &self.inner.info)
            .field("active", &self.active())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// A service's task: its work, run with its context as the ambient one and the service as
    /// the enclosing owner of scopes entered in it; counted live until the work is dropped.
    struct ServiceTask<F: Future<Output = ()>> {
        #[pin]
        work: Option<F>,
        obs: ServiceTaskObs,
        cx: Option<Cx>,
        scope: EnclosingScope,
        inner: Arc<Inner>,
    }

    impl<F: Future<Output = ()>> PinnedDrop for ServiceTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            this.obs.service_ended(&this.inner.obs, this.work.is_none());
            {
                let _enter = Enter::scope_code(this.cx, this.scope);
                let mut work = this.work.as_mut();
                // A panic dropping the work is the work's; the count must still go down.
                let _ = catch_unwind(AssertUnwindSafe(move || work.set(None)));
            }
            this.inner.tracker.exit();
        }
    }
}

impl<F: Future<Output = ()>> Future for ServiceTask<F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let _enter = Enter::scope_code(this.cx, this.scope);
        let _obs = this.obs.enter();
        let Some(work) = this.work.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        match work.poll(task) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                this.work.set(None);
                Poll::Ready(())
            }
        }
    }
}
