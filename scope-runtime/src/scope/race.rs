//! First-ok: a race, where the first candidate to succeed wins and the others are cancelled.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use super::child::Child;
use super::mode::{Local, Mode, Sendable};
use super::outcome::{did_not_complete, explained, AsReport, RaceBodyOutput, Report, TaskOutput};
use super::run::Run;
use super::{Scope, Shared, BODY_FAILED, OPEN, WON};
use crate::cause::Cause;
use crate::config::Config;
use crate::cx::Cx;
use crate::error::{drop_after_panic, Failure, Failures, Interrupted, Panicked};
use crate::info::TaskInfo;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Offers a candidate's value: the first one wins, unless the body's failure answered the
/// race before it (see [`Shared::answered_by`]: one exchange decides between the two, whatever
/// else cancelled the race meanwhile), in which case the value is a consequence of that
/// failure's cancel, as a loser's is.
///
/// The win cancels the race's own context as the race: a callback that panics there is the
/// race's panic, not the winning candidate's.
fn offer<T, E>(winner: &Winner<T>, shared: &Shared<E>, value: T) {
    let lost = {
        let mut slot = lock(&winner.value);
        // AcqRel: pairs with the body's exchange (`Shared::fail`) and the run's answer.
        // (A race whose run was dropped under way takes no winner: nobody would read it.)
        if slot.is_none()
            && !winner.closed.load(Ordering::Relaxed)
            && shared
                .answered_by
                .compare_exchange(OPEN, WON, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            *slot = Some(value);
            None
        } else {
            Some(value)
        }
    };
    if let Some(value) = lost {
        // A later success: its value is dropped, outside the lock (inside the candidate's
        // context, as its future is: a panic there is the candidate's).
        drop(value);
    } else {
        // Reported as the race's end, not as a cancellation; later errors answer the win.
        // Release: read by the candidates' settles.
        shared.won.store(true, Ordering::Release);
        shared.obs.won();
        // Whether the win stopped the race (its cancel came first), or came within the grace
        // of a stop already under way (a deadline, a cancel): only the first is the race's
        // answer when a panic then fails it. (A callback's panic means this cancel ran them.)
        // (The body's failure, which cannot answer the race now, cancels nothing.)
        let first = shared.cancel_own(Cause::explicit("another candidate won the race"));
        winner.stopped_the_race.store(first, Ordering::Relaxed);
    }
}

/// The winning value, kept for the run to answer with.
struct Winner<T> {
    value: Mutex<Option<T>>,
    /// The win's cancel stopped the race (it came first): the win is the race's answer, even
    /// when a panic then fails it. A value within the grace of a stop already under way (a
    /// deadline, a cancel) answers nothing then.
    stopped_the_race: AtomicBool,
    /// The race's run was dropped under way: a value offered now loses (set and read under
    /// the value's lock).
    closed: AtomicBool,
}

impl<T> Drop for Winner<T> {
    fn drop(&mut self) {
        // A winner its run did not answer with (the run was dropped after the win, before its
        // next poll): nobody reads it. Dropped under a catch, as an unread handle's value: its
        // destructor is the candidate's code, and its panic must not unwind into the code
        // dropping the race (or the candidate's task that held this last), which may be
        // unwinding already. (Here, not in a `Drop` of the race: the race is borrowed for its
        // own lifetime by its run and its candidates, which a `Drop` of its own would forbid.)
        let unread = self
            .value
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(unread) = unread {
            drop_after_panic(unread);
        }
    }
}

/// A first-ok scope (a race): the first candidate to succeed wins, the others are cancelled
/// (a candidate has succeeded once its future returned its value and was dropped: its
/// destructor is part of its work, so one whose destructor is slow offers its value after it);
/// if every candidate fails, all the failures are returned together (past the first 256
/// errors, counted rather than kept: [`Failures::not_kept`](crate::Failures::not_kept)). A
/// candidate's panic is
/// never dropped for a winner: a race in which a candidate panicked (before the win, or while
/// it stopped after it) returns every failure, the panic among them.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Race};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let race = &Race::new(Config::new().name("mirrors"));
/// let winner = race
///     .run(async {
///         race.spawn(async {
///             tokio::time::sleep(Duration::from_millis(50)).await;
///             Ok::<_, Interrupted>("slow")
///         });
///         race.spawn(async { Ok("fast") });
///     })
///     .await;
/// assert_eq!(winner.unwrap(), "fast");
/// # });
/// ```
pub struct Race<'s, 'env, T, E, M: Mode = Sendable> {
    pub(super) scope: Scope<'s, 'env, E, M>,
    winner: Arc<Winner<T>>,
    /// Whether a candidate was started: a race that had one and ends with no winner and no
    /// failure (every candidate stopped alone) says so, rather than "no candidates".
    had_candidates: std::sync::atomic::AtomicBool,
}

/// A race whose in-place candidates need not be `Send`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use scope::{Config, Interrupted, LocalRace};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = Rc::new("cached"); // not `Send`
/// let race: &LocalRace<'_, '_, &str, Interrupted> = &LocalRace::new_local(Config::new());
/// let winner = race
///     .run(async {
///         race.spawn_in_place(async { Ok::<_, Interrupted>(*cache) });
///     })
///     .await;
/// assert_eq!(winner.unwrap(), "cached");
/// # });
/// ```
pub type LocalRace<'s, 'env, T, E> = Race<'s, 'env, T, E, Local>;

impl<'s, 'env, T, E> Race<'s, 'env, T, E, Sendable> {
    /// Enters a race scope: its policy is first-ok.
    ///
    /// # Examples
    ///
    /// A failing candidate does not end the race:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Race};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new());
    /// let winner = race
    ///     .run(async {
    ///         race.spawn(async { Err::<&str, E>("mirror a is down".into()) });
    ///         race.spawn(async {
    ///             tokio::time::sleep(Duration::from_millis(10)).await;
    ///             Ok::<_, E>("mirror b")
    ///         });
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), "mirror b");
    /// # });
    /// ```
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self::enter(config)
    }
}

impl<'s, 'env, T, E> Race<'s, 'env, T, E, Local> {
    /// Enters a race whose in-place candidates need not be `Send`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use scope::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tries = Cell::new(0); // not `Sync`: a shared borrow of it is not `Send`
    /// let race = &Race::new_local(Config::new());
    /// let winner = race
    ///     .run(async {
    ///         race.spawn_in_place(async {
    ///             tries.set(tries.get() + 1);
    ///             Ok::<_, Interrupted>("local")
    ///         });
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), "local");
    /// assert_eq!(tries.get(), 1);
    /// # });
    /// ```
    #[must_use]
    pub fn new_local(config: Config) -> Self {
        Self::enter(config)
    }
}

/// Drops a race's winner if a panic leaves the run's poll while it is set.
struct WinnerOnUnwind<'r, 's, 'env, T, E, M: Mode>(Option<&'r Race<'s, 'env, T, E, M>>);

impl<T, E, M: Mode> Drop for WinnerOnUnwind<'_, '_, '_, T, E, M> {
    fn drop(&mut self) {
        if let Some(race) = self.0 {
            race.drop_unread_winner();
        }
    }
}

impl<T, E, M: Mode> Race<'_, '_, T, E, M> {
    /// The race's run is dropped under way (or ends with its body's panic): the value that
    /// won, if one did, is dropped now, inside the race's context and under a catch (its
    /// destructor's panic, the candidate's, is printed by the hook and dropped, as a failure
    /// the run kept is: it must not unwind the code that dropped the run), and a value offered
    /// from now on loses.
    fn drop_unread_winner(&self) {
        let unread = {
            let mut slot = lock(&self.winner.value);
            self.winner.closed.store(true, Ordering::Relaxed);
            slot.take()
        };
        if let Some(unread) = unread {
            self.scope.shared.in_cx(|| drop_after_panic(unread));
        }
    }
}

impl<'s, 'env, T, E, M: Mode> Race<'s, 'env, T, E, M> {
    /// A candidate: its success is offered to the race; the first one wins and cancels the
    /// others.
    pub(super) fn candidate<F>(&self, fut: F) -> impl Future<Output = Result<(), E>>
    where
        F: Future,
        F::Output: TaskOutput<E, Ok = T>,
    {
        self.had_candidates.store(true, Ordering::Relaxed);
        let winner = Arc::clone(&self.winner);
        let shared = Arc::clone(&self.scope.shared);
        async move {
            let value = fut.await.into_result()?;
            offer(&winner, &shared, value);
            Ok(())
        }
    }

    fn enter(config: Config) -> Self {
        Self {
            scope: Scope::enter(config),
            winner: Arc::new(Winner {
                value: Mutex::new(None),
                stopped_the_race: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
            had_candidates: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The race's context.
    ///
    /// # Examples
    ///
    /// The winner cancels the race's context, which is how the other candidates learn of it:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new());
    /// let winner = race
    ///     .run(async {
    ///         race.spawn(async { Ok::<_, Interrupted>(1) });
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), 1);
    /// assert_eq!(race.cx().cause().unwrap().to_string(), "another candidate won the race");
    /// # });
    /// ```
    pub fn cx(&self) -> &Cx {
        self.scope.cx()
    }

    /// Who the race is (its id, name and location): the task its own entry in its failures
    /// names ([`Failures::interruption`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Race};
    /// let race = Race::<u8, Interrupted>::new(Config::new().name("mirrors"));
    /// assert_eq!(race.info().name(), Some("mirrors"));
    /// ```
    pub fn info(&self) -> &TaskInfo {
        self.scope.info()
    }

    /// Cancels the race and its candidates. A value a candidate gives within the race's
    /// grace after the cancel still wins; with none, the race fails with the cancellation
    /// first.
    ///
    /// # Examples
    ///
    /// A race cancelled before any success fails with the cancellation first:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new());
    /// let out = race
    ///     .run(async {
    ///         race.spawn(std::future::pending::<Result<u8, Interrupted>>());
    ///         race.cancel("user gave up");
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// let first = failures.primary().unwrap().error();
    /// assert!(matches!(first, Interrupted::Cancelled(c) if c.cause().to_string() == "user gave up"));
    /// # });
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        self.scope.cancel(reason)
    }
}

impl<'s, 'env, T, E, M> Race<'s, 'env, T, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
    T: Send + 'static,
{
    /// Starts a candidate on the runtime (see [`Scope::spawn`]).
    ///
    /// # Examples
    ///
    /// The value goes to the race; the handle only tells how the candidate ended:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Race};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::new(Config::new());
    /// let winner = race
    ///     .run(async {
    ///         let handle = race.spawn(async { Ok::<_, Interrupted>(7) });
    ///         assert!(handle.await.is_ok());
    ///     })
    ///     .await;
    /// assert_eq!(winner.unwrap(), 7);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&'s self, fut: F) -> Child<'s, ()>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E, Ok = T>,
    {
        let candidate = self.candidate(fut);
        self.scope.spawn(candidate)
    }

    /// [`spawn`](Race::spawn) with a name.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Race};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::<u8, E>::new(Config::new());
    /// let out = race
    ///     .run(async {
    ///         race.spawn_named("primary", async { Err::<u8, E>("timeout".into()) });
    ///         race.spawn_named("replica", async { Err::<u8, E>("refused".into()) });
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// let mut names: Vec<_> = failures.iter().filter_map(|f| f.task().name()).collect();
    /// names.sort_unstable();
    /// assert_eq!(names, ["primary", "replica"]);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&'s self, name: impl Into<Cow<'static, str>>, fut: F) -> Child<'s, ()>
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput<E, Ok = T>,
    {
        let candidate = self.candidate(fut);
        self.scope.spawn_named(name, candidate)
    }
}

impl<'s, 'env, T, E, M> Race<'s, 'env, T, E, M>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    /// Runs the race: the body starts candidates; the first success is returned; if all
    /// fail (or there was none), or a candidate panicked, every failure is. A race stopped
    /// before a success (its deadline, a cancel) still takes a value that comes within its
    /// grace; if none does, its failures have an entry of its own, first:
    /// [`Failures::interruption`] tells it from every candidate failing.
    ///
    /// A body that returns an error answers the race with it if, when the race looks at the
    /// error, no candidate has won and nothing has cancelled the race: the candidates are
    /// cancelled, and a value one of them makes after that does not win (the race looks before
    /// the error's `Display` runs, so a slow `Display` moves nothing). A body error after a win,
    /// or after a cancel from outside, is that event's consequence and answers nothing.
    ///
    /// # Examples
    ///
    /// If every candidate fails, every failure is returned:
    ///
    /// ```
    /// use scope::{Config, Race};
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::<u8, E>::new(Config::new());
    /// let out = race
    ///     .run(async {
    ///         race.spawn(async { Err::<u8, E>("a is down".into()) });
    ///         race.spawn(async { Err::<u8, E>("b is down".into()) });
    ///     })
    ///     .await;
    /// let failures = out.unwrap_err();
    /// assert_eq!(failures.len(), 2);
    /// assert!(failures.to_string().starts_with("2 tasks failed; first: task `"));
    /// # });
    /// ```
    pub fn run<B>(&'s self, body: B) -> RaceRun<'s, 'env, T, E, M, B>
    where
        B: Future,
        B::Output: RaceBodyOutput<E>,
    {
        // The body's value is turned into the scope's by the conversion chosen here, where
        // its type is checked: the run's type asks nothing more of the body, so a body that
        // ends with a value is told so once, here, not again where the race is awaited.
        let body = RaceBody {
            body,
            finish: <B::Output as TaskOutput<E>>::into_result,
        };
        // The scope's run is made now, not at the first poll: dropped unpolled (a `select!`
        // branch never taken), it drops the body inside the race's context, as a scope's run
        // does, not with this future's arguments in the caller's.
        RaceRun {
            race: self,
            run: self.scope.run_with::<_, AsReport>(body),
        }
    }

    /// The race's answer from its scope's report.
    fn answer(&self, report: Report<(), E>) -> Result<T, Failures<E>> {
        // A refused call did not run the race: a winner there is its run's, not this call's.
        let winner = if report.refused {
            None
        } else {
            lock(&self.winner.value).take()
        };
        // What came first, the win or the body's kept failure, is what answered the race (one
        // exchange decided it, whatever cancel came between: a cancel from outside landing as
        // the failure was kept is no win for a value made after it). Acquire: pairs with the
        // exchange; every child has ended.
        let body_failed_first =
            self.scope.shared.answered_by.load(Ordering::Acquire) == BODY_FAILED;
        let won = winner.is_some() && !body_failed_first;
        let mut dropped = None;
        if let Some(value) = winner {
            // Acquire: pairs with the store of a child's panic; every child has ended.
            if won && !self.scope.shared.child_panicked.load(Ordering::Acquire) {
                // The losers' errors, kept until now (a panic could still have failed the
                // race), are user code to drop: one at a time, each under a catch. A panic
                // there is a bug that reaches the caller, as a candidate's is: the race
                // fails with it, and the winner's value is dropped.
                let Report { info, failures, .. } = report;
                let mut panic = None;
                for failure in failures {
                    if let Err(payload) = crate::error::drop_caught(failure) {
                        crate::error::keep_first(&mut panic, payload);
                    }
                }
                let Some(payload) = panic else {
                    return Ok(value);
                };
                crate::error::drop_after_panic(value);
                let panic = Panicked::new(info.clone(), payload);
                let failure = Failure::named_by_its_error(info, E::from(panic.into()));
                return Err(Failures::kept(vec![failure], 0));
            }
            // A candidate panicked (before the win, or while it stopped after it): a panic is
            // a bug that reaches the caller, so the race fails with it and every other
            // failure (or the body's failure came first). The value is dropped here (user code, no lock held); a panic of its
            // destructor is one more failure, of the race, not an unwind in place of them.
            dropped = crate::error::drop_caught(value).err();
        }
        let Report {
            info,
            out,
            mut failures,
            not_kept,
            cause,
            // The race's own rule (below): its body's `()` answers nothing.
            unanswered: _,
            refused: _,
        } = report;
        if let Some(payload) = dropped {
            let panic = Panicked::new(info.clone(), payload);
            failures.push(Failure::named_by_its_error(
                info.clone(),
                E::from(panic.into()),
            ));
        }
        // No winner: the race's own entry comes first when nothing recorded explains why it
        // stopped. A cancellation from outside (its parent, a deadline, a cancel) is always
        // reported, since the body's `()` is not an answer; a body that did not complete
        // (dropped, or it returned an error) is reported when no cause explains it. A race
        // whose win stopped it was answered: no entry of its own. A value that came within
        // the grace of a stop already under way answers nothing once a panic fails the race:
        // the stop is reported (`probe131`).
        // (Every child has ended: the win's mark is seen through the tracker's count.)
        let answered = won && self.winner.stopped_the_race.load(Ordering::Relaxed);
        let own = match cause.as_deref() {
            _ if answered => false,
            None => out.is_none() && !explained(None, &failures),
            cause => !explained(cause, &failures),
        };
        if own {
            let cause = cause.unwrap_or_else(did_not_complete);
            let interrupted = E::from(Interrupted::from_shared_cause(cause));
            failures.insert(0, Failure::of_the_scope(info, interrupted));
        } else if failures.is_empty() && self.had_candidates.load(Ordering::Relaxed) {
            // Every candidate was stopped alone (through its handle): none failed, none won.
            let cause = Arc::new(Cause::explicit(
                "every candidate was stopped (through its handle) before one succeeded",
            ));
            let interrupted = E::from(Interrupted::from_shared_cause(cause));
            failures.push(Failure::of_the_scope(info, interrupted));
        }
        Err(Failures::kept(failures, not_kept))
    }
}

pin_project_lite::pin_project! {
    /// A race's body, its value turned into the scope's by the conversion [`Race::run`] chose
    /// where it checked the body's type.
    struct RaceBody<B: Future, E> {
        #[pin]
        body: B,
        finish: fn(B::Output) -> Result<(), E>,
    }
}

impl<B: Future, E> Future for RaceBody<B, E> {
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.body.poll(cx));
        Poll::Ready((this.finish)(out))
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`Race`]'s run, returned by [`Race::run`]: the winner's value, or
    /// every failure.
    ///
    /// It is the race's scope's [`Run`](crate::Run), with the race's answer made at its end:
    /// dropped before it completes, it stops the race as a dropped scope's run does, and a
    /// value that won before the drop is dropped with it, inside the race's context (a panic
    /// of its destructor is printed by the panic hook and does not unwind the drop; a value
    /// that comes after loses, and is dropped by its candidate). So is a value that won before
    /// the body panicked: the run resumes the body's panic, and the value goes as it leaves.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Race, RaceRun};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let race = &Race::<u8, Interrupted>::new(Config::new());
    /// let run: RaceRun<'_, '_, u8, Interrupted, _, _> = race.run(async {
    ///     race.spawn(async { Ok::<u8, Interrupted>(7) });
    /// });
    /// assert_eq!(run.await.unwrap(), 7);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RaceRun<'s, 'env, T, E, M: Mode, B: Future> {
        race: &'s Race<'s, 'env, T, E, M>,
        #[pin]
        run: Run<'s, 'env, E, M, RaceBody<B, E>, AsReport>,
    }

    impl<'s, 'env, T, E, M: Mode, B: Future> PinnedDrop for RaceRun<'s, 'env, T, E, M, B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Dropped under way (not before its first poll, after its end, or refused): the
            // value that won is nobody's to read (before the run's own drop stops the race).
            if this.run.as_ref().is_under_way() {
                this.race.drop_unread_winner();
            }
        }
    }
}

impl<'s, 'env, T, E, M, B> Future for RaceRun<'s, 'env, T, E, M, B>
where
    M: Mode,
    E: From<Interrupted> + fmt::Display + Send + 'static,
    B: Future,
{
    type Output = Result<T, Failures<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The run resumes its body's panic at its end: a value that won before it is nobody's
        // to read then, and goes as the panic leaves, inside the race's context (as at a run
        // dropped under way), not when the race is dropped.
        let mut unwinding = WinnerOnUnwind(Some(this.race));
        let polled = this.run.poll(cx);
        unwinding.0 = None;
        let report = ready!(polled);
        // (The scope's own output is the report: the race's answer drops what it leaves.)
        if report.leaves_values() {
            let shared = &this.race.scope.shared;
            return Poll::Ready(shared.in_cx(|| this.race.answer(report)));
        }
        Poll::Ready(this.race.answer(report))
    }
}

impl<T, E, M: Mode, B: Future> fmt::Debug for RaceRun<'_, '_, T, E, M, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaceRun")
            .field("race", &self.race)
            .finish_non_exhaustive()
    }
}

impl<T, E, M: Mode> fmt::Debug for Race<'_, '_, T, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

macro_rules! race_in_place {
    ($mode:ty $(, $send:ident)?) => {
        impl<'s, 'env, T, E> Race<'s, 'env, T, E, $mode>
        where
            E: From<Interrupted> + fmt::Display + Send + 'static,
            T: $($send +)? 'env,
        {
            /// Starts an in-place candidate (see [`Scope::spawn_in_place`]).
            ///
            /// # Examples
            ///
            /// Candidates may borrow from outside the race:
            ///
            /// ```
            /// use scope::{Config, Interrupted, Race};
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let mirrors = ["a.example", "b.example"];
            /// let race = &Race::new(Config::new());
            /// let winner = race
            ///     .run(async {
            ///         for mirror in &mirrors {
            ///             race.spawn_in_place(async move { Ok::<_, Interrupted>(*mirror) });
            ///         }
            ///     })
            ///     .await;
            /// assert!(mirrors.contains(&winner.unwrap()));
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place<F>(&'s self, fut: F) -> Child<'s, ()>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E, Ok = T>,
            {
                let candidate = self.candidate(fut);
                self.scope.spawn_in_place(candidate)
            }

            /// [`spawn_in_place`](Race::spawn_in_place) with a name.
            ///
            /// # Examples
            ///
            /// ```
            /// use scope::{Config, Race};
            /// type E = Box<dyn std::error::Error + Send + Sync>;
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let race = &Race::<u8, E>::new(Config::new());
            /// let out = race
            ///     .run(async {
            ///         race.spawn_in_place_named("cache", async { Err::<u8, E>("miss".into()) });
            ///     })
            ///     .await;
            /// assert_eq!(out.unwrap_err().to_string(), "task `cache` failed: miss");
            /// # });
            /// ```
            #[track_caller]
            pub fn spawn_in_place_named<F>(
                &'s self,
                name: impl Into<Cow<'static, str>>,
                fut: F,
            ) -> Child<'s, ()>
            where
                F: Future $(+ $send)? + 'env,
                F::Output: TaskOutput<E, Ok = T>,
            {
                let candidate = self.candidate(fut);
                self.scope.spawn_in_place_named(name, candidate)
            }
        }
    };
}

race_in_place!(Sendable, Send);
race_in_place!(Local);
