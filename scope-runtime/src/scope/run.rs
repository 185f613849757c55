//! The run: the future that drives a scope's body and in-place children, handles its
//! cancellation (the grace, then the abort), and resolves once every child, at any depth, has
//! ended.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use tokio::time::Instant;

use crate::timer::{Fired, Timer};

use super::admission::position_from_both_ends;
use super::in_place::{InPlaceSet, Running};
use super::mode::Mode;
use super::outcome::{message_of, BodyOutput, Finish, Kept, Report};
use super::tracker::{abort_epoch, Enclosing, Tracker};
use super::{Control, Deferred, LocalTask, Scope, Shared, Target, BODY_FAILED, OPEN};
use crate::cause::Cause;
use crate::cx::{EnclosingScope, Enter};
use crate::error::{
    drop_after_panic, keep_first, panic_message, ConfigError, Interrupted, Panicked,
};
use crate::sync::Ordering;

/// How many times one poll of a run goes round (body, children) while something it polled
/// woke something else, before it yields to the runtime.
const ROUNDS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not polled yet.
    Init,
    Running,
    /// Cancelled: the grace runs.
    Draining,
    /// The grace ran out; budgeted shields under way hold the abort off (`grace` is then the
    /// timer of their budgets' end).
    Held,
    /// The grace ran out: everything was dropped or aborted; the units drain.
    Aborted,
    Done,
}

pin_project_lite::pin_project! {
    /// The future of [`Scope::run`] and [`Scope::run_all`]: drives the body and the
    /// in-place children, and resolves once every child has ended.
    ///
    /// What it resolves to is set by the policy `O` (its `Output`, through a trait the docs
    /// do not show): `Result<T, E>` for [`FirstFailure`](crate::FirstFailure) (the future of
    /// [`Scope::run`]) and `Result<T, Failures<E>>` for [`AllFailures`](crate::AllFailures)
    /// (the future of [`Scope::run_all`]), where `T` is the body's value (`()` for a body that
    /// ends with `()`). Code generic over the policy names it as
    /// `Run<'s, 'env, E, M, F, O>: Future`.
    ///
    /// Dropping it once it has been polled cancels the scope: the body and in-place children
    /// are dropped with it, and spawned children get what is left of the scope's grace (a task
    /// on each runtime they, and the children of the scopes nested in it, were handed to keeps
    /// the time, on that runtime's clock, wherever the drop comes), then are aborted. If the
    /// body had panicked, the drop
    /// resumes that panic once it has done so (there is no result to carry it; see
    /// [`Scope::run`]'s "Panics"). A run dropped before its first poll
    /// changes nothing: the scope has not started (children spawned before it wait, and start
    /// with a later run).
    ///
    /// What the children left for the answer nobody will read goes with a run dropped
    /// part-way: the failures the scope had kept (for a [`RaceRun`](crate::RaceRun), the
    /// winning value too), dropped inside the scope's context, and a failure that comes after
    /// (a child in its grace) is dropped where it is reported. A panic no report will carry (one
    /// the scope had kept, an in-place child's as the drop ends it, such a destructor's, which
    /// is the child's) goes to the scope this one was entered under, as a panic of work below
    /// it (law 5: it cancels that scope, and fail-fast returns it if it is the first failure);
    /// it does not unwind the code that dropped the run, and with no enclosing scope to take it
    /// the panic hook's report of it is all there is (a body's value's destructor is the
    /// body's code: its panic unwinds the drop). A drop made during an unwind keeps to the
    /// panic that unwinds, and a [`Supervisor`](crate::Supervisor)'s incarnation that drops
    /// the run in its own poll takes the panic as its crash (restarted under its policy).
    /// The values bound
    /// with [`Config::bind`](crate::Config::bind) (the context's slots) are the [`Scope`]
    /// value's, dropped with it, not with this future. A context cloned out of the scope
    /// (`Cx::current()` in it, a child's [`cx`](crate::Child::cx), a context made below one)
    /// keeps its slots' values too: they go with the last of them.
    ///
    /// Forgetting it (`mem::forget`) is memory-safe: spawned children are `'static`, and when
    /// the [`Scope`] value is dropped they are cancelled and aborted; the body and the
    /// in-place children, which may borrow, are leaked with the future and never polled
    /// again.
    ///
    /// # Examples
    ///
    /// Dropping it part-way cancels the scope and aborts its children:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::testing::LeakCheck;
    /// use scope::{Cause, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let leaks = LeakCheck::new();
    /// let s = &Scope::new(Config::new());
    /// let run = s.run(async {
    ///     s.spawn(std::future::pending::<()>());
    ///     std::future::pending::<Result<(), Interrupted>>().await
    /// });
    /// assert!(tokio::time::timeout(Duration::from_secs(1), run).await.is_err());
    /// assert_eq!(s.cx().cause(), Some(Cause::explicit("scope dropped")));
    /// assert!(leaks.check().await.is_ok());
    /// # });
    /// ```
    ///
    /// Forgotten after its first poll, its spawned children are aborted with the `Scope`:
    ///
    /// ```
    /// use scope::testing::LeakCheck;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let leaks = LeakCheck::new();
    /// {
    ///     let s = &Scope::new(Config::new());
    ///     let mut run = Box::pin(s.run(async {
    ///         s.spawn(std::future::pending::<()>());
    ///         std::future::pending::<Result<(), Interrupted>>().await
    ///     }));
    ///     // One poll: the scope starts, and so does its child.
    ///     let polled = std::future::poll_fn(|cx| {
    ///         std::task::Poll::Ready(std::future::Future::poll(run.as_mut(), cx).is_ready())
    ///     });
    ///     assert!(!polled.await);
    ///     std::mem::forget(run);
    /// } // the `Scope` is dropped here
    /// assert!(leaks.check().await.is_ok());
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[project = RunProj]
    pub struct Run<'s, 'env, E, M: Mode, F: Future, O>
    where
        F::Output: BodyOutput<E>,
    {
        // The only fields that depend on the body's type: everything else is in `core`,
        // whose code is compiled once per error type and mode, not once per body.
        #[pin]
        body: Option<F>,
        out: Option<<F::Output as BodyOutput<E>>::Ok>,
        core: Core<'s, 'env, E, M>,
        _output: PhantomData<O>,
    }

    impl<'s, 'env, E, M: Mode, F: Future, O> PinnedDrop for Run<'s, 'env, E, M, F, O>
    where
        F::Output: BodyOutput<E>,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.core.dropped(&mut BodyRef {
                body: this.body,
                out: this.out,
            });
        }
    }
}

/// The part of a run that does not depend on its body's type: the scope, the body's ambient
/// context, and the driver. Its code sees the body only through [`Body`].
struct Core<'s, 'env, E, M: Mode> {
    scope: &'s Scope<'s, 'env, E, M>,
    // Swapped into the thread's ambient slot while the body is polled.
    ambient: Option<crate::cx::Cx>,
    enclosing: EnclosingScope,
    driver: Driver<'env, M>,
}

/// The body as the run's type-independent code sees it: the only code compiled once per
/// body is this trait's implementation (and the run's own `poll` and `drop`, which call
/// into [`Core`]).
trait Body<E> {
    /// The body has not ended (nor been dropped).
    fn is_running(&self) -> bool;
    /// Polls the body once; when it returns, keeps its value and gives its error.
    fn poll(&mut self, task: &mut Context<'_>) -> Poll<Result<(), E>>;
    /// Drops the body's future (its destructor's panic is not caught here).
    fn drop_body(&mut self);
    /// Drops the body's value, kept for the run's output (its destructor's panic is not
    /// caught here).
    fn drop_value(&mut self);
}

/// The body's future and the slot of its value, borrowed from the run for one poll.
struct BodyRef<'a, F, T> {
    body: Pin<&'a mut Option<F>>,
    out: &'a mut Option<T>,
}

impl<E, F> Body<E> for BodyRef<'_, F, <F::Output as BodyOutput<E>>::Ok>
where
    F: Future,
    F::Output: BodyOutput<E>,
{
    fn is_running(&self) -> bool {
        self.body.is_some()
    }

    fn poll(&mut self, task: &mut Context<'_>) -> Poll<Result<(), E>> {
        let Some(body) = self.body.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        match body.poll(task) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => Poll::Ready(out.into_body_result().map(|value| {
                *self.out = Some(value);
            })),
        }
    }

    fn drop_body(&mut self) {
        self.body.set(None);
    }

    fn drop_value(&mut self) {
        *self.out = None;
    }
}

/// How a run's type-independent poll ended.
enum End<E> {
    /// Every child has ended: the report is ready.
    Finished,
    /// The scope did not run (its configuration, or it ran already): this is its only
    /// failure.
    Refused(E),
}

impl<'s, 'env, E, M: Mode> Scope<'s, 'env, E, M>
where
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    pub(super) fn run_with<F, O>(&'s self, body: F) -> Run<'s, 'env, E, M, F, O>
    where
        F: Future,
        F::Output: BodyOutput<E>,
    {
        Run {
            body: Some(body),
            out: None,
            core: Core::new(self),
            _output: PhantomData,
        }
    }
}

impl<'s, 'env, E, M, F, O> Future for Run<'s, 'env, E, M, F, O>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display,
    F: Future,
    F::Output: BodyOutput<E>,
    O: Finish<<F::Output as BodyOutput<E>>::Ok, E>,
{
    type Output = O::Output;

    // Inlined into the future that awaits the run, with `conclude` out of line: one frame
    // fewer per nested in-place scope (in-place scopes nest: one chain of frames per level).
    #[inline]
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<O::Output> {
        // Only the glue that depends on the body's type: the run itself is in `Core`.
        let this = self.project();
        let mut body = BodyRef {
            body: this.body,
            out: this.out,
        };
        let end = ready!(this.core.poll(&mut body, O::SUPERVISE, task));
        Poll::Ready(conclude::<E, M, O, _>(this.core, end, body.out.take()))
    }
}

impl<E, M: Mode, F: Future, O> Run<'_, '_, E, M, F, O>
where
    F::Output: BodyOutput<E>,
{
    /// Whether the run has started and not ended (not before its first poll, not after its
    /// end, not refused).
    pub(crate) fn is_under_way(&self) -> bool {
        !matches!(self.core.driver.phase, Phase::Init | Phase::Done)
    }
}

/// The scope's output, from how the run ended and the body's value (compiled once per
/// output type and policy).
#[inline(never)]
fn conclude<E, M, O, T>(core: &Core<'_, '_, E, M>, end: End<E>, out: Option<T>) -> O::Output
where
    M: Mode,
    E: From<Interrupted> + fmt::Display,
    O: Finish<T, E>,
{
    let shared = &*core.scope.shared;
    match end {
        End::Finished => {
            let report = report(shared, out);
            if report.leaves_values() {
                shared.in_cx(|| O::finish(report))
            } else {
                O::finish(report)
            }
        }
        End::Refused(error) => O::finish(Report::failed(&shared.info, error)),
    }
}

impl<'s, 'env, E, M: Mode> Core<'s, 'env, E, M> {
    fn new(scope: &'s Scope<'s, 'env, E, M>) -> Self
    where
        E: Send + 'static,
    {
        Core {
            scope,
            ambient: Some(scope.shared.cx.clone()),
            enclosing: Some(Arc::clone(&scope.shared) as Arc<dyn Enclosing>),
            driver: Driver {
                phase: Phase::Init,
                set: None,
                body_woken: true,
                body_last_poll: false,
                rearm: false,
                deadline_unarmed: false,
                deadline: None,
                grace: None,
                deferred: Vec::new(),
                deferred_timer: None,
                panic: None,
                aborts_seen: 0,
            },
        }
    }

    /// The run's future is dropped before it finished: the scope is cancelled, the body and
    /// in-place children dropped, and the spawned children get the grace.
    fn dropped(&mut self, body: &mut dyn Body<E>) {
        match self.driver.phase {
            Phase::Done => return,
            Phase::Init => {
                // Never polled (a `select!` that took another branch): nothing started, and
                // the scope's own drop ends it; its body is still dropped inside the scope's
                // context, as one cut short is.
                if let Err(payload) = drop_body_inside(&mut self.ambient, &mut self.enclosing, body)
                {
                    if !std::thread::panicking() {
                        std::panic::resume_unwind(payload);
                    }
                }
                return;
            }
            _ => {}
        }
        let was_running = self.driver.phase == Phase::Running;
        // What is left of the grace: all of it if the scope was not cancelled yet; what the
        // cancel's grace has left if it was (law 9: the drop does not start it again).
        // (Held: the grace is over, and the abort waits only for the shields still under
        // way, as the run's own does: the timer there is their budgets', not a grace.)
        let grace_left = match self.driver.phase {
            Phase::Running => self.scope.shared.cancel_grace(),
            Phase::Draining => self
                .driver
                .grace
                .as_ref()
                .map_or(std::time::Duration::ZERO, |g| {
                    g.deadline().saturating_duration_since(Instant::now())
                }),
            _ => std::time::Duration::ZERO,
        };
        self.driver.phase = Phase::Done;
        let shared = &self.scope.shared;
        shared.end_run(true);
        shared.tracker.close();
        // The task that dropped the run has moved on: the cancel and the children's exits
        // below must not wake it.
        shared.tracker.forget_owner();
        if let Some(set) = self.driver.set.as_deref() {
            set.forget_run();
        }
        shared.cancel_own(Cause::explicit("scope dropped"));
        if was_running {
            // (A run that saw its cancel has reported it already.)
            shared.obs.cancelled(&shared.cx);
        }
        shared.close_admission();
        shared.tracker.drop_waiting_jobs();
        // The body, then the in-place children (each catches its own future's panic),
        // then the spawned tasks below: they get the scope's grace (a task of the runtime
        // keeps the time), and are aborted after it.
        // The body's value, if it had returned one: dropped here, inside the scope's context
        // as the body is, its panic caught, so that nothing of the user's is left for the
        // drop glue while a panic is resumed below.
        let (dropped, value) = {
            let _enter = Enter::scope_code_in_drop(&mut self.ambient, &mut self.enclosing);
            let dropped = catch_unwind(AssertUnwindSafe(|| body.drop_body()));
            (
                dropped,
                catch_unwind(AssertUnwindSafe(|| body.drop_value())),
            )
        };
        // The spawned children cancelled alone keep their own graces (the in-place ones go
        // with the run; one still waiting for a slot went with the admission closed above,
        // one that waited and has started is aborted through its ticket), those asked for
        // since the run last looked included.
        self.driver.take_last_requests(shared);
        let pending: Vec<(Deferred, Target)> = std::mem::take(&mut self.driver.deferred)
            .into_iter()
            .filter(|(_, target)| !matches!(target, Target::InPlace(_)))
            .collect();
        self.driver.drop_children(self.scope);
        match self.enclosing.as_ref() {
            Some(scope) if shared.tracker.units() > 0 => {
                reap_after_grace(scope, grace_left, pending);
            }
            _ => shared.tracker.abort_all(),
        }
        let panic = match (dropped, value) {
            (Err(first), value) => {
                drop_after_panic(value.err());
                Some(first)
            }
            (Ok(()), value) => value.err(),
        };
        // The failures it kept: no report reads them (and none is kept from now on). A panic
        // among them goes up, unless the drop resumes a panic of the run's own.
        let (kept_panic, failed) = shared.kept_flags();
        shared.drop_kept(panic.is_none() && self.driver.panic.is_none());
        let panic = panic
            .or_else(|| self.driver.panic.take())
            .or_else(|| shared.take_callback_panic());
        // Its end, as a finished run's is reported (the spawned children may still be in
        // their grace: they end on their own, as children do).
        shared.obs.finished(
            shared.cause_own().as_deref(),
            panic.is_some() || kept_panic,
            failed,
        );
        if let Some(payload) = panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

impl<'s, 'env, E, M> Core<'s, 'env, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display,
{
    fn poll(
        &mut self,
        body: &mut dyn Body<E>,
        supervise: bool,
        task: &mut Context<'_>,
    ) -> Poll<End<E>> {
        // The hot path only: everything else is in functions of its own, so that the frame
        // of a poll stays small (in-place scopes nest: one frame per level).
        let scope: &'s Scope<'s, 'env, E, M> = self.scope;
        let _obs = scope.shared.obs.enter();
        // Wakes for this run made by this very poll are absorbed: it goes round again instead.
        let polling = scope.shared.tracker.polling();
        if matches!(self.driver.phase, Phase::Init | Phase::Done) {
            if let Some(end) = self.start(body, supervise) {
                return Poll::Ready(end);
            }
        }
        if self.driver.set.is_none() || std::mem::take(&mut self.driver.rearm) {
            // Polled with the run's own waker: it may have been woken.
            self.driver.body_woken = true;
        }
        for _ in 0..ROUNDS {
            if self.driver.take_body_wake() && body.is_running() && !self.driver.body_last_poll {
                self.poll_body(body, task);
            }
            if self.driver.turn(scope, task) == Turn::AbortBody && body.is_running() {
                self.driver.await_last_poll(&scope.shared);
            }
            if self.driver.body_last_poll {
                if self.driver.is_idle(scope) && Driver::stopped_completed(scope, task)
                    || self.driver.last_poll_due(&scope.shared, task)
                {
                    self.last_poll(body, task);
                } else if self.driver.grace.is_none() {
                    // No timer: back at the runtime's next turn (see `last_poll_due`).
                    return Poll::Pending;
                }
            }
            if !body.is_running() && self.driver.is_idle(scope) {
                finish(&scope.shared, &mut self.driver);
                return Poll::Ready(End::Finished);
            }
            if self.driver.budget_spent() {
                // Back with a new budget for the children still to poll.
                break;
            }
            if !self.driver.has_ready() && !polling.take_woken() {
                return Poll::Pending;
            }
        }
        // Still busy: let the runtime run others, and come back.
        task.waker().wake_by_ref();
        Poll::Pending
    }

    /// The grace ran out while the body still ran, and everything below it has ended since
    /// (the abort reached it), or [`LAST_POLL_WAIT`] has passed: the body's last poll, then
    /// its drop if it still runs. A body waiting on a nested scope whose grace ended at the
    /// same instant as this one's gets that scope's value (the abort ended the straggler it
    /// waited for), and has the last word with it; a body that ignores the cancel is dropped,
    /// as before, and so is one whose work below ends only with its drop (a blocking closure
    /// reading from a channel whose sender the body holds).
    #[cold]
    #[inline(never)]
    fn last_poll(&mut self, body: &mut dyn Body<E>, task: &mut Context<'_>) {
        self.driver.body_last_poll = false;
        self.driver.grace = None;
        if body.is_running() {
            let _last = LastPoll::begin(self.scope.shared.tracker.owner_id());
            // Outside tokio's cooperative budget: the body has this one poll, and a handle
            // past the budget would read as pending (from the 129th on) and lose its value.
            let once = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                self.poll_body(body, cx);
                Poll::Ready(())
            }));
            let polled = std::pin::pin!(once).poll(task);
            debug_assert!(polled.is_ready());
        }
        let (ambient, enclosing) = (&mut self.ambient, &mut self.enclosing);
        abort_body(
            &self.scope.shared,
            &mut self.driver,
            ambient,
            enclosing,
            body,
        );
    }

    /// Polls the body once (out of line: what the body's poll keeps on the stack is not on
    /// the path to the in-place children).
    #[inline(never)]
    fn poll_body(&mut self, body: &mut dyn Body<E>, task: &mut Context<'_>) {
        // A slot the body gives back as it fails starts its queued child only once the
        // failure is settled (below).
        let _hold = super::HoldStarts::begin(self.scope.shared.tracker.owner_id());
        let polled = {
            let waker = self.driver.body_waker().unwrap_or(task.waker());
            let mut body_cx = Context::from_waker(waker);
            let _enter = Enter::scope_code(&mut self.ambient, &mut self.enclosing);
            let polled = catch_unwind(AssertUnwindSafe(|| body.poll(&mut body_cx)));
            if matches!(polled, Ok(Poll::Pending)) {
                polled
            } else {
                // Returned or panicked: the body's destructor is its code too, dropped inside
                // its context as it was polled, and so is what a panic there makes moot.
                let dropped = catch_unwind(AssertUnwindSafe(|| body.drop_body()));
                body_dropped(body, polled, dropped)
            }
        };
        if !matches!(polled, Ok(Poll::Pending)) {
            body_ended(&self.scope.shared, &mut self.driver, polled);
        }
    }

    /// The first poll (start the scope) or a poll after the end; `Some` ends the poll with it.
    #[inline(never)]
    fn start(&mut self, body: &mut dyn Body<E>, supervise: bool) -> Option<End<E>> {
        let shared = &*self.scope.shared;
        if self.driver.phase == Phase::Done {
            return Some(End::Refused(polled_after_done()));
        }
        let Some(enclosing) = &self.enclosing else {
            unreachable!("a run holds its scope as the enclosing scope of its body");
        };
        if let Err(error) = self.driver.start(self.scope, enclosing, supervise) {
            {
                let _enter = Enter::scope_code_in_drop(&mut self.ambient, &mut self.enclosing);
                body.drop_body();
            }
            // An `on_cancel` callback that panicked as a scope refused for its configuration
            // ended its context: a panic of the scope, its outcome (as at any scope's end),
            // not raised by the drop of the `Scope` value later. (Not for a second run: what
            // the first run keeps is the first run's.)
            if !matches!(error, ConfigError::AlreadyRun) {
                if let Some(payload) = shared.take_callback_panic() {
                    let panicked = Panicked::new(shared.info.clone(), payload);
                    return Some(End::Refused(E::from(panicked.into())));
                }
            }
            return Some(End::Refused(E::from(error.into())));
        }
        if shared.is_cancelled_own() {
            // Entered already cancelled (a past deadline, a cancelled parent): the body never
            // starts. Its destructor's panic is its panic, reported once the children drain.
            let (ambient, enclosing) = (&mut self.ambient, &mut self.enclosing);
            abort_body(shared, &mut self.driver, ambient, enclosing, body);
        }
        None
    }
}

/// The body returned (its value, kept by the body, or its error) or panicked.
#[inline(never)]
fn body_ended<E, M>(
    shared: &Shared<E>,
    driver: &mut Driver<'_, M>,
    polled: Result<Poll<Result<(), E>>, Box<dyn Any + Send>>,
) where
    M: Mode,
    E: From<Interrupted> + fmt::Display,
{
    match polled {
        Ok(Poll::Pending) => {}
        Ok(Poll::Ready(out)) => {
            shared.tracker.close();
            // Closed to new children: the reservations, which only a spawn uses, give their
            // slots back (after the close, so that one that finds its slot gone finds the
            // scope closed too).
            if shared.admission.is_limited() {
                shared.end_reservations();
            }
            // A failed body's error cancels the scope first: its background children are
            // stopped by that cancel, and read the failure, not a finish.
            let ok = out.is_ok();
            if let Err(error) = out {
                let cancelled = shared.cancelled_ahead_of(&shared.info);
                if !cancelled {
                    // A race's answer, if no candidate's value won it first: claimed at the
                    // look, before the error's `Display` (user code, which may take its time)
                    // runs, so that a value made meanwhile on another worker is the failure's
                    // consequence. (AcqRel: pairs with the candidates' offers; see
                    // `Shared::answered_by`.)
                    let _ = shared.answered_by.compare_exchange(
                        OPEN,
                        BODY_FAILED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                match shared.in_cx(|| message_of(&error)) {
                    Ok(message) => {
                        // The error's `Drop` panicked as the scope dropped it (a
                        // consequence): the body's panic.
                        let kept = shared.fail(&shared.info, error, message, true, cancelled);
                        if let Err(payload) = kept {
                            driver.body_panicked(shared, payload);
                        }
                    }
                    // The error's `Display` panicked: the body's panic.
                    Err(payload) => {
                        shared.in_cx(|| drop_after_panic(error));
                        driver.body_panicked(shared, payload);
                    }
                }
            }
            shared.end_background();
            if ok {
                shared.body_returned();
            }
        }
        Err(payload) => driver.body_panicked(shared, payload),
    }
}

thread_local! {
    /// The run on this thread giving its body its last poll, innermost first (its tracker's
    /// [`owner_id`](Tracker::owner_id); 0 if none): a nested level's last poll polls the next
    /// level's run.
    static LAST_POLL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A run's body is in its last poll, on this thread, while this lives: a scope below it that
/// notices its cancel there was cancelled before the abort that polls it.
struct LastPoll(usize);

impl LastPoll {
    fn begin(owner: usize) -> Self {
        LastPoll(LAST_POLL.with(|l| l.replace(owner)))
    }

    /// Whether the run whose body is in its last poll here encloses `tracker`'s owner (an
    /// unrelated scope polled there is not that run's work).
    fn encloses(tracker: &Tracker) -> bool {
        let owner = LAST_POLL.with(std::cell::Cell::get);
        owner != 0 && tracker.is_below(owner)
    }
}

impl Drop for LastPoll {
    fn drop(&mut self) {
        LAST_POLL.with(|l| l.set(self.0));
    }
}

/// The grace ran out while the body still runs: it is dropped inside the scope's context, as
/// it was polled (its destructor's panic is its panic).
#[inline(never)]
fn abort_body<E, M: Mode>(
    shared: &Shared<E>,
    driver: &mut Driver<'_, M>,
    ambient: &mut Option<crate::cx::Cx>,
    enclosing: &mut EnclosingScope,
    body: &mut dyn Body<E>,
) {
    if !body.is_running() {
        return;
    }
    if let Err(payload) = drop_body_inside(ambient, enclosing, body) {
        driver.body_panicked(shared, payload);
    }
}

/// A returned or panicked body's outcome, once its future is dropped (`dropped`): a panic of
/// its destructor is the body's (a panic of its poll came first and stays). Called inside the
/// scope's context: what a panic makes moot is user code, dropped there. (Out of line: once
/// per scope, and kept out of the poll's frame, which nested in-place scopes stack.)
#[inline(never)]
fn body_dropped<E, T>(
    body: &mut dyn Body<E>,
    polled: Result<T, Box<dyn Any + Send>>,
    dropped: Result<(), Box<dyn Any + Send>>,
) -> Result<T, Box<dyn Any + Send>> {
    match (dropped, polled) {
        (Err(payload), Ok(returned)) => {
            // The body returned, then its destructor panicked: the panic is its outcome, and
            // what it returned goes now, each under a catch: its error (here), its value
            // (kept in the run), not left while the panic is resumed at the end (where a
            // panic of theirs would abort the process) nor dropped outside a catch before the
            // children drain.
            drop_after_panic(returned);
            drop_value_caught(body);
            Err(payload)
        }
        (Err(second), Err(first)) => {
            drop_after_panic(second);
            Err(first)
        }
        (Ok(()), polled) => polled,
    }
}

/// Drops the body's value, if it returned one, under a catch (a second panic: see
/// [`drop_after_panic`]).
fn drop_value_caught<E>(body: &mut dyn Body<E>) {
    let value = catch_unwind(AssertUnwindSafe(|| body.drop_value()));
    drop_after_panic(value.err());
}

/// Drops the body inside the scope's context (the run's `ambient` context and `enclosing`
/// scope): its destructors are its code, and see what its polls saw. Their panic comes back.
fn drop_body_inside<E>(
    ambient: &mut Option<crate::cx::Cx>,
    enclosing: &mut EnclosingScope,
    body: &mut dyn Body<E>,
) -> Result<(), Box<dyn Any + Send>> {
    let _enter = Enter::scope_code_in_drop(ambient, enclosing);
    catch_unwind(AssertUnwindSafe(|| body.drop_body()))
}

/// The end: resumes the body's panic; the caller reports what happened.
#[inline(never)]
fn finish<E, M: Mode>(shared: &Shared<E>, driver: &mut Driver<'_, M>) {
    if driver.panic.is_some() {
        // Resumed below, with no report: the outcome is the body's panic. (Otherwise the
        // report tells it, once the scope's own last cancel has run.)
        shared
            .obs
            .finished(shared.cause_own().as_deref(), true, false);
    }
    driver.phase = Phase::Done;
    shared.end_run(false);
    // The run returns now: its context's end (in the report) and its timers must not wake
    // the task again.
    shared.tracker.forget_owner();
    driver.deadline = None;
    driver.grace = None;
    driver.deferred_timer = None;
    if let Some(payload) = driver.panic.take() {
        // The body panicked: every child has drained; resume the unwind. What the scope kept
        // (a child's failure before the panic) goes first, inside its context and under a
        // catch (dropped in the unwind, a destructor's panic would abort the process).
        shared.drop_kept(false);
        std::panic::resume_unwind(payload);
    }
}

thread_local! {
    /// Whether the runs dropped on this thread now are dropped past every grace (see
    /// [`drop_past_every_grace`]).
    static PAST_EVERY_GRACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Drops what `drop` drops with no grace for any scope in it: the spawned children of each
/// run dropped there (and the work below them) are aborted at once, whatever is left of a
/// scope's grace and however long the budgeted shields under way still have. For a bound
/// above every scope's: the application's grace ([`App::run`](crate::App::run)), the
/// program's own deadline; a service's grace, for the work of a task it cuts short. With
/// `past_every_grace` false, `drop` runs as it is (its runs give their children what is left
/// of their graces).
pub(crate) fn drop_past_every_grace(past_every_grace: bool, drop: impl FnOnce()) {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = PAST_EVERY_GRACE.try_with(|p| p.set(self.0));
        }
    }
    if !past_every_grace {
        drop();
        return;
    }
    let _restore = Restore(
        PAST_EVERY_GRACE
            .try_with(|p| p.replace(true))
            .unwrap_or(false),
    );
    drop();
}

/// The spawned children of a dropped scope get what is left of its grace (and its budgeted
/// shields their budgets) before they are aborted: a task on each runtime the children were
/// handed to keeps the time. Without a runtime, or with no grace left and no shield running,
/// they are aborted at once; so are they in [`drop_past_every_grace`].
/// `pending`: the aborts of children cancelled alone, each at the end of its own grace.
fn reap_after_grace(
    scope: &Arc<dyn Enclosing>,
    grace: std::time::Duration,
    pending: Vec<(Deferred, Target)>,
) {
    if PAST_EVERY_GRACE
        .try_with(std::cell::Cell::get)
        .unwrap_or(false)
    {
        // Shields started from now on are not waited for, by a scope below either.
        scope.tracker().force();
        scope.tracker().abort_all();
        return;
    }
    if grace.is_zero() && scope.tracker().holds() == 0 {
        // Nothing to time.
        scope.tracker().abort_all();
        return;
    }
    // Timed on every runtime the children were handed to, on their clocks: one may be gone
    // or idle (a current-thread runtime out of its `block_on`), while another runs its
    // children on. The first to end the grace aborts what is left; the last dropped before
    // its end (its runtime shut down, and its children with it) aborts it at once. Not on the
    // dropping thread's (unless no child told of one): the children run where they were
    // handed, and a grace timed elsewhere runs on another clock (a test's paused one ran
    // ahead and cut a child short), asks that runtime whether it has timers (a caught panic
    // of tokio's, an abort under `panic = "abort"`), and leaves a task there for each drop.
    let mut runtimes = scope.tracker().runtimes();
    if runtimes.is_empty() {
        runtimes.extend(tokio::runtime::Handle::try_current().ok());
    }
    if cfg!(panic = "abort") {
        // No runtime can be asked whether it has timers here (the question is a panic of
        // tokio's, caught; under `panic = "abort"` it ends the process): timed on the first
        // only, which a grace needs timers on anyway (as a scope's own grace does), not on a
        // runtime without them that a child merely ran on (an outside review's find).
        runtimes.truncate(1);
    }
    // Only one with timers: on one without, tokio panics as the timer is made, and this drop
    // may be a panic's unwinding, where that panic would abort the process (an outside
    // sweep's find). With none left, no grace can be timed: aborted at once.
    runtimes.retain(|runtime| {
        let _on = runtime.enter();
        crate::timer::has_time_driver()
    });
    if runtimes.is_empty() {
        scope.tracker().abort_all();
        return;
    }
    let group = Arc::new(Reapers {
        left: crate::sync::AtomicUsize::new(runtimes.len()),
        tasks: crate::sync::Mutex::new(vec![None; runtimes.len()]),
        pending: crate::sync::Mutex::new(pending),
    });
    for (index, runtime) in runtimes.into_iter().enumerate() {
        // The reaper's timer is made on that runtime (outside one, tokio would panic).
        let _on = runtime.enter();
        let reaper = Reaper {
            scope: Arc::clone(scope),
            grace: Timer::after(grace),
            grace_over: grace.is_zero(),
            held: None,
            pending_timer: None,
            group: Arc::clone(&group),
            index,
            done: false,
        };
        drop(runtime.spawn(reaper));
    }
}

/// Waits for a dropped scope's spawned children to end, at most its grace (and the budgets
/// of its shields), then aborts what is left.
struct Reaper {
    scope: Arc<dyn Enclosing>,
    grace: Pin<Box<Timer>>,
    grace_over: bool,
    /// The end of the budgets of the shields that hold the abort off.
    held: Option<Pin<Box<Timer>>>,
    /// When the next child cancelled alone is due (see [`Reapers::pending`]).
    pending_timer: Option<Pin<Box<Timer>>>,
    /// The reapers of this drop (one per runtime it is timed on), and this one's place there.
    group: Arc<Reapers>,
    index: usize,
    /// It has returned: nothing is left to abort.
    done: bool,
}

/// The reapers of one drop: how many are not dropped yet, and their tasks. The scope's owner
/// wake (a shield's end, the last child's exit) wakes them all: the tracker keeps one owner,
/// and the one that registered last may be on a runtime no longer driven.
struct Reapers {
    left: crate::sync::AtomicUsize,
    tasks: crate::sync::Mutex<Vec<Option<Waker>>>,
    /// Children cancelled alone, aborted at the end of their own graces (as the run would):
    /// by whichever reaper looks first when one is due (each times the next), so that one on
    /// a runtime no longer driven does not keep them.
    pending: crate::sync::Mutex<Vec<(Deferred, Target)>>,
}

impl std::task::Wake for Reapers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Woken with no lock of ours held.
        let tasks: Vec<Waker> = self.tasks.lock().iter().flatten().cloned().collect();
        for task in tasks {
            task.wake();
        }
    }
}

/// The last reaper of a drop, dropped before its end (its runtime shut down, or dropped it
/// unrun), aborts what is left at once: no one else would, and a child must not outlive its
/// scope.
impl Drop for Reaper {
    fn drop(&mut self) {
        // AcqRel: the last one sees the others gone.
        let last = self.group.left.fetch_sub(1, Ordering::AcqRel) == 1;
        if last && !self.done {
            let tracker = self.scope.tracker();
            tracker.force();
            tracker.abort_all();
        }
    }
}

impl Future for Reaper {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<()> {
        let scope = Arc::clone(&self.scope);
        let tracker = scope.tracker();
        // (The waker it replaces is dropped with no lock held.)
        let _replaced = {
            let mut tasks = self.group.tasks.lock();
            let mine = &mut tasks[self.index];
            if mine.as_ref().is_some_and(|w| w.will_wake(task.waker())) {
                None
            } else {
                mine.replace(task.waker().clone())
            }
        };
        tracker.register_owner(&Waker::from(Arc::clone(&self.group)));
        if tracker.units() == 0 {
            self.done = true;
            return Poll::Ready(());
        }
        // (Taken under the group's lock, then the tracker's; aborted with neither held: a
        // queued child's future is the user's.)
        let (due, next) = {
            let mut pending = self.group.pending.lock();
            if pending.is_empty() {
                (Vec::new(), None)
            } else {
                let due = take_due(&mut pending, tracker);
                (due, next_due(&pending))
            }
        };
        for target in due {
            target.abort_started();
        }
        if let Some(next) = next {
            if timer_fired_at(&mut self.pending_timer, next, task) {
                task.waker().wake_by_ref();
            }
        } else {
            self.pending_timer = None;
        }
        if !self.grace_over && fired(self.grace.as_mut(), task) {
            self.grace_over = true;
        }
        if !self.grace_over {
            return Poll::Pending;
        }
        // The abort begins: shields started from now on are not waited for; those under way
        // are, until their budgets end at the latest.
        tracker.force();
        if let Some(until) = tracker.held_until() {
            if !timer_fired_at(&mut self.held, until, task) {
                return Poll::Pending;
            }
        }
        tracker.abort_all();
        self.done = true;
        Poll::Ready(())
    }
}

/// Takes the deferred aborts that are due: their grace is over, or the shields they waited
/// for have ended. One whose grace is over while budgeted shields under way hold the scope's
/// abort off waits for them, until their budgets end at the latest (once: shields started
/// after do not).
fn take_due<T>(deferred: &mut Vec<(Deferred, T)>, tracker: &Tracker) -> Vec<T> {
    let now = Instant::now();
    // An abort held off by shields is due when they end, not only at their budgets' end; and
    // its bound is the latest end of those still under way, looked at again each time (a
    // long shield that has ended no longer holds it), never later than the bound it took.
    let unheld = tracker.holds() == 0;
    // (Held, but every shield under way is past its bound, a kept one no longer polled
    // still counted: the bound is now.)
    let bound = (!unheld).then(|| tracker.held_until().unwrap_or(now));
    for (d, _) in deferred.iter_mut().filter(|(d, _)| d.held) {
        if let Some(bound) = bound {
            d.at = d.at.min(bound);
        }
    }
    let (due, later): (Vec<_>, Vec<_>) = std::mem::take(deferred)
        .into_iter()
        .partition(|(d, _)| d.at <= now || (d.held && unheld));
    *deferred = later;
    let mut out = Vec::with_capacity(due.len());
    for (d, target) in due {
        if let Some(at) = (!d.held).then(|| tracker.held_until()).flatten() {
            deferred.push((Deferred { at, held: true }, target));
        } else {
            out.push(target);
        }
    }
    out
}

/// When the next deferred abort is due.
fn next_due<T>(deferred: &[(Deferred, T)]) -> Option<Instant> {
    deferred.iter().map(|(d, _)| d.at).min()
}

/// Polls the timer in `slot`, made or moved to fire at `at`: whether it has fired.
fn timer_fired_at(slot: &mut Option<Pin<Box<Timer>>>, at: Instant, task: &mut Context<'_>) -> bool {
    let timer = slot.get_or_insert_with(|| Timer::at(at));
    if timer.deadline() != at {
        timer.as_mut().reset(at);
    }
    fired(timer.as_mut(), task)
}

/// Whether one of the run's own timers (its deadline, its grace, a child's grace, the body's
/// last poll) has fired, at its deadline or cut short by the runtime's shutdown (see
/// [`Timer::look`]). Outside tokio's cooperative budget: in-place children that keep the
/// budget spent (a loop on `consume_budget`, a burst of them woken together) made the timer
/// read as pending at every turn, and law 9's bound never came (`probe135`).
#[inline]
fn fired(timer: Pin<&mut Timer>, task: &mut Context<'_>) -> bool {
    timer.look(task) != Fired::Pending
}

/// What a finished scope knows; its context ends (with [`Cause::Finished`]) after it is read.
fn report<T, E>(shared: &Shared<E>, out: Option<T>) -> Report<T, E>
where
    E: From<Interrupted> + fmt::Display,
{
    // An ancestor's cancel still on its way down is this scope's cause (what it set in
    // motion, a forced abort above, may be why the scope ended as it did).
    shared.caught_up_own();
    let cause = shared.cause_own();
    // The body's value answered no cancel that then stopped a child short: the scope ends
    // with the cancellation, as one whose body did not return.
    let unanswered = shared.unanswered();
    shared.cancel_own(Cause::Finished {
        scope: shared.info.clone(),
    });
    if let Some(payload) = shared.take_callback_panic() {
        // A user's `on_cancel` callback panicked in a cancel the scope made (a failure, its
        // deadline, the end just now): a panic of the scope, under its policy.
        let _ = shared.panicked(&shared.info, payload);
    }
    // (Left in place when there are none: nothing to move or drop here.)
    let kept = {
        let mut kept = shared.failures.lock();
        (!kept.is_empty()).then(|| std::mem::take(&mut *kept))
    };
    // After the end's cancel, whose callbacks may have panicked (a panic of the scope).
    let panicked = kept
        .iter()
        .flatten()
        .any(|k| matches!(k, Kept::Panicked(_)));
    if panicked || (kept.is_none() && (out.is_none() || unanswered)) {
        tell_panic_below(shared, kept.as_deref());
    }
    shared
        .obs
        .finished(cause.as_deref(), panicked, kept.is_some());
    shared.own_cxs.clear_parked();
    // Every child has drained and the context has ended: user code (`From`, and the drop of
    // what it does not keep, a panic's payload) may run now, inside the scope's context.
    let failures = kept.map_or_else(Vec::new, |kept| {
        shared.in_cx(|| kept.into_iter().map(Kept::into_failure).collect())
    });
    Report {
        info: shared.info.clone(),
        out,
        failures,
        not_kept: shared.not_kept.load(Ordering::Relaxed),
        unanswered,
        cause,
        refused: false,
    }
}

/// A scope that ends with a panic (or with a cancellation that hides one from further down)
/// tells the scope it was entered under, which may drop the panic as a consequence of its own
/// cancel: the program's exit reads it there (`entry::MainOutcome::of_scope`).
#[cold]
#[inline(never)]
fn tell_panic_below<E>(shared: &Shared<E>, kept: Option<&[Kept<E>]>) {
    let Some(enclosing) = shared.tracker.enclosing() else {
        return;
    };
    let own = kept.into_iter().flatten().find_map(|k| match k {
        Kept::Panicked(panic) => Some(panic.to_string()),
        Kept::Failed(_) => None,
    });
    let line = own.or_else(|| shared.panic_below.lock().clone());
    if let Some(line) = line {
        enclosing.panic_below(&line);
    }
}

/// The cause a scope whose run was refused for its configuration ends with.
#[cold]
fn refused_cause(error: &ConfigError) -> Cause {
    Cause::explicit(format!("the scope's run was refused: {error}"))
}

#[cold]
fn polled_after_done<E: From<Interrupted>>() -> E {
    E::from(Interrupted::from_cause(Cause::explicit(
        "the scope's future was polled after it completed",
    )))
}

/// What one turn of the driver asks of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Turn {
    Continue,
    /// The grace ran out: the body must be dropped now.
    AbortBody,
}

/// How long the body's last poll waits, at most, for the work below it to end after the forced
/// abort: an aborted task ends at its next `.await`, at once, but a blocking closure (which
/// no abort stops) or a task stuck in synchronous code may end only when the body's locals
/// are dropped; the body is polled and dropped then (law 9's bound grows by this much, in
/// that case only).
const LAST_POLL_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// With no timer to wait on (a grace of zero), how long the body's last poll waits, at most,
/// for the work below it to end, yielding to the runtime between looks: an aborted task is
/// dropped when a worker next runs it, at once unless it is in the middle of a poll, but on
/// two workers (or under `block_on`, whose yields come straight back) that may take more
/// turns of this task than a count would give it.
const LAST_POLL_YIELDING: std::time::Duration = std::time::Duration::from_millis(20);

#[allow(clippy::cast_possible_truncation)] // Reason: 20 ms in nanoseconds fits a `u64`.
const LAST_POLL_YIELDING_NANOS: u64 = LAST_POLL_YIELDING.as_nanos() as u64;

/// The wall clock, in nanoseconds since a process-wide origin (the first call), plus one: never
/// 0, which marks a wait not begun (see `Shared::last_poll_from`).
fn wall_mark() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    u64::try_from(origin.elapsed().as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// The part of a scope's future that does not depend on its body's type: the in-place
/// children, requests from handles, the cancellation, the grace and the abort. Generic over
/// the mode only, so it is compiled once per mode and error type, not once per body.
// Four independent marks of the run's state, each read on its own path (in the struct's
// padding: a flags word would save no byte).
#[allow(clippy::struct_excessive_bools)] // Reason: see above.
struct Driver<'env, M: Mode> {
    phase: Phase,
    /// Created with the first in-place child; boxed, so that a scope without in-place
    /// children does not carry its room (about 190 bytes) in its future, which every caller
    /// builds on its stack and moves (the run's future: 304 → 120 bytes).
    set: Option<Box<InPlaceSet<'env, M>>>,
    /// Without a set, the body is polled on every poll of the run.
    body_woken: bool,
    /// The grace ran out while the body still ran: the abort is under way, and the body,
    /// not polled meanwhile, gets one last poll once the work below it has ended (a nested
    /// scope in it, free to end then, hands its value up), and is dropped if it still runs.
    body_last_poll: bool,
    /// The set was made since the run's poll began: the body, which registered the task's
    /// own waker until now, is polled at the run's next poll, with its own waker from then
    /// on. (Not in this poll: a `yield_now` of the body would return at its second poll
    /// without the runtime having run anything. A nested scope's next poll may still come in
    /// the same poll of the task, when its parent polls it again.)
    rearm: bool,
    /// The scope has a deadline that no timer watches yet: the run started where no runtime
    /// was, and makes the timer once it is polled on one.
    deadline_unarmed: bool,
    /// Fires the scope's deadline.
    deadline: Option<Pin<Box<Timer>>>,
    grace: Option<Pin<Box<Timer>>>,
    /// Children cancelled alone, to abort when their grace runs out.
    deferred: Vec<(Deferred, Target)>,
    deferred_timer: Option<Pin<Box<Timer>>>,
    panic: Option<Box<dyn Any + Send>>,
    /// The forced aborts begun before the run started ([`abort_epoch`]), then before its
    /// cancel: an abort from above later than this one ends the cancel's grace (see
    /// `grace_cut_by_abort`).
    aborts_seen: u64,
}

impl<'env, M: Mode> Driver<'env, M> {
    /// Enters the running phase and starts the children spawned before it; a scope that
    /// cannot run reports why.
    fn start<E>(
        &mut self,
        scope: &Scope<'_, 'env, E, M>,
        enclosing: &Arc<dyn Enclosing>,
        supervise: bool,
    ) -> Result<(), ConfigError> {
        let shared = &scope.shared;
        // The policy with the run, before any child starts: the children's failures are
        // settled under it, on every thread.
        let refused = scope.config_error.is_some();
        if !shared.policy.claim(&shared.tracker, supervise, !refused) {
            // The scope's run is another's: nothing of it changes (its policy included).
            self.phase = Phase::Done;
            return Err(ConfigError::AlreadyRun);
        }
        if let Some(error) = scope.config_error.clone() {
            // Refused: the scope ends here, and so does its context (law 6), with a cause
            // that says why, first: the children spawned before the run never start, and
            // each handle reads `NotStarted` with that cause (the spawned ones wait in
            // admission, the in-place ones in the local queue, dropped here outside its
            // lock), as does a context cloned out of the scope.
            self.phase = Phase::Done;
            shared.cancel_own(refused_cause(&error));
            shared.tracker.close();
            shared.close_admission();
            shared.end_run(false);
            shared.obs.refused();
            let queued: Vec<LocalTask<'env, M>> = {
                let mut local = scope.local.lock();
                local.finished = true;
                local.tasks.drain(..).collect()
            };
            drop(queued);
            return Err(error);
        }
        self.phase = Phase::Running;
        self.aborts_seen = abort_epoch();
        shared.obs.started();
        // Woken when the context is cancelled (by anyone, at any depth above): the owner is
        // told outside every lock and only wakes the run, which then looks. The registration
        // looks at the deadline, and may fire one that passed before this first poll: a
        // callback's panic there is the scope's, as at its other looks.
        let mut live = false;
        shared.catching(|| live = shared.cx.set_owner(Arc::downgrade(enclosing)));
        if !live {
            shared.tracker.wake_owner();
        }
        // A deadline needs a timer to fire while everything sleeps.
        if shared.cx.deadline().is_some() {
            self.deadline_unarmed = true;
            self.arm_deadline(shared);
        }
        super::start_each(shared.admission.start(), |q| shared.start_queued(q));
        Ok(())
    }

    fn take_body_wake(&mut self) -> bool {
        match &self.set {
            None => std::mem::take(&mut self.body_woken),
            Some(set) => set.take_body_wake() | std::mem::take(&mut self.body_woken),
        }
    }

    fn body_waker(&self) -> Option<&std::task::Waker> {
        self.set.as_deref().map(InPlaceSet::body_waker)
    }

    /// Whether the in-place set stopped polling its children, tokio's cooperative budget spent
    /// (see `InPlaceSet::take_spent`).
    #[inline]
    fn budget_spent(&mut self) -> bool {
        self.set.as_deref_mut().is_some_and(InPlaceSet::take_spent)
    }

    fn has_ready(&self) -> bool {
        self.body_woken || self.set.as_deref().is_some_and(InPlaceSet::has_ready)
    }

    /// The body panicked: close the scope and cancel the children; the payload is resumed
    /// once they have drained.
    fn body_panicked<E>(&mut self, shared: &Shared<E>, payload: Box<dyn Any + Send>) {
        shared.tracker.close();
        let message = panic_message(payload.as_ref());
        shared.cancel_own(Cause::Panicked {
            task: shared.info.clone(),
            message,
        });
        shared.close_admission();
        keep_first(&mut self.panic, payload);
    }

    /// Takes requests, admits and polls in-place children, and handles cancellation: the
    /// grace, then the abort (of the in-place and spawned children here; the caller drops
    /// the body).
    #[inline]
    fn turn<E>(&mut self, scope: &Scope<'_, 'env, E, M>, task: &mut Context<'_>) -> Turn {
        let shared = &*scope.shared;
        shared.tracker.register_owner(task.waker());
        self.handle_requests(scope);
        if shared.runtime_gone() {
            self.without_timers(shared);
            if matches!(self.phase, Phase::Running | Phase::Draining | Phase::Held)
                && shared.is_cancelled_own()
            {
                // The abort at once: the in-place children are not polled again (their
                // timers, on the runtime shut down, would panic).
                return self.cancelled(scope, task);
            }
        }
        // Relaxed: a hint; `admit` takes them with Acquire.
        if shared.admission.in_place_admitted.load(Ordering::Relaxed) != 0 {
            self.admit(scope);
        }
        if let Some(set) = &mut self.set {
            set.register(task.waker());
            let completed = set.poll_ready(|done| {
                if done.slot {
                    shared.release_slot();
                }
            });
            if completed && shared.admission.in_place_admitted.load(Ordering::Relaxed) != 0 {
                // A completed child handed its slot to a queued one.
                self.admit(scope);
            }
        }
        if !self.deferred.is_empty() {
            self.poll_deferred(shared, task);
        }
        if self.deadline_unarmed {
            self.arm_deadline(shared);
        }
        if let Some(deadline) = &mut self.deadline {
            match deadline.as_mut().look(task) {
                Fired::Pending => {}
                // `is_cancelled` below fires it.
                Fired::Due => {
                    self.deadline = None;
                    if !shared.is_cancelled_own() {
                        // Due by the clock of the runtime it was made on, not yet by this
                        // one's (a run moved to a runtime whose clock is behind, a paused
                        // one): a timer here times it, or nothing would wake the run.
                        self.arm_deadline(shared);
                        if let Some(deadline) = &mut self.deadline {
                            let _ = deadline.as_mut().look(task);
                        }
                    }
                }
                Fired::CutShort => {
                    // The runtime shut down, and its timers with it: nothing would end the
                    // scope at its deadline. It ends now, as for a task the runtime dropped.
                    self.deadline = None;
                    self.without_timers(shared);
                    super::spawn::runtime_shut_down(shared);
                }
            }
        }
        if matches!(self.phase, Phase::Running | Phase::Draining | Phase::Held)
            && shared.is_cancelled_own()
        {
            return self.cancelled(scope, task);
        }
        Turn::Continue
    }

    /// Makes the timer that fires the scope's deadline, if a runtime is here to keep it (a
    /// run first polled outside one makes it at its first poll on one).
    #[cold]
    #[inline(never)]
    fn arm_deadline<E>(&mut self, shared: &Shared<E>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.deadline_unarmed = false;
        // A deadline at the end of time is never reached: no timer (one set as far as tokio
        // can take, fired on a paused clock, would find the deadline still ahead, and again).
        if let Some(at) = shared
            .cx
            .deadline()
            .filter(|&at| crate::timer::reachable(at))
        {
            self.deadline = Some(Timer::at(at));
        }
    }

    /// Requests from handles: aborts, and the grace of children cancelled alone.
    fn handle_requests<E>(&mut self, scope: &Scope<'_, 'env, E, M>) {
        let requests = scope.shared.take_requests();
        if requests.is_empty() {
            return;
        }
        self.handle_requests_slow(scope, requests);
    }

    #[cold]
    #[inline(never)]
    fn handle_requests_slow<E>(&mut self, scope: &Scope<'_, 'env, E, M>, requests: Vec<Control>) {
        // A grace asked for on a thread with a runtime is timed here, on the run's thread:
        // without a runtime here, it is not waited (as for every stop outside one).
        let timed = tokio::runtime::Handle::try_current().is_ok();
        for request in requests {
            match request {
                Control::StopInPlace { id, at } => {
                    self.stop_in_place(scope, id, at.filter(|_| timed));
                }
                Control::Deferred(at, target) if timed => self.defer(at, target),
                Control::Deferred(_, target) => target.abort_now(&scope.shared),
                Control::AfterGrace(target, grace) => {
                    // On the run's thread: its runtime (if it has one) times the grace.
                    scope.shared.stop_child_now(target, timed.then_some(grace));
                }
            }
        }
    }

    /// Moves the admitted in-place children from the scope's local queue into the set.
    #[inline(never)]
    fn admit<E>(&mut self, scope: &Scope<'_, 'env, E, M>) {
        let shared = &*scope.shared;
        // Acquire: pairs with the Release increment after the child was pushed.
        let admitted = shared
            .admission
            .in_place_admitted
            .swap(0, Ordering::Acquire);
        if admitted == 0 || matches!(self.phase, Phase::Aborted | Phase::Done) {
            return;
        }
        let taken: VecDeque<LocalTask<'env, M>> = {
            let mut local = scope.local.lock();
            let n = admitted.min(local.tasks.len());
            if n == local.tasks.len() {
                // All of them (the usual case): the queue itself, not a copy.
                std::mem::take(&mut local.tasks)
            } else {
                local.tasks.drain(..n).collect()
            }
        };
        let set = match &mut self.set {
            Some(set) => set,
            set @ None => {
                // From now on the body has its own waker: the run's next poll polls it with
                // it. (What wakes the task meanwhile goes through the task's waker, which the
                // body registered until now: that poll comes.)
                self.rearm = true;
                set.insert(Box::new(InPlaceSet::new(shared.tracker.owner_id())))
            }
        };
        set.reserve(taken.len());
        for t in taken {
            set.insert(Running {
                id: t.id,
                fut: t.fut,
                slot: t.slot,
            });
        }
    }

    /// Stops one in-place child: one still queued is dropped now (it never starts); a
    /// running one now, or at `at` (its grace) if it is still running then.
    fn stop_in_place<E>(
        &mut self,
        scope: &Scope<'_, 'env, E, M>,
        id: crate::info::TaskId,
        at: Option<Deferred>,
    ) {
        let shared = &*scope.shared;
        // The children let through but not yet taken hold a slot each: taken first, so that
        // what is left in the local queue waits for one. (Else a child holding a slot, stopped,
        // would take a waiting entry with it and keep its slot from the first child waiting.)
        self.admit(scope);
        // Waiting for a slot (or, without a limit, not yet taken): it never starts. With a
        // limit, one waiting in-place entry goes with it, so that the waiting entries and the
        // children waiting in the local queue stay as many.
        // Its rank among the children still waiting (after those admitted but not taken) is
        // the rank of its entry among the waiting in-place entries: that one goes. (Its place
        // in the local queue changes only on this thread; the count of those admitted, on any
        // thread a slot frees on: looked at under admission's lock.)
        let queued_at = {
            let local = scope.local.lock();
            position_from_both_ends(&local.tasks, |t| t.id == id)
        };
        let waiting = match queued_at {
            None => false,
            Some(_) if !shared.admission.is_limited() => true,
            Some(i) => shared
                .admission
                .remove_waiting_in_place(i)
                .unwrap_or_else(|| {
                    // A slot reached it as it was looked at: it holds one now. Taken as the
                    // children admitted are, and stopped as a running one, so that its slot
                    // passes on in the queue's order.
                    self.admit(scope);
                    false
                }),
        };
        if waiting {
            let queued = {
                let mut local = scope.local.lock();
                position_from_both_ends(&local.tasks, |t| t.id == id)
                    .and_then(|i| local.tasks.remove(i))
            };
            drop(queued);
            return;
        }
        if let Some(at) = at {
            // Only a child still running is aborted later (one that has ended has nothing
            // left to stop, and its entry would stay until the grace's end).
            if self.set.as_mut().is_some_and(|set| set.contains(id)) {
                self.defer(at, Target::InPlace(id));
            }
            return;
        }
        if let Some(running) = self.set.as_mut().and_then(|set| set.remove(id)) {
            let slot = running.slot;
            // Aborted alone (its handle's abort, or its grace's end): the work below it goes
            // with it, whatever is left of the graces of the scopes in it.
            drop_past_every_grace(true, move || drop(running));
            if slot {
                shared.release_slot();
            }
        }
    }

    /// A child to abort later. The list keeps no spawned child that has ended: its abort
    /// handle would keep its task's allocation until the grace's end.
    fn defer(&mut self, at: Deferred, target: Target) {
        if self.deferred.len() >= 64 && self.deferred.len().is_power_of_two() {
            // Ended children leave the list (and their tasks' memory with it).
            let set = &mut self.set;
            self.deferred.retain(|(_, t)| match t {
                Target::Task(h) => !h.is_finished(),
                Target::Queued(ticket) => !ticket.is_finished(),
                Target::InPlace(id) => set.as_mut().is_some_and(|set| set.contains(*id)),
            });
        }
        self.deferred.push((at, target));
        self.deferred_timer = None;
    }

    /// The run is dropped: the requests it has not read yet are read now, so that the graces
    /// of children cancelled alone since its last poll are handed on with the rest.
    #[cold]
    fn take_last_requests<E>(&mut self, shared: &Shared<E>) {
        let timed = tokio::runtime::Handle::try_current().is_ok();
        let mut left = Vec::new();
        for request in shared.take_requests() {
            match request {
                // Turned into a deferred abort (or done now), requested again below.
                Control::AfterGrace(target, grace) => {
                    shared.stop_child_now(target, timed.then_some(grace));
                }
                other => left.push(other),
            }
        }
        left.extend(shared.take_requests());
        for request in left {
            match request {
                Control::Deferred(at, target) if timed => self.deferred.push((at, target)),
                Control::Deferred(_, target) => target.abort_now(shared),
                // The in-place children go with the run; a grace asked for from elsewhere
                // meanwhile ends with the scope's (its forced abort reaches every child).
                Control::StopInPlace { .. } | Control::AfterGrace(..) => {}
            }
        }
    }

    #[inline(never)]
    fn poll_deferred<E>(&mut self, shared: &Shared<E>, task: &mut Context<'_>) {
        if self.deferred.is_empty() {
            self.deferred_timer = None;
            return;
        }
        for target in take_due(&mut self.deferred, &shared.tracker) {
            match target {
                Target::InPlace(id) => shared.request(Control::StopInPlace { id, at: None }),
                other => other.abort_now(shared),
            }
        }
        if let Some(next) = next_due(&self.deferred) {
            if timer_fired_at(&mut self.deferred_timer, next, task) {
                // Due now: the next turn aborts it.
                task.waker().wake_by_ref();
            }
        } else {
            self.deferred_timer = None;
        }
    }

    /// The scope's runtime is shutting down (it dropped a child of this scope, or of one
    /// nested in it): its timers are dropped unpolled (tokio panics at the poll of one there),
    /// and none is made again; the children cancelled alone, whose graces they timed, are
    /// stopped now.
    #[cold]
    #[inline(never)]
    fn without_timers<E>(&mut self, shared: &Shared<E>) {
        self.deadline = None;
        self.deadline_unarmed = false;
        self.grace = None;
        self.deferred_timer = None;
        for (_, target) in std::mem::take(&mut self.deferred) {
            match target {
                Target::InPlace(id) => shared.request(Control::StopInPlace { id, at: None }),
                other => other.abort_now(shared),
            }
        }
    }

    /// The scope is cancelled: close, then the grace, then the abort (which waits for the
    /// budgeted shields still running, each bounded by its budget).
    #[cold]
    #[inline(never)]
    fn cancelled<E>(&mut self, scope: &Scope<'_, 'env, E, M>, task: &mut Context<'_>) -> Turn {
        let shared = &*scope.shared;
        if self.phase == Phase::Running {
            self.phase = Phase::Draining;
            shared.obs.cancelled(&shared.cx);
            shared.tracker.close();
            shared.close_admission();
            Self::drop_queued(scope);
            shared.tracker.drop_waiting_jobs();
            let no_timer = tokio::runtime::Handle::try_current().is_err() || shared.runtime_gone();
            let grace = shared.cancel_grace();
            if !(grace.is_zero() || no_timer || self.cancel_cut_by_abort(shared)) {
                shared.obs.grace_began(grace);
                let mut timer = Timer::after(grace);
                let done = fired(timer.as_mut(), task);
                self.grace = Some(timer);
                if !done {
                    return Turn::Continue;
                }
                shared.obs.grace_ran_out();
            }
        } else if self.phase == Phase::Draining {
            if let Some(grace) = &mut self.grace {
                let look = grace.as_mut().look(task);
                let ran_out = look != Fired::Pending;
                if look == Fired::CutShort {
                    // Ends the grace: every task it waited for is gone with the runtime.
                    shared.mark_runtime_gone();
                }
                if !ran_out && !self.grace_cut_by_abort(shared) {
                    return Turn::Continue;
                }
                if ran_out {
                    shared.obs.grace_ran_out();
                }
                // Fired: kept (and reset) for the shields' hold and the body's last poll.
            }
        }
        // The abort begins: shields started from now on are not waited for.
        shared.tracker.force();
        if let Some(until) = shared.tracker.held_until() {
            // A budgeted shield under way is still cleaning up: the abort waits for it (its
            // end wakes the run), until its budget's end at the latest (the grace's timer,
            // reset to it, wakes the run: a shield no longer polled never ends on its own).
            // Outside a runtime, the end is looked at each poll.
            self.phase = Phase::Held;
            let no_timer = self.grace.is_none()
                && (tokio::runtime::Handle::try_current().is_err() || shared.runtime_gone());
            if no_timer || !timer_fired_at(&mut self.grace, until, task) {
                return Turn::Continue;
            }
        }
        self.phase = Phase::Aborted;
        // The grace's timer, fired, stays for the body's last poll (see `await_last_poll`).
        self.deadline = None;
        self.deadline_unarmed = false;
        // The tasks below first (sealing every tracker there), then the in-place children:
        // whatever their drop sets going finds the abort done.
        shared.tracker.abort_all();
        self.drop_children(scope);
        Turn::AbortBody
    }

    /// The grace ran out while the body runs: its last poll comes when the work below has
    /// ended, or [`LAST_POLL_WAIT`] from now on the grace's timer (the one that just fired,
    /// reset: no new timer). A scope with no such timer (a grace of zero, or a runtime
    /// without timers, where a zero grace is all a scope may have) yields to the runtime
    /// instead, for at most [`LAST_POLL_YIELDING`].
    #[cold]
    #[inline(never)]
    fn await_last_poll<E>(&mut self, shared: &Shared<E>) {
        self.body_last_poll = true;
        shared.last_poll_from.store(0, Ordering::Relaxed);
        if let Some(timer) = &mut self.grace {
            let at = Instant::now()
                .checked_add(LAST_POLL_WAIT)
                .unwrap_or_else(Instant::now);
            timer.as_mut().reset(at);
        }
    }

    /// The scope is cancelled now (its run sees it first): whether an enclosing scope's forced
    /// abort that came after the run started already ended the grace. Only when this run is
    /// polled in an enclosing scope's last poll (one of the scopes its own is nested in) (that scope's body awaits it, and is dropped
    /// after this poll): whatever the cancel, it came before that abort, or with it. Elsewhere
    /// (a scope in a shield, which the abort cannot stop, cancelled later on its own or through
    /// its own parent) it gets its grace. Either way, aborts up to this one are seen from now
    /// on. (Asked only of a scope with a grace to wait: the walk up its enclosing scopes is not
    /// made at each level of a chain cancelled without one.)
    #[cold]
    #[inline(never)]
    fn cancel_cut_by_abort<E>(&mut self, shared: &Shared<E>) -> bool {
        let cut =
            LastPoll::encloses(&shared.tracker) && shared.tracker.aborted_since(self.aborts_seen);
        self.aborts_seen = abort_epoch();
        cut
    }

    /// In the cancel's grace: whether an enclosing scope's forced abort came since the cancel
    /// and reached this scope's work, whatever the cancel was (the scope's own timeout, say).
    /// It ends the grace: the scope drops its in-place stragglers, and its body's value reaches
    /// the enclosing scope's last poll. (A scope whose enclosing one merely finished, or was
    /// aborted before this one started, keeps its grace.)
    fn grace_cut_by_abort<E>(&self, shared: &Shared<E>) -> bool {
        shared.tracker.aborted_since(self.aborts_seen)
    }

    /// Whether the runtime has completed the tasks the forced abort stopped, so that their
    /// handles are ready for the body's last poll (see [`Tracker::stopped_tasks_completed`]).
    /// If not, the run asks for the runtime's next turn: they are completed as it polls
    /// (within [`last_poll_due`](Self::last_poll_due)'s bound still).
    #[cold]
    #[inline(never)]
    fn stopped_completed<E>(scope: &Scope<'_, 'env, E, M>, task: &mut Context<'_>) -> bool {
        // Polled in the last poll of a scope around it, it has no later poll to wait in: that
        // scope waited for the tasks its abort stopped below it before its body's last poll.
        if scope.shared.tracker.stopped_tasks_completed()
            || LastPoll::encloses(&scope.shared.tracker)
        {
            return true;
        }
        let yielded = std::pin::pin!(tokio::task::yield_now()).poll(task);
        debug_assert!(yielded.is_pending());
        false
    }

    /// Whether the body's last poll may wait no longer for the work below, which has not
    /// ended (see [`await_last_poll`](Self::await_last_poll)).
    /// Without a timer, each call that is not due asks for the runtime's next turn: a yield,
    /// whose wake the runtime delivers after the task's poll (a wake made in the poll would
    /// come back to this run within it, through the in-place sets of the scopes above, with
    /// no turn of the runtime between); the time is the wall clock's. (Out of line: the
    /// yield's future is not on the stack of the run's poll, one frame per nested level.)
    #[cold]
    #[inline(never)]
    fn last_poll_due<E>(&mut self, shared: &Shared<E>, task: &mut Context<'_>) -> bool {
        let Some(wait) = self.grace.as_mut() else {
            // (Only the run reads and writes it.)
            let now = wall_mark();
            let from = match shared.last_poll_from.load(Ordering::Relaxed) {
                0 => {
                    shared.last_poll_from.store(now, Ordering::Relaxed);
                    now
                }
                from => from,
            };
            if now - from >= LAST_POLL_YIELDING_NANOS {
                return true;
            }
            let yielded = std::pin::pin!(tokio::task::yield_now()).poll(task);
            debug_assert!(yielded.is_pending());
            return false;
        };
        fired(wait.as_mut(), task)
    }

    /// Drops the in-place children not yet taken by the run (cancelled: they never start).
    fn drop_queued<E>(scope: &Scope<'_, 'env, E, M>) {
        scope
            .shared
            .admission
            .in_place_admitted
            .store(0, Ordering::Relaxed);
        let queued: Vec<LocalTask<'env, M>> = scope.local.lock().tasks.drain(..).collect();
        drop(queued);
    }

    /// Drops every in-place child, running or queued (each catches its own future's panic).
    fn drop_children<E>(&mut self, scope: &Scope<'_, 'env, E, M>) {
        if let Some(set) = &mut self.set {
            let running = set.take_all();
            drop(running);
        }
        Self::drop_queued(scope);
        self.deferred.clear();
        self.deferred_timer = None;
    }

    /// No in-place child, no spawned child and no nested scope's child left (the body
    /// aside): the scope may finish. Seals the tracker when it is.
    fn is_idle<E>(&mut self, scope: &Scope<'_, 'env, E, M>) -> bool {
        if self.set.as_ref().is_some_and(|s| !s.is_empty()) {
            return false;
        }
        let leftover: Vec<LocalTask<'env, M>> = {
            let mut local = scope.local.lock();
            if local.tasks.is_empty() {
                local.finished = true;
                Vec::new()
            } else if self.phase == Phase::Aborted {
                // Pushed while the abort ran (it passed the closed check just before): it
                // never starts.
                local.tasks.drain(..).collect()
            } else {
                return false;
            }
        };
        if !leftover.is_empty() {
            drop(leftover);
            return false;
        }
        scope.shared.tracker.try_finish()
    }
}

impl<E, M: Mode, F: Future, O> fmt::Debug for Run<'_, '_, E, M, F, O>
where
    F::Output: BodyOutput<E>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("scope", &self.core.scope.shared.info)
            .field("phase", &self.core.driver.phase)
            .field(
                "in_place_children",
                &self.core.driver.set.as_deref().map_or(0, InPlaceSet::len),
            )
            .finish_non_exhaustive()
    }
}
