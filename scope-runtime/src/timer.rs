//! The crate's own timers (a scope's deadline and grace, a context's wait for its deadline, a
//! shield's budget, the backoffs of `Retry` and `Supervisor`, the budgets of a service's stop
//! and of an application's shutdown, a process's grace in its stop): a tokio `Sleep` polled
//! only to register it with a task.
//!
//! A runtime that shuts down marks its timer driver shut down, then fires every timer
//! registered on it, early, in batches; from the mark on, a poll of any of its timers panics
//! ("A Tokio 1.x context was found, but it is being shutdown"), one fired or not, and tokio
//! offers no way to ask for the mark. A future driven on after its runtime shut down (by
//! `Handle::block_on` on a thread of its own, say) meets that panic at its next poll of a
//! timer. So a [`Timer`] is polled once to register it with the task's waker, and again only
//! for a task with another waker: whether it has fired is read from its state (one the
//! runtime let go has fired) and from the clock (one whose deadline has passed has too, the
//! driver's wake to come or not). A timer of a runtime one of these timers has seen shut down
//! (one of the last [`GONE_KEPT`] so seen) is not polled at all: it is cut short at once (a
//! stop whose grace the shutdown cut short goes on to wait for the aborts with a timer made
//! after the shutdown). A timer made after the shutdown, on a runtime none of ours has seen
//! go (or one seen before the last [`GONE_KEPT`]), panics in tokio at its first poll: the
//! panic is caught there (the panic hook still prints it), and the timer is cut short. A
//! [`Delay`] is a timer to await (a backoff, a budget): it ends once the timer has fired, and
//! says how.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Waker};

use tokio::runtime::{Handle, Id};
use tokio::time::{Instant, Sleep};

/// The runtimes one of the crate's timers has seen shut down, the latest last (ids are never
/// handed out again; only the last [`GONE_KEPT`] are kept). A leaf lock: held to read or push
/// ids, nothing else.
static GONE: Mutex<Vec<Id>> = Mutex::new(Vec::new());

/// Whether [`GONE`] has ever held an id: while not, a timer looks at no lock.
static ANY_GONE: AtomicBool = AtomicBool::new(false);

const GONE_KEPT: usize = 16;

/// Whether `runtime` is one a timer of ours has seen shut down.
fn is_gone(runtime: Id) -> bool {
    // Acquire: pairs with the Release store in `mark_gone`.
    ANY_GONE.load(Ordering::Acquire)
        && GONE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&runtime)
}

fn mark_gone(runtime: Id) {
    let mut gone = GONE.lock().unwrap_or_else(PoisonError::into_inner);
    if !gone.contains(&runtime) {
        if gone.len() == GONE_KEPT {
            gone.remove(0);
        }
        gone.push(runtime);
    }
    drop(gone);
    // Release: the id pushed above is seen by whoever sees the flag.
    ANY_GONE.store(true, Ordering::Release);
}

/// Whether `here`, the runtime of this thread, is shutting down: it no longer takes tasks (its
/// shutdown closes its list of tasks before it shuts its timers down), so a task handed to it
/// is dropped at once, never polled. Asked only of a timer fired before its deadline, which
/// is rare: the one task it spawns is aborted at once if the runtime takes it.
fn shutting_down(here: &Handle) -> bool {
    let probe = here.spawn(std::future::pending::<()>());
    let dropped = probe.is_finished();
    probe.abort();
    dropped
}

pin_project_lite::pin_project! {
    /// A `Sleep`, the waker it was last registered with, and its runtime; or, for an instant
    /// tokio's timer cannot take (see [`reachable`]), a timer that never fires (`never`: its
    /// `Sleep` is never polled).
    pub(crate) struct Timer {
        #[pin]
        sleep: Sleep,
        waker: Option<Waker>,
        runtime: Id,
        never: bool,
    }
}

/// What a look at a [`Timer`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fired {
    /// Its deadline has not passed; the task is registered for it.
    Pending,
    /// Its deadline has passed.
    Due,
    /// Its runtime fired it before its deadline, as read on that runtime: only its shutdown
    /// does. It will not wake the task again, nor will any other timer of that runtime. (Read
    /// on another runtime, whose clock may be behind the timer's own, a paused one's ahead of
    /// real time, say, a timer fired early is [`Due`](Fired::Due): it fired by its clock.)
    CutShort,
}

/// Whether a tokio runtime with a time driver is current here (the SIGKILL at the end of a
/// process's grace, a retry's or a supervisor's backoff are timed on it). Outside a runtime,
/// no. On one, tokio offers no way to ask but to make a timer: on a runtime without timers it
/// panics there (the panic hook prints the message; under `panic = "abort"` that is the
/// abort tokio's own timer would give), and the caller refuses with a typed error.
pub(crate) fn has_time_driver() -> bool {
    Handle::try_current().is_ok()
        && std::panic::catch_unwind(|| drop(tokio::time::sleep(std::time::Duration::ZERO))).is_ok()
}

/// Whether tokio's timer can take `at`: not within a second of the largest `Instant` (its
/// wheel rounds a deadline up by adding to it, and the add overflows: a panic at the timer's
/// first poll). A deadline there (`Config::deadline`, `Cx::child_with_deadline` at the end of
/// time, or a timeout, grace or budget of `Duration::MAX`, which saturates there) is never
/// reached: the scope and the context arm no timer for it, and a [`Timer`] for it never fires.
pub(crate) fn reachable(at: Instant) -> bool {
    at.checked_add(std::time::Duration::from_secs(1)).is_some()
}

impl Timer {
    /// A timer for `at` (one that never fires for an instant tokio's timer cannot take: see
    /// [`reachable`]), on the runtime of this thread (tokio panics outside one).
    pub(crate) fn new(at: Instant) -> Timer {
        let never = !reachable(at);
        Timer {
            sleep: tokio::time::sleep_until(if never { Instant::now() } else { at }),
            waker: None,
            runtime: Handle::current().id(),
            never,
        }
    }

    /// [`Timer::new`], boxed.
    pub(crate) fn at(at: Instant) -> Pin<Box<Timer>> {
        Box::pin(Timer::new(at))
    }

    /// A timer for `after` from now.
    pub(crate) fn after(after: std::time::Duration) -> Pin<Box<Timer>> {
        Timer::at(crate::cx::deadline_after(after))
    }

    pub(crate) fn deadline(&self) -> Instant {
        if self.never {
            crate::cx::end_of_time()
        } else {
            self.sleep.deadline()
        }
    }

    /// Whether it has fired (its deadline passed, or its runtime's shutdown fired it early):
    /// it wakes no one again.
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) fn is_spent(&self) -> bool {
        !self.never && self.sleep.is_elapsed()
    }

    /// The runtime it was made on.
    pub(crate) fn runtime(&self) -> Id {
        self.runtime
    }

    /// Whether its deadline has passed: [`look`](Timer::look), and for a timer its runtime's
    /// shutdown cut short, by the clock (read at each call: nothing will wake the task for it).
    pub(crate) fn passed(self: Pin<&mut Self>, task: &mut Context<'_>) -> bool {
        let deadline = self.deadline();
        match self.look(task) {
            Fired::Pending => false,
            Fired::Due => true,
            Fired::CutShort => Instant::now() >= deadline,
        }
    }

    /// Moves the timer to `at` (registered again at the next look).
    pub(crate) fn reset(self: Pin<&mut Self>, at: Instant) {
        let this = self.project();
        *this.never = !reachable(at);
        this.sleep
            .reset(if *this.never { Instant::now() } else { at });
        *this.waker = None;
    }

    /// Whether the timer has fired, and how; registers `task` for it if not.
    pub(crate) fn look(self: Pin<&mut Self>, task: &mut Context<'_>) -> Fired {
        let this = self.project();
        if *this.never {
            // Never reached: nothing to register for.
            return Fired::Pending;
        }
        let deadline = this.sleep.deadline();
        if this.sleep.is_elapsed() {
            if Instant::now() >= deadline {
                return Fired::Due;
            }
            // Only its runtime's shutdown fires a timer early, as read on that runtime; asked,
            // the runtime says whether it is going (and then every timer of it is cut short).
            return match Handle::try_current() {
                Ok(here) if here.id() == *this.runtime && shutting_down(&here) => {
                    mark_gone(*this.runtime);
                    Fired::CutShort
                }
                _ => Fired::Due,
            };
        }
        if Instant::now() >= deadline {
            return Fired::Due;
        }
        if this
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(task.waker()))
        {
            // Registered with this task: the timer wakes it.
            return Fired::Pending;
        }
        if is_gone(*this.runtime) {
            // Its runtime shut down: a poll would panic, and no wake would come.
            return Fired::CutShort;
        }
        // Outside tokio's cooperative budget: with the budget spent, the poll would return
        // `Pending` without registering the timer. A runtime whose shutdown began after the
        // last look at any of our timers panics here, before it touches the timer (a timer
        // first polled in that window, by a loop that makes one per turn): read as the
        // shutdown it is, not unwound through the caller.
        let sleep = this.sleep;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::pin::pin!(tokio::task::coop::unconstrained(sleep)).poll(task)
        }));
        let Ok(polled) = polled else {
            mark_gone(*this.runtime);
            return Fired::CutShort;
        };
        if polled.is_ready() {
            return Fired::Due;
        }
        *this.waker = Some(task.waker().clone());
        Fired::Pending
    }
}

pin_project_lite::pin_project! {
    /// A [`Timer`] to await: ready once it has fired, with how ([`Fired::Due`] or
    /// [`Fired::CutShort`]: its runtime shut down, and nothing of that runtime's will wake the
    /// task for time again).
    pub(crate) struct Delay {
        #[pin]
        timer: Timer,
    }
}

impl Delay {
    /// A delay until `at`, on the runtime of this thread (tokio panics outside one).
    pub(crate) fn until(at: Instant) -> Delay {
        Delay {
            timer: Timer::new(at),
        }
    }

    /// A delay of `after` from now.
    pub(crate) fn after(after: std::time::Duration) -> Delay {
        Delay::until(crate::cx::deadline_after(after))
    }
}

impl Future for Delay {
    type Output = Fired;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> std::task::Poll<Fired> {
        match self.project().timer.look(task) {
            Fired::Pending => std::task::Poll::Pending,
            fired => std::task::Poll::Ready(fired),
        }
    }
}
