//! The set-up of a service: its name, its bounds, its workers, and its time limits.

use std::borrow::Cow;
use std::time::Duration;

/// The per-task deadline a service gives each task unless told otherwise. See
/// [`ServiceConfig::new`] for why there is one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(scope::DEFAULT_TASK_TIMEOUT, Duration::from_secs(30));
/// ```
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(30);

/// The set-up of a [`Service`](crate::Service).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::ServiceConfig;
/// let config = ServiceConfig::new("audit-log")
///     .capacity(1_000)
///     .workers(4)
///     .task_timeout(Duration::from_secs(5))
///     .grace(Duration::from_secs(1));
/// assert_eq!(config.get_name(), "audit-log");
/// ```
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub(super) name: Cow<'static, str>,
    pub(super) capacity: Option<usize>,
    pub(super) workers: Option<usize>,
    pub(super) task_timeout: Duration,
    pub(super) grace: Duration,
    pub(super) daemon: bool,
    /// `task_timeout` was given: a daemon service keeps it (else its tasks have none).
    pub(super) task_timeout_set: bool,
}

impl ServiceConfig {
    /// A service named `name`: every task starts at once (no worker limit), no bound on the
    /// tasks accepted, each task bounded to [`DEFAULT_TASK_TIMEOUT`] (30 s: its deadline,
    /// dropped 5 s of grace after it), 5 s of grace on stop.
    ///
    /// **Why a task has a deadline by default.** Detached work gets a time bound of its own
    /// (detached work is bounded): it no longer has the request's deadline, and a service lives as long as the
    /// program. A task stuck on a dead peer would otherwise hold its place in the queue (and,
    /// with [`workers`](ServiceConfig::workers), a worker) until the next shutdown, with
    /// nothing to show for it; with a deadline it ends, and an end that is an error (it
    /// returned one, or was dropped after the grace) is reported as a failure
    /// ([`Service::failures`](crate::Service::failures)). A task that winds down on the
    /// deadline and returns `()` or `Ok` has completed: long-running work (a
    /// [`Supervisor`](crate::Supervisor) run as a daemon, a consumer loop) goes in a
    /// [`daemon`](ServiceConfig::daemon) service (no deadline, stopped by the application's
    /// shutdown), or it stops at 30 s. 30 s is longer than the detached
    /// work services are for (an audit write, an email, a cache fill) and than the usual
    /// client timeouts. The task sees the deadline ([`Cx::deadline`](crate::Cx::deadline), and
    /// as a cancellation it can wind down on). Set your own with
    /// [`task_timeout`](ServiceConfig::task_timeout); `Duration::MAX` turns it off (a
    /// task then has no timer, so such a service's tasks also run on a runtime built without
    /// timers; its [`stop`](crate::Service::stop), [`drain`](crate::Service::drain) and a
    /// handle's cancel, which time a grace, still need timers, as tokio's `sleep` does).
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
    /// // Its end is a failure the service reports.
    /// let failures = mailer.failures();
    /// assert_eq!(failures[0].to_string(), "task `mailer` dropped: deadline of `mailer` exceeded");
    /// # });
    /// ```
    #[must_use]
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            capacity: None,
            workers: None,
            task_timeout: DEFAULT_TASK_TIMEOUT,
            grace: Duration::from_secs(5),
            daemon: false,
            task_timeout_set: false,
        }
    }

    /// A service of daemons: long-running work (a consumer loop, a
    /// [`Supervisor`](crate::Supervisor)) that runs until the application shuts down. Its
    /// tasks have no deadline of their own (as `task_timeout(Duration::MAX)`, unless
    /// [`task_timeout`](ServiceConfig::task_timeout) gives one, before or after), and the
    /// application's shutdown cancels them in the service's turn (services drain last made
    /// first, after the main work), with the shutdown's cause: a daemon that then ends within
    /// the service's [grace](ServiceConfig::grace), and within what is left of the
    /// application's, is drained, and the shutdown stays graceful. One that does not end
    /// within the service's grace is dropped then, with the work below it (the spawned
    /// children of the scopes in it are aborted, however long their own graces), and the
    /// service is reported stopped, that task aborted (and a task still waiting for a worker,
    /// never started): work cut short, as for a plain service's stop. One still running when
    /// the application's grace runs out (the service's grace is the longer) is stopped with
    /// the services that have work left. A plain service's tasks are not
    /// cancelled by the shutdown: they are accepted work, drained to their end, and a loop
    /// there would hold the drain for the whole grace and be stopped. Outside an application
    /// nothing tells a daemon to stop but [`Service::stop`](crate::Service::stop): a
    /// [`drain`](crate::Service::drain) of one waits out its budget.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{App, Service, ServiceConfig, Signal};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let signals = futures_util::stream::iter([Signal::Terminate]);
    /// let (_, report) = App::new()
    ///     .run(Duration::from_secs(10), signals, async {
    ///         let consumers = Service::new(ServiceConfig::new("consumers").daemon());
    ///         consumers
    ///             .spawn_named("queue", async {
    ///                 // loop { take a message; handle it } until told to stop:
    ///                 scope::cancelled().await;
    ///             })
    ///             .unwrap()
    ///             .detach();
    ///         scope::cancelled().await; // the main work
    ///     })
    ///     .await;
    /// assert!(report.is_clean()); // the daemon stopped when told: drained, not cut short
    /// # });
    /// ```
    #[must_use]
    pub fn daemon(mut self) -> Self {
        self.daemon = true;
        self
    }

    /// The task deadline the service applies: a daemon's is none unless one was given.
    pub(super) fn effective_task_timeout(&self) -> Duration {
        if self.daemon && !self.task_timeout_set {
            Duration::MAX
        } else {
            self.task_timeout
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

    /// At most `n` tasks accepted and not yet finished (running, or waiting for a worker);
    /// [`Service::spawn`](crate::Service::spawn) refuses more with
    /// [`SpawnError::Full`](crate::SpawnError::Full). `0` refuses every task.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("one-at-a-time").capacity(1));
    /// svc.spawn(std::future::pending::<()>()).unwrap();
    /// assert_eq!(svc.spawn(async {}).err(), Some(SpawnError::Full));
    ///
    /// let none = Service::new(ServiceConfig::new("closed-door").capacity(0));
    /// assert_eq!(none.spawn(async {}).err(), Some(SpawnError::Full));
    /// # });
    /// ```
    #[must_use]
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }

    /// `n` workers: at most `n` tasks run at once, in the order they were accepted; the others
    /// wait in the queue (bounded by [`capacity`](ServiceConfig::capacity)). A task's deadline
    /// starts when a worker takes it, not while it waits. On
    /// [`stop`](crate::Service::stop), tasks still waiting never start (their handles say
    /// [`Interrupted::NotStarted`](crate::Interrupted::NotStarted)); a
    /// [`drain`](crate::Service::drain) runs them. `0` is taken as 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let pool = Service::new(ServiceConfig::new("thumbnails").workers(2).capacity(10));
    /// let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// for _ in 0..6 {
    ///     let (running, peak) = (running.clone(), peak.clone());
    ///     pool.spawn(async move {
    ///         let now = running.fetch_add(1, Ordering::SeqCst) + 1;
    ///         peak.fetch_max(now, Ordering::SeqCst);
    ///         tokio::time::sleep(Duration::from_millis(10)).await;
    ///         running.fetch_sub(1, Ordering::SeqCst);
    ///     })
    ///     .unwrap();
    /// }
    /// let start = tokio::time::Instant::now();
    /// pool.drain(Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(peak.load(Ordering::SeqCst), 2);
    /// assert_eq!(start.elapsed(), Duration::from_millis(30)); // 6 tasks, 2 at a time
    /// # });
    /// ```
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n.max(1));
        self
    }

    /// Each task's own time bound: its context's deadline (the task sees it, in
    /// [`Cx::deadline`](crate::Cx::deadline) and as a cancellation with a deadline cause, so
    /// it can wind down), and a task still running a [`grace`](ServiceConfig::grace) after it
    /// is dropped (and reported as a failure). `Duration::MAX` means no bound of its own. The
    /// clock starts when the task starts running, not at its `spawn`: a task queued behind
    /// the [`workers`](ServiceConfig::workers) limit has its whole bound once it gets a worker.
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
        self.task_timeout_set = true;
        self
    }

    /// How long [`Service::stop`](crate::Service::stop) lets tasks observe cancellation
    /// before aborting them, and how long a task may run on once it is cancelled otherwise:
    /// past its own deadline, or cancelled alone by its handle
    /// ([`ServiceHandle::cancel`](crate::ServiceHandle::cancel)). A budgeted
    /// [`shield_for`](crate::shield_for) running in the service holds these ends off until it
    /// is over. The grace bounds the work below a task too: a task dropped at its end takes
    /// the spawned children of the scopes in it along (aborted at once, however long the
    /// graces those scopes give), as a scope's forced abort takes the scopes below it.
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
    /// svc.spawn(std::future::pending::<()>()).unwrap();
    /// let start = tokio::time::Instant::now();
    /// let report = svc.stop().await;
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// assert_eq!(report.aborted().len(), 1);
    /// assert_eq!(svc.active(), 0);
    /// # });
    /// ```
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}
