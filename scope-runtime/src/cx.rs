//! The context: one node of the cancellation tree.
//!
//! A [`Cx`] is a cheap handle (one `Arc`) onto a node. A node knows whether it is cancelled
//! (one atomic flag), why (its [`Cause`]), its effective deadline, its slot values, and the
//! parents it is linked to. Cancelling a node cancels every linked descendant with
//! [`Cause::ParentCancelled`].
//!
//! # Invariants
//!
//! - `cancelled` is set (with `Release`) only while holding the node's lock, right after
//!   `cause` is set, and never cleared: a reader that sees `true` with `Acquire` sees the cause.
//! - Once a node is cancelled its entry table is empty and stays empty: waiters, callbacks and
//!   children that arrive later are served on the spot and never registered. So a stale key
//!   (held by a waiter, a stop handle or a child link) can never name someone else's entry.
//! - A child holds a strong reference to each parent. It is *linked* into a parent (a `Weak`
//!   entry in the parent's table, removed when the child is dropped) lazily: only once
//!   something must be woken when it is cancelled (a waiter, an `on_cancel` callback, or a linked
//!   child of its own). Most children never are, and cost their parent no lock at all.
//! - `linked` is set (with `Release`, under the node's lock) once every parent link is in its
//!   parent's table, each parent itself linked first. From then on an ancestor's cancel
//!   reaches the node, so its own flag is authoritative. Until then `is_cancelled` also asks
//!   the ancestors (and records what it finds as the node's own cancellation).
//!
//! # Deadlock safety
//!
//! Cancellation holds one lock at a time: it takes the entries out of a node under its lock,
//! releases it, and only then wakes waiters, runs callbacks and descends to the children, one
//! node at a time (iteratively, so a deep tree cannot overflow the stack). User callbacks never
//! run under a lock. Linking, the one place that holds several locks, takes them from a node
//! towards its ancestors only (never an ancestor's and then a descendant's), and the ancestor
//! relation has no cycles, so no two threads can wait on each other.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::slab::Slab;
use crate::slot::{Binding, SlotTable};
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::{Cause, Slot};

/// A context: a handle onto one node of the cancellation tree, with its deadline and slots.
///
/// Cloning is one atomic increment. Every scope and child runs with one; inside them,
/// [`Cx::current`] reaches it without a parameter.
///
/// # Examples
///
/// ```
/// use scope_runtime::{Cause, Cx};
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

pub(crate) struct Node {
    /// Fast path of `is_cancelled`. See the module's invariants.
    cancelled: AtomicBool,
    /// Every parent link is in its parent's table. See the module's invariants.
    linked: AtomicBool,
    /// The background context: never cancelled, links no children.
    background: bool,
    deadline: Option<Arc<Deadline>>,
    pub(crate) slots: SlotTable,
    links: [Option<Link>; 2],
    inner: Mutex<Inner>,
}

struct Link {
    parent: Arc<Node>,
    /// The key of this node's entry in the parent's table, `usize::MAX` when not linked.
    key: AtomicUsize,
}

#[derive(Debug)]
struct Deadline {
    at: Instant,
    origin: Cow<'static, str>,
}

#[derive(Default)]
struct Inner {
    cause: Option<Arc<Cause>>,
    entries: Slab<Entry>,
}

enum Entry {
    Child(Weak<Node>),
    Waiter(Waker),
    Callback(Box<dyn FnOnce(&Cause) + Send>),
}

const UNLINKED: usize = usize::MAX;

impl Node {
    fn new(
        deadline: Option<Arc<Deadline>>,
        slots: SlotTable,
        parents: [Option<&Arc<Node>>; 2],
    ) -> Arc<Node> {
        let link = |p: Option<&Arc<Node>>| {
            p.filter(|p| !p.background).map(|p| Link {
                parent: Arc::clone(p),
                key: AtomicUsize::new(UNLINKED),
            })
        };
        let links = [link(parents[0]), link(parents[1])];
        let linked = links.iter().all(Option::is_none);
        Arc::new(Node {
            cancelled: AtomicBool::new(false),
            linked: AtomicBool::new(linked),
            background: false,
            deadline,
            slots,
            links,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Links `node` (whose lock the caller holds, as `inner`) into its parents' tables, linking
    /// unlinked ancestors first, so that their cancels reach it. Returns a parent's cause if one
    /// is already cancelled: the caller then cancels `node` with it, after releasing the lock.
    ///
    /// Locks are taken from `node` towards its ancestors only (see Deadlock safety). It
    /// recurses once per unlinked ancestor.
    fn link(node: &Arc<Node>, inner: &Inner) -> Result<(), Arc<Cause>> {
        debug_assert!(inner.cause.is_none());
        // Relaxed: `linked` only changes under this node's lock, which the caller holds.
        if node.linked.load(Ordering::Relaxed) {
            return Ok(());
        }
        for link in node.links.iter().flatten() {
            // Relaxed: keys of this node change only under its lock, which the caller holds.
            if link.key.load(Ordering::Relaxed) != UNLINKED {
                continue;
            }
            let parent = &link.parent;
            let mut parent_inner = parent.inner.lock();
            if let Some(cause) = &parent_inner.cause {
                return Err(inherited(cause));
            }
            Node::link(parent, &parent_inner)?;
            let key = parent_inner
                .entries
                .insert(Entry::Child(Arc::downgrade(node)));
            // Relaxed: read under this node's lock, or by its `Drop` (ordered by the `Arc`).
            link.key.store(key, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire load in `cancelled_ancestor`.
        node.linked.store(true, Ordering::Release);
        Ok(())
    }

    fn cause(&self) -> Option<Arc<Cause>> {
        self.inner.lock().cause.clone()
    }

    /// The cause of the nearest cancelled ancestor reached through links not yet in place
    /// (`None` when every path up ends at a linked, uncancelled node). Iterative.
    #[cold]
    fn cancelled_ancestor(&self) -> Option<Arc<Cause>> {
        // Acquire: pairs with the Release store in `link`.
        if self.linked.load(Ordering::Acquire) {
            return None;
        }
        let mut more: Vec<&Node> = Vec::new();
        let mut next = self.links.iter().flatten().map(|l| &*l.parent);
        let mut current = next.next();
        more.extend(next);
        while let Some(n) = current.take().or_else(|| more.pop()) {
            // Acquire: pairs with the Release store in `cancel_node`.
            if n.cancelled.load(Ordering::Acquire) {
                if let Some(cause) = n.cause() {
                    return Some(inherited(&cause));
                }
            }
            if n.linked.load(Ordering::Acquire) {
                continue;
            }
            let mut parents = n.links.iter().flatten().map(|l| &*l.parent);
            current = parents.next();
            more.extend(parents);
        }
        None
    }
}

/// The cause a descendant of a node cancelled with `cause` gets.
fn inherited(cause: &Arc<Cause>) -> Arc<Cause> {
    match &**cause {
        Cause::ParentCancelled(_) => Arc::clone(cause),
        _ => Arc::new(Cause::ParentCancelled(Arc::clone(cause))),
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for link in self.links.iter_mut().filter_map(Option::take) {
            // Relaxed: see `Node::new`.
            let key = link.key.load(Ordering::Relaxed);
            if key != UNLINKED {
                // The entry may already be gone (the parent was cancelled): then the table is
                // empty for good and the removal finds nothing.
                let removed = link.parent.inner.lock().entries.remove(key);
                drop(removed);
            }
            release(link.parent);
        }
    }
}

/// Drops a parent reference without recursing: a long chain of contexts whose last handle
/// goes away is released in a loop, not one stack frame per ancestor.
fn release(parent: Arc<Node>) {
    thread_local! {
        static RELEASING: RefCell<Option<Vec<Arc<Node>>>> = const { RefCell::new(None) };
    }
    let queued = RELEASING.try_with(|r| match r.borrow_mut().as_mut() {
        Some(queue) => {
            queue.push(parent.clone());
            true
        }
        None => false,
    });
    match queued {
        // An outer `release` on this thread drops it.
        Ok(true) => {}
        Ok(false) => {
            let _ = RELEASING.try_with(|r| *r.borrow_mut() = Some(Vec::new()));
            drop(parent);
            while let Some(next) = RELEASING
                .try_with(|r| r.borrow_mut().as_mut().and_then(Vec::pop))
                .ok()
                .flatten()
            {
                drop(next);
            }
            let _ = RELEASING.try_with(|r| *r.borrow_mut() = None);
        }
        // Thread teardown: drop it here.
        Err(_) => drop(parent),
    }
}

/// Cancels `node` and every linked descendant. Returns whether `node` was cancelled by this
/// call (the first cause wins).
pub(crate) fn cancel_node(node: &Arc<Node>, cause: &Arc<Cause>) -> bool {
    if node.background {
        return false;
    }
    let mut panic = None;
    // The first node is served without the stack; the stack is allocated only for children.
    let Some(children) = cancel_one(node, cause, &mut panic) else {
        return false;
    };
    let mut stack: Vec<(Arc<Node>, Arc<Cause>)> = children;
    while let Some((n, cause)) = stack.pop() {
        if let Some(more) = cancel_one(&n, &cause, &mut panic) {
            stack.extend(more);
        }
    }
    if let Some(p) = panic {
        // A user's `on_cancel` callback panicked; every other waiter, callback and child has
        // been served first, so the tree is consistent. Hand the panic back to the caller.
        std::panic::resume_unwind(p);
    }
    true
}

/// Cancels one node: records the cause, wakes its waiters and runs its callbacks (outside the
/// lock), and returns its linked children with the cause they inherit; `None` if it was
/// already cancelled.
fn cancel_one(
    node: &Arc<Node>,
    cause: &Arc<Cause>,
    panic: &mut Option<Box<dyn std::any::Any + Send>>,
) -> Option<Vec<(Arc<Node>, Arc<Cause>)>> {
    let entries = {
        let mut inner = node.inner.lock();
        if inner.cause.is_some() {
            return None;
        }
        inner.cause = Some(Arc::clone(cause));
        // Release: pairs with the Acquire loads in `is_cancelled`, publishing the cause.
        node.cancelled.store(true, Ordering::Release);
        std::mem::take(&mut inner.entries)
    };
    // Descendants share one cause: "parent cancelled" with the original cause inside, so a
    // deep tree needs no chain of causes (and cancelling it allocates once).
    let mut child_cause = None;
    let mut children = Vec::new();
    for entry in entries.into_values() {
        match entry {
            Entry::Waiter(waker) => waker.wake(),
            Entry::Callback(f) => {
                let run = std::panic::AssertUnwindSafe(|| f(cause));
                if let Err(p) = std::panic::catch_unwind(run) {
                    panic.get_or_insert(p);
                }
            }
            Entry::Child(weak) => {
                if let Some(child) = weak.upgrade() {
                    let c = child_cause.get_or_insert_with(|| inherited(cause)).clone();
                    children.push((child, c));
                }
            }
        }
    }
    Some(children)
}

impl Cx {
    /// A new root: never cancelled unless you cancel it, no deadline, no slots.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope_runtime::Cx::root();
    /// assert!(!cx.is_cancelled());
    /// ```
    #[must_use]
    pub fn root() -> Cx {
        Cx {
            node: Node::new(None, SlotTable::default(), [None, None]),
        }
    }

    /// The background context: what [`Cx::current`] returns outside any scope. It is never
    /// cancelled ([`cancel`](Cx::cancel) on it returns `false` and does nothing), and
    /// contexts derived from it are roots.
    ///
    /// # Examples
    ///
    /// ```
    /// let bg = scope_runtime::Cx::background();
    /// assert!(!bg.cancel("no effect"));
    /// assert!(!bg.is_cancelled());
    /// ```
    #[must_use]
    pub fn background() -> Cx {
        background_ref().clone()
    }

    /// The context of the scope or child running now; [`Cx::background`] outside any scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::Cx;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// let seen = cx.clone().run(async { Cx::current() }).await;
    /// assert!(seen.same_as(&cx));
    /// assert!(Cx::current().same_as(&Cx::background()));
    /// # });
    /// ```
    #[must_use]
    pub fn current() -> Cx {
        with_current(Cx::clone)
    }

    /// Whether both handles point at the same context.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = scope_runtime::Cx::root();
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
    /// let parent = scope_runtime::Cx::root();
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
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// let parent = scope_runtime::Cx::root();
    /// let soon = Instant::now() + Duration::from_secs(1);
    /// let child = parent.child_with_deadline(soon);
    /// assert_eq!(child.deadline(), Some(soon));
    /// // A later deadline cannot extend it.
    /// assert_eq!(child.child_with_deadline(soon + Duration::from_secs(9)).deadline(), Some(soon));
    /// ```
    #[must_use]
    pub fn child_with_deadline(&self, at: Instant) -> Cx {
        self.child_with_named_deadline(at, Cow::Borrowed("context"))
    }

    /// A child context that times out `timeout` from now (or earlier, with this one).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let cx = scope_runtime::Cx::root().child_with_timeout(Duration::ZERO);
    /// assert!(cx.is_cancelled());
    /// assert!(cx.cause().unwrap().is_deadline());
    /// ```
    #[must_use]
    pub fn child_with_timeout(&self, timeout: Duration) -> Cx {
        self.child_with_deadline(deadline_after(timeout))
    }

    pub(crate) fn child_with_named_deadline(&self, at: Instant, origin: Cow<'static, str>) -> Cx {
        let deadline = earlier(self.node.deadline.as_ref(), Some(at), origin);
        Cx {
            node: Node::new(deadline, self.node.slots.clone(), [Some(&self.node), None]),
        }
    }

    /// A child context with `value` bound to `slot` (shadowing an outer binding of it).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Cx, Slot};
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
        let deadline = match deadline {
            Some((at, origin)) => earlier(self.node.deadline.as_ref(), Some(at), origin),
            None => self.node.deadline.clone(),
        };
        let mut slots = self.node.slots.clone();
        for b in bindings {
            slots = slots.with(b.index, Arc::clone(&b.value));
        }
        Cx {
            node: Node::new(deadline, slots, [Some(&self.node), None]),
        }
    }

    /// A context with the same slot values and **no** cancellation or deadline: Go's
    /// `WithoutCancel`. Use it for work that must outlive this context, handed to a
    /// long-lived owner such as a [`Service`](crate::Service).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Cx, Slot};
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
    /// let cx = scope_runtime::Cx::root();
    /// let cleanup = cx.shield().child_with_timeout(Duration::from_secs(5));
    /// cx.cancel("done");
    /// assert!(!cleanup.is_cancelled());
    /// ```
    #[must_use]
    pub fn shield(&self) -> Cx {
        self.detach()
    }

    /// A context cancelled when either `self` or `other` is; its deadline is the earlier of
    /// the two, and its slots are `self`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = scope_runtime::Cx::root();
    /// let server = scope_runtime::Cx::root();
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
        Cx {
            node: Node::new(
                deadline,
                self.node.slots.clone(),
                [Some(&self.node), Some(&other.node)],
            ),
        }
    }

    /// Cancels this context and its descendants with an explicit reason. Returns `true` if
    /// this call cancelled it, `false` if it already was (the first cause stays).
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope_runtime::Cx::root();
    /// assert!(cx.cancel("first"));
    /// assert!(!cx.cancel("second"));
    /// assert_eq!(cx.cause().unwrap().to_string(), "first");
    /// ```
    pub fn cancel(&self, reason: impl Into<Cow<'static, str>>) -> bool {
        self.cancel_with(Cause::explicit(reason))
    }

    /// Cancels with any cause. Returns `true` if this call cancelled the context.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Cause, Cx, Signal};
    /// let cx = Cx::root();
    /// cx.cancel_with(Cause::Shutdown { signal: Signal::Terminate });
    /// assert_eq!(cx.cause().unwrap().to_string(), "shutdown requested by SIGTERM");
    /// ```
    pub fn cancel_with(&self, cause: Cause) -> bool {
        cancel_node(&self.node, &Arc::new(cause))
    }

    /// Whether this context is cancelled (or its deadline has passed). Without a deadline this
    /// is one atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope_runtime::Cx::root();
    /// assert!(!cx.is_cancelled());
    /// cx.cancel("stop");
    /// assert!(cx.is_cancelled());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        // Acquire: pairs with the Release store in `cancel_node`, so the cause is visible.
        self.node.cancelled.load(Ordering::Acquire)
            || self.deadline_passed()
            || self.ancestor_cancelled()
    }

    /// Whether an ancestor not yet linked to this context is cancelled; if so, records it as
    /// this context's own cancellation.
    #[inline]
    fn ancestor_cancelled(&self) -> bool {
        // Acquire: pairs with the Release store in `Node::link`.
        if self.node.linked.load(Ordering::Acquire) {
            return false;
        }
        match self.node.cancelled_ancestor() {
            Some(cause) => {
                cancel_node(&self.node, &cause);
                true
            }
            None => false,
        }
    }

    #[inline]
    fn deadline_passed(&self) -> bool {
        match &self.node.deadline {
            None => false,
            Some(d) => self.check_deadline(d),
        }
    }

    #[cold]
    fn check_deadline(&self, d: &Deadline) -> bool {
        if Instant::now() >= d.at {
            self.fire_deadline(d);
            true
        } else {
            false
        }
    }

    fn fire_deadline(&self, d: &Deadline) {
        cancel_node(
            &self.node,
            &Arc::new(Cause::DeadlineExceeded {
                scope: d.origin.clone(),
            }),
        );
    }

    /// Why this context was cancelled, or `None` if it is not.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope_runtime::Cx::root();
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

    pub(crate) fn cause_arc(&self) -> Option<Arc<Cause>> {
        if self.is_cancelled() {
            self.node.cause()
        } else {
            None
        }
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
    /// assert_eq!(scope_runtime::Cx::root().deadline(), None);
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
    /// let cx = scope_runtime::Cx::root().child_with_timeout(Duration::from_secs(60));
    /// assert!(cx.remaining().unwrap() <= Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// A future that resolves, with the cause, once this context is cancelled (or its
    /// deadline passes).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let cx = scope_runtime::Cx::root().child_with_timeout(Duration::from_millis(10));
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
    /// let cx = scope_runtime::Cx::root();
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
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// let cx = scope_runtime::Cx::root();
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
        let mut inner = self.node.inner.lock();
        // A callback must be reached by the ancestors' cancels: link this context first.
        let cancelled = match inner.cause.clone() {
            Some(cause) => Some(cause),
            None => Node::link(&self.node, &inner).err(),
        };
        if let Some(cause) = cancelled {
            drop(inner);
            // No-op if it already was; otherwise records the (inherited) cause first.
            cancel_node(&self.node, &cause);
            f(&self.node.cause().unwrap_or(cause));
            return OnCancel {
                registration: std::sync::Mutex::new(None),
            };
        }
        let key = inner.entries.insert(Entry::Callback(Box::new(f)));
        drop(inner);
        if self.deadline_passed() {
            // The deadline fired the callback (or will have, by the time this returns).
            return OnCancel {
                registration: std::sync::Mutex::new(None),
            };
        }
        OnCancel {
            registration: std::sync::Mutex::new(Some((Arc::downgrade(&self.node), key))),
        }
    }

    /// Runs `fut` with this context as the ambient one ([`Cx::current`] inside it).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::Cx;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// let inside = cx.clone().run(async { Cx::current().same_as(&cx) }).await;
    /// assert!(inside);
    /// # });
    /// ```
    pub fn run<F: Future>(self, fut: F) -> WithCx<F> {
        WithCx {
            cx: Some(self),
            fut,
        }
    }
}

fn earlier(
    inherited: Option<&Arc<Deadline>>,
    own: Option<Instant>,
    origin: Cow<'static, str>,
) -> Option<Arc<Deadline>> {
    match (inherited, own) {
        (Some(d), Some(at)) if d.at <= at => Some(Arc::clone(d)),
        (_, Some(at)) => Some(Arc::new(Deadline { at, origin })),
        (d, None) => d.cloned(),
    }
}

pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365 * 30))
}

impl fmt::Debug for Cx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx")
            .field("cancelled", &self.node.cancelled.load(Ordering::Relaxed))
            .field("deadline", &self.deadline())
            .field("slots", &self.node.slots)
            .finish_non_exhaustive()
    }
}

/// Registration state shared by the borrowed and owned waiting futures.
#[derive(Default)]
struct Waiter {
    key: Option<usize>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Waiter {
    fn poll(&mut self, cx: &Cx, task: &mut Context<'_>) -> Poll<Cause> {
        if let Some(cause) = cx.cause_arc() {
            self.key = None;
            return Poll::Ready((*cause).clone());
        }
        {
            let mut inner = cx.node.inner.lock();
            if let Some(cause) = inner.cause.clone() {
                self.key = None;
                return Poll::Ready((*cause).clone());
            }
            // A waiter must be woken by the ancestors' cancels: link this context first.
            if let Err(cause) = Node::link(&cx.node, &inner) {
                drop(inner);
                cancel_node(&cx.node, &cause);
                self.key = None;
                return Poll::Ready((*cx.node.cause().unwrap_or(cause)).clone());
            }
            if let Some(Entry::Waiter(w)) = self.key.and_then(|k| inner.entries.get_mut(k)) {
                w.clone_from(task.waker());
            } else {
                let key = inner.entries.insert(Entry::Waiter(task.waker().clone()));
                self.key = Some(key);
            }
        }
        if let Some(d) = &cx.node.deadline {
            if self.sleep.is_none() && tokio::runtime::Handle::try_current().is_ok() {
                self.sleep = Some(Box::pin(tokio::time::sleep_until(d.at)));
            }
            let fired = match &mut self.sleep {
                Some(sleep) => sleep.as_mut().poll(task).is_ready(),
                None => Instant::now() >= d.at,
            };
            if fired {
                cx.fire_deadline(d);
                self.key = None;
                if let Some(cause) = cx.node.cause() {
                    return Poll::Ready((*cause).clone());
                }
            }
        }
        Poll::Pending
    }

    fn unregister(&mut self, cx: &Cx) {
        if let Some(key) = self.key.take() {
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
/// use scope_runtime::{Cause, Cx, WaitCancelled};
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
/// use scope_runtime::{Cx, WaitCancelledOwned};
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
/// let cx = scope_runtime::Cx::root();
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
    /// `false` if it has run (or is running) already.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope_runtime::Cx::root();
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
        let removed = node.inner.lock().entries.remove(key);
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

pin_project_lite::pin_project! {
    /// A future run with a context as the ambient one. See [`Cx::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Cx, WithCx};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// cx.cancel("done");
    /// let fut: WithCx<_> = cx.run(async { scope_runtime::is_cancelled() });
    /// assert!(fut.cx().is_cancelled());
    /// assert!(fut.await); // the future saw `cx` as its ambient context
    /// assert!(!scope_runtime::is_cancelled()); // and only while it was polled
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WithCx<F> {
        cx: Option<Cx>,
        #[pin]
        fut: F,
    }
}

impl<F> WithCx<F> {
    /// The context this future runs with.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope_runtime::Cx::root();
    /// let fut = cx.clone().run(async {});
    /// assert!(fut.cx().same_as(&cx));
    /// ```
    pub fn cx(&self) -> &Cx {
        self.cx.as_ref().unwrap_or_else(|| background_ref())
    }
}

impl<F: Future> Future for WithCx<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = Entered::swap(this.cx);
        this.fut.poll(task)
    }
}

impl<F> fmt::Debug for WithCx<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithCx")
            .field("cx", &self.cx)
            .finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Cx>> = const { RefCell::new(None) };
}

/// Swaps a context into the thread's ambient slot and back out on drop (panics included).
pub(crate) struct Entered<'a> {
    slot: &'a mut Option<Cx>,
}

impl<'a> Entered<'a> {
    pub(crate) fn swap(slot: &'a mut Option<Cx>) -> Self {
        CURRENT.with(|c| std::mem::swap(&mut *c.borrow_mut(), slot));
        Entered { slot }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // `try_with`: during thread teardown the slot may be gone; then there is nothing to restore.
        let _ = CURRENT.try_with(|c| std::mem::swap(&mut *c.borrow_mut(), self.slot));
    }
}

pub(crate) fn background_ref() -> &'static Cx {
    static BACKGROUND: OnceLock<Cx> = OnceLock::new();
    BACKGROUND.get_or_init(|| Cx {
        node: Arc::new(Node {
            cancelled: AtomicBool::new(false),
            linked: AtomicBool::new(true),
            background: true,
            deadline: None,
            slots: SlotTable::default(),
            links: [None, None],
            inner: Mutex::new(Inner::default()),
        }),
    })
}

/// Calls `f` with the ambient context without cloning it.
pub(crate) fn with_current<R>(f: impl FnOnce(&Cx) -> R) -> R {
    let mut f = Some(f);
    let inside = CURRENT.try_with(|c| {
        let current = c.borrow();
        f.take()
            .map(|f| f(current.as_ref().unwrap_or_else(|| background_ref())))
    });
    match (inside, f) {
        (Ok(Some(r)), _) => r,
        // The thread's ambient slot is gone (thread teardown): the background context.
        (_, Some(f)) => f(background_ref()),
        (Ok(None) | Err(_), None) => unreachable!("`f` is taken only when it runs"),
    }
}

/// Whether the ambient context is cancelled. Outside any scope: `false`.
///
/// # Examples
///
/// ```
/// assert!(!scope_runtime::is_cancelled());
/// ```
#[must_use]
pub fn is_cancelled() -> bool {
    with_current(Cx::is_cancelled)
}

/// Waits until the ambient context is cancelled and returns the cause. Outside any scope it
/// never resolves.
///
/// # Examples
///
/// ```
/// use scope_runtime::Cx;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cx = Cx::root();
/// cx.cancel("bye");
/// let cause = cx.run(scope_runtime::cancelled()).await;
/// assert_eq!(cause.to_string(), "bye");
/// # });
/// ```
pub async fn cancelled() -> Cause {
    Cx::current().cancelled_owned().await
}

/// Runs `fut` shielded from the ambient context's cancellation, for bounded clean-up: it
/// keeps the slots and does not see outer cancellation or deadlines. Bound it yourself,
/// e.g. with `tokio::time::timeout`. A shield does not survive a forced abort (after the
/// scope's grace).
///
/// # Examples
///
/// ```
/// use scope_runtime::{shield, Cx};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cx = Cx::root();
/// cx.cancel("request over");
/// let inner_cancelled = cx.run(shield(async { scope_runtime::is_cancelled() })).await;
/// assert!(!inner_cancelled);
/// # });
/// ```
pub fn shield<F: Future>(fut: F) -> WithCx<F> {
    Cx::current().shield().run(fut)
}
