//! The supervisor: restarts its children on failure, with a backoff and an intensity limit.
//!
//! Each child runs as a spawned child of the supervisor's own scope, in a loop: run an
//! incarnation, decide (restart after a delay, stop, or give up), report the decision, sleep
//! the delay (cancellable). The restart window is shared by the loops behind a leaf lock.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::FutureExt;
use tokio::time::Instant;

use super::backoff::{Backoff, Rng};
use crate::config::Config;
use crate::cx::Cx;
use crate::error::{drop_after_panic, ConfigError, Interrupted, Panicked};
use crate::info::TaskInfo;
use crate::scope::outcome::message_of;
use crate::scope::{Scope, Shared, TaskOutput};
use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::timer::{Delay, Fired};

/// When a supervised child is restarted (OTP's restart types).
///
/// # Examples
///
/// ```
/// use scope::Restart;
/// assert_ne!(Restart::Permanent, Restart::Transient);
/// ```
///
/// Exhaustive: these are OTP's three kinds, and a match on them decides how a child is
/// written, so a new kind would be a breaking change of this crate, not a variant added unseen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Always: after a failure and after a normal return. A normal return is not counted
    /// against the [intensity](Supervisor::intensity), but it backs off as a failure does
    /// (restarts in a row grow the delay until an incarnation runs a whole window), so a
    /// child that returns at once is restarted at the backoff's capped rate, not in a hot
    /// loop. For work that must keep running: a server loop, a consumer.
    Permanent,
    /// After a failure only; a normal return ends it. For work that must finish once.
    Transient,
    /// Never: it runs once, and its failure (a panic included, as for the other kinds) is
    /// reported (to [`on_event`](Supervisor::on_event)) but neither restarted nor counted.
    Temporary,
}

/// What the supervisor does after a child's incarnation ended.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::SupervisorAction;
/// let a = SupervisorAction::Restart { delay: Duration::from_millis(100) };
/// assert!(matches!(a, SupervisorAction::Restart { .. }));
/// ```
///
/// Exhaustive, as [`Interrupted`] is: an event handler's match on it decides what it
/// reports, so a new action would be a breaking change of this crate, not one added unseen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SupervisorAction {
    /// Start it again after `delay`.
    Restart {
        /// The backoff before the next incarnation.
        delay: Duration,
    },
    /// It is done, by its [`Restart`] policy; the others go on.
    Stop,
    /// Too many failures within the window: the supervisor stops every child and returns
    /// this error.
    GiveUp,
}

impl SupervisorAction {
    /// Its name in the `action` field of the supervisor's events and metric (see `observe`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SupervisorAction::Restart { .. } => "restart",
            SupervisorAction::Stop => "stop",
            SupervisorAction::GiveUp => "give-up",
        }
    }
}

/// A report of one decision of a [`Supervisor`]: which child, how many times it has run, why
/// its last incarnation ended, and what happens next. Given to
/// [`on_event`](Supervisor::on_event).
///
/// # Examples
///
/// See [`Supervisor::on_event`].
pub struct SupervisorEvent<'a, E> {
    child: &'a str,
    attempt: u32,
    error: Option<&'a E>,
    action: SupervisorAction,
}

impl<'a, E> SupervisorEvent<'a, E> {
    /// The child's name.
    ///
    /// # Examples
    ///
    /// See [`Supervisor::on_event`].
    pub fn child(&self) -> &'a str {
        self.child
    }

    /// How many times the child has run, the incarnation that just ended included (1 after
    /// the first).
    ///
    /// # Examples
    ///
    /// See [`Supervisor::on_event`].
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The error the incarnation ended with (a panic is reported as
    /// [`Interrupted::Panicked`] converted into `E`); `None` if it returned normally.
    ///
    /// # Examples
    ///
    /// See [`Supervisor::on_event`].
    pub fn error(&self) -> Option<&'a E> {
        self.error
    }

    /// What the supervisor does next.
    ///
    /// # Examples
    ///
    /// See [`Supervisor::on_event`].
    pub fn action(&self) -> SupervisorAction {
        self.action
    }
}

impl<E: fmt::Debug> fmt::Debug for SupervisorEvent<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorEvent")
            .field("child", &self.child)
            .field("attempt", &self.attempt)
            .field("error", &self.error)
            .field("action", &self.action)
            .finish()
    }
}

type EventFn<E> = dyn Fn(&SupervisorEvent<'_, E>) + Send + Sync;
type Incarnation<E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send>>;
type Factory<E> = Box<dyn FnMut() -> Incarnation<E> + Send>;

struct Spec<E> {
    /// Its task: its name and the call site of its `child(..)`.
    info: TaskInfo,
    restart: Restart,
    factory: Factory<E>,
}

/// A supervisor: runs its children and restarts them when they fail, as Erlang/OTP's
/// one-for-one supervisors do, with an exponential [`Backoff`] between restarts.
///
/// - Each child is a factory of futures (one per incarnation) with a [`Restart`] policy,
///   spawned as a named child of the supervisor's own scope (from the [`Config`] given to
///   [`new`](Supervisor::new): its name, parent, deadline, grace and slot bindings
///   apply). Each child runs for the supervisor's whole life, so a limit below the number
///   of children is refused ([`ConfigError::LimitBelowChildren`](crate::ConfigError)), and
///   one at or above it changes nothing.
/// - After a failure (an `Err`, or a panic of the incarnation or of the factory call that
///   made it: all are crashes) the child is restarted after the backoff: `base × 2^(n−1)` up
///   to the cap for its `n`-th restart in a row; the count starts over once an incarnation
///   has run a whole [window](Supervisor::intensity). A [`Restart::Permanent`] child's normal
///   return counts in that `n` too (it backs off), but not against the intensity. A zero
///   base restarts at once: with a child that returns (or fails) at once, that is a loop as
///   hot as `loop { child().await }`, bounded only by the intensity for failures. It needs no
///   timer (it works outside a tokio runtime too); a non-zero backoff sleeps on tokio's
///   timer, so it needs a runtime with one: elsewhere a supervisor with a child it may
///   restart (not [`Restart::Temporary`]) is refused before any child starts
///   ([`ConfigError::NoTimer`](crate::ConfigError::NoTimer)).
/// - **Intensity**: at most `R` restarts after failures within the sliding window `W`
///   (default 5 in 60 s), its ends included, as OTP counts them (failures at 0, 0.1 and 1 s
///   are three within a window of 1 s). The failure beyond that makes the supervisor give
///   up: it cancels the other children (before [`on_event`](Supervisor::on_event) hears of
///   it), waits for them (their grace), and returns that failure's error, whatever cancel
///   comes meanwhile (an `on_event` that takes the application down with it, a shutdown). The
///   window keeps at most `R` instants, so the count stays bounded however long it runs.
/// - **Cancellation is not failure**: when the supervisor's context is cancelled (its parent,
///   its deadline, a shutdown signal), no incarnation that ends is counted or restarted; a
///   child waiting out a backoff stops at once; running ones get the scope's grace, then are
///   aborted. It returns `Ok(())` if every child stopped within the grace (they answered the
///   cancellation; with the default grace of zero, that is when no incarnation was running:
///   each child had run and waited out a backoff, or had ended), the cancellation otherwise; its own deadline (a `Config::timeout` or
///   `deadline` earlier than its parent's) is always returned as
///   [`DeadlineExceeded`](crate::Interrupted::DeadlineExceeded), answered or not, and a
///   parent's deadline like any cancel from outside. The grace is bounded by those of the
///   scopes it runs in, as any nested scope's is: under a scope with the default grace of zero,
///   a cancel from outside aborts the children at once, so whether one answered first (and so
///   `Ok(())` or the cancellation) is a race, decided by how the cancel came and by the
///   scheduling; give the enclosing scopes a grace too for a result that does not depend on
///   it. What ends before any cancel came is the
///   incarnation's own: a [`Retry`](crate::Retry) in a child that gives up early because its
///   next backoff would pass the deadline returns `DeadlineExceeded` while nothing is
///   cancelled yet, and that is a failure, counted and restarted (a child that should stop
///   there maps that error to `Ok(())`). A panic is still a panic: an incarnation (or
///   factory call) that panics while the supervisor stops makes it return that child's
///   [`Panicked`](crate::Interrupted::Panicked). After a give-up the give-up's error is
///   returned: a panic at its cancel is that failure's consequence (the panic hook prints it,
///   and with the `tracing` feature the child's `task panicked` event reports it; it is no
///   decision, so [`on_event`](Supervisor::on_event) does not hear of it), as after the first
///   failure of any fail-fast scope.
/// - Every decision is reported to [`on_event`](Supervisor::on_event), outside any lock, and,
///   with the `tracing` and `metrics` features, as an event in the child's span and a count
///   (`supervised incarnation failed`, `scope_incarnations_ended_total`: see
///   [`observe`](crate::observe)): a child that crashes and restarts is one child to the
///   children's counts and their `task failed` events.
///
/// It returns `Ok(())` as well when every child has stopped by its policy.
///
/// Where it runs decides who stops it: as a child of a scope (`spawn!(sup.run())`), with that
/// scope; as the application's background work, in a daemon [`Service`](crate::Service)
/// made in `main` (`ServiceConfig::new("workers").daemon()`, then
/// `service.spawn(async move { sup.run().await })`), which the shutdown cancels in its turn,
/// after the main work (see the crate docs' "Shutdown").
///
/// # Examples
///
/// A worker that fails twice, then serves until the supervisor is cancelled:
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use scope::{Backoff, Config, Cx, Interrupted, Restart, Supervisor};
///
/// #[derive(Debug, thiserror::Error)]
/// enum WorkerError {
///     #[error("connection lost")]
///     ConnectionLost,
///     #[error(transparent)]
///     Interrupted(#[from] Interrupted),
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let runs = Arc::new(AtomicU32::new(0));
/// let counted = runs.clone();
/// let app = Cx::root();
/// let supervisor = Supervisor::<WorkerError>::new(Config::new().name("workers").parent(app.clone()).grace(Duration::from_secs(1)))
///     .backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(5)))
///     .intensity(3, Duration::from_secs(60))
///     .child("consumer", Restart::Permanent, move || {
///         let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
///         async move {
///             if run <= 2 {
///                 return Err(WorkerError::ConnectionLost);
///             }
///             scope::cancelled().await; // serve until asked to stop
///             Ok(())
///         }
///     });
/// let start = tokio::time::Instant::now();
/// let stopper = app.clone();
/// tokio::spawn(async move {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     stopper.cancel("shutting down");
/// });
/// supervisor.run().await.unwrap(); // a stop that every child answered is a success
/// assert_eq!(runs.load(Ordering::SeqCst), 3);
/// assert_eq!(start.elapsed(), Duration::from_secs(10));
/// # });
/// ```
#[must_use = "a supervisor does nothing until `run`"]
pub struct Supervisor<E> {
    config: Config,
    backoff: Backoff,
    restarts: u32,
    window: Duration,
    on_event: Option<Arc<EventFn<E>>>,
    children: Vec<Spec<E>>,
}

impl<E> Supervisor<E>
where
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// A supervisor whose scope is set up by `config`, with no children yet, the default
    /// [`Backoff`], and an intensity of 5 restarts in 60 s.
    ///
    /// # Examples
    ///
    /// With no children it has nothing to do:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Supervisor};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// Supervisor::<Interrupted>::new(Config::new()).run().await.unwrap();
    /// # });
    /// ```
    pub fn new(config: Config) -> Self {
        Self {
            config,
            backoff: Backoff::default(),
            restarts: 5,
            window: Duration::from_secs(60),
            on_event: None,
            children: Vec::new(),
        }
    }

    /// The backoff between a failure and the restart.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Backoff, Config, Interrupted, Supervisor};
    /// let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5)).jitter(true);
    /// let supervisor = Supervisor::<Interrupted>::new(Config::new()).backoff(backoff);
    /// assert!(format!("{supervisor:?}").contains("jitter: true"));
    /// ```
    ///
    /// See also [`on_event`](Supervisor::on_event), which shows the delays it gives.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The restart intensity: at most `restarts` restarts after failures within any
    /// `window`, its ends included (a failure exactly `window` after an earlier one is within
    /// the window that starts at that one); one more failure in the window and the
    /// supervisor gives up. `0` gives up at the first failure (whatever the window). A zero
    /// `window` with `restarts` of 1 or more holds no failures, not even several at one
    /// instant, so the supervisor never gives up, and every incarnation has run a whole
    /// window, so the backoff never grows: each restart waits the base (jittered, capped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Backoff, Config, Interrupted, Restart, Supervisor};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let mut run = 0;
    /// let start = tokio::time::Instant::now();
    /// let out = Supervisor::<E>::new(Config::new())
    ///     .backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(1)))
    ///     .intensity(2, Duration::from_secs(60))
    ///     .child("flaky", Restart::Permanent, move || {
    ///         run += 1;
    ///         let message = format!("failure {run}");
    ///         async move { Err::<(), E>(message.into()) }
    ///     })
    ///     .run()
    ///     .await;
    /// // Two restarts (after 100 ms, then 200 ms); the third failure gives up with its error.
    /// assert_eq!(out.unwrap_err().to_string(), "failure 3");
    /// assert_eq!(start.elapsed(), Duration::from_millis(300));
    /// # });
    /// ```
    pub fn intensity(mut self, restarts: u32, window: Duration) -> Self {
        self.restarts = restarts;
        self.window = window;
        self
    }

    /// Calls `f` with every decision, from the child's own task, with no lock held: each
    /// restart (with the child's name, the attempt, the error and the delay), each stop by
    /// policy (a temporary child's failure is reported only here), and the give-up. `f` runs
    /// as the supervisor's own code, not an incarnation's: a panic in it is a panic of that
    /// child's task, which cancels the other children (as any panic in a scope does), not a
    /// crash to restart. On a runtime with several workers, two children that fail in the
    /// same instant with the window full are both reported as giving up; the supervisor
    /// returns the first one's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use scope::{Backoff, Config, Restart, Supervisor, SupervisorAction};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let seen = log.clone();
    /// let mut failures = 0;
    /// Supervisor::<E>::new(Config::new())
    ///     .backoff(Backoff::new(Duration::from_millis(10), Duration::from_secs(1)))
    ///     .on_event(move |event| {
    ///         let error = event.error().map(ToString::to_string);
    ///         seen.lock().unwrap().push((event.child().to_owned(), event.attempt(), error, event.action()));
    ///     })
    ///     .child("indexer", Restart::Transient, move || {
    ///         failures += 1;
    ///         let fail = failures <= 2;
    ///         async move { if fail { Err::<(), E>("disk busy".into()) } else { Ok(()) } }
    ///     })
    ///     .run()
    ///     .await
    ///     .unwrap();
    /// let log = log.lock().unwrap();
    /// let ms = Duration::from_millis;
    /// assert_eq!(*log, [
    ///     ("indexer".to_owned(), 1, Some("disk busy".to_owned()), SupervisorAction::Restart { delay: ms(10) }),
    ///     ("indexer".to_owned(), 2, Some("disk busy".to_owned()), SupervisorAction::Restart { delay: ms(20) }),
    ///     ("indexer".to_owned(), 3, None, SupervisorAction::Stop), // transient: done once it succeeds
    /// ]);
    /// # });
    /// ```
    pub fn on_event<F>(mut self, f: F) -> Self
    where
        F: Fn(&SupervisorEvent<'_, E>) + Send + Sync + 'static,
    {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// Adds a child: `factory` makes the future of each incarnation; `restart` says when it
    /// is restarted. The future may return `()`, `Result<T, E>` or never (as a scope's
    /// children); it runs with its own context as the ambient one, so it sees the
    /// supervisor's cancellation through [`cancelled`](crate::cancelled). Each incarnation
    /// gets a context of its own below the child's, which ends (with
    /// [`Cause::Finished`](crate::Cause::Finished)) when the incarnation does: what it handed
    /// out (a token, a clone of its context, an `on_cancel`) learns that it is over before the
    /// next incarnation starts. The child's task is known by this call's location.
    ///
    /// # Examples
    ///
    /// See [`Supervisor`].
    #[track_caller]
    pub fn child<F, Fut>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        restart: Restart,
        mut factory: F,
    ) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TaskOutput<E>,
    {
        let factory: Factory<E> = Box::new(move || {
            let incarnation = factory();
            Box::pin(async move { incarnation.await.into_result().map(|_| ()) })
        });
        self.children.push(Spec {
            info: TaskInfo::new(Some(name.into()), std::panic::Location::caller()),
            restart,
            factory,
        });
        self
    }

    /// Runs the children until each has stopped by its policy (`Ok(())`), the supervisor gives
    /// up (the last failure's error), or it is cancelled (`Ok(())` if every child answered
    /// the cancellation within the grace, else the cancellation; its own deadline is always
    /// the deadline). A child (or a restart of one) that the cancel reached before its first
    /// poll answered nothing, so with a grace too the cancellation can be the answer when
    /// the cancel comes just as a child starts. See [`Supervisor`].
    ///
    /// # Examples
    ///
    /// With the default grace of zero, a cancelled supervisor aborts its children at once and
    /// returns the cancellation (unless each child had run and was waiting out a backoff, or
    /// had ended: a clean stop):
    ///
    /// ```
    /// use scope::{Config, Cx, Interrupted, Restart, Supervisor};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let app = Cx::root();
    /// app.cancel("shutdown");
    /// let out = Supervisor::<Interrupted>::new(Config::new().parent(app))
    ///     .child("idle", Restart::Permanent, std::future::pending::<()>)
    ///     .run()
    ///     .await;
    /// let Err(Interrupted::Cancelled(c)) = out else { unreachable!() };
    /// assert_eq!(c.cause().root().to_string(), "shutdown");
    /// # });
    /// ```
    pub async fn run(self) -> Result<(), E> {
        let Supervisor {
            mut config,
            backoff,
            restarts,
            window,
            on_event,
            children,
        } = self;
        let intensity = Arc::new(Intensity {
            restarts,
            window,
            recent: Mutex::new(VecDeque::new()),
        });
        let parent_deadline = config
            .parent
            .as_ref()
            .map_or_else(|| Cx::current().deadline(), Cx::deadline);
        // A limit below the children would keep one from ever starting: refused, as the
        // scope refuses a zero limit.
        if let Some(limit) = config.limit.filter(|&n| n > 0 && n < children.len()) {
            config.error.get_or_insert_with(|| {
                Box::new(ConfigError::LimitBelowChildren {
                    limit,
                    children: children.len(),
                })
            });
        }
        // A backoff that sleeps needs tokio's timer: refused where none runs, as the limit
        // is (not a panic at the first restart, reported as that child's).
        let first = backoff.delay(1);
        let restarts_any = children.iter().any(|c| c.restart != Restart::Temporary);
        if restarts_any && !first.is_zero() && !crate::timer::has_time_driver() {
            config.error.get_or_insert_with(|| {
                Box::new(ConfigError::NoTimer {
                    what: "a supervisor's backoff",
                    wait: first,
                })
            });
        }
        let refused = config.error.is_some();
        // Per child: it has run and no incarnation of it is running now (it waits out a
        // backoff, or has ended). A child that never started was cut short by a stop.
        let idle: Vec<Arc<AtomicBool>> = children
            .iter()
            .map(|_| Arc::new(AtomicBool::new(false)))
            .collect();
        let s = &Scope::new(config);
        let idle_now = idle.clone();
        let idle_at_end = idle.clone();
        let out = s
            .run(async move {
                let handles: Vec<_> = children
                    .into_iter()
                    .zip(idle_now)
                    .map(|(spec, idle)| {
                        let info = spec.info.clone();
                        let watch = Watch {
                            backoff,
                            intensity: Arc::clone(&intensity),
                            on_event: on_event.clone(),
                            scope: s.shared_handle(),
                            idle,
                        };
                        s.spawn_as(info, supervise(spec, watch))
                    })
                    .collect();
                // A child that never ran answered no cancel: the stop cut it short.
                let mut never_ran = false;
                for handle in handles {
                    // A give-up reaches the scope as the failure it is; a cancelled child's
                    // handle reports the cancellation, which the scope already knows.
                    never_ran |= matches!(handle.await, Err(Interrupted::NotStarted(_)));
                }
                // Its own deadline passed (one earlier than its parent's): reported as such,
                // whether or not the children answered it within the grace. A stop from outside
                // that they answered is not a failure of the supervisor, and a deadline inherited
                // from the parent is one, whichever node fired it first.
                let own_deadline = s
                    .cx()
                    .deadline()
                    .is_some_and(|at| parent_deadline.is_none_or(|p| at < p));
                // So is a stop that a grace ran out on (its own, or an enclosing scope's,
                // whose abort sealed this scope too): the abort cut the children short, and
                // this body, polled once more after them, reports it (a clean one below if no
                // incarnation was running).
                // (A child its runtime dropped, shutting down, was cut short: whatever the
                // grace, that is no clean stop.)
                // With no grace, an incarnation running at the stop was cut short by it, also
                // one that answered before the scope's abort came (its docs: a clean stop is
                // one with no incarnation running; the race between the answer and the abort
                // does not decide).
                let ran_at_stop = || {
                    s.shared_handle().cancel_grace().is_zero()
                        && idle_at_end.iter().any(|i| !i.load(Ordering::Relaxed))
                };
                match s.cx().cause_arc() {
                    Some(cause)
                        if (own_deadline && cause.is_deadline())
                            || s.shared_handle().tracker.is_sealed()
                            || never_ran
                            || ran_at_stop()
                            || s.shared_handle().runtime_gone() =>
                    {
                        Err(E::from(Interrupted::from_shared_cause(cause)))
                    }
                    _ => Ok(()),
                }
            })
            .await;
        // Stopped by a cancel from outside while no incarnation ran (each child waited out a
        // backoff, had not started, or had ended): a clean stop, whoever ran first after the
        // cancel. With no grace the scope may have stopped the children, and dropped the body,
        // before a child in its backoff answered: that child stopped at once all the same.
        match out {
            Err(error) if !refused && Self::stopped_idle(s, &idle) => {
                drop_after_panic(error);
                Ok(())
            }
            out => out,
        }
    }

    /// Whether the supervisor's scope `s` was stopped by a cancel from outside (its parent's,
    /// its parent's deadline: not its own deadline, nor a give-up's or a panic's cancel) with
    /// no child given up or panicked and no incarnation running (`idle`).
    fn stopped_idle(
        s: &Scope<'_, '_, E, crate::scope::Sendable>,
        idle: &[Arc<AtomicBool>],
    ) -> bool {
        // (The children's tasks have ended: `run` joined them, so their marks are read after
        // their last writes.)
        let all_idle = idle.iter().all(|i| i.load(Ordering::Relaxed));
        let from_outside = s
            .cx()
            .cause_arc()
            .is_some_and(|c| matches!(*c, crate::cause::Cause::ParentCancelled(_)));
        // (A child that gave up returns its failure, whatever cancel came meanwhile.)
        let gave_up = s.shared_handle().gave_up.load(Ordering::Acquire) != 0;
        all_idle && from_outside && !gave_up && !s.child_panicked()
    }
}

impl<E> fmt::Debug for Supervisor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let children: Vec<_> = self
            .children
            .iter()
            .map(|c| (c.info.name().unwrap_or_default(), c.restart))
            .collect();
        f.debug_struct("Supervisor")
            .field("config", &self.config)
            .field("backoff", &self.backoff)
            .field("restarts", &self.restarts)
            .field("window", &self.window)
            .field("children", &children)
            .finish_non_exhaustive()
    }
}

/// The restart intensity, shared by every child of one supervisor.
struct Intensity {
    restarts: u32,
    window: Duration,
    /// The instants of the restarts after failures within the window, oldest first; never
    /// more than `restarts` of them.
    recent: Mutex<VecDeque<Instant>>,
}

impl Intensity {
    /// Records a restart after a failure at `now`, unless the window already holds the most
    /// it may: then the supervisor gives up (`false`).
    fn admit(&self, now: Instant) -> bool {
        let mut recent = self.recent.lock();
        // A window holds its two ends (as OTP's does): a restart exactly `window` old is still
        // in it. A zero window holds none.
        while recent.front().is_some_and(|t| {
            self.window.is_zero() || now.saturating_duration_since(*t) > self.window
        }) {
            recent.pop_front();
        }
        let limit = usize::try_from(self.restarts).unwrap_or(usize::MAX);
        if recent.len() >= limit {
            return false;
        }
        recent.push_back(now);
        true
    }
}

/// What a child's loop shares with its supervisor.
struct Watch<E> {
    backoff: Backoff,
    intensity: Arc<Intensity>,
    on_event: Option<Arc<EventFn<E>>>,
    /// The supervisor's scope, which a give-up cancels (naming the child) before `on_event`
    /// hears of it: the give-up's error, returned after, is then the failure the cancel names,
    /// not a consequence of a cancel `on_event` (or anyone) makes meanwhile.
    scope: Arc<Shared<E>>,
    /// This child has run, and no incarnation of it is running (see `Supervisor::run`).
    idle: Arc<AtomicBool>,
}

impl<E: fmt::Display> Watch<E> {
    /// A give-up: the other children are stopped now, by the scope's own cancel naming this
    /// child (a callback's panic there is the scope's), before `on_event` hears of it (which
    /// may cancel more: the application). A panic of the error's `Display` is this child's,
    /// with the error dropped first.
    fn give_up(&self, child: &TaskInfo, error: E) -> E {
        match message_of(&error) {
            Ok(message) => {
                self.scope.give_up(child, message);
                error
            }
            Err(payload) => {
                drop_after_panic(error);
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Tells the observers (see `observe::incarnation_ended`) and `on_event` of a decision
    /// after an incarnation that ended with `error` (`true`: the error stands for its panic),
    /// and hands the error back. The callback's panic is this child's; the error, whose
    /// destructor may panic too, is dropped first (a second panic while unwinding would abort
    /// the process).
    fn tell(
        &self,
        child: &TaskInfo,
        attempt: u32,
        (error, panicked): (Option<E>, bool),
        action: SupervisorAction,
    ) -> Option<E> {
        crate::observe::incarnation_ended(
            &self.scope.info,
            child,
            attempt,
            error.as_ref().map(|e| e as &dyn fmt::Display),
            panicked,
            action.as_str(),
        );
        let Some(report) = &self.on_event else {
            return error;
        };
        let event = SupervisorEvent {
            child: child.name().unwrap_or_default(),
            attempt,
            error: error.as_ref(),
            action,
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| report(&event))) {
            drop_after_panic(error);
            std::panic::resume_unwind(payload);
        }
        error
    }
}

/// One child's life under the supervisor: incarnations, decisions, backoffs.
async fn supervise<E>(mut spec: Spec<E>, watch: Watch<E>) -> Result<(), E>
where
    E: From<Interrupted> + fmt::Display,
{
    let cx = Cx::current();
    let mut rng = Rng::seeded();
    let mut attempt: u32 = 0;
    // Restarts since an incarnation last ran a whole window: the backoff's `n`.
    let mut in_a_row: u32 = 0;
    loop {
        // (`catch_up`: a stop from further up still on its way down counts.)
        if attempt > 0 && cx.catch_up() {
            // Stopped as the backoff ended (both came due together): no new incarnation.
            return Ok(());
        }
        attempt = attempt.saturating_add(1);
        let started = Instant::now();
        // The factory's call is part of the incarnation: a panic there is a crash too.
        // The incarnation's own context, ended with it (see `Supervisor::child`).
        let incarnation = cx.child();
        let factory = &mut spec.factory;
        watch.idle.store(false, Ordering::Relaxed);
        // A panic no report of a scope it dropped carries is its crash too.
        let ended = AssertUnwindSafe(crate::error::CatchesBelow::new(
            incarnation.clone().run(async move { factory().await }),
        ))
        .catch_unwind()
        .await;
        // Its `on_cancel` callbacks are its code: a panic there is its crash too.
        let ended = match (
            ended,
            catch_unwind(AssertUnwindSafe(|| incarnation.finish(&spec.info))),
        ) {
            (Ok(out), Err(payload)) => {
                // Its error is part of this crash: a panic of its destructor is too.
                drop_after_panic(out);
                Err(payload)
            }
            (ended, Err(second)) => {
                drop_after_panic(second);
                ended
            }
            (ended, Ok(())) => ended,
        };
        if cx.catch_up() {
            // The supervisor is stopping (or this child was stopped): whatever the
            // incarnation returned, it is not a failure. A panic is never silent: it is
            // this child's panic, as in any scope.
            match ended {
                Err(payload) => std::panic::resume_unwind(payload),
                // Its error is dropped as the rest of the incarnation: a panic of its
                // destructor is this crash's, not the supervisor's.
                Ok(out) => drop_after_panic(out),
            }
            return Ok(());
        }
        // Ended before any stop: no incarnation runs (until a restart). One that ends after
        // the stop (above) was running at it, whether it answered before the scope's abort
        // came or not: the result does not depend on which ran first.
        watch.idle.store(true, Ordering::Relaxed);
        let panicked = ended.is_err();
        let error = match ended {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error),
            Err(payload) => Some(E::from(Panicked::new(spec.info.clone(), payload).into())),
        };
        let restarts = |in_a_row: &mut u32, rng: &mut Rng| {
            if started.elapsed() >= watch.intensity.window {
                // It ran a whole window: the backoff starts over.
                *in_a_row = 0;
            }
            *in_a_row = in_a_row.saturating_add(1);
            watch.backoff.next_delay(*in_a_row, rng)
        };
        let action = match (&error, spec.restart) {
            // A normal return backs off as a failure does (so a child that returns at once
            // is no restart storm), and is not counted against the intensity.
            (None, Restart::Permanent) => SupervisorAction::Restart {
                delay: restarts(&mut in_a_row, &mut rng),
            },
            (None, Restart::Transient | Restart::Temporary) | (Some(_), Restart::Temporary) => {
                SupervisorAction::Stop
            }
            (Some(_), Restart::Permanent | Restart::Transient) => {
                let delay = restarts(&mut in_a_row, &mut rng);
                if watch.intensity.admit(Instant::now()) {
                    SupervisorAction::Restart { delay }
                } else {
                    SupervisorAction::GiveUp
                }
            }
        };
        let error = match (action, error) {
            (SupervisorAction::GiveUp, Some(error)) => Some(watch.give_up(&spec.info, error)),
            (_, error) => error,
        };
        let error = watch.tell(&spec.info, attempt, (error, panicked), action);
        match (action, error) {
            (SupervisorAction::Restart { delay }, error) => {
                // Part of the crash being restarted: a panic of its destructor is that crash,
                // not one of the supervisor (which would stop every child).
                drop_after_panic(error);
                if delay.is_zero() {
                    // At once, without a timer (none exists outside a tokio runtime); on one,
                    // a unit of the task's budget, so that a child that ends at once each
                    // time still lets the runtime's other tasks run.
                    tokio::task::consume_budget().await;
                    continue;
                }
                // Cut short, its runtime shut down: as a cancel from outside (each child's loop
                // is a task, which the shutdown drops first, so this is for a loop driven on).
                let sleep = pin!(Delay::after(delay));
                match select(sleep, pin!(cx.cancelled())).await {
                    Either::Left((Fired::Due, _)) => {}
                    _ => return Ok(()),
                }
            }
            // The failure the give-up's cancel names: kept by the scope, whatever cancel
            // came since.
            (SupervisorAction::GiveUp, Some(error)) => return Err(error),
            (SupervisorAction::Stop | SupervisorAction::GiveUp, error) => {
                drop_after_panic(error);
                return Ok(());
            }
        }
    }
}
