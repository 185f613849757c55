//! What `#[scope::main]` expands to.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::Either;

use crate::{Cause, Cx, Signal};

/// The grace `#[scope::main]` gives the program after SIGINT/SIGTERM before it exits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(scope::entry::DEFAULT_MAIN_GRACE, Duration::from_secs(10));
/// ```
pub const DEFAULT_MAIN_GRACE: Duration = Duration::from_secs(10);

/// Runs `fut` on `runtime` under a root context. SIGINT and SIGTERM cancel that context with
/// [`Cause::Shutdown`]; if `fut` has not finished `grace` later, the process exits with
/// 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
///
/// # Examples
///
/// ```
/// use scope::entry::{main_entry, DEFAULT_MAIN_GRACE};
/// use scope::Cx;
/// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
/// let out = main_entry(runtime, DEFAULT_MAIN_GRACE, async {
///     // The future runs under a fresh root context, not the background one.
///     let cx = Cx::current();
///     assert!(!cx.same_as(&Cx::background()));
///     assert!(!cx.is_cancelled());
///     40 + 2
/// });
/// assert_eq!(out, 42);
/// ```
#[allow(clippy::needless_pass_by_value)] // Reason: the program's runtime is handed over for good.
pub fn main_entry<F: Future>(
    runtime: tokio::runtime::Runtime,
    grace: Duration,
    fut: F,
) -> F::Output {
    runtime.block_on(async move {
        let root = Cx::root();
        let mut work = pin!(root.clone().run(fut));
        let signal = pin!(shutdown_signal());
        match futures_util::future::select(work.as_mut(), signal).await {
            Either::Left((out, _)) => out,
            Either::Right((signal, _)) => {
                let code = exit_code(&signal);
                root.cancel_with(Cause::Shutdown { signal });
                if let Ok(out) = tokio::time::timeout(grace, work).await {
                    out
                } else {
                    eprintln!("shutdown: still running after the grace of {grace:?}; exiting");
                    std::process::exit(code)
                }
            }
        }
    })
}

fn exit_code(signal: &Signal) -> i32 {
    match signal {
        Signal::Interrupt => 130,
        Signal::Terminate => 143,
        Signal::Requested(_) => 1,
    }
}

/// Resolves with the first of SIGINT and SIGTERM; never, where they cannot be listened to.
async fn shutdown_signal() -> Signal {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_ok() {
            Signal::Interrupt
        } else {
            std::future::pending().await
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                Signal::Terminate
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<Signal>();
    match futures_util::future::select(pin!(interrupt), pin!(terminate)).await {
        Either::Left((s, _)) | Either::Right((s, _)) => s,
    }
}
