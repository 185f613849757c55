//! The errors of this crate. Each converts into the user's error type through
//! [`Interrupted`] and `From`.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cause::Cause;
use crate::info::TaskInfo;

/// Why a scope or a child did not produce its value, for reasons other than its own error.
///
/// A scope's error type `E` must implement `From<Interrupted>`: that is how cancellation,
/// deadlines and panics reach the caller through `?`. `anyhow::Error`,
/// `Box<dyn Error + Send + Sync>` and `std::io::Error` implement it already; with `thiserror`,
/// add a variant:
///
/// ```
/// #[derive(Clone, Debug, PartialEq, thiserror::Error)]
/// enum AppError {
///     #[error("not found")]
///     NotFound,
///     #[error(transparent)]
///     Interrupted(#[from] scope::Interrupted),
/// }
/// let e: AppError = scope::Interrupted::from_cause(scope::Cause::explicit("bye")).into();
/// assert_eq!(e.to_string(), "cancelled: bye");
/// assert_eq!(e.clone(), e);
/// ```
///
/// Match it exhaustively, as [`Cause`]: which way a child ended decides what code does next,
/// so a new kind is a breaking change of this crate, not a variant added unseen. (The
/// enums that say what a call refused, [`ConfigError`] and [`SpawnError`], and
/// [`Signal`](crate::Signal), are `#[non_exhaustive]`: a new reason there needs no new
/// handling.)
///
/// It is `Clone` and `PartialEq`, so an error type that wraps it can derive both (and tests
/// can `assert_eq!` on results); a clone of a [`Panicked`] carries no payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
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
    /// The child never ran: it was spawned into a closed scope; or it waited for its scope to
    /// start, for a slot of its limit, or for its first poll, and the scope was cancelled (or
    /// failed) first (a spawned child the runtime has not polled yet when the cancel comes
    /// does not start, whatever the grace: the grace is for children that have started); or
    /// it was cancelled or aborted through its handle before its first poll. Its future was
    /// dropped without being polled.
    #[error(transparent)]
    NotStarted(#[from] NotStarted),
}

/// `std::io::Error` is a scope's error type as it is (a fn returning `io::Result<T>`, tokio's
/// usual `main`): an interruption becomes an I/O error of kind
/// [`TimedOut`](std::io::ErrorKind::TimedOut) when its cause is a deadline (a child that never
/// started because of one included) and
/// [`Other`](std::io::ErrorKind::Other) otherwise (never `Interrupted`, which read loops
/// retry), with the [`Interrupted`] as its inner error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new().timeout(Duration::from_millis(10)));
/// let out: std::io::Result<()> = s
///     .run(async {
///         tokio::time::sleep(Duration::from_secs(1)).await;
///         Ok(())
///     })
///     .await;
/// let e = out.unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
/// let why = e.get_ref().and_then(|e| e.downcast_ref::<Interrupted>());
/// assert!(matches!(why, Some(Interrupted::DeadlineExceeded(_))));
/// # });
/// ```
impl From<Interrupted> for std::io::Error {
    fn from(e: Interrupted) -> Self {
        // A deadline's cause also reaches a child that never started because of it
        // (`NotStarted`): timed out all the same.
        let kind = if e.cause().is_some_and(Cause::is_deadline) {
            std::io::ErrorKind::TimedOut
        } else {
            std::io::ErrorKind::Other
        };
        std::io::Error::new(kind, e)
    }
}

impl Interrupted {
    /// The error for work stopped by `cause`: [`DeadlineExceeded`] when the root cause is a
    /// deadline, [`Cancelled`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Interrupted};
    /// let e = Interrupted::from_cause(Cause::DeadlineExceeded { scope: "fetch".into() });
    /// assert!(matches!(e, Interrupted::DeadlineExceeded(_)));
    /// ```
    #[must_use]
    pub fn from_cause(cause: Cause) -> Self {
        Self::from_shared_cause(Arc::new(cause))
    }

    /// [`from_cause`](Interrupted::from_cause) for a cause the context tree already shares.
    pub(crate) fn from_shared_cause(cause: Arc<Cause>) -> Self {
        if cause.is_deadline() {
            Interrupted::DeadlineExceeded(DeadlineExceeded { cause })
        } else {
            Interrupted::Cancelled(Cancelled { cause })
        }
    }

    /// The cancellation cause, if this is a cancellation, a deadline, or a child that never
    /// started (why its scope closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Interrupted};
    /// let e = Interrupted::from_cause(Cause::explicit("stop"));
    /// assert_eq!(e.cause(), Some(&Cause::explicit("stop")));
    /// ```
    #[must_use]
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Interrupted::Cancelled(c) => Some(c.cause.as_ref()),
            Interrupted::DeadlineExceeded(d) => Some(d.cause.as_ref()),
            Interrupted::NotStarted(n) => Some(n.cause.as_ref()),
            _ => None,
        }
    }
}

/// A child never ran; [`cause`](NotStarted::cause) says why its scope closed (or, while the
/// scope ran on, why the child itself was cancelled before its first poll).
///
/// # Examples
///
/// ```
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// s.run(async {
///     s.cancel("shutting down");
///     let late = s.spawn(async { Ok::<_, Interrupted>(1) });
///     let Err(Interrupted::NotStarted(n)) = late.await else { unreachable!() };
///     assert_eq!(n.cause().to_string(), "shutting down");
///     assert_eq!(n.to_string(), "not started: shutting down");
///     Ok::<_, Interrupted>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("not started: {cause}")]
pub struct NotStarted {
    cause: Arc<Cause>,
}

impl NotStarted {
    /// A child that never started, for this cause (what a test double of a refused or
    /// queued child returns).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Interrupted, NotStarted};
    /// let e: Interrupted = NotStarted::new(Cause::explicit("the queue is full")).into();
    /// assert!(matches!(&e, Interrupted::NotStarted(n) if n.cause() == &Cause::explicit("the queue is full")));
    /// assert_eq!(e.to_string(), "not started: the queue is full");
    /// ```
    #[must_use]
    pub fn new(cause: Cause) -> Self {
        Self {
            cause: Arc::new(cause),
        }
    }

    pub(crate) fn from_shared_cause(cause: Arc<Cause>) -> Self {
        Self { cause }
    }

    /// Why it never ran.
    ///
    /// # Examples
    ///
    /// A child waiting for a slot when its scope is cancelled never starts:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(1).grace(Duration::from_secs(1)));
    /// s.run(async {
    ///     let busy = s.spawn(std::future::pending::<()>());
    ///     let queued = s.spawn(async {}); // waits for the slot `busy` holds
    ///     s.cancel("enough");
    ///     let Err(Interrupted::NotStarted(n)) = queued.await else { unreachable!() };
    ///     assert_eq!(n.cause().to_string(), "enough");
    ///     drop(busy);
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[must_use]
    pub fn cause(&self) -> &Cause {
        self.cause.as_ref()
    }
}

/// Work was cancelled; [`cause`](Cancelled::cause) says why.
///
/// # Examples
///
/// ```
/// use scope::{Cause, Cancelled};
/// let c = Cancelled::new(Cause::explicit("user pressed stop"));
/// assert_eq!(c.to_string(), "cancelled: user pressed stop");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("cancelled: {cause}")]
pub struct Cancelled {
    cause: Arc<Cause>,
}

impl Cancelled {
    /// A cancellation with this cause.
    ///
    /// # Examples
    ///
    /// It is what [`Interrupted::from_cause`] makes of any cause but a deadline:
    ///
    /// ```
    /// use scope::{Cancelled, Cause, Interrupted};
    /// let cause = Cause::explicit("user pressed stop");
    /// let e = Interrupted::from_cause(cause.clone());
    /// assert!(matches!(e, Interrupted::Cancelled(c) if c == Cancelled::new(cause)));
    /// ```
    #[must_use]
    pub fn new(cause: Cause) -> Self {
        Self {
            cause: Arc::new(cause),
        }
    }

    /// Why.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         s.cancel("enough");
    ///         std::future::pending::<()>().await; // never looks: dropped
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// let Err(Interrupted::Cancelled(c)) = out else { unreachable!() };
    /// assert_eq!(c.cause(), &Cause::explicit("enough"));
    /// # });
    /// ```
    #[must_use]
    pub fn cause(&self) -> &Cause {
        self.cause.as_ref()
    }
}

/// A deadline fired; [`cause`](DeadlineExceeded::cause) names whose.
///
/// # Examples
///
/// ```
/// use scope::{Cause, Interrupted};
/// let e = Interrupted::from_cause(Cause::DeadlineExceeded { scope: "fetch".into() });
/// let Interrupted::DeadlineExceeded(d) = e else { unreachable!() };
/// assert_eq!(d.to_string(), "deadline of `fetch` exceeded");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{cause}")]
pub struct DeadlineExceeded {
    cause: Arc<Cause>,
}

impl DeadlineExceeded {
    /// The cause, whose [`root`](Cause::root) is [`Cause::DeadlineExceeded`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Cause, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().name("fetch").timeout(Duration::from_millis(10)));
    /// let out = s
    ///     .run(async {
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// let Err(Interrupted::DeadlineExceeded(d)) = out else { unreachable!() };
    /// assert!(matches!(d.cause().root(), Cause::DeadlineExceeded { scope } if scope == "fetch"));
    /// # });
    /// ```
    #[must_use]
    pub fn cause(&self) -> &Cause {
        self.cause.as_ref()
    }

    /// Whether the deadline that fired was inherited: set above the scope whose error this is
    /// (its cause is [`Cause::ParentCancelled`]), not that scope's own `timeout` or
    /// `deadline`.
    ///
    /// This is what tells "my timeout ran out, go on without the value" from "the caller's
    /// time is up": the first may be answered with a fallback, the second must go up, or the
    /// fallback becomes the outer scope's success after its own deadline.
    ///
    /// It says which deadline fired first for that scope, not whether the caller's has
    /// passed too: with the two within a timer tick (a millisecond), both may be due, and the
    /// fallback reaches a caller whose deadline has just passed. And it reads the error as it
    /// is: one a scope further down returned and the scope passed up with `?` reads as that
    /// scope's own (its [`cause`](DeadlineExceeded::cause) names it), so match the scope you
    /// mean where several can answer.
    ///
    /// # Examples
    ///
    /// A timeout that gives `None` when it runs out (a `move_on_after`, a
    /// `withTimeoutOrNull`), and lets the caller's deadline through:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    ///
    /// async fn fetch_or_none(timeout: Duration) -> Result<Option<u32>, Interrupted> {
    ///     let s = &Scope::new(Config::new().name("fetch").timeout(timeout));
    ///     let out = s
    ///         .run(async {
    ///             tokio::time::sleep(Duration::from_millis(100)).await;
    ///             Ok::<_, Interrupted>(7)
    ///         })
    ///         .await;
    ///     match out {
    ///         Ok(v) => Ok(Some(v)),
    ///         Err(Interrupted::DeadlineExceeded(d)) if !d.is_inherited() => Ok(None),
    ///         Err(e) => Err(e),
    ///     }
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// // Its own timeout: a fallback.
    /// assert!(matches!(fetch_or_none(Duration::from_millis(10)).await, Ok(None)));
    /// // The caller's deadline, earlier than its own: the caller's error, not a fallback.
    /// let outer = &Scope::new(Config::new().name("request").timeout(Duration::from_millis(10)));
    /// let out = outer.run(fetch_or_none(Duration::from_secs(1))).await;
    /// let Err(Interrupted::DeadlineExceeded(d)) = out else { unreachable!("{out:?}") };
    /// assert_eq!(d.to_string(), "deadline of `request` exceeded");
    /// # });
    /// ```
    #[must_use]
    pub fn is_inherited(&self) -> bool {
        matches!(*self.cause, Cause::ParentCancelled(_))
    }
}

/// A task panicked. Carries its name, the message and (for the scope that owned the task) the
/// payload, so the caller can [`resume_unwind`](Panicked::resume_unwind) after the siblings
/// have drained.
///
/// A program built with `panic = "abort"` never sees one made by a scope: the process ends
/// at the panic itself.
///
/// # Examples
///
/// ```
/// use scope::{Panicked, TaskInfo};
/// let p = Panicked::new(TaskInfo::here(Some("worker".into())), Box::new("boom"));
/// assert_eq!(p.to_string(), "task `worker` panicked: boom");
/// assert_eq!(p.message(), "boom");
/// ```
#[derive(thiserror::Error)]
#[error("task `{}` panicked: {}", .inner.task, .inner.message)]
pub struct Panicked {
    // Boxed: errors travel in `Result`s, which stay small this way.
    inner: Box<PanickedInner>,
}

struct PanickedInner {
    task: TaskInfo,
    message: String,
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Panicked {
    /// Wraps a panic payload caught from `task`.
    ///
    /// # Examples
    ///
    /// The message is read from the payload:
    ///
    /// ```
    /// use scope::{Panicked, TaskInfo};
    /// let p = Panicked::new(TaskInfo::here(None), Box::new(format!("index {} out of range", 7)));
    /// assert_eq!(p.message(), "index 7 out of range");
    /// let odd = Panicked::new(TaskInfo::here(None), Box::new(42_u32));
    /// assert_eq!(odd.message(), "<non-string panic payload>");
    /// ```
    #[must_use]
    pub fn new(task: TaskInfo, payload: Box<dyn Any + Send>) -> Self {
        Self {
            inner: Box::new(PanickedInner {
                task,
                message: panic_message(payload.as_ref()),
                payload: Mutex::new(Some(payload)),
            }),
        }
    }

    pub(crate) fn without_payload(task: TaskInfo, message: String) -> Self {
        Self {
            inner: Box::new(PanickedInner {
                task,
                message,
                payload: Mutex::new(None),
            }),
        }
    }

    /// The task that panicked.
    ///
    /// # Examples
    ///
    /// A child's panic reaches the scope's caller with the child's name:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         s.spawn_named("worker", async { None::<u8>.expect("boom"); });
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// let Err(Interrupted::Panicked(p)) = out else { unreachable!() };
    /// assert_eq!(p.task().name(), Some("worker"));
    /// assert_eq!(p.to_string(), "task `worker` panicked: boom");
    /// # });
    /// ```
    #[must_use]
    pub fn task(&self) -> &TaskInfo {
        &self.inner.task
    }

    /// The panic's message (`"<non-string panic payload>"` if it was not a string).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Panicked, TaskInfo};
    /// let p = Panicked::new(TaskInfo::here(None), Box::new("boom"));
    /// assert_eq!(p.message(), "boom");
    /// ```
    #[must_use]
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Takes the payload, if this error still has it (only the scope's copy does).
    ///
    /// # Examples
    ///
    /// The error the scope returns holds the payload, once:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// fn crash() {
    ///     std::panic::panic_any(7_u8); // a payload that is not a message
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         s.spawn(async { crash() });
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// let Err(Interrupted::Panicked(p)) = out else { unreachable!() };
    /// let payload = p.take_payload().unwrap();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
    /// assert!(p.take_payload().is_none());
    /// # });
    /// ```
    pub fn take_payload(&self) -> Option<Box<dyn Any + Send>> {
        self.inner
            .payload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Resumes the panic with its original payload, or with the message if the payload was
    /// already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// use scope::{Panicked, TaskInfo};
    /// let p = Panicked::new(TaskInfo::here(None), Box::new(7_u8));
    /// let payload = catch_unwind(AssertUnwindSafe(|| p.resume_unwind())).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&7)); // the original payload
    ///
    /// let taken = Panicked::new(TaskInfo::here(None), Box::new("boom"));
    /// drop(taken.take_payload());
    /// let payload = catch_unwind(AssertUnwindSafe(|| taken.resume_unwind())).unwrap_err();
    /// assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom"));
    /// ```
    pub fn resume_unwind(self) -> ! {
        match self.take_payload() {
            Some(payload) => std::panic::resume_unwind(payload),
            None => std::panic::resume_unwind(Box::new(self.inner.message)),
        }
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("task", &self.inner.task)
            .field("message", &self.inner.message)
            .finish_non_exhaustive()
    }
}

/// A clone names the same task and message, without the payload, which stays with the
/// original (one value owns a panic's payload: see [`take_payload`](Panicked::take_payload)).
///
/// # Examples
///
/// ```
/// use scope::{Panicked, TaskInfo};
/// let p = Panicked::new(TaskInfo::here(Some("worker".into())), Box::new("boom"));
/// let copy = p.clone();
/// assert_eq!(copy, p); // the same task and message
/// assert!(copy.take_payload().is_none());
/// assert!(p.take_payload().is_some());
/// ```
impl Clone for Panicked {
    fn clone(&self) -> Self {
        Self::without_payload(self.inner.task.clone(), self.inner.message.clone())
    }
}

/// Two panics are equal when they name the same task with the same message (the payload is
/// not compared: it is any value, and a clone has none).
impl PartialEq for Panicked {
    fn eq(&self, other: &Self) -> bool {
        self.inner.task == other.inner.task && self.inner.message == other.inner.message
    }
}

impl Eq for Panicked {}

/// Hashes what [`PartialEq`] compares: the task and the message.
impl std::hash::Hash for Panicked {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.task.hash(state);
        self.inner.message.hash(state);
    }
}

/// Drops a value the crate lets go of (an error it does not keep, a panic's payload): user
/// code, whose `Drop` may panic. Called with no lock held; returns the panic's payload, which
/// the caller reports as a panic of the task the value came from.
pub(crate) fn drop_caught<T>(value: T) -> Result<(), Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(move || drop(value)))
}

/// Drops a value after a first panic of the same task, which is the one reported: a second
/// panic, of this value's `Drop`, is caught and its payload forgotten (its own destructor
/// could panic again, and nothing is left to report it to).
pub(crate) fn drop_after_panic<T>(value: T) {
    if let Err(second) = drop_caught(value) {
        std::mem::forget(second);
    }
}

/// Runs `wake`, a wake of a waker that may be a user's, in bookkeeping that must go on to its
/// end whatever the waker does (a child's exit given back up the trackers, a slot handed on,
/// a waiter parked on a child's context): a panic of the waker is caught and its payload
/// dropped, as tokio drops the panic of a task's join waker. (The wake itself is delivered
/// or not, as the waker chose.)
pub(crate) fn wake_caught(wake: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(wake)) {
        drop_after_panic(panic);
    }
}

/// Hands a user's panic (a callback's, a waker's) back to the caller, unless a panic already
/// unwinds through the caller (a guard's `Drop` that cancels): that one is reported, and a
/// second unwinding out of a destructor would abort the process, so this one is dropped as
/// [`drop_after_panic`] does.
pub(crate) fn resume_unless_unwinding(payload: Box<dyn Any + Send>) {
    if std::thread::panicking() {
        drop_after_panic(payload);
    } else {
        std::panic::resume_unwind(payload);
    }
}

/// The first panic of a user's `on_cancel` callback that a unit of work (a scope, a service
/// task) keeps for its end, until it takes it for good: one that comes after that is given
/// back, for the code that made it to take (see `cx::tree::fire_deadline`).
#[derive(Default)]
pub(crate) struct KeptPanic(crate::sync::Mutex<(Option<Box<dyn Any + Send>>, bool)>);

impl KeptPanic {
    /// Keeps `payload` (a later one than the first is dropped, outside the lock); given back
    /// once the panic kept was taken for good.
    pub(crate) fn keep(&self, payload: Box<dyn Any + Send>) -> Option<Box<dyn Any + Send>> {
        let later = {
            let mut kept = self.0.lock();
            if kept.1 {
                return Some(payload);
            }
            if kept.0.is_none() {
                kept.0 = Some(payload);
                None
            } else {
                Some(payload)
            }
        };
        // A later panic's payload (user code) is dropped outside the lock, under a catch.
        drop_after_panic(later);
        None
    }

    /// The panic kept, if any, taken for good.
    pub(crate) fn take(&self) -> Option<Box<dyn Any + Send>> {
        let mut kept = self.0.lock();
        kept.1 = true;
        kept.0.take()
    }
}

/// Keeps the first of several panics of one pass (callbacks, releases): a later one is dropped
/// as [`drop_after_panic`] does.
pub(crate) fn keep_first(first: &mut Option<Box<dyn Any + Send>>, later: Box<dyn Any + Send>) {
    match first {
        Some(_) => drop_after_panic(later),
        None => *first = Some(later),
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

/// The child you awaited failed; its own error went to the scope, which reports it. (An error
/// the scope drops as the consequence of its cancel reads as that cancel instead: see
/// [`Child`](crate::Child).)
///
/// # Examples
///
/// ```
/// use scope::{ChildFailed, TaskInfo};
/// let e = ChildFailed::new(TaskInfo::here(Some("parse".into())), "bad input".into());
/// assert_eq!(e.to_string(), "task `parse` failed: bad input");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("task `{}` failed: {}", .inner.0, .inner.1)]
pub struct ChildFailed {
    // Boxed: errors travel in `Result`s, which stay small this way.
    inner: Box<(TaskInfo, String)>,
}

impl fmt::Debug for ChildFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildFailed")
            .field("task", &self.inner.0)
            .field("message", &self.inner.1)
            .finish()
    }
}

impl ChildFailed {
    /// Describes a failure of `task` with its error's message.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ChildFailed, Interrupted, TaskInfo};
    /// let e: Interrupted = ChildFailed::new(TaskInfo::here(Some("parse".into())), "bad input".into()).into();
    /// assert!(matches!(e, Interrupted::ChildFailed(_)));
    /// assert_eq!(e.cause(), None); // not a cancellation
    /// ```
    #[must_use]
    pub fn new(task: TaskInfo, message: String) -> Self {
        Self {
            inner: Box::new((task, message)),
        }
    }

    /// The child that failed.
    ///
    /// # Examples
    ///
    /// Awaiting a failed child gives a `ChildFailed`; the error itself goes to the scope:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run_all(async {
    ///         let child = s.spawn_named("parse", async { Err::<u8, E>("bad input".into()) });
    ///         let Err(Interrupted::ChildFailed(failed)) = child.await else { unreachable!() };
    ///         assert_eq!(failed.task().name(), Some("parse"));
    ///         assert_eq!(failed.message(), "bad input");
    ///         Ok::<_, E>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().primary().unwrap().error().to_string(), "bad input");
    /// # });
    /// ```
    #[must_use]
    pub fn task(&self) -> &TaskInfo {
        &self.inner.0
    }

    /// Its error's message.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ChildFailed, TaskInfo};
    /// let e = ChildFailed::new(TaskInfo::here(None), "bad input".into());
    /// assert_eq!(e.message(), "bad input");
    /// ```
    #[must_use]
    pub fn message(&self) -> &str {
        &self.inner.1
    }
}

/// A scope's configuration cannot be used; the scope did not run its body.
///
/// # Examples
///
/// ```
/// use scope::ConfigError;
/// assert_eq!(ConfigError::ZeroLimit.to_string(), "a scope's limit must be at least 1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
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
    /// An [`App`](crate::App) was run a second time, or inside its own run; make a new
    /// application instead ([`ShutdownReport::refused`](crate::ShutdownReport::refused)).
    #[error(
        "this application has already been run (or is running); an application runs once, so \
         make a new one"
    )]
    AppAlreadyRun,
    /// A [`Supervisor`](crate::Supervisor)'s limit is below its number of children: each
    /// child runs for the supervisor's whole life, so the ones past the limit would never
    /// start.
    #[error(
        "a supervisor's limit ({limit}) is below its number of children ({children}): each \
         child runs for the supervisor's life, so one would never start; drop the limit"
    )]
    #[non_exhaustive]
    LimitBelowChildren {
        /// The limit set.
        limit: usize,
        /// The children added.
        children: usize,
    },
    /// A wait that needs tokio's timer (a [`Retry`](crate::Retry)'s or a
    /// [`Supervisor`](crate::Supervisor)'s backoff, an [`App`](crate::App)'s shutdown) where
    /// none runs: outside a tokio runtime, or on one built without timers (where tokio itself
    /// panics). Telling a runtime without timers costs a panic of tokio's, caught: the panic
    /// hook prints it, and under `panic = "abort"` it is the abort tokio's own timer would
    /// give there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{ConfigError, Interrupted, Retry};
    /// let no_timers = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let out = no_timers.block_on(Retry::new().run(|_| async {
    ///     Err::<(), _>(Interrupted::from_cause(scope::Cause::explicit("unavailable")))
    /// }));
    /// let Err(Interrupted::Config(e)) = out else { unreachable!() };
    /// let ConfigError::NoTimer { what, wait, .. } = e.clone() else { unreachable!() };
    /// assert_eq!((what, wait), ("a retry's backoff", Duration::from_millis(100)));
    /// assert!(e.to_string().starts_with("a retry's backoff (100ms) needs tokio's timer"));
    /// ```
    #[error(
        "{what} ({wait:?}) needs tokio's timer, and none runs here: use a tokio runtime built \
         with `enable_time()` (or `enable_all()`)"
    )]
    #[non_exhaustive]
    NoTimer {
        /// What waits: `"a retry's backoff"`, `"a supervisor's backoff"`, `"an
        /// application's shutdown grace"`.
        what: &'static str,
        /// How long it would have waited.
        wait: Duration,
    },
}

/// Why a scope's [`try_spawn`](crate::Scope::try_spawn) (or `try_spawn_in_place`, or the
/// `try_spawn!` macros) refused a child, its [`try_reserve`](crate::Scope::try_reserve)
/// refused a slot, or a service's [`spawn`](crate::Service::spawn) refused a task.
///
/// # Examples
///
/// ```
/// use scope::SpawnError;
/// assert_eq!(SpawnError::Closed.to_string(), "closed to new work");
/// let full = SpawnError::Full.to_string();
/// assert_eq!(full, "full: at its limit of children or its capacity");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// Closed to new work: a scope whose body has returned or that was cancelled, or a
    /// service that is draining, drained or stopped.
    #[error("closed to new work")]
    Closed,
    /// A scope's limit is reached (the children holding or waiting for a slot fill it; for
    /// [`Scope::try_reserve`](crate::Scope::try_reserve), also while earlier children have
    /// not had their first poll yet), or a
    /// service's [`capacity`](crate::ServiceConfig::capacity) (the tasks it accepted that
    /// have not finished fill it).
    #[error("full: at its limit of children or its capacity")]
    Full,
    /// No tokio runtime to run the task on. Only [`Service::spawn`](crate::Service::spawn)
    /// (and `spawn_named`) returns it: without a runtime, a scope's spawned child runs in
    /// place, on the scope's own task.
    #[error("no tokio runtime is running on this thread")]
    NoRuntime,
    /// The scope does not run yet: [`Scope::try_reserve`](crate::Scope::try_reserve) on a
    /// scope with a limit, whose slots are handed out only while it runs.
    #[error("not running yet: a scope hands out slots of its limit while it runs")]
    NotRunning,
}

/// One failed task and its error.
///
/// # Examples
///
/// ```
/// use scope::{Failure, TaskInfo};
/// let f = Failure::new(TaskInfo::here(Some("a".into())), "boom");
/// assert_eq!(f.to_string(), "task `a` failed: boom");
/// ```
///
/// It is `Clone` and `Eq` when its error is (a [`Panicked`]'s clone carries no payload), and
/// so is [`Failures`]. Two failures are equal when their tasks and their errors are (a task is
/// known by its id, so a failure equals its clones, and one made from its task and error):
///
/// ```
/// use scope::{Failure, Failures, TaskInfo};
/// let f = Failure::new(TaskInfo::here(Some("a".into())), "boom");
/// assert_eq!(f.clone(), f);
/// assert_eq!(Failure::new(f.task().clone(), "boom"), f);
/// let all = Failures::from(vec![f]);
/// assert_eq!(all.clone(), all);
/// ```
#[derive(Clone)]
pub struct Failure<E> {
    task: TaskInfo,
    error: E,
    said: Said,
}

/// How a failure's message names its task: each task once, and a scope as a scope.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Said {
    /// "task `x` failed: {error}".
    Failed,
    /// The error names the task already (a panic's, an awaited child's failure): "{error}".
    ByTheError,
    /// The scope's own entry (it was interrupted, no failure explains it): "scope `x`: {error}".
    Scope,
}

// Not derived: how its message names the task (`said`) is not part of what it is.
impl<E: PartialEq> PartialEq for Failure<E> {
    fn eq(&self, other: &Self) -> bool {
        self.task == other.task && self.error == other.error
    }
}

impl<E: Eq> Eq for Failure<E> {}

/// Hashes what [`PartialEq`] compares: the task and the error.
impl<E: std::hash::Hash> std::hash::Hash for Failure<E> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.task.hash(state);
        self.error.hash(state);
    }
}

impl<E: fmt::Debug> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("task", &self.task)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<E> Failure<E> {
    /// Records that `task` failed with `error`.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, TaskInfo};
    /// let f = Failure::new(TaskInfo::here(Some("upload".into())), std::io::Error::other("disk full"));
    /// assert_eq!(f.to_string(), "task `upload` failed: disk full");
    /// ```
    pub fn new(task: TaskInfo, error: E) -> Self {
        Self {
            task,
            error,
            said: Said::Failed,
        }
    }

    /// A failure whose error names its task already (a panic, an awaited child's failure).
    pub(crate) fn named_by_its_error(task: TaskInfo, error: E) -> Self {
        Self {
            task,
            error,
            said: Said::ByTheError,
        }
    }

    /// A scope's own entry: it was interrupted (cancelled, past its deadline) and no failure
    /// of its tasks explains why.
    pub(crate) fn of_the_scope(task: TaskInfo, error: E) -> Self {
        Self {
            task,
            error,
            said: Said::Scope,
        }
    }

    /// The task that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, TaskInfo};
    /// let f = Failure::new(TaskInfo::here(Some("upload".into())), "disk full");
    /// assert_eq!(f.task().name(), Some("upload"));
    /// ```
    pub fn task(&self) -> &TaskInfo {
        &self.task
    }

    /// Its error.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, TaskInfo};
    /// let f = Failure::new(TaskInfo::here(None), std::io::Error::other("disk full"));
    /// assert_eq!(f.error().kind(), std::io::ErrorKind::Other);
    /// ```
    pub fn error(&self) -> &E {
        &self.error
    }

    /// Takes the error out.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, TaskInfo};
    /// let f = Failure::new(TaskInfo::here(None), std::io::Error::other("disk full"));
    /// let e: std::io::Error = f.into_error();
    /// assert_eq!(e.to_string(), "disk full");
    /// ```
    pub fn into_error(self) -> E {
        self.error
    }
}

/// "task `x` failed: {error}"; the error alone when it names its task already (a panic's
/// "task `x` panicked: .."), and "scope `x`: {error}" for a scope's own interruption.
impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.said {
            Said::Failed => write!(f, "task `{}` failed: {}", self.task, self.error),
            Said::ByTheError => {
                // Unless the error type's own message leaves the task out (a variant that
                // says "interrupted" alone): then this names it.
                let error = self.error.to_string();
                if error.contains(&format!("`{}`", self.task)) {
                    f.write_str(&error)
                } else {
                    write!(f, "task `{}` failed: {error}", self.task)
                }
            }
            Said::Scope => write!(f, "scope `{}`: {}", self.task, self.error),
        }
    }
}

/// Its `Display` says the error's own, so its source is the error's source: a chain printed
/// level by level (anyhow's `{:#}`, a log's "caused by") repeats no message. The error itself
/// is [`Failure::error`].
impl<E: std::error::Error + 'static> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Every failure of a supervised scope or a race, in the order they happened, but for one
/// entry: when the scope has no value to return and was stopped by something no recorded
/// failure explains (its parent's cancel, a deadline, an explicit cancel), or its body did not
/// complete with nothing recorded, the scope's own entry comes first, ahead of failures that
/// happened before it (it is why the others stopped). The first is the primary one. Nothing is
/// flattened away; once 256 failures are kept (panics included), a child's later error is
/// counted, not kept ([`not_kept`](Failures::not_kept)).
///
/// # Examples
///
/// ```
/// use scope::{Failure, Failures, TaskInfo};
/// let all = Failures::from(vec![
///     Failure::new(TaskInfo::here(Some("a".into())), "x"),
///     Failure::new(TaskInfo::here(Some("b".into())), "y"),
/// ]);
/// assert_eq!(all.len(), 2);
/// assert_eq!(*all.primary().unwrap().error(), "x");
/// assert_eq!(all.to_string(), "2 tasks failed; first: task `a` failed: x");
/// ```
///
/// It is a `std::error::Error` when `E` is, with the first error's sources as its own (so `?`
/// passes it on into `anyhow::Error` or a boxed error, and a chain printed level by level
/// reaches the root cause). `anyhow::Error` and `Box<dyn Error + Send + Sync>` are not
/// `std::error::Error` themselves, so neither is a `Failures` of them: pass one on with
/// `anyhow::Error::msg` (which keeps its `Display` and `Debug`), or as its message:
///
/// ```
/// use scope::{Config, Scope};
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
///
/// async fn check_all() -> Result<(), BoxError> {
///     let s = &Scope::new(Config::new());
///     s.run_all(async {
///         drop(s.spawn(async { Err::<(), BoxError>("disk full".into()) }));
///         Ok::<_, BoxError>(())
///     })
///     .await
///     .map_err(|all| all.to_string())?;
///     Ok(())
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(check_all().await.unwrap_err().to_string().ends_with("failed: disk full"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Failures<E> {
    failures: Vec<Failure<E>>,
    not_kept: usize,
}

impl<E> From<Vec<Failure<E>>> for Failures<E> {
    fn from(failures: Vec<Failure<E>>) -> Self {
        Self {
            failures,
            not_kept: 0,
        }
    }
}

impl<E> Failures<E> {
    /// The failures a scope kept, and how many more it counted.
    pub(crate) fn kept(failures: Vec<Failure<E>>, not_kept: usize) -> Self {
        Self { failures, not_kept }
    }

    /// How many failures the scope counted but did not keep. A supervised scope (and a race)
    /// keeps its children's errors while fewer than 256 failures are kept (panics count
    /// among them) and counts the rest (every panic is kept, and the body's own error): a
    /// long-lived one (an accept loop
    /// whose connections must not cancel one another) would otherwise keep every failure
    /// of its life until it ends. [`len`](Failures::len) and [`iter`](Failures::iter) are
    /// the kept ones; the message counts them all.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Scope};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run_all(async {
    ///         for i in 0..300 {
    ///             let _ = s.spawn(async move { Err::<(), E>(format!("request {i}").into()) }).await;
    ///         }
    ///         Ok::<_, E>(())
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// assert_eq!((failures.len(), failures.not_kept()), (256, 44));
    /// assert!(failures.to_string().starts_with("300 tasks failed (44 not kept); first: "));
    /// # });
    /// ```
    #[must_use]
    pub fn not_kept(&self) -> usize {
        self.not_kept
    }

    /// The first failure; `None` only for a race that had no candidate at all.
    ///
    /// # Examples
    ///
    /// The first failure of a supervised scope is the primary one:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run_all(async {
    ///         s.spawn_named("late", async {
    ///             tokio::time::sleep(Duration::from_millis(20)).await;
    ///             Err::<(), E>("second".into())
    ///         });
    ///         s.spawn_named("early", async {
    ///             tokio::time::sleep(Duration::from_millis(10)).await;
    ///             Err::<(), E>("first".into())
    ///         });
    ///         Ok::<_, E>(())
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// assert_eq!(failures.primary().unwrap().task().name(), Some("early"));
    /// assert_eq!(failures.others()[0].task().name(), Some("late"));
    /// # });
    /// ```
    pub fn primary(&self) -> Option<&Failure<E>> {
        self.failures.first()
    }

    /// The scope's own entry, if it has one: the scope (or race) was interrupted (cancelled
    /// from outside or by its own code, past its deadline, dropped, refused) and no failure of
    /// its tasks explains why; or it is a race whose every candidate was stopped through its
    /// handle, with no failure either. It comes first. This is how a race's deadline is told
    /// from every candidate failing, and a cancel of the scope from its children's errors;
    /// its error says which interruption it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// // Every candidate fails: no entry of the race's own.
    /// let race = &Race::<u8, Interrupted>::new(Config::new());
    /// let failures = race
    ///     .run(async {
    ///         race.spawn(async { Err::<u8, _>(Interrupted::from_cause(scope::Cause::explicit("down"))) });
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// assert!(failures.interruption().is_none());
    ///
    /// // The race's deadline fired first: its own entry says so.
    /// let race = &Race::<u8, Interrupted>::new(Config::new().timeout(Duration::from_millis(50)));
    /// let failures = race
    ///     .run(async {
    ///         race.spawn(async {
    ///             tokio::time::sleep(Duration::from_secs(1)).await;
    ///             Ok::<u8, Interrupted>(1)
    ///         });
    ///     })
    ///     .await
    ///     .unwrap_err();
    /// let own = failures.interruption().unwrap();
    /// assert!(matches!(own.error(), Interrupted::DeadlineExceeded(_)));
    /// # });
    /// ```
    #[must_use]
    pub fn interruption(&self) -> Option<&Failure<E>> {
        self.failures.iter().find(|f| f.said == Said::Scope)
    }

    /// The failures after the first.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, Failures, TaskInfo};
    /// let one = Failures::from(vec![Failure::new(TaskInfo::here(None), "x")]);
    /// assert!(one.others().is_empty());
    /// let two = Failures::from(vec![
    ///     Failure::new(TaskInfo::here(None), "x"),
    ///     Failure::new(TaskInfo::here(None), "y"),
    /// ]);
    /// assert_eq!(*two.others()[0].error(), "y");
    /// ```
    pub fn others(&self) -> &[Failure<E>] {
        self.failures.get(1..).unwrap_or(&[])
    }

    /// How many.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, Failures, TaskInfo};
    /// let all = Failures::from(vec![Failure::new(TaskInfo::here(None), "x")]);
    /// assert_eq!(all.len(), 1);
    /// assert_eq!(all.len(), all.iter().count());
    /// ```
    pub fn len(&self) -> usize {
        self.failures.len()
    }

    /// Whether there are none (a race with no candidate).
    ///
    /// # Examples
    ///
    /// A race that started no candidate fails with no failures:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::<u8, Interrupted>::new(Config::new());
    /// let failures = race.run(async {}).await.unwrap_err();
    /// assert!(failures.is_empty());
    /// assert_eq!(failures.to_string(), "no task succeeded: there were no candidates");
    /// # });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
    }

    /// Iterates over them, first to last.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, Failures, TaskInfo};
    /// let all = Failures::from(vec![
    ///     Failure::new(TaskInfo::here(Some("a".into())), "x"),
    ///     Failure::new(TaskInfo::here(Some("b".into())), "y"),
    /// ]);
    /// let names: Vec<_> = all.iter().filter_map(|f| f.task().name()).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Failure<E>> {
        self.failures.iter()
    }

    /// Takes them out.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Failure, Failures, TaskInfo};
    /// let all = Failures::from(vec![
    ///     Failure::new(TaskInfo::here(None), std::io::Error::other("x")),
    ///     Failure::new(TaskInfo::here(None), std::io::Error::other("y")),
    /// ]);
    /// let errors: Vec<std::io::Error> = all.into_vec().into_iter().map(Failure::into_error).collect();
    /// assert_eq!(errors[1].to_string(), "y");
    /// ```
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
        // The scope's own entry (first, when it was interrupted) is not a failed task: the
        // count is of the tasks.
        let scope_first = self
            .failures
            .first()
            .is_some_and(|first| matches!(first.said, Said::Scope));
        let tasks = self.failures.len() - usize::from(scope_first) + self.not_kept;
        let not_kept = match self.not_kept {
            0 => String::new(),
            n => format!(" ({n} not kept)"),
        };
        let plural = if tasks == 1 { "" } else { "s" };
        match self.failures.as_slice() {
            [] => f.write_str("no task succeeded: there were no candidates"),
            [only] if self.not_kept == 0 => write!(f, "{only}"),
            [first, ..] if scope_first => {
                write!(f, "{first}; {tasks} task{plural} failed{not_kept}")
            }
            [first, ..] => write!(f, "{tasks} task{plural} failed{not_kept}; first: {first}"),
        }
    }
}

/// Its `Display` says the first failure's, so its source is that failure's source (see
/// [`Failure`]'s): no message repeats down the chain.
impl<E: std::error::Error + 'static> std::error::Error for Failures<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failures.first().and_then(std::error::Error::source)
    }
}

/// One failure: of the task the interruption names (a child's panic or failure), or else of
/// the code at the `?` (unnamed, known by its call site).
impl<E: From<Interrupted>> From<Interrupted> for Failures<E> {
    #[track_caller]
    fn from(e: Interrupted) -> Self {
        let failure = match &e {
            Interrupted::Panicked(p) => Failure::named_by_its_error(p.task().clone(), E::from(e)),
            Interrupted::ChildFailed(c) => {
                Failure::named_by_its_error(c.task().clone(), E::from(e))
            }
            _ => Failure::new(TaskInfo::here(None), E::from(e)),
        };
        Self {
            failures: vec![failure],
            not_kept: 0,
        }
    }
}

/// The code a [`CatchesBelow`] polls or drops on this thread: the address of the scope it
/// runs in (the enclosing scope of the scopes it enters), and the panic kept for it.
type Below = (usize, Option<Box<dyn Any + Send>>);

thread_local! {
    /// `None` when no [`CatchesBelow`] runs code on this thread.
    static BELOW: std::cell::Cell<Option<Below>> = const { std::cell::Cell::new(None) };
}

/// A scope's address, to tell it from others.
fn address(scope: &Arc<dyn crate::scope::tracker::Enclosing>) -> usize {
    Arc::as_ptr(scope).cast::<()>() as usize
}

/// Hands a panic that no report of a dropped scope carries to the code that dropped the scope
/// on this thread, when a [`CatchesBelow`] runs it (a supervisor's incarnation) and the scope
/// was entered in that code (`enclosing`, the dropped scope's enclosing scope, is the one that
/// code runs in): it is that code's panic, as if the drop had unwound there. Given back
/// otherwise (a later one than the first is dropped, as [`drop_after_panic`] does).
pub(crate) fn panic_to_code_below(
    enclosing: &Arc<dyn crate::scope::tracker::Enclosing>,
    payload: Box<dyn Any + Send>,
) -> Option<Box<dyn Any + Send>> {
    let enclosing = address(enclosing);
    BELOW.with(|below| match below.take() {
        Some((code, kept)) if code == enclosing => {
            let mut first = kept;
            keep_first(&mut first, payload);
            below.set(Some((code, first)));
            None
        }
        other => {
            below.set(other);
            Some(payload)
        }
    })
}

pin_project_lite::pin_project! {
    /// Runs a future as code whose panics include those handed to it by
    /// [`panic_to_code_below`] while it is polled or dropped: such a panic is resumed at the
    /// end of that poll (or drop), as if the future had panicked there.
    pub(crate) struct CatchesBelow<F> {
        #[pin]
        inner: Option<F>,
    }

    impl<F> PinnedDrop for CatchesBelow<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.inner.as_ref().as_pin_ref().is_none() {
                return;
            }
            let kept = {
                let span = BelowScope::enter();
                this.inner.set(None);
                span.take()
            };
            if let Some(payload) = kept {
                resume_unless_unwinding(payload);
            }
        }
    }
}

impl<F> CatchesBelow<F> {
    pub(crate) fn new(inner: F) -> Self {
        CatchesBelow { inner: Some(inner) }
    }
}

impl<F: std::future::Future> std::future::Future for CatchesBelow<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return std::task::Poll::Pending;
        };
        let (out, kept) = {
            let span = BelowScope::enter();
            let out = inner.poll(cx);
            (out, span.take())
        };
        if let Some(payload) = kept {
            // The future's own value (if it was ready) goes with it, as with a panic.
            this.inner.set(None);
            drop_after_panic(out);
            std::panic::resume_unwind(payload);
        }
        out
    }
}

/// The span of one poll or drop of a [`CatchesBelow`]: the thread's kept panic of the code
/// around it is put back as it ends, its own taken.
struct BelowScope {
    /// What was there before.
    outer: Option<Below>,
    /// Put back already.
    left: bool,
}

impl BelowScope {
    fn enter() -> Self {
        let code = crate::cx::enclosing_scope().map_or(0, |scope| address(&scope));
        BelowScope {
            outer: BELOW.with(|below| below.replace(Some((code, None)))),
            left: false,
        }
    }

    /// Ends the span: its kept panic, if any.
    fn take(mut self) -> Option<Box<dyn Any + Send>> {
        self.leave()
    }

    /// Puts back what was there before; the span's kept panic, once.
    fn leave(&mut self) -> Option<Box<dyn Any + Send>> {
        if std::mem::replace(&mut self.left, true) {
            return None;
        }
        let outer = self.outer.take();
        BELOW
            .with(|below| below.replace(outer))
            .and_then(|(_, kept)| kept)
    }
}

impl Drop for BelowScope {
    fn drop(&mut self) {
        // Unwinding (a span ended by `take` leaves nothing): the panic that unwinds is the
        // code's; one kept is dropped.
        drop_after_panic(self.leave());
    }
}
