//! Scopes: where children are spawned, joined, cancelled and accounted for.
//!
//! A scope is a value with an invariant lifetime brand `'s`. It is borrowed for `'s` by every
//! spawn, and child handles carry `'s`, so neither the handles nor the scope can be used after
//! the scope is gone (the compiler says so). It offers two kinds of child side by side:
//!
//! - **spawned** children ([`Scope::spawn`]) run on the tokio runtime in parallel; they are
//!   `Send + 'static`;
//! - **in-place** children ([`Scope::spawn_in_place`]) are polled by the scope's own future on
//!   every poll, concurrently with the body; they may borrow from outside the scope.
//!
//! [`Scope::run`] drives the body and every child to the end: the scope's future resolves only
//! after every child has finished, failed, or been cancelled and dropped.

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::future::Either;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Sleep;

use crate::config::Config;
use crate::cx::Entered;
use crate::error::{panic_message, ChildFailed, Failure, Failures, Panicked};
use crate::{Cause, ConfigError, Cx, Interrupted, Policy, SpawnError, TaskInfo};

/// What a child (or a race's body) may return: `()` or `Result<T, E>` with the scope's error
/// type.
///
/// # Examples
///
/// ```
/// use scope_runtime::TaskOutput;
/// let ok: Result<u8, String> = TaskOutput::<String>::into_result(Ok::<u8, String>(1));
/// assert_eq!(ok, Ok(1));
/// assert_eq!(TaskOutput::<String>::into_result(()), Ok(()));
/// ```
#[diagnostic::on_unimplemented(
    message = "a child of this scope must return `()` or `Result<_, {E}>`, not `{Self}`",
    label = "this future's output is `{Self}`",
    note = "wrap the value: `Ok::<_, {E}>(value)`, or convert the error with `map_err` / `?`"
)]
pub trait TaskOutput<E> {
    /// The success value.
    type Ok;
    /// Splits the output into success and failure.
    fn into_result(self) -> Result<Self::Ok, E>;
}

impl<T, E> TaskOutput<E> for Result<T, E> {
    type Ok = T;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

impl<E> TaskOutput<E> for () {
    type Ok = ();
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Whether a scope's in-place children must be `Send`: [`Sendable`] (the default; the scope's
/// future is `Send`) or [`Local`] (they need not be; the scope's future is not `Send`).
///
/// # Examples
///
/// Code generic over both kinds of scope takes `M: Mode`:
///
/// ```
/// use scope_runtime::{Config, Interrupted, LocalScope, Mode, Scope};
/// fn describe<E, M: Mode>(s: &Scope<'_, '_, E, M>) -> String {
///     format!("{} (closed: {})", s.info(), s.is_closed())
/// }
/// let a: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("a"));
/// let b: LocalScope<'_, '_, Interrupted> = Scope::new_local(Config::new().name("b"));
/// assert_eq!(describe(&a), "a (closed: false)");
/// assert_eq!(describe(&b), "b (closed: false)");
/// ```
pub trait Mode: sealed::Sealed + 'static {
    /// The boxed form of an in-place child.
    type Task<'env>: ?Sized + Future<Output = ()> + 'env;

    #[doc(hidden)]
    fn boxed_send<'env, F: Future<Output = ()> + Send + 'env>(f: F) -> Pin<Box<Self::Task<'env>>>;
}

/// The mode of [`Scope`]: in-place children are `Send`, so the scope's future is `Send`.
///
/// # Examples
///
/// The future of a `Sendable` scope is `Send`, so it can run in a spawned task:
///
/// ```
/// use scope_runtime::{Config, Interrupted, Scope, Sendable};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let task = tokio::spawn(async {
///     let s: &Scope<'_, '_, Interrupted, Sendable> = &Scope::new(Config::new());
///     s.run(async { s.spawn_in_place(async { Ok::<_, Interrupted>(1) }).await })
///         .await
/// });
/// assert_eq!(task.await.unwrap().unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
pub enum Sendable {}

/// The mode of [`LocalScope`]: in-place children need not be `Send`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use scope_runtime::{Config, Interrupted, Local, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let shared = Rc::new(5); // not `Send`
/// let s: &Scope<'_, '_, Interrupted, Local> = &Scope::new_local(Config::new());
/// let doubled = s
///     .run(async { s.spawn_in_place(async { Ok::<_, Interrupted>(*shared * 2) }).await })
///     .await;
/// assert_eq!(doubled.unwrap(), 10);
/// # });
/// ```
#[derive(Debug)]
pub enum Local {}

impl sealed::Sealed for Sendable {}
impl sealed::Sealed for Local {}

impl Mode for Sendable {
    type Task<'env> = dyn Future<Output = ()> + Send + 'env;
    fn boxed_send<'env, F: Future<Output = ()> + Send + 'env>(f: F) -> Pin<Box<Self::Task<'env>>> {
        Box::pin(f)
    }
}

impl Mode for Local {
    type Task<'env> = dyn Future<Output = ()> + 'env;
    fn boxed_send<'env, F: Future<Output = ()> + Send + 'env>(f: F) -> Pin<Box<Self::Task<'env>>> {
        Box::pin(f)
    }
}

/// A scope whose in-place children need not be `Send` (its future is not `Send`).
///
/// # Examples
///
/// In-place children can share a `RefCell` from outside the scope:
///
/// ```
/// use std::cell::RefCell;
/// use scope_runtime::{Config, Interrupted, LocalScope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let log = RefCell::new(Vec::new());
/// let s: &LocalScope<'_, '_, Interrupted> = &LocalScope::new_local(Config::new());
/// s.run(async {
///     s.spawn_in_place(async { log.borrow_mut().push("a") });
///     s.spawn_in_place(async { log.borrow_mut().push("b") });
///     Ok::<_, Interrupted>(())
/// })
/// .await
/// .unwrap();
/// let mut entries = log.borrow().clone();
/// entries.sort_unstable();
/// assert_eq!(entries, ["a", "b"]);
/// # });
/// ```
pub type LocalScope<'s, 'env, E> = Scope<'s, 'env, E, Local>;

type Brand<'s> = PhantomData<fn(&'s ()) -> &'s ()>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The part of a scope its spawned children share with it.
pub(crate) struct Shared<E> {
    cx: Cx,
    info: TaskInfo,
    policy: Policy,
    grace: Duration,
    limit: Option<Arc<Semaphore>>,
    closed: AtomicBool,
    /// Spawned children whose future has not been dropped yet.
    live: Arc<Live>,
    /// Keeps the enclosing scope waiting while this (nested) scope's shared part exists.
    _enclosing: Option<Active>,
    state: Mutex<State<E>>,
}

struct State<E> {
    failures: Vec<Failure<E>>,
    aborts: Vec<AbortHandle>,
}

impl<E> Shared<E> {
    fn close(&self) {
        // Relaxed: a spawn that races the close may still be admitted; it is then accounted for
        // like any other child (the scope waits for it), so nothing is orphaned either way.
        self.closed.store(true, Ordering::Relaxed);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || self.cx.is_cancelled()
    }

    /// Records a failure of `task`. Under fail-fast only the first failure is kept (and only
    /// while the scope is not yet cancelled: later errors are consequences); it cancels the
    /// siblings. Under supervise every failure is kept, and only `cancel` cancels.
    fn fail(&self, task: &TaskInfo, error: E, message: String, cancel: bool) {
        let mut state = lock(&self.state);
        let keep = match self.policy {
            Policy::FailFast => state.failures.is_empty() && !self.cx.is_cancelled(),
            Policy::Supervise => true,
        };
        if !keep {
            return;
        }
        state.failures.push(Failure::new(task.clone(), error));
        drop(state);
        if cancel || self.policy == Policy::FailFast {
            self.cx.cancel_with(Cause::SiblingFailed {
                task: task.clone(),
                message,
            });
        }
    }

    fn abort_all(&self) {
        let aborts = std::mem::take(&mut lock(&self.state).aborts);
        for handle in aborts {
            handle.abort();
        }
    }

    fn track(&self, handle: AbortHandle) {
        let mut state = lock(&self.state);
        // Keep the list proportional to the live children: drop finished ones now and then.
        // Relaxed: a stale count only changes when the (amortised) clean-up runs.
        let live = self.live.active.load(Ordering::Relaxed);
        if state.aborts.len() >= 64 && state.aborts.len() >= 2 * live {
            state.aborts.retain(|h| !h.is_finished());
        }
        state.aborts.push(handle);
    }
}

impl<E: From<Interrupted> + fmt::Display> Shared<E> {
    /// Turns a child's end into what its handle sees, telling the scope about failures.
    fn settle<O: TaskOutput<E>>(
        &self,
        task: &TaskInfo,
        out: Result<O, Box<dyn Any + Send>>,
    ) -> Result<O::Ok, Interrupted> {
        match out {
            Ok(out) => match out.into_result() {
                Ok(value) => Ok(value),
                Err(error) => {
                    let message = error.to_string();
                    self.fail(task, error, message.clone(), false);
                    Err(ChildFailed::new(task.clone(), message).into())
                }
            },
            Err(payload) => {
                let panicked = Panicked::new(task.clone(), payload);
                let message = panicked.message().to_owned();
                {
                    let mut state = lock(&self.state);
                    if self.policy == Policy::Supervise || state.failures.is_empty() {
                        state
                            .failures
                            .push(Failure::new(task.clone(), E::from(panicked.into())));
                    }
                }
                // A panic cancels the siblings at once, whatever the policy.
                self.cx.cancel_with(Cause::Panicked {
                    task: task.clone(),
                    message: message.clone(),
                });
                Err(Panicked::without_payload(task.clone(), message).into())
            }
        }
    }
}

/// What a scope waits for besides its body and in-place children: its spawned children's
/// futures, and the nested scopes entered by code of this scope (whose own spawned children may
/// still be being dropped after the code that entered them is gone).
pub(crate) struct Live {
    active: AtomicUsize,
    waker: AtomicWaker,
}

/// Counts one unit of live work until dropped.
pub(crate) struct Active {
    live: Arc<Live>,
}

impl Active {
    fn new(live: &Arc<Live>) -> Self {
        // Relaxed: the count is read together with the waker, which orders the wake-up.
        live.active.fetch_add(1, Ordering::Relaxed);
        Self {
            live: Arc::clone(live),
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        // AcqRel: the scope's Acquire load of zero must see everything this work did.
        if self.live.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.live.waker.wake();
        }
    }
}

thread_local! {
    /// The `Live` of the scope whose code (body, in-place child or spawned child) is being
    /// polled on this thread: a scope entered there counts as live work of that scope.
    static ENCLOSING: RefCell<Option<Arc<Live>>> = const { RefCell::new(None) };
}

/// Makes a scope's `Live` the enclosing one for the duration of a poll, by swapping it into
/// the thread's slot (no reference count changes) and back on drop (panics included).
struct Enclosing<'a> {
    slot: &'a mut Option<Arc<Live>>,
}

impl<'a> Enclosing<'a> {
    fn swap(slot: &'a mut Option<Arc<Live>>) -> Self {
        let _ = ENCLOSING.try_with(|e| std::mem::swap(&mut *e.borrow_mut(), slot));
        Enclosing { slot }
    }
}

impl Drop for Enclosing<'_> {
    fn drop(&mut self) {
        let _ = ENCLOSING.try_with(|e| std::mem::swap(&mut *e.borrow_mut(), self.slot));
    }
}

fn enclosing_active() -> Option<Active> {
    ENCLOSING
        .try_with(|e| e.borrow().as_ref().map(Active::new))
        .ok()
        .flatten()
}

pin_project_lite::pin_project! {
    /// A spawned child's task: its future, then its liveness guard. Fields drop in order, so
    /// the scope counts the child gone only after its future (and all it owns) is dropped,
    /// even when it is aborted before its first poll.
    pub(crate) struct Tracked<F, G> {
        #[pin]
        pub(crate) fut: F,
        pub(crate) guard: G,
    }
}

impl<F: Future, G> Future for Tracked<F, G> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<F::Output> {
        self.project().fut.poll(task)
    }
}

/// Owns the shared part; dropping the scope without finishing it cancels and aborts.
struct Owner<E>(Arc<Shared<E>>);

impl<E> Drop for Owner<E> {
    fn drop(&mut self) {
        if self.0.live.active.load(Ordering::Acquire) > 0 {
            self.0.cx.cancel("scope dropped");
            self.0.abort_all();
        }
    }
}

struct Pending<'env, M: Mode> {
    tasks: Vec<Pin<Box<M::Task<'env>>>>,
    waker: Option<Waker>,
}

/// A scope: the owner of a set of children. Its [`run`](Scope::run) future resolves only after
/// every child has finished, failed, or been cancelled and dropped. See the crate docs for the tour.
///
/// Build it with [`Scope::new`], spawn children with [`spawn`](Scope::spawn) and
/// [`spawn_in_place`](Scope::spawn_in_place), and drive it with [`run`](Scope::run) (fail-fast)
/// or [`run_all`](Scope::run_all) (supervise).
///
/// # Examples
///
/// ```
/// use scope_runtime::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let words = vec!["a", "bb", "ccc"];
/// let s = &Scope::new(Config::new().name("lengths"));
/// let total = s
///     .run(async {
///         let spawned = s.spawn(async { Ok::<_, Interrupted>(40) });
///         let borrowed = s.spawn_in_place(async { Ok(words.iter().map(|w| w.len()).sum::<usize>()) });
///         Ok::<_, Interrupted>(spawned.await? + borrowed.await?)
///     })
///     .await?;
/// assert_eq!(total, 46);
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
///
/// A child handle cannot leave its scope:
///
/// ```compile_fail
/// use scope_runtime::{Config, Interrupted, Scope};
/// async fn escape() {
///     let mut outside = Vec::new();
///     {
///         let s = &Scope::new(Config::new());
///         let _ = s.run(async {
///             outside.push(s.spawn(async { Ok::<u8, Interrupted>(1) }));
///             Ok::<(), Interrupted>(())
///         }).await;
///     }
///     drop(outside);
/// }
/// ```
pub struct Scope<'s, 'env, E, M: Mode = Sendable> {
    shared: Owner<E>,
    pending: Mutex<Pending<'env, M>>,
    started: AtomicBool,
    config_error: Option<ConfigError>,
    _brand: Brand<'s>,
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M> {
    fn enter(config: Config) -> Self {
        let parent = config.parent.unwrap_or_else(Cx::current);
        let info = TaskInfo::new(config.name.clone(), config.location);
        let deadline = match (config.deadline, config.timeout) {
            (Some(at), Some(t)) => Some(at.min(crate::cx::deadline_after(t))),
            (Some(at), None) => Some(at),
            (None, Some(t)) => Some(crate::cx::deadline_after(t)),
            (None, None) => None,
        };
        // The deadline's origin (for its cause) is the scope's name, formatted only if needed.
        let deadline = deadline.map(|at| (at, Cow::Owned(info.to_string())));
        let cx = parent.child_with(deadline, &config.bindings);
        let limit = config
            .limit
            .filter(|n| *n > 0)
            .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))));
        Scope {
            shared: Owner(Arc::new(Shared {
                cx,
                info,
                policy: config.policy,
                grace: config.grace,
                limit,
                closed: AtomicBool::new(false),
                live: Arc::new(Live {
                    active: AtomicUsize::new(0),
                    waker: AtomicWaker::new(),
                }),
                _enclosing: enclosing_active(),
                state: Mutex::new(State {
                    failures: Vec::new(),
                    aborts: Vec::new(),
                }),
            })),
            pending: Mutex::new(Pending {
                tasks: Vec::new(),
                waker: None,
            }),
            started: AtomicBool::new(false),
            config_error: config.error,
            _brand: PhantomData,
        }
    }

    /// The scope's context.
    ///
    /// # Examples
    ///
    /// It holds the scope's slots, and the body runs with it as the ambient context:
    ///
    /// ```
    /// use scope_runtime::{Config, Cx, Interrupted, Scope, Slot};
    /// static USER: Slot<&'static str> = Slot::new("USER");
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().bind(&USER, "ada"));
    /// assert_eq!(s.cx().get(&USER), Some(&"ada"));
    /// s.run(async {
    ///     assert!(Cx::current().same_as(s.cx()));
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn cx(&self) -> &Cx {
        &self.shared.0.cx
    }

    /// Who the scope is (its id, name and location).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Scope};
    /// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("batch"));
    /// assert_eq!(s.info().name(), Some("batch"));
    /// let other: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("batch"));
    /// assert_ne!(s.info().id(), other.info().id());
    /// ```
    pub fn info(&self) -> &TaskInfo {
        &self.shared.0.info
    }

    /// Cancels the scope and its children with an explicit reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         assert!(s.cancel("user hit stop"));
    ///         assert!(!s.cancel("again")); // the first cause stays
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().to_string(), "cancelled: user hit stop");
    /// # });
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        self.shared.0.cx.cancel(reason)
    }

    /// Whether the scope refuses new children (its body returned, or it was cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Scope, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     assert!(!s.is_closed());
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// assert!(s.is_closed()); // the body has returned
    /// assert_eq!(s.try_spawn(async {}).unwrap_err(), SpawnError::Closed);
    /// # });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.0.is_closed()
    }

    fn push_local(&self, task: Pin<Box<M::Task<'env>>>) {
        let mut pending = lock(&self.pending);
        pending.tasks.push(task);
        if let Some(waker) = pending.waker.take() {
            waker.wake();
        }
    }

    fn refused<T>(&self, info: TaskInfo, cx: Cx) -> Child<'s, T> {
        let cause = self
            .shared
            .0
            .cx
            .cause()
            .unwrap_or_else(|| Cause::explicit("the scope is closed: its body has returned"));
        cx.cancel_with(Cause::ParentCancelled(Arc::new(cause.clone())));
        Child {
            cx,
            info,
            kind: ChildKind::Done(Some(Err(Interrupted::from_cause(cause)))),
            _brand: PhantomData,
        }
    }

    fn admit_now(&self) -> Result<Option<OwnedSemaphorePermit>, SpawnError> {
        if self.shared.0.is_closed() {
            return Err(SpawnError::Closed);
        }
        match &self.shared.0.limit {
            None => Ok(None),
            Some(sem) => Arc::clone(sem)
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| SpawnError::Full),
        }
    }
}

impl<'s, 'env, E> Scope<'s, 'env, E, Sendable> {
    /// Enters a scope: creates its context (a child of `config`'s parent, by default the
    /// ambient context), resolves its timeout into a deadline, and binds its slots.
    ///
    /// Spawned children need a tokio runtime; entered outside one, a scope runs its "spawned"
    /// children in place instead (on the scope's own task), and deadlines are checked when
    /// polled but do not wake a sleeping task.
    ///
    /// # Examples
    ///
    /// By default the scope's context is a child of the ambient one:
    ///
    /// ```
    /// use scope_runtime::{Config, Cx, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let request = Cx::root();
    /// let out = request
    ///     .clone()
    ///     .run(async {
    ///         let s = &Scope::new(Config::new());
    ///         request.cancel("client went away");
    ///         s.run(async { Ok::<_, Interrupted>(()) }).await
    ///     })
    ///     .await;
    /// let Err(Interrupted::Cancelled(c)) = out else { unreachable!() };
    /// assert_eq!(c.cause().to_string(), "parent cancelled: client went away");
    /// # });
    /// ```
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self::enter(config)
    }
}

impl<'s, 'env, E> Scope<'s, 'env, E, Local> {
    /// Enters a scope whose in-place children need not be `Send` (see [`Scope::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use scope_runtime::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let names = Rc::new(vec!["a", "bb"]); // not `Send`
    /// let s = &Scope::new_local(Config::new());
    /// let total = s
    ///     .run(async {
    ///         let first = s.spawn_in_place(async { Ok::<_, Interrupted>(names[0].len()) });
    ///         let second = s.spawn_in_place(async { Ok::<_, Interrupted>(names[1].len()) });
    ///         Ok::<_, Interrupted>(first.await? + second.await?)
    ///     })
    ///     .await;
    /// assert_eq!(total.unwrap(), 3);
    /// # });
    /// ```
    #[must_use]
    pub fn new_local(config: Config) -> Self {
        Self::enter(config)
    }
}

async fn admit(sem: Arc<Semaphore>, cx: &Cx) -> Result<Option<OwnedSemaphorePermit>, Cause> {
    if let Ok(permit) = Arc::clone(&sem).try_acquire_owned() {
        return Ok(Some(permit));
    }
    match futures_util::future::select(pin!(cx.cancelled()), pin!(sem.acquire_owned())).await {
        Either::Left((cause, _)) => Err(cause),
        Either::Right((permit, _)) => Ok(permit.ok()),
    }
}

type Admission = Pin<Box<dyn Future<Output = Result<Option<OwnedSemaphorePermit>, Cause>> + Send>>;

pin_project_lite::pin_project! {
    /// Every child, spawned or in place: admission (only with a limit, boxed, since it is
    /// rare and large), the already-cancelled check, the user's future polled with the child's
    /// context as the ambient one and panics turned into values, and the hand-over of the
    /// outcome to the scope. Written by hand so the user's future is stored once.
    struct ChildTask<F, E> {
        // First, so it is dropped first: the scope (through `shared`, which may hold the
        // enclosing scope's count of live work) must not count this child gone before it.
        #[pin]
        fut: F,
        shared: Arc<Shared<E>>,
        info: TaskInfo,
        cx: Option<Cx>,
        // Swapped into the thread's "enclosing scope" slot while the child is polled.
        live: Option<Arc<Live>>,
        admission: Option<Admission>,
        permit: Option<OwnedSemaphorePermit>,
        started: bool,
    }
}

impl<F, E> ChildTask<F, E> {
    fn new(
        shared: &Arc<Shared<E>>,
        cx: Cx,
        info: TaskInfo,
        permit: Option<OwnedSemaphorePermit>,
        fut: F,
    ) -> Self {
        // Admission is decided when the child is started, in spawn order: a free slot is taken
        // now (so a later `try_spawn` cannot jump ahead of this child), and only a child that
        // finds none waits, in the limit's queue.
        let mut permit = permit;
        let admission: Option<Admission> = match (&permit, &shared.limit) {
            (None, Some(limit)) => {
                if let Ok(p) = Arc::clone(limit).try_acquire_owned() {
                    permit = Some(p);
                    None
                } else {
                    let (limit, cx) = (Arc::clone(limit), cx.clone());
                    Some(Box::pin(async move { admit(limit, &cx).await }))
                }
            }
            _ => None,
        };
        ChildTask {
            fut,
            shared: Arc::clone(shared),
            info,
            cx: Some(cx),
            live: Some(Arc::clone(&shared.live)),
            admission,
            permit,
            started: false,
        }
    }
}

impl<F, E> Future for ChildTask<F, E>
where
    F: Future,
    F::Output: TaskOutput<E>,
    E: From<Interrupted> + fmt::Display,
{
    type Output = Result<<F::Output as TaskOutput<E>>::Ok, Interrupted>;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(admission) = this.admission {
            match admission.as_mut().poll(task) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(cause)) => {
                    *this.admission = None;
                    return Poll::Ready(Err(Interrupted::from_cause(cause)));
                }
                Poll::Ready(Ok(permit)) => {
                    *this.admission = None;
                    *this.permit = permit;
                }
            }
        }
        if !*this.started {
            *this.started = true;
            // A child whose context is cancelled before it starts never runs.
            if let Some(cause) = this.cx.as_ref().and_then(Cx::cause) {
                return Poll::Ready(Err(Interrupted::from_cause(cause)));
            }
        }
        let polled = {
            let _entered = Entered::swap(this.cx);
            let _enclosing = Enclosing::swap(this.live);
            let fut = this.fut;
            catch_unwind(AssertUnwindSafe(|| fut.poll(task)))
        };
        let out = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(payload) => Err(payload),
        };
        this.permit.take();
        Poll::Ready(this.shared.settle(this.info, out))
    }
}

impl<'s, 'env, E, M> Scope<'s, 'env, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// Spawns a child on the tokio runtime, in parallel. It must be `Send + 'static`; to
    /// borrow from outside the scope, use [`spawn_in_place`](Scope::spawn_in_place). Named by
    /// its call site.
    ///
    /// If the scope is closed, the child is not started and its handle resolves to the
    /// cancellation at once (use [`try_spawn`](Scope::try_spawn) to be told).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let child = s.spawn(async { Ok::<_, Interrupted>(6 * 7) });
    ///         assert_eq!(child.await?, 42);
    ///         s.cancel("closing");
    ///         // Closed: this child never starts; its handle reports the cancellation.
    ///         let late = s.spawn(async { Ok::<_, Interrupted>(0) });
    ///         assert!(matches!(late.await, Err(Interrupted::Cancelled(_))));
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert!(matches!(out, Err(Interrupted::Cancelled(_))));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&'s self, fut: F) -> Child<'s, <F::Output as TaskOutput<E>>::Ok>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Send + 'static,
    {
        let info = TaskInfo::here(None);
        self.spawn_inner(info, None, fut)
    }

    /// [`spawn`](Scope::spawn) with a name.
    ///
    /// # Examples
    ///
    /// The name shows up in the cause the siblings see:
    ///
    /// ```
    /// use scope_runtime::{Config, Scope};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let child = s.spawn_named("db", async { Err::<u8, E>("connection refused".into()) });
    ///         assert_eq!(child.info().name(), Some("db"));
    ///         Ok::<_, E>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().to_string(), "connection refused"); // the child's own error
    /// let cause = s.cx().cause().unwrap();
    /// assert_eq!(cause.to_string(), "sibling task `db` failed: connection refused");
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(
        &'s self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> Child<'s, <F::Output as TaskOutput<E>>::Ok>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Send + 'static,
    {
        let info = TaskInfo::here(Some(name.into()));
        self.spawn_inner(info, None, fut)
    }

    /// Like [`spawn`](Scope::spawn), but refuses with a typed error when the scope is closed
    /// or at its limit, instead of starting the child cancelled or queueing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Scope, SpawnError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(1));
    /// s.run(async {
    ///     let first = s.try_spawn(async { Ok::<_, Interrupted>(1) }).unwrap();
    ///     let refused = s.try_spawn(async { Ok::<_, Interrupted>(2) });
    ///     assert_eq!(refused.unwrap_err(), SpawnError::Full);
    ///     assert_eq!(first.await?, 1);
    ///     // The first child has finished: there is room again.
    ///     let second = s.try_spawn(async { Ok::<_, Interrupted>(2) }).unwrap();
    ///     assert_eq!(second.await?, 2);
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(
        &'s self,
        fut: F,
    ) -> Result<Child<'s, <F::Output as TaskOutput<E>>::Ok>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Send + 'static,
    {
        let info = TaskInfo::here(None);
        let permit = self.admit_now()?;
        Ok(self.spawn_inner(info, permit, fut))
    }

    fn spawn_inner<F>(
        &'s self,
        info: TaskInfo,
        permit: Option<OwnedSemaphorePermit>,
        fut: F,
    ) -> Child<'s, <F::Output as TaskOutput<E>>::Ok>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E>,
        <F::Output as TaskOutput<E>>::Ok: Send + 'static,
    {
        let shared = &self.shared.0;
        let cx = shared.cx.child();
        if shared.is_closed() {
            return self.refused(info, cx);
        }
        let task = Tracked {
            fut: ChildTask::new(shared, cx.clone(), info.clone(), permit, fut),
            guard: Active::new(&shared.live),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let handle = runtime.spawn(task);
            shared.track(handle.abort_handle());
            Child {
                cx,
                info,
                kind: ChildKind::Spawned(handle),
                _brand: PhantomData,
            }
        } else {
            // No runtime to spawn on: run it in place, on the scope's own task.
            let (tx, rx) = oneshot::channel();
            self.push_local(M::boxed_send(async move {
                let _ = tx.send(task.await);
            }));
            Child {
                cx,
                info,
                kind: ChildKind::InPlace(rx),
                _brand: PhantomData,
            }
        }
    }

    /// Builds an in-place child; the caller boxes it for its mode.
    fn prepare_in_place<F>(
        &'s self,
        info: TaskInfo,
        permit: Option<OwnedSemaphorePermit>,
        fut: F,
    ) -> (
        Option<impl Future<Output = ()> + 'env>,
        Child<'s, <F::Output as TaskOutput<E>>::Ok>,
    )
    where
        F: Future + 'env,
        F::Output: TaskOutput<E>,
    {
        let shared = &self.shared.0;
        let cx = shared.cx.child();
        if shared.is_closed() {
            return (None, self.refused(info, cx));
        }
        let (tx, rx) = oneshot::channel();
        let body = ChildTask::new(shared, cx.clone(), info.clone(), permit, fut);
        let task = async move {
            let _ = tx.send(body.await);
        };
        let child = Child {
            cx,
            info,
            kind: ChildKind::InPlace(rx),
            _brand: PhantomData,
        };
        (Some(task), child)
    }
}

macro_rules! in_place_methods {
    ($mode:ty, $doc:literal $(, $send:ident)?) => {
        impl<'s, 'env, E> Scope<'s, 'env, E, $mode>
        where
            E: From<Interrupted> + fmt::Display + Send + 'static,
        {
            #[doc = concat!("Starts an in-place child: polled by the scope's own future on every poll, ", $doc)]
            ///
            /// It may borrow from outside the scope. It runs concurrently with the body (also
            /// while the body is itself waiting), on the scope's task, not in parallel.
            ///
            /// # Examples
            ///
            /// It borrows from outside the scope and runs while the body waits:
            ///
            /// ```
            /// use scope_runtime::{Config, Interrupted, Scope};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let greeting = String::from("hello");
            /// let (tx, rx) = tokio::sync::oneshot::channel();
            /// let s = &Scope::new(Config::new());
            /// let out = s
            ///     .run(async {
            ///         let borrowed = &greeting;
            ///         s.spawn_in_place(async move { tx.send(borrowed.len()).unwrap() });
            ///         Ok::<_, Interrupted>(rx.await.unwrap())
            ///     })
            ///     .await;
            /// assert_eq!(out.unwrap(), 5);
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place<F>(&'s self, fut: F) -> Child<'s, <F::Output as TaskOutput<E>>::Ok>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                <F::Output as TaskOutput<E>>::Ok: $($send +)? 'env,
            {
                self.start_in_place(TaskInfo::here(None), None, fut)
            }

            /// [`spawn_in_place`](Self::spawn_in_place) with a name.
            ///
            /// # Examples
            ///
            /// ```
            /// use scope_runtime::{Config, Scope};
            /// type E = Box<dyn std::error::Error + Send + Sync>;
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let input = "12a";
            /// let s = &Scope::new(Config::new());
            /// let out = s
            ///     .run(async {
            ///         let child = s.spawn_in_place_named("parse", async { input.parse::<u32>().map_err(E::from) });
            ///         assert_eq!(child.info().name(), Some("parse"));
            ///         Ok::<_, E>(child.await?)
            ///     })
            ///     .await;
            /// assert_eq!(out.unwrap_err().to_string(), "invalid digit found in string");
            /// let cause = s.cx().cause().unwrap();
            /// assert_eq!(cause.to_string(), "sibling task `parse` failed: invalid digit found in string");
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place_named<F>(
                &'s self,
                name: impl Into<Cow<'static, str>>,
                fut: F,
            ) -> Child<'s, <F::Output as TaskOutput<E>>::Ok>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                <F::Output as TaskOutput<E>>::Ok: $($send +)? 'env,
            {
                self.start_in_place(TaskInfo::here(Some(name.into())), None, fut)
            }

            /// [`spawn_in_place`](Self::spawn_in_place) that refuses with a typed error when
            /// the scope is closed or at its limit.
            ///
            /// # Examples
            ///
            /// ```
            /// use scope_runtime::{Config, Interrupted, Scope, SpawnError};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let s = &Scope::new(Config::new().limit(1));
            /// let out = s
            ///     .run(async {
            ///         let _busy = s.try_spawn_in_place(std::future::pending::<()>()).unwrap();
            ///         assert_eq!(s.try_spawn_in_place(async {}).unwrap_err(), SpawnError::Full);
            ///         s.cancel("done");
            ///         assert_eq!(s.try_spawn_in_place(async {}).unwrap_err(), SpawnError::Closed);
            ///         Ok::<_, Interrupted>(())
            ///     })
            ///     .await;
            /// assert!(matches!(out, Err(Interrupted::Cancelled(_))));
            /// # });
            /// ```
            #[track_caller]
            pub fn try_spawn_in_place<F>(
                &'s self,
                fut: F,
            ) -> Result<Child<'s, <F::Output as TaskOutput<E>>::Ok>, SpawnError>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                <F::Output as TaskOutput<E>>::Ok: $($send +)? 'env,
            {
                let info = TaskInfo::here(None);
                let permit = self.admit_now()?;
                Ok(self.start_in_place(info, permit, fut))
            }

            fn start_in_place<F>(
                &'s self,
                info: TaskInfo,
                permit: Option<OwnedSemaphorePermit>,
                fut: F,
            ) -> Child<'s, <F::Output as TaskOutput<E>>::Ok>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E>,
                <F::Output as TaskOutput<E>>::Ok: $($send +)? 'env,
            {
                let (task, child) = self.prepare_in_place(info, permit, fut);
                if let Some(task) = task {
                    // Boxed here, where the mode is known: `Send` or not.
                    self.push_local(Box::pin(task));
                }
                child
            }
        }

        impl<'s, 'env, T, E> Race<'s, 'env, T, E, $mode>
        where
            E: From<Interrupted> + fmt::Display + Send + 'static,
            T: $($send +)? 'env,
        {
            /// Starts an in-place candidate (see [`Scope::spawn_in_place`]).
            ///
            /// # Examples
            ///
            /// Candidates may borrow from outside the race:
            ///
            /// ```
            /// use scope_runtime::{Config, Interrupted, Race};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let mirrors = ["a.example", "b.example"];
            /// let race = &Race::new(Config::new());
            /// let winner = race
            ///     .run(async {
            ///         for mirror in &mirrors {
            ///             race.spawn_in_place(async move { Ok::<_, Interrupted>(*mirror) });
            ///         }
            ///     })
            ///     .await;
            /// assert!(mirrors.contains(&winner.unwrap()));
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place<F>(&'s self, fut: F) -> Child<'s, ()>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E, Ok = T>,
            {
                let winner = Arc::clone(&self.winner);
                let cx = self.scope.cx().clone();
                self.scope.spawn_in_place(async move {
                    let value = fut.await.into_result()?;
                    offer(&winner, &cx, value);
                    Ok::<(), E>(())
                })
            }
        }
    };
}

in_place_methods!(
    Sendable,
    "so it must be `Send` (use a [`LocalScope`] otherwise).",
    Send
);
in_place_methods!(Local, "and need not be `Send`.");

/// A handle onto a child: await it for the child's value.
///
/// It carries the scope's lifetime, so it cannot outlive the scope. Dropping it does not
/// detach or cancel the child: the scope still owns and joins it.
///
/// Awaiting gives `Ok(value)`, or an [`Interrupted`]: the child was cancelled, panicked, or
/// failed (its own error went to the scope; see [`Policy`]).
///
/// # Examples
///
/// ```
/// use scope_runtime::{Config, Interrupted, Scope};
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
    cx: Cx,
    info: TaskInfo,
    kind: ChildKind<T>,
    _brand: Brand<'s>,
}

enum ChildKind<T> {
    Spawned(JoinHandle<Result<T, Interrupted>>),
    InPlace(oneshot::Receiver<Result<T, Interrupted>>),
    Done(Option<Result<T, Interrupted>>),
}

impl<T> Child<'_, T> {
    /// The child's context.
    ///
    /// # Examples
    ///
    /// The child runs with this context as its ambient one:
    ///
    /// ```
    /// use scope_runtime::{Config, Cx, Interrupted, Scope};
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
        &self.cx
    }

    /// Who the child is.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Scope};
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

    /// Cancels this child only. Returns whether this call cancelled it.
    ///
    /// # Examples
    ///
    /// The scope and the siblings go on:
    ///
    /// ```
    /// use scope_runtime::{Cause, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let unwanted = s.spawn(async { Ok::<_, Interrupted>("never computed") });
    ///         let wanted = s.spawn(async { Ok::<_, Interrupted>("kept") });
    ///         assert!(unwanted.cancel("not needed"));
    ///         let Err(Interrupted::Cancelled(c)) = unwanted.await else { unreachable!() };
    ///         assert_eq!(c.cause(), &Cause::explicit("not needed"));
    ///         wanted.await
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), "kept");
    /// # });
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        self.cx.cancel(reason)
    }

    /// Whether the child has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Scope};
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
            ChildKind::Spawned(h) => h.is_finished(),
            ChildKind::InPlace(rx) => rx.is_terminated() || !rx.is_empty(),
            ChildKind::Done(_) => true,
        }
    }

    fn lost(&self) -> Interrupted {
        Interrupted::from_cause(
            self.cx
                .cause()
                .unwrap_or_else(|| Cause::explicit("the child was aborted")),
        )
    }
}

// The child's value is only ever moved, never pinned.
impl<T> Unpin for Child<'_, T> {}

impl<T> Future for Child<'_, T> {
    type Output = Result<T, Interrupted>;
    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = match &mut self.kind {
            ChildKind::Spawned(h) => match Pin::new(h).poll(task) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r.ok(),
            },
            ChildKind::InPlace(rx) => match Pin::new(rx).poll(task) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r.ok(),
            },
            ChildKind::Done(r) => r.take(),
        };
        let out = polled.unwrap_or_else(|| Err(self.lost()));
        self.kind = ChildKind::Done(None);
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

/// What is known when a scope finishes.
#[doc(hidden)]
#[derive(Debug)]
pub struct Report<T, E> {
    info: TaskInfo,
    out: Option<T>,
    failures: Vec<Failure<E>>,
    cause: Option<Cause>,
}

impl<T, E> Report<T, E> {
    /// A scope that did not run: one failure, of the scope itself.
    fn failed(info: &TaskInfo, error: E) -> Self {
        Report {
            info: info.clone(),
            out: None,
            failures: vec![Failure::new(info.clone(), error)],
            cause: None,
        }
    }
}

/// How a [`Run`] turns its [`Report`] into the scope's output.
#[doc(hidden)]
pub trait Finish<T, E>: sealed::Sealed {
    type Output;
    fn finish(report: Report<T, E>) -> Self::Output;
}

/// The output shape of [`Scope::run`]: `Result<T, E>` with the first failure.
///
/// # Examples
///
/// ```
/// use scope_runtime::{Config, FirstFailure, Interrupted, Run, Scope, Sendable};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// let run: Run<'_, '_, Interrupted, Sendable, _, FirstFailure> =
///     s.run(async { Ok::<u8, Interrupted>(1) });
/// let out: Result<u8, Interrupted> = run.await;
/// assert_eq!(out.unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
pub enum FirstFailure {}

/// The output shape of [`Scope::run_all`]: `Result<T, Failures<E>>` with every failure.
///
/// # Examples
///
/// ```
/// use scope_runtime::{AllFailures, Config, Failures, Interrupted, Run, Scope, Sendable};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// let run: Run<'_, '_, Interrupted, Sendable, _, AllFailures> =
///     s.run_all(async { Ok::<u8, Interrupted>(1) });
/// let out: Result<u8, Failures<Interrupted>> = run.await;
/// assert_eq!(out.unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
pub enum AllFailures {}

impl sealed::Sealed for FirstFailure {}
impl sealed::Sealed for AllFailures {}

impl<T, E: From<Interrupted>> Finish<T, E> for FirstFailure {
    type Output = Result<T, E>;
    fn finish(report: Report<T, E>) -> Result<T, E> {
        if let Some(first) = report.failures.into_iter().next() {
            return Err(first.into_error());
        }
        if let Some(cause) = report.cause {
            return Err(E::from(Interrupted::from_cause(cause)));
        }
        report.out.ok_or_else(|| {
            E::from(Interrupted::from_cause(Cause::explicit(
                "the scope's body did not complete",
            )))
        })
    }
}

impl<T, E: From<Interrupted>> Finish<T, E> for AllFailures {
    type Output = Result<T, Failures<E>>;
    fn finish(report: Report<T, E>) -> Result<T, Failures<E>> {
        let mut failures = report.failures;
        if let Some(cause) = report.cause {
            // A cancellation that no recorded failure explains (a parent, a deadline, an
            // explicit cancel) comes first: it is why the others stopped.
            let explained = matches!(cause, Cause::SiblingFailed { .. } | Cause::Panicked { .. });
            if !explained {
                let interrupted = E::from(Interrupted::from_cause(cause));
                failures.insert(0, Failure::new(report.info.clone(), interrupted));
            }
        }
        if !failures.is_empty() {
            return Err(Failures::from(failures));
        }
        report.out.ok_or_else(|| {
            let e = E::from(Interrupted::from_cause(Cause::explicit(
                "the scope's body did not complete",
            )));
            Failures::from(vec![Failure::new(report.info, e)])
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Init,
    Running,
    Draining,
    Aborted,
    Done,
}

pin_project_lite::pin_project! {
    /// The future of [`Scope::run`] and [`Scope::run_all`]: drives the body and the
    /// in-place children, and resolves once every child has ended.
    ///
    /// Dropping it cancels the scope: the body and in-place children are dropped with it and
    /// spawned children are aborted.
    ///
    /// # Examples
    ///
    /// Dropping it part-way cancels the scope and aborts its children:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope_runtime::testing::LeakCheck;
    /// use scope_runtime::{Cause, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let leaks = LeakCheck::new();
    /// let s = &Scope::new(Config::new());
    /// let run = s.run(async {
    ///     s.spawn(std::future::pending::<()>());
    ///     std::future::pending::<Result<(), Interrupted>>().await
    /// });
    /// assert!(tokio::time::timeout(Duration::from_secs(1), run).await.is_err());
    /// assert_eq!(s.cx().cause(), Some(Cause::explicit("scope dropped")));
    /// assert!(leaks.check().await.is_ok());
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Run<'s, 'env, E, M: Mode, F: Future, O>
    where
        F::Output: TaskOutput<E>,
    {
        scope: &'s Scope<'s, 'env, E, M>,
        #[pin]
        body: Option<F>,
        out: Option<<F::Output as TaskOutput<E>>::Ok>,
        ambient: Option<Cx>,
        live: Option<Arc<Live>>,
        driver: Driver<'env, M>,
        panic: Option<Box<dyn Any + Send>>,
        _output: PhantomData<O>,
    }

    impl<'s, 'env, E, M: Mode, F: Future, O> PinnedDrop for Run<'s, 'env, E, M, F, O>
    where
        F::Output: TaskOutput<E>,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !matches!(this.driver.phase, Phase::Done | Phase::Init) {
                let shared = &this.scope.shared.0;
                shared.close();
                shared.cx.cancel("scope dropped");
                shared.abort_all();
            }
        }
    }
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M>
where
    E: From<Interrupted> + fmt::Display,
{
    /// Runs the scope under its policy and returns the body's value, or the first failure
    /// (a child's or the body's own error, unchanged), or the cancellation.
    ///
    /// The returned future resolves only after every child has ended. A scope runs once; a
    /// second `run` returns [`ConfigError::AlreadyRun`].
    ///
    /// # Examples
    ///
    /// A child's error comes back unchanged, in the user's own type:
    ///
    /// ```
    /// use scope_runtime::{Config, ConfigError, Interrupted, Scope};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// enum AppError {
    ///     #[error("not found: {0}")]
    ///     NotFound(String),
    ///     #[error(transparent)]
    ///     Interrupted(#[from] Interrupted),
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         s.spawn(async { Err::<(), _>(AppError::NotFound("user 7".into())) });
    ///         s.spawn(async {
    ///             scope_runtime::cancelled().await; // cancelled by the failure
    ///             Ok::<(), AppError>(())
    ///         });
    ///         Ok::<_, AppError>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().to_string(), "not found: user 7");
    ///
    /// // A scope runs once.
    /// let again = s.run(async { Ok::<_, AppError>(()) }).await;
    /// assert!(matches!(again, Err(AppError::Interrupted(Interrupted::Config(ConfigError::AlreadyRun)))));
    /// # });
    /// ```
    pub fn run<F>(&'s self, body: F) -> Run<'s, 'env, E, M, F, FirstFailure>
    where
        F: Future,
        F::Output: TaskOutput<E>,
    {
        self.run_with(body)
    }

    /// Like [`run`](Scope::run) but returns every failure, first to last (use it with
    /// [`Policy::Supervise`], under which failures do not cancel siblings).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Policy, Scope};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().policy(Policy::Supervise));
    /// let out = s
    ///     .run_all(async {
    ///         for name in ["a", "b"] {
    ///             s.spawn_named(name, async move { Err::<(), E>(format!("{name} failed").into()) });
    ///         }
    ///         let sibling = s.spawn(async { Ok::<_, E>("not cancelled") });
    ///         assert_eq!(sibling.await?, "not cancelled");
    ///         Ok::<_, E>(())
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// let mut names: Vec<_> = failures.iter().filter_map(|f| f.task().name()).collect();
    /// names.sort_unstable();
    /// assert_eq!(names, ["a", "b"]);
    /// # });
    /// ```
    pub fn run_all<F>(&'s self, body: F) -> Run<'s, 'env, E, M, F, AllFailures>
    where
        F: Future,
        F::Output: TaskOutput<E>,
    {
        self.run_with(body)
    }

    fn run_with<F, O>(&'s self, body: F) -> Run<'s, 'env, E, M, F, O>
    where
        F: Future,
        F::Output: TaskOutput<E>,
    {
        Run {
            scope: self,
            body: Some(body),
            out: None,
            ambient: Some(self.shared.0.cx.clone()),
            live: Some(Arc::clone(&self.shared.0.live)),
            driver: Driver {
                children: None,
                wait: None,
                grace: None,
                phase: Phase::Init,
            },
            panic: None,
            _output: PhantomData,
        }
    }
}

impl<'s, 'env, E, M, F, O> Future for Run<'s, 'env, E, M, F, O>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display,
    F: Future,
    F::Output: TaskOutput<E>,
    O: Finish<<F::Output as TaskOutput<E>>::Ok, E>,
{
    type Output = O::Output;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<O::Output> {
        let mut this = self.project();
        let scope: &Scope<'s, 'env, E, M> = this.scope;
        let shared = &scope.shared.0;
        match this.driver.phase {
            Phase::Done => {
                let e = Interrupted::from_cause(Cause::explicit(
                    "the scope's future was polled after it completed",
                ));
                return Poll::Ready(O::finish(Report::failed(&shared.info, E::from(e))));
            }
            Phase::Init => {
                if let Err(error) = this.driver.start(scope) {
                    this.body.set(None);
                    return Poll::Ready(O::finish(Report::failed(
                        &shared.info,
                        E::from(error.into()),
                    )));
                }
                if shared.cx.is_cancelled() {
                    // Entered already cancelled (a past deadline, a cancelled parent): the
                    // body never starts.
                    this.body.set(None);
                    shared.close();
                }
            }
            _ => {}
        }
        let _enclosing = Enclosing::swap(this.live);
        loop {
            // The body: the only part of the poll that depends on its type.
            if let Some(body) = this.body.as_mut().as_pin_mut() {
                let entered = Entered::swap(this.ambient);
                let polled = catch_unwind(AssertUnwindSafe(|| body.poll(task)));
                drop(entered);
                match polled {
                    Ok(Poll::Pending) => {}
                    Ok(Poll::Ready(out)) => {
                        this.body.set(None);
                        shared.close();
                        match out.into_result() {
                            Ok(value) => *this.out = Some(value),
                            Err(error) => {
                                let message = error.to_string();
                                shared.fail(&shared.info, error, message, true);
                            }
                        }
                    }
                    Err(payload) => {
                        this.body.set(None);
                        *this.panic = Some(body_panicked(shared, payload));
                    }
                }
            }
            let turn = this.driver.turn(scope, task);
            if turn.abort {
                this.body.set(None);
            }
            let idle = this.body.is_none() && this.driver.is_idle(scope);
            if idle {
                this.driver.phase = Phase::Done;
                if let Some(payload) = this.panic.take() {
                    // The body panicked: every child has drained; resume the unwind.
                    std::panic::resume_unwind(payload);
                }
                let failures = std::mem::take(&mut lock(&shared.state).failures);
                return Poll::Ready(O::finish(Report {
                    info: shared.info.clone(),
                    out: this.out.take(),
                    failures,
                    cause: shared.cx.cause(),
                }));
            }
            if !turn.progressed {
                return Poll::Pending;
            }
        }
    }
}

/// The part of a scope's future that does not depend on its body's type: the in-place
/// children, the cancellation, the grace and the abort. Generic over the error type and the
/// mode only, so it is compiled once per error type, not once per `#[scoped]` fn.
struct Driver<'env, M: Mode> {
    // Created with the first in-place child (an empty set allocates).
    children: Option<FuturesUnordered<Pin<Box<M::Task<'env>>>>>,
    wait: Option<crate::cx::WaitCancelledOwned>,
    grace: Option<Pin<Box<Sleep>>>,
    phase: Phase,
}

/// The body panicked: close the scope and cancel the children; returns the payload, to
/// resume once they have drained.
fn body_panicked<E>(shared: &Shared<E>, payload: Box<dyn Any + Send>) -> Box<dyn Any + Send> {
    shared.close();
    let message = panic_message(payload.as_ref());
    shared.cx.cancel_with(Cause::Panicked {
        task: shared.info.clone(),
        message,
    });
    payload
}

/// What one turn of the [`Driver`] found.
struct Turn {
    /// New in-place children were started: turn again.
    progressed: bool,
    /// The grace ran out: the body must be dropped now.
    abort: bool,
}

impl<'env, M: Mode> Driver<'env, M> {
    /// Enters the running phase; a scope that cannot run reports why.
    fn start<E>(&mut self, scope: &Scope<'_, 'env, E, M>) -> Result<(), ConfigError> {
        let shared = &scope.shared.0;
        let error = if scope.started.swap(true, Ordering::Relaxed) {
            Some(ConfigError::AlreadyRun)
        } else {
            scope.config_error.clone()
        };
        if let Some(error) = error {
            self.phase = Phase::Done;
            return Err(error);
        }
        self.phase = Phase::Running;
        self.wait = Some(shared.cx.clone().cancelled_owned());
        Ok(())
    }

    /// Starts new in-place children, polls them, and handles cancellation: the grace, then
    /// the abort (of the in-place and spawned children here; the caller drops the body).
    fn turn<E>(&mut self, scope: &Scope<'_, 'env, E, M>, task: &mut Context<'_>) -> Turn {
        let shared = &scope.shared.0;
        let mut progressed = false;
        {
            let mut pending = lock(&scope.pending);
            if !pending.tasks.is_empty() {
                progressed = true;
                for t in pending.tasks.drain(..) {
                    if self.phase == Phase::Aborted {
                        drop(t);
                    } else {
                        self.children
                            .get_or_insert_with(FuturesUnordered::new)
                            .push(t);
                    }
                }
            }
            match &mut pending.waker {
                Some(w) => w.clone_from(task.waker()),
                None => pending.waker = Some(task.waker().clone()),
            }
        }
        if let Some(children) = &mut self.children {
            while let Poll::Ready(Some(())) = children.poll_next_unpin(task) {}
        }

        let cancelled = match self.wait.as_mut() {
            Some(wait) => Pin::new(wait).poll(task).is_ready(),
            None => false,
        };
        let mut abort = false;
        if cancelled {
            abort = match self.phase {
                Phase::Running => {
                    shared.close();
                    self.phase = Phase::Draining;
                    if shared.grace.is_zero() || tokio::runtime::Handle::try_current().is_err() {
                        true
                    } else {
                        let mut sleep = Box::pin(tokio::time::sleep(shared.grace));
                        let fired = sleep.as_mut().poll(task).is_ready();
                        self.grace = Some(sleep);
                        fired
                    }
                }
                Phase::Draining => self
                    .grace
                    .as_mut()
                    .is_none_or(|s| s.as_mut().poll(task).is_ready()),
                _ => false,
            };
            if abort {
                self.phase = Phase::Aborted;
                self.grace = None;
                self.children = None;
                shared.abort_all();
            }
        }
        shared.live.waker.register(task.waker());
        Turn { progressed, abort }
    }

    /// No in-place child, no spawned child and no nested scope left (the body aside).
    fn is_idle<E>(&self, scope: &Scope<'_, 'env, E, M>) -> bool {
        let shared = &scope.shared.0;
        // Acquire: pairs with the AcqRel decrement of the last spawned child.
        self.children
            .as_ref()
            .is_none_or(FuturesUnordered::is_empty)
            && shared.live.active.load(Ordering::Acquire) == 0
            && lock(&scope.pending).tasks.is_empty()
    }
}

impl<E, M: Mode, F: Future, O> fmt::Debug for Run<'_, '_, E, M, F, O>
where
    F::Output: TaskOutput<E>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("scope", &self.scope.shared.0.info)
            .field("phase", &self.driver.phase)
            .field(
                "in_place_children",
                &self
                    .driver
                    .children
                    .as_ref()
                    .map_or(0, FuturesUnordered::len),
            )
            .finish_non_exhaustive()
    }
}

impl<E, M: Mode> fmt::Debug for Scope<'_, '_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared.0;
        f.debug_struct("Scope")
            .field("info", &shared.info)
            .field("policy", &shared.policy)
            .field("closed", &shared.is_closed())
            .field("spawned_alive", &shared.live.active.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn offer<T>(winner: &Mutex<Option<T>>, cx: &Cx, value: T) {
    let mut slot = lock(winner);
    if slot.is_none() {
        *slot = Some(value);
        drop(slot);
        cx.cancel("another candidate won the race");
    }
}

/// A first-ok scope (a race): the first candidate to succeed wins, the others are cancelled;
/// if every candidate fails, all the failures are returned together.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope_runtime::{Config, Interrupted, Race};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let race = &Race::new(Config::new().name("mirrors"));
/// let winner = race
///     .run(async {
///         race.spawn(async {
///             tokio::time::sleep(Duration::from_millis(50)).await;
///             Ok::<_, Interrupted>("slow")
///         });
///         race.spawn(async { Ok("fast") });
///     })
///     .await;
/// assert_eq!(winner.unwrap(), "fast");
/// # });
/// ```
pub struct Race<'s, 'env, T, E, M: Mode = Sendable> {
    scope: Scope<'s, 'env, E, M>,
    winner: Arc<Mutex<Option<T>>>,
}

/// A race whose in-place candidates need not be `Send`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use scope_runtime::{Config, Interrupted, LocalRace};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = Rc::new("cached"); // not `Send`
/// let race: &LocalRace<'_, '_, &str, Interrupted> = &LocalRace::new_local(Config::new());
/// let winner = race
///     .run(async {
///         race.spawn_in_place(async { Ok::<_, Interrupted>(*cache) });
///     })
///     .await;
/// assert_eq!(winner.unwrap(), "cached");
/// # });
/// ```
pub type LocalRace<'s, 'env, T, E> = Race<'s, 'env, T, E, Local>;

impl<'s, 'env, T, E> Race<'s, 'env, T, E, Sendable> {
    /// Enters a race scope (its policy is always first-ok; `config.policy` is ignored).
    ///
    /// # Examples
    ///
    /// A failing candidate does not end the race, whatever the configured policy:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope_runtime::{Config, Policy, Race};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new().policy(Policy::FailFast));
    /// let winner = race
    ///     .run(async {
    ///         race.spawn(async { Err::<&str, E>("mirror a is down".into()) });
    ///         race.spawn(async {
    ///             tokio::time::sleep(Duration::from_millis(10)).await;
    ///             Ok::<_, E>("mirror b")
    ///         });
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), "mirror b");
    /// # });
    /// ```
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self::enter(config)
    }
}

impl<'s, 'env, T, E> Race<'s, 'env, T, E, Local> {
    /// Enters a race whose in-place candidates need not be `Send`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use scope_runtime::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tries = Cell::new(0); // not `Sync`: a shared borrow of it is not `Send`
    /// let race = &Race::new_local(Config::new());
    /// let winner = race
    ///     .run(async {
    ///         race.spawn_in_place(async {
    ///             tries.set(tries.get() + 1);
    ///             Ok::<_, Interrupted>("local")
    ///         });
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), "local");
    /// assert_eq!(tries.get(), 1);
    /// # });
    /// ```
    #[must_use]
    pub fn new_local(config: Config) -> Self {
        Self::enter(config)
    }
}

impl<'s, 'env, T, E, M: Mode> Race<'s, 'env, T, E, M> {
    fn enter(config: Config) -> Self {
        Self {
            scope: Scope::enter(config.policy(Policy::Supervise)),
            winner: Arc::new(Mutex::new(None)),
        }
    }

    /// The race's context.
    ///
    /// # Examples
    ///
    /// The winner cancels the race's context, which is how the other candidates learn of it:
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new());
    /// let winner = race
    ///     .run(async {
    ///         race.spawn(async { Ok::<_, Interrupted>(1) });
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), 1);
    /// assert_eq!(race.cx().cause().unwrap().to_string(), "another candidate won the race");
    /// # });
    /// ```
    pub fn cx(&self) -> &Cx {
        self.scope.cx()
    }

    /// Cancels the race and its candidates.
    ///
    /// # Examples
    ///
    /// A race cancelled before any success fails with the cancellation first:
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new());
    /// let out = race
    ///     .run(async {
    ///         race.spawn(std::future::pending::<Result<u8, Interrupted>>());
    ///         race.cancel("user gave up");
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// let first = failures.primary().unwrap().error();
    /// assert!(matches!(first, Interrupted::Cancelled(c) if c.cause().to_string() == "user gave up"));
    /// # });
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        self.scope.cancel(reason)
    }
}

impl<'s, 'env, T, E, M> Race<'s, 'env, T, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
    T: Send + 'static,
{
    /// Starts a candidate on the runtime (see [`Scope::spawn`]).
    ///
    /// # Examples
    ///
    /// The value goes to the race; the handle only tells how the candidate ended:
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new());
    /// let winner = race
    ///     .run(async {
    ///         let handle = race.spawn(async { Ok::<_, Interrupted>(7) });
    ///         assert!(handle.await.is_ok());
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), 7);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&'s self, fut: F) -> Child<'s, ()>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E, Ok = T>,
    {
        let winner = Arc::clone(&self.winner);
        let cx = self.scope.cx().clone();
        self.scope.spawn(async move {
            let value = fut.await.into_result()?;
            offer(&winner, &cx, value);
            Ok::<(), E>(())
        })
    }

    /// [`spawn`](Race::spawn) with a name.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Config, Race};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::<u8, E>::new(Config::new());
    /// let out = race
    ///     .run(async {
    ///         race.spawn_named("primary", async { Err::<u8, E>("timeout".into()) });
    ///         race.spawn_named("replica", async { Err::<u8, E>("refused".into()) });
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// let mut names: Vec<_> = failures.iter().filter_map(|f| f.task().name()).collect();
    /// names.sort_unstable();
    /// assert_eq!(names, ["primary", "replica"]);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&'s self, name: impl Into<Cow<'static, str>>, fut: F) -> Child<'s, ()>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E, Ok = T>,
    {
        let winner = Arc::clone(&self.winner);
        let cx = self.scope.cx().clone();
        self.scope.spawn_named(name, async move {
            let value = fut.await.into_result()?;
            offer(&winner, &cx, value);
            Ok::<(), E>(())
        })
    }
}

impl<'s, 'env, T, E, M> Race<'s, 'env, T, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display,
{
    /// Runs the race: the body starts candidates; the first success is returned; if all
    /// fail (or there was none), every failure is.
    ///
    /// # Examples
    ///
    /// If every candidate fails, every failure is returned:
    ///
    /// ```
    /// use scope_runtime::{Config, Race};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::<u8, E>::new(Config::new());
    /// let out = race
    ///     .run(async {
    ///         race.spawn(async { Err::<u8, E>("a is down".into()) });
    ///         race.spawn(async { Err::<u8, E>("b is down".into()) });
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// assert_eq!(failures.len(), 2);
    /// assert!(failures.to_string().starts_with("2 tasks failed; first: task `"));
    /// # });
    /// ```
    pub async fn run<B>(&'s self, body: B) -> Result<T, Failures<E>>
    where
        B: Future,
        B::Output: TaskOutput<E, Ok = ()>,
    {
        let settled = self.scope.run_all(body).await;
        if let Some(value) = lock(&self.winner).take() {
            return Ok(value);
        }
        match settled {
            Err(failures) => Err(failures),
            Ok(()) => Err(Failures::from(Vec::new())),
        }
    }
}

impl<T, E, M: Mode> fmt::Debug for Race<'_, '_, T, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}
