//! The runtime of `scope`: the context tree, typed slots, scopes with two kinds of child,
//! services for detached work, and test helpers. Use it through the `scope` crate, whose
//! documentation has the tour.

mod cause;
mod config;
pub(crate) mod cx;
mod error;
mod info;
mod needs;
pub mod observe;
mod scope;
mod service;
mod slab;
mod slot;
mod sync;
pub mod testing;

// tokio has no `signal` module under `cfg(loom)`; the loom models do not need the entry point.
#[cfg(not(loom))]
#[doc(hidden)]
pub mod entry;

pub use crate::cause::{Cause, Signal};
pub use crate::config::{Config, DEFAULT_GRACE};
pub use crate::cx::{
    cancelled, current_grace, is_cancelled, shield, Cx, OnCancel, WaitCancelled,
    WaitCancelledOwned, WithCx,
};
pub use crate::error::{
    Cancelled, ChildFailed, ConfigError, DeadlineExceeded, Failure, Failures, Interrupted,
    NotStarted, Panicked, SpawnError,
};
pub use crate::info::{TaskId, TaskInfo};
pub use crate::needs::{
    CoveredBy, Extend, Has, Here, Key, KeyOf, Nil, Proof, Provided, There, With,
};
pub use crate::scope::{
    for_each, map, map_stream, AllFailures, Child, ChildSet, Finished, FirstFailure, HasOutput,
    InPlace, Local, LocalRace, LocalScope, Map, Mode, Never, Race, Reserve, Reserved, Run, Scope,
    Sendable, Spawned, TaskOutput,
};
pub use crate::service::{DrainError, Service, ServiceConfig};
pub use crate::slot::Slot;

#[cfg(all(test, loom))]
mod tests;
