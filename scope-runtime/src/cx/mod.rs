//! The context: one node of the cancellation tree, with its deadline and slots.
//!
//! A [`Cx`] is a cheap handle (one `Arc`) onto a node. A node knows whether it is cancelled
//! (one atomic flag), why (its [`Cause`]), its effective deadline, its slot values, and the
//! parents it is linked to. Cancelling a node cancels every linked descendant with
//! [`Cause::ParentCancelled`].
//!
//! The files: `tree.rs` (the nodes, their links and the cancel; its docs hold the invariants
//! and the lock order), `wait.rs` (the `cancelled()` futures and `on_cancel`), `ambient.rs`
//! (the thread's ambient context, [`Cx::current`] and [`Cx::run`]).

mod ambient;
mod shield;
mod tree;
mod wait;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub(crate) use self::ambient::{
    background_ref, current_child, enclosing_scope, with_current, EnclosingScope, Enter,
};
pub use self::ambient::{current_grace, WithCx};
pub(crate) use self::ambient::{Lazy, LAZY};
pub use self::shield::{shield, shield_for, ShieldFor};
#[cfg(not(loom))]
pub(crate) use self::tree::saturating_add;
use self::tree::{
    ancestor_cancelled_slow, cancel_node, cancel_node_with, earlier, fire_deadline, Deadline, Node,
    Origin,
};
pub(crate) use self::tree::{deadline_after, deadline_in, end_of_time, inherited};
#[cfg(all(test, loom))]
pub(crate) use self::wait::ModelAlarm;
pub(crate) use self::wait::Waiter;
pub use self::wait::{
    run_until_cancelled, shutdown_signal, OnCancel, RunUntilCancelled, ShutdownSignal,
    WaitCancelled, WaitCancelledOwned,
};
use crate::cause::Cause;
use crate::slot::{Binding, Slot, SlotTable};
use crate::sync::Ordering;

/// A context: a handle onto one node of the cancellation tree, with its deadline and slots.
///
/// Cloning is one atomic increment. Every scope and child runs with one; inside them,
/// [`Cx::current`] reaches it without a parameter.
///
/// # Examples
///
/// ```
/// use scope::{Cause, Cx};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let parent = Cx::root();
/// let child = parent.child();
/// assert!(!child.is_cancelled());
/// parent.cancel("shutting down");
/// assert!(child.is_cancelled());
/// let cause = child.cancelled().await;
/// assert_eq!(cause.root(), &Cause::explicit("shutting down"));
/// # });
/// ```
#[derive(Clone)]
pub struct Cx {
    pub(crate) node: Arc<Node>,
}

/// A context that does not keep its node alive (for the registry of children's own contexts).
pub(crate) struct WeakCx(std::sync::Weak<Node>);

impl WeakCx {
    pub(crate) fn upgrade(&self) -> Option<Cx> {
        self.0.upgrade().map(|node| Cx { node })
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.0.strong_count() == 0
    }
}

impl Cx {
    pub(crate) fn downgrade(&self) -> WeakCx {
        WeakCx(Arc::downgrade(&self.node))
    }

    /// A new root: never cancelled unless you cancel it, no deadline, no slots.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope::Cx::root();
    /// assert!(!cx.is_cancelled());
    /// ```
    #[must_use]
    pub fn root() -> Cx {
        Cx {
            node: Node::new(None, SlotTable::default(), [None, None]),
        }
    }

    /// Whether both handles point at the same context.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = scope::Cx::root();
    /// assert!(a.same_as(&a.clone()));
    /// assert!(!a.same_as(&a.child()));
    /// ```
    #[must_use]
    pub fn same_as(&self, other: &Cx) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }

    /// A child context: cancelled when this one is, with the same deadline and slots.
    ///
    /// # Examples
    ///
    /// ```
    /// let parent = scope::Cx::root();
    /// let child = parent.child();
    /// child.cancel("only me");
    /// assert!(!parent.is_cancelled());
    /// ```
    #[must_use]
    pub fn child(&self) -> Cx {
        Cx {
            node: Node::new(
                self.node.deadline.clone(),
                self.node.slots.clone(),
                [Some(&self.node), None],
            ),
        }
    }

    /// A child context whose deadline is the earlier of `at` and this context's.
    ///
    /// When `at` is the one that fires, its cause ([`Cause::DeadlineExceeded`]) names the
    /// place this call was made (`file:line:column`), as an unnamed scope is named. (Called
    /// through a `fn` pointer, the place is this method's own, as for any `#[track_caller]`
    /// fn.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// let parent = scope::Cx::root();
    /// let soon = Instant::now() + Duration::from_secs(1);
    /// let child = parent.child_with_deadline(soon);
    /// assert_eq!(child.deadline(), Some(soon));
    /// // A later deadline cannot extend it.
    /// assert_eq!(child.child_with_deadline(soon + Duration::from_secs(9)).deadline(), Some(soon));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn child_with_deadline(&self, at: Instant) -> Cx {
        self.child_with_named_deadline(at, Origin::At(Location::caller()))
    }

    /// A child context that times out `timeout` from now (or earlier, with this one).
    ///
    /// Its deadline's cause names the place this call was made (`file:line:column`), as
    /// [`child_with_deadline`](Cx::child_with_deadline)'s does. A timeout of `Duration::MAX`
    /// (or any past what tokio's timer can take) gives it no deadline of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let cx = scope::Cx::root().child_with_timeout(Duration::ZERO);
    /// assert!(cx.is_cancelled());
    /// let cause = cx.cause().unwrap();
    /// assert!(cause.is_deadline());
    /// assert!(cause.to_string().starts_with(&format!("deadline of `{}:", file!())));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn child_with_timeout(&self, timeout: Duration) -> Cx {
        match deadline_in(timeout) {
            Some(at) => self.child_with_named_deadline(at, Origin::At(Location::caller())),
            // Past what a timer can take (`Duration::MAX`): no deadline of its own.
            None => self.child(),
        }
    }

    pub(crate) fn child_with_named_deadline(&self, at: Instant, origin: impl Into<Origin>) -> Cx {
        let deadline = earlier(self.node.deadline.as_ref(), Some(at), origin.into());
        Cx {
            node: Node::new(deadline, self.node.slots.clone(), [Some(&self.node), None]),
        }
    }

    /// A child context with `value` bound to `slot` (shadowing an outer binding of it).
    ///
    /// It is a child like [`child`](Cx::child)'s: cancelled with this context. Made from a
    /// [`Cx::root`] that is then dropped, it is one nobody can cancel: whatever waits for its
    /// cancel (an [`on_cancel`](Cx::on_cancel) callback, or a `to_token` link with the
    /// `tokio-util` feature) keeps it and its slots' values for good. Cancel it when you are
    /// done with it, or bind the slot on a context that ends (a scope's). (A child of
    /// [`Cx::background`] is not kept so: no parent can cancel it, so a link to it goes with
    /// its last handle.)
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Slot};
    /// static USER: Slot<&'static str> = Slot::new("USER");
    /// let cx = Cx::root().with_slot(&USER, "ada");
    /// assert_eq!(cx.get(&USER), Some(&"ada"));
    /// assert_eq!(cx.child().get(&USER), Some(&"ada"));
    /// ```
    #[must_use]
    pub fn with_slot<T: Send + Sync + 'static, K>(
        &self,
        slot: &'static Slot<T, K>,
        value: T,
    ) -> Cx {
        self.child_with(None, &[Binding::new(slot, value)])
    }

    pub(crate) fn child_with(
        &self,
        deadline: Option<(Instant, Cow<'static, str>)>,
        bindings: &[Binding],
    ) -> Cx {
        self.child_for(deadline, bindings, false)
    }

    /// The own context of a scope entered under this one: see [`child_with`](Cx::child_with).
    pub(crate) fn child_for_scope(
        &self,
        deadline: Option<(Instant, Cow<'static, str>)>,
        bindings: &[Binding],
    ) -> Cx {
        self.child_for(deadline, bindings, true)
    }

    fn child_for(
        &self,
        deadline: Option<(Instant, Cow<'static, str>)>,
        bindings: &[Binding],
        scoped: bool,
    ) -> Cx {
        let deadline = match deadline {
            Some((at, origin)) => earlier(self.node.deadline.as_ref(), Some(at), origin.into()),
            None => self.node.deadline.clone(),
        };
        let mut slots = self.node.slots.clone();
        for b in bindings {
            slots = slots.with(b.index, Arc::clone(&b.value));
        }
        Cx {
            node: Node::new_scoped(deadline, slots, [Some(&self.node), None], scoped),
        }
    }

    /// A context with the same slot values and **no** cancellation or deadline: Go's
    /// `WithoutCancel`. Use it for work that must outlive this context, handed to a
    /// long-lived owner such as a [`Service`](crate::Service).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Slot};
    /// static TRACE: Slot<u64> = Slot::new("TRACE");
    /// let request = Cx::root().with_slot(&TRACE, 9);
    /// let detached = request.detach();
    /// request.cancel("request done");
    /// assert!(!detached.is_cancelled());
    /// assert_eq!(detached.get(&TRACE), Some(&9));
    /// ```
    #[must_use]
    pub fn detach(&self) -> Cx {
        Cx {
            node: Node::new(None, self.node.slots.clone(), [None, None]),
        }
    }

    /// A shielded context for bounded clean-up: it and its children do not see this
    /// context's cancellation or deadline; it keeps the slots. Give it its own bound with
    /// [`child_with_timeout`](Cx::child_with_timeout). See also [`shield`](crate::shield).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let cx = scope::Cx::root();
    /// let cleanup = cx.shield().child_with_timeout(Duration::from_secs(5));
    /// cx.cancel("done");
    /// assert!(!cleanup.is_cancelled());
    /// ```
    #[must_use]
    pub fn shield(&self) -> Cx {
        self.detach()
    }

    /// A context cancelled when either `self` or `other` is; its deadline is the earlier of
    /// the two (`self`'s on a tie, with the name its cause gives), and its slots are `self`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = scope::Cx::root();
    /// let server = scope::Cx::root();
    /// let both = request.merge(&server);
    /// server.cancel("server stopping");
    /// assert!(both.is_cancelled());
    /// assert!(!request.is_cancelled());
    /// ```
    #[must_use]
    pub fn merge(&self, other: &Cx) -> Cx {
        let deadline = match (&self.node.deadline, &other.node.deadline) {
            (Some(a), Some(b)) => Some(Arc::clone(if b.at < a.at { b } else { a })),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let merged = Cx {
            node: Node::new(
                deadline,
                self.node.slots.clone(),
                [Some(&self.node), Some(&other.node)],
            ),
        };
        // Linked into both parents at once (other contexts are linked when something first
        // waits on them): the first of the two to be cancelled reaches it then, and its cause
        // is the one every reader sees. Unlinked, a read would find whichever parent it looked
        // at first. (If one is cancelled already, the merge is cancelled with its cause.)
        drop(merged.lock_linked());
        merged
    }

    /// Cancels this context and its descendants with an explicit reason. Returns `true` if
    /// this call cancelled it, `false` if it already was (the first cause stays).
    ///
    /// # Panics
    ///
    /// If a waiter's waker or an [`on_cancel`](Cx::on_cancel) callback panics, the first such
    /// panic is resumed here, after every other waiter, callback and descendant was served.
    /// Called while a panic already unwinds (from a guard's `Drop`), it is dropped instead: a
    /// second panic out of a destructor would abort the process. If the context's deadline
    /// had passed unseen, that deadline is the cancel (it came first: this call returns
    /// `false`), and a callback's panic goes where a deadline's goes (see
    /// [`on_cancel`](Cx::on_cancel)).
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope::Cx::root();
    /// assert!(cx.cancel("first"));
    /// assert!(!cx.cancel("second"));
    /// assert_eq!(cx.cause().unwrap().to_string(), "first");
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        // Acquire: pairs with the Release store in `cancel_node`. Already cancelled: the
        // first cause stays, and no new one need be made.
        if self.node.cancelled.load(Ordering::Acquire) {
            return false;
        }
        self.cancel_with(Cause::explicit(reason))
    }

    /// Cancels with any cause. Returns `true` if this call cancelled the context.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cause, Cx, Signal};
    /// let cx = Cx::root();
    /// cx.cancel_with(Cause::Shutdown { signal: Signal::Terminate });
    /// assert_eq!(cx.cause().unwrap().to_string(), "shutdown requested by SIGTERM");
    /// ```
    pub fn cancel_with(&self, cause: Cause) -> bool {
        cancel_node_with(&self.node, cause)
    }

    /// Ends this context because the work it belongs to (`who`) is over: `Cause::Finished`,
    /// naming it, unless it is cancelled already (one load then). Its `on_cancel` callbacks
    /// run here: the caller catches their panic.
    pub(crate) fn finish(&self, who: &crate::info::TaskInfo) {
        if !self.flag_is_set() {
            self.cancel_with(Cause::Finished { scope: who.clone() });
        }
    }

    /// Whether this context is cancelled (or its deadline has passed). Without a deadline this
    /// is a few atomic loads: the context's own flag and, while the context is not linked to
    /// its parent yet, its parent's. Contexts are linked when something must be told of a
    /// cancel (a waiter, an [`on_cancel`](Cx::on_cancel) callback); a chain of contexts none
    /// of which is linked is walked up to the first that is, on each call. With a deadline it
    /// also reads the clock: tokio's, which inside a runtime is that runtime's (paused, in a
    /// test with `start_paused`) and elsewhere the system's. So a thread outside the runtime
    /// that checks a context while the runtime's clock is paused compares the deadline with
    /// real time, and can find it passed (and cancel the context) before the paused clock
    /// gets there.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope::Cx::root();
    /// assert!(!cx.is_cancelled());
    /// cx.cancel("stop");
    /// assert!(cx.is_cancelled());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        // Acquire: pairs with the Release store in `cancel_node`, so the cause is visible.
        // An ancestor's cancel is looked at before the deadline: if both have happened, the
        // cancel came first as far as anyone could see (a linked context would have had it
        // from its parent at once), so it is the cause.
        self.node.cancelled.load(Ordering::Acquire)
            || self.ancestor_cancelled()
            || self.deadline_passed()
    }

    /// Whether this context is cancelled, as far as can be told without running anything:
    /// `None` when telling would record an unlinked ancestor's cancel or fire a passed
    /// deadline (which runs callbacks and wakers), so the caller asks
    /// [`is_cancelled`](Cx::is_cancelled) once it holds nothing.
    #[inline]
    pub(crate) fn is_cancelled_quiet(&self) -> Option<bool> {
        if self.node.cancelled.load(Ordering::Acquire) {
            return Some(true);
        }
        let deadline_passed = self
            .node
            .deadline
            .as_ref()
            .is_some_and(|d| Instant::now() >= d.at);
        (self.node.no_cancelled_ancestor_quick() && !deadline_passed).then_some(false)
    }

    /// Whether an ancestor not yet linked to this context is cancelled; if so, records it as
    /// this context's own cancellation.
    #[inline]
    fn ancestor_cancelled(&self) -> bool {
        !self.node.no_cancelled_ancestor_quick() && ancestor_cancelled_slow(&self.node)
    }

    #[inline]
    fn deadline_passed(&self) -> bool {
        match &self.node.deadline {
            None => false,
            Some(d) => self.check_deadline(d),
        }
    }

    #[cold]
    fn check_deadline(&self, d: &Arc<Deadline>) -> bool {
        if Instant::now() >= d.at {
            self.fire_deadline(d);
            true
        } else {
            false
        }
    }

    fn fire_deadline(&self, d: &Arc<Deadline>) {
        fire_deadline(&self.node, d);
    }

    /// Why this context was cancelled, or `None` if it is not.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope::Cx::root();
    /// assert_eq!(cx.cause(), None);
    /// cx.cancel("bye");
    /// assert_eq!(cx.cause().unwrap().to_string(), "bye");
    /// ```
    #[must_use]
    pub fn cause(&self) -> Option<Cause> {
        if self.is_cancelled() {
            self.node.cause().map(|c| (*c).clone())
        } else {
            None
        }
    }

    /// `Err` with the interruption if this context is cancelled, `Ok(())` if not: Go's
    /// `ctx.Err()`, for code that checks between steps and stops with `?` (a blocking loop,
    /// a step of a long computation). A deadline gives
    /// [`Interrupted::DeadlineExceeded`](crate::Interrupted::DeadlineExceeded), any other
    /// cause [`Interrupted::Cancelled`](crate::Interrupted::Cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Interrupted};
    ///
    /// fn checksum(cx: &Cx, chunks: &[&[u8]]) -> Result<u64, Interrupted> {
    ///     let mut sum = 0u64;
    ///     for chunk in chunks {
    ///         cx.check()?; // stop between chunks once cancelled
    ///         sum += chunk.iter().map(|&b| u64::from(b)).sum::<u64>();
    ///     }
    ///     Ok(sum)
    /// }
    ///
    /// let cx = Cx::root();
    /// assert_eq!(checksum(&cx, &[b"ab", b"c"]).unwrap(), 294);
    /// cx.cancel("the request is over");
    /// let e = checksum(&cx, &[b"ab"]).unwrap_err();
    /// assert_eq!(e.to_string(), "cancelled: the request is over");
    /// ```
    pub fn check(&self) -> Result<(), crate::Interrupted> {
        match self.cause_arc() {
            None => Ok(()),
            Some(cause) => Err(crate::Interrupted::from_shared_cause(cause)),
        }
    }

    pub(crate) fn cause_arc(&self) -> Option<Arc<Cause>> {
        if self.is_cancelled() {
            self.node.cause()
        } else {
            None
        }
    }

    /// The cancellation that has taken effect here or above, read without acting on it: for
    /// observers (the task tree), which may run on another thread and another runtime. Unlike
    /// [`cause`](Cx::cause) it checks no deadline (a deadline is a time on the clock of the
    /// runtime the context lives in, which an observer need not share: a paused clock in a
    /// test stands still while the observer's moves on), records nothing and runs no
    /// `on_cancel` callback. A passed deadline shows once the scope's own timer fires it.
    pub(crate) fn observed_cause(&self) -> Option<Arc<Cause>> {
        if self.flag_is_set() {
            self.node.cause()
        } else {
            self.node.cancelled_ancestor(false)
        }
    }

    /// Whether this context is cancelled, an ancestor's cancel still on its way down to it
    /// included: if an ancestor is, its cause is recorded here now (the first cause wins, so
    /// the descent, when it arrives, finds it done). For the scope's cold paths (its end, a
    /// refused spawn, a failure), which must not take a consequence of that cancel for
    /// something else; not for `is_cancelled`'s fast path (it walks every ancestor).
    #[cold]
    pub(crate) fn catch_up(&self) -> bool {
        if self.node.background {
            return false;
        }
        // Read before the flags: with no cancel on its way down, the flags (and the walk of
        // the ancestors not linked yet, in `is_cancelled`) tell everything, and the walk
        // through every linked ancestor (a chain of nested scopes' contexts, each ending in
        // turn, walked its whole depth at each end) is not needed.
        let settled = tree::none_descending();
        if self.is_cancelled() {
            return true;
        }
        if settled {
            return false;
        }
        match self.node.cancelled_ancestor(true) {
            Some(cause) => {
                cancel_node(&self.node, &cause);
                true
            }
            None => false,
        }
    }

    /// Whether a scope's own context this one derives from (through either parent of a
    /// merge) was cancelled by the very cancel that reached this one (`cause`, this context's:
    /// a cancel is passed down as the same shared cause): that scope heard of it, and reports
    /// it. The links are read with no lock (they never change while a node lives); each
    /// ancestor is looked at once.
    pub(crate) fn a_scope_above_has(&self, cause: &Arc<Cause>) -> bool {
        // What an ancestor holds if the cancel came through it: the cause as passed down, or
        // the one it wraps (the ancestor where the cancel began).
        let origin = match &**cause {
            Cause::ParentCancelled(inner) => Some(inner),
            _ => None,
        };
        let said =
            |c: &Arc<Cause>| Arc::ptr_eq(c, cause) || origin.is_some_and(|o| Arc::ptr_eq(c, o));
        let mut seen: HashSet<*const tree::Node> = HashSet::new();
        let mut todo: Vec<&tree::Node> = self.node.parents().collect();
        while let Some(n) = todo.pop() {
            if !seen.insert(std::ptr::from_ref(n)) {
                continue;
            }
            // Acquire: pairs with the Release store in `cancel_node`.
            if n.scoped
                && n.cancelled.load(Ordering::Acquire)
                && n.cause().is_some_and(|c| said(&c))
            {
                return true;
            }
            todo.extend(n.parents());
        }
        false
    }

    /// Whether this context's deadline is one a scope above set or passed down (a context
    /// on the way from the one that set it is a scope's own): that scope reports it.
    pub(crate) fn deadline_from_a_scope_above(&self) -> bool {
        self.node.deadline_from_a_scope_above()
    }

    /// The addresses of this context's node and of its ancestors through each first link,
    /// nearest first: how an observer finds the nearest context it knows (read with no lock:
    /// a node's links never change while it lives).
    pub(crate) fn lineage(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(&*self.node), |n| n.first_parent().map(|p| &**p))
            .map(|n| std::ptr::from_ref(n).addr())
    }

    /// Whether this node's own cancelled flag is set (one load: no deadline check, no
    /// ancestor asked).
    pub(crate) fn flag_is_set(&self) -> bool {
        // Acquire: pairs with the Release store in `cancel_node`.
        self.node.cancelled.load(Ordering::Acquire)
    }

    /// The token linked to this context, if one was (see `bridge`): a clone, taken under the
    /// node's lock (no user code).
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) fn linked_token(&self) -> Option<tokio_util::sync::CancellationToken> {
        self.node.inner.lock().token.clone()
    }

    /// Keeps `token` as the token linked to this context, unless one is kept already: then
    /// that one comes back.
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) fn keep_linked_token(
        &self,
        token: &tokio_util::sync::CancellationToken,
    ) -> Option<tokio_util::sync::CancellationToken> {
        let mut inner = self.node.inner.lock();
        if let Some(kept) = &inner.token {
            return Some(kept.clone());
        }
        inner.token = Some(token.clone());
        None
    }

    /// Keeps the link of a context only its handles can cancel, which holds the context
    /// weakly: it goes with the context (see `bridge::link`).
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) fn keep_link(&self, watcher: Arc<crate::bridge::Watcher>) {
        self.node.inner.lock().kept_links.push(watcher);
    }

    /// How many children, waiters and callbacks this node's table holds (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn entry_count(&self) -> usize {
        self.node.inner.lock().entries.len()
    }

    /// The effective deadline: the earliest of this context's and its ancestors'.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(scope::Cx::root().deadline(), None);
    /// ```
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline.as_ref().map(|d| d.at)
    }

    /// Time left until the deadline (zero once passed), or `None` without one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let cx = scope::Cx::root().child_with_timeout(Duration::from_secs(60));
    /// assert!(cx.remaining().unwrap() <= Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The effective deadline with the cause its owner reports it with when it fires (naming
    /// whose deadline it is), for code that must give up before it rather than wait for it
    /// (retry's backoff). Not marked inherited: the answer travels up as a value through every
    /// scope between, and is right for the deadline's owner (see docs/decisions.md, "Errors").
    pub(crate) fn deadline_cause(&self) -> Option<(Instant, Cause)> {
        self.node.deadline.as_ref().map(|d| {
            let cause = Cause::DeadlineExceeded {
                scope: d.origin.name(),
            };
            (d.at, cause)
        })
    }
}

impl fmt::Debug for Cx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As a check would tell, without acting on it: a cancelled ancestor's cancel not yet
        // recorded here, or a deadline passed that nothing fired yet, counts (no callback
        // runs, nothing is recorded).
        let deadline_passed = self
            .node
            .deadline
            .as_ref()
            .is_some_and(|d| Instant::now() >= d.at);
        let cause = self.observed_cause();
        f.debug_struct("Cx")
            .field("cancelled", &(deadline_passed || cause.is_some()))
            .field("cause", &cause)
            .field("deadline", &self.deadline())
            .field("slots", &self.node.slots)
            .finish_non_exhaustive()
    }
}

/// Whether the ambient context is cancelled. Outside any scope: `false`.
///
/// # Examples
///
/// ```
/// assert!(!scope::is_cancelled());
/// ```
#[must_use]
pub fn is_cancelled() -> bool {
    ambient::is_cancelled()
}

/// [`Cx::check`] on the ambient context: `Err` with the interruption once it is cancelled (Go's
/// `ctx.Err()`). Outside any scope: `Ok(())`.
///
/// # Examples
///
/// ```
/// use scope::{Cx, Interrupted};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(scope::check().is_ok());
/// let cx = Cx::root();
/// cx.cancel("bye");
/// let out = cx.run(async { scope::check() }).await;
/// assert!(matches!(out, Err(Interrupted::Cancelled(_))));
/// # });
/// ```
pub fn check() -> Result<(), crate::Interrupted> {
    if !ambient::is_cancelled() {
        return Ok(());
    }
    Cx::current().check()
}

/// Waits until the ambient context is cancelled and returns the cause. Outside any scope it
/// never resolves.
///
/// The ambient context is the one where the future is first polled, not where this is
/// called: awaited where it is made (the usual `scope::cancelled().await`), they are the same.
/// A future made in a child and handed to a plain `tokio::spawn` waits on the context of that
/// task (the background one, never cancelled). To wait on a context elsewhere, take it with
/// you: `Cx::current()` where you are, then [`Cx::cancelled_owned`] or
/// [`Cx::shutdown_signal`] on it.
///
/// # Examples
///
/// ```
/// use scope::Cx;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cx = Cx::root();
/// cx.cancel("bye");
/// let cause = cx.run(scope::cancelled()).await;
/// assert_eq!(cause.to_string(), "bye");
/// # });
/// ```
pub fn cancelled() -> impl std::future::Future<Output = Cause> {
    AmbientWait::Start
}

/// The future of [`cancelled`]: it finds the ambient context at its first poll. Written by
/// hand, not as an `async fn`, so that it is no larger than the larger of its two waits (it
/// sits in every waiting child's future).
enum AmbientWait {
    Start,
    /// A child still on its scope's context waits there, without a node of its own (see
    /// `scope::own_cx::LazyWait`).
    Lazy(crate::scope::own_cx::LazyWait),
    /// Anything else waits on the ambient context.
    Own(WaitCancelledOwned),
}

impl std::future::Future for AmbientWait {
    type Output = Cause;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        task: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Cause> {
        let this = self.get_mut();
        if let AmbientWait::Start = this {
            *this = match ambient::lazy_parent() {
                Some((parent, id, scope)) => {
                    AmbientWait::Lazy(crate::scope::own_cx::LazyWait::new(parent, id, scope))
                }
                None => AmbientWait::Own(Cx::current().cancelled_owned()),
            };
        }
        match this {
            AmbientWait::Lazy(wait) => std::pin::Pin::new(wait).poll(task),
            AmbientWait::Own(wait) => std::pin::Pin::new(wait).poll(task),
            AmbientWait::Start => unreachable!("the wait was chosen above"),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::tree::WALKED;
    use super::Cx;

    fn walked() -> usize {
        WALKED.with(std::cell::Cell::get)
    }

    /// A chain of nested scopes ends from the innermost out, each end catching up with a
    /// cancel that may still be on its way down: with none under way, no end walks the
    /// ancestors (each walked the whole chain, so the chain's end cost its depth squared).
    #[test]
    fn catching_up_walks_no_linked_ancestor_while_no_cancel_is_on_its_way_down() {
        let mut chain = vec![Cx::root()];
        for _ in 1..1_000 {
            let child = chain.last().unwrap().child();
            chain.push(child);
        }
        // Linked all the way up (as a running scope's context is).
        let _linked = chain.last().unwrap().on_cancel(|_| {});
        // The count of cancels under way is the process's: another test of this binary
        // cancelling on its thread meanwhile makes an end here walk, as it must. So the ends
        // are made again until none was under way (without the count, every pass walks).
        let mut walks = usize::MAX;
        for _ in 0..100 {
            let before = walked();
            for cx in chain.iter().rev() {
                assert!(!cx.catch_up());
            }
            walks = walked() - before;
            if walks == 0 {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(walks, 0, "an end walked the chain above it");
        // A cancel at the root reaches them all, and each one says so.
        chain[0].cancel("stop");
        assert!(chain.iter().all(Cx::catch_up));
    }
}
