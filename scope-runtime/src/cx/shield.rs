//! Shields: regions that do not see outer cancellation, for clean-up.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::ambient::enclosing_scope;
use super::{Cx, WithCx};
use crate::cause::Cause;
use crate::error::Interrupted;
use crate::scope::tracker::{Enclosing, Tracker};

/// Runs `fut` shielded from the ambient context's cancellation: it keeps the slots and does
/// not see outer cancellation or deadlines. It has no bound of its own and does not survive a
/// forced abort (after the scope's grace; at once with the default grace of zero): for
/// clean-up that must finish, use [`shield_for`], which has a budget the forced abort waits
/// for.
///
/// The ambient context is the one of the code that calls `shield`, read at the call (as
/// [`Cx::current`] would be), so that a shield can be handed to a task of its own with the
/// caller's slots. Call it inside the code it shields: `cx.run(shield(fut))` evaluates
/// `shield(fut)` before `cx` is entered, and shields the caller's context, not `cx`
/// (`cx.shield().run(fut)` shields `cx`).
///
/// The context it makes for `fut` is the shield's own: it ends when `fut` answers (with
/// [`Cause::Finished`]) or when the shield is dropped before (cut short: "shield dropped"),
/// so that a clone of it kept past the clean-up (a watcher, another library's task) learns
/// that the clean-up is over. `shield_for`'s too. A context made with [`Cx::shield`] is the
/// caller's, as any context given to [`Cx::run`]: it ends when the caller cancels it, not
/// with the future (a token bridged from it inside keeps it until then).
///
/// # Examples
///
/// ```
/// use scope::{shield, Cx, Slot};
/// static USER: Slot<u32> = Slot::new("USER");
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cx = Cx::root().with_slot(&USER, 7);
/// cx.cancel("request over");
/// let seen = cx
///     .run(async { shield(async { (scope::is_cancelled(), USER.get()) }).await })
///     .await;
/// assert_eq!(seen, (false, Some(7))); // not cancelled, and the slots kept
/// # });
/// ```
#[track_caller]
pub fn shield<F: Future>(fut: F) -> WithCx<F> {
    Cx::current().shield().run_owned(fut, Location::caller())
}

/// Runs `fut` shielded from the ambient context's cancellation (as [`shield`]) within a
/// budget: its context has a deadline `budget` from the first poll (it sees it as a
/// cancellation it can watch), and past the budget it is dropped and the shield resolves to
/// [`Interrupted::DeadlineExceeded`]. For clean-up that must run even when the work around it
/// is cancelled: a flush, a commit, a compensation step.
///
/// The context it shields is the caller's, read at the call (see [`shield`]); the scope whose
/// forced abort waits for it is the one it is polled in, at its first poll.
///
/// While it runs, the forced abort of the enclosing scope (and of every scope above, and of a
/// service it runs in) waits for it: the other children are still signalled, and aborted with
/// it when it ends. So clean-up in a shield gets its budget even after the scope's grace has
/// run out, for spawned and in-place children alike (and for the spawned children of a scope
/// that is dropped, and for a child cancelled alone through its handle). The budget bounds
/// that wait: the shield answers at its budget's end, and the code right after it runs before
/// the abort; a shield kept but no longer polled holds the abort off until its budget's end
/// (and 100 ms more for it to answer), no longer, and a shield started after the forced abort
/// began is not waited for (a loop of shields cannot put the abort off for ever). One bound it
/// does not extend: the application's grace
/// ([`App::run`](crate::App::run), `#[scope::main]`), the program's own deadline: main work
/// still running then is dropped, shields and all, once the services are stopped. Nor does it
/// hold off an abort asked for by name: [`Child::abort`](crate::Child::abort) (and
/// [`ChildSet::abort_all`](crate::ChildSet::abort_all)) drop the child at once, its shields
/// with it; ask with [`Child::cancel`](crate::Child::cancel) to let its clean-up run.
///
/// Clean-up that *starts after* the cancel (a `finally` written as "wait for the cancel, then
/// shield the rollback") needs a grace: with the default grace of zero the forced abort
/// begins as the scope is cancelled, so a spawned child that only then reaches its
/// `shield_for` is aborted before it gets there, or has started its shield after the abort
/// began (not waited for), as the scheduler happens to order them. Give the scope a grace
/// (`Config::grace`, `#[scoped(grace = ..)]`) as long as it takes the code to reach the
/// shield; the shield's budget then covers the clean-up itself, past the grace. A shield
/// already under way when the cancel comes needs no grace (the example below).
///
/// The shield runs in code that is already running: a child *spawned* after its scope's
/// cancel never starts, shielded or not (its handle resolves to
/// [`Interrupted::NotStarted`]). Work the code around it has taken on (a request already
/// read when the shutdown came) is finished in a shield entered where it was taken on (the
/// body, or a child already started), not handed to a new child.
///
/// Outside a tokio runtime there is no timer: the budget is checked each time the shield is
/// polled, so a shield kept there but no longer polled holds the abort until it is polled or
/// dropped. On a tokio runtime built without timers, tokio panics where the budget's timer is
/// made, as its own `sleep` does: build it with `enable_time()` (or `enable_all()`).
///
/// # Examples
///
/// A commit under way when the scope is cancelled finishes, although the scope's grace is
/// zero: the forced abort waits for it, within its budget.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let flushed = Arc::new(AtomicBool::new(false));
/// let f = flushed.clone();
/// let s = &Scope::new(Config::new()); // no grace: cancelled children are aborted at once...
/// let out = s
///     .run(async {
///         s.spawn(async move {
///             // ...but not while they are in a budgeted shield.
///             scope::shield_for(Duration::from_secs(1), async move {
///                 tokio::time::sleep(Duration::from_millis(100)).await; // commit
///                 f.store(true, Ordering::SeqCst);
///             })
///             .await
///         });
///         tokio::task::yield_now().await; // the commit is under way (current-thread runtime)
///         s.cancel("shutting down");
///         std::future::pending::<()>().await;
///         Ok::<_, Interrupted>(())
///     })
///     .await;
/// assert!(out.is_err());
/// assert!(flushed.load(Ordering::SeqCst));
/// # });
/// ```
///
/// Past its budget, the clean-up is dropped and says so:
///
/// ```
/// use std::time::Duration;
/// use scope::Interrupted;
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let out = scope::shield_for(Duration::from_millis(10), tokio::time::sleep(Duration::from_secs(5))).await;
/// let Err(Interrupted::DeadlineExceeded(d)) = out else { unreachable!() };
/// assert_eq!(d.to_string(), "deadline of `shield (budget 10ms)` exceeded");
/// # });
/// ```
#[track_caller]
pub fn shield_for<F: Future>(budget: Duration, fut: F) -> ShieldFor<F> {
    ShieldFor {
        fut: Some(Cx::current().shield().run_owned(fut, Location::caller())),
        budget,
        at: None,
        timer: None,
        held: Vec::new(),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`shield_for`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let shielded: scope::ShieldFor<_> = scope::shield_for(Duration::from_secs(1), async { 7 });
    /// assert_eq!(shielded.await.unwrap(), 7);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ShieldFor<F> {
        #[pin]
        fut: Option<WithCx<F>>,
        budget: Duration,
        // Armed at the first poll: the budget's end, and its timer (none outside a runtime).
        at: Option<Instant>,
        timer: Option<Option<Pin<Box<crate::timer::Timer>>>>,
        // The scopes whose forced aborts wait for this shield, while it runs.
        held: Vec<Arc<dyn Enclosing>>,
    }

    impl<F> PinnedDrop for ShieldFor<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            release(this.held, *this.at);
        }
    }
}

impl<F: Future> Future for ShieldFor<F> {
    type Output = Result<F::Output, Interrupted>;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.timer.is_none() {
            // The budget runs from the first poll: the shield's context gets it as a deadline,
            // and the scope around waits for it.
            // A budget past what a timer can take (`Duration::MAX`) gives the work no deadline
            // (user code hands a context's deadline to tokio, which could not take it).
            let at = super::deadline_after(*this.budget);
            if let (true, Some(mut fut)) =
                (crate::timer::reachable(at), this.fut.as_mut().as_pin_mut())
            {
                let origin = format!("shield (budget {:?})", this.budget);
                let inner = fut.cx().child_with_named_deadline(at, origin);
                fut.as_mut().set_cx(inner);
            }
            // Outside a runtime there is no timer: the budget is checked at each poll.
            let timer = tokio::runtime::Handle::try_current()
                .is_ok()
                .then(|| crate::timer::Timer::at(at));
            *this.timer = Some(timer);
            *this.at = Some(at);
            if let Some(scope) = enclosing_scope() {
                *this.held = Tracker::hold(&scope, at);
            }
        }
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        if let Poll::Ready(out) = fut.poll(task) {
            this.fut.set(None);
            release(this.held, *this.at);
            return Poll::Ready(Ok(out));
        }
        let expired = match this.timer.as_mut() {
            // One its runtime's shutdown fired early leaves the budget read from the clock at
            // each poll.
            Some(Some(timer)) => timer.as_mut().passed(task),
            Some(None) => this.at.is_some_and(|at| Instant::now() >= at),
            None => false,
        };
        if !expired {
            return Poll::Pending;
        }
        // Over budget: dropped (outside any lock), and said so.
        let cause = this
            .fut
            .as_ref()
            .as_pin_ref()
            .and_then(|f| f.get_ref().cx().cause_arc())
            .unwrap_or_else(|| {
                Arc::new(Cause::DeadlineExceeded {
                    scope: format!("shield (budget {:?})", this.budget).into(),
                })
            });
        this.fut.set(None);
        release(this.held, *this.at);
        Poll::Ready(Err(Interrupted::from_shared_cause(cause)))
    }
}

/// Ends the holds of a shield whose budget ends `at`.
fn release(held: &mut Vec<Arc<dyn Enclosing>>, at: Option<Instant>) {
    let Some(at) = at else { return };
    for scope in held.drain(..) {
        scope.tracker().unhold(at);
    }
}

impl<F> fmt::Debug for ShieldFor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShieldFor")
            .field("budget", &self.budget)
            .field("running", &self.fut.is_some())
            .finish_non_exhaustive()
    }
}
