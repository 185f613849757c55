//! Bridges between a [`Cx`] and tokio-util's [`CancellationToken`](https://docs.rs/tokio-util/0.7/tokio_util/sync/struct.CancellationToken.html) (feature `tokio-util`):
//! [`Cx::to_token`] and [`Cx::from_token`], linked both ways. The notes on how a link works
//! and how long it lives are on [`Cx::to_token`].
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Wake, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::cause::Cause;
use crate::cx::{background_ref, Cx, WaitCancelledOwned, WeakCx};
use crate::error::drop_after_panic;
use crate::sync::Mutex;

/// The reason of the [`Cause::Explicit`] a context bridged to a
/// [`CancellationToken`](https://docs.rs/tokio-util/0.7/tokio_util/sync/struct.CancellationToken.html) is
/// cancelled with when the token is cancelled (needs the `tokio-util` feature, as the
/// bridges do).
///
/// # Examples
///
/// ```
/// use scope::{Cause, Cx, TOKEN_CANCELLED};
/// let token = tokio_util::sync::CancellationToken::new();
/// let cx = Cx::from_token(&token);
/// token.cancel();
/// assert_eq!(cx.cause(), Some(Cause::explicit(TOKEN_CANCELLED)));
/// ```
pub const TOKEN_CANCELLED: &str = "cancelled through a tokio-util CancellationToken";

impl Cx {
    /// A [`CancellationToken`](https://docs.rs/tokio-util/0.7/tokio_util/sync/struct.CancellationToken.html) linked to this context both ways (needs the `tokio-util`
    /// feature):
    ///
    /// - cancelling the context (or its parent, or its deadline passing, or its scope
    ///   finishing) cancels the token; a token carries no cause, so ask the context for it;
    /// - cancelling the token cancels the context, with [`Cause::Explicit`] and the reason
    ///   [`TOKEN_CANCELLED`], so its `cause()` says where the cancellation came from.
    ///
    /// To hand out a token that cannot cancel your context, hand out its
    /// [`child_token()`](https://docs.rs/tokio-util/0.7/tokio_util/sync/struct.CancellationToken.html#method.child_token) (tokio-util's own one-way link), or
    /// bridge a [`child`](Cx::child) context. The background context ([`Cx::current`] outside
    /// any scope) is never cancelled and cannot be: its token is a fresh, unlinked one.
    ///
    /// # How the link lives
    ///
    /// No task is spawned, so this works on any executor. The link is a small watcher that
    /// waits on both sides at once, with itself as the waker: the context's waker list
    /// (outside this crate's locks) and the token's (as tokio-util wakes its waiters) wake it
    /// when either is cancelled, and it cancels the other side, then lets go of both. The context's deadline is watched with a tokio
    /// timer when there is a runtime (otherwise, and once that runtime has shut down, when
    /// something checks the context). When the timer fires the deadline, the context's
    /// [`on_cancel`](Cx::on_cancel) callbacks run inside the runtime's timer: one that panics
    /// does not unwind into the runtime (the panic hook reports it) and the token is
    /// cancelled all the same. So the
    /// link lasts until either side is cancelled, as an [`on_cancel`](Cx::on_cancel)
    /// callback does: a context that a parent or a deadline may still cancel is kept alive by
    /// it, with its token, until then. A
    /// context has one link: every call hands out a clone of the same token (asked once per
    /// request of a long-lived context, they do not pile up). A scope's context ends, with
    /// [`Cause::Finished`], when its scope does, and a child's own context when the child
    /// does (just after its outcome is delivered: a handle awaited on another worker may
    /// resolve a moment before the token is cancelled); a [`child`](Cx::child) you made and linked lives until you cancel it or its
    /// parent ends (below a [`Cx::root`] dropped uncancelled, for good, and so below a
    /// context whose deadline no timer will fire, its runtime shut down: cancel a context of
    /// your own when you are done with it, as Go's `defer cancel()` does). What is kept so is
    /// the context, its slots and the token, not the runtime: a timer that runtime's shutdown
    /// fired is let go. A context no parent cancels
    /// (a [`Cx::root`], a child of the background context, the root
    /// [`from_token`](Cx::from_token) makes) is not kept by its link: the link goes with its
    /// last handle (its children's included), and the token, if you keep it, lives on
    /// unlinked. Its own deadline, if it has one, keeps it as it keeps an
    /// [`on_cancel`](Cx::on_cancel) callback's context: until the deadline, while its runtime
    /// runs (so the token is cancelled then, its handles dropped or not), and no longer once
    /// that runtime has shut down.
    ///
    /// # Panics
    ///
    /// On a tokio runtime built without its timers (no `enable_time`), bridging a context
    /// with a deadline panics, as creating a tokio `sleep` there does (and as
    /// [`on_cancel`](Cx::on_cancel) does): the link watches the deadline with a timer.
    ///
    /// # Examples
    ///
    /// The scope's cancellation reaches a library that takes a token:
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().timeout(Duration::from_secs(1)).grace(Duration::from_secs(1)));
    /// let out = s
    ///     .run(async {
    ///         let token = scope::Cx::current().to_token();
    ///         // A tokio-util style loop, stopped by the scope's deadline.
    ///         let stopped = token.run_until_cancelled(std::future::pending::<()>()).await;
    ///         assert_eq!(stopped, None);
    ///         Ok::<_, Interrupted>("stopped by the deadline")
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), "stopped by the deadline");
    /// # });
    /// ```
    ///
    /// And the other way:
    ///
    /// ```
    /// use scope::{Cause, Cx, TOKEN_CANCELLED};
    /// let cx = Cx::root();
    /// let token = cx.to_token();
    /// token.cancel();
    /// assert_eq!(cx.cause(), Some(Cause::explicit(TOKEN_CANCELLED)));
    ///
    /// // A child token is a one-way link: it cannot cancel the context.
    /// let cx = Cx::root();
    /// let read_only = cx.to_token().child_token();
    /// read_only.cancel();
    /// assert!(!cx.is_cancelled());
    /// cx.cancel("done");
    /// assert!(cx.to_token().is_cancelled());
    /// ```
    #[must_use]
    pub fn to_token(&self) -> CancellationToken {
        // One link per context: a context asked for a token per request keeps one, not one
        // per request until its cancel. The link's watcher may not have heard of a cancel
        // yet (an `on_cancel` callback registered before it asks, another thread): a
        // cancelled context's token is cancelled when it is handed out, as a new link's is.
        let token = if let Some(token) = self.linked_token() {
            token
        } else {
            let token = CancellationToken::new();
            if self.same_as(background_ref()) {
                return token;
            }
            // Kept before it is linked: the link's first poll may run `on_cancel` callbacks
            // (a passed deadline), and one that asks for a token gets this one. Two threads
            // asking at once: the second takes the first's token and makes no link.
            if let Some(first) = self.keep_linked_token(&token) {
                first
            } else {
                link(self, &token);
                token
            }
        };
        if self.is_cancelled() {
            token.cancel();
        }
        token
    }

    /// A new root context linked to `token` both ways (needs the `tokio-util` feature):
    /// cancelled, with the cause [`TOKEN_CANCELLED`], when the token is cancelled (at once if
    /// it already is), and cancelling it cancels the token. Its children are cancelled with
    /// it, as any context's. The link lives as [`to_token`](Cx::to_token)'s does.
    ///
    /// To have scopes stopped by either the token or the ambient context, make the root once,
    /// beside the token (`let from_token = Cx::from_token(&token);`), and each scope's parent
    /// `Cx::current().merge(&from_token)`. Each call makes a root and a link, which live until
    /// the token or that root is cancelled, or the root's last handle (its children's
    /// included) goes.
    ///
    /// A token carries no cause, so its cancel is an explicit one, not a shutdown: the scopes
    /// below give their children their [`grace`](crate::Config::grace) (zero unless set), not
    /// their [`shutdown_grace`](crate::Config::shutdown_grace), and the scopes nested in them
    /// inherit no drain budget. When the token is the program's shutdown signal and the
    /// scopes below should drain as in a shutdown, make their parent a context that a
    /// callback on the bridged one cancels with [`Cause::Shutdown`] (second example).
    ///
    /// # Examples
    ///
    /// An application's shutdown token stops a scope:
    ///
    /// ```
    /// use scope::{Cause, Config, Cx, Interrupted, Scope, TOKEN_CANCELLED};
    /// use tokio_util::sync::CancellationToken;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let shutdown = CancellationToken::new();
    /// let s = &Scope::new(Config::new().parent(Cx::from_token(&shutdown)));
    /// let out = s
    ///     .run(async {
    ///         shutdown.cancel();
    ///         let cause = scope::cancelled().await;
    ///         assert_eq!(cause.root(), &Cause::explicit(TOKEN_CANCELLED));
    ///         Ok::<_, Interrupted>("drained")
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), "drained");
    ///
    /// // The other way: cancelling the context cancels the token.
    /// let token = CancellationToken::new();
    /// let cx = Cx::from_token(&token);
    /// cx.cancel("request aborted");
    /// assert!(token.is_cancelled());
    /// # });
    /// ```
    ///
    /// A token that means "shut down": its cancel reaches the scopes as a shutdown, so each
    /// gives its children its `shutdown_grace`, and the scopes nested in them inherit it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Cause, Config, Cx, Interrupted, Scope, Signal};
    /// use tokio_util::sync::CancellationToken;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let token = CancellationToken::new();
    /// let shutdown = Cx::root();
    /// let bridged = Cx::from_token(&token);
    /// let _as_shutdown = bridged.on_cancel({
    ///     let shutdown = shutdown.clone();
    ///     move |_| {
    ///         let signal = Signal::Requested("the shutdown token".into());
    ///         shutdown.cancel_with(Cause::Shutdown { signal });
    ///     }
    /// });
    /// let s = &Scope::new(
    ///     Config::new()
    ///         .parent(shutdown)
    ///         .shutdown_grace(Duration::from_secs(2)),
    /// );
    /// let mut answer = None;
    /// let out = s
    ///     .run(async {
    ///         let request = s.spawn(async {
    ///             scope::cancelled().await; // 2 s to finish, not 0
    ///             tokio::time::sleep(Duration::from_millis(100)).await;
    ///             Ok::<_, Interrupted>("finished")
    ///         });
    ///         tokio::time::sleep(Duration::from_millis(1)).await; // the request under way
    ///         token.cancel();
    ///         answer = Some(request.await?);
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert_eq!(answer, Some("finished"));
    /// out.unwrap(); // drained within its budget: a shutdown is not a failure
    /// # });
    /// ```
    #[must_use]
    pub fn from_token(token: &CancellationToken) -> Cx {
        let cx = Cx::root();
        // Its token is this one: `to_token` hands out clones of it, with no second link.
        let _none = cx.keep_linked_token(token);
        link(&cx, token);
        cx
    }
}

/// Links `cx` and `token` both ways.
///
/// A context that a parent's cancel may still cancel is kept by its link until one side is
/// cancelled (its waiter in the context's table and the token's wait both hold the watcher,
/// which holds the context). A context no parent cancels (a root, a child of the background
/// context) keeps its link instead, and the link holds it weakly, with a callback for its side
/// and a waker that holds the watcher weakly for the token's: when the context's last handle
/// goes, the link goes with it (the token, if held elsewhere, lives on unlinked: nothing can
/// cancel the context any more, nor see it cancelled). Else a root and its token dropped
/// uncancelled would keep each other for the life of the process. Such a context's own
/// deadline is fired by the callback's alarm (see `cx::wait::Alarm`), which keeps the context
/// until then while its runtime runs and lets it go at that runtime's shutdown: a link that
/// held it for its deadline kept it for good once no timer was left to fire it.
fn link(cx: &Cx, token: &CancellationToken) {
    if cx.same_as(background_ref()) {
        // Never cancelled, and cannot be: there is nothing to link.
        return;
    }
    // A context no parent cancels is kept by its handles alone: its deadline, if it has one,
    // is served by the callback's alarm, which keeps it until the deadline while its runtime
    // runs and lets it go when that runtime shuts down (a link that kept it for the deadline
    // would keep it for good once no timer can fire it, or with no runtime at all).
    let by_hand = cx.node.no_parent_cancels();
    let watcher = Arc::new(Watcher {
        state: Mutex::new(State {
            linked: Some(Linked {
                cx: (!by_hand).then(|| Box::pin(cx.clone().cancelled_owned())),
                token: Box::pin(token.clone().cancelled_owned()),
                token_handle: token.clone(),
            }),
            polling: false,
            again: false,
        }),
        root: by_hand.then(|| cx.downgrade()),
    });
    if !by_hand {
        watcher.poll(true);
        return;
    }
    cx.keep_link(Arc::clone(&watcher));
    // The token's side first: a callback registered on a runtime without timers, for a
    // deadline of the context's own, panics as it arms the deadline's alarm (as any wait on a
    // deadline does there), after it is registered; the link is whole by then.
    watcher.poll(true);
    // The context's side: its cancel (by a handle or its deadline; now, if it is cancelled
    // already) cancels the token. The callback holds the token, not the link.
    let token = token.clone();
    drop(cx.on_cancel(move |_| token.cancel()));
}

/// Both sides of a link, polled with the watcher as the waker until one is cancelled.
pub(crate) struct Watcher {
    state: Mutex<State>,
    /// A root's link: the context, which keeps this watcher (see [`link`]).
    root: Option<WeakCx>,
}

/// The waker of a root's link: it does not keep the watcher (the context does).
struct WeakWake(Weak<Watcher>);

impl Wake for WeakWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(watcher) = self.0.upgrade() {
            watcher.poll(false);
        }
    }
}

struct State {
    /// Taken while being polled, and for good once one side is cancelled.
    linked: Option<Linked>,
    /// Someone is polling `linked` (outside the lock).
    polling: bool,
    /// A wake arrived while it was being polled: poll again.
    again: bool,
}

struct Linked {
    /// Resolves when the context is cancelled, its deadline included (it sleeps until the
    /// deadline, on a tokio runtime). `None` for a root's link, whose context cancels the
    /// token through a callback.
    cx: Option<Pin<Box<WaitCancelledOwned>>>,
    /// Resolves when the token is cancelled.
    token: Pin<Box<WaitForCancellationFutureOwned>>,
    token_handle: CancellationToken,
}

impl Watcher {
    /// Polls both sides, with no lock held (a poll may cancel the context, which wakes this
    /// watcher again); when one side is cancelled, cancels the other and lets go of both.
    ///
    /// Only the first poll (`first`, from [`link`], on the caller's thread) polls the
    /// context's side: it registers the watcher with the context and arms the deadline's
    /// timer. A wake later comes from the context's cancel or from that timer, inside the
    /// runtime's driver, where polling the timer again would panic if the runtime is shutting
    /// down (which wakes every timer); so a wake only asks the context whether it is
    /// cancelled, which fires a deadline that has passed. A wake that finds it not cancelled
    /// was the shutdown's: the context stays watched for its cancel, and its deadline is then
    /// checked when something checks the context, as without a runtime.
    fn poll(self: &Arc<Self>, first: bool) {
        let mut linked = {
            let mut state = self.state.lock();
            if state.polling {
                state.again = true;
                return;
            }
            let Some(linked) = state.linked.take() else {
                return;
            };
            state.polling = true;
            linked
        };
        let waker = if self.root.is_some() {
            Waker::from(Arc::new(WeakWake(Arc::downgrade(self))))
        } else {
            Waker::from(Arc::clone(self))
        };
        let mut task = Context::from_waker(&waker);
        // Made by `link`, on the caller's thread (not inside a wake).
        let linking = first;
        let mut first = first;
        loop {
            // Firing a passed deadline runs the context's `on_cancel` callbacks; one that
            // panics has still cancelled the context (every other callback was served).
            // Both sides are polled outside the cooperative budget: the first poll arms the
            // deadline's timer (a timer polled with the caller's budget spent registers
            // nothing, and no later poll would arm it), and a wake can come from inside a
            // task that has spent its own.
            let cx_side = catch_unwind(AssertUnwindSafe(|| match &mut linked.cx {
                Some(cx) if first => Pin::new(&mut tokio::task::unconstrained(cx.as_mut()))
                    .poll(&mut task)
                    .is_ready(),
                Some(cx) => {
                    let cancelled = cx.cx().is_cancelled();
                    if !cancelled {
                        // Woken by its timer yet not cancelled: the timer's runtime shut down
                        // (which fires every timer). The spent timer holds that runtime's
                        // driver: let go, not kept with the link for good.
                        cx.drop_spent_timer();
                    }
                    cancelled
                }
                None => false,
            }));
            first = false;
            let (cx_cancelled, callback_panic) = match cx_side {
                Ok(cancelled) => (cancelled, None),
                Err(payload) => (true, Some(payload)),
            };
            let token_cancelled = Pin::new(&mut tokio::task::unconstrained(linked.token.as_mut()))
                .poll(&mut task)
                .is_ready();
            if cx_cancelled || token_cancelled {
                {
                    let mut state = self.state.lock();
                    state.polling = false;
                    state.again = false;
                }
                if cx_cancelled {
                    // A token has no cause to carry.
                    linked.token_handle.cancel();
                }
                let mut callback_panic = callback_panic;
                if token_cancelled && !cx_cancelled {
                    // Runs the context's `on_cancel` callbacks: no lock of ours is held. A
                    // panic there must not unwind out of the token's wake (through
                    // tokio-util's cancel and tokio's `Notify`, which would leave the token's
                    // other waiters unwoken): it is handled as a deadline's is.
                    let cx = match &linked.cx {
                        Some(cx) => Some(cx.cx().clone()),
                        None => self.root.as_ref().and_then(WeakCx::upgrade),
                    };
                    let cancel = catch_unwind(AssertUnwindSafe(|| {
                        if let Some(cx) = cx {
                            cx.cancel_with(Cause::explicit(TOKEN_CANCELLED));
                        }
                    }));
                    callback_panic = callback_panic.or(cancel.err());
                }
                // Lets go of both sides: its hold on the context may be the last one, and the
                // context's slot values go with it (user code, run inside the token's wake:
                // its panic is handled as a callback's).
                let dropped = catch_unwind(AssertUnwindSafe(move || drop(linked)));
                let panic = match (callback_panic, dropped) {
                    (Some(first), Err(second)) => {
                        drop_after_panic(second);
                        Some(first)
                    }
                    (first, dropped) => first.or(dropped.err()),
                };
                if let Some(payload) = panic {
                    callback_panicked(payload, linking);
                }
                return;
            }
            let mut state = self.state.lock();
            if state.again {
                state.again = false;
                continue;
            }
            state.linked = Some(linked);
            state.polling = false;
            return;
        }
    }
}

/// A context's `on_cancel` callback panicked when the link fired the context's passed
/// deadline, or cancelled the context for its token. While the link is being made the panic is
/// its maker's; inside a wake (the runtime's timer driver, a worker's park, the token's
/// cancel) it is not resumed, since unwinding there would take the worker down or strand the
/// token's other waiters: the panic hook has reported it where it happened.
fn callback_panicked(payload: Box<dyn std::any::Any + Send>, linking: bool) {
    if linking {
        crate::error::resume_unless_unwinding(payload);
        return;
    }
    // The payload's own destructor is user code too.
    drop(catch_unwind(AssertUnwindSafe(|| drop(payload))));
}

impl Wake for Watcher {
    fn wake(self: Arc<Self>) {
        self.poll(false);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.poll(false);
    }
}
