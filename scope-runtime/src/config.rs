//! How a scope is set up: name, limit, deadline, grace and slot bindings. (The policy is not
//! configured: it is the method that runs the scope, `run`, `run_all`, or a `Race`.)

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use tokio::time::Instant;

use crate::cx::Cx;
use crate::error::ConfigError;
use crate::slot::{Binding, Slot};

/// The grace a cancelled scope gives its children before aborting them: none.
///
/// When a scope is cancelled, its children are signalled (their contexts are cancelled) and,
/// after the grace, the ones still running are aborted at their next `.await` (in-place ones
/// are dropped; spawned ones are aborted through tokio; the body, polled once more when they
/// have ended, or at most 100 ms after (20 ms, yielding to the runtime, with a grace of
/// zero), is dropped if it still runs). Zero matches what Rust
/// users expect of dropping a future, and keeps a failing scope fast. With it, a child's
/// code after [`scope::cancelled()`](crate::cancelled)`.await` runs only if its task happens
/// to be polled before the abort reaches it: a race. (Code written for Go's errgroup may
/// rely on such clean-up running; here it cannot.) Give children time to observe the cancel
/// and clean up with [`Config::grace`] (or `#[scoped(grace = ...)]`).
///
/// The exceptions are for the application's shutdown (a
/// [`Cause::Shutdown`](crate::Cause::Shutdown) at the root of its cause): a scope with a
/// [`shutdown_grace`](Config::shutdown_grace) gives that one then (`#[scope::main]`'s main
/// scope gives the program's grace this way, and so does a scope made in the main work of
/// [`App::run`](crate::App::run) outside any scope, with no grace of its own: the
/// application's), and a scope whose grace is not set gives its
/// children the grace in effect of the scope it is nested in, so that work in flight in a
/// nested scope (`#[scope::main]` → `#[scoped] async fn serve()` → a spawned handler) drains
/// within the program's grace instead of being cut at the signal. A grace set to zero stays
/// zero.
///
/// # Examples
///
/// With the default, a child that ignores cancellation is not waited for:
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Scope, DEFAULT_GRACE};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// assert_eq!(DEFAULT_GRACE, Duration::ZERO);
/// let start = tokio::time::Instant::now();
/// let s = &Scope::new(Config::new());
/// let out = s
///     .run(async {
///         s.spawn(tokio::time::sleep(Duration::from_secs(3600)));
///         s.cancel("stop");
///         Ok::<_, Interrupted>("stopped")
///     })
///     .await;
/// assert_eq!(out.unwrap(), "stopped"); // the body handled the cancel: its value stands
/// assert_eq!(start.elapsed(), Duration::ZERO); // the child was aborted, not waited for
/// # });
/// ```
pub const DEFAULT_GRACE: Duration = Duration::ZERO;

/// The set-up of a scope. Every setting is optional.
///
/// A deadline (`timeout`, `deadline`) and a grace need timers: on a tokio runtime, build it
/// with them (`enable_time()` or `enable_all()`), as tokio's own `sleep` needs (on one
/// without, tokio panics where the timer is made); outside any runtime, a deadline is checked
/// at each poll and the grace is not waited. Nothing wakes a task at a deadline there: a body
/// that only waits for its cancel ([`scope::cancelled`](crate::cancelled)) is not woken by
/// the deadline, but by whatever else wakes it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Slot};
/// static TENANT: Slot<String> = Slot::new("TENANT");
/// let config = Config::new()
///     .name("fetch-all")
///     .limit(8)
///     .timeout(Duration::from_secs(2))
///     .grace(Duration::from_millis(100))
///     .bind(&TENANT, "acme".to_owned());
/// assert_eq!(config.get_name(), Some("fetch-all"));
/// ```
///
/// A `Config` is `Clone`: one set-up can serve many scopes (a clone shares the slot values
/// bound on it, and keeps its call site).
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let base = Config::new().limit(4).timeout(Duration::from_secs(2));
/// for name in ["users", "orders"] {
///     let s = &Scope::new(base.clone().name(name));
///     s.run(async { Ok::<_, Interrupted>(()) }).await.unwrap();
/// }
/// # });
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) limit: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    /// `None` until set (to zero too): an unset grace is [`DEFAULT_GRACE`], and takes the
    /// enclosing scope's under the application's shutdown.
    pub(crate) grace: Option<Duration>,
    /// The grace in place of `grace` when the application's shutdown cancels the scope.
    pub(crate) shutdown_grace: Option<Duration>,
    pub(crate) bindings: Vec<Binding>,
    pub(crate) parent: Option<Cx>,
    /// The first misuse found, boxed: a `Config` is built on the stack of the code that makes
    /// a scope (one per nested scope), and is rarely in error.
    pub(crate) error: Option<Box<ConfigError>>,
}

impl Default for Config {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults: unnamed (named by its call site), no limit, no deadline, no grace
    /// ([`DEFAULT_GRACE`]), no slots, and the ambient context as the parent.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Config;
    /// let config = Config::new();
    /// assert_eq!(config.get_name(), None);
    /// assert_eq!(Config::default().get_name(), None);
    /// ```
    #[track_caller]
    #[must_use]
    pub fn new() -> Self {
        Self {
            name: None,
            location: Location::caller(),
            limit: None,
            timeout: None,
            deadline: None,
            grace: None,
            shutdown_grace: None,
            bindings: Vec::new(),
            parent: None,
            error: None,
        }
    }

    /// Names the scope (in causes, errors and task trees).
    ///
    /// With the `metrics` feature the name is also the scope's metrics label: name scopes by
    /// what they do (`"fetch"`), not per request (`format!("req-{id}")`), since every distinct
    /// name is a new set of series that the exporter keeps (see [`observe`](crate::observe)).
    ///
    /// # Examples
    ///
    /// The name is what causes and errors print for the scope:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().name("fetch").timeout(Duration::from_millis(10)));
    /// assert_eq!(s.info().to_string(), "fetch");
    /// let out = s
    ///     .run(async {
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap_err().to_string(), "deadline of `fetch` exceeded");
    /// # });
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The scope's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Config;
    /// assert_eq!(Config::new().get_name(), None);
    /// assert_eq!(Config::new().name(format!("shard-{}", 3)).get_name(), Some("shard-3"));
    /// ```
    #[must_use]
    pub fn get_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Sets where the scope was written (the macros pass the user's call site).
    ///
    /// # Examples
    ///
    /// An unnamed scope is known by its location:
    ///
    /// ```
    /// use std::panic::Location;
    /// use scope::{Config, Interrupted, Scope};
    /// let here = Location::caller();
    /// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().location(here));
    /// assert_eq!(s.info().location(), here);
    /// assert_eq!(s.info().to_string(), format!("{}:{}:{}", here.file(), here.line(), here.column()));
    /// ```
    #[must_use]
    pub fn location(mut self, location: &'static Location<'static>) -> Self {
        self.location = location;
        self
    }

    /// At most `n` children run at once; more queue (the spawn returns at once) and start
    /// as running ones finish. `0` is invalid: the scope then returns
    /// [`ConfigError::ZeroLimit`] without running its body.
    ///
    /// Children take their slots in spawn order. That is not the order in which their code
    /// first runs: an in-place child is polled by the run as soon as it has its slot, while a
    /// spawned one waits for the runtime to schedule its task, so an in-place child may run
    /// before spawned ones admitted earlier (and on several workers, spawned ones run in no
    /// set order).
    ///
    /// Background children ([`Scope::spawn_background`](crate::Scope::spawn_background))
    /// take no slot: the body's end stops them, and a limit they held could keep the body
    /// from ending.
    ///
    /// Children still queued when the scope is cancelled (a failure, its deadline, its
    /// parent) never start, and their handles read
    /// [`Interrupted::NotStarted`](crate::Interrupted::NotStarted). A body that queued them
    /// and returned its value did not answer a cancel from outside (its deadline, its parent,
    /// an explicit cancel) that came after: the scope returns that cancellation (see
    /// [`Scope::run`](crate::Scope::run)).
    ///
    /// # Examples
    ///
    /// With a limit of 1 the children run one after the other:
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// let s = &Scope::new(Config::new().limit(1));
    /// s.run(async {
    ///     for _ in 0..3 {
    ///         let (running, most) = (running.clone(), most.clone());
    ///         s.spawn(async move {
    ///             let now = running.fetch_add(1, Ordering::SeqCst) + 1;
    ///             most.fetch_max(now, Ordering::SeqCst);
    ///             tokio::time::sleep(Duration::from_millis(10)).await;
    ///             running.fetch_sub(1, Ordering::SeqCst);
    ///         });
    ///     }
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(most.load(Ordering::SeqCst), 1);
    /// # });
    /// ```
    ///
    /// A limit of 0 is refused before the body runs:
    ///
    /// ```
    /// use scope::{Config, ConfigError, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().limit(0));
    /// let out = s.run(async { Ok::<_, Interrupted>(()) }).await;
    /// assert!(matches!(out, Err(Interrupted::Config(ConfigError::ZeroLimit))));
    /// # });
    /// ```
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        // Refused where the scope is entered, by the last value set.
        self.limit = Some(n);
        self
    }

    /// A deadline `timeout` after the scope is entered (not when this is called): when its
    /// context is made, which is at [`Scope::new`](crate::Scope::new) and
    /// [`Race::new`](crate::Race::new) (a `#[scoped]` fn's or a `scope!`'s start), and at the
    /// run of a [`Supervisor`](crate::Supervisor) or a [`map`](crate::map) /
    /// [`for_each`](crate::for_each) given this configuration.
    ///
    /// A deadline, like a grace, is kept by a tokio timer: the runtime must have its time
    /// driver (`enable_time()` or `enable_all()` on its builder; `#[tokio::main]` and
    /// `#[scope::main]` have it), or tokio panics ("timers are disabled") when the scope arms
    /// it, as it does for `tokio::time::sleep`. A timeout of `Duration::MAX` (or any past what
    /// tokio's timer can take) is no deadline: the scope's context gets none of its own.
    ///
    /// # Examples
    ///
    /// The clock starts when the scope is entered, not when the configuration is built:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let config = Config::new().timeout(Duration::from_secs(1));
    /// tokio::time::sleep(Duration::from_secs(5)).await; // longer than the timeout
    /// let s = &Scope::new(config);
    /// assert_eq!(s.cx().remaining(), Some(Duration::from_secs(1)));
    /// let out = s
    ///     .run(async {
    ///         tokio::time::sleep(Duration::from_secs(2)).await;
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert!(matches!(out, Err(Interrupted::DeadlineExceeded(_))));
    /// # });
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// An absolute deadline. A deadline already past makes the scope return
    /// [`DeadlineExceeded`](crate::DeadlineExceeded) without running its body. A child's
    /// deadline is never later than its parent's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let ran = AtomicBool::new(false);
    /// let s = &Scope::new(Config::new().deadline(tokio::time::Instant::now()));
    /// let out = s
    ///     .run(async {
    ///         ran.store(true, Ordering::SeqCst);
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert!(matches!(out, Err(Interrupted::DeadlineExceeded(_))));
    /// assert!(!ran.load(Ordering::SeqCst));
    /// # });
    /// ```
    #[must_use]
    pub fn deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(at);
        self
    }

    /// How long children get, after the scope is cancelled, before they are aborted. A child
    /// not yet polled when the cancel comes never starts (its handle reads
    /// [`Interrupted::NotStarted`](crate::Interrupted::NotStarted)): code it runs after
    /// `cancelled().await` runs only in children that had started. A grace of `Duration::MAX`
    /// is no limit: children are waited for as long as they take.
    ///
    /// # Examples
    ///
    /// A child that observes the cancellation gets the grace to clean up:
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let cleaned_up = Arc::new(AtomicBool::new(false));
    /// let done = cleaned_up.clone();
    /// let s = &Scope::new(Config::new().grace(Duration::from_secs(1)));
    /// let out = s
    ///     .run(async {
    ///         let (started, has_started) = tokio::sync::oneshot::channel();
    ///         s.spawn(async move {
    ///             let _ = started.send(());
    ///             scope::cancelled().await;
    ///             tokio::time::sleep(Duration::from_millis(100)).await; // flush, close...
    ///             done.store(true, Ordering::SeqCst);
    ///         });
    ///         // The child runs (a `yield_now` is not enough on a multi-thread runtime).
    ///         let _ = has_started.await;
    ///         s.cancel("stop");
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert!(out.is_ok()); // the body handled the cancel; the child finished its clean-up
    /// assert!(cleaned_up.load(Ordering::SeqCst));
    /// # });
    /// ```
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// How long children get, when the application's shutdown cancels the scope (a signal
    /// to a `#[scope::main]` program, [`App::request_shutdown`](crate::App::request_shutdown):
    /// a [`Cause::Shutdown`](crate::Cause::Shutdown) at the root of its cause), before they
    /// are aborted: in place of [`grace`](Config::grace) then, and no further than the scope's
    /// deadline. Any other cancel (a child's failure, the body's error or panic, the
    /// deadline, an explicit cancel) gives the grace, zero unless set: a drain budget for a
    /// shutdown does not slow a failure down. A scope nested in this one, with no grace set,
    /// gives its children this one's grace in effect (see [`DEFAULT_GRACE`]).
    /// `#[scope::main]` gives its main scope the program's grace this way.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{App, Config, Interrupted, Scope, Signal};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let app = App::new();
    /// // SIGTERM while the request is under way (a deploy).
    /// let signals = futures_util::stream::once(async {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    ///     Signal::Terminate
    /// });
    /// let (out, _report) = app
    ///     .run(Duration::from_secs(10), signals, async {
    ///         let s = &Scope::new(Config::new().shutdown_grace(Duration::from_secs(5)));
    ///         s.run(async {
    ///             let request = s.spawn(async {
    ///                 scope::cancelled().await; // the shutdown: 5 s to finish the request
    ///                 tokio::time::sleep(Duration::from_secs(1)).await;
    ///                 Ok::<_, Interrupted>("request finished")
    ///             });
    ///             request.await
    ///         })
    ///         .await
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap().unwrap(), "request finished");
    /// # });
    /// ```
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }

    /// Binds `slot` to `value` for the scope and its descendants. Binding the same slot twice
    /// in one scope makes it return [`ConfigError::SlotBoundTwice`] without running its body;
    /// a nested scope may shadow an outer binding.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, ConfigError, Interrupted, Scope, Slot};
    /// static TENANT: Slot<String> = Slot::new("TENANT");
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().bind(&TENANT, "acme".to_owned()));
    /// let seen = s
    ///     .run(async { s.spawn(async { Ok::<_, Interrupted>(TENANT.get()) }).await })
    ///     .await;
    /// assert_eq!(seen.unwrap().as_deref(), Some("acme"));
    ///
    /// let twice = &Scope::new(Config::new().bind(&TENANT, "a".into()).bind(&TENANT, "b".into()));
    /// let out = twice.run(async { Ok::<_, Interrupted>(()) }).await;
    /// assert!(matches!(out, Err(Interrupted::Config(ConfigError::SlotBoundTwice("TENANT")))));
    /// # });
    /// ```
    #[must_use]
    pub fn bind<T: Send + Sync + 'static, K>(
        mut self,
        slot: &'static Slot<T, K>,
        value: T,
    ) -> Self {
        let binding = Binding::new(slot, value);
        if self.bindings.iter().any(|b| b.index == binding.index) {
            self.error
                .get_or_insert_with(|| Box::new(ConfigError::SlotBoundTwice(binding.name)));
        }
        self.bindings.push(binding);
        self
    }

    /// The parent context (default: the ambient one when the scope is entered).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Config, Cx, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let server = Cx::root();
    /// let s = &Scope::new(Config::new().parent(server.clone()));
    /// server.cancel("server stopping");
    /// let out = s.run(async { Ok::<_, Interrupted>(()) }).await;
    /// let Err(Interrupted::Cancelled(c)) = out else { unreachable!() };
    /// assert_eq!(c.cause().root(), &Cause::explicit("server stopping"));
    /// # });
    /// ```
    #[must_use]
    pub fn parent(mut self, parent: Cx) -> Self {
        self.parent = Some(parent);
        self
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("location", &self.location)
            .field("limit", &self.limit)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("grace", &self.grace.unwrap_or(DEFAULT_GRACE))
            .field("shutdown_grace", &self.shutdown_grace)
            .field("bindings", &self.bindings)
            .finish_non_exhaustive()
    }
}
