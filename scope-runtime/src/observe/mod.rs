//! Observability: see the tree.
//!
//! - **The live task tree** (always available): [`track`] turns recording on, [`snapshot`]
//!   returns every scope, child, service and service task alive now (a scope whose run has
//!   returned, or a service stopped, as finished while its value is alive, or while a run
//!   future of it that was forgotten with `mem::forget` holds it: a leak, which the tree
//!   names, as it keeps that scope's span open), with ids, names, kinds, states, ages,
//!   causes and call sites, and the parent and owner of each. Its `Display` is an
//!   indented tree; with the `serde` feature it serialises to JSON. The leak check of
//!   [`testing::LeakCheck`](crate::testing::LeakCheck) (and `#[scope::test]`) uses it to name
//!   the tasks a test leaked.
//! - **`tracing` spans** (the `tracing` feature): every scope and child gets a span, parented
//!   along the scope tree across workers; children carry the spawner's span, so
//!   `#[instrument]`ed code nests in either order with `#[scoped]`; cancellations, deadlines,
//!   failures and panics are events in the span they happened to. The spans, events and
//!   fields are listed below ("Tracing").
//! - **Metrics** (the `metrics` feature): counters of scopes and children started and ended by
//!   outcome, gauges of children in flight and queued, a histogram of cancellation latency, and
//!   deadline overruns, labelled by scope name, through the `metrics` facade. The names and
//!   labels are listed below ("Metrics").
//!
//! # Tracing
//!
//! Every span and event has the target `scope`. Spans are at `DEBUG`:
//!
//! | span | made when | fields |
//! |---|---|---|
//! | `scope` | a scope is entered (a service: made) | `name`, `id`, `site`, `kind` |
//! | `task` | a child is spawned (a service task: handed to its service) | `name`, `id`, `site`, `kind` |
//!
//! `name` is the scope's or child's name, or its call site (`file:line:col`) when it has none;
//! `id` is its [`TaskId`] as a number; `site` is its call site; `kind` is a [`TaskKind`]
//! (`scope`, `service`, `spawned`, `in-place`, `blocking`, `service-task`).
//!
//! - A scope's span is made under the span current where the scope is entered, and is entered
//!   around every poll of the scope's run (its body, and the in-place children it polls). A
//!   service's span is a root, as its context is: made inside a request's span it would keep
//!   that request's span open for the service's whole life.
//! - A child's span is made under the span current at the spawn if the spawn is made by the
//!   scope's own code (then that span is the scope's, or one the body entered below it, such
//!   as an `#[instrument]` span), else under the scope's span (also when the subscriber cannot
//!   say which span is current: `Subscriber::current_span` left to its default). It is entered
//!   around every poll
//!   of the child, on whichever worker runs it. So spans follow the scope tree across
//!   workers, and code instrumented inside a child nests below the child, in either order of
//!   `#[scoped]` and `#[instrument]`.
//! - If the subscriber does not want a child's own span (filtered out), the child carries the
//!   span current at the spawn instead (as it carries slots), so instrumented code still nests
//!   as the user wrote it; a scope does the same. Their events then name them (a `task` or
//!   `scope` field, with the `name` above), and go out even with no span to put them in: a
//!   subscriber that keeps `INFO` and above still hears of every cancellation, failure and
//!   panic.
//!
//! The events, each in the span of the scope or child it happened to. That span is the
//! event's explicit parent (`Event::parent`), not always the span entered when it is made (a
//! scope's end is reported as its run returns, a child's as its scope collects it): a
//! subscriber of one's own places an event by its parent first, as `tracing-subscriber`'s
//! layers do.
//!
//! | event (message) | level | fields | when |
//! |---|---|---|---|
//! | `deadline exceeded` | `INFO` | `deadline` (the scope or context whose deadline it was) | the scope's own deadline cancelled it (one it inherited from a scope is that scope's to report: `DEBUG` `cancelled`; one of a context no scope owns, the topmost scope reports) |
//! | `cancelled` | `INFO` (`DEBUG` when its parent was cancelled under a scope or service that reports it, or it finished) | `cause` (the [cause](crate::Cause), or `its body failed: ..` when the scope's own body's error cancelled it) | a scope's or service's context was cancelled (a scope in no scope's or service's code, the topmost, reports a cancel that comes from above it: an application's shutdown, a root of the program's own, a bridged token) |
//! | `scope failed` | `WARN` | | a scope ended with a failure (a service: a task of it failed in its life, each told at its own end too, `task failed`; so a service whose task failed hours before a clean shutdown says it again at its end) |
//! | `scope panicked` | `ERROR` | | a scope ended with a panic (a service: a task of it panicked in its life, as above) |
//! | `scope finished` | `DEBUG` | `outcome` (`completed` or `cancelled`: how it ended, so a graceful stop, a body that returned a value after its scope's cancel, is `cancelled` though the run returns `Ok`) | a scope ended otherwise |
//! | `grace ran out` | `WARN` | `grace` | a cancelled scope's [grace](crate::Config::grace) (not zero) ran out while its body or children still ran: what is left is aborted now (each aborted child then says `task stopped before completing`, below). A scope whose grace was cut by an abort from above does not say it: the scope whose grace ran out does. A scope dropped before its end (its future dropped, not cancelled) does not either |
//! | `task failed` | `WARN` | `error` (its message) | a child returned an error that is a failure (not one answering a cancel, below), or a service task was dropped a grace after its own deadline |
//! | `task panicked` | `ERROR` | `panic` (its message) | a child panicked |
//! | `task stopped before completing` | `DEBUG` | `cause` (or the error) | a child was cancelled, aborted or passed its deadline; or it never started (cancelled or aborted before its first poll, or while it waited for its scope to run or for a slot of its limit): then the field holds its [`NotStarted`](crate::NotStarted) error, `not started: {cause}` (a spawn that its scope refuses, closed already (its body returned, a failure or a cancel closed it), makes no child: no span, no event and no count; its handle says why); or it returned an error answering a cancel (its scope's, after a fail-fast failure or a race's win; for a service task, its service's stop or its handle's `cancel`): then the field holds that error (for a scope's child, ``task `x` failed: ...``), not a cause (a scope's child that answers a cancel of its own, through its handle, or a background child that answers the body's end, is told by the cause: its error is dropped unread, as its handle reads the cancel) |
//! | `supervised incarnation failed` | `WARN` | `task`, `attempt`, `error`, `action` (`restart`, `stop`, `give-up`) | an incarnation of a [`Supervisor`](crate::Supervisor)'s child returned an error (in the child's span: the child itself goes on, and ends once, as above); an incarnation that ends because the supervisor is stopping is not reported here, nor counted below, as it is not counted against the intensity |
//! | `supervised incarnation panicked` | `ERROR` | `task`, `attempt`, `panic`, `action` | an incarnation of a supervised child panicked |
//! | `supervised incarnation returned` | `DEBUG` | `task`, `attempt`, `action` | an incarnation of a supervised child returned normally |
//!
//! With the feature on and no subscriber ever installed, a child costs a relaxed load (is a
//! dispatcher set?) per spawn and per poll, and carries an empty box.
//!
//! # Metrics
//!
//! Any exporter works: the metrics go to whatever recorder is installed
//! (`metrics::set_global_recorder`), and cost a few atomic operations on a no-op handle when
//! none is. A scope or service takes its handles when it is made: install the recorder
//! before making the services that live as long as the program (one made before records
//! nothing, where a `tracing` subscriber set up late is still heard). Every metric is labelled `scope` with the scope's (or service's) name, or its call
//! site (`file:line:col`) when it has none:
//!
//! | metric | type | what |
//! |---|---|---|
//! | `scope_scopes_started_total` | counter | scopes run (services: created) |
//! | `scope_scopes_ended_total` | counter | scopes finished, with `outcome` = `completed`, `failed`, `cancelled`, `panicked`: how the scope ended, not what its caller got (a scope cancelled from outside or by its deadline whose body then returned a value, a graceful stop, is `cancelled`, though its run returns `Ok`; a child's error that is an [`Interrupted`] of its own is `failed`) |
//! | `scope_children_started_total` | counter | children (and service tasks) started (first polled) |
//! | `scope_children_ended_total` | counter | children ended, with `outcome` as above (a child that never started counts as `cancelled`; a spawn its scope refused, closed already, made no child and is not counted: the children a body asked for can outnumber the children ended, as after a fail-fast failure on another worker, or a race won) |
//! | `scope_children_in_flight` | gauge | children started and not ended |
//! | `scope_children_queued` | gauge | children created and not started (waiting for their scope to run, for a slot, or for their first poll) |
//! | `scope_cancel_latency_seconds` | histogram | from the moment a scope's run sees its cancellation to its end (the last of its children gone; for a run dropped or forgotten, the drop, its spawned children left in their grace) |
//! | `scope_deadline_overruns_total` | counter | scopes whose own deadline fired |
//! | `scope_incarnations_ended_total` | counter | incarnations of a [`Supervisor`](crate::Supervisor)'s children ended, labelled `scope` (the supervisor's), `child`, `outcome` (`completed`, `failed`, `panicked`) and `action` (`restart`, `stop`, `give-up`): a supervised child counts once among the children, however often it restarts |
//!
//! The handles of a label are registered once per thread and recorder (a thread-local cache),
//! so a scope costs one hash lookup and a child only atomic operations on its scope's handles.
//! So name scopes by what they do, not per request: each distinct name is a set of series the
//! exporter keeps, and a cache entry on each thread that made such a scope, with or without a
//! recorder (a thread's cache holds up to 1,024 labels: one more starts it over, and the
//! handles are registered again as scopes need them, so scopes named per job cost a
//! registration each, not memory for the thread's life). The cache knows
//! a recorder by its address: a local recorder made where an earlier one was dropped (the same
//! stack slot, in a test run twice on one thread) finds the earlier one's handles; keep one
//! recorder per test thread.
//!
//! # Cost
//!
//! With the features off and no [`Tracking`] guard alive, a scope or child pays one relaxed
//! atomic load (is tracking on?) and a few branches, and a child's future carries one flag.
//! Measured when the module was added: +23 instructions per spawned child and +29 per in-place
//! one, against 3,459 and 3,162 at the base before it (`6ee34a7`). See BENCHMARKS.md
//! ("Observability") for every figure, on and off.
//!
//! # How it hooks in
//!
//! A scope's shared part holds a `ScopeObs`, each child's future a `ChildObs`, and the
//! scope and child code calls them in one line at each moment of a life: created, entered for a
//! poll, started, cancelled, ended, dropped. Everything else lives here: `tree.rs` (the
//! records and the snapshot), `span.rs` (the spans and events above), `metrics.rs` (the
//! metrics above). No hook runs user code under a lock of
//! the scope: the only user code reached from here is a `tracing` subscriber or a `metrics`
//! recorder, called with no lock held (the tree's shard locks are never held across them).
//! Each call into them is caught: a subscriber or recorder that panics cannot cut a scope's
//! bookkeeping short (its panic is reported by the panic hook, and that event, span or metric
//! is skipped).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use scope::observe::{self, TaskKind, TaskState};
//! use scope::{Config, Interrupted, Scope};
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let _tracking = observe::track();
//! let s = &Scope::new(Config::new().name("import"));
//! s.run(async {
//!     let (tx, rx) = tokio::sync::oneshot::channel::<()>();
//!     let slow = s.spawn_named("slow-row", async move { let _ = rx.await; });
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//!     let tree = observe::snapshot();
//!     let row = tree.iter().find(|n| n.name() == Some("slow-row")).unwrap();
//!     assert_eq!((row.kind(), row.state()), (TaskKind::Spawned, TaskState::Running));
//!     assert_eq!(tree.get(row.parent().unwrap()).unwrap().name(), Some("import"));
//!     println!("{tree}");
//!     tx.send(()).unwrap();
//!     slow.await
//! })
//! .await
//! .unwrap();
//! # });
//! ```

mod metrics;
mod span;
mod tree;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use self::tree::{is_tracking, Record, FINISHED, HANDED_OVER, RUNNING};
pub use self::tree::{snapshot, track, TaskKind, TaskNode, TaskState, TaskTree, Tracking};
use crate::cause::Cause;
use crate::cx::Cx;
use crate::error::Interrupted;
use crate::info::{TaskId, TaskInfo};

/// Whether a child's or a scope's end is reported (events or metrics): without, its outcome
/// is built only for whoever reads it.
pub(crate) const OBSERVED: bool = cfg!(any(feature = "tracing", feature = "metrics"));

/// How a scope or child ended, for the events and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    not(any(feature = "tracing", feature = "metrics")),
    allow(dead_code) // Reason: only the features read it.
)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Cancelled,
    Panicked,
}

impl Outcome {
    #[cfg_attr(
        not(any(feature = "tracing", feature = "metrics")),
        allow(dead_code) // Reason: only the features read it.
    )]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Panicked => "panicked",
        }
    }
}

/// How a child (or a service task) ended, for its events and metrics.
#[cfg_attr(
    not(feature = "tracing"),
    allow(dead_code) // Reason: only the `tracing` feature reads the messages.
)]
pub(crate) enum End<'a> {
    Completed,
    Failed(&'a str),
    Panicked(&'a str),
    /// Stopped before it completed (cancelled, aborted, past its deadline).
    Stopped(&'a dyn std::fmt::Display),
    /// Never ran: the error that says why (`not started: {cause}`).
    NotStarted(&'a dyn std::fmt::Display),
}

impl<'a> End<'a> {
    pub(crate) fn of_child<T>(out: &'a Result<T, Interrupted>) -> Self {
        match out {
            Ok(_) => End::Completed,
            Err(Interrupted::ChildFailed(e)) => End::Failed(e.message()),
            Err(Interrupted::Panicked(p)) => End::Panicked(p.message()),
            // The cause, for both: a cancel's own text says "cancelled: " before it.
            Err(Interrupted::Cancelled(c)) => End::Stopped(c.cause()),
            Err(Interrupted::DeadlineExceeded(d)) => End::Stopped(d.cause()),
            Err(e @ (Interrupted::NotStarted(_) | Interrupted::Config(_))) => End::NotStarted(e),
        }
    }

    #[cfg(feature = "metrics")]
    fn outcome(&self) -> Outcome {
        match self {
            End::Completed => Outcome::Completed,
            End::Failed(_) => Outcome::Failed,
            End::Panicked(_) => Outcome::Panicked,
            End::Stopped(_) | End::NotStarted(_) => Outcome::Cancelled,
        }
    }
}

/// Calls into the user's subscriber or recorder (user code, which may panic: a bug in it, or
/// a lock it poisoned earlier). A panic there is caught where the library calls it, so that it
/// cannot cut a scope's or a child's bookkeeping short (a unit never given back would keep the
/// scope from resolving); the panic hook has reported it where it happened, and the hook's
/// work is skipped (`None`). With the features off nothing calls it.
#[cfg(any(feature = "tracing", feature = "metrics"))]
pub(crate) fn hook<R>(f: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            crate::error::drop_after_panic(payload);
            None
        }
    }
}

/// Entered around a poll (the scope's or child's span, when the `tracing` feature is on).
pub(crate) type Entered<'a> = span::SpanGuard<'a>;

/// What a scope (or a service) keeps for observability.
pub(crate) struct ScopeObs {
    id: TaskId,
    record: Option<Arc<Record>>,
    span: span::ScopeSpan,
    metrics: metrics::ScopeMetrics,
    /// What was reported ([`CANCEL_REPORTED`], [`END_REPORTED`]), and whether a race won
    /// ([`WON`]): each is reported once, whichever path sees it first.
    reported: AtomicU8,
}

/// The scope's cancel was reported.
const CANCEL_REPORTED: u8 = 1;
/// The scope's end was reported.
const END_REPORTED: u8 = 2;
/// A race's candidate won: its cancel of the others is the race's end, not a cancellation,
/// and the failures of candidates before it are not the race's.
const WON: u8 = 4;
/// The scope has a deadline of its own (its `Config` gave one): a deadline that cancels it is
/// its own to report; one it inherited, the scope that set it reports.
const OWN_DEADLINE: u8 = 8;
/// The scope runs in no scope's or service's code (it is entered under the application's
/// context, a root of the program's own, a bridged token's): no reporter above it hears of a
/// cancel that comes from its context's ancestors, so it reports such a cancel (and an
/// inherited deadline) as its own, at the level of a cancel.
const TOPMOST: u8 = 16;

impl ScopeObs {
    /// A scope entered under `parent`, with its own context `cx`.
    pub(crate) fn scope(
        info: &TaskInfo,
        cx: &Cx,
        parent: &Cx,
        own_deadline: bool,
        topmost: bool,
    ) -> Self {
        let record = is_tracking()
            .then(|| Record::register(info.clone(), TaskKind::Scope, cx, Some(parent), None));
        let flags = if own_deadline { OWN_DEADLINE } else { 0 } | if topmost { TOPMOST } else { 0 };
        ScopeObs {
            id: info.id(),
            record,
            span: span::ScopeSpan::new(info, TaskKind::Scope),
            metrics: metrics::ScopeMetrics::new(info),
            reported: AtomicU8::new(flags),
        }
    }

    /// A service, with its root context `cx`: running from its creation.
    pub(crate) fn service(info: &TaskInfo, cx: &Cx) -> Self {
        let record = is_tracking()
            .then(|| Record::register(info.clone(), TaskKind::Service, cx, None, None));
        let obs = ScopeObs {
            id: info.id(),
            record,
            span: span::ScopeSpan::new(info, TaskKind::Service),
            metrics: metrics::ScopeMetrics::new(info),
            reported: AtomicU8::new(0),
        };
        obs.started();
        obs
    }

    /// Around each poll of the scope's run.
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        self.span.enter()
    }

    /// The run started.
    pub(crate) fn started(&self) {
        if let Some(r) = &self.record {
            r.set_state(RUNNING);
        }
        self.metrics.started();
    }

    /// Sets `flag`; the flags before.
    fn mark(&self, flag: u8) -> u8 {
        self.reported.fetch_or(flag, Ordering::AcqRel)
    }

    /// A race's candidate won (before its cancel of the others).
    pub(crate) fn won(&self) {
        self.reported.fetch_or(WON, Ordering::Release);
    }

    /// The scope's cancel gave it `grace` (not zero), which is now running.
    #[cold]
    pub(crate) fn grace_began(&self, grace: std::time::Duration) {
        self.span.grace_began(grace);
    }

    /// The scope's grace ran out with work still running (its body, children or shields):
    /// the run aborts what is left. Once per run (a run's grace runs out once).
    #[cold]
    pub(crate) fn grace_ran_out(&self) {
        self.span.grace_ran_out();
    }

    /// The run saw its context cancelled (reported once, and not for a race's win).
    pub(crate) fn cancelled(&self, cx: &Cx) {
        if cfg!(any(feature = "tracing", feature = "metrics")) {
            let before = self.mark(CANCEL_REPORTED);
            // (Not after its end either: a drained service stopped later.)
            if before & (CANCEL_REPORTED | END_REPORTED) != 0 {
                return;
            }
            if let Some(cause) = cx.cause_arc() {
                // A race's win is its end, not a cancellation (a body's failure that answered
                // the race first leaves no win).
                if before & WON != 0 {
                    return;
                }
                // In no scope's or service's code: nobody above reports what comes down,
                // unless a scope's context was handed down (either side of a merge).
                let topmost = before & TOPMOST != 0;
                match &*cause {
                    Cause::DeadlineExceeded { .. } => {
                        // Fired at this scope's context, which owns the deadline (one it
                        // inherited is recorded as its parent's: the arm below); a deadline
                        // handed down from a scope is that scope's to report.
                        let ours = before & OWN_DEADLINE != 0
                            || (topmost && !cx.deadline_from_a_scope_above());
                        if ours {
                            self.span.cancelled(&cause, false);
                        } else {
                            let passed = Cause::ParentCancelled(Arc::clone(&cause));
                            self.span.cancelled(&passed, false);
                        }
                        self.metrics.cancelled(ours);
                    }
                    Cause::ParentCancelled(_) => {
                        // A deadline this scope inherited from a scope above (and did not set
                        // itself) is recorded here as that scope's, and is that scope's to
                        // report, whichever of the two looked first.
                        let said_above = !topmost
                            || cx.a_scope_above_has(&cause)
                            || (before & OWN_DEADLINE == 0
                                && cause.is_deadline()
                                && cx.deadline_from_a_scope_above());
                        let deadline =
                            !said_above && matches!(cause.root(), Cause::DeadlineExceeded { .. });
                        self.span.cancelled(&cause, !said_above);
                        self.metrics.cancelled(deadline);
                    }
                    _ => {
                        self.span.cancelled(&cause, false);
                        self.metrics.cancelled(false);
                    }
                }
            }
        }
    }

    /// The run is about to resolve: every child has ended and the scope's last cancel has run.
    /// `cause`: why its context was cancelled before its end, if it was; `panicked`: the body
    /// panicked, or a panic is among the failures kept; `failed`: failures were kept.
    pub(crate) fn finished(&self, cause: Option<&Cause>, panicked: bool, failed: bool) {
        if let Some(r) = &self.record {
            r.set_state(FINISHED);
        }
        if cfg!(any(feature = "tracing", feature = "metrics")) {
            let before = self.mark(END_REPORTED);
            if before & END_REPORTED != 0 {
                return;
            }
            let outcome = if before & WON != 0 {
                // A race that has its winner: it completed, unless a candidate panicked (a
                // panic is never dropped for a winner).
                if panicked {
                    Outcome::Panicked
                } else {
                    Outcome::Completed
                }
            } else {
                scope_outcome(cause, panicked, failed)
            };
            self.span.finished(outcome);
            self.metrics.finished(outcome);
        }
    }

    /// The run was refused for its configuration: it has returned (it never started, so
    /// nothing is counted).
    pub(crate) fn refused(&self) {
        if let Some(r) = &self.record {
            r.set_state(FINISHED);
        }
    }

    /// The scope value is gone: it leaves the tree.
    pub(crate) fn closed(&self) {
        if let Some(r) = &self.record {
            r.unregister();
        }
    }
}

impl Drop for ScopeObs {
    fn drop(&mut self) {
        self.closed();
    }
}

#[cfg_attr(
    not(any(feature = "tracing", feature = "metrics")),
    allow(dead_code) // Reason: only the features read it.
)]
fn scope_outcome(cause: Option<&Cause>, panicked: bool, failed: bool) -> Outcome {
    if panicked {
        return Outcome::Panicked;
    }
    match cause {
        Some(Cause::Panicked { .. }) => Outcome::Panicked,
        Some(Cause::SiblingFailed { .. }) => Outcome::Failed,
        _ if failed => Outcome::Failed,
        Some(_) => Outcome::Cancelled,
        None => Outcome::Completed,
    }
}

/// What a child keeps for observability (with the features off, one byte: whether it has a
/// record in the tree, which it finds by its id).
pub(crate) struct ChildObs {
    tracked: bool,
    span: span::ChildSpan,
    #[cfg(feature = "metrics")]
    started: bool,
}

impl ChildObs {
    /// A child of `scope`, created (spawned) now; `spawned`: a runtime task of its own.
    #[inline]
    pub(crate) fn new(scope: &ScopeObs, info: &TaskInfo, cx: &Cx, spawned: bool) -> Self {
        let kind = if spawned {
            TaskKind::Spawned
        } else {
            TaskKind::InPlace
        };
        Self::of(scope, info, cx, kind)
    }

    /// A blocking child of `scope`, created now (queued until its thread runs it).
    pub(crate) fn blocking(scope: &ScopeObs, info: &TaskInfo, cx: &Cx) -> Self {
        Self::of(scope, info, cx, TaskKind::Blocking)
    }

    /// A task of the service `service`, handed to it now: queued until it
    /// [starts](ServiceTaskObs::started) (at once, unless it waits for a worker).
    pub(crate) fn service_task(service: &ScopeObs, info: &TaskInfo, cx: &Cx) -> ServiceTaskObs {
        let child = Self::of(service, info, cx, TaskKind::ServiceTask);
        // A runtime task from the start, though it may wait for a worker.
        child.handed_over(info);
        ServiceTaskObs {
            id: info.id(),
            child,
        }
    }

    #[inline]
    fn of(scope: &ScopeObs, info: &TaskInfo, cx: &Cx, kind: TaskKind) -> Self {
        let tracked = is_tracking();
        if tracked {
            register_child(info, kind, cx, scope.id);
        }
        scope.metrics.child_created();
        ChildObs {
            tracked,
            span: span::ChildSpan::new(&scope.span, scope.id, info, kind),
            #[cfg(feature = "metrics")]
            started: false,
        }
    }

    /// Around each poll of the child.
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        self.span.enter()
    }

    /// Handed to the runtime, not started yet (a spawned child or a service task as a task, a
    /// blocking child to the blocking pool): it will run, unlike a child waiting in its scope's
    /// queue (the leak check tells them apart).
    pub(crate) fn handed_over(&self, info: &TaskInfo) {
        if self.tracked {
            set_state_cold(info.id(), HANDED_OVER);
        }
    }

    /// Its first poll.
    #[inline]
    pub(crate) fn started(&mut self, scope: &ScopeObs, info: &TaskInfo) {
        if self.tracked {
            set_state_cold(info.id(), RUNNING);
        }
        #[cfg(feature = "metrics")]
        {
            self.started = true;
        }
        scope.metrics.child_started();
    }

    /// It ended with `out` (completed, failed, panicked, aborted or never started): it leaves
    /// the tree now, before its scope can see it gone. Called once, by each way a child ends.
    #[inline]
    pub(crate) fn ended<T>(
        &mut self,
        scope: &ScopeObs,
        info: &TaskInfo,
        out: &Result<T, Interrupted>,
    ) {
        self.ended_settled(scope, info, out, None);
    }

    /// It ended, and nothing reports how: it leaves the tree (what [`ended`](ChildObs::ended)
    /// does when no event or metric is built; see [`OBSERVED`]).
    #[inline]
    pub(crate) fn unregister(&mut self, id: TaskId) {
        if std::mem::take(&mut self.tracked) {
            unregister_cold(id);
        }
    }

    /// [`ended`](ChildObs::ended), `answered`: the error it returned, which answered its
    /// scope's cancel (fail-fast after the first failure, a race's loser after the win):
    /// reported as a stop with that error, not a failure.
    #[inline]
    pub(crate) fn ended_settled<T>(
        &mut self,
        scope: &ScopeObs,
        info: &TaskInfo,
        out: &Result<T, Interrupted>,
        answered: Option<&crate::error::ChildFailed>,
    ) {
        self.unregister(info.id());
        if OBSERVED {
            // An error that answered a cancel is told as the stop it is, with the error.
            let end = match answered {
                Some(failed) => End::Stopped(failed),
                None => End::of_child(out),
            };
            self.end(scope, info, &end);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = scope;
    }

    /// Its events and metrics for `end`.
    fn end(&self, scope: &ScopeObs, info: &TaskInfo, end: &End<'_>) {
        self.span.ended(info, end);
        #[cfg(feature = "metrics")]
        scope.metrics.child_ended(self.started, end.outcome());
        #[cfg(not(feature = "metrics"))]
        let _ = scope;
    }
}

/// What a service task keeps for observability: its id, and the rest as a child's.
pub(crate) struct ServiceTaskObs {
    id: TaskId,
    child: ChildObs,
}

impl ServiceTaskObs {
    /// The task starts its work (it had a worker, or needed none).
    pub(crate) fn started(&mut self, service: &ScopeObs, info: &TaskInfo) {
        self.child.started(service, info);
    }

    /// Around each poll of the task.
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        self.child.enter()
    }

    /// The task is being dropped, having ended as `end` (completed, failed, panicked, or
    /// stopped before it completed).
    pub(crate) fn service_ended(&mut self, service: &ScopeObs, info: &TaskInfo, end: &End<'_>) {
        if std::mem::take(&mut self.child.tracked) {
            unregister_cold(self.id);
        }
        if cfg!(any(feature = "tracing", feature = "metrics")) {
            self.child.end(service, info, end);
        }
    }
}

/// An incarnation of supervised child `child` (of the supervisor's scope `scope`) ended with
/// `error` (`None`: it returned normally; `panicked`: the error stands for its panic), and its
/// supervisor decided `action`: an event in the current span (the child's: the supervisor's
/// loop runs in it) and a count, as "Tracing" and "Metrics" above say. The error's `Display`
/// runs inside the hook.
#[cold]
pub(crate) fn incarnation_ended(
    scope: &TaskInfo,
    child: &TaskInfo,
    attempt: u32,
    error: Option<&dyn std::fmt::Display>,
    panicked: bool,
    action: &'static str,
) {
    if cfg!(any(feature = "tracing", feature = "metrics")) {
        span::incarnation_ended(child, attempt, error, panicked, action);
        let outcome = match (error, panicked) {
            (None, _) => Outcome::Completed,
            (Some(_), false) => Outcome::Failed,
            (Some(_), true) => Outcome::Panicked,
        };
        metrics::incarnation_ended(scope, child, outcome, action);
    }
}

/// A child's own context was created (off the hot path: only when something needs it): its
/// record in the tree, if it has one, runs with it from now on (also when tracking was turned
/// off since the record was made: it may be turned on again while the child runs). No record
/// at all, nothing to look up.
#[cold]
#[inline(never)]
pub(crate) fn own_cx_created(id: TaskId, cx: &Cx) {
    if tree::has_records() {
        tree::set_own_cx(id, cx);
    }
}

/// Out of the child's path: taken only while tracking is on.
#[cold]
#[inline(never)]
fn register_child(info: &TaskInfo, kind: TaskKind, cx: &Cx, scope: TaskId) {
    let _ = Record::register(info.clone(), kind, cx, None, Some(scope));
}

#[cold]
#[inline(never)]
fn set_state_cold(id: TaskId, state: u8) {
    tree::set_state(id, state);
}

#[cold]
#[inline(never)]
fn unregister_cold(id: TaskId) {
    tree::unregister(id);
}
