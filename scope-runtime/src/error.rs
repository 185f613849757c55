//! The errors of this crate. Each converts into the user's error type through
//! [`Interrupted`] and `From`.

use std::any::Any;
use std::fmt;
use std::sync::Mutex;

use crate::{Cause, TaskInfo};

/// Why a scope or a child did not produce its value, for reasons other than its own error.
///
/// A scope's error type `E` must implement `From<Interrupted>`: that is how cancellation,
/// deadlines and panics reach the caller through `?`. `anyhow::Error` and
/// `Box<dyn Error + Send + Sync>` implement it already; with `thiserror`, add a variant:
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("not found")]
///     NotFound,
///     #[error(transparent)]
///     Interrupted(#[from] scope_runtime::Interrupted),
/// }
/// let e: AppError = scope_runtime::Interrupted::from_cause(scope_runtime::Cause::explicit("bye")).into();
/// assert_eq!(e.to_string(), "cancelled: bye");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    /// The work was cancelled (not by a deadline).
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    /// A deadline fired.
    #[error(transparent)]
    DeadlineExceeded(#[from] DeadlineExceeded),
    /// A child panicked.
    #[error(transparent)]
    Panicked(#[from] Panicked),
    /// An awaited child failed; its own error went to the scope (see the policies).
    #[error(transparent)]
    ChildFailed(#[from] ChildFailed),
    /// The scope's configuration was invalid; nothing ran.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Interrupted {
    /// The error for work stopped by `cause`: [`DeadlineExceeded`] when the root cause is a
    /// deadline, [`Cancelled`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Cause, Interrupted};
    /// let e = Interrupted::from_cause(Cause::DeadlineExceeded { scope: "fetch".into() });
    /// assert!(matches!(e, Interrupted::DeadlineExceeded(_)));
    /// ```
    #[must_use]
    pub fn from_cause(cause: Cause) -> Self {
        if cause.is_deadline() {
            Interrupted::DeadlineExceeded(DeadlineExceeded { cause })
        } else {
            Interrupted::Cancelled(Cancelled { cause })
        }
    }

    /// The cancellation cause, if this is a cancellation or a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Cause, Interrupted};
    /// let e = Interrupted::from_cause(Cause::explicit("stop"));
    /// assert_eq!(e.cause(), Some(&Cause::explicit("stop")));
    /// ```
    #[must_use]
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Interrupted::Cancelled(c) => Some(&c.cause),
            Interrupted::DeadlineExceeded(d) => Some(&d.cause),
            _ => None,
        }
    }
}

/// Work was cancelled; [`cause`](Cancelled::cause) says why.
///
/// # Examples
///
/// ```
/// use scope_runtime::{Cause, Cancelled};
/// let c = Cancelled::new(Cause::explicit("user pressed stop"));
/// assert_eq!(c.to_string(), "cancelled: user pressed stop");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cancelled: {cause}")]
pub struct Cancelled {
    cause: Cause,
}

impl Cancelled {
    /// A cancellation with this cause.
    #[must_use]
    pub fn new(cause: Cause) -> Self {
        Self { cause }
    }

    /// Why.
    #[must_use]
    pub fn cause(&self) -> &Cause {
        &self.cause
    }
}

/// A deadline fired; [`cause`](DeadlineExceeded::cause) names whose.
///
/// # Examples
///
/// ```
/// use scope_runtime::{Cause, Interrupted};
/// let e = Interrupted::from_cause(Cause::DeadlineExceeded { scope: "fetch".into() });
/// let Interrupted::DeadlineExceeded(d) = e else { unreachable!() };
/// assert_eq!(d.to_string(), "deadline of `fetch` exceeded");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{cause}")]
pub struct DeadlineExceeded {
    cause: Cause,
}

impl DeadlineExceeded {
    /// The cause, whose [`root`](Cause::root) is [`Cause::DeadlineExceeded`].
    #[must_use]
    pub fn cause(&self) -> &Cause {
        &self.cause
    }
}

/// A task panicked. Carries its name, the message and (for the scope that owned the task) the
/// payload, so the caller can [`resume_unwind`](Panicked::resume_unwind) after the siblings
/// have drained.
///
/// # Examples
///
/// ```
/// use scope_runtime::{Panicked, TaskInfo};
/// let p = Panicked::new(TaskInfo::here(Some("worker".into())), Box::new("boom"));
/// assert_eq!(p.to_string(), "task `worker` panicked: boom");
/// assert_eq!(p.message(), "boom");
/// ```
#[derive(thiserror::Error)]
#[error("task `{task}` panicked: {message}")]
pub struct Panicked {
    task: TaskInfo,
    message: String,
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Panicked {
    /// Wraps a panic payload caught from `task`.
    #[must_use]
    pub fn new(task: TaskInfo, payload: Box<dyn Any + Send>) -> Self {
        Self {
            task,
            message: panic_message(payload.as_ref()),
            payload: Mutex::new(Some(payload)),
        }
    }

    pub(crate) fn without_payload(task: TaskInfo, message: String) -> Self {
        Self {
            task,
            message,
            payload: Mutex::new(None),
        }
    }

    /// The task that panicked.
    #[must_use]
    pub fn task(&self) -> &TaskInfo {
        &self.task
    }

    /// The panic's message (`"<non-string panic payload>"` if it was not a string).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Takes the payload, if this error still has it (only the scope's copy does).
    pub fn take_payload(&self) -> Option<Box<dyn Any + Send>> {
        self.payload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Resumes the panic with its original payload, or with the message if the payload was
    /// already taken.
    pub fn resume_unwind(self) -> ! {
        match self.take_payload() {
            Some(payload) => std::panic::resume_unwind(payload),
            None => std::panic::resume_unwind(Box::new(self.message)),
        }
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("task", &self.task)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// The child you awaited failed; its own error went to the scope, which reports it.
///
/// # Examples
///
/// ```
/// use scope_runtime::{ChildFailed, TaskInfo};
/// let e = ChildFailed::new(TaskInfo::here(Some("parse".into())), "bad input".into());
/// assert_eq!(e.to_string(), "task `parse` failed: bad input");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("task `{task}` failed: {message}")]
pub struct ChildFailed {
    task: TaskInfo,
    message: String,
}

impl ChildFailed {
    /// Describes a failure of `task` with its error's message.
    #[must_use]
    pub fn new(task: TaskInfo, message: String) -> Self {
        Self { task, message }
    }

    /// The child that failed.
    #[must_use]
    pub fn task(&self) -> &TaskInfo {
        &self.task
    }

    /// Its error's message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A scope's configuration cannot be used; the scope did not run its body.
///
/// # Examples
///
/// ```
/// use scope_runtime::ConfigError;
/// assert_eq!(ConfigError::ZeroLimit.to_string(), "a scope's limit must be at least 1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `limit(0)`: no child could ever run.
    #[error("a scope's limit must be at least 1")]
    ZeroLimit,
    /// The same slot was bound twice in one scope.
    #[error("slot `{0}` is bound twice in one scope; bind it once (a nested scope may shadow it)")]
    SlotBoundTwice(&'static str),
    /// A scope was run a second time; make a new scope instead.
    #[error("this scope has already been run; a scope runs once, so enter a new one")]
    AlreadyRun,
}

/// Why [`try_spawn`](crate::Scope::try_spawn) refused a child.
///
/// # Examples
///
/// ```
/// use scope_runtime::SpawnError;
/// assert_eq!(SpawnError::Closed.to_string(), "the scope is closed: its body has returned or it was cancelled");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// The scope has begun to finish (its body returned, or it was cancelled).
    #[error("the scope is closed: its body has returned or it was cancelled")]
    Closed,
    /// The scope's limit of running children is reached.
    #[error("the scope is at its limit of running children")]
    Full,
    /// There is no tokio runtime to run the task on.
    #[error("no tokio runtime is running on this thread")]
    NoRuntime,
}

/// One failed task and its error.
///
/// # Examples
///
/// ```
/// use scope_runtime::{Failure, TaskInfo};
/// let f = Failure::new(TaskInfo::here(Some("a".into())), "boom");
/// assert_eq!(f.to_string(), "task `a` failed: boom");
/// ```
#[derive(Debug)]
pub struct Failure<E> {
    task: TaskInfo,
    error: E,
}

impl<E> Failure<E> {
    /// Records that `task` failed with `error`.
    pub fn new(task: TaskInfo, error: E) -> Self {
        Self { task, error }
    }

    /// The task that failed.
    pub fn task(&self) -> &TaskInfo {
        &self.task
    }

    /// Its error.
    pub fn error(&self) -> &E {
        &self.error
    }

    /// Takes the error out.
    pub fn into_error(self) -> E {
        self.error
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task `{}` failed: {}", self.task, self.error)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Every failure of a supervised scope or a race, in the order they happened: the first is
/// the primary one. Nothing is flattened away.
///
/// # Examples
///
/// ```
/// use scope_runtime::{Failure, Failures, TaskInfo};
/// let all = Failures::from(vec![
///     Failure::new(TaskInfo::here(Some("a".into())), "x"),
///     Failure::new(TaskInfo::here(Some("b".into())), "y"),
/// ]);
/// assert_eq!(all.len(), 2);
/// assert_eq!(*all.primary().unwrap().error(), "x");
/// assert_eq!(all.to_string(), "2 tasks failed; first: task `a` failed: x");
/// ```
#[derive(Debug)]
pub struct Failures<E> {
    failures: Vec<Failure<E>>,
}

impl<E> From<Vec<Failure<E>>> for Failures<E> {
    fn from(failures: Vec<Failure<E>>) -> Self {
        Self { failures }
    }
}

impl<E> Failures<E> {
    /// The first failure; `None` only for a race that had no candidate at all.
    pub fn primary(&self) -> Option<&Failure<E>> {
        self.failures.first()
    }

    /// The failures after the first.
    pub fn others(&self) -> &[Failure<E>] {
        self.failures.get(1..).unwrap_or(&[])
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Whether there are none (a race with no candidate).
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// Iterates over them, first to last.
    pub fn iter(&self) -> std::slice::Iter<'_, Failure<E>> {
        self.failures.iter()
    }

    /// Takes them out.
    pub fn into_vec(self) -> Vec<Failure<E>> {
        self.failures
    }
}

impl<'a, E> IntoIterator for &'a Failures<E> {
    type Item = &'a Failure<E>;
    type IntoIter = std::slice::Iter<'a, Failure<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.failures.iter()
    }
}

impl<E> IntoIterator for Failures<E> {
    type Item = Failure<E>;
    type IntoIter = std::vec::IntoIter<Failure<E>>;
    fn into_iter(self) -> Self::IntoIter {
        self.failures.into_iter()
    }
}

impl<E: fmt::Display> fmt::Display for Failures<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.as_slice() {
            [] => f.write_str("no task succeeded: there were no candidates"),
            [only] => write!(f, "{only}"),
            [first, ..] => write!(f, "{} tasks failed; first: {first}", self.failures.len()),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Failures<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures
            .first()
            .map(|f| f as &(dyn std::error::Error + 'static))
    }
}

impl<E: From<Interrupted>> From<Interrupted> for Failures<E> {
    fn from(e: Interrupted) -> Self {
        let task = TaskInfo::here(Some("scope".into()));
        Self {
            failures: vec![Failure::new(task, E::from(e))],
        }
    }
}
