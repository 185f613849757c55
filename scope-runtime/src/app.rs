//! The application: the owner of a program's main work and of the services made under it,
//! and of their shutdown, in phases with a budget each.
//!
//! `#[scope::main]` makes one and drives it with the process's signals; [`App::run`] does the
//! same for any stream of signals (a test's, say).
//!
//! # The phases
//!
//! 1. **Stop accepting** (at once, on the first signal): the application's context is
//!    cancelled with [`Cause::Shutdown`]. The main work and everything under it see it
//!    ([`cancelled`](crate::cancelled), [`shutdown_signal`](crate::shutdown_signal)): servers
//!    stop accepting, loops stop taking work. Services are not cancelled: in-flight work may
//!    still hand them records.
//! 2. **Drain** (budget: the grace, from the signal): the main work finishes (the body of
//!    `main` returns, its children end); then every service, last made first, is closed and
//!    its accepted work (queued included) waited for, within what is left of the grace. The
//!    work of a [daemon](crate::ServiceConfig::daemon) service (a consumer loop, a
//!    supervisor) is cancelled first, with the shutdown's cause, since it runs until told:
//!    each of its tasks has the service's own grace to end, within what is left of the
//!    application's (a task still running at the service's grace is dropped then, and the
//!    work below it aborted, however long the graces of the scopes in it; one whose service's
//!    grace outlasts the application's is stopped in phase 3).
//! 3. **Stop** (budget: each service's own grace, not what is left of the application's):
//!    the services with work left are stopped together: cancelled, given their grace (and
//!    their shields' budgets), then aborted. If
//!    the main work did not finish within the grace, it runs on only while the services are
//!    stopped, and is dropped when the run returns: the application's grace is the program's
//!    own bound, and neither a budgeted [`shield_for`](crate::shield_for) in the main work
//!    nor a longer grace of a scope in it extends it (a shield does extend the main scope's
//!    own abort, and a service's): the spawned children of the work's scopes, and the work
//!    below them, are aborted as it is dropped.
//!
//! A second signal at any point ends the shutdown at once: the services are closed, cancelled
//! and aborted, and the run returns without waiting for the aborted tasks (tokio drops each at
//! its next turn, which may come just after the run returns; under `#[scope::main]`, the
//! runtime's shutdown right after drops them). When the main work ends on its own
//! (no signal), phases 2 and 3 run for the services all the same; a signal that comes while
//! they do is the first one, not a second: it cancels the application's context (phase 1, for
//! whatever still runs under it) and the drain goes on.
//!
//! The [`ShutdownReport`] says what each phase did: what drained, what had to be stopped or
//! aborted (by name), and the failures of service tasks not read before.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::Either;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use crate::cause::{Cause, Signal};
use crate::cx::{deadline_after, saturating_add, Cx};
use crate::error::{drop_after_panic, keep_first, ConfigError};
use crate::info::TaskInfo;
use crate::service::{keep_in, Inner as ServiceInner, Panic, Service, StopReport, TaskFailure};
use crate::slot::Slot;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering};

/// The application a context belongs to: bound on the application's context, so every
/// descendant (and every detached copy) finds it in O(1).
static APP: Slot<Weak<AppInner>> = Slot::new("scope::App");

struct AppInner {
    cx: Cx,
    /// Who the application is, for the cause its context ends with ([`Cause::Finished`]).
    info: TaskInfo,
    /// The services made under the application, in the order they were made: owned, so a
    /// service whose handles were all dropped is still drained (and reported) at shutdown.
    services: Mutex<Vec<Arc<ServiceInner>>>,
    /// When the stops of the shutdown's latest pass end at the latest (their graces and the
    /// wait after their aborts): a later pass starts after the one before, so the watchdog
    /// counts each pass in turn, not the longest grace once.
    stops_until: Mutex<Option<tokio::time::Instant>>,
    /// The run has ended: a service adopted from now on is aborted at once (closed, cancelled,
    /// its work dropped). Written and read under `services`' lock, so that a service adopted
    /// as the run ends is either in the run's last look at the services or sees this.
    ended: AtomicBool,
    /// The run's shutdown began with an OS signal (set before the context is cancelled with
    /// it): the watchdog tells it from a cancel the program made itself.
    os_signal_first: AtomicBool,
    /// How many services (the first ones adopted) the run's shutdown has looked at: one
    /// adopted after its last look (from another thread, before the run marked itself ended)
    /// is aborted by the run's end, as one adopted after it is by `adopt`.
    looked_at: AtomicUsize,
    /// The report of a run that resumed a callback's panic at its end in place of returning
    /// it, for `#[scope::main]` to print before it exits with that panic.
    report_at_panic: Mutex<Option<ShutdownReport>>,
    /// A run has begun (its first poll): another is refused.
    ran: AtomicBool,
    /// `#[scope::main]`'s: the report's first lines are printed as the shutdown begins, and
    /// kept here, so that the report printed at the end leaves them out.
    live: Option<Mutex<Vec<String>>>,
}

impl AppInner {
    fn looked_at(&self, services: usize) {
        // Relaxed: read on this thread, by the run's end.
        self.looked_at.store(services, Ordering::Relaxed);
    }
}

/// The application: owner of the program's main work (run under its context) and of the
/// services made under it, which its shutdown drains and stops. `#[scope::main]` makes one;
/// make your own to run the same shutdown under another entry point (or in a test).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{App, Service, ServiceConfig, Signal};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let app = App::new();
/// let signals = futures_util::stream::iter([Signal::Terminate]);
/// let (out, report) = app
///     .run(Duration::from_secs(10), signals, async {
///         let audit = Service::new(ServiceConfig::new("audit")); // owned by the app
///         let _ = audit.spawn(tokio::time::sleep(Duration::from_millis(300))).unwrap();
///         let cause = scope::cancelled().await; // phase 1: stop accepting
///         tokio::time::sleep(Duration::from_millis(100)).await; // finish in-flight work
///         format!("stopped: {cause}")
///     })
///     .await;
/// assert_eq!(out.as_deref(), Some("stopped: shutdown requested by SIGTERM"));
/// assert!(report.is_clean()); // the audit record was drained, nothing was cut short
/// assert_eq!(report.drained()[0].name(), Some("audit"));
/// # });
/// ```
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

/// Adopts a service made under an application's context.
pub(crate) fn adopt_current(service: &Service) {
    if let Some(app) = App::current() {
        app.adopt(service);
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl App {
    /// A new application, with a root context of its own, named `app` (where it was made is
    /// where [`TaskInfo::location`] points).
    ///
    /// # Examples
    ///
    /// ```
    /// let app = scope::App::new();
    /// assert!(!app.cx().is_cancelled());
    /// assert!(app.services().is_empty());
    /// ```
    #[must_use]
    #[track_caller]
    pub fn new() -> Self {
        Self::built(false)
    }

    #[track_caller]
    fn built(live: bool) -> Self {
        let info = TaskInfo::here(Some("app".into()));
        Self {
            inner: Arc::new_cyclic(|me| AppInner {
                cx: Cx::root().with_slot(&APP, me.clone()),
                info,
                services: Mutex::new(Vec::new()),
                ended: AtomicBool::new(false),
                os_signal_first: AtomicBool::new(false),
                looked_at: AtomicUsize::new(0),
                report_at_panic: Mutex::new(None),
                stops_until: Mutex::new(None),
                ran: AtomicBool::new(false),
                live: live.then(|| Mutex::new(Vec::new())),
            }),
        }
    }

    /// An application whose run prints the report's first lines to stderr as the shutdown
    /// begins (`#[scope::main]`'s): an operator sees at once that a signal started it, not
    /// only when it has ended (or never, when the process is killed before).
    #[track_caller]
    pub(crate) fn printing_live() -> Self {
        Self::built(true)
    }

    /// Prints `lines` (the report's first ones, as they have become true) if the run prints
    /// live, and keeps them for the end's report to leave out.
    fn announce(&self, lines: Vec<String>) {
        let Some(live) = &self.inner.live else {
            return;
        };
        let text: Vec<String> = lines
            .iter()
            .map(|line| format!("shutdown: {line}"))
            .collect();
        // Written on a thread of its own, not waited for here: a stalled stderr holds up
        // neither the shutdown nor the runtime's thread.
        if crate::entry::say_soon(text.join("\n")) {
            live.lock().extend(lines);
        }
    }

    /// The shutdown begins with `signal`, `after` the run began: the application's context is
    /// cancelled, and the report says so (and, printing live, so does stderr, after the
    /// cancel, which it must not hold up).
    fn begin_shutdown(
        &self,
        report: &mut ShutdownReport,
        signal: Signal,
        after: Duration,
        kept: &mut Option<Panic>,
    ) {
        report.signal = Some(signal.clone());
        report.running_for = Some(after);
        self.cancel_keeping(Cause::Shutdown { signal }, kept);
        self.announce(report.head());
    }

    /// The report's lines printed as the shutdown went (see [`App::printing_live`]), taken.
    pub(crate) fn take_announced(&self) -> Vec<String> {
        self.inner
            .live
            .as_ref()
            .map(|live| std::mem::take(&mut *live.lock()))
            .unwrap_or_default()
    }

    /// The application the ambient context belongs to, if any: inside `#[scope::main]`, or
    /// under [`App::cx`] (and in work detached from there).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::App;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert!(App::current().is_none());
    /// let app = App::new();
    /// let found = app.cx().clone().run(async { App::current() }).await;
    /// assert!(found.unwrap().cx().same_as(app.cx()));
    /// # });
    /// ```
    #[must_use]
    pub fn current() -> Option<App> {
        let weak = crate::cx::with_current(|cx| cx.get(&APP).cloned())?;
        weak.upgrade().map(|inner| App { inner })
    }

    /// The application's context: the main work runs under it; the shutdown's first phase
    /// cancels it with [`Cause::Shutdown`].
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{App, Cause, Signal};
    /// let app = App::new();
    /// app.cx().cancel_with(Cause::Shutdown { signal: Signal::Terminate });
    /// assert!(app.cx().is_cancelled());
    /// ```
    #[must_use]
    pub fn cx(&self) -> &Cx {
        &self.inner.cx
    }

    /// Asks for the application's shutdown from inside the program (an admin endpoint, a fatal
    /// condition a handler finds): [`run`](App::run) takes it as its first signal,
    /// [`Signal::Requested`] with `reason`, and the shutdown goes as for an OS signal (the
    /// grace bounds the main work, the services drain, the report says who asked). The same
    /// happens when the application's [context](App::cx) is cancelled another way: a
    /// [`Cause::Shutdown`] gives its signal, another cause a `Requested` one that says it
    /// (but only a `Cause::Shutdown` is a shutdown to the rest of the crate: a scope gives its
    /// [shutdown grace](crate::Config::shutdown_grace) under a shutdown, one without a grace
    /// of its own takes its enclosing scope's, and `#[scope::main]` reports the interruption
    /// as the shutdown's; so ask with this method). The first OS
    /// signal after it does not cut the shutdown short; a second one does.
    ///
    /// Under `#[scope::main]`, [`App::current`] finds the application.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{App, Signal};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let app = App::new();
    /// let asked = app.clone();
    /// let (out, report) = app
    ///     .run(Duration::from_secs(5), futures_util::stream::pending(), async move {
    ///         asked.request_shutdown("maintenance");
    ///         scope::cancelled().await; // the main work stops when asked
    ///         "stopped"
    ///     })
    ///     .await;
    /// assert_eq!(out, Some("stopped"));
    /// assert_eq!(report.signal(), Some(&Signal::Requested("maintenance".into())));
    /// # });
    /// ```
    pub fn request_shutdown(&self, reason: impl Into<Cow<'static, str>>) {
        self.inner.cx.cancel_with(Cause::Shutdown {
            signal: Signal::Requested(reason.into()),
        });
    }

    /// Whether the run's shutdown began with an OS signal, rather than with a cancel the
    /// program made (a request, or the context cancelled another way).
    pub(crate) fn saw_os_signal_first(&self) -> bool {
        // Acquire: pairs with the Release store before the run's cancel.
        self.inner.os_signal_first.load(Ordering::Acquire)
    }

    /// When the stops of the shutdown's latest pass end at the latest, once one has begun.
    pub(crate) fn stops_until(&self) -> Option<tokio::time::Instant> {
        *self.inner.stops_until.lock()
    }

    /// The latest budget end of the budgeted shields under way in the application's services
    /// (their stops wait for them), if any.
    pub(crate) fn services_held_until(&self) -> Option<tokio::time::Instant> {
        // Looked at outside the application's lock (each look takes a tracker's).
        self.services()
            .iter()
            .filter_map(|s| crate::scope::tracker::Enclosing::tracker(&**s.inner()).held_until())
            .max()
    }

    /// The longest grace of the services the application owns now (zero without any).
    pub(crate) fn longest_service_grace(&self) -> Duration {
        self.inner
            .services
            .lock()
            .iter()
            .map(|s| crate::scope::tracker::Enclosing::grace(&**s))
            .max()
            .unwrap_or_default()
    }

    /// The application's services, in the order they were made. The application keeps each
    /// until it ends (services are long-lived owners: make them once, not per request).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{App, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let app = App::new();
    /// let audit = app.cx().clone().run(async { Service::new(ServiceConfig::new("audit")) }).await;
    /// drop(audit); // the application still owns it
    /// let names: Vec<_> = app.services().iter().map(|s| s.info().to_string()).collect();
    /// assert_eq!(names, ["audit"]);
    /// # });
    /// ```
    #[must_use]
    pub fn services(&self) -> Vec<Service> {
        self.inner
            .services
            .lock()
            .iter()
            .map(|s| Service::from_inner(Arc::clone(s)))
            .collect()
    }

    /// The process's shutdown signals, as a stream for [`run`](App::run): what
    /// `#[scope::main]` listens to, for a program that builds its runtime itself. The
    /// listeners are registered by this call, so that from then on none of the signals ends
    /// the process with its default action. `#[scope::main]`'s default is
    /// `[Signal::Interrupt, Signal::Terminate]`; [`Signal::Hangup`] is Unix only, and off
    /// Unix only [`Signal::Interrupt`] (Ctrl-C) can be listened to. A signal listed twice is
    /// listened to once.
    ///
    /// # Errors
    ///
    /// Outside a tokio runtime, or on one built without its I/O driver (tokio panics there:
    /// the panic is caught, and its message printed by the panic hook), an error of kind
    /// `Other`; a [`Signal::Requested`], which no operating system sends, `InvalidInput`; a
    /// signal this platform does not have, `Unsupported`; the operating system's error if it
    /// refuses a listener.
    ///
    /// # Examples
    ///
    /// A program with a runtime of its own drives the application as `#[scope::main]` would,
    /// and exits with the code its end calls for:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{App, Signal};
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .thread_name("worker")
    ///     .enable_all()
    ///     .build()
    ///     .unwrap();
    /// let app = App::new();
    /// let (out, report) = runtime.block_on(async {
    ///     let signals = App::os_signals(&[Signal::Interrupt, Signal::Terminate]).unwrap();
    ///     app.run(Duration::from_secs(10), signals, async { "served" }).await
    /// });
    /// if !report.is_clean() {
    ///     eprintln!("{report}");
    /// }
    /// let code = report.signal().map_or(0, Signal::exit_code);
    /// assert_eq!((out, code), (Some("served"), 0));
    ///
    /// let outside = App::os_signals(&[Signal::Terminate]).err().unwrap();
    /// assert!(outside.to_string().starts_with("no tokio runtime"));
    /// ```
    pub fn os_signals(
        signals: &[Signal],
    ) -> std::io::Result<std::pin::Pin<Box<dyn Stream<Item = Signal> + Send>>> {
        crate::entry::listen_all(signals)
    }

    /// Makes `service` part of this application (a service made under the application's
    /// context already is). Adopting it twice changes nothing. Once the application's
    /// [run](App::run) has ended, the service is aborted instead (closed, cancelled, its work
    /// dropped): no work the application owns runs on after its run.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{App, Service, ServiceConfig};
    /// let app = App::new();
    /// let mailer = Service::new(ServiceConfig::new("mailer")); // made outside the app
    /// app.adopt(&mailer);
    /// app.adopt(&mailer);
    /// assert_eq!(app.services().len(), 1);
    /// ```
    pub fn adopt(&self, service: &Service) {
        let inner = service.inner();
        let ended = {
            let mut services = self.inner.services.lock();
            // Relaxed: written under this lock.
            let ended = self.inner.ended.load(Ordering::Relaxed);
            if !ended && !services.iter().any(|s| Arc::ptr_eq(s, inner)) {
                services.push(Arc::clone(inner));
            }
            ended
        };
        if ended {
            // No work the application owns runs on, or is taken, after its run: aborted as
            // the run's end aborts what its shutdown did not reach (outside the lock).
            let panic = service.abort_unread(
                Signal::Requested(Cow::Borrowed("application run ended")),
                "the application's run had ended".to_owned(),
            );
            if std::thread::panicking() {
                drop_after_panic(panic);
            } else {
                resume(panic);
            }
        }
    }

    /// Why a run with `grace` is refused, if it is; else the run takes the application.
    fn refuses(&self, grace: Duration) -> Option<ConfigError> {
        // The shutdown's budgets are timed on tokio's timer: where none runs, the run is
        // refused, the application left as it was (tokio would panic at the first signal).
        if !crate::timer::has_time_driver() {
            return Some(ConfigError::NoTimer {
                what: "an application's shutdown grace",
                wait: grace,
            });
        }
        // AcqRel: one run of any number racing here takes the application.
        self.inner
            .ran
            .swap(true, Ordering::AcqRel)
            .then_some(ConfigError::AppAlreadyRun)
    }

    /// Runs `work` under the application's context until it ends, or until `signals` gives
    /// the first shutdown signal (or the program asks for the shutdown: a cancel of
    /// [`App::cx`], [`App::request_shutdown`]); then the shutdown's phases (see the crate docs,
    /// "Shutdown"), with `grace` as the drain budget (`Duration::MAX`: no limit, the shutdown waits
    /// as long as the work and the services take). Services with work left past it are then
    /// stopped within their own graces ([`ServiceConfig::grace`](crate::ServiceConfig::grace),
    /// 5 s unless set), not within this one: a program that must end within `grace` gives its
    /// services shorter ones. The work's scopes drain within it: a scope
    /// made in the work outside any scope, with no [grace](crate::Config::grace) of its own,
    /// gives its children `grace` at the shutdown (as `#[scope::main]`'s main scope does; the
    /// scopes nested in it with no grace of their own, too), so a request in flight finishes
    /// instead of being aborted at the signal. A second signal ends the shutdown at once
    /// (after a shutdown the program asked for, the second OS signal: the first is the
    /// orchestrator's usual stop, and the drain goes on). Returns the
    /// work's output (`None` if it did not end within the grace, or a second signal came
    /// before it ended) and what each phase did (after a second signal too: the services'
    /// unread failures and the tasks it aborted, by name).
    ///
    /// An application runs once: a second run (after the first, or inside it) is refused. It
    /// returns `None` at once, with a report whose [`refused`](ShutdownReport::refused) says
    /// so; its work is dropped unpolled, and the application (its context, its services) is
    /// left as it was. When `run` returns (or its future is dropped), the
    /// application's context has ended. Its cause is the shutdown's if a signal came, else
    /// [`Cause::Finished`] naming the application (`app`), so work detached under
    /// [`App::cx`] itself (not under a scope) learns that the program is done. A run that
    /// ends before its shutdown has done its work (its future dropped part way: a `timeout`
    /// or a `select!` around it; or unwinding from the work's panic) closes, cancels and
    /// aborts the application's services at once, as a second signal does: no work the
    /// application owns runs on, or is taken, after its run. A service made under the
    /// application's context (or [adopted](App::adopt)) after that is aborted as it is
    /// adopted: it takes no work ([`SpawnError::Closed`](crate::SpawnError::Closed)).
    ///
    /// # Panics
    ///
    /// Resumes a panic of the main work. If an [`on_cancel`](crate::Cx::on_cancel) callback
    /// panics in one of the shutdown's own cancels (the application's context, a service's
    /// stop), the shutdown goes on, and the first such panic is resumed here at its end.
    ///
    /// The shutdown's budgets are kept with tokio's timers: run it on a runtime that has them
    /// (`enable_time()` or `enable_all()`). Elsewhere (outside a tokio runtime, or on one
    /// without timers) the run is refused before anything starts, as a second run is, with
    /// [`ConfigError::NoTimer`]; the application is left as it was. A second signal returns at once, after the
    /// application's services have been closed, cancelled and aborted (without waiting for
    /// the aborts: tokio drops each aborted service task at its next turn, which may come
    /// just after this returns, as below; a run whose future is dropped part way aborts them
    /// so too); the work's own
    /// spawned children get what is left of its scope's grace as its future is dropped.
    /// Work cut short at the grace's end is dropped too, past every grace: its scopes'
    /// spawned children (and the work below them) are aborted as it is dropped, budgeted
    /// shields and scopes with a longer grace of their own included, and tokio drops an
    /// aborted task at its next turn, which may come just after this returns (under
    /// `#[scope::main]` the runtime's shutdown, right after, drops them). With a grace of zero the work has no time at all: a scope in it that
    /// answers the cancel while a spawned child of its own is still being aborted is cut
    /// short (give the application a grace, however short, to have its answer).
    ///
    /// # Examples
    ///
    /// Work that ignores the shutdown is cut short at the end of the grace:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{App, Forced, Signal};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let app = App::new();
    /// let signals = futures_util::stream::iter([Signal::Interrupt]);
    /// let start = tokio::time::Instant::now();
    /// let (out, report) = app.run(Duration::from_secs(2), signals, std::future::pending::<()>()).await;
    /// assert_eq!(out, None);
    /// assert_eq!(report.forced(), Some(&Forced::GraceRanOut { grace: Duration::from_secs(2) }));
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// # });
    /// ```
    pub async fn run<F, S>(
        &self,
        grace: Duration,
        signals: S,
        work: F,
    ) -> (Option<F::Output>, ShutdownReport)
    where
        F: Future,
        S: Stream<Item = Signal>,
    {
        if let Some(why) = self.refuses(grace) {
            // Before anything of a run is set up: the application is left as it was (the
            // work, user code, is dropped here, under no lock).
            drop(work);
            let report = ShutdownReport {
                refused: Some(why),
                ..ShutdownReport::default()
            };
            return (None, report);
        }
        // Declared first, so it ends the context last: after the main work was dropped.
        let mut ends = EndsOnDrop {
            app: &self.inner,
            shut_down: false,
        };
        // The first panic of an `on_cancel` callback that the shutdown's own cancels ran: the
        // shutdown goes on, and the panic reaches the caller at its end.
        let mut kept: Option<Panic> = None;
        let mut signals = pin!(signals.fuse());
        let mut report = ShutdownReport::default();
        let mut work = pin!(InWork {
            grace,
            work: Some(self.inner.cx.clone().run(work)),
        });
        // Declared after the work, so dropped before it: the run has ended for `adopt` by the
        // time the work (unfinished, after a forced end) is dropped, so a service its
        // destructors make is aborted as it is adopted, not left with no owner.
        let run_ended = RunEnded(&self.inner);
        let start = Instant::now();
        let first = self.first_event(signals.as_mut(), work.as_mut()).await;
        // After a shutdown the program asked for, the first OS signal is the orchestrator's
        // usual stop (SIGTERM while the program drains): the shutdown is under way already,
        // and only a second OS signal cuts it short, as the watchdog counts them.
        let mut forgive_an_os_signal = matches!(first, Either::Left((_, true)));
        let (out, deadline) = match first {
            Either::Right(out) => {
                if let Some(cause) = self.inner.cx.cause() {
                    // Asked for in the poll in which the main work ended (it saw the request
                    // and returned at once): a graceful stop, reported as such.
                    forgive_an_os_signal = true;
                    report.signal = Some(requested(&cause));
                    report.running_for = Some(start.elapsed());
                    report.main_ended_after = Some(Duration::ZERO);
                }
                (Some(out), deadline_after(grace))
            }
            Either::Left((signal, asked)) => {
                // Release: before the cancel below, which the watchdog waits for.
                self.inner.os_signal_first.store(!asked, Ordering::Release);
                // Phase 1: stop accepting.
                let since = Instant::now();
                self.begin_shutdown(&mut report, signal, since - start, &mut kept);
                let deadline = saturating_add(since, grace);
                // Phase 2, the main work: within the grace.
                // Its end, or cut short by the runtime's shutdown: the grace is over.
                let timer = pin!(crate::timer::Delay::until(deadline));
                let mut ended = futures_util::future::select(work.as_mut(), timer);
                let phase_2 = loop {
                    match or_signal(&mut ended, signals.as_mut()).await {
                        Err(_) if std::mem::take(&mut forgive_an_os_signal) => {}
                        ended => break ended,
                    }
                };
                match phase_2 {
                    Err(second) => {
                        self.abort_services(&second, &mut report, &mut kept);
                        report.forced = Some(Forced::SecondSignal(second));
                        ends.shut_down = true;
                        drop(ended);
                        drop(run_ended);
                        work.as_mut().drop_unfinished(false, &mut kept);
                        self.resume_with(kept, &report);
                        return (None, report);
                    }
                    Ok(Either::Left((out, _))) => {
                        let after = since.elapsed();
                        report.main_ended_after = Some(after);
                        // Its scope's own grace (the same) ran out first: it was forced. With
                        // no grace, a work that answered in the poll that cancelled it was
                        // not (one that did not is aborted there, and returns the
                        // interruption).
                        if !grace.is_zero() && after >= grace {
                            report.forced = Some(Forced::GraceRanOut { grace });
                        }
                        (Some(out), deadline)
                    }
                    Ok(Either::Right((_, _))) => {
                        report.forced = Some(Forced::GraceRanOut { grace });
                        (None, deadline)
                    }
                }
            }
        };
        // Phases 2 (the services) and 3, while a main work cut short finishes its abort.
        let unfinished = out.is_none().then_some(work.as_mut());
        let second = self
            .drain_services(Drain {
                deadline,
                start,
                forgive_an_os_signal,
                report: &mut report,
                kept: &mut kept,
                signals: signals.as_mut(),
                unfinished,
            })
            .await;
        if let Some(second) = second {
            self.abort_services(&second, &mut report, &mut kept);
            report.forced = Some(Forced::SecondSignal(second));
        }
        ends.shut_down = true;
        if out.is_none() {
            // The run has ended for `adopt` first, as when the work is dropped at the run's
            // end (see `RunEnded` above); and its shutdown has done its work, so a panic of the
            // work's destructors is the work's panic, resumed below (a callback's kept before
            // it goes first), not an end before the shutdown.
            drop(run_ended);
            let past_every_grace = matches!(report.forced, Some(Forced::GraceRanOut { .. }));
            work.as_mut().drop_unfinished(past_every_grace, &mut kept);
        }
        self.resume_with(kept, &report);
        (out, report)
    }

    /// Resumes a kept callback's panic, if any, keeping the report of what the shutdown did
    /// for [`take_report_at_panic`](App::take_report_at_panic).
    fn resume_with(&self, kept: Option<Panic>, report: &ShutdownReport) {
        if kept.is_some() {
            *self.inner.report_at_panic.lock() = Some(report.clone());
        }
        resume(kept);
    }

    /// Phases 2 (the services) and 3. The main work, if it was cut short, is polled only
    /// while the services are shut down (its scope aborts itself); a work that never ends does
    /// not hold the shutdown up. A signal here is the first one if the main work ended on its
    /// own (so is a shutdown the program asks for then): the shutdown is already under way,
    /// so it only tells the application's context to stop accepting; a second signal ends the
    /// shutdown at once, and is returned.
    async fn drain_services<W: Future, S: Stream<Item = Signal>>(
        &self,
        d: Drain<'_, '_, W, S>,
    ) -> Option<Signal> {
        let Drain {
            deadline,
            start,
            mut forgive_an_os_signal,
            report,
            kept,
            mut signals,
            mut unfinished,
        } = d;
        let first_came = report.signal.is_some();
        let mut late = None;
        // The stops' callback panics, kept as they happen: a second signal drops the stops
        // part way.
        let stop_panics = Mutex::new(None);
        let second = {
            let services = pin!(self.shutdown_services(deadline, report, &stop_panics));
            let finishing = pin!(async {
                if let Some(work) = unfinished.as_mut() {
                    let _ = work.as_mut().await;
                }
                std::future::pending::<()>().await;
            });
            let mut both = pin!(futures_util::future::select(services, finishing));
            // The program may ask for the shutdown while the services drain after the main
            // work ended on its own: the first signal then, as an OS signal would be.
            let mut asked = pin!(async { requested(&self.inner.cx.cancelled().await) });
            loop {
                let next = if !first_came && late.is_none() {
                    let either = or_signal(both.as_mut(), signals.as_mut());
                    match futures_util::future::select(pin!(either), asked.as_mut()).await {
                        Either::Left((next, _)) => next,
                        Either::Right((signal, _)) => {
                            // The context is cancelled already (that is the request); the
                            // orchestrator's usual OS signal after it is not a second one.
                            late = Some((signal, start.elapsed()));
                            forgive_an_os_signal = true;
                            continue;
                        }
                    }
                } else {
                    or_signal(both.as_mut(), signals.as_mut()).await
                };
                match next {
                    Ok(_) => break None,
                    Err(_) if std::mem::take(&mut forgive_an_os_signal) => {}
                    Err(signal) if !first_came && late.is_none() => {
                        let after = start.elapsed();
                        late = Some((signal.clone(), after));
                        let head = while_draining_head(&signal, after);
                        self.cancel_keeping(Cause::Shutdown { signal }, kept);
                        self.announce(head);
                    }
                    Err(second) => break Some(second),
                }
            }
        };
        if !first_came && late.is_none() {
            // Asked for in the poll in which the drain ended.
            if let Some(cause) = self.inner.cx.cause() {
                late = Some((requested(&cause), start.elapsed()));
            }
        }
        if let Some((signal, after)) = late {
            report.signal = Some(signal);
            report.running_for = Some(after);
            report.while_draining = true;
        }
        let stop_panic = stop_panics.lock().take();
        keep(kept, stop_panic);
        second
    }

    /// The report of the last run that resumed a callback's panic in place of returning it.
    pub(crate) fn take_report_at_panic(&self) -> Option<ShutdownReport> {
        self.inner.report_at_panic.lock().take()
    }

    /// One of the shutdown's cancels of the application's context; a callback's panic is kept
    /// in `kept` (the first one).
    fn cancel_keeping(&self, cause: Cause, kept: &mut Option<Panic>) {
        let cancel = catch_unwind(AssertUnwindSafe(|| self.inner.cx.cancel_with(cause)));
        keep(kept, cancel.err());
    }

    /// A second signal: every service is closed, cancelled and aborted at once (the run
    /// returns now, and no work the application owns runs on after it unbounded).
    /// What each cut short (the tasks it aborted, by name, and the failures not read before)
    /// goes into the report.
    fn abort_services(
        &self,
        second: &Signal,
        report: &mut ShutdownReport,
        kept: &mut Option<Panic>,
    ) {
        let services = self.services();
        self.inner.looked_at(services.len());
        for service in services {
            let id = service.info().id();
            // A service drained or stopped already has its lost failures counted (and its
            // report made).
            let counted = report.drained.iter().any(|d| d.id() == id)
                || report
                    .stopped
                    .iter()
                    .any(|s| s.service().is_some_and(|i| i.id() == id));
            let why = format!("a second signal ({second}) came");
            let (cut, panic) = service.abort_at_once(second.clone(), why);
            keep(kept, panic);
            report.failures.extend(cut.failures().iter().cloned());
            if !counted {
                report.failures_lost += service.failures_lost();
                if !cut.aborted().is_empty() || cut.not_started() > 0 || !cut.failures().is_empty()
                {
                    report.stopped.push(cut);
                }
            }
        }
    }

    /// Phases 2 and 3 for the services: each drained, last made first, by `deadline`; those
    /// with work left stopped together. A service made meanwhile (by a service's task, or by
    /// main work still finishing) is adopted too: another pass takes it, until a pass finds
    /// none it has not shut down.
    /// Keeps the first panic of an `on_cancel` callback a stop's cancel ran in `kept` (every
    /// stop is made all the same).
    async fn shutdown_services(
        &self,
        deadline: Instant,
        report: &mut ShutdownReport,
        kept: &Mutex<Option<Panic>>,
    ) {
        let mut done: Vec<crate::info::TaskId> = Vec::new();
        loop {
            let every = self.services();
            self.inner.looked_at(every.len());
            let services: Vec<Service> = every
                .into_iter()
                .filter(|s| !done.contains(&s.info().id()))
                .collect();
            if services.is_empty() {
                return;
            }
            done.extend(services.iter().map(|s| s.info().id()));
            let signal = report
                .signal
                .clone()
                .unwrap_or(Signal::Requested(Cow::Borrowed(
                    "the application's main work ended",
                )));
            let mut left = Vec::new();
            for service in services.iter().rev() {
                // Daemons run until told: told in their turn (a service made later, which may
                // feed it, has drained), with the shutdown's cause, so that the drain waits
                // for them to wind down, not for the grace to run out.
                let (turn, panic) = service.stop_daemons(signal.clone());
                keep_in(kept, panic);
                let budget = deadline.saturating_duration_since(Instant::now());
                if service.drain_keeping(budget, kept).await.is_ok() {
                    // A daemon that did not end within its grace after the cancel, or whose
                    // tasks never started, was cut short: reported as a stop is.
                    if let Some(cut) = turn.and_then(|turn| service.daemon_cut(turn)) {
                        report.failures.extend(cut.failures().iter().cloned());
                        report.stopped.push(cut);
                    } else {
                        report.drained.push(service.info().clone());
                        report.failures.extend(service.failures());
                    }
                    report.failures_lost += service.failures_lost();
                } else {
                    left.push((service, turn));
                }
            }
            let longest = left
                .iter()
                .map(|(s, _)| crate::scope::tracker::Enclosing::grace(&**s.inner()))
                .max()
                .unwrap_or_default();
            let until = saturating_add(
                Instant::now(),
                longest.saturating_add(crate::service::ABORT_WAIT),
            );
            *self.inner.stops_until.lock() = Some(until);
            // Each stop's report goes into the shutdown's as that stop ends: a second signal
            // drops the stops still under way, and a finished stop has taken its service's
            // unread failures (nothing else would say them).
            // A daemon whose turn dropped a task at its grace (work below it held the drain
            // on) names that task among the stop's aborted.
            let mut stops: futures_util::stream::FuturesUnordered<_> = left
                .into_iter()
                .map(|(service, turn)| async move {
                    let stop = service.stop_keeping(kept, true).await;
                    (service, service.with_daemon_turn(stop, turn))
                })
                .collect();
            while let Some((service, stop)) = futures_util::StreamExt::next(&mut stops).await {
                report.failures.extend(stop.failures().iter().cloned());
                report.failures_lost += service.failures_lost();
                report.stopped.push(stop);
            }
        }
    }
}

/// Keeps the first panic of several.
fn keep(kept: &mut Option<Panic>, panic: Option<Panic>) {
    if let Some(payload) = panic {
        keep_first(kept, payload);
    }
}

std::thread_local! {
    /// The application's grace while [`App::run`] polls its main work on this thread (see
    /// [`work_grace`]).
    static WORK_GRACE: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
}

/// The grace of the application whose main work is being polled on this thread, if any: a
/// scope made there outside any scope, with no grace of its own, gives it to its children at
/// the shutdown (as `#[scope::main]`'s main scope gives the program's), so that work in
/// flight drains within the application's grace instead of being cut at the signal.
pub(crate) fn work_grace() -> Option<Duration> {
    WORK_GRACE.try_with(std::cell::Cell::get).ok().flatten()
}

pin_project_lite::pin_project! {
    /// The main work of [`App::run`], polled with the application's grace in [`WORK_GRACE`]
    /// (the one around it restored after each poll, panics included).
    struct InWork<F> {
        grace: Duration,
        // `None` once dropped (see `drop_unfinished`).
        #[pin]
        work: Option<F>,
    }
}

impl<F> InWork<F> {
    /// Drops the work the run did not see end, before the run resumes a kept panic (a panic
    /// of its destructors then would abort the process): that panic is kept too, after one
    /// kept before it. `past_every_grace`: its grace cut it short, and the application's grace
    /// is the program's own bound, which neither a scope's longer grace nor a budgeted shield
    /// in the work extends (its spawned children are aborted now, not left to run on after
    /// the run); after a second signal, its scopes give their children what is left of their
    /// graces.
    fn drop_unfinished(
        self: std::pin::Pin<&mut Self>,
        past_every_grace: bool,
        kept: &mut Option<Panic>,
    ) {
        let mut work = self.project().work;
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            crate::scope::drop_past_every_grace(past_every_grace, || work.set(None));
        }));
        if let Err(payload) = dropped {
            keep_first(kept, payload);
        }
    }
}

impl<F: Future> Future for InWork<F> {
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        struct Restore(Option<Duration>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = WORK_GRACE.try_with(|g| g.set(self.0));
            }
        }
        let this = self.project();
        let Some(work) = this.work.as_pin_mut() else {
            // Dropped, and never polled again.
            return std::task::Poll::Pending;
        };
        let _restore = Restore(
            WORK_GRACE
                .try_with(|g| g.replace(Some(*this.grace)))
                .ok()
                .flatten(),
        );
        work.poll(cx)
    }
}

/// Marks the application's run ended (see [`AppInner::ended`]) when dropped.
struct RunEnded<'a>(&'a AppInner);

impl Drop for RunEnded<'_> {
    fn drop(&mut self) {
        let _services = self.0.services.lock();
        // Relaxed: written under this lock (see `AppInner::ended`).
        self.0.ended.store(true, Ordering::Relaxed);
    }
}

/// Resumes a kept panic, if any.
fn resume(kept: Option<Panic>) {
    if let Some(payload) = kept {
        resume_unwind(payload);
    }
}

/// Ends the application's context when its run ends, however it ends (a cause already there,
/// the shutdown's, stays). A run that ends before its shutdown did its work (its future
/// dropped part way, or unwinding from its work's panic) closes, cancels and aborts every
/// service of the application at once, as a second signal does: no work the application owns
/// runs on, or is taken, after its run.
struct EndsOnDrop<'a> {
    app: &'a AppInner,
    /// The run's shutdown has done its work (the services drained, stopped or aborted).
    shut_down: bool,
}

impl Drop for EndsOnDrop<'_> {
    fn drop(&mut self) {
        let mut kept = None;
        // (The run has ended for `adopt` already: `RunEnded` is dropped first, so the list
        // is complete.)
        // Relaxed: written on this thread, by the shutdown; ready for the next run.
        let looked_at = self.app.looked_at.swap(0, Ordering::Relaxed);
        let from = if self.shut_down { looked_at } else { 0 };
        let services: Vec<Service> = self
            .app
            .services
            .lock()
            .iter()
            .skip(from)
            .map(|s| Service::from_inner(Arc::clone(s)))
            .collect();
        let (why, ended) = if self.shut_down {
            (
                "application run ended",
                "adopted as the application's run ended, after its shutdown",
            )
        } else {
            (
                "application run ended early",
                "the application's run ended before its shutdown",
            )
        };
        let why = Signal::Requested(Cow::Borrowed(why));
        for service in services {
            let aborted = catch_unwind(AssertUnwindSafe(|| {
                service.abort_unread(why.clone(), ended.to_owned())
            }));
            match aborted {
                Ok(panic) => keep(&mut kept, panic),
                Err(payload) => keep(&mut kept, Some(payload)),
            }
        }
        let scope = self.app.info.clone();
        let end = catch_unwind(AssertUnwindSafe(|| {
            self.app.cx.cancel_with(Cause::Finished { scope })
        }));
        keep(&mut kept, end.err());
        if std::thread::panicking() {
            // The run unwinds (its work panicked): a callback's panic here would be a second
            // one, which aborts the process; the first panic goes on.
            drop_after_panic(kept);
        } else {
            // A callback's panic reaches the caller, as from any cancel.
            resume(kept);
        }
    }
}

/// What the shutdown's drain of the services works with (see `App::drain_services`).
struct Drain<'r, 'p, W, S> {
    deadline: Instant,
    start: Instant,
    forgive_an_os_signal: bool,
    report: &'r mut ShutdownReport,
    kept: &'r mut Option<Panic>,
    signals: std::pin::Pin<&'r mut futures_util::stream::Fuse<S>>,
    /// The main work, if it was cut short and is still finishing its abort.
    unfinished: Option<std::pin::Pin<&'p mut W>>,
}

/// Awaits `fut`, or the next signal of `signals` (a stream that has ended never interrupts).
async fn or_signal<F: Future, S: Stream<Item = Signal>>(
    fut: F,
    mut signals: std::pin::Pin<&mut futures_util::stream::Fuse<S>>,
) -> Result<F::Output, Signal> {
    let mut fut = pin!(fut);
    loop {
        if signals.is_done() {
            return Ok(fut.await);
        }
        match futures_util::future::select(fut.as_mut(), signals.next()).await {
            Either::Left((out, _)) => return Ok(out),
            Either::Right((Some(signal), _)) => return Err(signal),
            Either::Right((None, _)) => {}
        }
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("cx", &self.inner.cx)
            .field("services", &self.services().len())
            .finish()
    }
}

/// Why a shutdown was cut short.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Forced, Signal};
/// assert_eq!(Forced::GraceRanOut { grace: Duration::from_secs(10) }.to_string(), "the grace of 10s ran out");
/// assert_eq!(Forced::SecondSignal(Signal::Interrupt).to_string(), "a second signal (SIGINT) came");
/// ```
///
/// Exhaustive, as [`Interrupted`](crate::Interrupted) is: why the shutdown was cut short
/// decides what a program reports, so a new reason would be a breaking change of this crate,
/// not a variant added unseen.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Forced {
    /// The grace (not zero) ran out before the main work had ended on its own. Either the
    /// work was still running then, and `run`'s output is `None`; or it ended just as the
    /// grace ran out, because its scopes had the same grace and stopped their work then, and
    /// `run`'s output is what they returned (the interruption, unless a body answered in its
    /// last poll).
    GraceRanOut {
        /// The grace.
        grace: Duration,
    },
    /// A second signal came during the shutdown: it ended at once.
    SecondSignal(Signal),
}

impl fmt::Display for Forced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Forced::GraceRanOut { grace } => write!(f, "the grace of {grace:?} ran out"),
            Forced::SecondSignal(s) => write!(f, "a second signal ({s}) came"),
        }
    }
}

/// What an application's shutdown did, phase by phase. Its `Display` is one line per fact,
/// each starting with `shutdown:` (what `#[scope::main]` prints to stderr).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{App, Service, ServiceConfig, Signal};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let app = App::new();
/// let signals = futures_util::stream::iter([Signal::Terminate]);
/// let (_, report) = app
///     .run(Duration::from_secs(1), signals, async {
///         let mailer = Service::new(ServiceConfig::new("mailer").grace(Duration::from_millis(10)));
///         let _ = mailer.spawn_named("digest", std::future::pending::<()>()).unwrap();
///         scope::cancelled().await;
///     })
///     .await;
/// assert!(!report.is_clean());
/// assert_eq!(report.stopped()[0].aborted()[0].name(), Some("digest"));
/// let text = report.to_string();
/// assert!(text.contains("shutdown: SIGTERM"));
/// assert!(text.contains("shutdown: stopped: service `mailer`: 1 aborted (digest)"));
/// # });
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "the report holds the failures the shutdown took from the services: nothing else says them"]
pub struct ShutdownReport {
    signal: Option<Signal>,
    running_for: Option<Duration>,
    main_ended_after: Option<Duration>,
    forced: Option<Forced>,
    /// The signal came after the main work had ended on its own, while the services drained.
    while_draining: bool,
    drained: Vec<TaskInfo>,
    stopped: Vec<StopReport>,
    failures: Vec<TaskFailure>,
    failures_lost: usize,
    refused: Option<ConfigError>,
}

impl ShutdownReport {
    /// The first shutdown signal: the one that started the shutdown, or one that came while
    /// the services drained after the main work had ended on its own (that one cut nothing
    /// short); `None` if no signal came.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let app = scope::App::new();
    /// let (out, report) = app.run(std::time::Duration::from_secs(1), futures_util::stream::empty(), async { 7 }).await;
    /// assert_eq!((out, report.signal()), (Some(7), None));
    /// # });
    /// ```
    #[must_use]
    pub fn signal(&self) -> Option<&Signal> {
        self.signal.as_ref()
    }

    /// Whether a signal started the shutdown (the main work was still running when it came).
    pub(crate) fn started_by_signal(&self) -> bool {
        self.signal.is_some() && !self.while_draining
    }

    /// Why the shutdown was cut short, if it was.
    ///
    /// # Examples
    ///
    /// See [`App::run`].
    #[must_use]
    pub fn forced(&self) -> Option<&Forced> {
        self.forced.as_ref()
    }

    /// How long after the signal the main work ended, if it returned (`None` if it was cut
    /// short, or no signal came while it ran). It can read the grace itself, or a moment
    /// past it: a scope in the main work has the same grace, and when that ran out first the
    /// work returned its interruption, racing the application's own end of the grace; then
    /// [`forced`](ShutdownReport::forced) says [`GraceRanOut`](Forced::GraceRanOut) too
    /// (unless the grace is zero: work that answers in the poll that cancels it was not
    /// forced).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let signals = futures_util::stream::iter([scope::Signal::Terminate]);
    /// let (_, report) = scope::App::new()
    ///     .run(Duration::from_secs(5), signals, async {
    ///         scope::cancelled().await;
    ///         tokio::time::sleep(Duration::from_millis(1200)).await;
    ///     })
    ///     .await;
    /// assert_eq!(report.main_ended_after(), Some(Duration::from_millis(1200)));
    /// # });
    /// ```
    #[must_use]
    pub fn main_ended_after(&self) -> Option<Duration> {
        self.main_ended_after
    }

    /// The services that drained within the budget (phase 2), in the order they drained.
    ///
    /// # Examples
    ///
    /// See [`App`].
    #[must_use]
    pub fn drained(&self) -> &[TaskInfo] {
        &self.drained
    }

    /// What stopping each service with work left did (phase 3).
    ///
    /// # Examples
    ///
    /// See [`ShutdownReport`].
    pub fn stopped(&self) -> &[StopReport] {
        &self.stopped
    }

    /// The failures of the services' tasks not read before (drained and stopped services).
    /// After a second signal, the services' tasks are aborted without a wait: the failures of
    /// those dropped by the time the report is made are here, and those dropped after it
    /// are in each service's [`failures`](crate::Service::failures).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{App, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let (_, report) = App::new()
    ///     .run(Duration::from_secs(1), futures_util::stream::empty(), async {
    ///         let audit = Service::new(ServiceConfig::new("audit"));
    ///         let _ = audit.spawn(async { Err::<(), _>("disk full") }).unwrap();
    ///     })
    ///     .await;
    /// assert_eq!(report.failures()[0].to_string(), "task `audit` failed: disk full");
    /// # });
    /// ```
    #[must_use]
    pub fn failures(&self) -> &[TaskFailure] {
        &self.failures
    }

    /// How many failures the services did not keep, because each keeps at most 256 unread
    /// ([`Service::failures_lost`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{App, Service, ServiceConfig};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let (_, report) = App::new()
    ///     .run(Duration::from_secs(1), futures_util::stream::empty(), async {
    ///         let audit = Service::new(ServiceConfig::new("audit"));
    ///         for _ in 0..300 {
    ///             audit.spawn(async { Err::<(), _>("disk full") }).unwrap().detach();
    ///         }
    ///     })
    ///     .await;
    /// assert_eq!((report.failures().len(), report.failures_lost()), (256, 44));
    /// # });
    /// ```
    #[must_use]
    pub fn failures_lost(&self) -> usize {
        self.failures_lost
    }

    /// Whether the application cut nothing short: the main work ended within the grace, no
    /// second signal came, and every service drained (a daemon's tasks ended within their
    /// service's grace after the shutdown's cancel). A service task that failed or panicked
    /// on its own, in the shutdown or before, is not the shutdown's doing: it is listed in
    /// [`failures`](ShutdownReport::failures), and the shutdown may still be clean (as
    /// `#[scope::main]`'s exit code 0 then says). What the main work's own scopes did
    /// within that grace is theirs to report: a scope with a shorter `shutdown_grace` that
    /// aborted a straggler ends with the main work's value (its body's answer to the
    /// shutdown) or the interruption, and the shutdown is still clean.
    ///
    /// # Examples
    ///
    /// See [`App`] and [`ShutdownReport`].
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.forced.is_none()
            && self.refused.is_none()
            && self.stopped.iter().all(StopReport::is_clean)
    }

    /// Why the run was refused, if it was: the application had run already, or was running
    /// ([`ConfigError::AppAlreadyRun`]; an application runs once), or no tokio timer runs
    /// where it was polled ([`ConfigError::NoTimer`]). A refused run ran nothing
    /// and left the application as it was: its report says nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{App, ConfigError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let app = App::new();
    /// let never = futures_util::stream::empty();
    /// let (out, report) = app.run(std::time::Duration::from_secs(1), never, async { 1 }).await;
    /// assert_eq!((out, report.refused()), (Some(1), None));
    /// let never = futures_util::stream::empty();
    /// let (out, report) = app.run(std::time::Duration::from_secs(1), never, async { 2 }).await;
    /// assert_eq!((out, report.refused()), (None, Some(&ConfigError::AppAlreadyRun)));
    /// assert!(!report.is_clean());
    /// # });
    /// ```
    #[must_use]
    pub fn refused(&self) -> Option<&ConfigError> {
        self.refused.as_ref()
    }
}

impl ShutdownReport {
    /// The report's first lines: how the shutdown began (without the `shutdown: ` prefix).
    fn head(&self) -> Vec<String> {
        match (&self.signal, self.running_for) {
            (Some(s), Some(after)) if self.while_draining => while_draining_head(s, after),
            (Some(s), Some(after)) => vec![format!(
                "{s} after {after:?}: stopped accepting work; draining"
            )],
            (Some(s), None) => vec![format!("{s}: stopped accepting work; draining")],
            (None, _) => vec!["the main work ended; draining the services".to_owned()],
        }
    }

    /// The report's lines, each with its `shutdown: ` prefix, but for the first ones, which
    /// `#[scope::main]` printed as the shutdown began (`announced`; all of them if those are
    /// not its first lines after all).
    pub(crate) fn lines_after(&self, announced: &[String]) -> Vec<String> {
        let text = self.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let printed = announced.len() <= lines.len()
            && announced
                .iter()
                .zip(&lines)
                .all(|(said, line)| line.strip_prefix("shutdown: ") == Some(said.as_str()));
        let skip = if printed { announced.len() } else { 0 };
        lines[skip..]
            .iter()
            .map(|line| (*line).to_owned())
            .collect()
    }
}

/// The first lines of a shutdown whose signal came after the main work had ended.
fn while_draining_head(signal: &Signal, after: Duration) -> Vec<String> {
    vec![
        "the main work ended; draining the services".to_owned(),
        format!("{signal} after {after:?}, while draining: the drain goes on"),
    ]
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(refused) = &self.refused {
            return write!(f, "shutdown: refused: {refused}");
        }
        let mut lines = self.head();
        if let Some(after) = self.main_ended_after {
            let what = match &self.signal {
                Some(Signal::Requested(_)) => "request",
                _ => "signal",
            };
            lines.push(format!("the main work ended {after:?} after the {what}"));
        }
        for service in &self.drained {
            lines.push(format!("drained: service `{service}`"));
        }
        for stop in &self.stopped {
            lines.push(format!("stopped: {}", stop.summary()));
        }
        for failure in &self.failures {
            // An aborted task is named by its stop already.
            let aborted = self
                .stopped
                .iter()
                .any(|s| s.aborted().iter().any(|t| t.id() == failure.task().id()));
            if !aborted {
                lines.push(format!("failed: {failure}"));
            }
        }
        if self.failures_lost > 0 {
            lines.push(format!(
                "{} more failures were not kept (a service keeps 256 unread)",
                self.failures_lost
            ));
        }
        if let Some(forced) = &self.forced {
            lines.push(format!("forced: {forced}"));
        }
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "shutdown: {line}")?;
        }
        Ok(())
    }
}

impl App {
    /// What comes first: a signal (`true`: the program asked, by cancelling the application's
    /// context), or the main work's end. The signals are looked at first: one that came while
    /// the main work could not be polled (it blocked its thread) and that is there when it ends
    /// is reported, not lost.
    async fn first_event<S, F>(
        &self,
        mut signals: std::pin::Pin<&mut futures_util::stream::Fuse<S>>,
        work: std::pin::Pin<&mut F>,
    ) -> Either<(Signal, bool), F::Output>
    where
        S: Stream<Item = Signal>,
        F: Future,
    {
        let os = async {
            match signals.next().await {
                Some(signal) => signal,
                None => std::future::pending().await,
            }
        };
        let asked = async { requested(&self.inner.cx.cancelled().await) };
        let (os, asked) = (pin!(os), pin!(asked));
        let signal = futures_util::future::select(os, asked);
        match futures_util::future::select(signal, work).await {
            Either::Right((out, _)) => Either::Right(out),
            Either::Left((Either::Left((signal, _)), _)) => Either::Left((signal, false)),
            Either::Left((Either::Right((signal, _)), _)) => Either::Left((signal, true)),
        }
    }
}

/// The signal of a shutdown the program asked for by cancelling the application's context.
pub(crate) fn requested(cause: &Cause) -> Signal {
    match cause {
        Cause::Shutdown { signal } => signal.clone(),
        other => Signal::Requested(Cow::Owned(other.to_string())),
    }
}
