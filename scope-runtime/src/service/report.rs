//! What a service tells about its work: failures, drains that overran, and what a stop did.

use std::fmt;
use std::time::Duration;

use crate::info::TaskInfo;

/// A service task that did not finish well: it returned an error, panicked, or was dropped
/// (at its own deadline, by a stop's abort, or by its runtime's shutdown). Kept by the service
/// until read ([`Service::failures`](crate::Service::failures), a [`StopReport`]), so that no
/// failure of detached work is lost, even when nobody holds the task's handle.
///
/// In the service's `tracing` events and metrics (see [`observe`](crate::observe)), a task
/// dropped by a stop's abort, by its runtime's shutdown, or a grace after its handle's
/// `cancel`, is a stop, not a failure: the task reports `task stopped before completing`, and
/// the service, with no other failure, ends `cancelled` (stopped, or its runtime gone) or
/// `completed` (a cancel of one task is its caller's decision), as a scope whose children were
/// aborted does. One dropped a grace after its own deadline is a failure there too, unless a
/// stop's abort reached it first: then it was stopped.
///
/// # Examples
///
/// ```
/// use scope::{Service, ServiceConfig};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let svc = Service::new(ServiceConfig::new("mailer"));
/// svc.spawn_named("welcome-mail", async { Err::<(), _>("smtp refused") }).unwrap();
/// svc.drain(std::time::Duration::from_secs(1)).await.unwrap();
/// let failures = svc.failures();
/// assert_eq!(failures[0].task().name(), Some("welcome-mail"));
/// assert_eq!(failures[0].message(), "smtp refused");
/// assert_eq!(failures[0].to_string(), "task `welcome-mail` failed: smtp refused");
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskFailure {
    pub(super) task: TaskInfo,
    pub(super) kind: FailureKind,
    pub(super) message: String,
}

/// How a service task failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum FailureKind {
    Failed,
    Panicked,
    Dropped,
}

impl TaskFailure {
    /// The task.
    ///
    /// # Examples
    ///
    /// See [`TaskFailure`].
    #[must_use]
    pub fn task(&self) -> &TaskInfo {
        &self.task
    }

    /// Its error's message, the panic's message, or why it was dropped.
    ///
    /// # Examples
    ///
    /// See [`TaskFailure`].
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether it panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("resizer"));
    /// let _ = svc
    ///     .spawn(async {
    ///         let image: Option<u8> = None;
    ///         image.expect("bad image");
    ///     })
    ///     .unwrap();
    /// svc.drain(std::time::Duration::from_secs(1)).await.unwrap();
    /// let failures = svc.failures();
    /// assert!(failures[0].panicked());
    /// assert_eq!(failures[0].to_string(), "task `resizer` panicked: bad image");
    /// # });
    /// ```
    #[must_use]
    pub fn panicked(&self) -> bool {
        self.kind == FailureKind::Panicked
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.kind {
            FailureKind::Failed => "failed",
            FailureKind::Panicked => "panicked",
            FailureKind::Dropped => "dropped",
        };
        write!(f, "task `{}` {verb}: {}", self.task, self.message)
    }
}

/// A task's failure is an error, for `?` into `anyhow` or a boxed error. It has no
/// [`source`](std::error::Error::source): the task's error was turned into its message when
/// the service recorded it.
impl std::error::Error for TaskFailure {}

/// What a drain that gave up found still running, for its message.
fn what_still_runs(tasks: usize) -> String {
    if tasks == 0 {
        "work left by the service's ended tasks".to_owned()
    } else {
        format!("{tasks} task(s)")
    }
}

/// Why [`Service::drain`](crate::Service::drain) gave up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::DrainError;
/// let e = DrainError::Overrun { still_running: 2, budget: Duration::from_secs(1) };
/// assert_eq!(e.to_string(), "2 task(s) still running after the drain budget of 1s");
/// let e = DrainError::Overrun { still_running: 0, budget: Duration::from_secs(1) };
/// assert_eq!(
///     e.to_string(),
///     "work left by the service's ended tasks still running after the drain budget of 1s"
/// );
/// ```
///
/// Exhaustive, as [`Interrupted`](crate::Interrupted) is: a drain gives up only when its
/// budget runs out, and a new reason would be a breaking change of this crate, not a variant
/// added unseen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DrainError {
    /// The budget ran out with work still running (it keeps running; call
    /// [`Service::stop`](crate::Service::stop) to end it).
    #[error("{} still running after the drain budget of {budget:?}", what_still_runs(*.still_running))]
    Overrun {
        /// Tasks alive when the budget ran out (as [`Service::active`](crate::Service::active)
        /// counts them). 0 when what still runs is work its ended tasks left behind (a
        /// blocking closure of a scope in a task, which no abort stops, ends when it returns).
        still_running: usize,
        /// The budget.
        budget: Duration,
    },
}

/// What [`Service::stop`](crate::Service::stop) did: which tasks it cancelled and saw end
/// within the grace, which it had to abort, how many never started, and the failures not
/// yet reported.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Service, ServiceConfig};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let svc = Service::new(ServiceConfig::new("sync").grace(Duration::from_millis(50)));
/// svc.spawn_named("polite", async { scope::cancelled().await; }).unwrap();
/// svc.spawn_named("stubborn", std::future::pending::<()>()).unwrap();
/// let report = svc.stop().await;
/// assert_eq!(report.stopped()[0].name(), Some("polite"));
/// assert_eq!(report.aborted()[0].name(), Some("stubborn"));
/// assert!(!report.is_clean());
/// assert_eq!(report.to_string(), "service `sync`: 1 stopped within the grace (polite); 1 aborted (stubborn)");
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[must_use = "the report holds the failures the stop took from the service: nothing else says them"]
pub struct StopReport {
    pub(super) service: Option<TaskInfo>,
    pub(super) stopped: Vec<TaskInfo>,
    pub(super) aborted: Vec<TaskInfo>,
    pub(super) not_started: usize,
    pub(super) failures: Vec<TaskFailure>,
}

impl StopReport {
    /// The service.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let report = Service::new(ServiceConfig::new("idle")).stop().await;
    /// assert_eq!(report.service().unwrap().name(), Some("idle"));
    /// assert!(report.is_clean());
    /// assert_eq!(report.to_string(), "service `idle`: nothing was running");
    /// # });
    /// ```
    #[must_use]
    pub fn service(&self) -> Option<&TaskInfo> {
        self.service.as_ref()
    }

    /// The tasks that were running when the stop cancelled them and ended within the grace.
    ///
    /// # Examples
    ///
    /// See [`StopReport`].
    #[must_use]
    pub fn stopped(&self) -> &[TaskInfo] {
        &self.stopped
    }

    /// The tasks still running after the grace (and after the budgets of their
    /// [`shield_for`](crate::shield_for) regions), which the stop aborted (one stuck in
    /// synchronous code is listed too, though the abort cannot stop it: it ends when its
    /// call returns).
    ///
    /// # Examples
    ///
    /// See [`StopReport`].
    #[must_use]
    pub fn aborted(&self) -> &[TaskInfo] {
        &self.aborted
    }

    /// Tasks that waited for a worker and never started.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("one-worker").workers(1));
    /// svc.spawn(async { scope::cancelled().await; }).unwrap();
    /// let queued = svc.spawn(async {}).unwrap();
    /// tokio::task::yield_now().await;
    /// let report = svc.stop().await;
    /// assert_eq!(report.not_started(), 1);
    /// assert!(matches!(queued.await, Err(scope::Interrupted::NotStarted(_))));
    /// # });
    /// ```
    #[must_use]
    pub fn not_started(&self) -> usize {
        self.not_started
    }

    /// Failures not reported before (see [`Service::failures`](crate::Service::failures)),
    /// the tasks the abort dropped included. A task stuck in synchronous code, which no abort
    /// stops, is listed [`aborted`](StopReport::aborted) but is not among these: it runs on
    /// to its end, and what it returns goes to its handle, not to the failures (an error
    /// returned after a stop answers the stop).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let svc = Service::new(ServiceConfig::new("audit"));
    /// svc.spawn(async { Err::<(), _>("disk full") }).unwrap();
    /// tokio::task::yield_now().await;
    /// let report = svc.stop().await;
    /// assert_eq!(report.failures()[0].message(), "disk full");
    /// # });
    /// ```
    #[must_use]
    pub fn failures(&self) -> &[TaskFailure] {
        &self.failures
    }

    /// Whether the stop found nothing to cut short: no task was running or waiting.
    ///
    /// # Examples
    ///
    /// See [`StopReport`].
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.stopped.is_empty() && self.aborted.is_empty() && self.not_started == 0
    }
}

fn names(tasks: &[TaskInfo]) -> String {
    tasks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl StopReport {
    /// The report without its failures.
    pub(crate) fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// A [`StopReport`] without its failures, displayed.
pub(crate) struct Summary<'a>(&'a StopReport);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.0;
        match &this.service {
            Some(s) => write!(f, "service `{s}`: ")?,
            None => f.write_str("service: ")?,
        }
        let mut parts = Vec::new();
        if !this.stopped.is_empty() {
            parts.push(format!(
                "{} stopped within the grace ({})",
                this.stopped.len(),
                names(&this.stopped)
            ));
        }
        if !this.aborted.is_empty() {
            parts.push(format!(
                "{} aborted ({})",
                this.aborted.len(),
                names(&this.aborted)
            ));
        }
        if this.not_started > 0 {
            parts.push(format!("{} never started", this.not_started));
        }
        if parts.is_empty() {
            f.write_str("nothing was running")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        for failure in &self.failures {
            // An aborted task is named above already.
            if !self.aborted.iter().any(|t| t.id() == failure.task.id()) {
                write!(f, "; {failure}")?;
            }
        }
        Ok(())
    }
}
