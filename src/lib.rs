//! `scope`: structured concurrency for async Rust on tokio.
#![doc(html_no_source)]

pub use scope_runtime::*;

#[doc(hidden)]
pub mod __private {
    pub use scope_runtime::entry::{main_entry, DEFAULT_MAIN_GRACE};
    pub use scope_runtime::testing::LeakCheck;
    pub use scope_runtime::{
        Config, Cx, Failures, Interrupted, LocalRace, LocalScope, Policy, Race, Scope, Slot,
        TaskOutput,
    };
    pub use std::boxed::Box;
    pub use std::future::Future;
    pub use std::option::Option;
    pub use std::panic::Location;
    pub use std::result::Result;
    pub use std::time::Duration;
    pub use tokio;
}
