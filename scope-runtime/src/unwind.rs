//! Unwind safety of the handles.
//!
//! Every handle here may be used after a panic was caught around it, as tokio's `JoinHandle`
//! and runtime `Handle` may: no lock of this crate is held across user code, and the locks
//! ignore poisoning (`sync::Mutex`), so a panic caught in user code leaves nothing of ours
//! half-written. The compiler cannot see that through the type-erased parts (the slots'
//! `Arc<dyn Any + Send + Sync>`, the enclosing scope's `Arc<dyn Enclosing>`, a waker's cell,
//! tokio's timer entry), hence these impls.
//!
//! What they do not check is the user's values inside: a slot's value (read through `&T`),
//! a child's output or a race's winner (moved in and out, never changed under a lock of
//! ours). An `Arc<T>` is unwind safe only if `T` is `RefUnwindSafe`; a `Cx` is whatever its
//! slots hold, as tokio's `JoinHandle<T>` is whatever `T`: a slot holding a value that a
//! panic can leave half-written (a lock that does not poison, say) is seen so after a caught
//! panic, as it would be through `AssertUnwindSafe`.
//!
//! The futures that hold a user's future are unwind safe when it is.

use std::future::Future;
use std::panic::{RefUnwindSafe, UnwindSafe};

use crate::config::Config;
use crate::cx::{
    Cx, RunUntilCancelled, ShieldFor, ShutdownSignal, WaitCancelled, WaitCancelledOwned, WithCx,
};
use crate::needs::Provided;
use crate::scope::{BodyOutput, Child, ChildSet, Mode, Race, Reserve, Reserved, Run, Scope};
use crate::service::{Service, ServiceHandle};

/// Handles that are unwind safe whatever they hold.
macro_rules! unwind_safe {
    ($([$($generics:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($generics)*> UnwindSafe for $ty {}
        impl<$($generics)*> RefUnwindSafe for $ty {}
    )*};
}

unwind_safe! {
    [] Cx,
    [] Config,
    [L] Provided<L>,
    [] WaitCancelledOwned,
    ['a] WaitCancelled<'a>,
    [] ShutdownSignal,
    [] Service,
    [O] ServiceHandle<O>,
    ['s, 'env, E, M: Mode] Scope<'s, 'env, E, M>,
    ['s, 'env, E, M: Mode] Reserve<'s, 'env, E, M>,
    ['s, 'env, E, M: Mode] Reserved<'s, 'env, E, M>,
    ['s, 'env, T, E, M: Mode] Race<'s, 'env, T, E, M>,
    ['s, T] Child<'s, T>,
    ['s, T] ChildSet<'s, T>,
}

#[cfg(not(loom))]
unwind_safe! {
    [] crate::app::App,
}

/// Futures that are unwind safe when the user's future they hold is.
macro_rules! unwind_safe_if_the_future_is {
    ($($ty:ident),* $(,)?) => {$(
        impl<F: UnwindSafe> UnwindSafe for $ty<F> {}
        impl<F: RefUnwindSafe> RefUnwindSafe for $ty<F> {}
    )*};
}

unwind_safe_if_the_future_is!(WithCx, RunUntilCancelled, ShieldFor);

impl<E, M: Mode, F: Future + UnwindSafe, O> UnwindSafe for Run<'_, '_, E, M, F, O> where
    F::Output: BodyOutput<E>
{
}
