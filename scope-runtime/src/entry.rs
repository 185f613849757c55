//! What `#[scope::main]` expands to: an [`App`] driven by the process's signals, and the exit
//! code the way it ended calls for.
//!
//! | how the program ends | exit code | stderr |
//! |---|---|---|
//! | `main` returns `Ok` (no signal) | 0 (or what `T` says, e.g. an `ExitCode`) | the services' report, if one had to be stopped or failures were left unread |
//! | `main` returns `Err` (no signal) | 1 | `error: ` and the error on one line |
//! | a signal; `main` handles it and returns `Ok` within the grace; every service drains | 0 | the shutdown report |
//! | a signal; `main` returns `Ok`, but a service had work left after the grace (stopped or aborted) | 128 + the signal | the shutdown report |
//! | `main` returned; a first signal comes while the services drain | as without it: 0 if `main` returned `Ok`, 1 on an error | the shutdown report (`, while draining: the drain goes on`) |
//! | a signal; `main` returns the shutdown's interruption (`?` on a cancelled child, say), or an error of its own after the signal | 128 + the signal | the shutdown report and `shutdown: the main work ended with the interruption: ...`; if the body's error said something else, then `shutdown: the error its body returned after the signal: ...` |
//! | a signal; `main` still runs when the grace runs out (forced) | 128 + the signal | the shutdown report |
//! | a second signal during the shutdown | 128 + the second signal, at once | the shutdown report (and `error: ...` if `main` had returned an error that is not the interruption) |
//! | a signal; `main` returns an error that is not the interruption (a failure before the signal) | 1 | the shutdown report and `error: ...` |
//! | the runtime cannot answer (the main task blocks its thread, every worker is stuck): a second signal, or the shutdown's bound (the grace, then the longest service grace and `ABORT_WAIT`) passed | 128 + that signal (for a shutdown the program began: 1 for a request, or the code of the signal its cancel names), [`EXIT_WAIT`] after it | `shutdown: forced exit: ...` |
//! | `main` panics | 101, as any Rust program, without waiting for what is left on the runtime | the panic |
//! | an `on_cancel` callback panics as the shutdown cancels a service's task | 101 once the shutdown is done | the panic, then the shutdown report |
//!
//! 128 + the signal: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, 129 for SIGHUP
//! ([`Signal::exit_code`]). The stderr lines are written if stderr can take them: one that
//! cannot (a pipe whose reader is gone, or whose reader stopped reading: each write of the
//! exit waits half a second at most) changes neither the exit code nor the forced exit.
//!
//! Two signals sent one right after the other count as two even where the program's runtime,
//! busy, takes them as one (tokio hands a listener the deliveries that came since its last
//! poll as one): a watchdog thread counts each delivery and hands the program a second one.
//! Two signals of the same kind sent before the process has taken the first can reach it as
//! one, though: the kernel keeps one pending signal of each kind. A supervisor that wants the
//! second to force the exit sends it after a pause (Kubernetes sends one SIGTERM, and
//! SIGKILL after its grace period).
//!
//! After a `#[scope::main]` fn has returned to a caller of its own (a test, another program's
//! `main`), tokio's signal handlers stay installed for the life of the process (tokio cannot
//! remove them): SIGINT and SIGTERM no longer end it by default. A program that goes on after
//! it should listen for them itself, or run its remaining work under another `App`.
//!
//! On the way out, the work the application owns has ended (its services drained or
//! stopped). What is left on the runtime is work nobody owns: tasks spawned with
//! `tokio::spawn`, and blocking calls such as a pending read of `tokio::io::stdin()`. A clean
//! exit gives the runtime at most [`EXIT_WAIT`] to drop those tasks and let its threads end;
//! a blocking call that never returns does not hold the program. Any other exit does not wait
//! at all: the exit is the force.

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::pin::{pin, Pin};
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::Stream;

use crate::app::{App, ShutdownReport};
use crate::cause::{Cause, Signal};
use crate::cx::Cx;

/// How long a clean exit of `#[scope::main]` waits for the runtime's threads to end, once
/// the application's own work has ended: the runtime drops the tasks nobody owns, and a
/// blocking call that never returns (a read of stdin) is left behind rather than waited for.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(scope::entry::EXIT_WAIT, Duration::from_secs(1));
/// ```
pub const EXIT_WAIT: Duration = Duration::from_secs(1);

/// The grace `#[scope::main]` gives the program after the first shutdown signal: its main
/// work and its services drain within it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(scope::entry::DEFAULT_MAIN_GRACE, Duration::from_secs(10));
/// ```
pub const DEFAULT_MAIN_GRACE: Duration = Duration::from_secs(10);

/// The signals that start the shutdown unless `signals = [..]` says otherwise: SIGINT and
/// SIGTERM.
///
/// # Examples
///
/// ```
/// use scope::{entry::DEFAULT_SIGNALS, Signal};
/// assert_eq!(DEFAULT_SIGNALS, &[Signal::Interrupt, Signal::Terminate]);
/// ```
pub const DEFAULT_SIGNALS: &[Signal] = &[Signal::Interrupt, Signal::Terminate];

/// How `#[scope::main]` runs the program: the grace and the signals that start the shutdown.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::entry::MainConfig;
/// use scope::Signal;
/// let config = MainConfig::new()
///     .grace(Duration::from_secs(25))
///     .signals(&[Signal::Terminate, Signal::Hangup]);
/// assert_eq!(config.get_signals(), &[Signal::Terminate, Signal::Hangup]);
/// ```
#[derive(Clone, Debug)]
pub struct MainConfig {
    grace: Duration,
    signals: Vec<Signal>,
}

impl Default for MainConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl MainConfig {
    /// [`DEFAULT_MAIN_GRACE`] and [`DEFAULT_SIGNALS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let config = scope::entry::MainConfig::new();
    /// assert_eq!(config.get_grace(), scope::entry::DEFAULT_MAIN_GRACE);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            grace: DEFAULT_MAIN_GRACE,
            signals: DEFAULT_SIGNALS.to_vec(),
        }
    }

    /// The drain budget after the first signal.
    ///
    /// # Examples
    ///
    /// See [`MainConfig`].
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The signals that start the shutdown. Where there are no Unix signals, only
    /// [`Signal::Interrupt`] (Ctrl-C) can be listened to; the others are ignored there, and
    /// so is [`Signal::Requested`] everywhere.
    ///
    /// # Examples
    ///
    /// See [`MainConfig`].
    #[must_use]
    pub fn signals(mut self, signals: &[Signal]) -> Self {
        self.signals = signals.to_vec();
        self
    }

    /// The drain budget.
    ///
    /// # Examples
    ///
    /// See [`MainConfig::new`].
    #[must_use]
    pub fn get_grace(&self) -> Duration {
        self.grace
    }

    /// The signals that start the shutdown.
    ///
    /// # Examples
    ///
    /// See [`MainConfig`].
    #[must_use]
    pub fn get_signals(&self) -> &[Signal] {
        &self.signals
    }
}

/// How the main scope ended: its value, or its error as one line and whether it was the
/// shutdown's interruption. The expansion of `#[scope::main]` makes it, where the error's
/// type is known (to print its `source()` chain when it has one).
///
/// # Examples
///
/// ```
/// use scope::entry::MainOutcome;
/// use scope::Cx;
/// let cx = Cx::root();
/// let outcome = MainOutcome::new(Err::<(), _>("boom"), &cx, |e| e.to_string());
/// assert_eq!(outcome.error_line(), Some("boom"));
/// assert!(!outcome.is_interruption());
/// ```
#[derive(Debug)]
pub struct MainOutcome<T> {
    out: Result<T, String>,
    interruption: bool,
    /// The error the body itself returned, on one line, where the scope read it as the
    /// shutdown's interruption (see [`with_body_error`](MainOutcome::with_body_error)).
    body_error: Option<String>,
}

/// Where the expansion of `#[scope::main]` keeps the error its body returned, on one line: a
/// scope reads an error its body returns after the shutdown's cancel as the interruption (it
/// cannot tell one of the body's own from one made by `?` on a cancelled child) and drops it,
/// and the exit's report still says what it was.
///
/// # Examples
///
/// ```
/// use scope::entry::BodyError;
/// let kept = BodyError::new();
/// kept.keep("database unreachable".to_owned());
/// assert_eq!(kept.take().as_deref(), Some("database unreachable"));
/// assert_eq!(BodyError::new().take(), None);
/// ```
#[derive(Debug, Default)]
pub struct BodyError(std::sync::Mutex<Option<String>>);

impl BodyError {
    /// Nothing kept yet.
    ///
    /// # Examples
    ///
    /// See [`BodyError`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `line`, the error the body returned.
    ///
    /// # Examples
    ///
    /// See [`BodyError`].
    pub fn keep(&self, line: String) {
        let old = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(line);
        drop(old);
    }

    /// Runs `body` (the body of `#[scope::main]`), keeping the line `line` makes of the error
    /// it returns; its value as a scope's body gives it (`()` is `Ok(())`).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::entry::BodyError;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let kept = BodyError::new();
    /// let out = kept
    ///     .run(async { Err::<(), String>("disk full".into()) }, |e: &String| e.clone())
    ///     .await;
    /// assert!(out.is_err());
    /// assert_eq!(kept.take().as_deref(), Some("disk full"));
    ///
    /// let kept = BodyError::new();
    /// let out: Result<(), String> = kept.run(async {}, |e: &String| e.clone()).await;
    /// assert!(out.is_ok());
    /// assert_eq!(kept.take(), None);
    /// # });
    /// ```
    pub async fn run<F, E>(
        &self,
        body: F,
        line: impl FnOnce(&E) -> String,
    ) -> Result<<F::Output as crate::BodyOutput<E>>::Ok, E>
    where
        F: std::future::Future,
        F::Output: crate::BodyOutput<E>,
    {
        let out = crate::BodyOutput::into_body_result(body.await);
        if let Err(error) = &out {
            self.keep(line(error));
        }
        out
    }

    /// The line kept, if any.
    ///
    /// # Examples
    ///
    /// See [`BodyError`].
    #[must_use]
    pub fn take(self) -> Option<String> {
        self.0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T> MainOutcome<T> {
    /// The outcome of the main scope, whose context is `scope`: an error counts as the
    /// shutdown's interruption when the scope was cancelled by the shutdown before anything
    /// failed (a failure after the cancel is its consequence, as the scope's policy says).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::entry::MainOutcome;
    /// use scope::{Cause, Cx, Signal};
    /// let app = Cx::root();
    /// let main_scope = app.child();
    /// app.cancel_with(Cause::Shutdown { signal: Signal::Terminate });
    /// let outcome = MainOutcome::new(Err::<(), _>("cancelled"), &main_scope, |e| e.to_string());
    /// assert!(outcome.is_interruption());
    /// ```
    pub fn new<E>(out: Result<T, E>, scope: &Cx, line: impl FnOnce(&E) -> String) -> Self {
        let interruption = out.is_err()
            && scope
                .cause()
                .is_some_and(|c| matches!(c.root(), Cause::Shutdown { .. }));
        Self {
            out: out.map_err(|e| line(&e)),
            interruption,
            body_error: None,
        }
    }

    /// Adds the error the body itself returned (`kept`), which the exit says beside the
    /// interruption when the scope read it as that and it says something else (a failure met
    /// while winding down, not only the `?` of a cancelled child). Nothing changes otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::entry::{BodyError, MainOutcome};
    /// use scope::{Cause, Cx, Signal};
    /// let app = Cx::root();
    /// let main_scope = app.child();
    /// app.cancel_with(Cause::Shutdown { signal: Signal::Terminate });
    /// let kept = BodyError::new();
    /// kept.keep("database unreachable".to_owned());
    /// let outcome = MainOutcome::new(Err::<(), _>("cancelled"), &main_scope, |e| e.to_string())
    ///     .with_body_error(kept);
    /// assert!(outcome.is_interruption());
    /// assert_eq!(outcome.body_error_line(), Some("database unreachable"));
    /// ```
    #[must_use]
    pub fn with_body_error(mut self, kept: BodyError) -> Self {
        let line = kept.take();
        if self.interruption && line.as_deref() != self.error_line() {
            self.body_error = line;
        }
        self
    }

    /// The error the body itself returned, where the scope read it as the shutdown's
    /// interruption and it said something else (see
    /// [`with_body_error`](MainOutcome::with_body_error)).
    ///
    /// # Examples
    ///
    /// See [`MainOutcome::with_body_error`].
    #[must_use]
    pub fn body_error_line(&self) -> Option<&str> {
        self.body_error.as_deref()
    }

    /// The outcome of the main scope `scope` itself, as [`new`](MainOutcome::new) reads it
    /// from its context, with one more thing the scope knows: an error after the shutdown's
    /// cancel is its interruption unless a child panicked, or a scope entered under it ended
    /// with a panic (a panic is never a consequence of a cancel: a crash in a clean-up exits
    /// 1, not as a signal's stop, and its line is the panic's).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::entry::MainOutcome;
    /// use scope::{Cause, Config, Cx, Interrupted, Scope, Signal};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let app = Cx::root();
    /// let s = &Scope::new(Config::new().parent(app.clone()).grace(Duration::from_secs(1)));
    /// let out = s
    ///     .run(async {
    ///         let flusher = s.spawn_named("flusher", async {
    ///             scope::cancelled().await;
    ///             assert!(std::hint::black_box(false), "no record to flush"); // a bug
    ///             Ok::<_, Interrupted>(())
    ///         });
    ///         tokio::task::yield_now().await;
    ///         app.cancel_with(Cause::Shutdown { signal: Signal::Terminate });
    ///         flusher.await
    ///     })
    ///     .await;
    /// let outcome = MainOutcome::of_scope(out, s, |e| e.to_string());
    /// assert!(outcome.error_line().unwrap().contains("panicked: no record to flush"));
    /// assert!(!outcome.is_interruption()); // a crash, not the signal's stop
    /// # });
    /// ```
    pub fn of_scope<E, M: crate::scope::Mode>(
        out: Result<T, E>,
        scope: &crate::Scope<'_, '_, E, M>,
        line: impl FnOnce(&E) -> String,
    ) -> Self {
        let mut outcome = Self::new(out, scope.cx(), line);
        if scope.child_panicked() {
            outcome.interruption = false;
        } else if outcome.interruption {
            // A scope entered under it (a `#[scoped]` fn, a `scope!`) ended with a panic that
            // its body returned after the cancel, and the main scope dropped as a consequence:
            // a crash all the same, told with its own line.
            if let Some(panic) = scope.panic_below() {
                outcome.interruption = false;
                outcome.out = Err(panic);
            }
        }
        outcome
    }

    /// The error, on one line.
    ///
    /// # Examples
    ///
    /// See [`MainOutcome`].
    #[must_use]
    pub fn error_line(&self) -> Option<&str> {
        self.out.as_ref().err().map(String::as_str)
    }

    /// Whether the error is the shutdown's interruption.
    ///
    /// # Examples
    ///
    /// See [`MainOutcome::new`].
    #[must_use]
    pub fn is_interruption(&self) -> bool {
        self.interruption
    }
}

/// One line for an error that implements `std::error::Error`: its `Display`, then each
/// `source()` not already in the line, joined with `": "`.
///
/// # Examples
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// #[error("could not load the config")]
/// struct Load(#[source] std::io::Error);
/// let e = Load(std::io::Error::new(std::io::ErrorKind::NotFound, "app.toml: no such file"));
/// assert_eq!(scope::entry::error_chain(&e), "could not load the config: app.toml: no such file");
/// ```
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = s.source();
    }
    one_line(&line)
}

/// One line for any error that displays itself (its alternate form, which is the chain for
/// `anyhow::Error`).
///
/// # Examples
///
/// ```
/// assert_eq!(scope::entry::display_line(&"two\nlines"), "two lines");
/// ```
pub fn display_line(error: &dyn fmt::Display) -> String {
    one_line(&format!("{error:#}"))
}

fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Picks [`error_chain`] for errors that implement `std::error::Error` and [`display_line`]
/// for the others (`anyhow::Error`, say), by method resolution at the expansion's concrete
/// type: `(&ErrorLine(&e)).line()`.
///
/// # Examples
///
/// ```
/// use scope::entry::{ErrorLine, ViaDisplay, ViaError};
/// let io = std::io::Error::other("disk full");
/// assert_eq!((&ErrorLine(&io)).line(), "disk full");
/// assert_eq!((&ErrorLine(&"plain text")).line(), "plain text");
/// ```
#[derive(Debug)]
pub struct ErrorLine<'a, E>(pub &'a E);

/// See [`ErrorLine`].
pub trait ViaError {
    /// The line.
    fn line(&self) -> String;
}

impl<E: std::error::Error + 'static> ViaError for ErrorLine<'_, E> {
    fn line(&self) -> String {
        error_chain(self.0)
    }
}

/// See [`ErrorLine`]: a boxed error is no `std::error::Error` itself (std's impl for `Box<T>`
/// needs `T: Sized`), but its chain is there to print.
///
/// # Examples
///
/// ```
/// use scope::entry::{ErrorLine, ViaBoxedError, ViaDisplay, ViaError};
/// let e: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::other("disk full"));
/// assert_eq!((&ErrorLine(&e)).line(), "disk full");
/// ```
pub trait ViaBoxedError {
    /// The line.
    fn line(&self) -> String;
}

macro_rules! via_error_for_boxed {
    ($($bounds:tt)*) => {
        impl ViaBoxedError for ErrorLine<'_, Box<dyn std::error::Error $($bounds)*>> {
            fn line(&self) -> String {
                error_chain(&**self.0)
            }
        }
    };
}
via_error_for_boxed!(+ Send + Sync);
via_error_for_boxed!(+ Send);
via_error_for_boxed!();

/// See [`ErrorLine`].
pub trait ViaDisplay {
    /// The line.
    fn line(&self) -> String;
}

impl<E: fmt::Display> ViaDisplay for &ErrorLine<'_, E> {
    fn line(&self) -> String {
        display_line(self.0)
    }
}

/// Runs the program: `fut` (the main scope) under a new [`App`]'s context, on `runtime`;
/// the configured signals start the shutdown (see [`App::run`] for its phases). Returns the
/// main scope's value when the program should exit 0; otherwise prints why on stderr and
/// exits with the code of the table in this module's docs.
///
/// # Examples
///
/// ```
/// use scope::entry::{main_entry, MainConfig, MainOutcome};
/// use scope::{App, Cx};
/// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
/// let out = main_entry(runtime, MainConfig::new(), async {
///     // The future runs under the application's context.
///     assert!(App::current().is_some());
///     MainOutcome::new(Ok::<_, String>(40 + 2), &Cx::current(), |e| e.clone())
/// });
/// assert_eq!(out, 42);
/// ```
#[allow(clippy::needless_pass_by_value)] // Reason: the program's runtime is handed over for good.
#[track_caller]
pub fn main_entry<T, F>(runtime: tokio::runtime::Runtime, config: MainConfig, fut: F) -> T
where
    F: Future<Output = MainOutcome<T>>,
{
    let app = App::printing_live();
    // The program's listeners are registered before the watchdog's: a signal that comes
    // between the two reaches the program.
    let own = {
        let _runtime = runtime.enter();
        listen(&config.signals)
    };
    // The watchdog hands the program each signal it counts as a second one: tokio gives a
    // listener two deliveries that came before its next poll as one, and the program's
    // runtime, busy, may take two signals as one that the watchdog's idle thread told apart.
    // (The program's own listener is read first: a signal seen by both is the program's.)
    let (to_program, from_watchdog) = tokio::sync::mpsc::unbounded_channel();
    let signals = with_handed(own, from_watchdog);
    let watchdog = Watchdog::start(&config, &app, to_program);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(app.run(config.grace, signals, fut))
    }));
    // From here the exit is this thread's: bounded (a clean exit waits `EXIT_WAIT` at most).
    drop(watchdog);
    let (outcome, report) = match run {
        Ok(ended) => ended,
        Err(panic) => {
            // `main` panicked (the hook has printed it), or a callback the shutdown's cancel
            // ran did, once the shutdown was done: then what it did is said first. The exit
            // does not wait for what is left on the runtime (a blocking call nobody can
            // cancel would hold the unwind in the runtime's drop), and kills the subprocesses
            // nobody will reap.
            if let Some(report) = app.take_report_at_panic() {
                say_report(&report, &app);
            }
            flush_within();
            release_stdout();
            let id = runtime.handle().id();
            runtime.shutdown_background();
            kill_unreaped(Some(id));
            std::panic::resume_unwind(panic)
        }
    };
    match decide(outcome, &report) {
        Ok(value) => {
            if report.signal().is_some() || !report.is_clean() || !report.failures().is_empty() {
                say_report(&report, &app);
            }
            // What is left is nobody's (see the module docs): bounded, not waited for.
            let id = runtime.handle().id();
            runtime.shutdown_timeout(EXIT_WAIT);
            kill_unreaped(Some(id));
            release_stdout();
            value
        }
        Err((code, error)) => {
            if report.signal().is_some() || !report.is_clean() || !report.failures().is_empty() {
                say_report(&report, &app);
            }
            match error {
                Some(Printed::Error(line)) => say(format_args!("error: {line}")),
                Some(Printed::Interruption(line, body)) => {
                    say(format_args!(
                        "shutdown: the main work ended with the interruption: {line}"
                    ));
                    if let Some(body) = body {
                        say(format_args!(
                            "shutdown: the error its body returned after the signal: {body}"
                        ));
                    }
                }
                None => {}
            }
            flush_within();
            // Tasks still running are not waited for: the exit is the force. Their
            // subprocesses are killed here, since their `Drop` may never run.
            runtime.shutdown_background();
            kill_unreaped(None);
            exit(code)
        }
    }
}

/// Writes a line of the exit's report to stderr, if it can: a stderr nobody reads any more (the
/// reader of a pipe, ended by the same Ctrl-C) must not turn a clean stop into a panic (exit
/// 101), and one nobody reads *yet* (a full pipe whose reader stalled, with a stuck thread of
/// the program holding stderr's lock) must not hold the exit, nor keep the watchdog from
/// forcing it: see [`within`].
pub(crate) fn say(line: std::fmt::Arguments<'_>) {
    let line = format!("{line}\n");
    within(move || {
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    });
}

/// Writes `text` (a line, or lines) to stderr on a thread of its own, and does not wait for it:
/// a line said as the shutdown begins must hold up neither the shutdown nor the thread of the
/// runtime that says it. The exit's writes wait for it first ([`after_said_soon`]), so that
/// they come after it. Returns whether the write was started (no thread to spare: skipped).
pub(crate) fn say_soon(text: String) -> bool {
    if STALLED.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let Some(wait) = on_a_thread("scope-shutdown-line", move || {
        let _ = std::io::stderr()
            .lock()
            .write_all(format!("{text}\n").as_bytes());
    }) else {
        return false;
    };
    SAID_SOON
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((std::time::Instant::now() + WRITE_WAIT, wait));
    true
}

/// The writes [`say_soon`] started: until when each is waited for ([`WRITE_WAIT`] from its
/// start), and what tells when it is done.
static SAID_SOON: std::sync::Mutex<Vec<(std::time::Instant, std::sync::mpsc::Receiver<()>)>> =
    std::sync::Mutex::new(Vec::new());

/// Waits for the writes [`say_soon`] started, each until [`WRITE_WAIT`] after its start at
/// most (as the exit's own writes are waited for): one not done by then takes the stream as
/// [`STALLED`]. So a write that stalled long ago costs the exit no wait of its own.
fn after_said_soon() {
    let pending = std::mem::take(
        &mut *SAID_SOON
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for (until, done) in pending {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(left) {
            STALLED.store(true, std::sync::atomic::Ordering::Relaxed);
            return;
        }
    }
}

/// Writes the report of the application's run, but for the lines it printed as the shutdown
/// began (after those).
fn say_report(report: &ShutdownReport, app: &App) {
    after_said_soon();
    let lines = report.lines_after(&app.take_announced());
    if !lines.is_empty() {
        say(format_args!("{}", lines.join("\n")));
    }
}

/// Flushes stdout and stderr before the process exits, as far as [`within`] lets it.
fn flush_within() {
    within(|| {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    });
}

/// Flushes stdout before `main` returns (or unwinds) to std, whatever [`STALLED`] says, and
/// waits for it [`WRITE_WAIT`] at most. Past `main`, std flushes what stdout's buffer holds (a
/// partial line), with nothing to bound it: on a pipe nobody reads, the process would never
/// exit, and the signals no longer end it (tokio's handlers replaced their default action).
/// A flush that blocks here does so holding stdout's lock, which std's own flush only tries to
/// take: finding it taken, std skips it.
fn release_stdout() {
    run_within(|| {
        let _ = std::io::stdout().flush();
    });
}

/// How long an exit waits for a write to stderr (or a flush) that does not return.
const WRITE_WAIT: Duration = Duration::from_millis(500);

/// Runs a write of the exit on a thread of its own and waits for it [`WRITE_WAIT`] at most:
/// past that, the stream is taken as stalled, and the exit's later writes are skipped (the
/// thread stays blocked until the process ends; the exit does not wait for it).
fn within(write: impl FnOnce() + Send + 'static) {
    if STALLED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    run_within(write);
}

/// Runs `write` on a thread of its own and waits for it [`WRITE_WAIT`] at most; past that,
/// the stream is taken as [`STALLED`].
fn run_within(write: impl FnOnce() + Send + 'static) {
    // No thread to spare: the write is skipped rather than risked on this one.
    let Some(wait) = on_a_thread("scope-exit-writer", write) else {
        return;
    };
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(WRITE_WAIT) {
        STALLED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `write` on a thread of its own, named `name`: what tells when it is done, or `None`
/// if no thread could be made.
fn on_a_thread(
    name: &str,
    write: impl FnOnce() + Send + 'static,
) -> Option<std::sync::mpsc::Receiver<()>> {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            write();
            let _ = done.send(());
        })
        .ok()?;
    Some(wait)
}

/// A write of the exit did not return within [`WRITE_WAIT`]: the exit's later writes are
/// skipped.
static STALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ends the process with `code`. With a stalled output, std's own flush of stdout at exit (a
/// partial line it buffers, on a pipe nobody reads) would block the exit: a thread takes
/// stdout's lock first and keeps it, so that std finds it taken and flushes nothing.
fn exit(code: i32) -> ! {
    if STALLED.load(std::sync::atomic::Ordering::Relaxed) {
        let (held, wait) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("scope-exit-stdout".into())
            .spawn(move || {
                let _stdout = std::io::stdout().lock();
                let _ = held.send(());
                loop {
                    std::thread::park();
                }
            });
        if spawned.is_ok() {
            let _ = wait.recv_timeout(WRITE_WAIT);
        }
    }
    std::process::exit(code)
}

/// Keeps the shutdown's bounds from a thread of its own, with a runtime of its own: the
/// program's runtime answers the signals while it runs, but a main task blocked in synchronous
/// code, or every worker stuck, would make them do nothing (tokio's handlers replaced the
/// default action that ended the process). So, unless the program's own exit has begun, a
/// second signal ends the process [`EXIT_WAIT`] after it came (the runtime answers at once when
/// it can), and the first one [`EXIT_WAIT`] after the longest the shutdown may take (the grace,
/// then the longest service grace and [`ABORT_WAIT`](crate::ABORT_WAIT)), each with 128 + the
/// signal. A shutdown the program asked for ([`App::request_shutdown`]) is bounded the same
/// way from the request (exit 1), and the first OS signal after it is not a second one.
struct Watchdog {
    /// Set when the program's own exit begins: the watchdog then does nothing.
    exiting: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Dropped with the watchdog: its thread ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Watchdog {
    fn start(
        config: &MainConfig,
        app: &App,
        to_program: tokio::sync::mpsc::UnboundedSender<Signal>,
    ) -> Option<Watchdog> {
        use std::sync::atomic::{AtomicBool, Ordering};
        // (Without signals to listen to, a shutdown the program asks for is still bounded.)
        let exiting = std::sync::Arc::new(AtomicBool::new(false));
        let watching = std::sync::Arc::clone(&exiting);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let grace = config.grace;
        let app = app.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        // Its listeners are registered here, before the program runs (after the program's
        // own): registered on its thread, they missed a signal the program's runtime took
        // first, and the shutdown it began went unbounded.
        let listening = {
            let _runtime = runtime.enter();
            listen(&config.signals)
        };
        let spawned = std::thread::Builder::new()
            .name("scope-shutdown-watchdog".into())
            .spawn(move || {
                let watched = pin!(watch(listening, grace, &app, &to_program));
                let ended = runtime.block_on(select(watched, stopped));
                let Either::Left(((signal, note), _)) = ended else {
                    return;
                };
                if watching.load(Ordering::SeqCst) {
                    return;
                }
                after_said_soon();
                say(format_args!("shutdown: forced exit: {note}"));
                flush_within();
                kill_unreaped(None);
                exit(signal.exit_code());
            });
        spawned.ok().map(|_| Watchdog {
            exiting,
            _stop: stop,
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.exiting
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits for the moment the watchdog must end the process: the signal to exit with, and why.
/// A second signal is handed to the program (`to_program`) as it comes, in case the program's
/// listener took it and the first as one.
async fn watch(
    signals: Signals,
    grace: Duration,
    app: &App,
    to_program: &tokio::sync::mpsc::UnboundedSender<Signal>,
) -> (Signal, String) {
    use futures_util::{FutureExt, StreamExt};
    let mut signals = signals.fuse();
    // The shutdown begins with an OS signal, or with the program's own request
    // (`App::request_shutdown`, or the application's context cancelled another way), which
    // the grace bounds as well: a main task blocking its thread after a request is forced
    // out as after a signal.
    // `late`: the watchdog's own delivery of the first signal is still to come.
    let (first, asked, late) = {
        let asked = async {
            let cause = app.cx().cancelled().await;
            if matches!(cause.root(), Cause::Finished { .. }) {
                // The run ended without a shutdown.
                std::future::pending::<()>().await;
            }
            crate::app::requested(&cause)
        };
        match select(signals.next(), pin!(asked)).await {
            Either::Left((Some(signal), _)) => (signal, false, false),
            Either::Left((None, asked)) => (asked.await, true, false),
            // An OS signal the application saw first: this stream gets it too (its listener
            // was registered before the program's code ran), but maybe a moment later (tokio
            // wakes a signal's listeners one after another). Not waited for: the bound is
            // armed either way, and a delivery still to come is that same signal.
            Either::Right((signal, os)) if app.saw_os_signal_first() => {
                match os.now_or_never().flatten() {
                    Some(os) => (os, false, false),
                    // (Where listeners are registered only as they are first polled, the
                    // watchdog's may have missed it: nothing is known to be still coming.)
                    None => (signal, false, cfg!(any(unix, windows))),
                }
            }
            // The program's own request (whatever signal its cause names).
            Either::Right((signal, _)) => (signal, true, false),
        }
    };
    // After a request, the first OS signal does not cut the shutdown short (as `App::run`
    // has it); a second one does. The same for the first signal's late delivery.
    let mut forgiven = !asked && !late;
    let since = tokio::time::Instant::now();
    // The longest the shutdown may take, looked at again when it has passed: services made
    // since count, and so do the budgets of shields under way in them (a stop waits for
    // those); a shutdown that is still within them is not forced.
    let bound = || {
        let services = grace
            .saturating_add(app.longest_service_grace())
            .saturating_add(crate::service::ABORT_WAIT)
            .saturating_add(EXIT_WAIT);
        let shields = app.services_held_until().map(|until| {
            until.saturating_duration_since(since)
                + crate::service::ABORT_WAIT.saturating_add(EXIT_WAIT)
        });
        // A later pass of the shutdown (services made while the one before stopped) stops
        // its services after that pass's stops.
        let passes = app.stops_until().map(|until| {
            until
                .saturating_duration_since(since)
                .saturating_add(EXIT_WAIT)
        });
        services
            .max(shields.unwrap_or_default())
            .max(passes.unwrap_or_default())
    };
    let mut within = bound();
    loop {
        // A timer of ours: a bound of `Duration::MAX` saturates at the end of time, which
        // tokio's own timer cannot take (it never fires).
        let over = pin!(crate::timer::Delay::until(crate::cx::saturating_add(
            since, within
        )));
        let second = if signals.is_done() {
            over.await;
            None
        } else {
            match select(signals.next(), over).await {
                Either::Left((Some(second), _)) => Some(second),
                Either::Left((None, _)) => continue,
                Either::Right((_, _)) => None,
            }
        };
        if let Some(second) = second {
            if !std::mem::replace(&mut forgiven, true) {
                continue;
            }
            // (A program that took it already ended its shutdown at once; one whose runtime
            // answers ends it now.)
            let _ = to_program.send(second.clone());
            tokio::time::sleep(EXIT_WAIT).await;
            let note = format!(
                "the program did not answer the second signal ({second}) within {EXIT_WAIT:?} \
                 (is a task blocking its thread?)"
            );
            return (second, note);
        }
        let again = bound();
        if again <= within {
            return (first.clone(), over_note(within, &first));
        }
        within = again;
    }
}

fn over_note(bound: Duration, first: &Signal) -> String {
    format!(
        "the shutdown did not end within {bound:?} of the signal ({first}) (is a task blocking \
         its thread?)"
    )
}

/// Kills the subprocesses ([`crate::process`]) that are still running: their owners were
/// not waited for. `runtime`: only those started on the program's runtime, for an exit that
/// returns to its caller (which may own other runtimes and their processes); `None`: all,
/// for an exit that ends the process.
fn kill_unreaped(runtime: Option<tokio::runtime::Id>) {
    #[cfg(all(unix, feature = "process", not(loom)))]
    crate::patterns::process::kill_unreaped(runtime);
    #[cfg(not(all(unix, feature = "process", not(loom))))]
    let _ = runtime;
}

/// What the exit prints after the report.
enum Printed {
    Error(String),
    /// The interruption's line, and the error the body returned if it said something else.
    Interruption(String, Option<String>),
}

/// The exit: the value (exit 0), or a code and the line to print.
fn decide<T>(
    outcome: Option<MainOutcome<T>>,
    report: &ShutdownReport,
) -> Result<T, (i32, Option<Printed>)> {
    let signal_code = report.signal().map_or(1, Signal::exit_code);
    if let Some(forced) = report.forced() {
        let code = match forced {
            crate::app::Forced::SecondSignal(second) => second.exit_code(),
            crate::app::Forced::GraceRanOut { .. } => signal_code,
        };
        // The main work's own failure (not the interruption) is still said.
        let failed = outcome.and_then(|o| match o.out {
            Err(line) if !o.interruption => Some(Printed::Error(line)),
            _ => None,
        });
        return Err((code, failed));
    }
    let Some(outcome) = outcome else {
        return Err((signal_code, None));
    };
    // A signal that came after the main work had ended on its own changed nothing.
    let by_signal = report.started_by_signal();
    match outcome.out {
        Ok(value) if !by_signal || report.is_clean() => Ok(value),
        Ok(_) => Err((signal_code, None)),
        Err(line) if outcome.interruption && by_signal => Err((
            signal_code,
            Some(Printed::Interruption(line, outcome.body_error)),
        )),
        Err(line) => Err((1, Some(Printed::Error(line)))),
    }
}

pub(crate) type Signals = Pin<Box<dyn Stream<Item = Signal> + Send>>;

/// The program's signals: those of its own listeners (`own`), and the second signals the
/// watchdog hands it (`from_watchdog`), read after its own.
fn with_handed(
    own: Signals,
    from_watchdog: tokio::sync::mpsc::UnboundedReceiver<Signal>,
) -> impl Stream<Item = Signal> {
    let handed = futures_util::stream::unfold(from_watchdog, |mut from| async move {
        from.recv().await.map(|signal| (signal, from))
    });
    futures_util::stream::select_with_strategy(own, handed, |(): &mut ()| {
        futures_util::stream::PollNext::Left
    })
}

/// The configured signals, as they come. Registered now, before the program's code runs, so
/// that none of them kills the process with its default action. One that cannot be listened
/// to here is left out.
fn listen(signals: &[Signal]) -> Signals {
    let streams = once_each(signals).into_iter().filter_map(listen_one);
    Box::pin(futures_util::stream::select_all(streams))
}

/// `signals` without repeats, in their order: each is listened to once.
fn once_each(signals: &[Signal]) -> Vec<&Signal> {
    let mut once: Vec<&Signal> = Vec::new();
    for signal in signals {
        if !once.contains(&signal) {
            once.push(signal);
        }
    }
    once
}

/// [`listen`] for [`App::os_signals`]: every signal asked for is listened to, or the call
/// says why not.
pub(crate) fn listen_all(signals: &[Signal]) -> std::io::Result<Signals> {
    use std::io::{Error, ErrorKind};
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::other(
            "no tokio runtime is running on this thread: call `App::os_signals` inside one \
             (in `block_on`, or after `Runtime::enter`)",
        ));
    }
    if let Some(not_os) = signals.iter().find(|s| matches!(s, Signal::Requested(_))) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("`{not_os:?}` is not a signal of the operating system: ask for `Signal::Interrupt`, `Signal::Terminate` or `Signal::Hangup`"),
        ));
    }
    let once = once_each(signals);
    // tokio panics where its runtime has no I/O driver: caught, and said as an error (the
    // panic hook has printed tokio's own message).
    let streams = std::panic::catch_unwind(|| {
        once.iter()
            .map(|signal| try_listen_one(signal))
            .collect::<std::io::Result<Vec<Signals>>>()
    })
    .map_err(|_| {
        Error::other(
            "tokio could not listen to signals: its runtime needs its I/O driver (build it \
             with `enable_io()` or `enable_all()`)",
        )
    })??;
    Ok(Box::pin(futures_util::stream::select_all(streams)))
}

/// One signal's stream, if it can be listened to here.
fn listen_one(signal: &Signal) -> Option<Signals> {
    try_listen_one(signal).ok()
}

/// Not an OS signal of this platform.
fn unsupported(signal: &Signal) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("cannot listen to {signal} on this platform"),
    )
}

#[cfg(unix)]
fn try_listen_one(signal: &Signal) -> std::io::Result<Signals> {
    use tokio::signal::unix::{signal as unix_signal, SignalKind};
    let kind = match signal {
        Signal::Interrupt => SignalKind::interrupt(),
        Signal::Terminate => SignalKind::terminate(),
        Signal::Hangup => SignalKind::hangup(),
        Signal::Requested(_) => return Err(unsupported(signal)),
    };
    let listener = unix_signal(kind)?;
    let signal = signal.clone();
    Ok(Box::pin(futures_util::stream::unfold(
        listener,
        move |mut listener| {
            let signal = signal.clone();
            async move { listener.recv().await.map(|()| (signal, listener)) }
        },
    )))
}

/// Registered now, as on Unix: the watchdog takes a delivery that comes after the program's
/// shutdown began as that same first signal, which needs its listener to exist already.
#[cfg(windows)]
fn try_listen_one(signal: &Signal) -> std::io::Result<Signals> {
    match signal {
        Signal::Interrupt => {
            let listener = tokio::signal::windows::ctrl_c()?;
            Ok(Box::pin(futures_util::stream::unfold(
                listener,
                |mut listener| async move {
                    listener
                        .recv()
                        .await
                        .map(|()| (Signal::Interrupt, listener))
                },
            )))
        }
        _ => Err(unsupported(signal)),
    }
}

#[cfg(not(any(unix, windows)))]
fn try_listen_one(signal: &Signal) -> std::io::Result<Signals> {
    match signal {
        Signal::Interrupt => Ok(Box::pin(futures_util::stream::unfold((), |()| async {
            tokio::signal::ctrl_c()
                .await
                .ok()
                .map(|()| (Signal::Interrupt, ()))
        }))),
        _ => Err(unsupported(signal)),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::app::Forced;
    use futures_util::FutureExt;

    /// A stream of the signals sent into the returned sender.
    fn channel() -> (tokio::sync::mpsc::UnboundedSender<Signal>, Signals) {
        let (send, recv) = tokio::sync::mpsc::unbounded_channel();
        let stream = futures_util::stream::unfold(recv, |mut recv| async move {
            recv.recv().await.map(|signal| (signal, recv))
        });
        (send, Box::pin(stream))
    }

    /// Two signals reach the program's listener as one (its runtime was busy while both
    /// came) and the watchdog's as two: the watchdog hands the second to the program, whose
    /// shutdown ends at once with its report, not a second later by the watchdog's force.
    #[tokio::test(start_paused = true)]
    async fn a_second_signal_only_the_watchdog_told_apart_reaches_the_program() {
        let app = App::new();
        let (to_program, own) = channel();
        let (to_watchdog, watchdog_signals) = channel();
        let (handed, from_watchdog) = tokio::sync::mpsc::unbounded_channel();
        let program_signals = with_handed(own, from_watchdog);
        let grace = Duration::from_secs(10);
        let watched = tokio::spawn({
            let app = app.clone();
            async move { watch(watchdog_signals, grace, &app, &handed).await }
        });
        let run = tokio::spawn({
            let app = app.clone();
            async move {
                let cx = app.cx();
                app.run(grace, program_signals, async move {
                    cx.cancelled().await;
                    tokio::time::sleep(Duration::from_secs(4)).await;
                })
                .await
            }
        });
        let start = tokio::time::Instant::now();
        to_program.send(Signal::Terminate).unwrap();
        to_watchdog.send(Signal::Terminate).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        to_watchdog.send(Signal::Terminate).unwrap();
        let (out, report) = run.await.unwrap();
        assert!(out.is_none(), "{report:?}");
        assert_eq!(
            report.forced(),
            Some(&Forced::SecondSignal(Signal::Terminate))
        );
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
        watched.abort();
    }

    /// One OS signal reaches the program's listener a moment before the watchdog's (tokio
    /// wakes its listeners one after another): the watchdog sees the program's shutdown
    /// begin, then the same signal come. It is the first signal, not a second one: the
    /// watchdog waits for the shutdown's bound, and does not force the exit a second after.
    #[tokio::test(start_paused = true)]
    async fn the_watchdog_counts_a_signal_the_program_saw_first_once() {
        let app = App::new();
        let (to_program, program_signals) = channel();
        let (to_watchdog, watchdog_signals) = channel();
        let grace = Duration::from_secs(5);
        let (handed, mut from_watchdog) = tokio::sync::mpsc::unbounded_channel();
        let watched = tokio::spawn({
            let app = app.clone();
            async move { watch(watchdog_signals, grace, &app, &handed).await }
        });
        let run = tokio::spawn({
            let app = app.clone();
            async move {
                let cx = app.cx();
                app.run(grace, program_signals, async move {
                    cx.cancelled().await;
                    // A commit that takes most of the grace.
                    tokio::time::sleep(Duration::from_secs(3)).await;
                })
                .await
            }
        });
        let start = tokio::time::Instant::now();
        to_program.send(Signal::Terminate).unwrap();
        app.cx().cancelled().await;
        // The watchdog has seen the shutdown begin before its own delivery comes.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        to_watchdog.send(Signal::Terminate).unwrap();
        let (out, report) = run.await.unwrap();
        assert!(out.is_some(), "{report:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        if let Some(forced) = (&mut { watched }).now_or_never() {
            panic!("the watchdog forced the exit before the shutdown's bound: {forced:?}");
        }
        // Nor was it handed to the program as a second one.
        assert!(from_watchdog.try_recv().is_err());
    }
}
