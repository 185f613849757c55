//! `scope`: structured concurrency for async Rust on tokio, as a small DSL.
//!
//! Every child task is bound to the scope that spawned it: the scope does not finish until
//! every child has finished, a child's handle cannot outlive the scope (the compiler says so),
//! cancellation flows down a tree with a typed [`Cause`], errors flow up, and request-scoped
//! values travel in typed [`Slot`]s.
//!
//! # A tour
//!
//! ```
//! use std::time::Duration;
//! use scope::{scoped, slot, spawn, spawn_in_place, Interrupted};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum AppError {
//!     #[error("fetch failed: {0}")]
//!     Fetch(String),
//!     #[error(transparent)]
//!     Interrupted(#[from] Interrupted),
//! }
//!
//! async fn fetch(url: String) -> Result<usize, AppError> {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//!     Ok(url.len())
//! }
//!
//! slot!(static TENANT: String);
//!
//! // The body runs as a scope: `spawn!` starts parallel children on the runtime,
//! // `spawn_in_place!` children that may borrow `urls`; all are joined before it returns.
//! // The first failure cancels the rest and is the error returned (fail-fast).
//! #[scoped(limit = 8, timeout = Duration::from_secs(2), slots(TENANT = "acme".to_owned()))]
//! async fn fetch_all(urls: &[String]) -> Result<usize, AppError> {
//!     let handles: Vec<_> = urls.iter().map(|u| spawn!(fetch(u.clone()))).collect();
//!     let count = spawn_in_place!(async { Ok(urls.len()) });
//!     let mut total = 0;
//!     for h in handles {
//!         total += h.await?;
//!     }
//!     assert_eq!(TENANT.get().as_deref(), Some("acme"));
//!     Ok(total + count.await?)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let urls = vec!["a".to_owned(), "bb".to_owned()];
//! assert_eq!(fetch_all(&urls).await.unwrap(), 5);
//! # }
//! ```
//!
//! The same without macros, with the runtime API the macros expand to:
//!
//! ```
//! use scope::{Config, Interrupted, Scope};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Interrupted> {
//! let s = &Scope::new(Config::new().name("sum"));
//! let sum = s
//!     .run(async {
//!         let a = s.spawn(async { Ok::<_, Interrupted>(1) });
//!         let b = s.spawn(async { Ok(2) });
//!         Ok::<_, Interrupted>(a.await? + b.await?)
//!     })
//!     .await?;
//! assert_eq!(sum, 3);
//! # Ok(()) }
//! ```
//!
//! Escapes do not compile; for example, a child handle cannot leave its scope:
//!
//! ```compile_fail
//! use scope::{scoped, spawn, Interrupted};
//! #[scoped]
//! async fn leak() -> Result<scope::Child<'static, u8>, Interrupted> {
//!     Ok(spawn!(async { Ok(1) }))
//! }
//! ```
//!
//! # Shutdown
//!
//! `#[scope::main]` runs the program as an [`App`]: the body of `main` is its main work, and
//! every [`Service`] made under the application's context (in the body, or in its scopes and
//! their children at any depth; not in a task another library spawns, see below) belongs to
//! it. The first signal (SIGINT and SIGTERM by default; `signals = [interrupt, terminate,
//! hangup]` to choose; only Ctrl-C where there are no Unix signals) starts a shutdown in three
//! phases:
//!
//! 1. **Stop accepting** (at once): the application's context is cancelled with
//!    [`Cause::Shutdown`]. The body and everything under it see it; servers given
//!    [`shutdown_signal()`] stop accepting. Services are not cancelled yet: work in flight may
//!    still hand them records.
//! 2. **Drain** (budget: `grace`, 10 s by default, from the signal): the body returns (it has
//!    the last word: a value returned after the cancel is a graceful stop) and its children
//!    end; then each service, last made first, stops accepting and finishes its accepted work
//!    within what is left of the grace (make a service that others hand work to before them:
//!    it drains after them, and takes their last hand-overs). A
//!    [daemon](ServiceConfig::daemon) service's tasks are cancelled in its turn, and each has
//!    the service's own grace to end, within what is left of the program's.
//! 3. **Stop** (budget: each service's own grace): services with work left are cancelled,
//!    given their grace (and their [`shield_for`] budgets), then aborted. A body still running
//!    at the end of the grace has normally been dropped by its scope by then (its scope's grace
//!    is the same); one held up by a [`shield_for`] runs on while the services are stopped,
//!    and is dropped when the shutdown returns.
//!
//! The program can ask for the same shutdown itself (an admin endpoint, a fatal condition):
//! [`App::request_shutdown`] starts the phases as a signal would, as [`Signal::Requested`]
//! (exit code 1 if the grace runs out or a service is cut short, 0 if it is graceful; a
//! second OS signal still ends it at once, with 128 + that signal).
//!
//! [`App::current()`] finds the application through the ambient context: in `main`'s body, in
//! the scopes and children under it, and in a future run with [`Cx::run`] under a context
//! captured there. A task spawned with `tokio::spawn` runs outside it, as a `task_local!`
//! value does not cross `tokio::spawn`. axum, hyper and tonic serve each connection from a
//! task of their own, so in a handler `App::current()` is `None`, and a `Service` made there
//! does not belong to the application. Capture what a handler needs in `main` and put it in
//! the handler's state: the [`App`] itself (`App::current()` in `main`; it is `Clone`), a
//! service made in `main`, `main`'s context from [`Cx::current`]. `examples/http_service.rs`
//! does so for its audit service and `main`'s context.
//!
//! A second signal ends the shutdown at once. What each phase did (what drained, what was
//! stopped or aborted, by name, and the services' unread failures) is printed to stderr as a
//! [`ShutdownReport`], one `shutdown:` line per fact. Its first line is printed as the
//! shutdown begins (`shutdown: SIGTERM after 2.5s: stopped accepting work; draining`; for a
//! signal that comes while the services drain after `main` returned, its two first lines), so
//! a slow shutdown, or one killed from outside before its end, says that it began; the rest
//! comes at the end.
//!
//! When `main` returns without a signal, the application still drains its services (within
//! `grace`, counted from the return) and stops the ones with work left (each within its own
//! grace) before the process exits: a service still busy holds the exit up for as long as
//! that takes. With no signal the exit code is still what `main` returned gives (0 for `Ok`, 1 for an
//! `Err`), and the report is printed if a service
//! had to be stopped (or left failures unread).
//!
//! The exit code:
//!
//! | how the program ends | exit code |
//! |---|---|
//! | `main` returns `Ok`, no signal | 0, once the services have drained or been stopped |
//! | `main` returns `Err`, no signal | 1, with `error: ` and the error on one line (`Display`, then its `source()` chain joined with `": "`) |
//! | a signal; `main` returns `Ok` within the grace and every service drains | 0 |
//! | a signal; a service had work left after the grace (stopped or aborted), or a daemon's task did not end within its service's grace after the shutdown's cancel | 128 + the signal |
//! | a signal; every service drained, but a service task failed or panicked on its own (its error or panic, not the shutdown, ended it) | as without the failure: 0 if `main` returned `Ok`; the failure is printed as a `shutdown: failed: ..` line and logged as the task's error when it happens (`task failed`, or `task panicked`), and again at the service's end, which ends failed (or panicked: `scope failed` at `WARN`, or `scope panicked` at `ERROR`, in the service's span) as a scope with that failure does; [`ShutdownReport::failures`] lists it ([`ShutdownReport::is_clean`] says only whether the shutdown cut work short) |
//! | `main` returned; a first signal comes while the services drain | as without it: 0 (the report says `while draining`), or 1 if `main` returned an error |
//! | a signal; `main` returns the shutdown's interruption (`?`), or any error after the signal (the scope cannot tell the two apart: an error after its cancel is the cancel's consequence; stderr still gives the error's own line) | 128 + the signal |
//! | a signal; `main` still runs when the grace runs out | 128 + the signal |
//! | a signal after `main`'s body returned `Ok`, and it stops a child the body left to the run short (aborted at the grace's end, never started, or ending with an error) | 128 + the signal (the body's value answered no signal) |
//! | a second signal | 128 + the second signal, at once |
//! | a signal; `main` returns another error (a failure from before the signal) | 1 |
//! | a signal; a child of `main`'s scope panics (in its clean-up, say), and `main`'s body then returns (`Ok` or not) | 1, with the panic's line: a panic is never the cancel's consequence, so it is `main`'s result, as without the signal (if the grace runs out first, with `main` still running: 128 + the signal, as that row says) |
//! | the runtime cannot answer (the main task blocks its thread, every worker is stuck), and a second signal comes or the shutdown's bound passes (the grace, then the longest service grace and [`ABORT_WAIT`]) | 128 + that signal (for a shutdown the program began: 1 for a request, or the code of the signal its cancel names), with `shutdown: forced exit: ...`: 1 s after a second signal, or 1 s after the bound |
//! | `main` panics | 101, as any Rust program, without waiting for what is left on the runtime (the services' accepted work included). A panic in the body of a `#[scoped]` fn or a `scope!` that `main`'s body awaits is `main`'s panic too (a body's panic unwinds through its scope); a panic of a child (spawned or in place) is an error of its scope (exit 1 when it is `main`'s result) |
//! | an `on_cancel` callback panics as the shutdown cancels a service's task (its context) | 101 once the shutdown is done, as for `main`'s panic; the shutdown's report is printed first |
//! | any panic, in a program built with `panic = "abort"` | 134 (SIGABRT) at once, wherever the panic is: see "Panics" below |
//!
//! 128 + the signal is 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP
//! ([`Signal::exit_code`]). A graceful stop exits 0, so systemd and Kubernetes do not read it
//! as a crash; returning the interruption with `?` means the program did not finish its work,
//! so it exits as a program stopped by the signal does.
//!
//! ```no_run
//! use std::time::Duration;
//! use scope::{Interrupted, Service, ServiceConfig};
//!
//! #[scope::main(grace = 20s, signals = [interrupt, terminate])]
//! async fn main() -> Result<(), Interrupted> {
//!     // Owned by the application: drained in phase 2, stopped in phase 3.
//!     let audit = Service::new(ServiceConfig::new("audit").workers(4).capacity(1_000));
//!     let cause = scope::cancelled().await; // phase 1
//!     audit.spawn_named("last record", async { /* write it */ }).unwrap().detach();
//!     println!("stopping: {cause}");
//!     Ok(()) // a graceful stop: exit 0 once `audit` has drained
//! }
//! ```
//!
//! The same shutdown without the macro, with a stream of signals (here, on the paused clock):
//!
//! ```
//! use std::time::Duration;
//! use scope::{App, Service, ServiceConfig, Signal};
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let app = App::new();
//! let signals = futures_util::stream::iter([Signal::Terminate]);
//! let (out, report) = app
//!     .run(Duration::from_secs(10), signals, async {
//!         let audit = Service::new(ServiceConfig::new("audit"));
//!         scope::cancelled().await;
//!         audit.spawn(tokio::time::sleep(Duration::from_millis(50))).unwrap().detach();
//!         "stopped"
//!     })
//!     .await;
//! assert_eq!(out, Some("stopped"));
//! assert!(report.is_clean());
//! assert_eq!(report.drained()[0].name(), Some("audit"));
//! # }
//! ```
//!
//! **Bridges** to the tasks other libraries spawn, where the ambient context is not yours:
//! [`shutdown_signal()`] (and [`Cx::shutdown_signal`]) is a `Send + 'static` future of `()`
//! for axum's `with_graceful_shutdown` or tonic's `serve_with_shutdown`; [`Cx::run`] runs a
//! future under a captured context (its slots, its cancellation, [`Cx::current`]);
//! [`Cx::run_until_cancelled`] (and [`run_until_cancelled`], for the ambient context) also
//! ends the future with the cancellation, for `?`.
//!
//! ```
//! use scope::{Cx, Interrupted};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Cx::root();
//! // What a server runs in its own task: resolves when `app` is cancelled.
//! let server = tokio::spawn(app.shutdown_signal());
//! // Work in someone else's task, under the captured context, ended by its cancellation.
//! let worker = tokio::spawn(app.clone().run_until_cancelled(std::future::pending::<()>()));
//! app.cancel("SIGTERM");
//! server.await.unwrap();
//! assert!(matches!(worker.await.unwrap(), Err(Interrupted::Cancelled(_))));
//! # }
//! ```
//!
//! `examples/http_service.rs` puts it together with axum: a scope per request (deadline,
//! request id, fan-out), an audit service, and a graceful stop on SIGTERM.
//!
//! # Panics
//!
//! A panic in a child (spawned or in place), in a destructor the scope runs, or in an
//! `on_cancel` callback the scope's own cancel runs is caught and becomes the scope's
//! [`Panicked`] error, which keeps the payload for `resume_unwind` (unless it comes after the
//! failure a fail-fast scope already keeps: that failure is the result); a [`Supervisor`]
//! restarts an incarnation that panicked (one that is not
//! [`Restart::Temporary`], whose panic is reported and not
//! restarted); the rest of the program runs on. A panic of the
//! body itself, and of a callback run by a [`Cx::cancel`] the code calls, unwinds in that
//! code (see [`Scope::run`] and [`Cx::cancel`]). That is with the default
//! `panic = "unwind"`. A program built with
//! `panic = "abort"` (in its `[profile.*]`) has no unwinding to catch: any panic, a child's
//! included, ends the process at once with SIGABRT (exit 134 on Unix), without the scope's
//! cancel, grace or report, and a supervisor cannot restart after one. Everything else
//! (cancellation, deadlines, errors, the joins) is the same under both.
//!
//! # Cancel safety
//!
//! What a future of this crate loses when it is dropped before it resolves (the losing branch
//! of a `select!`, a `timeout` around it):
//!
//! - Nothing: awaiting a [`Child`] handle (or `&mut` one: the outcome waits for the next
//!   await), [`ChildSet::join_next`], a [`ServiceHandle`], the cancel waits
//!   ([`scope::cancelled`](cancelled), [`Cx::cancelled`], [`Cx::cancelled_owned`],
//!   [`shutdown_signal`]).
//! - Its place in the line: [`Scope::reserve`] (keep one across the turns of a loop).
//! - The future it wraps, dropped with it: [`spawn_when_free`](Scope::spawn_when_free) and
//!   `spawn_in_place_when_free` (the child never starts), [`run_until_cancelled`],
//!   [`shield_for`], [`Cx::run`], [`Retry::run`] (the attempt under way).
//! - A scope, dropped as its docs say ([`Run`]: in-place children go with it, spawned ones get
//!   what is left of its grace and are then aborted; nothing outlives the scope above it, and
//!   a panic it held goes there): the future of a `#[scoped]` fn or a `scope!`, [`Run`],
//!   [`RaceRun`], [`map`], [`for_each`], [`map_stream`], [`Supervisor::run`].
//! - Its report: [`Service::stop`] (the next stop's report says what it did),
//!   [`Service::drain`] (the service stays closed), [`App::run`].
//! - A subprocess's wait: `process::Running::wait` and `stop` leave the process to its
//!   `Running`, whose drop kills it; a later `stop` does not restart the grace.
//!
//! # Where to read on
//!
//! - The contexts: [`Cx`] (cancel with a cause, deadlines, `shield`, `detach`, `on_cancel`,
//!   `merge`, the ambient context).
//! - Scopes and children: [`Scope`], [`Child`], [`Race`], [`Config`]; in the macros,
//!   [`spawn!`], [`spawn_in_place!`], [`try_spawn!`], [`try_spawn_in_place!`], and the scope's
//!   handle named with `scope!(|s| ..)` or `#[scoped(handle = s)]`.
//! - Blocking work the scope waits for: [`Scope::spawn_blocking`]; children stopped when the
//!   body returns: [`Scope::spawn_background`].
//! - Work over many items, at most a limit at a time: [`map`], [`for_each`], [`map_stream`]
//!   (with [`Map::limit`]: there is no limit by default); children as they complete:
//!   [`ChildSet`].
//! - The patterns: [`Supervisor`] (restart with backoff and intensity), [`Retry`] (a
//!   deadline-aware backoff), `process` (scoped subprocesses, Unix, with the default feature
//!   `process`); with the `tokio-util` feature, `Cx::to_token` and `Cx::from_token` bridge to
//!   tokio-util's `CancellationToken`.
//! - Errors: [`Interrupted`] and the types inside it; [`Failures`].
//! - Detached work: [`Service`]; the application and its shutdown: [`App`].
//! - Required slots checked by the compiler: a `cx: Needs![REQUEST_ID]` parameter on a
//!   `#[scoped]` fn, `provided!()` at the call ([`Provided`], `examples/request_flow.rs`).
//! - Tests: [`testing::LeakCheck`] and `#[scope::test]`.
//! - Seeing the tree: [`observe`]: the live task-tree snapshot, and the `tracing`, `metrics` and
//!   `serde` features (spans that follow the work, metrics for any exporter, the tree as JSON);
//!   `examples/admin.rs` serves them on an admin page.
//! - The macros and their expansions: `docs/macros.md`; the decisions behind the design:
//!   `docs/decisions.md`.
#![doc(html_no_source)]

/// Runs an `async fn`'s body as a scope: every child it spawns is joined before the fn
/// returns, and the fn returns the scope's result.
///
/// On an `impl` block or an inline `mod`, it does so for every async fn inside; on a trait,
/// for its async methods that have a default body. The fns a macro call in such a block
/// writes are not seen (the call expands later): put `#[scoped]` on them in the macro.
///
/// Options: `name`, `policy` (`fail_fast`, `supervise`, `first_ok`), `limit`, `timeout`,
/// `deadline`, `grace`, `shutdown_grace` (the grace when the application's shutdown cancels
/// the scope: [`Config::shutdown_grace`]), `local` (a scope whose in-place children need not
/// be `Send`: see [`spawn_in_place!`]), `slots(..)`, `handle` (a name for the
/// scope's handle in the
/// body) and `crate`. The repository's `docs/macros.md` shows each expansion.
///
/// The policy decides what a failure does and what the fn returns:
///
/// - `fail_fast` (the default): the first failure cancels the other children and is the fn's
///   error. The fn returns `Result<T, E>`, where `E` converts from [`Interrupted`]
///   ([`ScopeError`]), and `T` is the body's value.
/// - `supervise`: every child runs to its end (a failure does not cancel its siblings; a
///   panic, or the body's own error, still does), and the fn returns `Result<T, Failures<E>>`:
///   the body's value, or every failure, first to last (errors kept up to 256 failures and the
///   rest counted, every panic kept: [`Scope::run_all`]). So `child.await?`, errgroup's habit,
///   is not what it wants: the `?` makes a failed child's error the body's own, which cancels
///   the siblings and is listed beside the child's. Match the handle's outcome instead, or
///   leave it unread (its failure is in the result all the same).
/// - `first_ok`: the children are candidates, and the first to succeed wins; the others are
///   cancelled ([`Race`]). The fn returns `Result<T, Failures<E>>`, where `T` is the winner's
///   value, or every candidate's failure if none succeeds. The body only starts the candidates:
///   it ends with `Ok(())` (or `()`), never with the winner's value.
///
/// A cancelled scope (a failure under `fail_fast`, its deadline, a cancel from outside) gives
/// its children its `grace` to end on their own, then aborts them. The grace is zero by default
/// ([`DEFAULT_GRACE`]), so a child that awaits [`cancelled`] to clean up may be aborted before
/// its clean-up runs: give the scope `grace = ..` when clean-up matters.
///
/// # Examples
///
/// ```
/// use scope::{scoped, spawn, Interrupted};
///
/// #[scoped(limit = 2, timeout = 1s)]
/// async fn squares(n: u64) -> Result<u64, Interrupted> {
///     let handles: Vec<_> = (1..=n).map(|i| spawn!(async move { Ok(i * i) })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await?;
///     }
///     Ok(sum)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(squares(3).await.unwrap(), 14);
/// # }
/// ```
///
/// `policy = supervise`: the failures do not stop the other checks, and all of them are
/// returned:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use scope::{scoped, spawn, Failures};
///
/// type E = Box<dyn std::error::Error + Send + Sync>;
///
/// #[scoped(policy = supervise)]
/// async fn check_all(hosts: Vec<&'static str>, up: Arc<AtomicUsize>) -> Result<(), Failures<E>> {
///     for host in hosts {
///         let up = Arc::clone(&up);
///         spawn!(async move {
///             if host.starts_with("down") {
///                 return Err::<(), E>(format!("{host} did not answer").into());
///             }
///             up.fetch_add(1, Ordering::Relaxed);
///             Ok(())
///         });
///     }
///     Ok(())
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let up = Arc::new(AtomicUsize::new(0));
/// let failures = check_all(vec!["down-a", "b", "down-c", "d"], Arc::clone(&up))
///     .await
///     .unwrap_err();
/// assert_eq!(failures.len(), 2);
/// assert_eq!(up.load(Ordering::Relaxed), 2); // the others ran to their end
/// # }
/// ```
///
/// `policy = first_ok`: the first mirror to answer with a value wins; the broken one's failure
/// does not end the race, and the slow one is cancelled:
///
/// ```
/// use std::time::Duration;
/// use scope::{scoped, spawn, Failures};
///
/// type E = Box<dyn std::error::Error + Send + Sync>;
///
/// async fn fetch(mirror: &'static str, ms: u64) -> Result<&'static str, E> {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
///     if mirror == "broken" {
///         return Err("broken mirror".into());
///     }
///     Ok(mirror)
/// }
///
/// #[scoped(policy = first_ok)]
/// async fn fastest() -> Result<&'static str, Failures<E>> {
///     spawn!(fetch("broken", 1));
///     spawn!(fetch("slow", 50));
///     spawn!(fetch("fast", 10));
///     Ok(()) // the fn's value is the winner's
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(fastest().await.unwrap(), "fast");
/// # }
/// ```
///
/// A fn that spawns itself (a recursive fan-out, a tree walk) cannot be an `async fn`: rustc
/// cannot prove a future `Send` whose type holds itself ("cannot satisfy `impl Future: Send`",
/// or "future cannot be sent between threads safely" at the `spawn!`), as with
/// `tokio::spawn`. Write it as a fn that returns a boxed future; `#[scoped]` scopes it as it
/// does an `async fn`:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use scope::{scoped, spawn, Interrupted};
///
/// type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, Interrupted>> + Send>>;
///
/// #[scoped]
/// fn leaves(depth: u32) -> Boxed<u64> {
///     Box::pin(async move {
///         if depth == 0 {
///             return Ok(1);
///         }
///         let left = spawn!(leaves(depth - 1));
///         let right = spawn!(leaves(depth - 1));
///         Ok(left.await? + right.await?)
///     })
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(leaves(5).await.unwrap(), 32);
/// # }
/// ```
pub use scope_macros::scoped;

/// A scope in expression position: `scope!(OPTIONS, { BODY })` is a future of the scope's
/// result (the body's value, or the failure that ended the scope), which resolves once every
/// child the body spawned has finished.
///
/// It takes the options of [`#[scoped]`](macro@scoped) but `handle`, and `error = E`, the
/// scope's error type; `|s|` before the body names the scope's handle.
///
/// # Examples
///
/// ```
/// use scope::{scope, spawn_in_place, Interrupted};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Interrupted> {
/// let words = vec!["structured", "concurrency"];
/// let longest = scope!(name = "longest", {
///     let child = spawn_in_place!(async { Ok(words.iter().map(|w| w.len()).max()) });
///     child.await
/// })
/// .await?;
/// assert_eq!(longest, Some(11));
/// # Ok(()) }
/// ```
///
/// The header can state the scope's error type (`error = E`), so the body's `Ok(..)` needs no
/// turbofish, and name the scope's handle (`|s|`) to cancel it, ask whether it is closed, or
/// reach its context:
///
/// ```
/// use scope::{scope, spawn, Interrupted};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Interrupted> {
/// let sum = scope!(error = Interrupted, |s| {
///     let a = spawn!(async { Ok(1) });
///     let b = spawn!(async { Ok(2) });
///     assert!(!s.is_closed());
///     assert!(!s.cx().is_cancelled());
///     Ok(a.await? + b.await?)
/// })
/// .await?;
/// assert_eq!(sum, 3);
///
/// // Cancelling through the handle cancels every child; a body that then returns on its own
/// // (within the grace) has the last word. (When the grace ends, the children still running
/// // are aborted, and the body gets one last poll: there, an aborted child's handle reads
/// // the interruption, and a body still waiting is dropped: the scope returns the cancel.)
/// let out = scope!(error = Interrupted, grace = 1s, |s| {
///     let (started, has_started) = tokio::sync::oneshot::channel();
///     let slow = spawn!(async move {
///         let _ = started.send(());
///         scope::cancelled().await; // answers the cancel
///     });
///     // A child cancelled before its first poll never starts (its handle reads `NotStarted`):
///     // wait until `slow` runs (a `yield_now` is not enough on a multi-thread runtime).
///     let _ = has_started.await;
///     s.cancel("not needed");
///     assert!(slow.await.is_ok());
///     Ok("stopped early")
/// })
/// .await;
/// assert_eq!(out?, "stopped early");
/// # Ok(()) }
/// ```
///
/// The body is an async block: `return` and `?` in it end the body (they give the scope's
/// value), not the fn around the `scope!`, and a `break` or `continue` cannot reach a loop
/// outside it (a compile error at the jump). Return a value that says what to do, and jump
/// after the `.await`:
///
/// ```
/// use scope::{scope, spawn, Interrupted};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Interrupted> {
/// let mut first_even = None;
/// for x in [3, 5, 8, 9] {
///     let even = scope!(error = Interrupted, {
///         let check = spawn!(async move { Ok(x % 2 == 0) });
///         check.await
///     })
///     .await?;
///     if even {
///         first_even = Some(x);
///         break;
///     }
/// }
/// assert_eq!(first_even, Some(8));
/// # Ok(()) }
/// ```
///
pub use scope_macros::scope;

/// Starts a child of the enclosing scope on the tokio runtime, in parallel with the body, and
/// returns its [`Child`] handle.
///
/// The handle awaits to the child's value. The future must be `Send + 'static`;
/// `spawn!(name = "..", future)` names the child. When its scope is cancelled, the child has
/// the scope's grace to end on its own before it is aborted: zero unless the scope sets
/// `grace = ..` (see [`#[scoped]`](macro@scoped)).
///
/// # Examples
///
/// ```
/// use scope::{scoped, spawn, Interrupted};
///
/// #[scoped]
/// async fn fetch_both() -> Result<(u8, u8), Interrupted> {
///     let a = spawn!(async { Ok(1) });
///     let b = spawn!(name = "second", async { Ok(2) });
///     Ok((a.await?, b.await?))
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(fetch_both().await.unwrap(), (1, 2));
/// # }
/// ```
///
/// Outside any scope it does not compile:
///
/// ```compile_fail
/// async fn orphan() {
///     let _ = scope::spawn!(async {});
/// }
/// ```
///
pub use scope_macros::spawn;

/// Starts a child of the enclosing scope that the scope's own future polls in place, and
/// returns its [`Child`] handle.
///
/// The child may borrow from outside the scope, since it never leaves the scope's task. It
/// must still be `Send` (the scope's future, which holds it, stays `Send`) unless the scope
/// is `local` (`#[scoped(local)]`, `scope!(local, ..)`): in a local scope an in-place child may
/// hold an `Rc` or a `RefCell` borrow across an await, and the scope's future is not `Send`
/// (run it on a current-thread runtime, in a `LocalSet`, or `.await` it in code that is not
/// `Send` itself).
///
/// # Examples
///
/// ```
/// use scope::{scoped, spawn_in_place, Interrupted};
///
/// #[scoped]
/// async fn total(prices: &[u32]) -> Result<u32, Interrupted> {
///     // Borrows `prices` from the caller: not possible with `spawn!`.
///     let sum = spawn_in_place!(async { Ok(prices.iter().sum::<u32>()) });
///     Ok(sum.await?)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(total(&[1, 2, 3]).await.unwrap(), 6);
/// # }
/// ```
///
pub use scope_macros::spawn_in_place;

/// [`spawn!`] that refuses instead of waiting: `Err(SpawnError::Full)` when the scope is at
/// its `limit`, `Err(SpawnError::Closed)` once it has begun to finish; otherwise the child's
/// handle. A refused future is dropped: where it holds something to answer with (a
/// connection to tell "busy"), ask a [`Scope`] value for a slot first
/// ([`Scope::try_reserve`]), which leaves the future in your hands.
///
/// # Examples
///
/// ```
/// use scope::{scoped, try_spawn, Interrupted, SpawnError};
///
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("busy")]
///     Busy,
///     #[error(transparent)]
///     Interrupted(#[from] Interrupted),
/// }
///
/// #[scoped(limit = 1)]
/// async fn one_at_a_time() -> Result<u8, AppError> {
///     let first = try_spawn!(async { Ok(1) }).map_err(|_| AppError::Busy)?;
///     let second = try_spawn!(async { Ok(2) });
///     assert_eq!(second.err(), Some(SpawnError::Full));
///     Ok(first.await?)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(one_at_a_time().await.unwrap(), 1);
/// # }
/// ```
///
pub use scope_macros::try_spawn;

/// [`spawn_in_place!`] that refuses instead of waiting (see [`try_spawn!`]).
///
/// # Examples
///
/// ```
/// use scope::{scoped, try_spawn_in_place, Interrupted, SpawnError};
///
/// // `handle = s` names the scope's handle in the body.
/// #[scoped(handle = s)]
/// async fn closed_after_cancel(input: &[u8]) -> Result<usize, Interrupted> {
///     let len = try_spawn_in_place!(async { Ok(input.len()) }).expect("open");
///     let n = len.await?;
///     s.cancel("done");
///     assert!(s.is_closed());
///     let late = try_spawn_in_place!(async { Ok(0) });
///     assert_eq!(late.err(), Some(SpawnError::Closed));
///     Ok(n)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // The body returned on its own after the cancel: its value is the scope's result.
/// assert_eq!(closed_after_cancel(b"abc").await.unwrap(), 3);
/// # }
/// ```
///
pub use scope_macros::try_spawn_in_place;

/// Waits for a free slot of the enclosing scope's [limit](Config::limit), then starts the
/// child on the runtime (errgroup's blocking `Go`): a future of the child's handle, or of
/// [`Interrupted::NotStarted`] if the scope closes first.
///
/// A loop that spawns this way holds at most as many children as the limit, however many
/// items it goes through. It takes no name. See [`Scope::spawn_when_free`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use scope::{scoped, spawn_when_free, Interrupted};
///
/// #[scoped(limit = 16)]
/// async fn process(items: Vec<u64>, total: Arc<AtomicU64>) -> Result<(), Interrupted> {
///     for item in items {
///         let total = total.clone();
///         // Waits while 16 children run; ends the loop (with `?`) if the scope fails.
///         spawn_when_free!(async move {
///             total.fetch_add(item, Ordering::Relaxed);
///             Ok(())
///         })
///         .await?;
///     }
///     Ok(()) // every child has finished once the scope returns
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let total = Arc::new(AtomicU64::new(0));
/// process((1..=100).collect(), total.clone()).await.unwrap();
/// assert_eq!(total.load(Ordering::Relaxed), 5050);
/// # }
/// ```
///
pub use scope_macros::spawn_when_free;

/// [`spawn_when_free!`] for an in-place child (which may borrow from outside the scope).
///
/// See [`Scope::spawn_in_place_when_free`].
///
/// # Examples
///
/// ```
/// use scope::{scoped, spawn_in_place_when_free, Interrupted};
///
/// #[scoped(limit = 2)]
/// async fn lengths(words: &[String]) -> Result<usize, Interrupted> {
///     let mut handles = Vec::new();
///     for w in words {
///         handles.push(spawn_in_place_when_free!(async move { Ok(w.len()) }).await?);
///     }
///     let mut total = 0;
///     for h in handles {
///         total += h.await?;
///     }
///     Ok(total)
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let words = vec!["a".to_owned(), "bb".to_owned()];
/// assert_eq!(lengths(&words).await.unwrap(), 3);
/// # }
/// ```
///
pub use scope_macros::spawn_in_place_when_free;

/// Declares a typed slot: a `static` [`Slot`] for a request-scoped value, which a scope binds
/// (`slots(USER = ..)`) and every task under it reads (`USER.get()`).
///
/// # Examples
///
/// ```
/// use scope::{scoped, slot, Interrupted};
///
/// slot!(
///     /// Who is asking.
///     pub static USER: String
/// );
///
/// #[scoped(slots(USER = "ada".to_owned()))]
/// async fn greet() -> Result<String, Interrupted> {
///     Ok(format!("hello, {}", USER.get().unwrap_or_default()))
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(greet().await.unwrap(), "hello, ada");
/// assert_eq!(USER.get(), None);
/// # }
/// ```
///
pub use scope_macros::slot;

/// The program's entry point: builds a tokio runtime and runs `main`'s body as the root scope
/// of an [`App`], whose first signal starts a graceful shutdown.
///
/// Options: `name`, `limit`, `timeout`, `grace` and `slots(..)`, as for a scope, and `crate`;
/// not a scope's `policy` (the program's scope is fail-fast; open a `scope!` with another
/// policy inside it), `deadline` or `local`, nor `handle` or `error`. Then `flavor`,
/// `worker_threads`, and `signals = [interrupt, terminate, hangup]` (which signals start the
/// shutdown; SIGINT and SIGTERM by default). `grace` (10 s by default) is the drain budget
/// after the first signal, for the program and its main scope ([`Config::shutdown_grace`]);
/// `main`'s own failure or panic cancels its children with no grace, as any scope's does.
/// `timeout` is the main scope's deadline, which no grace reaches past: a signal shortly before
/// it leaves the drain only the time up to it (the result is still the shutdown's
/// interruption, the first cause).
/// See the crate docs' "Shutdown" for the phases and the exit codes.
///
/// # Examples
///
/// ```no_run
/// use scope::{spawn, Interrupted};
///
/// // A multi-thread runtime, an application with a root scope, and SIGINT/SIGTERM as a
/// // shutdown cause with a 5 s grace: exit 0 if the server stops within it, 143 (SIGTERM) or
/// // 130 (SIGINT) if it had to be forced.
/// #[scope::main(grace = 5s)]
/// async fn main() -> Result<(), Interrupted> {
///     let server = spawn!(async {
///         let cause = scope::cancelled().await;
///         println!("stopping: {cause}");
///     });
///     server.await?;
///     Ok(())
/// }
/// ```
///
pub use scope_macros::main;

/// An async test on a tokio runtime, followed by the no-leak check: the test fails if a task
/// it started is still alive after the body (a task of the runtime, of a scope or of a
/// service: see [`LeakCheck::check`](testing::LeakCheck::check) for what it cannot see, such
/// as a `LocalSet`'s tasks).
///
/// Options: `flavor`, `worker_threads`, `start_paused = true` (it needs tokio's `test-util`
/// feature in your dev-dependencies; a paused clock moves on its own only while the runtime is
/// idle, so not while a [`spawn_blocking`](Scope::spawn_blocking) child runs) and `crate`. The body is not a scope, so `spawn!` in it
/// does not compile: open one with [`scope!`] or call `#[scoped]` fns. Write it
/// `#[scope::test]`: under `use scope::*;`, a bare `#[test]` is ambiguous between this and
/// the built-in attribute (rustc's E0659), as under `use tokio::*;`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// // A tokio test on the paused clock, followed by the no-leak check: a task still alive
/// // when the body returns fails the test.
/// #[scope::test(start_paused = true)]
/// async fn sleeps_without_waiting() {
///     tokio::time::sleep(Duration::from_secs(60)).await;
/// }
/// # fn main() {}
/// ```
///
pub use scope_macros::test;

/// Lets one statement of a scope's body start a task the scope does not own: the opt-out of
/// the orphan-task lint, written on the statement (on an expression of the body, it covers
/// that expression alone; on a `#[scoped]` fn, or a method or fn of a `#[scoped]` `impl`
/// block or module, the whole body). Work that must outlive a request has an
/// owner first: a [`Service`] (made in `main`) takes it with [`Service::spawn`], keeps the
/// request's slots, and drains it at the shutdown. The opt-out is for a task something else
/// owns.
///
/// # Examples
///
/// ```
/// use scope::{scoped, Interrupted};
///
/// #[scoped]
/// async fn start_flusher() -> Result<(), Interrupted> {
///     // The one greppable opt-out of the orphan-task lint: a task the metrics layer owns
///     // (and joins at exit).
///     #[scope::allow_orphan]
///     let _flusher = tokio::spawn(async {});
///     Ok(())
/// }
/// # fn main() {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert!(start_flusher().await.is_ok());
/// # });
/// # }
/// ```
///
pub use scope_macros::allow_orphan;

/// Leaves one item out of the `#[scoped]` `impl` block, trait or `mod` around it: an async fn
/// that is no handler (a helper, a constructor), or a whole inner `impl`, trait or `mod`.
///
/// # Examples
///
/// ```
/// use scope::{scoped, spawn, Interrupted};
///
/// struct Cache;
///
/// #[scoped]
/// impl Cache {
///     // Scoped: a handler, whose children are joined before it returns.
///     async fn refresh(&self) -> Result<u32, Interrupted> {
///         let fetched = spawn!(async { Ok(1) });
///         fetched.await
///     }
///
///     // Left out: a helper that is no handler (it returns a plain value).
///     #[scope::unscoped]
///     async fn len(&self) -> usize {
///         0
///     }
/// }
/// # fn main() {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert_eq!(Cache.refresh().await.unwrap(), 1);
/// assert_eq!(Cache.len().await, 0);
/// # });
/// # }
/// ```
///
pub use scope_macros::unscoped;

/// The proof that the slots a callee requires are bound on this path.
///
/// Pass `provided!()` for the callee's `Needs![..]` parameter, and the compiler checks its
/// slots against those that the enclosing `#[scoped]` fn or `scope!` block binds
/// (`slots(..)`) or requires (`Needs![..]`).
///
/// # Examples
///
/// ```
/// use scope::{provided, scoped, slot, Interrupted, Needs};
///
/// slot!(static TENANT: String);
///
/// #[scoped(slots(TENANT = "acme".to_owned()))]
/// async fn middleware() -> Result<String, Interrupted> {
///     handler(provided!()).await
/// }
///
/// #[scoped]
/// async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
///     Ok(cx.get(&TENANT).clone())
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(middleware().await.unwrap(), "acme");
/// # }
/// ```
///
pub use scope_macros::provided;

/// The type of a `#[scoped]` fn's parameter that requires slots: `cx: Needs![TENANT]`.
///
/// A caller that has not bound them does not compile, and in the body `cx.get(&TENANT)` reads
/// the value without an `Option`. Elsewhere, as in a trait's method declared without a body
/// (whose impls are `#[scoped]`), `Needs![A, B]` is the type it stands for,
/// `Provided<With<A, With<B, Nil>>>`, named through `::scope` (`Needs![crate = path; A, B]`
/// for a facade renamed in `Cargo.toml`; in a `#[scoped]` fn's parameter the fn's own path,
/// `#[scoped(crate = path)]`, is used).
///
/// # Examples
///
/// ```compile_fail
/// use scope::{provided, scoped, slot, Interrupted, Needs};
///
/// slot!(static TENANT: String);
///
/// #[scoped]
/// async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
///     Ok(cx.get(&TENANT).clone())
/// }
///
/// // Nothing binds TENANT here: "a slot required here is not bound on this path" (the callee
/// // requires the slots `With<TENANT, Nil>`; the enclosing scopes bind `Nil`).
/// #[scoped]
/// async fn caller() -> Result<String, Interrupted> {
///     handler(provided!()).await
/// }
/// ```
///
/// See [`provided!`] for the passing version.
///
pub use scope_macros::Needs;
pub use scope_runtime::*;

/// What a scope's error type must do: convert from [`Interrupted`] (a scope can be cancelled,
/// time out, or see a child panic, and returns that as its error), display itself, and be
/// `Send + 'static` (a child's error crosses to the scope from the runtime's workers, and the
/// scope keeps it). The macros check it once, where the error type is written.
///
/// # Examples
///
/// ```
/// use scope::{Interrupted, ScopeError};
///
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("not found")]
///     NotFound,
///     #[error(transparent)]
///     Interrupted(#[from] Interrupted),
/// }
///
/// fn check<E: ScopeError>() {}
/// check::<AppError>();
/// check::<Interrupted>();
/// check::<Box<dyn std::error::Error + Send + Sync>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be this scope's error type: it must implement `From<scope::Interrupted>` and `Display`, and be `Send + 'static`",
    label = "a scope can be cancelled, time out, or see a child panic, and returns that as this error",
    note = "with thiserror: `#[derive(Debug, thiserror::Error)]` (which gives `Display` through its `#[error(..)]` attributes) and a variant `#[error(transparent)] Interrupted(#[from] scope::Interrupted)`; by hand, implement `From<scope::Interrupted> for {Self}` and `Display` (for a type of another crate, wrap it in one of yours); `anyhow::Error`, `Box<dyn Error + Send + Sync>` and `std::io::Error` work as they are",
    note = "a child's error crosses threads to its scope: an error that holds a `Box<dyn Error>` needs `Box<dyn Error + Send + Sync>`, an `Rc` an `Arc`, and one that borrows (`Error<'a>`) must own its data instead"
)]
pub trait ScopeError: From<Interrupted> + std::fmt::Display + Send + 'static {}

impl<E: From<Interrupted> + std::fmt::Display + Send + 'static> ScopeError for E {}

/// What a fail-fast `#[scoped]` fn may return: `Result<T, E>` with `E:` [`ScopeError`]. The
/// macro reads the scope's error type from it before the body, so a child with another error
/// type is reported at its `spawn!`.
///
/// # Examples
///
/// ```
/// use scope::{Interrupted, ScopeResult};
/// fn error_of<R: ScopeResult>() -> std::marker::PhantomData<R::Error> {
///     std::marker::PhantomData
/// }
/// let _: std::marker::PhantomData<Interrupted> = error_of::<Result<u8, Interrupted>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "a `#[scoped]` fn must return `Result<T, E>`, not `{Self}`",
    label = "this is the fn's return type",
    note = "a scope can fail even when its body does not (a child failed or panicked, it was cancelled, a deadline fired): return `Result<T, E>` and end the body with `Ok(value)`"
)]
pub trait ScopeResult {
    /// The scope's error type.
    type Error;
}

impl<T, E: ScopeError> ScopeResult for Result<T, E> {
    type Error = E;
}

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    // The runtime has no entry point under the loom models (tokio's signals are not there).
    #[cfg(not(loom))]
    pub use scope_runtime::entry::{
        main_entry, BodyError, ErrorLine, MainConfig, MainOutcome, ViaBoxedError, ViaDisplay,
        ViaError, DEFAULT_MAIN_GRACE,
    };
    pub use scope_runtime::testing::LeakCheck;
    pub use scope_runtime::{
        Config, Interrupted, Key, KeyOf, Local, Nil, Provided, Race, Scope, Sendable, Signal, Slot,
        With,
    };
    pub use std::boxed::Box;
    pub use std::future::Future;
    pub use std::option::Option;
    pub use std::panic::Location;
    pub use std::result::Result;
    pub use std::time::Duration;
    pub use tokio;

    /// Never called: the value of a `return` that never runs, placed first in a `#[scoped]`
    /// fn's body to say the body's type before the user's own `return`s.
    #[must_use]
    pub fn body_type<T>() -> T {
        unreachable!("a body's type, said by a `return` that never runs")
    }

    /// What the body of a supervised `#[scoped]` fn returns, from the fn's return type
    /// `Result<T, Failures<E>>`: `Result<T, E>` (said for a body that never ends on its own, so
    /// that its `?` has a `Result` to return into).
    #[diagnostic::on_unimplemented(
        message = "a `#[scoped]` fn with `policy = supervise` or `first_ok` must return `Result<T, scope::Failures<E>>`, not `{Self}`",
        label = "this is the fn's return type",
        note = "a supervised scope (or a race whose candidates all failed) returns every failure: write `Result<T, scope::Failures<E>>`"
    )]
    pub trait SupervisedResult {
        /// The body's output.
        type Body;
        /// The scope's error type.
        type Error;
    }

    impl<T, E: crate::ScopeError> SupervisedResult for Result<T, crate::Failures<E>> {
        type Body = Result<T, E>;
        type Error = E;
    }

    /// A scope's error type said in its header (`error = E`), checked there as a fail-fast
    /// fn's return type is (rather than at the scope's `run`).
    pub trait HeaderError {
        /// The error type itself.
        type Error;
    }

    impl<E: crate::ScopeError> HeaderError for E {
        type Error = E;
    }

    /// A scope's name as the macros' `name = ..` takes it: the types `Config::name` takes,
    /// told so when it is given something else (rustc's own message names a missing `From`
    /// for `Cow<'static, str>`).
    #[diagnostic::on_unimplemented(
        message = "a scope's name is a string, not `{Self}`",
        label = "not a `&'static str`, a `String` or a `Cow<'static, str>`",
        note = "quote a fixed name (`name = \"fetch\"`), or format a value into one (`name = format!(\"job-{{}}\", id)`)"
    )]
    pub trait ScopeName {
        /// The name.
        fn into_name(self) -> std::borrow::Cow<'static, str>;
    }

    impl ScopeName for &'static str {
        fn into_name(self) -> std::borrow::Cow<'static, str> {
            std::borrow::Cow::Borrowed(self)
        }
    }

    impl ScopeName for std::string::String {
        fn into_name(self) -> std::borrow::Cow<'static, str> {
            std::borrow::Cow::Owned(self)
        }
    }

    impl ScopeName for std::borrow::Cow<'static, str> {
        fn into_name(self) -> std::borrow::Cow<'static, str> {
            self
        }
    }

    /// `name = ..`'s value, as a name (see [`ScopeName`]).
    pub fn scope_name(name: impl ScopeName) -> std::borrow::Cow<'static, str> {
        name.into_name()
    }
}
