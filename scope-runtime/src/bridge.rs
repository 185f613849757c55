//! Bridges between a [`Cx`] and tokio-util's [`CancellationToken`] (feature `tokio-util`):
//! [`Cx::to_token`] and [`Cx::from_token`], linked both ways. The notes on how a link works
//! and how long it lives are on [`Cx::to_token`].
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::cause::Cause;
use crate::cx::{background_ref, Cx, WaitCancelledOwned};
use crate::sync::Mutex;

/// The reason of the [`Cause::Explicit`] a context bridged to a [`CancellationToken`] is
/// cancelled with when the token is cancelled.
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
    /// A [`CancellationToken`] linked to this context both ways (needs the `tokio-util`
    /// feature):
    ///
    /// - cancelling the context (or its parent, or its deadline passing, or its scope
    ///   finishing) cancels the token; a token carries no cause, so ask the context for it;
    /// - cancelling the token cancels the context, with [`Cause::Explicit`] and the reason
    ///   [`TOKEN_CANCELLED`], so its `cause()` says where the cancellation came from.
    ///
    /// To hand out a token that cannot cancel your context, hand out its
    /// [`child_token()`](CancellationToken::child_token) (tokio-util's own one-way link), or
    /// bridge a [`child`](Cx::child) context. The background context ([`Cx::current`] outside
    /// any scope) is never cancelled and cannot be: its token is a fresh, unlinked one.
    ///
    /// # How the link lives
    ///
    /// No task is spawned, so this works on any executor. The link is a small watcher that
    /// waits on both sides at once, with itself as the waker: the context's waker list
    /// and the token's wake it when either is cancelled (outside their locks), and it cancels
    /// the other side, then lets go of both. The context's deadline is watched with a tokio
    /// timer when there is a runtime (otherwise when something checks the context). So the
    /// link lasts until either side is cancelled, as an [`on_cancel`](Cx::on_cancel)
    /// callback does: a context that is never cancelled keeps it, and its token, alive. (A
    /// scope's context always ends, with [`Cause::Finished`], when its scope does.)
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
        let token = CancellationToken::new();
        link(self, &token);
        token
    }

    /// A new root context linked to `token` both ways (needs the `tokio-util` feature):
    /// cancelled, with the cause [`TOKEN_CANCELLED`], when the token is cancelled (at once if
    /// it already is), and cancelling it cancels the token. Its children are cancelled with
    /// it, as any context's. The link lives as [`to_token`](Cx::to_token)'s does.
    ///
    /// To have a scope stopped by either the token or the ambient context, make its parent
    /// `Cx::current().merge(&Cx::from_token(&token))`.
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
    #[must_use]
    pub fn from_token(token: &CancellationToken) -> Cx {
        let cx = Cx::root();
        link(&cx, token);
        cx
    }
}

/// Links `cx` and `token` both ways.
fn link(cx: &Cx, token: &CancellationToken) {
    if cx.same_as(background_ref()) {
        // Never cancelled, and cannot be: there is nothing to link.
        return;
    }
    let watcher = Arc::new(Watcher {
        state: Mutex::new(State {
            linked: Some(Linked {
                cx: Box::pin(cx.clone().cancelled_owned()),
                token: Box::pin(token.clone().cancelled_owned()),
                token_handle: token.clone(),
            }),
            polling: false,
            again: false,
        }),
    });
    watcher.poll();
}

/// Both sides of a link, polled with the watcher itself as the waker until one is cancelled.
struct Watcher {
    state: Mutex<State>,
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
    /// deadline, on a tokio runtime).
    cx: Pin<Box<WaitCancelledOwned>>,
    /// Resolves when the token is cancelled.
    token: Pin<Box<WaitForCancellationFutureOwned>>,
    token_handle: CancellationToken,
}

impl Watcher {
    /// Polls both sides, with no lock held (a poll may cancel the context, which wakes this
    /// watcher again); when one side is cancelled, cancels the other and lets go of both.
    fn poll(self: &Arc<Self>) {
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
        let waker = Waker::from(Arc::clone(self));
        let mut task = Context::from_waker(&waker);
        loop {
            let cx_cancelled = linked.cx.as_mut().poll(&mut task).is_ready();
            let token_cancelled = linked.token.as_mut().poll(&mut task).is_ready();
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
                if token_cancelled {
                    // Runs the context's `on_cancel` callbacks: no lock of ours is held.
                    linked.cx.cx().cancel_with(Cause::explicit(TOKEN_CANCELLED));
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

impl Wake for Watcher {
    fn wake(self: Arc<Self>) {
        self.poll();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.poll();
    }
}
