//! What children and scopes return: the shapes a child may return, how a child's end is
//! settled with its scope (the policies: fail-fast and supervise), and how a finished scope
//! turns what happened into its result.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use super::mode::sealed;
use super::tracker::Tracker;
use super::{Shared, BODY_FAILED};
use crate::cause::Cause;
use crate::error::{
    drop_after_panic, drop_caught, panic_message, resume_unless_unwinding, ChildFailed, Failure,
    Failures, Interrupted, NotStarted, Panicked,
};
use crate::info::TaskInfo;
use crate::sync::{AtomicU8, Ordering};

/// The policy a scope's run chose (fail-fast for `run`, supervise for `run_all`), claimed
/// together with the run: see [`Policy::claim`].
pub(crate) struct Policy(AtomicU8);

const UNCLAIMED: u8 = 0;
const FAIL_FAST: u8 = 1;
const SUPERVISE: u8 = 2;

impl Policy {
    pub(crate) fn new() -> Self {
        Self(AtomicU8::new(UNCLAIMED))
    }

    /// Claims the scope's one run for a policy: `false` when another run had it (the policy
    /// is then the other's, unchanged). The policy is stored before the tracker is marked
    /// started, so that whoever sees the scope started (a spawn on another thread, through
    /// the start's Acquire) settles its child under it, not under the default. A run refused
    /// for its configuration claims without `start`: its scope is never marked started, so
    /// no spawn racing it from another thread becomes a task the refused run would leave
    /// behind (it waits in admission, which the refusal empties).
    pub(crate) fn claim(&self, tracker: &Tracker, supervise: bool, start: bool) -> bool {
        let policy = if supervise { SUPERVISE } else { FAIL_FAST };
        // Relaxed: published by the tracker's start (AcqRel), later in this thread. Only
        // the first claim stores: a second run, even a concurrent one, changes nothing.
        self.0
            .compare_exchange(UNCLAIMED, policy, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            && !(start && tracker.start())
    }

    /// Whether the run supervises (fail-fast until a run claimed the scope).
    pub(crate) fn supervises(&self) -> bool {
        // Relaxed: read by children started after the run's start was seen (see `claim`).
        self.0.load(Ordering::Relaxed) == SUPERVISE
    }
}

/// What a child (or a race's body) may return: `()` or `Result<T, E>` with the scope's error
/// type (and [`Never`], a child that never returns). These are all: the trait cannot be
/// implemented for other types (its impl for `Never` overlaps any other in the compiler's
/// eyes); return `Ok(value)` for a value of your own.
///
/// # Examples
///
/// ```
/// use scope::TaskOutput;
/// let ok: Result<u8, String> = TaskOutput::<String>::into_result(Ok::<u8, String>(1));
/// assert_eq!(ok, Ok(1));
/// assert_eq!(TaskOutput::<String>::into_result(()), Ok(()));
/// ```
#[diagnostic::on_unimplemented(
    message = "a child of this scope must return `()` or `Result<_, {E}>`, not `{Self}`",
    label = "this future's output is `{Self}`",
    note = "wrap the value: `Ok::<_, {E}>(value)`, or convert the error with `map_err` / `?`"
)]
pub trait TaskOutput<E> {
    /// The success value.
    type Ok;
    /// Splits the output into success and failure.
    fn into_result(self) -> Result<Self::Ok, E>;
}

/// What a scope's **body** may return: what a child may ([`TaskOutput`]), asked of the body
/// under its own name, so that a body that is not a `Result` (an `Ok(..)` forgotten, a
/// child's result handed on with the child's error type) is told so, not "a child". Every
/// [`TaskOutput`] is one, and nothing else.
///
/// # Examples
///
/// ```
/// use scope::{BodyOutput, Interrupted};
/// fn body_value<O: BodyOutput<Interrupted>>(out: O) -> Result<O::Ok, Interrupted> {
///     out.into_body_result()
/// }
/// assert_eq!(body_value(Ok::<_, Interrupted>(7)).unwrap(), 7);
/// assert_eq!(body_value(()).unwrap(), ());
/// ```
#[diagnostic::on_unimplemented(
    message = "this scope's body must end with a `Result<_, {E}>` (or `()`), not `{Self}`",
    label = "the body's value is `{Self}`",
    note = "the body's value is the scope's result: end it with `Ok(value)`; a child's result \
            is `Ok(child.await?)` (`?` converts the child's error into `{E}`)"
)]
pub trait BodyOutput<E> {
    /// The success value.
    type Ok;
    /// Splits the output into success and failure.
    fn into_body_result(self) -> Result<Self::Ok, E>;
}

// Not recommended: a body that is no `TaskOutput` is told of the body, not of "a child".
#[diagnostic::do_not_recommend]
impl<T: TaskOutput<E>, E> BodyOutput<E> for T {
    type Ok = T::Ok;
    fn into_body_result(self) -> Result<T::Ok, E> {
        self.into_result()
    }
}

/// What a race's **body** may return: `()` or `Result<(), E>`. A race's body only starts the
/// candidates; the race's value is the winner's, never the body's, so a body that ends with
/// a value is told so.
///
/// # Examples
///
/// ```
/// use scope::{Config, Interrupted, Race, RaceBodyOutput};
/// fn starts_only<O: RaceBodyOutput<Interrupted>>(_: O) {}
/// starts_only(());
/// starts_only(Ok::<(), Interrupted>(()));
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let race = &Race::<u8, Interrupted>::new(Config::new());
/// let out = race
///     .run(async {
///         race.spawn(async { Ok::<u8, Interrupted>(7) });
///         Ok(()) // not `Ok(7)`: the winner's value is the race's
///     })
///     .await;
/// assert_eq!(out.unwrap(), 7);
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "a `first_ok` race\'s body must end with `Ok(())` (or `()`), not `{Self}`",
    label = "the body\'s value is `{Self}`",
    note = "the body only starts the candidates: the race\'s value is the winner\'s, so end \
            the body with `Ok(())` and return the value from a candidate",
    note = "its error type is the race\'s, `{E}`: a body\'s `?` converts other errors into it"
)]
pub trait RaceBodyOutput<E>: TaskOutput<E, Ok = ()> {}

// Not recommended: a body whose value is no `()` success is told of the race's body, not of
// the associated type.
#[diagnostic::do_not_recommend]
impl<T: TaskOutput<E, Ok = ()>, E> RaceBodyOutput<E> for T {}

impl<T, E> TaskOutput<E> for Result<T, E> {
    type Ok = T;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

impl<E> TaskOutput<E> for () {
    type Ok = ();
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<E> TaskOutput<E> for Infallible {
    type Ok = Infallible;
    fn into_result(self) -> Result<Infallible, E> {
        match self {}
    }
}

/// Names the never type `!` on stable Rust, so that a child that never returns
/// (`spawn!(async { loop { .. } })`, a server loop) is a [`TaskOutput`]: [`Never`] is the
/// output of `fn() -> !`.
///
/// # Examples
///
/// Any function type names its output this way; see [`Never`] for the child that never
/// returns.
///
/// ```
/// use scope::HasOutput;
/// let n: <fn() -> u8 as HasOutput>::Output = 7;
/// assert_eq!(n, 7u8);
/// ```
pub trait HasOutput {
    /// The output of the function type.
    type Output;
}

impl<T> HasOutput for fn() -> T {
    type Output = T;
}

/// The never type `!`: the output of a future that never completes (its handle's value, which
/// never comes, has this type).
///
/// # Examples
///
/// A child that loops for ever is a child like any other: stopped with its scope, or alone.
/// (Under edition 2024 such a future's output is `!`; under 2021 it falls back to `()`. Both
/// are children.)
///
/// Under edition 2024 its handle is a `Child<'_, Never>`: awaited, it gives
/// `Result<Never, E>`, which is not a `Result<(), E>`. `Ok(server.await?)` in a body that
/// returns `Result<(), E>` fails with "type mismatch resolving `<! as TaskOutput<..>>::Ok ==
/// ()`" (under 2021, with "specify the types explicitly"). A `#[scoped]` fn's body may end
/// with `match server.await? {}` (the value cannot exist; the fn's return type says the
/// body's). A `scope!` body has no return type to take its type from: write
/// `server.await?;`, then the body's value (`Ok(())`).
///
/// ```edition2024
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Never, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// let out = s
///     .run(async {
///         let server: scope::Child<'_, Never> = s.spawn(async {
///             loop {
///                 tokio::time::sleep(Duration::from_secs(1)).await; // serve
///             }
///         });
///         tokio::time::sleep(Duration::from_secs(5)).await;
///         server.abort();
///         let Err(stopped) = server.await;
///         assert!(matches!(stopped, Interrupted::Cancelled(_)));
///         Ok::<_, Interrupted>("served")
///     })
///     .await;
/// assert_eq!(out.unwrap(), "served");
/// # });
/// ```
pub type Never = <fn() -> ! as HasOutput>::Output;

impl<E> TaskOutput<E> for Never {
    type Ok = Never;
    #[allow(unreachable_code)] // Reason: a value of the never type does not exist.
    fn into_result(self) -> Result<Never, E> {
        Ok(self)
    }
}

/// A failure's message: the error's `Display`, which is user code (run with no lock held). A
/// panic there is a panic of the task whose error it is: the caller reports it as one.
pub(crate) fn message_of<E: fmt::Display>(error: &E) -> Result<String, Box<dyn Any + Send>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| error.to_string()))
}

impl<E: From<Interrupted> + fmt::Display> Shared<E> {
    /// Turns a child's end into what its handle sees, telling the scope about failures; also,
    /// for an error it returned that was a consequence of the scope's cancel (not kept as a
    /// failure: fail-fast after the first, a race's loser after the win), that error, which
    /// its events report as a stop (`task stopped before completing`, with the error).
    ///
    /// `cancelled_alone` gives the cause when the child itself was cancelled (by its handle,
    /// the scope running on): an error it returns then is the consequence of that cancel, not
    /// a failure of the scope, and its handle sees the cancel.
    ///
    /// `scope_cancelled`: whether the scope may have been cancelled when the error was
    /// returned (`false` when it was read not to be then: an error returned before the
    /// scope's cancel is no consequence of it, however late it is settled).
    ///
    /// An error the scope drops (the handle sees the cancel, or it is a consequence) is
    /// dropped here, with no lock held: a panic of its `Drop` is the child's panic.
    pub(crate) fn settle<O: TaskOutput<E>>(
        &self,
        task: &TaskInfo,
        out: Result<O, Box<dyn Any + Send>>,
        cancelled_alone: impl FnOnce() -> Option<Arc<Cause>>,
        scope_cancelled: bool,
    ) -> (Result<O::Ok, Interrupted>, Option<ChildFailed>) {
        let error = match out {
            Ok(out) => match out.into_result() {
                Ok(value) => return (Ok(value), None),
                Err(error) => error,
            },
            Err(payload) => {
                // No value of its own: a cancel that came after the body's value cut its
                // work short (the panic is reported all the same).
                self.cut_short(|| false);
                return (Err(self.panicked(task, payload).into()), None);
            }
        };
        if let Some(cause) = cancelled_alone() {
            self.item_stopped_alone(&cause);
            return match self.in_cx(|| drop_caught(error)) {
                Ok(()) => (Err(Interrupted::from_shared_cause(cause)), None),
                Err(payload) => (Err(self.panicked(task, payload).into()), None),
            };
        }
        // An error after its scope's cancel: a cancel that came after the body's value has cut
        // this child's work short (whatever its `Display` does below).
        self.cut_short(|| false);
        let cancelled = scope_cancelled && self.cancelled_ahead_of(task);
        let message = match self.in_cx(|| message_of(&error)) {
            Ok(message) => message,
            Err(payload) => {
                self.in_cx(|| drop_after_panic(error));
                return (Err(self.panicked(task, payload).into()), None);
            }
        };
        match self.fail(task, error, message.clone(), false, cancelled) {
            // Dropped under fail-fast as the consequence of the scope's cancel (its own, or
            // the first failure's), or, in a race that has its winner, answering the win's
            // cancel (reported as a stop; kept all the same, for a race that a panic makes
            // fail): no failure anyone reports, so the handle reads the cancel the child
            // answered, as when it was cancelled alone. (A supervised scope's error not kept
            // is counted: a failure. Concurrent with the first failure kept, before that
            // one's cancel is in, the failure is read as before.)
            // Acquire: pairs with the race's store of its win.
            // (Its events tell the error it answered with, whatever the handle reads.)
            Ok(kept) if (!kept && !self.supervise()) || self.won.load(Ordering::Acquire) => {
                let answered = ChildFailed::new(task.clone(), message);
                match self.cause_own() {
                    Some(cause) => (
                        Err(Interrupted::from_shared_cause(crate::cx::inherited(&cause))),
                        Some(answered),
                    ),
                    None => (Err(answered.clone().into()), Some(answered)),
                }
            }
            // Kept, or a supervised scope's failure past those it keeps (counted): a failure,
            // and its events say so.
            Ok(_) => (Err(ChildFailed::new(task.clone(), message).into()), None),
            Err(payload) => (Err(self.panicked(task, payload).into()), None),
        }
    }

    /// A child's error answered a cancel of its own: in a map's scope, the first such cause is
    /// kept for the report, and under fail-fast it stops the map, as an item's error read
    /// from its handle does (the scope's cancel runs callbacks: no lock is held here).
    fn item_stopped_alone(&self, cause: &Arc<Cause>) {
        let first = {
            let mut own = self.items_own.lock();
            let first = matches!(*own, super::ItemsOwn::Watching);
            if first {
                *own = super::ItemsOwn::Kept(Arc::clone(cause));
            }
            first
        };
        if first && !self.supervise() {
            self.cancel_own(Cause::clone(cause));
        }
    }

    /// Records a failure of `task` (a child's error, or the body's own with `body`). Under
    /// fail-fast only the first failure is kept, and only while the scope is not yet
    /// cancelled (later errors are consequences); the one kept cancels the siblings and
    /// closes admission (one dropped does not: the scope is cancelled already, or the kept
    /// one is about to, and its cause must name the failure the scope returns). Under
    /// supervise every child's failure is kept, and the body's unless the scope was cancelled
    /// already (then it answers that cancel, which the scope's own entry reports); only the
    /// body's cancels.
    /// `cancelled`: [`cancelled_ahead_of`](Shared::cancelled_ahead_of) the task, read before
    /// the error was described.
    /// Returns whether it was kept, or the panic of the error's `Drop` when it was dropped
    /// (the task's panic, for the caller to report).
    pub(crate) fn fail(
        &self,
        task: &TaskInfo,
        error: E,
        message: String,
        body: bool,
        cancelled: bool,
    ) -> Result<bool, Box<dyn Any + Send>> {
        let supervise = self.supervise();
        let (kept, rejected) = {
            let mut failures = self.failures.lock();
            // Past the first `KEPT`, a supervised scope counts its children's failures (a
            // long-lived one, an accept loop, would keep each one for its whole life).
            let keep = if supervise {
                !(body && cancelled) && (body || failures.len() < KEPT)
            } else {
                !cancelled && failures.is_empty()
            };
            if keep && !self.unreported() {
                failures.push(Kept::Failed(Failure::new(task.clone(), error)));
                (true, None)
            } else {
                // Once no report will read it (the run was dropped, or its body's panic is
                // its outcome: a child in its grace fails), a failure is dropped here, not
                // kept for the scope's last reference to drop outside its context; it is a
                // failure all the same (kept, for what the handle and the events say).
                (keep, Some(error))
            }
        };
        // A consequence (or a failure no report reads), dropped (user code) outside the lock;
        // the cancel and the close happen whatever its `Drop` does.
        if supervise && !kept && !(body && cancelled) {
            self.not_kept.fetch_add(1, Ordering::Relaxed);
        }
        let dropped = match rejected {
            Some(rejected) => self.in_cx(|| drop_caught(rejected)),
            None => Ok(()),
        };
        if kept && (!supervise || body) {
            // A race's body failure answers it unless a candidate's value won first (the run
            // made the exchange at its look, before the error's `Display`): then the win's
            // cancel stops the race, and this error is dropped with the losers'.
            let answers = !body || self.answered_by.load(Ordering::Acquire) == BODY_FAILED;
            if answers {
                self.cancel_own(Cause::SiblingFailed {
                    task: task.clone(),
                    message,
                });
            }
            self.close_admission();
        }
        dropped.map(|()| kept)
    }
}

impl<E> Shared<E> {
    /// A child gives up on its own (a supervisor's child past its restart budget), ahead of
    /// the failure it will return: the scope is cancelled now, naming it, as a failure kept
    /// under fail-fast would (a callback's panic there is the scope's), and the failure it
    /// returns after is kept whatever cancel came meanwhile (`fail`).
    pub(crate) fn give_up(&self, task: &TaskInfo, message: String) {
        // Noted before the cancel: one from outside that lands first (its decision was made
        // before that cancel was seen) does not make the failure its consequence.
        let _ = self.gave_up.compare_exchange(
            0,
            task.id().as_u64(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.cancel_own(Cause::SiblingFailed {
            task: task.clone(),
            message,
        });
        self.close_admission();
    }

    /// Whether the scope was cancelled before `task`'s failure, which is then that cancel's
    /// consequence. Read before the error's `Display` runs to describe it: a cancel that user
    /// code makes there came after the failure, which it cannot have caused.
    pub(crate) fn cancelled_ahead_of(&self, task: &TaskInfo) -> bool {
        // Outside any lock: a deadline may fire here and run `on_cancel` callbacks. A cancel
        // made for this very failure (a supervisor's give-up, see `give_up`) is no other
        // cause it could be a consequence of. An ancestor's cancel still on its way down
        // counts (the failure may be its consequence: a shutdown's callback closed what the
        // child used).
        self.caught_up_own() && !self.cancelled_for(task)
    }

    /// Whether `task` gave up (its give-up cancelled the scope, or would have but for a
    /// cancel that landed first).
    fn cancelled_for(&self, task: &TaskInfo) -> bool {
        // Acquire: pairs with the give-up's store.
        self.gave_up.load(Ordering::Acquire) == task.id().as_u64()
            || self.cause_own().is_some_and(
                |c| matches!(&*c, Cause::SiblingFailed { task: t, .. } if t.id() == task.id()),
            )
    }

    /// Records a panic of `task`: whatever the policy, it cancels the siblings at once. Under
    /// fail-fast it is kept if no failure was (even after an outside cancellation: a panic is
    /// never a consequence of one), nor a sibling's give-up. Returns what the task's handle sees (the payload stays
    /// with the scope, for the caller to resume).
    pub(crate) fn panicked(&self, task: &TaskInfo, payload: Box<dyn Any + Send>) -> Panicked {
        match self.record_panic(task, payload, false) {
            Ok(seen) => seen,
            // (Only a late panic is handed back.)
            Err(payload) => Panicked::new(task.clone(), payload),
        }
    }

    /// A panic of `task` after its end (its value's destructor, as its handle dropped the
    /// value unread): recorded as [`panicked`](Shared::panicked) does while the run goes on;
    /// handed back once the run has ended (no outcome is left to join it). The choice is made
    /// under the lock the run's end is marked under (see `end_run`), so that a panic is
    /// either in the failures the report takes or handed back, never lost between the two.
    pub(crate) fn panicked_late(
        &self,
        task: &TaskInfo,
        payload: Box<dyn Any + Send>,
    ) -> Option<Box<dyn Any + Send>> {
        self.record_panic(task, payload, true).err()
    }

    /// Drops what a refused child would have run (its future or closure), with no lock held,
    /// and says what its handle reads: that it never started, for `cause`, or its
    /// destructor's panic, which is the child's: recorded as [`panicked`](Shared::panicked)
    /// does while the run goes on (or before it starts). Once the run has ended no outcome is
    /// left to join it, and the panic goes on in the caller (unless the caller is unwinding
    /// already, a spawn from a `Drop`: a second panic there would abort the process).
    pub(crate) fn drop_refused<T, W>(
        &self,
        task: &TaskInfo,
        what: W,
        cause: Arc<Cause>,
    ) -> Result<T, Interrupted> {
        match drop_caught(what) {
            Ok(()) => Err(NotStarted::from_shared_cause(cause).into()),
            Err(payload) => match self.record_panic(task, payload, true) {
                Ok(panicked) => Err(panicked.into()),
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    resume_unless_unwinding(payload);
                    Err(Panicked::without_payload(task.clone(), message).into())
                }
            },
        }
    }

    /// The run has ended (returned, refused, or `dropped`): marked under the failures' lock
    /// (see `panicked_late`). A late panic of a run dropped is kept, not handed back: the drop
    /// takes what was kept once its children are dropped (see `drop_kept`).
    pub(crate) fn end_run(&self, dropped: bool) {
        let _failures = self.failures.lock();
        if dropped {
            self.set_run_dropped();
        }
        self.run_ended.store(true, Ordering::Release);
    }

    /// The failures kept for a report nobody will make (the run was dropped, or its body's
    /// panic is its outcome): taken, with none kept from now on, and dropped inside the
    /// scope's context, each under a catch. With `panics_up` (the run was dropped with no
    /// panic of its own to resume), a panic among them, or of their destructors, and one that
    /// comes later, goes to the enclosing scope (see `panic_upward`); otherwise the run's own
    /// panic is its outcome, and these are dropped (the panic hook printed each as it came).
    pub(crate) fn drop_kept(&self, panics_up: bool) {
        let kept = {
            let mut failures = self.failures.lock();
            self.set_unreported(panics_up);
            std::mem::take(&mut *failures)
        };
        if kept.is_empty() {
            return;
        }
        if !panics_up {
            self.in_cx(|| kept.into_iter().for_each(drop_after_panic));
            return;
        }
        // They do not unwind the code that dropped the run (a `FuturesUnordered` of runs
        // stops dropping the others at a panic, and leaks them with their children).
        for kept in kept {
            match kept {
                Kept::Panicked(panic) => match panic.take_payload() {
                    Some(payload) => self.panic_upward(panic.task(), payload),
                    None => self.in_cx(|| drop_after_panic(panic)),
                },
                Kept::Failed(failure) => {
                    let task = failure.task().clone();
                    if let Err(payload) = self.in_cx(|| drop_caught(failure)) {
                        self.panic_upward(&task, payload);
                    }
                }
            }
        }
    }

    /// A panic of `task` that no report of this scope will carry (its run was dropped, or its
    /// body's panic is its outcome): the enclosing scope's, as a panic of work below it (law
    /// 5: a panic always counts, as it would had the code that dropped the run unwound with
    /// it), or, with no enclosing scope that can take it, printed by the hook (as it was
    /// when it happened) and dropped. Two exceptions: a drop made in an unwind keeps to the
    /// panic that unwinds; a supervisor's incarnation that dropped the run in its own poll or
    /// drop, on this thread, takes it as its own crash (restarted under the supervisor's
    /// policy).
    fn panic_upward(&self, task: &TaskInfo, payload: Box<dyn Any + Send>) {
        if std::thread::panicking() {
            // Dropped in an unwind: the panic that unwinds is the dropping code's, and the one
            // reported; this one is dropped, as a second panic is.
            self.in_cx(|| drop_after_panic(payload));
            return;
        }
        let back = match self.tracker.enclosing() {
            // The code that dropped the run first, where it keeps its panics below for itself
            // (a supervisor's incarnation: its crash), else the enclosing scope.
            Some(enclosing) => crate::error::panic_to_code_below(enclosing, payload)
                .and_then(|payload| enclosing.panicked_below(task, payload)),
            None => Some(payload),
        };
        if let Some(back) = back {
            self.in_cx(|| drop_after_panic(back));
        }
    }

    fn record_panic(
        &self,
        task: &TaskInfo,
        payload: Box<dyn Any + Send>,
        late: bool,
    ) -> Result<Panicked, Box<dyn Any + Send>> {
        let message = panic_message(payload.as_ref());
        // Under fail-fast, a sibling's give-up (see `give_up`) has cancelled the scope naming
        // it, and its failure is on its way (kept whatever came meanwhile): a panic now is
        // that cancel's consequence, as one after any failure kept. (Read outside the lock.)
        let after_give_up = !self.supervise()
            && self.cause_own().is_some_and(
                |c| matches!(&*c, Cause::SiblingFailed { task: t, .. } if t.id() != task.id()),
            );
        let rejected = {
            // Under supervise every panic is kept, past the bound on failures too: a panic is
            // a bug, and it cancels the siblings (the bound is for errors, which a long-lived
            // scope may see by the thousand).
            let mut failures = self.failures.lock();
            if self.unreported() && self.panics_up() {
                // No report of this scope will carry it (its run was dropped, and has ended
                // perhaps): it goes up, outside the lock.
                drop(failures);
                self.panic_upward(task, payload);
                return Ok(Panicked::without_payload(task.clone(), message));
            }
            // (A run being dropped keeps it until the drop takes what it kept.)
            let dropping = self.run_dropped() && !self.unreported();
            if late && self.run_ended.load(Ordering::Relaxed) && !dropping {
                // (The payload is handed back, not dropped here.)
                return Err(payload);
            }
            if self.unreported() {
                // The run's own panic unwinds as its outcome: this one is dropped below.
                Some(Panicked::new(task.clone(), payload))
            } else {
                // Release: read by a race once every child has ended.
                self.child_panicked.store(true, Ordering::Release);
                // Kept as it is: `E::from` (user code, which may panic) runs when the scope
                // reports, once every child has drained, not in the middle of this child's
                // bookkeeping. (No user code: a name's clone and a box moved.)
                let panic = Panicked::new(task.clone(), payload);
                // (A run being dropped keeps every panic: each goes up with the drop.)
                if self.supervise() || dropping || (failures.is_empty() && !after_give_up) {
                    failures.push(Kept::Panicked(panic));
                    None
                } else {
                    Some(panic)
                }
            }
        };
        // The payload's `Drop` is user code: outside the lock, inside the scope's context, and
        // this task's panic is reported already.
        let kept = rejected.is_none();
        if rejected.is_some() {
            self.in_cx(|| drop_after_panic(rejected));
        }
        if kept {
            // One dropped does not cancel: the failure kept before it does, and the cause
            // names what the scope returns.
            self.cancel_own(Cause::Panicked {
                task: task.clone(),
                message: message.clone(),
            });
            self.close_admission();
        }
        Ok(Panicked::without_payload(task.clone(), message))
    }
}

/// How many errors of its children a supervised scope keeps (the first ones); it counts the
/// rest ([`Failures::not_kept`](crate::Failures::not_kept)). Panics are always kept.
pub(crate) const KEPT: usize = 256;

/// A failure as the scope keeps it while it runs. A panic becomes an `E` (`From`, user code
/// that may itself panic) only when the scope reports, after every child has drained: a
/// panicking `From` then panics the scope's future there, and cannot lose the child's panic
/// or cut the drain short.
pub(crate) enum Kept<E> {
    Failed(Failure<E>),
    Panicked(Panicked),
}

impl<E: From<Interrupted>> Kept<E> {
    pub(crate) fn into_failure(self) -> Failure<E> {
        match self {
            Kept::Failed(failure) => failure,
            Kept::Panicked(panic) => {
                Failure::named_by_its_error(panic.task().clone(), E::from(panic.into()))
            }
        }
    }
}

/// What is known when a scope finishes.
#[doc(hidden)]
#[derive(Debug)]
pub struct Report<T, E> {
    pub(crate) info: TaskInfo,
    /// The body's value, if it returned one.
    pub(crate) out: Option<T>,
    /// The failures kept under the policy, first to last.
    pub(crate) failures: Vec<Failure<E>>,
    /// The failures a supervised scope counted but did not keep.
    pub(crate) not_kept: usize,
    /// The body returned its value before a cancel of its scope (any: from outside, or a
    /// child's failure or panic) that then stopped a child short: the value did not answer
    /// that cancel (see `Shared::unanswered`).
    pub(crate) unanswered: bool,
    /// Why the scope's context was cancelled, if it was (before it finished).
    pub(crate) cause: Option<Arc<Cause>>,
    /// This call did not run the scope (its run is another's, or it was refused): nothing the
    /// scope's children left (a race's winner) is its to take.
    pub(crate) refused: bool,
}

impl<T, E> Report<T, E> {
    /// Whether making the output from it may drop user code's values (later failures, a
    /// race's losers' errors, a body's value that is not the answer): then it is made inside
    /// the scope's context (`Shared::in_cx`), so their destructors see the scope's slots.
    pub(crate) fn leaves_values(&self) -> bool {
        !self.failures.is_empty() || self.unanswered
    }

    /// A scope that did not run: one failure, of the scope itself.
    pub(crate) fn failed(info: &TaskInfo, error: E) -> Self {
        Report {
            info: info.clone(),
            out: None,
            failures: vec![Failure::of_the_scope(info.clone(), error)],
            not_kept: 0,
            cause: None,
            unanswered: false,
            refused: true,
        }
    }
}

/// How a [`Run`](crate::Run) turns its [`Report`] into the scope's output.
#[doc(hidden)]
pub trait Finish<T, E>: sealed::SealedFinish {
    /// Failures do not cancel the siblings.
    const SUPERVISE: bool;
    type Output;
    fn finish(report: Report<T, E>) -> Self::Output;
}

/// The output shape of [`Scope::run`](crate::Scope::run): `Result<T, E>` with the first failure.
///
/// # Examples
///
/// ```
/// use scope::{Config, FirstFailure, Interrupted, Run, Scope, Sendable};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// let run: Run<'_, '_, Interrupted, Sendable, _, FirstFailure> =
///     s.run(async { Ok::<u8, Interrupted>(1) });
/// let out: Result<u8, Interrupted> = run.await;
/// assert_eq!(out.unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
pub enum FirstFailure {}

/// The output shape of [`Scope::run_all`](crate::Scope::run_all): `Result<T, Failures<E>>` with every failure.
///
/// # Examples
///
/// ```
/// use scope::{AllFailures, Config, Failures, Interrupted, Run, Scope, Sendable};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// let run: Run<'_, '_, Interrupted, Sendable, _, AllFailures> =
///     s.run_all(async { Ok::<u8, Interrupted>(1) });
/// let out: Result<u8, Failures<Interrupted>> = run.await;
/// assert_eq!(out.unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
pub enum AllFailures {}

/// The output shape of a scope whose caller decides from the report itself (every failure,
/// as under supervise): a race, with its winner; a supervised map, whose loop may stop
/// without a value.
#[derive(Debug)]
pub(crate) enum AsReport {}

impl sealed::SealedFinish for FirstFailure {}
impl sealed::SealedFinish for AllFailures {}
impl sealed::SealedFinish for AsReport {}

/// Whether the failures recorded explain why a scope's body gave no value: a failure or a
/// panic that cancelled it, or, with no cancellation at all, the scope's refusal to run (its
/// configuration, or it ran already), which is then its only failure.
pub(crate) fn explained<E>(cause: Option<&Cause>, failures: &[Failure<E>]) -> bool {
    match cause {
        Some(Cause::SiblingFailed { .. } | Cause::Panicked { .. }) | None => !failures.is_empty(),
        Some(_) => false,
    }
}

pub(crate) fn did_not_complete() -> Arc<Cause> {
    Arc::new(Cause::explicit("the scope's body did not complete"))
}

/// The rule both shapes follow: a child's failure or panic always wins; otherwise the body
/// has the last word (its value, even after an outside cancellation: a graceful stop is a
/// success); a body that was dropped (or never ran) leaves the cancellation, and so does a
/// body whose value came before a cancel that then stopped children short (it answered
/// nothing).
impl<T, E: From<Interrupted>> Finish<T, E> for FirstFailure {
    const SUPERVISE: bool = false;
    type Output = Result<T, E>;
    fn finish(report: Report<T, E>) -> Result<T, E> {
        let Report {
            info,
            failures,
            mut out,
            cause,
            unanswered,
            ..
        } = report;
        let mut failures = failures.into_iter();
        if let Some(first) = failures.next() {
            // The first failure is the answer; what else is left (later failures, the body's
            // value) is user code to drop, one at a time under a catch: a panic there must not
            // unwind in place of the answer (and a second one would abort).
            failures.for_each(crate::error::drop_after_panic);
            if let Some(value) = out {
                crate::error::drop_after_panic(value);
            }
            return Err(first.into_error());
        }
        if unanswered {
            // A cancel after the body's value stopped children short: the value did not
            // answer it (user code to drop, under a catch), and the cancellation is the result,
            // unless the value's destructor panicked: a panic wins over a cancellation (under
            // `run_all` it is one more failure).
            if let Some(Err(payload)) = out.take().map(crate::error::drop_caught) {
                return Err(E::from(crate::error::Panicked::new(info, payload).into()));
            }
        }
        if let Some(value) = out {
            return Ok(value);
        }
        Err(E::from(Interrupted::from_shared_cause(
            cause.unwrap_or_else(did_not_complete),
        )))
    }
}

impl<T, E: From<Interrupted>> Finish<T, E> for AllFailures {
    const SUPERVISE: bool = true;
    type Output = Result<T, Failures<E>>;
    fn finish(report: Report<T, E>) -> Result<T, Failures<E>> {
        let mut failures = report.failures;
        let answered = report.out.is_some() && !report.unanswered;
        if !answered && !explained(report.cause.as_deref(), &failures) {
            // A cancellation that no recorded failure explains (a parent, a deadline, an
            // explicit cancel) comes first: it is why the others stopped.
            let cause = report.cause.unwrap_or_else(did_not_complete);
            let interrupted = E::from(Interrupted::from_shared_cause(cause));
            failures.insert(0, Failure::of_the_scope(report.info.clone(), interrupted));
        }
        match report.out {
            Some(value) if failures.is_empty() => Ok(value),
            out => {
                // The body's value, not the answer, is user code to drop: under a catch, its
                // panic one more failure (of the scope), not an unwind in place of them.
                if let Some(Err(payload)) = out.map(crate::error::drop_caught) {
                    let panic = crate::error::Panicked::new(report.info.clone(), payload);
                    failures.push(Failure::named_by_its_error(
                        report.info,
                        E::from(panic.into()),
                    ));
                }
                Err(Failures::kept(failures, report.not_kept))
            }
        }
    }
}

impl<T, E> Finish<T, E> for AsReport {
    const SUPERVISE: bool = true;
    type Output = Report<T, E>;
    fn finish(report: Report<T, E>) -> Report<T, E> {
        report
    }
}
