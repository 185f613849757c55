//! Waiting for a cancellation: the `cancelled()` futures and `on_cancel` callbacks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use tokio::time::Instant;

use super::tree::{cancel_node, Entry, Inner, Node};
use super::Cx;
use crate::cause::Cause;
use crate::error::drop_after_panic;
use crate::scope::tracker::Enclosing;
use crate::sync::{MutexGuard, Ordering};

impl Cx {
    /// A future that resolves, with the cause, once this context is cancelled (or its
    /// deadline passes).
    ///
    /// A deadline's passing wakes the wait through a timer of the tokio runtime it is polled
    /// on. Outside a runtime, or on one that has shut down (a future driven on by
    /// `Handle::block_on` after it), there is no timer: the deadline is seen when the wait is
    /// polled, and a cancel still wakes it. (A scope's context is cancelled when its runtime
    /// shuts down under it, so a wait on it ends then.) On a tokio runtime built without
    /// timers, a wait on a context with a deadline panics where its timer is made, as tokio's
    /// own `sleep` does there; so do [`cancelled_owned`](Cx::cancelled_owned) and the waits
    /// built on them ([`run_until_cancelled`](Cx::run_until_cancelled), the tokio-util
    /// bridges).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let cx = scope::Cx::root().child_with_timeout(Duration::from_millis(10));
    /// let cause = cx.cancelled().await;
    /// assert!(cause.is_deadline());
    /// # });
    /// ```
    pub fn cancelled(&self) -> WaitCancelled<'_> {
        WaitCancelled {
            cx: self,
            waiter: Waiter::default(),
        }
    }

    /// Like [`cancelled`](Cx::cancelled), owning its context (for `'static` futures).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cx = scope::Cx::root();
    /// let wait = cx.clone().cancelled_owned();
    /// cx.cancel("now");
    /// assert_eq!(wait.await.to_string(), "now");
    /// # });
    /// ```
    pub fn cancelled_owned(self) -> WaitCancelledOwned {
        WaitCancelledOwned {
            cx: self,
            waiter: Waiter::default(),
        }
    }

    /// Runs `f` once when this context is cancelled, with the cause, outside any lock
    /// (Go's `AfterFunc`). If it is already cancelled, `f` runs now. The returned handle can
    /// [`stop`](OnCancel::stop) it; dropping the handle leaves `f` registered.
    ///
    /// A deadline counts (on a running scope's own context, and on the contexts that take
    /// their deadline from it, the scope's own timer fires it, not an alarm: a scope whose
    /// task blocks its thread past the deadline holds its callbacks back too). On a tokio
    /// runtime (with its timers enabled, as for tokio's own
    /// `sleep`: on one built without them, registering `f` on a context with a deadline
    /// panics as creating a `sleep` does, with `f` registered by then: it runs at the
    /// context's cancel, or at the deadline if another runtime's timer watches it), `f` runs when the context's deadline passes,
    /// whether or not anything looks at the context then (the runtime's timer fires it, so the
    /// context is kept until its deadline or its cancel, as Go keeps a `WithTimeout` context
    /// until its timer fires or its `cancel` is called; [`stop`](OnCancel::stop)ping the last
    /// callback of the context with the deadline lets it go sooner, and so does the end of
    /// the last context below it that inherits the deadline and was linked to it by a
    /// callback or a wait of its own; such a context, while it lives, keeps it, and so does a
    /// context that has had more than a few of them at once). The timer is the runtime's
    /// where `f` is registered: a callback registered under a second runtime is served by that
    /// one's timer, whatever the first runtime does. Outside a runtime, a passed deadline is
    /// seen when something checks the context. `f` is kept while its context lives: a context dropped without
    /// being cancelled drops `f` unrun, unless it has a deadline of its own
    /// ([`child_with_timeout`](Cx::child_with_timeout)); a deadline it inherits (from a scope
    /// or any other context) does not keep it (a temporary `s.cx().child()` dropped before the
    /// scope's deadline drops `f`; so does one dropped after that deadline passed while
    /// nothing looked, its scope's task blocked). On the background context ([`Cx::current`] outside any scope), which is
    /// never cancelled, `f` is dropped at once.
    ///
    /// `f` runs on the thread, and under the ambient context, of the code that made the cancel
    /// (the caller of [`cancel`](Cx::cancel), a scope's own bookkeeping, the runtime's timer for
    /// a deadline), not under this context: what it needs of this one (a slot's value) it
    /// takes with it, captured when it is registered. Capture values, not the context: a
    /// callback holding its own context keeps it alive until it is cancelled, for good if it
    /// never is. At a deadline, `f` may run inside the runtime's timer driver (the alarm of a
    /// context made with a deadline fires there): keep it short, spawn anything longer, and
    /// make no call there that needs a worker of its own, such as tokio's `block_in_place`
    /// (tokio aborts the process then). It runs inline, not on a task of its own as Go's `AfterFunc` does: a
    /// callback that cancels another context runs that context's callbacks inside it, so a
    /// chain of callbacks that each cancel the next recurses as deep as the chain (a tree of
    /// contexts made with [`child`](Cx::child) needs no such chain: a cancel reaches every
    /// descendant by itself, iteratively).
    ///
    /// # Panics
    ///
    /// If `f` panics, the panic goes to the code that made the cancel, once every other
    /// waiter, callback and descendant has been served: the caller of [`cancel`](Cx::cancel).
    /// When that code is a scope's own (a child's failure or panic, its end), the panic is a
    /// panic of the scope, reported under its policy as a child's would be (a
    /// [`Panicked`](crate::Panicked) outcome); the failing child's handle still reads its own
    /// outcome, and the other children drain as for any cancel. A passed deadline is nobody's
    /// call: when the context is a running scope's own (or a running service task's), or took
    /// its deadline from one (through the contexts that passed it down), the panic is the
    /// nearest such scope's (or task's), in the same way, whoever looks first (the scope's
    /// bookkeeping, its body, a child, or code the context was handed to: a check such as
    /// [`is_cancelled`](Cx::is_cancelled) there does not panic), unless that scope has ended
    /// by the time the panic comes (a slow callback fired by another thread): then, as for a
    /// deadline set below any running scope (a context's own shorter
    /// [`child_with_timeout`](Cx::child_with_timeout), a merge with an earlier deadline) or
    /// outside any, it goes to the caller of the check that fired the deadline. When the cancel is made inside
    /// a wake, where nobody can take the panic (the runtime's timer firing the deadline, a
    /// linked [`CancellationToken`](https://docs.rs/tokio-util)'s cancel reaching the
    /// context), it is not resumed: the panic hook reports it, and every waiter is still
    /// served.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// let cx = scope::Cx::root();
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let r = ran.clone();
    /// let _handle = cx.on_cancel(move |_cause| r.store(true, Ordering::SeqCst));
    /// cx.cancel("go");
    /// assert!(ran.load(Ordering::SeqCst));
    /// ```
    pub fn on_cancel<F>(&self, f: F) -> OnCancel
    where
        F: FnOnce(&Cause) + Send + 'static,
    {
        if self.node.background {
            // Never cancelled: `f` could never run, and would be kept for good.
            drop(f);
            return OnCancel {
                registration: std::sync::Mutex::new(None),
            };
        }
        // A callback must be reached by the ancestors' cancels: link this context first.
        let mut inner = match self.lock_linked() {
            Ok(inner) => inner,
            Err(cause) => {
                f(&self.node.cause().unwrap_or(cause));
                return OnCancel {
                    registration: std::sync::Mutex::new(None),
                };
            }
        };
        let key = inner.entries.insert(Entry::Callback(Box::new(f)));
        drop(inner);
        if self.deadline_passed() {
            // The deadline fired the callback (or will have, by the time this returns).
            return OnCancel {
                registration: std::sync::Mutex::new(None),
            };
        }
        Alarm::arm(self);
        OnCancel {
            registration: std::sync::Mutex::new(Some((Arc::downgrade(&self.node), key))),
        }
    }
}

impl Cx {
    /// The node's lock, with this context linked into its parents first (so that their
    /// cancels reach what the caller registers next); or, if it is cancelled already (or a
    /// parent is, found while linking), the cause, once the context has been cancelled with
    /// it outside the lock.
    #[inline]
    pub(super) fn lock_linked(&self) -> Result<MutexGuard<'_, Inner>, Arc<Cause>> {
        let mut inner = self.node.inner.lock();
        let cancelled = match inner.cause.get() {
            Some(cause) => Some(cause),
            None => Node::link(&self.node, &inner).err(),
        };
        match cancelled {
            None => Ok(inner),
            Some(cause) => {
                drop(inner);
                // No-op if it already was; otherwise records the (inherited) cause first.
                cancel_node(&self.node, &cause);
                Err(cause)
            }
        }
    }

    /// Makes `owner` (the scope whose own context this is) told when this context is
    /// cancelled, from now on: by anyone, at any depth above. Links the context into its
    /// parents first, as a callback does. Returns `false` if it is cancelled already (its
    /// owner is then not kept: the caller looks for itself).
    pub(crate) fn set_owner(&self, owner: Weak<dyn Enclosing>) -> bool {
        let Ok(mut inner) = self.lock_linked() else {
            return false;
        };
        // (A previous owner's `Weak` is dropped here: no user code.)
        inner.owner = Some(owner);
        drop(inner);
        // A passed deadline fires now, and tells the owner just set.
        !self.deadline_passed()
    }
}

impl Cx {
    /// A `Send + 'static` future of `()` that resolves once this context is cancelled: the
    /// shutdown signal other libraries' servers take (axum's `with_graceful_shutdown`,
    /// tonic's `serve_with_shutdown`), which run it in a task of their own, where the ambient
    /// context is not this one.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let app = scope::Cx::root();
    /// // What a server runs in its own task, to stop accepting.
    /// let server = tokio::spawn(app.shutdown_signal());
    /// app.cancel("SIGTERM");
    /// server.await.unwrap(); // resolved: the server stops
    /// # });
    /// ```
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            wait: self.clone().cancelled_owned(),
        }
    }

    /// Runs `fut` with this context as the ambient one until it completes, or until this
    /// context is cancelled: then `fut` is dropped and the cancellation returned (so `?` ends
    /// the caller). For work in a task someone else spawns, under a context captured with
    /// [`Cx::current`]: inside it, `Cx::current()`, the slots and `cancelled()` are this
    /// context's. The cancel is looked at before each poll of `fut`: on a context cancelled
    /// already, `fut` is never polled, and `while let Ok(Some(item)) =
    /// cx.clone().run_until_cancelled(stream.next()).await` ends at the cancel even while the
    /// stream has items ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Cx, Interrupted};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let request = Cx::root();
    /// // A task another library spawns, running work under the request's context.
    /// let work = tokio::spawn(request.clone().run_until_cancelled(async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     "done"
    /// }));
    /// request.cancel("client went away");
    /// let out = work.await.unwrap();
    /// assert!(matches!(out, Err(Interrupted::Cancelled(_))));
    /// # });
    /// ```
    pub fn run_until_cancelled<F: Future>(self, fut: F) -> RunUntilCancelled<F> {
        RunUntilCancelled {
            wait: self.clone().cancelled_owned(),
            fut: self.run(fut),
        }
    }
}

/// [`Cx::shutdown_signal`] of the ambient context: resolves, with `()`, once the context of
/// the scope or child running now is cancelled (never, outside any scope).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new().grace(Duration::from_secs(1)));
/// s.run(async {
///     // Handed to a server that runs it in a task of its own.
///     let signal = tokio::spawn(scope::shutdown_signal());
///     s.cancel("stop accepting");
///     signal.await.unwrap();
///     Ok::<_, Interrupted>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
pub fn shutdown_signal() -> ShutdownSignal {
    Cx::current().shutdown_signal()
}

/// [`Cx::run_until_cancelled`] with the ambient context, read at the call (as
/// [`Cx::current`] would be): the future may be handed to a task of its own and still stop at
/// the caller's cancel. Call it inside the code it runs under: `cx.run(run_until_cancelled(fut))`
/// evaluates its argument before `cx` is entered, and watches the caller's context, not `cx`
/// (`cx.run_until_cancelled(fut)` watches `cx`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new().grace(Duration::from_secs(1)));
/// let out = s
///     .run(async {
///         s.cancel("enough");
///         let slow = scope::run_until_cancelled(tokio::time::sleep(Duration::from_secs(60))).await;
///         assert!(slow.is_err()); // it stopped at the cancel, not after a minute
///         Ok::<_, Interrupted>("stopped early")
///     })
///     .await;
/// assert_eq!(out.unwrap(), "stopped early");
/// # });
/// ```
pub fn run_until_cancelled<F: Future>(fut: F) -> RunUntilCancelled<F> {
    Cx::current().run_until_cancelled(fut)
}

/// The future of [`Cx::shutdown_signal`]: `()` once the context is cancelled.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cx = scope::Cx::root();
/// let signal: scope::ShutdownSignal = cx.shutdown_signal();
/// cx.cancel("now");
/// signal.await;
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct ShutdownSignal {
    wait: WaitCancelledOwned,
}

impl Future for ShutdownSignal {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.wait).poll(task).map(drop)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Cx::run_until_cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cx = scope::Cx::root();
    /// let fut: scope::RunUntilCancelled<_> = cx.run_until_cancelled(async { 1 });
    /// assert_eq!(fut.await.unwrap(), 1);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct RunUntilCancelled<F> {
        wait: WaitCancelledOwned,
        #[pin]
        fut: super::WithCx<F>,
    }
}

impl<F: Future> Future for RunUntilCancelled<F> {
    type Output = Result<F::Output, crate::error::Interrupted>;
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The cancel first: work is not started (or taken a step further) once the context
        // is cancelled, so a loop over a source that is always ready ends at the cancel. A
        // look at the flag (which fires a passed deadline) first, so that work ready at once
        // registers no wait.
        if this.wait.cx().is_cancelled() {
            if let Poll::Ready(cause) = Pin::new(&mut *this.wait).poll(task) {
                this.fut.drop_future();
                return Poll::Ready(Err(crate::error::Interrupted::from_cause(cause)));
            }
        }
        if let Poll::Ready(out) = this.fut.as_mut().poll(task) {
            return Poll::Ready(Ok(out));
        }
        let Poll::Ready(cause) = Pin::new(this.wait).poll(task) else {
            return Poll::Pending;
        };
        // The work is dropped as the cancel is answered, not when this future is: polled by
        // reference (a `select!` loop over `&mut fut`), it would hold what it holds on.
        this.fut.drop_future();
        Poll::Ready(Err(crate::error::Interrupted::from_cause(cause)))
    }
}

impl<F> fmt::Debug for RunUntilCancelled<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelled")
            .field("cx", self.wait.cx())
            .finish_non_exhaustive()
    }
}

/// Registration state shared by the borrowed and owned waiting futures (and a lazy child's
/// wait on its parent's context, `scope::own_cx::LazyWait`).
#[derive(Default)]
pub(crate) struct Waiter {
    /// The waker's key in the node's table, plus one (so that `None` costs no room: this sits
    /// in every waiting child's future).
    key: Option<std::num::NonZeroUsize>,
    sleep: Option<Pin<Box<crate::timer::Timer>>>,
}

/// Whether `at` has passed, by a timer on the runtime of this poll: the one kept if it is that
/// runtime's (a context is a plain value, waited on from any runtime, and a timer fires only
/// while its own runtime is driven), else a new one (the one kept, from another runtime since
/// dropped or no longer driven, is dropped). Outside any runtime, by the clock, then by the
/// timer kept if there is one: its runtime, if still driven, wakes the wait at `at` (if that
/// runtime is gone, it fired the timer as it shut down, and the deadline is read from the
/// clock at each poll, `probe148`; if it is not driven, nothing wakes the wait, as nothing
/// would with no timer at all).
fn timer_fired(
    kept: &mut Option<Pin<Box<crate::timer::Timer>>>,
    at: Instant,
    task: &mut Context<'_>,
) -> bool {
    if !crate::timer::reachable(at) {
        // At the end of time: never reached, and no timer (see `timer::reachable`).
        return false;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        if Instant::now() >= at {
            return true;
        }
        return kept
            .as_mut()
            .is_some_and(|timer| timer.as_mut().passed(task));
    };
    let id = runtime.id();
    let timer = match kept {
        Some(timer) if timer.runtime() == id => timer,
        _ => kept.insert(crate::timer::Timer::at(at)),
    };
    timer.as_mut().passed(task)
}

impl Waiter {
    fn key(&self) -> Option<usize> {
        self.key.map(|k| k.get() - 1)
    }

    fn set_key(&mut self, key: usize) {
        self.key = std::num::NonZeroUsize::new(key.wrapping_add(1));
    }

    fn poll(&mut self, cx: &Cx, task: &mut Context<'_>) -> Poll<Cause> {
        self.poll_shared(cx, task).map(|cause| (*cause).clone())
    }

    /// [`poll`](Waiter::poll), giving the shared cause.
    pub(crate) fn poll_shared(&mut self, cx: &Cx, task: &mut Context<'_>) -> Poll<Arc<Cause>> {
        self.poll_shared_for(cx, task, None)
    }

    /// [`poll_shared`](Waiter::poll_shared) of a wait made by a child on its scope's own
    /// context (a child with no context of its own): a passed deadline it is the first to see
    /// is fired through `scope`, so that the callbacks it runs are the scope's code (a panic
    /// there is the scope's, kept for its end), not the child's.
    pub(crate) fn poll_shared_for(
        &mut self,
        cx: &Cx,
        task: &mut Context<'_>,
        scope: Option<&dyn Enclosing>,
    ) -> Poll<Arc<Cause>> {
        if cx.node.background {
            // Never cancelled, and without a deadline: nothing will wake the wait, so it keeps
            // no waker (the node is the process's one, shared by every thread).
            return Poll::Pending;
        }
        if let Some(scope) = scope {
            if cx.is_cancelled_quiet().is_none() {
                scope.is_cancelled_for_child(cx);
            }
        }
        if let Some(cause) = cx.cause_arc() {
            self.key = None;
            return Poll::Ready(cause);
        }
        // The waker is cloned (and the one it replaces dropped) outside the lock: both are
        // user code.
        let mut fresh: Option<Waker> = None;
        let replaced = loop {
            let mut inner = cx.node.inner.lock();
            if let Some(cause) = inner.cause.get() {
                self.key = None;
                return Poll::Ready(cause);
            }
            // A waiter must be woken by the ancestors' cancels: link this context first.
            if let Err(cause) = Node::link(&cx.node, &inner) {
                drop(inner);
                cancel_node(&cx.node, &cause);
                self.key = None;
                return Poll::Ready(cx.node.cause().unwrap_or(cause));
            }
            let entry = self.key().and_then(|k| inner.entries.get_mut(k));
            if let Some(Entry::Waiter(w)) = &entry {
                if w.will_wake(task.waker()) {
                    break None;
                }
            }
            let Some(new) = fresh.take() else {
                drop(inner);
                fresh = Some(task.waker().clone());
                continue;
            };
            if let Some(Entry::Waiter(w)) = entry {
                break Some(std::mem::replace(w, new));
            }
            let key = inner.entries.insert(Entry::Waiter(new));
            self.set_key(key);
            break None;
        };
        drop(replaced);
        drop(fresh);
        if let Some(d) = &cx.node.deadline {
            if timer_fired(&mut self.sleep, d.at, task) {
                match scope {
                    Some(scope) => drop(scope.is_cancelled_for_child(cx)),
                    None => cx.fire_deadline(d),
                }
                self.key = None;
                if let Some(cause) = cx.node.cause() {
                    return Poll::Ready(cause);
                }
            }
        }
        Poll::Pending
    }

    pub(crate) fn unregister(&mut self, cx: &Cx) {
        if let Some(key) = self.key() {
            self.key = None;
            // Acquire: pairs with the Release store in `cancel_node`. A cancelled node's table
            // is empty for good (the cancel took this waiter out): no lock needed.
            if cx.node.cancelled.load(Ordering::Acquire) {
                return;
            }
            let removed = cx.node.inner.lock().entries.remove(key);
            drop(removed);
        }
    }
}

/// The future of [`Cx::cancelled`]: resolves with the cause.
///
/// # Examples
///
/// It borrows the context; created before the cancel, it still sees it:
///
/// ```
/// use scope::{Cause, Cx, WaitCancelled};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cx = Cx::root();
/// let wait: WaitCancelled<'_> = cx.cancelled();
/// cx.cancel("enough");
/// assert_eq!(wait.await, Cause::explicit("enough"));
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitCancelled<'a> {
    cx: &'a Cx,
    waiter: Waiter,
}

impl Future for WaitCancelled<'_> {
    type Output = Cause;
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Cause> {
        let this = self.get_mut();
        this.waiter.poll(this.cx, task)
    }
}

impl Drop for WaitCancelled<'_> {
    fn drop(&mut self) {
        self.waiter.unregister(self.cx);
    }
}

impl fmt::Debug for WaitCancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitCancelled")
            .field("cx", self.cx)
            .finish_non_exhaustive()
    }
}

/// The future of [`Cx::cancelled_owned`]: resolves with the cause.
///
/// # Examples
///
/// It owns its context, so it can move into a `'static` task:
///
/// ```
/// use scope::{Cx, WaitCancelledOwned};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cx = Cx::root();
/// let wait: WaitCancelledOwned = cx.child().cancelled_owned();
/// let watcher = tokio::spawn(async move { wait.await.to_string() });
/// cx.cancel("bye");
/// assert_eq!(watcher.await.unwrap(), "parent cancelled: bye");
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitCancelledOwned {
    cx: Cx,
    waiter: Waiter,
}

impl WaitCancelledOwned {
    /// The context it waits on.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope::Cx::root();
    /// let wait = cx.clone().cancelled_owned();
    /// assert!(wait.cx().same_as(&cx));
    /// ```
    pub fn cx(&self) -> &Cx {
        &self.cx
    }
}

impl WaitCancelledOwned {
    /// Lets go of the wait's timer if it has fired: it wakes no one again, and it holds its
    /// runtime (whose shutdown fires it early), for as long as the wait is kept. The wait
    /// stays registered with the context; polled again, it makes a timer on that poll's
    /// runtime.
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) fn drop_spent_timer(&mut self) {
        if self.waiter.sleep.as_ref().is_some_and(|t| t.is_spent()) {
            self.waiter.sleep = None;
        }
    }
}

impl Future for WaitCancelledOwned {
    type Output = Cause;
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Cause> {
        let this = self.get_mut();
        this.waiter.poll(&this.cx, task)
    }
}

impl Drop for WaitCancelledOwned {
    fn drop(&mut self) {
        self.waiter.unregister(&self.cx);
    }
}

impl fmt::Debug for WaitCancelledOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitCancelledOwned")
            .field("cx", &self.cx)
            .finish_non_exhaustive()
    }
}

/// A callback registered with [`Cx::on_cancel`].
///
/// # Examples
///
/// Once the callback has run, the handle can no longer stop it:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// let cx = scope::Cx::root();
/// let runs = Arc::new(AtomicUsize::new(0));
/// let r = runs.clone();
/// let handle = cx.on_cancel(move |_| {
///     r.fetch_add(1, Ordering::SeqCst);
/// });
/// cx.cancel("first");
/// cx.cancel("second");
/// assert_eq!(runs.load(Ordering::SeqCst), 1);
/// assert!(!handle.stop());
/// ```
#[must_use = "dropping the handle keeps the callback registered; keep it to be able to stop it"]
pub struct OnCancel {
    // Taken by the first `stop`, so a later call cannot remove an entry that reuses the key.
    registration: std::sync::Mutex<Option<(Weak<Node>, usize)>>,
}

impl OnCancel {
    /// Unregisters the callback. Returns `true` if this stopped it from ever running,
    /// `false` if there was nothing left to stop: it has run (or is running) already, or it
    /// could never run (its context was dropped uncancelled, or is the background context).
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope::Cx::root();
    /// let handle = cx.on_cancel(|_| panic!("never runs"));
    /// assert!(handle.stop());
    /// cx.cancel("now");
    /// ```
    pub fn stop(&self) -> bool {
        let registration = self
            .registration
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some((node, key)) = registration else {
            return false;
        };
        let Some(node) = node.upgrade() else {
            return false;
        };
        // The callback (user code) is dropped after the lock is released.
        let removed = Alarm::remove_entry(&node, key);
        matches!(removed, Some(Entry::Callback(_)))
    }
}

impl fmt::Debug for OnCancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnCancel")
            .field(
                "registered",
                &self.registration.lock().is_ok_and(|r| r.is_some()),
            )
            .finish()
    }
}

/// Fires a context's passed deadline for its `on_cancel` callbacks when no one else looks:
/// a wait on the context, polled with the alarm itself as the waker, so that the deadline's
/// timer wakes it.
///
/// It is polled once, where the callback is registered: that registers it with the context
/// and arms the timer. A wake comes from the context's cancel or from the timer, inside the
/// runtime's driver (where polling the timer again would panic if the runtime is shutting
/// down, which wakes every timer), so a wake only asks the context whether it is cancelled,
/// which fires a passed deadline. A wake that finds it not cancelled was the shutdown's: the
/// context stays watched for its cancel, and its deadline is checked when something looks at
/// it, as without a runtime.
pub(super) struct Alarm {
    wait: crate::sync::Mutex<Option<Pin<Box<WaitCancelledOwned>>>>,
}

impl Alarm {
    fn arm(cx: &Cx) {
        // A running scope's timer fires its context's deadline (with the scope's own rules
        // for a callback's panic), and with it every context that inherited that deadline.
        // One not run yet has no timer: an alarm watches until it runs.
        if cx.node.deadline.is_none() || cx.node.deadline_timed_by_a_running_scope() {
            return;
        }
        let Ok(here) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let here = here.id();
        // On the node whose deadline it is: firing it there reaches `cx` (linked by now, to
        // receive its cancel) and every other context that inherited it, and a context that
        // only inherits the deadline is not kept by an alarm (dropped uncancelled, it drops its
        // callbacks unrun; a register-and-stop per operation on contexts of their own keeps
        // none of them).
        let owner = Cx {
            node: cx.node.deadline_owner(),
        };
        let cx = &owner;
        // One alarm per node and runtime: it fires every callback registered under it, so the
        // next ones (a register-and-stop per operation on a long-lived context) need none of
        // their own. One on another runtime may never fire here (that runtime idle, or gone),
        // so this runtime gets its own; one whose first poll panicked (a runtime without
        // timers) is gone, and is not counted. Looked for and recorded under one lock: two
        // threads registering at once arm one.
        let alarm = {
            let mut inner = cx.node.inner.lock();
            let alarms = inner.alarms.get_or_insert_with(Box::default);
            // (A `Weak` dropped here runs no code of the alarm's.)
            alarms.retain(|(_, a)| a.strong_count() > 0);
            if alarms.iter().any(|(runtime, _)| *runtime == here) {
                return;
            }
            let alarm = Arc::new(Alarm {
                wait: crate::sync::Mutex::new(None),
            });
            // Found by a `stop` that leaves it nothing to serve (see `OnCancel::stop`).
            alarms.push((here, Arc::downgrade(&alarm)));
            alarm
        };
        alarm.watch(cx);
    }

    /// Starts watching `cx`: a first poll of a wait on it registers the alarm with it (and
    /// arms the deadline's timer), then the wait is kept, unless the context was cancelled
    /// meanwhile or its deadline passed.
    fn watch(self: Arc<Self>, cx: &Cx) {
        let mut wait = Box::pin(cx.clone().cancelled_owned());
        let waker = Waker::from(Arc::clone(&self));
        // A runtime without timers panics here, as a wait on a deadline does there; and a
        // deadline that passed just now runs the callbacks here, whose panic is the caller's.
        // Outside the task's cooperative budget: with the budget spent, the timer would not be
        // registered and the wake would come back at once, with nothing to look at.
        let mut first = tokio::task::unconstrained(wait.as_mut());
        if Pin::new(&mut first)
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            return;
        }
        if let Some(due) = self.keep(wait) {
            // The timer fired (on another worker) before the wait was back, and its wake found
            // nothing to look at: the deadline is fired here, on the caller's thread.
            let _ = due.cx().is_cancelled();
        }
    }

    /// Removes the entry `key` from `node`'s table (a callback stopped, a linked child gone),
    /// and lets the node's alarm go if nothing is left for it (see [`unneeded`](Self::unneeded)),
    /// with no lock held. The entry is the caller's to drop, outside the lock too.
    pub(super) fn remove_entry(node: &Arc<Node>, key: usize) -> Option<Entry> {
        let (removed, alarms) = {
            let mut inner = node.inner.lock();
            let removed = inner.entries.remove(key);
            (removed, Alarm::unneeded(&mut inner))
        };
        for (_, alarm) in alarms {
            if let Some(alarm) = alarm.upgrade() {
                alarm.disarm();
            }
        }
        removed
    }

    /// The alarms of a node (its table, whose lock the caller holds), taken if they watch its
    /// own deadline for nothing now: no callback is left in its table, nor a linked child
    /// (whose callbacks may need it). It kept the context, its slots and its parents until
    /// the deadline, every callback stopped (a register-and-stop per request on contexts of
    /// their own with a timeout kept each request's until its deadline). Asked when a `stop`
    /// removes a callback and when a linked child goes. Only a table of a few slots is
    /// looked through: a table keeps its room while it holds anything (the alarm's own wait,
    /// here), so a long-lived context's children, going one by one, would each look through
    /// all of it, under the lock; one that has held more keeps its alarm until the deadline.
    fn unneeded(inner: &mut Inner) -> Vec<(tokio::runtime::Id, Weak<Alarm>)> {
        const LOOKED_THROUGH: usize = 8;
        // Each runtime's alarm holds a slot of its own (its wait): not counted against the
        // callbacks' few.
        let alarms = inner.alarms.as_ref().map_or(0, |alarms| alarms.len());
        if inner.alarms.is_none()
            || inner.entries.slots() > LOOKED_THROUGH + alarms
            || inner
                .entries
                .iter()
                .any(|(_, e)| matches!(e, Entry::Callback(_) | Entry::Child(_)))
        {
            return Vec::new();
        }
        // Every runtime's: a callback registered from now on arms a new one.
        inner
            .alarms
            .take()
            .map(|alarms| *alarms)
            .unwrap_or_default()
    }

    /// Stops watching: the wait (with its timer and its hold on the context) is dropped, here,
    /// with no lock of ours held (the context may go with it, and its slots' values).
    fn disarm(&self) {
        let wait = self.wait.lock().take();
        if let Some(wait) = wait {
            drop_after_panic(wait);
        }
    }

    /// Keeps watching with `wait`, unless its context was cancelled meanwhile (a wake that
    /// found nothing to look at); or, if its deadline has passed (the timer's wake may have
    /// come before the wait was back), hands it back for the caller to fire the deadline with
    /// no lock held.
    fn keep(&self, wait: Pin<Box<WaitCancelledOwned>>) -> Option<Pin<Box<WaitCancelledOwned>>> {
        let mut slot = self.wait.lock();
        // A cancel marks the context before it wakes the alarm, and a wake takes the wait
        // under this lock: one that came before the wait was back found nothing to look at,
        // and its mark is seen here. Acquire: pairs with the Release store of the cancel.
        if wait.cx().node.cancelled.load(Ordering::Acquire) {
            drop(slot);
            drop_after_panic(wait);
            return None;
        }
        // The timer's wake comes at or after the deadline: one that came before the wait was
        // back is seen here as a deadline passed.
        let due = wait
            .cx()
            .node
            .deadline
            .as_ref()
            .is_some_and(|d| Instant::now() >= d.at);
        if due {
            return Some(wait);
        }
        *slot = Some(wait);
        None
    }
}

impl Alarm {
    /// No longer one of the node's alarms: a callback registered from now on under its
    /// runtime arms a new one (those of other runtimes still serve theirs).
    fn let_go_of(self: &Arc<Self>, node: &Node) {
        let mut inner = node.inner.lock();
        let left = inner.alarms.as_mut().map_or(0, |alarms| {
            // (A `Weak` dropped here runs no code of the alarm's.)
            alarms.retain(|(_, a)| {
                !std::ptr::eq(a.as_ptr(), Arc::as_ptr(self)) && a.strong_count() > 0
            });
            alarms.len()
        });
        if left == 0 {
            inner.alarms = None;
        }
    }
}

impl std::task::Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(wait) = self.wait.lock().take() else {
            return;
        };
        if wait.cx().node.deadline_timed_by_a_running_scope() {
            // The scope the deadline came from has started its run since the alarm was armed:
            // its timer fires the deadline, with its rules for a callback's panic (the run's
            // start fired one passed already). A later callback needs no alarm either.
            self.let_go_of(&wait.cx().node);
            drop_after_panic(wait);
            return;
        }
        // Fires a passed deadline: the callbacks run here, with no lock of ours held. One that
        // panics has still cancelled the context (every other callback was served); inside
        // the runtime's driver its panic is not resumed (it would take a worker down): the
        // panic hook has reported it where it happened.
        let looked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wait.cx().is_cancelled()));
        match looked {
            // Woken, yet neither cancelled nor due (`is_cancelled` fires a passed deadline):
            // the timer is gone with its runtime, whose shutdown wakes every sleep. Nothing can
            // fire the deadline from here: the alarm lets its context go (kept, it would keep
            // the context and its slots for good), and a callback registered later on a
            // runtime arms a new one. A deadline that passes is still seen when something
            // checks the context.
            Ok(false) => {
                self.let_go_of(&wait.cx().node);
                drop_after_panic(wait);
            }
            Ok(true) => drop_after_panic(wait),
            Err(payload) => {
                drop_after_panic(wait);
                drop_after_panic(payload);
            }
        }
    }
}

/// An alarm for the loom models: set up as [`Alarm::arm`] sets one up on a context with a
/// deadline, without the runtime's timer (loom has none), so that its protocol (the wait kept
/// against a racing cancel's wake, and let go by a `stop`) can be checked on a context
/// without one.
#[cfg(all(test, loom))]
pub(crate) struct ModelAlarm(Arc<Alarm>);

#[cfg(all(test, loom))]
impl ModelAlarm {
    pub(crate) fn new() -> Self {
        ModelAlarm(Arc::new(Alarm {
            wait: crate::sync::Mutex::new(None),
        }))
    }

    /// What `arm` does once the alarm is recorded on the node: registers and keeps the wait.
    pub(crate) fn watch(&self, cx: &Cx) {
        Arc::clone(&self.0).watch(cx);
    }

    /// What a `stop` that leaves the alarm nothing to serve does.
    pub(crate) fn disarm(&self) {
        self.0.disarm();
    }

    /// Whether the alarm still keeps a wait (and with it the context).
    pub(crate) fn is_watching(&self) -> bool {
        self.0.wait.lock().is_some()
    }

    /// How many wakers of the alarm are out (registered with a context, say).
    pub(crate) fn wakers_out(&self) -> usize {
        Arc::strong_count(&self.0) - 1
    }
}
