//! The runtime of `scope`: the context tree, typed slots, scopes with two kinds of child,
//! services for detached work, the patterns users repeat (retry, supervisor, subprocesses,
//! tokio-util bridges), and test helpers. Use it through the `scope` crate, whose
//! documentation has the tour.
#![forbid(unsafe_code)]

// The tokio-util bridges; tokio-util's token is not built for loom's models.
#[cfg(all(feature = "tokio-util", not(loom)))]
mod bridge;
// The application and its shutdown; tokio's time and signals are not built for loom's models.
#[cfg(not(loom))]
mod app;
mod cause;
mod config;
pub(crate) mod cx;
mod error;
mod info;
mod needs;
pub mod observe;
mod patterns;
mod scope;
mod service;
mod slab;
mod slot;
mod sync;
pub mod testing;
mod timer;
mod unwind;

// tokio has no `signal` module under `cfg(loom)`; the loom models do not need the entry point.
#[cfg(not(loom))]
#[doc(hidden)]
pub mod entry;

#[cfg(not(loom))]
pub use crate::app::{App, Forced, ShutdownReport};
#[cfg(all(feature = "tokio-util", not(loom)))]
pub use crate::bridge::TOKEN_CANCELLED;
pub use crate::cause::{Cause, Signal};
pub use crate::config::{Config, DEFAULT_GRACE};
pub use crate::cx::{
    cancelled, check, current_grace, is_cancelled, run_until_cancelled, shield, shield_for,
    shutdown_signal, Cx, OnCancel, RunUntilCancelled, ShieldFor, ShutdownSignal, WaitCancelled,
    WaitCancelledOwned, WithCx,
};
pub use crate::error::{
    Cancelled, ChildFailed, ConfigError, DeadlineExceeded, Failure, Failures, Interrupted,
    NotStarted, Panicked, SpawnError,
};
pub use crate::info::{TaskId, TaskInfo};
pub use crate::needs::{
    CoveredBy, ExtendProof, Has, Here, Key, KeyOf, Nil, Proof, Provided, There, With,
};
#[cfg(all(unix, feature = "process", not(loom)))]
pub use crate::patterns::process;
pub use crate::patterns::{
    AnyError, Backoff, Restart, Retry, RetryIf, Supervisor, SupervisorAction, SupervisorEvent,
};
pub use crate::scope::{
    for_each, map, map_stream, AllFailures, BodyOutput, Child, ChildSet, Finished, FirstFailure,
    HasOutput, InPlace, Local, LocalRace, LocalScope, Map, Mode, Never, Race, RaceBodyOutput,
    RaceRun, Reserve, Reserved, Run, Scope, Sendable, Spawned, TaskOutput,
};
pub use crate::service::{
    DrainError, Service, ServiceConfig, ServiceHandle, ServiceOutput, StopReport, TaskFailure,
    ABORT_WAIT, DEFAULT_TASK_TIMEOUT,
};
pub use crate::slot::{HeldBy, Slot, SlotKey};

#[cfg(all(test, loom))]
mod tests;
