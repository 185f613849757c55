//! The patterns users write again and again, as API: retry with a cancellable backoff, a
//! supervisor that restarts its children, and subprocesses bound to a scope.
//!
//! Each is built on the public runtime (scopes, the ambient context, [`current_grace`]), and
//! each is where a hand-written version tends to go wrong:
//!
//! - `backoff.rs`: the exponential backoff both retry and the supervisor use (base, cap,
//!   jitter from a small per-call generator, no new dependency).
//! - `retry.rs`: [`Retry`]: a backoff sleep that wakes on cancellation and never outlasts the
//!   context's deadline.
//! - `supervisor.rs`: [`Supervisor`]: restarts that count failures (never cancellations) in a
//!   bounded sliding window, as OTP's restart intensity does.
//! - `process.rs`: [`process`]: a child process that is sent SIGTERM on cancellation, SIGKILL
//!   after the grace, and is reaped before its child future ends or is dropped.
//!
//! # Locks
//!
//! The supervisor's restart window is the only lock here, a leaf held to push or pop an
//! instant. The user's callbacks, predicates and futures run with no lock of this module
//! held.
//!
//! [`current_grace`]: crate::current_grace
#![forbid(unsafe_code)]

mod backoff;
#[cfg(all(unix, feature = "process", not(loom)))]
pub mod process;
mod retry;
mod supervisor;

pub use self::backoff::Backoff;
pub use self::retry::{AnyError, Retry, RetryIf};
pub use self::supervisor::{Restart, Supervisor, SupervisorAction, SupervisorEvent};
