//! Whether a scope's in-place children must be `Send`: the two modes of a scope.

use std::future::Future;
use std::pin::Pin;

use super::Scope;

pub(crate) mod sealed {
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a scope's mode: `Mode` is sealed",
        label = "not `scope::Sendable` or `scope::Local`",
        note = "a scope's mode is `scope::Sendable` (the default, `Scope::new`) or `scope::Local` (`Scope::new_local`)"
    )]
    pub trait Sealed {}

    /// [`Finish`](super::super::outcome::Finish)'s seal, apart from the modes' (so that a
    /// type that is neither is not told it could be one of the other).
    pub trait SealedFinish {}
}

/// Whether a scope's in-place children must be `Send`: [`Sendable`] (the default; the scope's
/// future is `Send`) or [`Local`] (they need not be; the scope's future is not `Send`).
///
/// Sealed: those two are the only modes, and a type of the user's cannot be one.
///
/// # Examples
///
/// Code generic over both kinds of scope takes `M: Mode`:
///
/// ```
/// use scope::{Config, Interrupted, LocalScope, Mode, Scope};
/// fn describe<E, M: Mode>(s: &Scope<'_, '_, E, M>) -> String {
///     format!("{} (closed: {})", s.info(), s.is_closed())
/// }
/// let a: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("a"));
/// let b: LocalScope<'_, '_, Interrupted> = Scope::new_local(Config::new().name("b"));
/// assert_eq!(describe(&a), "a (closed: false)");
/// assert_eq!(describe(&b), "b (closed: false)");
/// ```
pub trait Mode: sealed::Sealed + 'static {
    /// The boxed form of an in-place child.
    type Task<'env>: ?Sized + Future<Output = ()> + 'env;

    #[doc(hidden)]
    fn boxed_send<'env, F: Future<Output = ()> + Send + 'env>(f: F) -> Pin<Box<Self::Task<'env>>>;
}

/// The mode of [`Scope`]: in-place children are `Send`, so the scope's future is `Send`.
///
/// # Examples
///
/// The future of a `Sendable` scope is `Send`, so it can run in a spawned task:
///
/// ```
/// use scope::{Config, Interrupted, Scope, Sendable};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let task = tokio::spawn(async {
///     let s: &Scope<'_, '_, Interrupted, Sendable> = &Scope::new(Config::new());
///     s.run(async { s.spawn_in_place(async { Ok::<_, Interrupted>(1) }).await })
///         .await
/// });
/// assert_eq!(task.await.unwrap().unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
pub enum Sendable {}

/// The mode of [`LocalScope`]: in-place children need not be `Send`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use scope::{Config, Interrupted, Local, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let shared = Rc::new(5); // not `Send`
/// let s: &Scope<'_, '_, Interrupted, Local> = &Scope::new_local(Config::new());
/// let doubled = s
///     .run(async { s.spawn_in_place(async { Ok::<_, Interrupted>(*shared * 2) }).await })
///     .await;
/// assert_eq!(doubled.unwrap(), 10);
/// # });
/// ```
#[derive(Debug)]
pub enum Local {}

impl sealed::Sealed for Sendable {}
impl sealed::Sealed for Local {}

impl Mode for Sendable {
    type Task<'env> = dyn Future<Output = ()> + Send + 'env;
    fn boxed_send<'env, F: Future<Output = ()> + Send + 'env>(f: F) -> Pin<Box<Self::Task<'env>>> {
        Box::pin(f)
    }
}

impl Mode for Local {
    type Task<'env> = dyn Future<Output = ()> + 'env;
    fn boxed_send<'env, F: Future<Output = ()> + Send + 'env>(f: F) -> Pin<Box<Self::Task<'env>>> {
        Box::pin(f)
    }
}

/// A scope whose in-place children need not be `Send` (its future is not `Send`).
///
/// # Examples
///
/// In-place children can share a `RefCell` from outside the scope:
///
/// ```
/// use std::cell::RefCell;
/// use scope::{Config, Interrupted, LocalScope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let log = RefCell::new(Vec::new());
/// let s: &LocalScope<'_, '_, Interrupted> = &LocalScope::new_local(Config::new());
/// s.run(async {
///     s.spawn_in_place(async { log.borrow_mut().push("a") });
///     s.spawn_in_place(async { log.borrow_mut().push("b") });
///     Ok::<_, Interrupted>(())
/// })
/// .await
/// .unwrap();
/// let mut entries = log.borrow().clone();
/// entries.sort_unstable();
/// assert_eq!(entries, ["a", "b"]);
/// # });
/// ```
pub type LocalScope<'s, 'env, E> = Scope<'s, 'env, E, Local>;
