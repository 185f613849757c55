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
//! # Where to read on
//!
//! - The contexts: [`Cx`] (cancel with a cause, deadlines, `shield`, `detach`, `on_cancel`,
//!   `merge`, the ambient context).
//! - Scopes and children: [`Scope`], [`Child`], [`Race`], [`Policy`], [`Config`].
//! - Errors: [`Interrupted`] and the types inside it; [`Failures`].
//! - Detached work: [`Service`].
//! - Required slots checked by the compiler: a `cx: Needs![REQUEST_ID]` parameter on a
//!   `#[scoped]` fn, `provided!()` at the call ([`Provided`], `examples/request_flow.rs`).
//! - Tests: [`testing::LeakCheck`] and `#[scope::test]`.
//! - The macros and their expansions: `docs/macros.md`; the decisions behind the design:
//!   `docs/decisions.md`.
#![doc(html_no_source)]

pub use scope_macros::{
    allow_orphan, main, provided, scope, scoped, slot, spawn, spawn_in_place, test, Needs,
};
pub use scope_runtime::*;

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    pub use scope_runtime::entry::{main_entry, DEFAULT_MAIN_GRACE};
    pub use scope_runtime::testing::LeakCheck;
    pub use scope_runtime::{
        Config, Cx, Failures, Has, Interrupted, LocalRace, LocalScope, Nil, Policy, Provided, Race,
        Scope, Slot, TaskOutput, With,
    };
    pub use std::boxed::Box;
    pub use std::future::Future;
    pub use std::option::Option;
    pub use std::panic::Location;
    pub use std::result::Result;
    pub use std::time::Duration;
    pub use tokio;
}
