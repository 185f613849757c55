//! The auto-trait contract of every public type: which are `Send`, `Sync`, `Clone`, `Unpin`,
//! and which must not be. A change here is a change of the public API (usually a breaking
//! one): it must be deliberate, never a side effect of a new private field.
//!
//! Everything is checked at compile time; the test binary has nothing to run.

#![allow(dead_code)]

use std::error::Error;
use std::fmt::Debug;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use scope_runtime::observe::{TaskKind, TaskNode, TaskState, TaskTree, Tracking};
use scope_runtime::testing::{LeakCheck, Leaked};
use scope_runtime::{
    AllFailures, AnyError, Backoff, Cancelled, Cause, Child, ChildFailed, ChildSet, Config,
    ConfigError, Cx, DeadlineExceeded, DrainError, Failure, Failures, FirstFailure, Here, InPlace,
    Interrupted, Local, LocalRace, LocalScope, Map, Nil, NotStarted, OnCancel, Panicked, Provided,
    Race, RaceRun, Reserve, Reserved, Restart, Retry, Run, RunUntilCancelled, Scope, Sendable,
    Service, ServiceConfig, ServiceHandle, ShieldFor, ShutdownSignal, Signal, Slot, SpawnError,
    Spawned, StopReport, Supervisor, SupervisorAction, SupervisorEvent, TaskFailure, TaskId,
    TaskInfo, There, WaitCancelled, WaitCancelledOwned, With, WithCx,
};
use static_assertions::{assert_impl_all, assert_not_impl_any};

/// An error type that is `Send + Sync` (what users write with `thiserror`).
type E = Interrupted;

/// An error type that is not `Send`.
#[derive(Debug)]
struct LocalError(Rc<str>);

impl From<Interrupted> for LocalError {
    fn from(e: Interrupted) -> Self {
        LocalError(e.to_string().into())
    }
}

/// A body or child future that is not `Send` (it holds an `Rc` across an await).
struct NotSendFuture(Rc<()>);

impl Future for NotSendFuture {
    type Output = Result<(), E>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

/// A `Send` body future.
type SendBody = Ready<Result<(), E>>;

/// A slot key type, as `slot!` declares it.
enum RequestId {}

// ---------------------------------------------------------------------------------------------
// The context.

assert_impl_all!(Cx: Send, Sync, Clone, Unpin, Debug);
assert_not_impl_any!(Cx: Copy);
// The waiting futures go into spawned tasks and `select!`s.
assert_impl_all!(WaitCancelled<'static>: Send, Sync, Unpin, Debug);
assert_impl_all!(WaitCancelledOwned: Send, Sync, Unpin, Debug);
// A stop handle is one registration: a clone would let two owners stop it.
assert_impl_all!(OnCancel: Send, Sync, Unpin, Debug);
assert_not_impl_any!(OnCancel: Clone);
// `WithCx` adds nothing of its own: it is `Send`/`Unpin` exactly when the future is.
assert_impl_all!(WithCx<SendBody>: Send, Sync, Unpin, Debug);
assert_not_impl_any!(WithCx<NotSendFuture>: Send, Sync);
assert_not_impl_any!(WithCx<std::future::Pending<()>>: Clone);
// The adapters are `Send` exactly when the future they wrap is: they go into spawned tasks.
assert_impl_all!(RunUntilCancelled<SendBody>: Send, Debug);
assert_not_impl_any!(RunUntilCancelled<NotSendFuture>: Send);
assert_impl_all!(ShieldFor<SendBody>: Send, Debug);
assert_not_impl_any!(ShieldFor<NotSendFuture>: Send);
// A signal waiter is awaited in a spawned task or a `select!`.
assert_impl_all!(ShutdownSignal: Send, Sync, Unpin, Debug);

// ---------------------------------------------------------------------------------------------
// Causes, identities, configuration, slots.

assert_impl_all!(Cause: Send, Sync, Clone, Unpin, Debug, PartialEq);
assert_impl_all!(Signal: Send, Sync, Clone, Unpin, Debug, PartialEq);
assert_impl_all!(TaskId: Send, Sync, Copy, Unpin, Debug, Eq, Ord, std::hash::Hash);
assert_impl_all!(TaskInfo: Send, Sync, Clone, Unpin, Debug, Eq);
assert_impl_all!(NotStarted: Send, Sync, Clone, Unpin, Debug, Eq);
// A configuration is built on one thread and may be handed to a scope entered on another.
assert_impl_all!(Config: Send, Sync, Clone, Unpin);
assert_impl_all!(ServiceConfig: Send, Sync, Clone, Unpin, Debug);
// Slots are `static`s: they must be `Sync` whatever the value type.
assert_impl_all!(Slot<String>: Send, Sync);
assert_impl_all!(Slot<Rc<str>>: Send, Sync);
assert_impl_all!(Slot<String, RequestId>: Send, Sync);
// A proof of bound slots travels into spawned and in-place children alike.
assert_impl_all!(Provided<Nil>: Send, Sync, Clone, Unpin);
assert_impl_all!(Provided<With<RequestId, Nil>>: Send, Sync, Clone, Unpin);
assert_impl_all!(With<Rc<()>, Nil>: Send, Sync);
assert_impl_all!(Nil: Send, Sync);
assert_impl_all!(Here: Send, Sync);
assert_impl_all!(There<Here>: Send, Sync);

// ---------------------------------------------------------------------------------------------
// Scopes, their futures, and child handles.

// `&Scope` is what every spawn borrows and what the body captures: a `Send` scope future
// needs `Scope: Sync`, which holds when the error type is `Send`.
assert_impl_all!(Scope<'static, 'static, E>: Send, Sync, Debug);
assert_not_impl_any!(Scope<'static, 'static, LocalError>: Send, Sync);
// A scope is the owner of its children: there is only ever one.
assert_not_impl_any!(Scope<'static, 'static, E>: Clone, Copy);
// A local scope holds in-place children that need not be `Send`.
assert_not_impl_any!(LocalScope<'static, 'static, E>: Send, Sync, Clone);

// The scope's future: `Send` when the body is, and never for a local scope.
type SendRun = Run<'static, 'static, E, Sendable, SendBody, FirstFailure>;
assert_impl_all!(SendRun: Send, Debug);
assert_impl_all!(Run<'static, 'static, E, Sendable, SendBody, AllFailures>: Send);
assert_not_impl_any!(Run<'static, 'static, E, Sendable, NotSendFuture, FirstFailure>: Send);
assert_not_impl_any!(Run<'static, 'static, E, Local, SendBody, FirstFailure>: Send);
assert_not_impl_any!(Run<'static, 'static, E, Local, NotSendFuture, AllFailures>: Send);
assert_not_impl_any!(Run<'static, 'static, LocalError, Sendable, Ready<()>, FirstFailure>: Send);

// A child handle can be moved into (and awaited in) another task when its value is `Send`;
// it is `Unpin` whatever the value, so it can be awaited through `&mut`. It is not `Clone`:
// the value is delivered once.
assert_impl_all!(Child<'static, u32>: Send, Sync, Unpin, Debug);
assert_impl_all!(Child<'static, Vec<String>>: Send, Sync, Unpin);
assert_impl_all!(Child<'static, Rc<u32>>: Unpin);
assert_not_impl_any!(Child<'static, Rc<u32>>: Send, Sync);
assert_not_impl_any!(Child<'static, u32>: Clone, Copy);
// A handle's value is reached only through `&mut`: `Sync` whatever the value, as tokio's
// `JoinHandle` (a child returning a `Cell` can still be cancelled from another thread).
assert_impl_all!(Child<'static, std::cell::Cell<u8>>: Send, Sync, Unpin);
assert_impl_all!(ChildSet<'static, u32>: Send, Sync, Unpin, Debug, Default);
assert_impl_all!(ChildSet<'static, std::cell::Cell<u8>>: Send, Sync, Unpin);
assert_not_impl_any!(ChildSet<'static, Rc<u32>>: Send, Sync);

// A race is a scope with a winner slot: `Sync` when its value and error are `Send`.
assert_impl_all!(Race<'static, 'static, u32, E>: Send, Sync, Debug);
assert_not_impl_any!(Race<'static, 'static, Rc<u32>, E>: Send, Sync);
assert_not_impl_any!(Race<'static, 'static, u32, E>: Clone);
assert_not_impl_any!(LocalRace<'static, 'static, u32, E>: Send, Sync);
// A race's future, as a scope's: `Send` when the body is, and never for a local race.
assert_impl_all!(RaceRun<'static, 'static, u32, E, Sendable, SendBody>: Send, Debug);
assert_not_impl_any!(RaceRun<'static, 'static, u32, E, Sendable, NotSendFuture>: Send);
assert_not_impl_any!(RaceRun<'static, 'static, u32, E, Local, SendBody>: Send);

// A reservation of a slot of the limit is awaited on the body's task; the slot it yields is
// spent by one spawn, and the proof it holds is one slot: neither is `Clone`.
assert_impl_all!(Reserve<'static, 'static, E, Sendable>: Send, Sync, Unpin, Debug);
assert_impl_all!(Reserved<'static, 'static, E, Sendable>: Send, Sync, Unpin, Debug);
assert_not_impl_any!(Reserved<'static, 'static, E, Sendable>: Clone);
assert_not_impl_any!(Reserve<'static, 'static, E, Local>: Send, Sync);
assert_not_impl_any!(Reserved<'static, 'static, E, Local>: Send, Sync);

// A mapping is a plan (items, a closure, a configuration): `Send` when its parts are.
assert_impl_all!(Map<std::vec::IntoIter<u32>, fn(u32) -> SendBody>: Send, Sync);
assert_impl_all!(Map<std::vec::IntoIter<u32>, fn(u32) -> SendBody, InPlace>: Send, Sync);
assert_not_impl_any!(Map<std::vec::IntoIter<Rc<u32>>, fn(Rc<u32>) -> SendBody, Spawned>: Send);

// The type-level markers.
assert_impl_all!(Sendable: Send, Sync, Debug);
assert_impl_all!(Local: Send, Sync, Debug);
assert_impl_all!(Spawned: Send, Sync);
assert_impl_all!(InPlace: Send, Sync);
assert_impl_all!(FirstFailure: Send, Sync, Debug);
assert_impl_all!(AllFailures: Send, Sync, Debug);

// ---------------------------------------------------------------------------------------------
// Services and test helpers.

assert_impl_all!(Service: Send, Sync, Clone, Unpin, Debug);
// A service task's handle is awaited from anywhere, once: not `Clone`.
assert_impl_all!(ServiceHandle<Result<(), E>>: Send, Sync, Unpin, Debug);
assert_not_impl_any!(ServiceHandle<Result<(), E>>: Clone);
assert_impl_all!(StopReport: Send, Sync, Clone, Unpin, Debug);
assert_impl_all!(TaskFailure: Error, Send, Sync, Clone, Unpin, Debug, Eq, std::hash::Hash);
// An application is a shared handle (a clone reaches the same services and shutdown); its
// report is logged or sent on. (Not built for the loom models: tokio has no signals there.)
#[cfg(not(loom))]
mod app {
    use super::*;
    use scope_runtime::{App, Forced, ShutdownReport};

    assert_impl_all!(App: Send, Sync, Clone, Unpin, Debug);
    assert_impl_all!(ShutdownReport: Send, Sync, Clone, Unpin, Debug);
    assert_impl_all!(Forced: Send, Sync, Clone, Unpin, Debug, Eq);
}

// ---------------------------------------------------------------------------------------------
// Patterns: plans built on one thread and run on another.

assert_impl_all!(Backoff: Send, Sync, Clone, Unpin, Debug);
assert_impl_all!(Retry<AnyError>: Send, Sync, Clone, Unpin, Debug);
assert_impl_all!(AnyError: Send, Sync, Clone, Copy, Unpin, Debug);
assert_impl_all!(Restart: Send, Sync, Clone, Copy, Unpin, Debug, Eq);
assert_impl_all!(SupervisorAction: Send, Sync, Clone, Unpin, Debug);
// Built on one thread, run on another; its children's factories are `Send`, not `Sync`.
assert_impl_all!(Supervisor<E>: Send, Unpin, Debug);
// What an event callback sees: a borrowed view, shared with the callback's thread.
assert_impl_all!(SupervisorEvent<'static, E>: Send, Sync, Unpin, Debug);

// ---------------------------------------------------------------------------------------------
// Observability: snapshots are values sent to an admin endpoint or a log.

assert_impl_all!(TaskTree: Send, Sync, Clone, Unpin, Debug);
assert_impl_all!(TaskNode: Send, Sync, Clone, Unpin, Debug);
assert_impl_all!(TaskKind: Send, Sync, Clone, Copy, Unpin, Debug, Eq);
assert_impl_all!(TaskState: Send, Sync, Clone, Copy, Unpin, Debug, Eq);
// The guard of a tracking registration: one owner, dropped to stop.
assert_impl_all!(Tracking: Send, Sync, Unpin, Debug);
assert_not_impl_any!(Tracking: Clone);
assert_impl_all!(LeakCheck: Send, Sync, Unpin, Debug);

// ---------------------------------------------------------------------------------------------
// Errors: `Error + Send + Sync + 'static`, so they go into `anyhow::Error` and
// `Box<dyn Error + Send + Sync>` (and across tasks) unchanged.

// `Clone` and `Eq`, so that a user's error enum wrapping it can derive both.
assert_impl_all!(Interrupted: Error, Send, Sync, Unpin, Debug, Clone, Eq);
assert_impl_all!(Cancelled: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(DeadlineExceeded: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(ChildFailed: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(ConfigError: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(SpawnError: Error, Send, Sync, Copy, Unpin, Eq);
assert_impl_all!(DrainError: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(Leaked: Error, Send, Sync, Clone, Unpin, Eq, std::hash::Hash);
// A panic's error is shared and sent like the others; it owns the payload, which a clone
// does not carry (only the original can resume the unwind with it).
assert_impl_all!(Panicked: Error, Send, Sync, Unpin, Debug, Clone, Eq);
// A failure and a scope's failures are values as their error is: `Clone` and `Eq` with it.
assert_impl_all!(Failure<Interrupted>: Error, Send, Sync, Debug, Clone, Eq);
assert_impl_all!(Failures<Interrupted>: Error, Send, Sync, Debug, Clone, Eq);
assert_not_impl_any!(Failures<LocalError>: Clone, PartialEq);
// The collected failures are errors too, when the user's error is.
assert_impl_all!(Failure<E>: Error, Send, Sync, Unpin);
assert_impl_all!(Failures<E>: Error, Send, Sync, Unpin);
assert_impl_all!(Failures<Box<dyn Error + Send + Sync>>: Send, Sync);
assert_not_impl_any!(Failures<LocalError>: Send, Sync);

// What `anyhow` and `?` into a boxed error need.
assert_impl_all!(Box<dyn Error + Send + Sync>:
    From<Interrupted>,
    From<Cancelled>,
    From<DeadlineExceeded>,
    From<Panicked>,
    From<ChildFailed>,
    From<ConfigError>,
    From<SpawnError>,
    From<DrainError>,
    From<Leaked>,
    From<Failures<E>>,
);

fn is_static<T: 'static>() {}

#[test]
fn error_types_are_static() {
    is_static::<Interrupted>();
    is_static::<Panicked>();
    is_static::<Failures<E>>();
    is_static::<WaitCancelledOwned>();
    is_static::<Provided<Nil>>();
}

// ---------------------------------------------------------------------------------------------
// Unwind safety: no lock of ours is poisoned or left half-written by a user's panic (none is
// held across user code), so every handle may be used after one, as tokio's handles may: in a
// `catch_unwind` closure, or in a future under `FutureExt::catch_unwind`. The futures that
// hold a user's future or callback are unwind safe when it is.

use std::panic::{RefUnwindSafe, UnwindSafe};

/// A future that is not unwind safe (a `&mut` across the unwind).
type NotUnwindSafe = Ready<Result<&'static mut u8, E>>;

assert_impl_all!(Cx: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Scope<'static, 'static, E>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(LocalScope<'static, 'static, LocalError>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Child<'static, u32>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(ChildSet<'static, u32>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Config: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Provided<Nil>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(WaitCancelled<'static>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(WaitCancelledOwned: UnwindSafe, RefUnwindSafe);
assert_impl_all!(ShutdownSignal: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Service: UnwindSafe, RefUnwindSafe);
assert_impl_all!(ServiceHandle<()>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Reserve<'static, 'static, E, Sendable>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Reserved<'static, 'static, E, Sendable>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Race<'static, 'static, u32, E>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(WithCx<SendBody>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(RunUntilCancelled<SendBody>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(ShieldFor<SendBody>: UnwindSafe, RefUnwindSafe);
assert_impl_all!(Run<'static, 'static, E, Sendable, SendBody, FirstFailure>: UnwindSafe);
assert_not_impl_any!(WithCx<NotUnwindSafe>: UnwindSafe);
assert_not_impl_any!(Run<'static, 'static, E, Sendable, NotUnwindSafe, FirstFailure>: UnwindSafe);

#[cfg(not(loom))]
assert_impl_all!(scope_runtime::App: UnwindSafe, RefUnwindSafe);

// ---------------------------------------------------------------------------------------------
// What is `Eq` is `Hash` too (a `HashSet<TaskInfo>`, a `HashMap<Signal, _>`), hashing what
// equality compares.

use std::hash::Hash;

assert_impl_all!(Cause: Hash);
assert_impl_all!(Signal: Hash);
assert_impl_all!(TaskInfo: Hash);
assert_impl_all!(TaskId: Hash);
assert_impl_all!(Interrupted: Hash);
assert_impl_all!(Cancelled: Hash);
assert_impl_all!(DeadlineExceeded: Hash);
assert_impl_all!(Panicked: Hash);
assert_impl_all!(NotStarted: Hash);
assert_impl_all!(ChildFailed: Hash);
assert_impl_all!(ConfigError: Hash);
assert_impl_all!(SpawnError: Hash);
assert_impl_all!(DrainError: Hash);
assert_impl_all!(Failure<E>: Hash);
assert_impl_all!(Failures<E>: Hash);
assert_impl_all!(StopReport: Hash);
assert_impl_all!(Backoff: Hash);
assert_impl_all!(AnyError: Hash);
assert_impl_all!(SupervisorAction: Hash);
#[cfg(not(loom))]
assert_impl_all!(scope_runtime::Forced: Hash);

#[test]
fn equal_values_hash_alike() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::Hasher;
    fn hash_of(value: &impl Hash) -> u64 {
        let mut h = DefaultHasher::new();
        value.hash(&mut h);
        h.finish()
    }
    let info = TaskInfo::here(Some("worker".into()));
    // A caught panic and its clone (which has no payload) are equal, and hash alike.
    let caught = Panicked::new(info.clone(), Box::new("boom"));
    let cloned = caught.clone();
    assert_eq!(caught, cloned);
    assert_eq!(hash_of(&caught), hash_of(&cloned));
    // (Clippy's `mutable_key_type` sees the payload's lock; the hash does not read it.)
    #[allow(clippy::mutable_key_type)]
    let mut seen = std::collections::HashSet::new();
    assert!(seen.insert(Interrupted::from(caught)));
    assert!(!seen.insert(Interrupted::from(cloned)));
    assert!(seen.insert(Interrupted::from_cause(Cause::explicit("stop"))));
    assert_eq!(seen.len(), 2);
}
