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

use scope_runtime::testing::{LeakCheck, Leaked};
use scope_runtime::{
    AllFailures, Cancelled, Cause, Child, ChildFailed, ChildSet, Config, ConfigError, Cx,
    DeadlineExceeded, DrainError, Failure, Failures, FirstFailure, Here, Interrupted, Local,
    LocalRace, LocalScope, Nil, NotStarted, OnCancel, Panicked, Provided, Race, Run, Scope,
    Sendable, Service, ServiceConfig, Signal, Slot, SpawnError, TaskId, TaskInfo, There,
    WaitCancelled, WaitCancelledOwned, With, WithCx,
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

// ---------------------------------------------------------------------------------------------
// Causes, identities, configuration, slots.

assert_impl_all!(Cause: Send, Sync, Clone, Unpin, Debug, PartialEq);
assert_impl_all!(Signal: Send, Sync, Clone, Unpin, Debug, PartialEq);
assert_impl_all!(TaskId: Send, Sync, Copy, Unpin, Debug, Eq, Ord, std::hash::Hash);
assert_impl_all!(TaskInfo: Send, Sync, Clone, Unpin, Debug, Eq);
assert_impl_all!(NotStarted: Send, Sync, Clone, Unpin, Debug, Eq);
// A configuration is built on one thread and may be handed to a scope entered on another.
assert_impl_all!(Config: Send, Sync, Unpin);
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

// The type-level markers.
assert_impl_all!(Sendable: Send, Sync, Debug);
assert_impl_all!(Local: Send, Sync, Debug);
assert_impl_all!(FirstFailure: Send, Sync, Debug);
assert_impl_all!(AllFailures: Send, Sync, Debug);

// ---------------------------------------------------------------------------------------------
// Services and test helpers.

assert_impl_all!(Service: Send, Sync, Clone, Unpin, Debug);
assert_impl_all!(LeakCheck: Send, Sync, Unpin, Debug);

// ---------------------------------------------------------------------------------------------
// Errors: `Error + Send + Sync + 'static`, so they go into `anyhow::Error` and
// `Box<dyn Error + Send + Sync>` (and across tasks) unchanged.

assert_impl_all!(Interrupted: Error, Send, Sync, Unpin, Debug);
assert_impl_all!(Cancelled: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(DeadlineExceeded: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(ChildFailed: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(ConfigError: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(SpawnError: Error, Send, Sync, Copy, Unpin, Eq);
assert_impl_all!(DrainError: Error, Send, Sync, Clone, Unpin, Eq);
assert_impl_all!(Leaked: Error, Send, Sync, Clone, Unpin, Eq);
// A panic's error is shared and sent like the others; it owns the payload, so it is not
// `Clone` (only the scope's copy can resume the unwind with it).
assert_impl_all!(Panicked: Error, Send, Sync, Unpin, Debug);
assert_not_impl_any!(Panicked: Clone);
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
