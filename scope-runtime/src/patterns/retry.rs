//! Retry: attempts with an exponential backoff between them, every sleep cancellable, none
//! past the context's deadline.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use tokio::time::Instant;

use super::backoff::{Backoff, Rng};
use crate::cause::Cause;
use crate::cx::Cx;
use crate::error::{ConfigError, Interrupted};
use crate::timer::{Delay, Fired};

/// Which errors are worth another attempt: implemented by [`AnyError`] (all of them) and by
/// every `Fn(&E) -> bool`.
///
/// # Examples
///
/// ```
/// use scope::{AnyError, RetryIf};
/// let transient = |e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut;
/// assert!(transient.retry_if(&std::io::Error::from(std::io::ErrorKind::TimedOut)));
/// assert!(!transient.retry_if(&std::io::Error::from(std::io::ErrorKind::NotFound)));
/// assert!(RetryIf::<std::io::Error>::retry_if(&AnyError, &std::io::Error::other("x")));
/// ```
pub trait RetryIf<E> {
    /// Whether `error` is worth another attempt.
    fn retry_if(&self, error: &E) -> bool;
}

/// The default predicate of [`Retry`]: every error is worth another attempt.
///
/// # Examples
///
/// ```
/// use scope::{AnyError, RetryIf};
/// assert!(RetryIf::<&str>::retry_if(&AnyError, &"anything"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AnyError;

impl<E> RetryIf<E> for AnyError {
    fn retry_if(&self, _: &E) -> bool {
        true
    }
}

impl<E, F: Fn(&E) -> bool> RetryIf<E> for F {
    fn retry_if(&self, error: &E) -> bool {
        self(error)
    }
}

/// Retries an operation with an exponential [`Backoff`] between attempts, under the ambient
/// context ([`Cx::current`]): inside any scope or child, or under [`Cx::run`].
///
/// [`run`](Retry::run) calls the operation, and on an error that the predicate
/// ([`when`](Retry::when)) accepts, sleeps the backoff and calls it again, up to
/// [`attempts`](Retry::attempts) calls in all. It returns the first success, or:
///
/// - the **last error**, unchanged, when the attempts are used up or the predicate rejects
///   it, unless the context was cancelled meanwhile (then the cancellation, below, wins);
/// - the **cancellation**, as soon as the context is cancelled: before an attempt starts,
///   after an attempt fails (whatever its error, and whatever attempts are left), or during
///   a backoff sleep, which wakes at once (the attempt
///   itself is the operation's own code: it sees the cancellation as any code does);
/// - the **deadline**, at once, when the next backoff would end at or after the context's
///   deadline, or less than 2 ms before it (tokio's timer counts whole milliseconds, and may
///   wake a sleep up to two of them after its end): it does not sleep towards a deadline it
///   cannot beat (on a loaded machine, the scheduler may still wake it later than that). A
///   zero backoff does not sleep, and retries up to the deadline itself.
///
/// A panic in an attempt is not an error: it is not caught and not retried, but goes up as
/// any panic does (in a child, its scope reports it as
/// [`Panicked`](crate::Interrupted::Panicked)). A [`Supervisor`](crate::Supervisor) is what
/// restarts after a panic.
///
/// Both of the last two are [`Interrupted`] converted into the operation's error type `E`
/// (the same bound as a scope's error type), so they are typed: `DeadlineExceeded` names
/// whose deadline it was. The deadline's early answer comes before the deadline has passed,
/// while the context is not cancelled yet: code around the retry that tells a stop from a
/// failure by the context (a [`Supervisor`](crate::Supervisor) does) sees a failure.
///
/// The defaults: 3 attempts, [`Backoff::default`] (100 ms doubling up to 10 s), every error
/// retried. The backoff sleeps need a tokio runtime with its timer: outside one, or on one
/// built without timers, a retry that would sleep returns
/// [`ConfigError::NoTimer`](crate::ConfigError::NoTimer) (as [`Interrupted::Config`],
/// converted into `E`) instead, in place of the attempt's error. A zero backoff sleeps not (it
/// yields a unit of the task's budget), so it runs on any executor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Backoff, Interrupted, Retry};
///
/// #[derive(Debug, thiserror::Error)]
/// enum FetchError {
///     #[error("timed out")]
///     Timeout,
///     #[error("not found")]
///     NotFound,
///     #[error(transparent)]
///     Interrupted(#[from] Interrupted),
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let retry = Retry::new()
///     .attempts(5)
///     .backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(1)))
///     .when(|e: &FetchError| matches!(e, FetchError::Timeout));
///
/// let start = tokio::time::Instant::now();
/// let page = retry
///     .run(|attempt| async move {
///         if attempt < 3 { Err(FetchError::Timeout) } else { Ok("page") }
///     })
///     .await;
/// assert_eq!(page.unwrap(), "page");
/// assert_eq!(start.elapsed(), Duration::from_millis(300)); // slept 100 ms, then 200 ms
///
/// // An error the predicate rejects is returned at once.
/// let missing = retry.run(|_| async { Err::<(), _>(FetchError::NotFound) }).await;
/// assert!(matches!(missing, Err(FetchError::NotFound)));
/// # });
/// ```
///
/// Under a deadline it gives up before a sleep it could not finish:
///
/// ```
/// use std::time::Duration;
/// use scope::{Backoff, Config, Interrupted, Retry, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let start = tokio::time::Instant::now();
/// let s = &Scope::new(Config::new().name("lookup").timeout(Duration::from_millis(250)));
/// let out = s
///     .run(async {
///         let retry = Retry::new().attempts(10).backoff(Backoff::new(Duration::from_millis(100), Duration::from_secs(1)));
///         retry.run(|_| async { Err::<(), _>(Interrupted::from_cause(scope::Cause::explicit("unavailable"))) }).await
///     })
///     .await;
/// // Attempts at 0 and 100 ms; the next sleep (200 ms) would end past 250 ms: it stops at 100 ms.
/// assert_eq!(start.elapsed(), Duration::from_millis(100));
/// assert_eq!(out.unwrap_err().to_string(), "deadline of `lookup` exceeded");
/// # });
/// ```
#[must_use = "a retry policy does nothing until `run`"]
#[derive(Clone, Copy)]
pub struct Retry<P = AnyError> {
    attempts: u32,
    backoff: Backoff,
    when: P,
}

impl Default for Retry {
    fn default() -> Self {
        Self::new()
    }
}

impl Retry {
    /// The defaults: 3 attempts, [`Backoff::default`], every error retried.
    ///
    /// # Examples
    ///
    /// ```
    /// let retry = scope::Retry::new();
    /// assert_eq!(retry.get_attempts(), 3);
    /// assert_eq!(retry.get_backoff(), scope::Backoff::default());
    /// ```
    pub fn new() -> Self {
        Retry {
            attempts: 3,
            backoff: Backoff::default(),
            when: AnyError,
        }
    }
}

impl<P> Retry<P> {
    /// At most `n` calls of the operation in all (the first included). `0` is taken as `1`:
    /// the operation runs at least once, unless the context is cancelled before the first
    /// attempt (then [`run`](Retry::run) returns the cancellation without calling it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use scope::{Interrupted, Retry};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let calls = AtomicU32::new(0);
    /// let out = Retry::new()
    ///     .attempts(0)
    ///     .run(|_| async {
    ///         calls.fetch_add(1, Ordering::SeqCst);
    ///         Err::<(), _>(Interrupted::from_cause(scope::Cause::explicit("no")))
    ///     })
    ///     .await;
    /// assert!(out.is_err());
    /// assert_eq!(calls.load(Ordering::SeqCst), 1);
    /// # });
    /// ```
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }

    /// The backoff between attempts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Backoff, Retry};
    /// let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2)).jitter(true);
    /// assert_eq!(Retry::new().backoff(backoff).get_backoff(), backoff);
    /// ```
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Which errors to retry: the others are returned at once. A closure `Fn(&E) -> bool`
    /// (name the error type in its argument), or any [`RetryIf`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Error, ErrorKind};
    /// use scope::{Interrupted, Retry};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// enum AppError {
    ///     #[error(transparent)]
    ///     Io(#[from] Error),
    ///     #[error(transparent)]
    ///     Interrupted(#[from] Interrupted),
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let retry = Retry::new().when(|e: &AppError| matches!(e, AppError::Io(io) if io.kind() == ErrorKind::TimedOut));
    /// let out = retry.run(|attempt| async move {
    ///     let kind = if attempt == 1 { ErrorKind::TimedOut } else { ErrorKind::PermissionDenied };
    ///     Err::<(), _>(AppError::Io(Error::from(kind)))
    /// })
    /// .await;
    /// // Retried once (a timeout), then stopped at the error the predicate rejects.
    /// assert!(matches!(out, Err(AppError::Io(e)) if e.kind() == ErrorKind::PermissionDenied));
    /// # });
    /// ```
    pub fn when<Q>(self, predicate: Q) -> Retry<Q> {
        Retry {
            attempts: self.attempts,
            backoff: self.backoff,
            when: predicate,
        }
    }

    /// The most calls of the operation.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(scope::Retry::new().attempts(7).get_attempts(), 7);
    /// ```
    pub fn get_attempts(&self) -> u32 {
        self.attempts
    }

    /// The backoff between attempts.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(scope::Retry::new().get_backoff(), scope::Backoff::default());
    /// ```
    pub fn get_backoff(&self) -> Backoff {
        self.backoff
    }

    /// Runs `op` (called with the attempt's number, from 1) until it succeeds, its error is
    /// not to be retried, the attempts are used up, the ambient context is cancelled, or the
    /// next backoff would end at the context's deadline or less than 2 ms before it. See
    /// [`Retry`] for what it returns. A backoff cut short by its runtime's shutdown (a retry
    /// driven on by `Handle::block_on` on a thread of its own, say) ends the retry with an
    /// [`Interrupted::Cancelled`] whose cause says "the runtime shut down": no attempt could
    /// run there.
    ///
    /// The future borrows the policy: to run it as a spawned child (which borrows nothing),
    /// move the policy into the child's future, `async move { retry.run(..).await }`.
    ///
    /// # Examples
    ///
    /// As a spawned child:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Retry, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let retry = Retry::new().attempts(3);
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let fetch = s.spawn(async move {
    ///             retry.run(|attempt| async move { Ok::<_, Interrupted>(attempt) }).await
    ///         });
    ///         fetch.await
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), 1);
    /// # });
    /// ```
    ///
    /// A cancel during a backoff sleep ends it at once, with the cause:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Backoff, Cause, Cx, Interrupted, Retry};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// let canceller = cx.clone();
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_millis(150)).await;
    ///     canceller.cancel("operator said stop");
    /// });
    /// let start = tokio::time::Instant::now();
    /// let retry = Retry::new().attempts(10).backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)));
    /// let out = cx
    ///     .run(retry.run(|_| async { Err::<(), _>(Interrupted::from_cause(Cause::explicit("busy"))) }))
    ///     .await;
    /// assert_eq!(start.elapsed(), Duration::from_millis(150));
    /// let Err(Interrupted::Cancelled(c)) = out else { unreachable!() };
    /// assert_eq!(c.cause(), &Cause::explicit("operator said stop"));
    /// # });
    /// ```
    pub async fn run<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        P: RetryIf<E>,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Interrupted>,
    {
        let cx = Cx::current();
        let mut rng = Rng::seeded();
        let mut attempt: u32 = 1;
        loop {
            if let Some(cause) = cx.cause_arc() {
                return Err(E::from(Interrupted::from_shared_cause(cause)));
            }
            let error = match op(attempt).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if let Some(cause) = cx.cause_arc() {
                // Cancelled while the attempt ran: the cancellation, not the attempt's error
                // (which is likely its consequence), also after the last attempt.
                drop(error);
                return Err(E::from(Interrupted::from_shared_cause(cause)));
            }
            if attempt >= self.attempts || !self.when.retry_if(&error) {
                return Err(error);
            }
            let delay = self.backoff.next_delay(attempt, &mut rng);
            if let Some((deadline, cause)) = cx.deadline_cause() {
                // The timer counts whole milliseconds from its own start, and a sleep that
                // begins part way through one may wake up to two ticks after its end: a sleep
                // that ends that close to the deadline may wake with it (the deadline then
                // comes first), and cannot beat it. (A zero backoff makes no timer.)
                let cannot_beat = match Instant::now().checked_add(delay) {
                    None => true,
                    Some(end) if delay.is_zero() => end >= deadline,
                    Some(end) => end
                        .checked_add(TIMER_SLACK)
                        .is_none_or(|wake| wake > deadline),
                };
                if cannot_beat {
                    drop(error);
                    return Err(E::from(Interrupted::from_cause(cause)));
                }
            }
            drop(error);
            if delay.is_zero() {
                // At once, without a timer (none exists outside a tokio runtime); on one, a
                // unit of the task's budget, so that attempts that fail at once still let the
                // runtime's other tasks run. The cancel is looked at again at the loop's top.
                tokio::task::consume_budget().await;
            } else if !crate::timer::has_time_driver() {
                // No timer to sleep on (tokio would panic): the misuse, typed.
                return Err(E::from(Interrupted::from(ConfigError::NoTimer {
                    what: "a retry's backoff",
                    wait: delay,
                })));
            } else {
                let sleep = pin!(Delay::after(delay));
                match select(sleep, pin!(cx.cancelled())).await {
                    Either::Right((cause, _)) => {
                        return Err(E::from(Interrupted::from_cause(cause)));
                    }
                    // The runtime shut down (its timers fired early): no attempt could run
                    // on it, and no timer of it would wake this one again.
                    Either::Left((Fired::CutShort, _)) => {
                        return Err(E::from(Interrupted::from_cause(Cause::explicit(
                            "the runtime shut down",
                        ))));
                    }
                    Either::Left(_) => {}
                }
            }
            attempt += 1;
        }
    }
}

/// How much later than its end tokio's timer may wake a sleep: its resolution is a
/// millisecond, counted from the timer's start, and a sleep's end is rounded up to the next
/// tick after it (up to two ticks, for one that begins part way through a tick).
const TIMER_SLACK: Duration = Duration::from_millis(2);

impl<P> fmt::Debug for Retry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}
