//! Subprocesses bound to a scope (Unix, with the default feature `process`): a child process
//! is a child of the scope like any other, and never outlives it.
//!
//! Run a
//! [`tokio::process::Command`](https://docs.rs/tokio/1/tokio/process/struct.Command.html)
//! with [`run`] (or [`Process`] for options) as a child of a scope, e.g.
//! `spawn!(scope::process::run(cmd))`. Its exit status is the child's outcome; a process
//! stopped by a cancellation is [`ProcessError::Stopped`] (with its cause and status),
//! whatever status it exits with.
//! On cancellation of the ambient context (its scope cancelled, a sibling failed, a deadline,
//! a shutdown signal, or the child alone):
//!
//! 1. it sends **SIGTERM** (and SIGCONT, so that a stopped process can act on it), at the
//!    cancel itself: the process is bound to the context from [`Process::spawn`] on, also
//!    while the code that owns it reads its output rather than waiting, and also if its
//!    [`Running`] was moved out of the code that started it: the end of that code's context
//!    stops it (a scope's end, or a child's: a child that starts a process and returns its
//!    `Running` to the body has it stopped as it returns; start it in the body and hand it to
//!    the child to keep it for the scope's life);
//! 2. waits the **grace**, counted from that cancel: by default the grace of the scope whose
//!    code starts it (as [`current_grace`](crate::current_grace) there would read it when the
//!    cancel comes: a shutdown gives a scope without a grace of its own the program's), or
//!    [`Process::grace`]. A scope's grace is zero unless it sets one
//!    ([`DEFAULT_GRACE`](crate::DEFAULT_GRACE); at a shutdown, its
//!    [shutdown grace](crate::Config::shutdown_grace): `#[scope::main]`'s main scope has the
//!    program's, 10 s by default, then and only then): then SIGKILL
//!    follows the SIGTERM at once, and a process gets time to act on SIGTERM only where a
//!    grace is set (the scope's, or a shorter [`Process::grace`]: the scope still aborts its
//!    code at the end of its own grace);
//! 3. sends **SIGKILL** if it is still running, whatever the code that holds it awaits then
//!    (it may be reading the output, or hold the [`Running`] outside the scope), and
//!    **reaps** it once that code waits for it or drops it. The SIGKILL at the grace's end
//!    comes from a timer task on the process's runtime: while that runtime is not driven (a
//!    current-thread runtime nobody blocks on) or after it is dropped, only the drop of the
//!    [`Running`] sends it.
//!
//! # What is guaranteed
//!
//! - **Awaited to the end**, the future resolves only after the process has exited and been
//!   reaped: its pid is gone (no zombie) when the scope returns.
//! - **Dropped** before that (the scope aborted it after its grace, a `select!` lost, the
//!   scope's future was dropped with it in the body or an in-place child), the process is
//!   sent SIGKILL at once and reaped before the drop returns. The drop waits for it on the
//!   dropping thread for about 1 s at most, and for the rest of its group (see "Process
//!   groups") about 100 ms more; a killed process exits within microseconds unless the kernel
//!   holds it, for instance in uninterruptible I/O. Past that, the process has still been
//!   killed, and tokio reaps it in the background
//!   (`kill_on_drop` is set). Since a scope aborts its children at the end of its grace, the
//!   same moment as the SIGKILL above, a process that ignores SIGTERM is usually reaped on
//!   this path: either way it is gone when the scope returns. Dropping a scope's *future*
//!   is another matter for a process in a *spawned* child: the drop cancels the scope (the
//!   process gets SIGTERM) and returns at once; the child is aborted at the end of its grace,
//!   and only then is the process killed and reaped.
//! - **Process groups**: by default the process is started in a new process group of its own,
//!   and the signals go to the whole group, so that what it starts (a shell's commands, a
//!   build's compilers) is stopped with it, unless it moved itself to another group. With
//!   [`Process::group(false)`](Process::group) the command keeps its group and only the
//!   process itself is signalled. On Linux, if the process exits on SIGTERM while other
//!   members of its group still run (a shell's background job that ignores SIGTERM), they get
//!   the rest of the grace, then SIGKILL, before the process is reaped; elsewhere SIGKILL
//!   only reaches a group whose process is still running at the end of the grace. On Linux,
//!   a group that got SIGKILL (at the grace's end, or at a drop) has ended when the stop (or
//!   the drop) returns: after reaping the process, it waits for the group's other members to
//!   end, for about 100 ms at most (a killed process ends within microseconds unless the
//!   kernel holds it, and a drop that could not reap the process within its budget does not
//!   wait for them). A group with no other member left costs one `kill(2)` probe; one with
//!   members (killed ones not yet reaped by whoever adopted them included) one read of
//!   `/proc`, whose time grows with the number of processes on the machine (about 10 µs
//!   each), then a look at each member found.
//!   Only the process itself is reaped (its descendants are reaped by whoever adopts them). A process
//!   that exits normally leaves the rest of its group alone, as a shell does. A group of its
//!   own is not the terminal's foreground group: a command that reads the terminal or changes
//!   its modes (a password prompt, an editor, a pager) is stopped by the kernel (SIGTTIN,
//!   SIGTTOU) and would wait for ever, and the terminal's Ctrl-C does not reach it. Run
//!   interactive commands with `group(false)` (also needed for a `pre_exec` that calls
//!   `setsid`, which a group leader may not).
//! - **No pid reuse**: a signal is only ever sent to a process this module has not reaped yet
//!   (on Linux, the process is watched with `waitid(WNOWAIT)`, which does not reap it, while
//!   the rest of its group drains), so it cannot reach another process that got the same pid.
//!   The cancel's SIGTERM (from the canceller's thread) and the SIGKILL at the grace's end
//!   (from a timer task on the process's runtime, which holds only its key and is stopped
//!   when the process is reaped) are sent under the lock of the list of processes not reaped,
//!   whose entry goes as soon as the owner has reaped it. In the microseconds between the two
//!   (the owner's wait on one thread, a cancel on another), `waitid` says it is no longer a
//!   child of ours to wait for, and nothing is sent (on Linux; elsewhere the kernel would have
//!   had to hand the pid out again in that window, as for the forced exit below); such a
//!   process, and one seen exited at the cancel, ended on its own, and its wait says so.
//! - **A forced exit**: `#[scope::main]` ends the program without waiting for tasks still
//!   running when its shutdown is forced (or after its clean exit's short wait), so the task
//!   that owns a process may never be dropped (a worker stuck in a blocking clean-up). Before
//!   it exits, it sends SIGKILL to every process (and group) started here and not reaped yet.
//! - Nothing survives a SIGKILL of *this* process (as with any parent): use a supervisor such
//!   as systemd, or `PR_SET_PDEATHSIG`, for that. Nor a signal this program does not handle
//!   and dies of (SIGHUP when its terminal or ssh session closes, SIGQUIT from Ctrl-\\): its
//!   processes, each in a group of its own, are not in the terminal's group either, so that
//!   signal does not reach them as it would a plain child, and they keep running. List it in
//!   `#[scope::main(signals = [interrupt, terminate, hangup])]` to shut down on it.
//! - A program that adopts orphans (PID 1 in a container, or a subreaper) is the one that
//!   reaps the descendants of a stopped process: reap them (a loop on `waitpid(-1)` at
//!   SIGCHLD, or an init such as `tini` in front), or they stay zombies.
//! - A [`Running`] that is `mem::forget`-ed is neither awaited nor dropped: the process is
//!   still stopped (SIGTERM at the cancel, SIGKILL at the grace's end, at the end of its
//!   scope, or at a `#[scope::main]` exit), but nobody reaps it: it stays a zombie until this
//!   program exits, as a forgotten `tokio::process::Child` does.
//!
//! Signals are sent with `rustix` (a safe binding of `kill(2)`), since tokio's `Child` can
//! only send SIGKILL.
//!
//! On tokio's paused clock (`start_paused`, `#[scope::test]`), a runtime waiting on a
//! process is idle, and its clock jumps to the next timer: a scope's deadline or a grace
//! passes at once while the process runs (a `sleep 0.05` under a 10 s timeout is timed out; a
//! process given a grace of seconds to act on SIGTERM is killed at once). Test code that runs
//! processes and counts on those times runs on the real clock.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use scope::{scope, spawn, Interrupted};
//! use tokio::process::Command;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let status = scope!(error = scope::process::ProcessError, {
//!     let mut cmd = Command::new("sh");
//!     cmd.args(["-c", "exit 3"]);
//!     let child = spawn!(scope::process::run(cmd));
//!     Ok(child.await?)
//! })
//! .await
//! .unwrap();
//! assert_eq!(status.code(), Some(3));
//! # });
//! ```

use std::fmt;
use std::io;
use std::pin::pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use rustix::process::{kill_process, kill_process_group, Pid, Signal};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use crate::cause::Cause;
use crate::cx::{enclosing_scope, saturating_add, Cx, OnCancel};
use crate::error::Interrupted;
use crate::scope::tracker::Enclosing;

/// How long a dropped [`Running`] waits, on the dropping thread, for its killed process to
/// exit so that it can reap it.
const REAP_BUDGET: Duration = Duration::from_secs(1);

/// Why a subprocess gave no exit status.
///
/// Unix only, with the feature `process` (on by default).
///
/// It converts from [`Interrupted`], so it can be a scope's error type itself; with
/// thiserror, add a `#[from] ProcessError` variant to yours.
///
/// # Examples
///
/// ```
/// use scope::process::{run, ProcessError};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let out = run(tokio::process::Command::new("/no/such/program")).await;
/// let Err(ProcessError::Spawn(e)) = out else { unreachable!() };
/// assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
/// # });
/// ```
///
/// Its message says the I/O error's, so the I/O error is not also its `source()`: a chain
/// printed level by level (anyhow's `{:#}`, a log's "caused by") repeats no message.
///
/// Exhaustive, as [`Interrupted`] is: how the process ended decides what code does next, so
/// a new kind would be a breaking change of this crate, not a variant added unseen.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The process could not be started (not found, not executable, no tokio runtime, or one
    /// built without IO, which a process needs, or without timers while the process has a
    /// grace to time: nothing starts then). A runtime without IO or timers is found by
    /// catching the panic tokio makes there (it offers no other way to ask): its panic hook
    /// prints the message first, and a program built with `panic = "abort"` aborts there
    /// instead of getting this error. Build the runtime with `enable_all()`.
    #[error("could not start the process: {0}")]
    Spawn(io::Error),
    /// Waiting for the process failed.
    #[error("could not wait for the process: {0}")]
    Wait(io::Error),
    /// The context was cancelled before the process was started, or the scope was
    /// interrupted (as a scope's error type).
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The context was cancelled while the process ran: it was stopped (SIGTERM, then SIGKILL
    /// after the grace), whatever status it then exited with (a process that exits 0 on
    /// SIGTERM was stopped all the same). `interrupted` says why it was stopped,
    /// `status` how it ended (`ExitStatusExt::signal`: which signal, if one ended it).
    #[error("{interrupted} (the process was stopped: {status})")]
    Stopped {
        /// How the process ended.
        status: ExitStatus,
        /// Why it was stopped: the context's cause.
        interrupted: Interrupted,
    },
}

impl ProcessError {
    /// The interruption, if the process was stopped or never started because its context
    /// was cancelled: what `?` would report as a cancellation or a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::process::{run, ProcessError};
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().timeout(Duration::from_millis(100)));
    /// let out = s
    ///     .run(async {
    ///         let mut cmd = tokio::process::Command::new("sleep");
    ///         cmd.arg("60");
    ///         run(cmd).await?; // stopped at the deadline: an error, not a status
    ///         Ok::<_, ProcessError>("done")
    ///     })
    ///     .await;
    /// let err = out.unwrap_err();
    /// assert!(matches!(err.interrupted(), Some(Interrupted::DeadlineExceeded(_))));
    /// # });
    /// ```
    #[must_use]
    pub fn interrupted(&self) -> Option<&Interrupted> {
        match self {
            ProcessError::Interrupted(i) | ProcessError::Stopped { interrupted: i, .. } => Some(i),
            ProcessError::Spawn(_) | ProcessError::Wait(_) => None,
        }
    }
}

/// Runs `cmd` as a child of the scope whose code awaits it, and resolves to its exit status:
/// [`Process::new(cmd).status()`](Process::status) (which closes any pipe the command asks
/// for: its output is nobody's). See the [module](self) for what happens on cancellation and
/// what is guaranteed.
///
/// Unix only, with the feature `process` (on by default).
///
/// # Examples
///
/// ```
/// use scope::{scoped, spawn};
/// use scope::process::ProcessError;
/// use tokio::process::Command;
///
/// #[scoped]
/// async fn both() -> Result<bool, ProcessError> {
///     let yes = spawn!(scope::process::run(Command::new("true")));
///     let no = spawn!(scope::process::run(Command::new("false")));
///     Ok(yes.await?.success() && !no.await?.success())
/// }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert!(both().await.unwrap());
/// # });
/// ```
pub async fn run(cmd: Command) -> Result<ExitStatus, ProcessError> {
    Process::new(cmd).status().await
}

/// A subprocess to run as a child of a scope, with its options. See the [module](self).
///
/// Unix only, with the feature `process` (on by default).
///
/// # Examples
///
/// A process that ignores SIGTERM is killed once the grace has passed:
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::time::Duration;
/// use scope::process::{Process, ProcessError};
/// use scope::Cx;
/// use tokio::io::AsyncBufReadExt;
/// use tokio::process::Command;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", r#"trap "" TERM; echo ready; sleep 60"#]).stdout(std::process::Stdio::piped());
/// let mut running = Process::new(cmd).grace(Duration::from_millis(100)).spawn().unwrap();
/// let mut lines = tokio::io::BufReader::new(running.take_stdout().unwrap()).lines();
/// assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready")); // the trap is set
///
/// let cx = Cx::root();
/// cx.cancel("stop");
/// let Err(ProcessError::Stopped { status, .. }) = cx.run(running.wait()).await else {
///     unreachable!()
/// };
/// assert_eq!(status.signal(), Some(9)); // SIGTERM was ignored; SIGKILL was not
/// # });
/// ```
#[must_use = "a `Process` does nothing until it is run (`status`) or spawned (`spawn`)"]
pub struct Process {
    cmd: Command,
    grace: Option<Duration>,
    group: bool,
}

/// Whether the current runtime has an IO driver, which tokio needs to wait for a process: it
/// starts the process, then registers it there, and panics on a runtime without one (the
/// process would run on, never waited for nor killed). A listener for `SIGCHLD` asks the same
/// driver (the signal driver is built on it) before anything starts; tokio panics as it
/// answers no (its panic hook prints the message), and the spawn is refused.
fn has_io_driver() -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    std::panic::catch_unwind(|| signal(SignalKind::child()).is_ok()).unwrap_or(false)
}

impl Process {
    /// The process `cmd` describes, with the defaults: the scope's grace, a process group of
    /// its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::process::Process;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let status = Process::new(tokio::process::Command::new("true")).status().await.unwrap();
    /// assert!(status.success());
    /// # });
    /// ```
    pub fn new(cmd: Command) -> Self {
        Self {
            cmd,
            grace: None,
            group: true,
        }
    }

    /// How long the process gets between SIGTERM and SIGKILL, instead of the grace of the
    /// scope whose code starts it. (The scope still aborts its code at the end of its own
    /// grace; the process is then killed at once: see the [module](self).) A grace is timed
    /// on the runtime's time driver: on a runtime without one, a process whose grace is not
    /// zero (its own, or else the one in force in the scope whose code starts it; zero
    /// outside any scope) is refused at [`spawn`](Process::spawn), `Duration::MAX` included
    /// (it sends no SIGKILL, but a stop waits on timers within it).
    ///
    /// # Examples
    ///
    /// See [`Process`].
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// Whether the process is started in a process group of its own and signalled as a
    /// group (the default), or keeps the group the command says and is signalled alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::process::Process;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let status = Process::new(tokio::process::Command::new("true")).group(false).status().await.unwrap();
    /// assert!(status.success());
    /// # });
    /// ```
    pub fn group(mut self, group: bool) -> Self {
        self.group = group;
        self
    }

    /// Starts the process (with `kill_on_drop` set), unless the ambient context is already
    /// cancelled. Use the returned [`Running`] to reach its pipes and to wait for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::process::{Process, ProcessError};
    /// use scope::Cx;
    /// use tokio::process::Command;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// cx.cancel("too late");
    /// let refused = cx.run(async { Process::new(Command::new("true")).spawn().map(drop) }).await;
    /// assert!(matches!(refused, Err(ProcessError::Interrupted(_))));
    /// # });
    /// ```
    ///
    /// See [`Process`] for one that reads the process's output.
    pub fn spawn(self) -> Result<Running, ProcessError> {
        let cx = Cx::current();
        if let Some(cause) = cx.cause() {
            return Err(Interrupted::from_cause(cause).into());
        }
        if tokio::runtime::Handle::try_current().is_err() {
            let e = io::Error::other("no tokio runtime is running on this thread");
            return Err(ProcessError::Spawn(e));
        }
        if !has_io_driver() {
            let e = io::Error::other(
                "the tokio runtime has no IO driver, which a process needs: build it with \
                 `enable_io()` (or `enable_all()`)",
            );
            return Err(ProcessError::Spawn(e));
        }
        let Process {
            mut cmd,
            grace,
            group,
        } = self;
        // The grace from SIGTERM to SIGKILL: its own, or the one of the scope whose code
        // starts it, read when it is needed (a scope's grace may depend on its cause: a
        // shutdown gives one without a grace of its own the program's).
        let scope = enclosing_scope();
        // A zero grace kills at once: no timer. Any other is timed, and a stop within it
        // waits on timers (for the process and its group's members), an unbounded one too.
        // (The one in force now: a shutdown that gives the scope the program's grace later is
        // an application's, which needs timers itself.)
        let now = grace_of(grace, scope.as_ref());
        if !now.is_zero() && !crate::timer::has_time_driver() {
            let e = io::Error::other(format!(
                "the tokio runtime has no time driver, which the process's grace of {now:?} \
                 (from SIGTERM to SIGKILL, and a stop's wait within it) is timed on: build \
                 it with `enable_time()` (or `enable_all()`), or give the process a zero grace \
                 (`Process::grace(Duration::ZERO)`)",
            ));
            return Err(ProcessError::Spawn(e));
        }
        let runtime = tokio::runtime::Handle::current();
        cmd.kill_on_drop(true);
        if group {
            cmd.process_group(0);
        }
        let child = cmd.spawn().map_err(ProcessError::Spawn)?;
        let mut running = Running {
            key: unreaped::next_key(),
            child,
            grace,
            scope: scope.clone(),
            group,
            stopping: None,
            waited: None,
            exited_first: false,
            watch: None,
            cx: cx.clone(),
            members: None,
        };
        if let Some(pid) = running.pid() {
            unreaped::add(running.key, pid, group);
            // Bound to the context from now on, not only while `wait` is polled: a cancel
            // while the output is read, or the end of a scope the `Running` was moved out
            // of, sends SIGTERM at once (from the canceller's thread), and SIGKILL once the
            // grace has run from then, whatever the code that holds the `Running` awaits.
            let key = running.key;
            running.watch = Some(cx.on_cancel(move |_| {
                unreaped::terminate(key, grace_of(grace, scope.as_ref()), Some(&runtime));
            }));
        }
        Ok(running)
    }

    /// Starts the process and waits for it ([`spawn`](Process::spawn), then
    /// [`Running::wait`]). Its output is nobody's: a stdout or stderr the command asked to be
    /// piped is closed at once (as tokio's `Command::status` does), so a command that writes
    /// to it ends on SIGPIPE, and that is its status (`Ok`, not an error). To read the
    /// output, `spawn` and take the pipes.
    ///
    /// # Examples
    ///
    /// See [`Process::new`].
    pub async fn status(self) -> Result<ExitStatus, ProcessError> {
        let mut running = self.spawn()?;
        // Its output is nobody's: a pipe kept open and never read would block a command that
        // writes more than it holds (as tokio's own `Command::status` closes them).
        drop(running.child.stdout.take());
        drop(running.child.stderr.take());
        running.wait().await
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("cmd", self.cmd.as_std())
            .field("grace", &self.grace)
            .field("group", &self.group)
            .finish()
    }
}

/// A started subprocess. Dropping it before it has been waited for kills and reaps it (see
/// the [module](self)).
///
/// Unix only, with the feature `process` (on by default).
///
/// # Examples
///
/// ```
/// use scope::process::Process;
/// use tokio::io::AsyncWriteExt;
/// use tokio::process::Command;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "read line; exit ${#line}"]).stdin(std::process::Stdio::piped());
/// let mut running = Process::new(cmd).spawn().unwrap();
/// let mut stdin = running.take_stdin().unwrap();
/// stdin.write_all(b"four\n").await.unwrap();
/// drop(stdin);
/// assert_eq!(running.wait().await.unwrap().code(), Some(4));
/// assert_eq!(running.id(), None); // reaped
/// # });
/// ```
#[must_use = "dropping a `Running` (`let _ =` too) kills its process and its group at once: bind it (`let mut running = ..`), then `wait` for it or `stop` it"]
pub struct Running {
    /// Its entry among the processes a forced exit kills (see [`kill_unreaped`]).
    key: u64,
    child: Child,
    grace: Option<Duration>,
    /// The scope whose code started it: its grace is the process's, unless it has its own.
    scope: Option<Arc<dyn Enclosing>>,
    group: bool,
    /// When the first [`stop`](Running::stop) began, when its grace ends: a stop resumed
    /// after it was dropped part-way goes on from there.
    stopping: Option<tokio::time::Instant>,
    /// What a [`wait`](Running::wait) that saw the process reaped answered (its status, and
    /// the cause of a stop), or the status of the caller's [`stop`](Running::stop) that reaped
    /// it: a later wait gives the same answer, whatever has been cancelled since.
    waited: Option<(ExitStatus, Option<Cause>)>,
    /// It had exited on its own when the first SIGTERM was to be sent (Linux: seen without
    /// reaping it): no cancel stopped it.
    exited_first: bool,
    /// The context's cancel sends SIGTERM (stopped once the process is reaped or dropped).
    watch: Option<OnCancel>,
    /// The context it was started under: its cancel (its end included: a scope's, or the
    /// child's that started it) stops it,
    /// whoever waits for it.
    cx: Cx,
    /// The group (its id) killed with the process, reaped, whose members a stop is waiting
    /// for: a stop dropped during that wait leaves it to the next stop, or to the drop.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    members: Option<Pid>,
}

impl Running {
    /// The process's id, while it has not been reaped (then `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::process::Process;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut running = Process::new(tokio::process::Command::new("true")).spawn().unwrap();
    /// assert!(running.id().is_some());
    /// assert!(running.wait().await.unwrap().success());
    /// assert_eq!(running.id(), None);
    /// # });
    /// ```
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Takes its stdin, if the command piped it.
    ///
    /// # Examples
    ///
    /// See [`Running`].
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Takes its stdout, if the command piped it.
    ///
    /// # Examples
    ///
    /// See [`Process`].
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Takes its stderr, if the command piped it.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::process::Process;
    /// use tokio::io::AsyncReadExt;
    /// use tokio::process::Command;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo oops >&2"]).stderr(std::process::Stdio::piped());
    /// let mut running = Process::new(cmd).spawn().unwrap();
    /// let mut err = String::new();
    /// running.take_stderr().unwrap().read_to_string(&mut err).await.unwrap();
    /// assert_eq!(err, "oops\n");
    /// assert!(running.wait().await.unwrap().success());
    /// # });
    /// ```
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Waits for the process to exit and reaps it, watching the ambient context and the one it
    /// was started under (they differ for a `Running` moved out of its scope, whose end then
    /// stops it): once either is cancelled, [`stop`](Running::stop)s the process, and a cancel
    /// seen with the exit still drains its group. Read (or take and drop) the pipes you asked
    /// for before you wait: a process blocked on a full pipe nobody reads does not exit
    /// ([`Process::status`] and [`run`] close them). Resolves to its exit status; if it
    /// was stopped, to [`ProcessError::Stopped`], which says why (a cancellation is never a
    /// success that `?` lets through) and keeps the status (`ExitStatusExt::signal` says which
    /// signal ended it, if one did; `status.success()`, that it shut down cleanly on SIGTERM).
    /// An explicit [`stop`](Running::stop) resolves to the status: its caller asked for it.
    /// So does a process that had exited on its own before the cancel, or was being ended
    /// by the kernel then, or had been reaped by this wait (seen, on Linux, as the cancel's
    /// SIGTERM was to be sent): nothing stopped it.
    /// Once a wait has seen the process reaped, a later one gives the same answer, whatever
    /// has been cancelled since (as tokio's `Child::wait` gives the same status again); after
    /// an explicit stop that reaped it, the status that stop gave.
    ///
    /// # Examples
    ///
    /// Under a scope with a deadline, a process that outlives it is stopped:
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::time::Duration;
    /// use scope::process::{Process, ProcessError};
    /// use scope::{Config, Interrupted, Scope};
    /// use tokio::process::Command;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().timeout(Duration::from_millis(100)).grace(Duration::from_secs(5)));
    /// let out = s
    ///     .run(async {
    ///         let mut cmd = Command::new("sleep");
    ///         cmd.arg("60");
    ///         let mut running = Process::new(cmd).spawn()?;
    ///         // SIGTERM at the deadline: an error that says why, with the status.
    ///         let Err(ProcessError::Stopped { status, interrupted }) = running.wait().await else {
    ///             unreachable!()
    ///         };
    ///         assert!(matches!(interrupted, Interrupted::DeadlineExceeded(_)));
    ///         Ok::<_, ProcessError>(status.signal())
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), Some(15));
    /// # });
    /// ```
    ///
    /// See [`Process`] for one that ignores SIGTERM.
    pub async fn wait(&mut self) -> Result<ExitStatus, ProcessError> {
        // The context of the code that waits, and the one it was started under (they differ
        // for a `Running` moved out of its scope): a cancel of either stops it, so that a
        // process that ignores SIGTERM does not outlive the scope that started it.
        let ambient = Cx::current();
        let cx = if ambient.same_as(&self.cx) {
            ambient
        } else {
            ambient.merge(&self.cx)
        };
        let (status, cause) = if let Some(answer) = self.waited.clone() {
            answer
        } else {
            let (status, cause) = self.wait_under(&cx).await?;
            // It had exited on its own before the cancel's SIGTERM: nothing stopped it.
            let answer = (status, cause.filter(|_| !self.exited_first));
            self.waited = Some(answer.clone());
            answer
        };
        match cause {
            // Whatever its status: a process that exits 0 on SIGTERM (a clean shutdown) was
            // stopped all the same, and `?` must not pass the cancel on as its work done.
            Some(cause) => Err(ProcessError::Stopped {
                status,
                interrupted: Interrupted::from_cause(cause),
            }),
            None => Ok(status),
        }
    }

    /// Waits for the process under `cx` (a cancel of it stops the process): its exit status,
    /// with the cause of the cancel that stopped it.
    async fn wait_under(&mut self, cx: &Cx) -> Result<(ExitStatus, Option<Cause>), ProcessError> {
        if self.stopping.is_some() {
            // A stop began and was dropped part-way (a `select!` around this wait, or an
            // explicit stop): it goes on (its grace, then SIGKILL), rather than waiting on
            // for a process that ignores its SIGTERM; a cancel is still said as one.
            let status = self.stop_now().await?;
            return Ok((status, cx.cause()));
        }
        let ended = {
            // The cancel first: once it came, the stop drains the process's group, whether or
            // not the leader has exited already (the cancel's SIGTERM may have ended it before
            // this wait was polled); reaping it here would leave its group's stragglers to run
            // on, out of reach.
            let mut exited = pin!(self.child.wait());
            // Not polled once the context is flagged cancelled (the flag is set before any
            // callback runs, so before the cancel's SIGTERM): from then on the leader may die
            // of that SIGTERM between the two polls of this `select`, and reaping it here
            // would leave its group undrained (the stop drains it, the leader unreaped).
            let cx_ref = cx;
            let exited = std::future::poll_fn(move |task| {
                if cx_ref.is_cancelled_quiet() == Some(true) {
                    std::task::Poll::Pending
                } else {
                    std::future::Future::poll(exited.as_mut(), task)
                }
            });
            match select(pin!(cx.cancelled()), pin!(exited)).await {
                Either::Left((cause, _)) => Err(cause),
                Either::Right((status, _)) => Ok(status),
            }
        };
        Ok(match ended {
            // Exited: on a cancel's SIGTERM (sent at the cancel, maybe while the output was
            // read), it was stopped as much as if this wait had sent it.
            // Reaped before the context is asked: asking may fire a deadline and run the
            // callbacks, this process's SIGTERM among them, which must not reach a reaped pid.
            // A cancel that came after the reap, or whose SIGTERM was not sent before it,
            // stopped nothing: the cause is said only when that SIGTERM went (read before the
            // entry goes with the reap; one sent to a process that had exited is taken off by
            // the wait, through `exited_first`).
            Ok(status) => {
                let sent = unreaped::terminated_at(self.key).is_some();
                let status = self.reaped(status)?;
                (status, cx.cause().filter(|_| sent))
            }
            Err(cause) => (self.stop_now().await?, Some(cause)),
        })
    }

    /// Stops the process now: SIGTERM and SIGCONT (not again if a cancel sent them), then
    /// the grace ([`Process::grace`], else the scope's), then SIGKILL if it is still
    /// running; resolves once it is reaped, to its exit status. In a group of its own (the
    /// default), on Linux, the grace also waits for the rest of the group, and what is left
    /// of it at the end gets SIGKILL too.
    ///
    /// # Examples
    ///
    /// A process that exits on SIGTERM is not killed:
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::time::Duration;
    /// use scope::process::Process;
    /// use tokio::process::Command;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut cmd = Command::new("sleep");
    /// cmd.arg("60");
    /// let mut running = Process::new(cmd).grace(Duration::from_secs(30)).spawn().unwrap();
    /// let start = std::time::Instant::now();
    /// let status = running.stop().await.unwrap();
    /// assert_eq!(status.signal(), Some(15));
    /// assert!(start.elapsed() < Duration::from_secs(30));
    /// # });
    /// ```
    pub async fn stop(&mut self) -> Result<ExitStatus, ProcessError> {
        let status = self.stop_now().await?;
        // Reaped by its caller's stop: a later wait answers with its status, as this stop
        // did, whatever is cancelled since (a wait that answered first keeps its answer).
        if self.waited.is_none() {
            self.waited = Some((status, None));
        }
        Ok(status)
    }

    /// What [`stop`](Running::stop) does, without keeping its answer for a later wait.
    async fn stop_now(&mut self) -> Result<ExitStatus, ProcessError> {
        // Resumed after a stop that was dropped part-way, the same grace goes on (whatever
        // the grace of the code that resumes it).
        let until = if let Some(until) = self.stopping {
            until
        } else {
            let grace = grace_of(self.grace, self.scope.as_ref());
            // Once (the context's cancel may have sent it already, and the grace runs from
            // then, with its SIGKILL armed), with SIGCONT; sent here, its SIGKILL is armed
            // here, so that a stop given up part-way still ends the process.
            let runtime = tokio::runtime::Handle::try_current().ok();
            unreaped::terminate(self.key, grace, runtime.as_ref());
            let since = unreaped::terminated_at(self.key).unwrap_or_else(tokio::time::Instant::now);
            // `Duration::MAX` means no limit, as for a scope's grace.
            let until = saturating_add(since, grace);
            self.stopping = Some(until);
            until
        };
        let has_time = tokio::time::Instant::now() < until;
        // The group's id (the leader's pid), read before the leader is reaped.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let pgid = self.pid().filter(|_| self.group);
        // Whether the drain killed members that outlived their leader.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let killed = match pgid {
            Some(pgid) if has_time => group::drain(pgid, until).await,
            _ => false,
        };
        // Once reaped, the process leaves the list of those not reaped at once (`reaped`), and
        // then the members of its group killed with it are waited for. Past the grace's end
        // (the drain may take it all), the group is killed before the leader is reaped: a
        // leader reaped first, as it exits on SIGTERM at that moment, would leave members the
        // grace's timer can no longer reach.
        if has_time && tokio::time::Instant::now() < until {
            // The grace's end, or its timer cut short by the runtime's shutdown: the grace is
            // over either way (the crate's timer, which its runtime's shutdown does not make
            // panic).
            let waited = match select(
                pin!(self.child.wait()),
                pin!(crate::timer::Delay::until(until)),
            )
            .await
            {
                Either::Left((status, _)) => Some(status),
                Either::Right(_) => None,
            };
            if let Some(status) = waited {
                let out = self.reaped(status);
                // Killed by the drain, or by the grace's timer (at its end, from another
                // thread) after the drain saw the leader still running.
                #[cfg(any(target_os = "linux", target_os = "android"))]
                let killed = killed || tokio::time::Instant::now() >= until;
                #[cfg(any(target_os = "linux", target_os = "android"))]
                self.members_ended(pgid.filter(|_| killed)).await;
                return out;
            }
        }
        self.signal(Signal::KILL);
        let status = self.child.wait().await;
        let out = self.reaped(status);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        self.members_ended(pgid).await;
        out
    }

    /// Waits for the members of `killed`, the group killed with the process just reaped (or
    /// of one an earlier stop, dropped while it waited, left).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    async fn members_ended(&mut self, killed: Option<Pid>) {
        if let Some(pgid) = killed.or(self.members) {
            self.members = Some(pgid);
            group::members_ended(pgid).await;
            self.members = None;
        }
    }

    /// The process has been waited for: once reaped, its pid is no longer ours to signal at
    /// a forced exit.
    fn reaped(&mut self, status: io::Result<ExitStatus>) -> Result<ExitStatus, ProcessError> {
        if self.child.id().is_none() {
            // What the list knew of it goes with its entry.
            self.exited_first |= unreaped::exited_first(self.key);
            unreaped::remove(self.key);
            self.unwatch();
        }
        status.map_err(ProcessError::Wait)
    }

    /// The context no longer keeps the SIGTERM callback of a process that is gone.
    fn unwatch(&mut self) {
        if let Some(watch) = self.watch.take() {
            watch.stop();
        }
    }

    /// The process's pid while it has not been reaped (only then is it still its own).
    fn pid(&self) -> Option<Pid> {
        self.child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
    }

    /// Sends `signal` to the process (or its group), if it has not been reaped: only then is
    /// its pid still its own.
    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid() {
            send(pid, self.group, signal);
        }
    }
}

/// The grace from SIGTERM to SIGKILL: the process's own, or the one of the scope whose code
/// started it (none outside a scope).
fn grace_of(own: Option<Duration>, scope: Option<&Arc<dyn Enclosing>>) -> Duration {
    own.unwrap_or_else(|| scope.map_or(Duration::ZERO, |scope| scope.grace()))
}

/// What is seen of a process of the list, without reaping it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Seen {
    /// Running (or not known: not Linux).
    Running,
    /// Exited, or being ended by the kernel, not reaped yet: its pid (and its group's id)
    /// still its own.
    Exited,
    /// Reaped already, by a wait that has not taken it off the list yet: its pid is no longer
    /// its own, and nothing may be sent to it.
    Reaped,
}

/// Whether the kernel has begun to end the process `pid`: every thread of it has its
/// `PF_EXITING` flag (the ninth field of `/proc/<pid>/task/<tid>/stat`). One thread's alone
/// is not enough: a main thread that left by `pthread_exit` keeps it (a zombie thread) while
/// the others run on. `false` when that cannot be read.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn exiting(pid: Pid) -> bool {
    const PF_EXITING: u64 = 0x4;
    let flags = |stat: &str| {
        // `pid (comm) state ppid pgrp session tty_nr tpgid flags ..`: the name may hold
        // spaces and parentheses, so the fields are counted from its last `)`.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(6))
            .and_then(|flags| flags.parse::<u64>().ok())
    };
    let Ok(threads) = std::fs::read_dir(format!("/proc/{}/task", pid.as_raw_pid())) else {
        return false;
    };
    let mut seen_one = false;
    for thread in threads {
        let Ok(thread) = thread else { return false };
        let Ok(stat) = std::fs::read_to_string(thread.path().join("stat")) else {
            return false;
        };
        match flags(&stat) {
            Some(f) if f & PF_EXITING != 0 => seen_one = true,
            _ => return false,
        }
    }
    seen_one
}

/// What `waitid` with `WNOWAIT` says of the process `pid` (ours, on the list). Linux only;
/// elsewhere `Running` (not known).
fn seen(pid: Pid) -> Seen {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::io::Errno;
        use rustix::process::{waitid, WaitId, WaitIdOptions};
        let how = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        match waitid(WaitId::Pid(pid), how) {
            Ok(Some(_)) => Seen::Exited,
            // A child of ours that cannot be waited for has been waited for.
            Err(Errno::CHILD) => Seen::Reaped,
            // Exiting already (it called `exit` and the kernel is tearing it down, freeing
            // its memory, before it is a zombie): a signal now changes nothing.
            Ok(None) if exiting(pid) => Seen::Exited,
            Ok(None) | Err(_) => Seen::Running,
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = pid;
        Seen::Running
    }
}

/// SIGKILL to a process of the list (and its group), unless its wait has reaped it already
/// and not yet taken it off (its pid is no longer its own: see `Seen::Reaped`).
fn kill_unless_reaped(pid: Pid, group: bool) {
    if seen(pid) != Seen::Reaped {
        send(pid, group, Signal::KILL);
    }
}

/// Sends `signal` to `pid`, or to its process group with `group`. SIGKILL goes to the
/// process itself too: one that moved itself to another group is still ended (and the caller
/// waiting for it is not left waiting for ever); sent while it is unreaped, so its pid is ours.
fn send(pid: Pid, group: bool, signal: Signal) {
    // An error means it is gone already (or was never ours to signal): nothing to do.
    if group {
        let _ = kill_process_group(pid, signal);
        if signal == Signal::KILL {
            let _ = kill_process(pid, signal);
        }
    } else {
        let _ = kill_process(pid, signal);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Reaped already, or killed here (and reaped below or by tokio later): a forced exit
        // has nothing more to do for it.
        unreaped::remove(self.key);
        self.unwatch();
        if self.child.id().is_none() {
            // Reaped; the members of its killed group, if a stop dropped while it waited for
            // them left them, are waited for here.
            #[cfg(any(target_os = "linux", target_os = "android"))]
            if let Some(pgid) = self.members.take() {
                group::members_ended_blocking(pgid);
            }
            return;
        }
        // The group's id (the leader's pid), read before the leader is reaped.
        let pgid = self.pid().filter(|_| self.group);
        self.signal(Signal::KILL);
        let until = std::time::Instant::now() + REAP_BUDGET;
        let mut pause = Duration::from_micros(50);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                // It cannot be waited for: nothing more to do here.
                Err(_) => return,
                Ok(None) => {}
            }
            if std::time::Instant::now() >= until {
                // Killed but not yet exited: tokio's orphan reaping takes it from here.
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        // Reaped: the rest of its group, killed with it, has ended too before the drop returns.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(pgid) = pgid {
            group::members_ended_blocking(pgid);
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = pgid;
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("id", &self.child.id())
            .field("grace", &self.grace)
            .field("group", &self.group)
            .field("stopping", &self.stopping.is_some())
            .finish_non_exhaustive()
    }
}

/// Kills every process started here that has not been reaped yet (its group too, for one
/// started in a group of its own), without waiting: for an exit that does not wait for the
/// tasks that own them (`#[scope::main]`'s forced exit, which ends the program while a worker
/// may be stuck, so that their `Drop` may never run). A process is removed from the list as
/// soon as it is reaped, so no pid that is no longer ours is signalled (one reaped and not yet
/// removed is seen so with `waitid` on Linux and skipped; elsewhere, short of one reaped and
/// reused between the two, a window of microseconds at an exit).
///
/// `runtime`: only those started on that runtime (an exit that returns to its caller, which
/// may own other runtimes and their processes); `None`: all (the process ends).
pub(crate) fn kill_unreaped(runtime: Option<tokio::runtime::Id>) {
    for (pid, group) in unreaped::take_all(runtime) {
        kill_unless_reaped(pid, group);
    }
}

/// The processes started here and not reaped yet, by key.
mod unreaped {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use rustix::process::{Pid, Signal};

    /// A process not reaped yet: its key, its pid, whether it leads a group of its own, and
    /// when it was sent SIGTERM.
    struct Entry {
        key: u64,
        pid: Pid,
        group: bool,
        terminated: Option<tokio::time::Instant>,
        /// The timer that sends SIGKILL at the grace's end, if one runs: stopped when the
        /// process is reaped or dropped (so that it leaves no task behind).
        timer: Option<tokio::task::AbortHandle>,
        /// The runtime it was started on, if any.
        runtime: Option<tokio::runtime::Id>,
        /// It had exited on its own when SIGTERM was to be sent (see `send_term`).
        exited_first: bool,
    }

    /// A leaf lock: held only to add, remove or take entries, and to send a SIGTERM (a
    /// system call; no user code), so that no entry is signalled once its process is reaped.
    static LIST: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

    fn list() -> MutexGuard<'static, Vec<Entry>> {
        LIST.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn next_key() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Relaxed: a unique number; nothing is published with it.
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn add(key: u64, pid: Pid, group: bool) {
        let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
        list().push(Entry {
            key,
            pid,
            group,
            terminated: None,
            timer: None,
            runtime,
            exited_first: false,
        });
    }

    pub(super) fn remove(key: u64) {
        let mut list = list();
        if let Some(i) = list.iter().position(|e| e.key == key) {
            let entry = list.swap_remove(i);
            if let Some(timer) = entry.timer {
                // No user code: the task holds only the key.
                timer.abort();
            }
        }
    }

    /// Sends SIGTERM, then SIGCONT (a stopped process acts on a signal only once continued),
    /// to the process `key` (or its group), once, if it is not reaped yet; the call that
    /// sends it also arms the SIGKILL at the end of `grace` (on `runtime`; a zero grace kills
    /// at once, and without a runtime the stop's own wait is left to send it).
    pub(super) fn terminate(
        key: u64,
        grace: std::time::Duration,
        runtime: Option<&tokio::runtime::Handle>,
    ) {
        if send_term(key) {
            kill_after(key, grace, runtime);
        }
    }

    /// SIGTERM and SIGCONT to the process `key`, once; whether this call sent them.
    fn send_term(key: u64) -> bool {
        let mut list = list();
        let Some(e) = list.iter_mut().find(|e| e.key == key) else {
            return false;
        };
        if e.terminated.is_some() {
            return false;
        }
        // Exited already, unreaped (its pid, and its group's id, still its own): it ended on
        // its own, before this stop. The SIGTERM still goes (to its group: what is left of it
        // is stopped all the same), but nothing stopped it. Reaped already, by its wait on
        // another thread that has not taken it off this list yet: it ended on its own too,
        // and its pid is no longer its own, so nothing is sent.
        let seen = super::seen(e.pid);
        e.exited_first = seen != super::Seen::Running;
        e.terminated = Some(tokio::time::Instant::now());
        if seen != super::Seen::Reaped {
            super::send(e.pid, e.group, Signal::TERM);
            super::send(e.pid, e.group, Signal::CONT);
        }
        true
    }

    /// Whether the process `key` had exited on its own when it was to be sent SIGTERM.
    pub(super) fn exited_first(key: u64) -> bool {
        list().iter().any(|e| e.key == key && e.exited_first)
    }

    /// When the process `key` was sent SIGTERM, if it was and is not reaped yet.
    pub(super) fn terminated_at(key: u64) -> Option<tokio::time::Instant> {
        list().iter().find(|e| e.key == key)?.terminated
    }

    /// Sends SIGKILL to the process `key` (or its group) if it is not reaped yet.
    pub(super) fn kill(key: u64) {
        let list = list();
        if let Some(e) = list.iter().find(|e| e.key == key) {
            super::kill_unless_reaped(e.pid, e.group);
        }
    }

    /// SIGKILL to the process `key` once `grace` has passed (at once for none; never for
    /// `Duration::MAX`, no limit), if it is not reaped by then: a timer on `runtime`, which
    /// holds nothing of the process but its key (a runtime shut down drops it, and the
    /// process's own drop kills it).
    fn kill_after(key: u64, grace: std::time::Duration, runtime: Option<&tokio::runtime::Handle>) {
        if grace.is_zero() {
            kill(key);
        } else if let (Some(runtime), false) = (runtime, grace == std::time::Duration::MAX) {
            let timer = runtime
                .spawn(async move {
                    // The crate's timer, which keeps a long grace whole (tokio's `sleep` ends
                    // any wait past 30 years there). Cut short, the runtime is shutting down:
                    // its drop of this task leaves the kill to the process's own drop.
                    if crate::timer::Delay::after(grace).await == crate::timer::Fired::Due {
                        kill(key);
                    }
                })
                .abort_handle();
            let mut list = list();
            match list.iter_mut().find(|e| e.key == key) {
                Some(e) => e.timer = Some(timer),
                // Reaped meanwhile: nothing left to kill.
                None => timer.abort(),
            }
        }
    }

    /// Takes the entries (of `runtime` only, if given) out of the list.
    pub(super) fn take_all(runtime: Option<tokio::runtime::Id>) -> Vec<(Pid, bool)> {
        let mut list = list();
        let taken: Vec<Entry> = match runtime {
            None => std::mem::take(&mut *list),
            Some(id) => {
                let (taken, kept) = std::mem::take(&mut *list)
                    .into_iter()
                    .partition(|e| e.runtime == Some(id));
                *list = kept;
                taken
            }
        };
        taken.into_iter().map(|e| (e.pid, e.group)).collect()
    }
}

/// The rest of a process group, after its leader was sent SIGTERM (Linux).
///
/// The leader is watched with `waitid(WNOWAIT)`, which sees it exit without reaping it: while
/// it is a zombie its pid, and so the group's id, cannot be given to another process, so the
/// group can still be signalled safely after the leader has exited.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod group {
    use std::time::Duration;

    use rustix::process::{kill_process_group, waitid, Pid, Signal, WaitId, WaitIdOptions};
    use tokio::time::Instant;

    /// Waits, until `until`, for the leader `pid` to exit and for no other member of its
    /// group to be running. If the leader has exited but members are still running at
    /// `until`, they are sent SIGKILL, and it returns `true`. The leader is not reaped here,
    /// so the group's id stays ours throughout; a leader still running at `until` is left to
    /// the caller.
    pub(super) async fn drain(pid: Pid, until: Instant) -> bool {
        let mut pause = Duration::from_millis(1);
        loop {
            let exited = match waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ) {
                Ok(status) => status.is_some(),
                // It cannot be watched: the caller's plain wait takes over.
                Err(_) => return false,
            };
            // (Members whose state cannot be read get the whole grace.)
            if exited && members_running(pid) == Some(false) {
                return false;
            }
            let now = Instant::now();
            // The grace is over at `until`, or when the pause's timer is cut short (the
            // runtime shut down).
            let over = now >= until
                || crate::timer::Delay::until((now + pause).min(until)).await
                    == crate::timer::Fired::CutShort;
            if over {
                if exited {
                    // The leader is a zombie: the group's id is still its own.
                    let _ = kill_process_group(pid, Signal::KILL);
                    return true;
                }
                return false;
            }
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// How long the end of a killed group's members is waited for: a process killed ends
    /// within microseconds, unless the kernel holds it (uninterruptible I/O, a frozen cgroup).
    const MEMBERS_BUDGET: Duration = Duration::from_millis(100);

    /// After SIGKILL to the group `pgid` and the reaping of its leader: waits, for at most
    /// [`MEMBERS_BUDGET`], until no member of the group runs, so that none outlives the stop.
    /// A group with no member left at all is told at once, by a signal 0 (no `/proc` read);
    /// for one with members, `/proc` is read once, then each member found is looked at until
    /// it has ended. (The leader reaped, the id
    /// is the group's while any member is in it; with none, it may be handed out again, and a
    /// new group of that id would be waited for in vain, for the budget at most.)
    pub(super) async fn members_ended(pgid: Pid) {
        let until = Instant::now() + MEMBERS_BUDGET;
        let mut left = members_left(pgid);
        let mut pause = Duration::from_micros(100);
        while !left.is_empty() && Instant::now() < until {
            if crate::timer::Delay::after(pause).await == crate::timer::Fired::CutShort {
                // The runtime shut down: no more waiting.
                return;
            }
            pause = (pause * 2).min(Duration::from_millis(10));
            left.retain(|&member| still_running(member, pgid));
        }
    }

    /// As [`members_ended`], on this thread (for a drop, which cannot await).
    pub(super) fn members_ended_blocking(pgid: Pid) {
        let until = std::time::Instant::now() + MEMBERS_BUDGET;
        let mut left = members_left(pgid);
        let mut pause = Duration::from_micros(50);
        while !left.is_empty() && std::time::Instant::now() < until {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
            left.retain(|&member| still_running(member, pgid));
        }
    }

    /// The members of the group `pgid`, whose leader has been reaped, that still run (see
    /// [`members_ended`]): none if the group has no member at all (a signal 0 says so), else
    /// those `/proc` lists, read once; later looks read only theirs (no member joins a group
    /// whose leader is gone and whose members were killed). Members whose state cannot be
    /// read count as ended: they were sent SIGKILL, and there is nothing to wait on.
    fn members_left(pgid: Pid) -> Vec<i32> {
        if rustix::process::test_kill_process_group(pgid).is_err() {
            return Vec::new();
        }
        running_members(pgid).map_or_else(Vec::new, Iterator::collect)
    }

    /// Whether `member` runs in the group `pgid` (see [`members_running`]).
    fn still_running(member: i32, pgid: Pid) -> bool {
        let leader = pgid.as_raw_pid();
        if member == leader {
            return false;
        }
        let dir = std::path::PathBuf::from(format!("/proc/{member}"));
        // Gone: not running.
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            return false;
        };
        running_in(&stat, leader) || zombie_in(&stat, leader) && threads_left(&dir)
    }

    /// Whether a process other than the leader `pgid` is running in the group `pgid`, as
    /// `/proc` says; `None` if `/proc` cannot be read.
    fn members_running(pgid: Pid) -> Option<bool> {
        running_members(pgid).map(|mut members| members.next().is_some())
    }

    /// The processes other than the leader `pgid` running in the group `pgid`, as `/proc`
    /// lists them (read as the iterator goes); `None` if `/proc` cannot be read.
    fn running_members(pgid: Pid) -> Option<impl Iterator<Item = i32>> {
        let entries = std::fs::read_dir("/proc").ok()?;
        Some(
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
                .filter(move |&member| still_running(member, pgid)),
        )
    }

    /// A `/proc/<pid>/stat` line's state and group: after the command's name in parentheses
    /// come the state, the parent's pid and the group's id.
    fn state_and_group(stat: &str) -> Option<(&str, i32)> {
        let (_, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_ascii_whitespace();
        let state = fields.next()?;
        let group = fields.nth(1)?.parse::<i32>().ok()?;
        Some((state, group))
    }

    /// Whether a `/proc/<pid>/stat` line is of a zombie in group `pgid`: a process whose
    /// main thread has exited, which may still have threads running.
    fn zombie_in(stat: &str, pgid: i32) -> bool {
        state_and_group(stat) == Some(("Z", pgid))
    }

    /// Whether the process at `/proc/<pid>` has a thread left besides its exited main one (its
    /// `task` directory lists both; a process that has wholly exited lists one).
    fn threads_left(proc_dir: &std::path::Path) -> bool {
        std::fs::read_dir(proc_dir.join("task")).is_ok_and(|tasks| tasks.count() > 1)
    }

    /// Whether a `/proc/<pid>/stat` line is of a live (not zombie or dead) process in group
    /// `pgid`.
    fn running_in(stat: &str, pgid: i32) -> bool {
        state_and_group(stat)
            .is_some_and(|(state, group)| group == pgid && !matches!(state, "Z" | "X" | "x"))
    }

    #[cfg(test)]
    mod tests {
        use super::{running_in, threads_left, zombie_in};

        #[test]
        fn a_stat_line_is_read_past_a_name_with_spaces_and_parentheses() {
            let line = "4242 (a (b) c) S 1 77 77 0 -1 4194304 100";
            assert!(running_in(line, 77));
            assert!(!running_in(line, 78));
            assert!(!running_in("4242 (sleep) Z 1 77 77 0", 77), "a zombie");
            assert!(!running_in("garbage", 77));
            assert!(zombie_in("4242 (a (b) Z) Z 1 77 77 0", 77));
            assert!(!zombie_in("4242 (a) S 1 77 77 0", 77));
            assert!(!zombie_in("4242 (a) Z 1 78 78 0", 77));
        }

        // A process whose main thread has exited shows `Z` while its other threads run (an
        // outside tester's report, probe102: such a member was read as ended, and was never
        // sent SIGKILL): its `task` directory lists them. This process has several threads
        // (the test harness's), a process with one lists one.
        #[test]
        fn the_threads_of_a_process_are_counted_from_its_task_directory() {
            let me = std::path::Path::new("/proc/self");
            let _other =
                std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(1)));
            assert!(threads_left(me));
            assert!(!threads_left(std::path::Path::new("/proc/no-such-process")));
        }
    }
}
