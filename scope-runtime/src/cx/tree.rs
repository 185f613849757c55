//! The cancellation tree: nodes, their links, and the cancel that walks them.
//!
//! # Invariants
//!
//! - `cancelled` is set (with `Release`) only while holding the node's lock, right after
//!   `cause` is set, and never cleared: a reader that sees `true` with `Acquire` sees the cause.
//! - Once a node is cancelled its entry table is empty and stays empty: waiters, callbacks and
//!   children that arrive later are served on the spot and never registered. So a stale key
//!   (held by a waiter, a stop handle or a child link) can never name someone else's entry.
//! - A scope's own node may have an *owner* (the scope, set when its run starts, after linking
//!   the node as for a callback): taken out by the cancel together with the entries and told
//!   outside the lock, so it is told at most once; set on a cancelled node it is refused.
//! - A child holds a strong reference to each parent. It is *linked* into a parent (a `Weak`
//!   entry in the parent's table, removed when the child is dropped) lazily: only once
//!   something must be woken when it is cancelled (a waiter, an `on_cancel` callback, or a linked
//!   child of its own). Most children never are, and cost their parent no lock at all.
//! - `linked` is set (with `Release`, under the node's lock) once every parent link is in its
//!   parent's table, each parent itself linked first. From then on an ancestor's cancel
//!   reaches the node, so its own flag is authoritative. Until then `is_cancelled` also asks
//!   the ancestors (and records what it finds as the node's own cancellation).
//! - A cancel records its cause on the whole linked subtree before it serves anyone (owners,
//!   waiters, callbacks): whatever the cancel sets in motion finds every linked descendant
//!   cancelled already. (A reader on another thread may still see an ancestor cancelled and a
//!   descendant not yet, for the moment the first pass takes.)
//! - A deadline's alarm (`wait::Alarm`, which fires a passed deadline for `on_cancel`
//!   callbacks) keeps its wait under a lock of its own, never held with a node's. Its wait is
//!   registered with the context first and kept after; a cancel marks the node before it wakes
//!   the alarm, a wake takes the wait under the alarm's lock, and the wait is put back under
//!   that lock only if the mark is not seen then. So a cancel between the two leaves nothing
//!   kept, and a `stop` that lets the alarm go racing a cancel's wake drops the wait once
//!   (loom: `loom_an_alarm_set_while_its_context_is_cancelled_keeps_nothing` and
//!   `loom_an_alarm_let_go_while_its_context_is_cancelled_keeps_nothing`).
//!
//! # Deadlock safety
//!
//! Cancellation holds one lock at a time: it records the cause and takes the entries out of a
//! node under its lock, releases it, and descends to the children, one node at a time
//! (iteratively, so a deep tree cannot overflow the stack); only then, with no lock held, does
//! it wake the waiters and run the callbacks. User code (callbacks,
//! wakers: their wake, clone and drop) never runs under a lock. Linking, the one place that holds
//! several locks, takes them from a node towards its ancestors only (never an ancestor's and then
//! a descendant's), and the ancestor relation has no cycles, so no two threads can wait on each
//! other.

use std::borrow::Cow;
use std::cell::RefCell;
use std::panic::Location;
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::Duration;

use tokio::time::Instant;

use crate::cause::Cause;
use crate::error::{drop_caught, keep_first, resume_unless_unwinding};
use crate::info::TaskInfo;
use crate::scope::tracker::Enclosing;
use crate::slab::Slab;
use crate::slot::SlotTable;
use crate::sync::{AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};

pub(crate) struct Node {
    /// Fast path of `is_cancelled`. See the module's invariants.
    pub(super) cancelled: AtomicBool,
    /// Every parent link is in its parent's table. See the module's invariants.
    pub(super) linked: AtomicBool,
    /// The background context: never cancelled, links no children.
    pub(super) background: bool,
    /// A scope's own context: while the scope runs, its timer fires the node's deadline.
    pub(super) scoped: bool,
    pub(super) deadline: Option<Arc<Deadline>>,
    pub(crate) slots: SlotTable,
    links: [Option<Link>; 2],
    pub(super) inner: Mutex<Inner>,
}

struct Link {
    parent: Arc<Node>,
    /// The key of this node's entry in the parent's table, `usize::MAX` when not linked.
    key: AtomicUsize,
}

#[derive(Debug)]
pub(crate) struct Deadline {
    pub(super) at: Instant,
    pub(super) origin: Origin,
}

/// Whose deadline it is, for the cause it fires with: a name (a scope's, a service task's, a
/// shield's), or the place a bare context was made (`Cx::child_with_timeout`), as an unnamed
/// scope is named, formatted only when the deadline is reported.
#[derive(Debug)]
pub(crate) enum Origin {
    Named(Cow<'static, str>),
    At(&'static Location<'static>),
}

impl Origin {
    pub(super) fn name(&self) -> Cow<'static, str> {
        match self {
            Origin::Named(name) => name.clone(),
            Origin::At(at) => Cow::Owned(format!("{}:{}:{}", at.file(), at.line(), at.column())),
        }
    }
}

impl From<Cow<'static, str>> for Origin {
    fn from(name: Cow<'static, str>) -> Self {
        Origin::Named(name)
    }
}

impl From<String> for Origin {
    fn from(name: String) -> Self {
        Origin::Named(Cow::Owned(name))
    }
}

/// A node's deadline alarms, each with the runtime whose timer it waits on.
pub(super) type Alarms = Vec<(tokio::runtime::Id, Weak<super::wait::Alarm>)>;

#[derive(Default)]
pub(super) struct Inner {
    pub(super) cause: CauseCell,
    pub(super) entries: Slab<Entry>,
    /// The scope whose own context this is: its run is woken (outside every lock) when the
    /// node is cancelled. Kept beside the entries rather than as a callback among them:
    /// setting it allocates nothing, and a cancel that finds only the owner keeps its cause
    /// inline.
    pub(super) owner: Option<Weak<dyn Enclosing>>,
    /// The alarms that watch this node's own deadline for callbacks, one per runtime a
    /// callback was registered under (see `wait::Alarm`), with that runtime: let go of when
    /// the last callback they served is stopped.
    /// (Boxed: few contexts have one, and every node carries the field.)
    pub(super) alarms: Option<Box<Alarms>>,
    /// The token linked to this context by its first `to_token` (every later call hands out
    /// a clone: one link per context, however many tokens are asked for).
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) token: Option<tokio_util::sync::CancellationToken>,
    /// The links to tokens of a context only its handles can cancel (a root): kept by the
    /// node, not keeping it (see `bridge::link`), so that they go with it.
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) kept_links: Vec<Arc<crate::bridge::Watcher>>,
}

/// A node's cause: none yet, shared (what waiters, callbacks and descendants get), or, for the
/// three causes a cancel most often carries (an explicit reason, a deadline, the end of the
/// node's scope), kept as what it names while no one has asked for it. A cancel that finds
/// nothing registered (no waiter, callback or linked child: a context nobody listens to) keeps
/// it so and allocates nothing; the first reader makes it shared.
///
/// An explicit tag (`repr(u8)`): without it the tag hides in a niche of the `TaskInfo`, and
/// every match on the cell decodes it (measured: 2% more instructions to create and cancel a
/// context).
#[derive(Default)]
#[repr(u8)]
pub(super) enum CauseCell {
    #[default]
    None,
    Explicit(Cow<'static, str>),
    Deadline(Cow<'static, str>),
    Finished(TaskInfo),
    Shared(Arc<Cause>),
}

impl CauseCell {
    pub(super) fn is_set(&self) -> bool {
        !matches!(self, CauseCell::None)
    }

    /// The cause, made shared on the first ask (under the node's lock; no user code runs).
    #[inline]
    pub(super) fn get(&mut self) -> Option<Arc<Cause>> {
        match self {
            CauseCell::None => None,
            CauseCell::Shared(cause) => Some(Arc::clone(cause)),
            _ => self.share(),
        }
    }

    /// Makes a kept cause the shared one (once per node: out of the callers' way).
    #[inline(never)]
    fn share(&mut self) -> Option<Arc<Cause>> {
        let shared = match std::mem::take(self) {
            CauseCell::None => return None,
            CauseCell::Shared(cause) => cause,
            CauseCell::Explicit(reason) => Arc::new(Cause::Explicit { reason }),
            CauseCell::Deadline(scope) => Arc::new(Cause::DeadlineExceeded { scope }),
            CauseCell::Finished(scope) => Arc::new(Cause::Finished { scope }),
        };
        *self = CauseCell::Shared(Arc::clone(&shared));
        Some(shared)
    }
}

pub(super) enum Entry {
    Child(Weak<Node>),
    Waiter(Waker),
    Callback(Box<dyn FnOnce(&Cause) + Send>),
}

const UNLINKED: usize = usize::MAX;

/// A node being linked (see [`Node::link`]): its lock (the caller holds the first one's),
/// the next of its links to look at, and the node below it (with the link) to put in its
/// table once it is linked itself.
struct Frame<'a> {
    node: &'a Arc<Node>,
    guard: Option<MutexGuard<'a, Inner>>,
    next: usize,
    below: Option<(&'a Arc<Node>, &'a Link)>,
}

impl Node {
    /// No parent passes a cancel down: only a handle on it, or its own deadline, can cancel
    /// it (a [`Cx::root`](crate::Cx::root), a child of the background context, with or without
    /// a deadline of its own).
    #[cfg(all(feature = "tokio-util", not(loom)))]
    pub(crate) fn no_parent_cancels(&self) -> bool {
        !self.background && self.links.iter().all(Option::is_none)
    }

    pub(super) fn new(
        deadline: Option<Arc<Deadline>>,
        slots: SlotTable,
        parents: [Option<&Arc<Node>>; 2],
    ) -> Arc<Node> {
        Node::new_scoped(deadline, slots, parents, false)
    }

    /// A node; `scoped`: a scope's own.
    pub(super) fn new_scoped(
        deadline: Option<Arc<Deadline>>,
        slots: SlotTable,
        parents: [Option<&Arc<Node>>; 2],
        scoped: bool,
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
            scoped,
            deadline,
            slots,
            links,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The node of the background context.
    pub(super) fn background() -> Node {
        Node {
            cancelled: AtomicBool::new(false),
            linked: AtomicBool::new(true),
            background: true,
            scoped: false,
            deadline: None,
            slots: SlotTable::default(),
            links: [None, None],
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Links `node` (whose lock the caller holds, as `inner`) into its parents' tables, linking
    /// unlinked ancestors first, so that their cancels reach it. Returns a parent's cause if one
    /// is already cancelled: the caller then cancels `node` with it, after releasing the lock.
    ///
    /// Locks are taken from `node` towards its ancestors only (see Deadlock safety), each held
    /// until the node below it is in its table. Iterative: a frame per unlinked ancestor on the
    /// path being linked, so a long chain cannot overflow the stack.
    pub(super) fn link(node: &Arc<Node>, inner: &Inner) -> Result<(), Arc<Cause>> {
        debug_assert!(!inner.cause.is_set());
        // Relaxed: `linked` only changes under this node's lock, which the caller holds.
        if node.linked.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut path = vec![Frame {
            node,
            guard: None,
            next: 0,
            below: None,
        }];
        while let Some(top) = path.last_mut() {
            let n: &Arc<Node> = top.node;
            let Some(link) = n.links.get(top.next) else {
                // Every link of `n` is in place: it is linked, and goes into the table of the
                // parent it was reached from.
                // Release: pairs with the Acquire load in `cancelled_ancestor`.
                n.linked.store(true, Ordering::Release);
                let Some(frame) = path.pop() else { break };
                if let (Some(mut guard), Some((child, link))) = (frame.guard, frame.below) {
                    let key = guard.entries.insert(Entry::Child(Arc::downgrade(child)));
                    // Relaxed: read under the child's lock (held lower on the path, or by
                    // the caller), or by its `Drop` (ordered by the `Arc`).
                    link.key.store(key, Ordering::Relaxed);
                }
                continue;
            };
            top.next += 1;
            let Some(link) = link else { continue };
            // Relaxed: keys of `n` change only under its lock, which is held.
            if link.key.load(Ordering::Relaxed) != UNLINKED {
                continue;
            }
            let parent = &link.parent;
            let mut parent_inner = parent.inner.lock();
            if let Some(cause) = parent_inner.cause.get() {
                return Err(inherited(&cause));
            }
            // Relaxed: under the parent's lock, which is held.
            if parent.linked.load(Ordering::Relaxed) {
                let key = parent_inner.entries.insert(Entry::Child(Arc::downgrade(n)));
                link.key.store(key, Ordering::Relaxed);
                continue;
            }
            path.push(Frame {
                node: parent,
                guard: Some(parent_inner),
                next: 0,
                below: Some((n, link)),
            });
        }
        Ok(())
    }

    /// Whether a running scope's timer fires this node's deadline: the node, or a context it
    /// took its deadline from, is the own context of a scope whose run has started (its
    /// owner is set; a cancel takes it, and then no deadline is left to fire). Then its
    /// `on_cancel` callbacks need no alarm of their own. A scope not run yet has no timer.
    /// (Takes each such scope's node lock in turn, one at a time: for the alarms' cold path.)
    pub(super) fn deadline_timed_by_a_running_scope(&self) -> bool {
        let Some(deadline) = &self.deadline else {
            return false;
        };
        let mut n = self;
        loop {
            // (A scope's: a service task's context has an owner too, but the task's poll may
            // be blocked at its deadline, and the alarm is what runs its callbacks on time.)
            if n.scoped && n.inner.lock().owner.is_some() {
                return true;
            }
            match n.deadline_parent(deadline) {
                Some(parent) => n = parent,
                None => return false,
            }
        }
    }

    /// The running scope (or service task) that a passed `deadline` of this node belongs to:
    /// the nearest context with a live owner, from this node up the contexts that passed the
    /// deadline down (see [`fire_deadline`]). (Takes each node's lock in turn, one at a time:
    /// for the deadline's cold path.)
    fn deadline_scope(&self, deadline: &Arc<Deadline>) -> Option<Arc<dyn Enclosing>> {
        let mut n = self;
        loop {
            // (A running service task's context has an owner too: the task.)
            let owner = n.inner.lock().owner.clone();
            if let Some(scope) = owner.and_then(|owner| owner.upgrade()) {
                return Some(scope);
            }
            n = n.deadline_parent(deadline)?;
        }
    }

    /// Whether a scope's own context is on the way up to the context that set this node's
    /// deadline (this node left out): that scope's timer fires it, and that scope reports it.
    pub(super) fn deadline_from_a_scope_above(&self) -> bool {
        let Some(deadline) = &self.deadline else {
            return false;
        };
        let mut n = self;
        while let Some(parent) = n.deadline_parent(deadline) {
            if parent.scoped {
                return true;
            }
            n = parent;
        }
        false
    }

    /// The node whose deadline this one inherited, up the parents that gave it (this node, if
    /// the deadline is its own).
    pub(super) fn deadline_owner(self: &Arc<Node>) -> Arc<Node> {
        let mut n = self;
        if let Some(deadline) = &self.deadline {
            while let Some(parent) = n.deadline_parent(deadline) {
                n = parent;
            }
        }
        Arc::clone(n)
    }

    /// The parent that gave this node `deadline`, if one did: a child's one parent, or the
    /// merge's parent whose deadline it took (a merge has none of its own; it is linked into
    /// both parents as it is made, so that parent's cancel reaches it).
    fn deadline_parent(&self, deadline: &Arc<Deadline>) -> Option<&Arc<Node>> {
        self.links
            .iter()
            .flatten()
            .map(|link| &link.parent)
            .find(|p| {
                p.deadline
                    .as_ref()
                    .is_some_and(|d| Arc::ptr_eq(d, deadline))
            })
    }

    /// Its parents (a merge's two), set at its making and never changed while the node lives.
    pub(super) fn parents(&self) -> impl Iterator<Item = &Node> {
        self.links.iter().flatten().map(|link| &*link.parent)
    }

    /// The parent of its first link (a merge's first context), if it has one: set at its
    /// making and never changed while the node lives.
    pub(super) fn first_parent(&self) -> Option<&Arc<Node>> {
        self.links[0].as_ref().map(|l| &l.parent)
    }

    pub(super) fn cause(&self) -> Option<Arc<Cause>> {
        self.inner.lock().cause.get()
    }

    /// Whether no ancestor can be cancelled without this node having been told: it is linked,
    /// or its one parent is linked (so its own flag says) and not cancelled. Two loads in the
    /// common case of a child of a scope's (linked) context; the walk otherwise.
    #[inline]
    pub(super) fn no_cancelled_ancestor_quick(&self) -> bool {
        // Acquire: pairs with the Release stores in `link` and `cancel_node`.
        if self.linked.load(Ordering::Acquire) {
            return true;
        }
        match &self.links {
            [Some(link), None] => {
                let parent = &*link.parent;
                parent.linked.load(Ordering::Acquire) && !parent.cancelled.load(Ordering::Acquire)
            }
            _ => false,
        }
    }

    /// The cause of the nearest cancelled ancestor reached through links not yet in place
    /// (`None` when every path up ends at a linked, uncancelled node); or, `through_linked`,
    /// through every link (an ancestor's cancel may still be on its way down to a linked
    /// node). Iterative.
    #[cold]
    pub(super) fn cancelled_ancestor(&self, through_linked: bool) -> Option<Arc<Cause>> {
        // Acquire: pairs with the Release store in `link`.
        if !through_linked && self.linked.load(Ordering::Acquire) {
            return None;
        }
        let mut more: Vec<&Node> = Vec::new();
        let mut next = self.links.iter().flatten().map(|l| &*l.parent);
        let mut current = next.next();
        more.extend(next);
        // Below a merge, an ancestor can be reached by two paths: each is looked at once (a
        // chain of merges of the same context would otherwise be walked 2^depth times).
        let mut seen: Option<std::collections::HashSet<*const Node>> = self
            .links
            .iter()
            .flatten()
            .nth(1)
            .map(|_| std::collections::HashSet::new());
        while let Some(n) = current.take().or_else(|| more.pop()) {
            #[cfg(all(test, not(loom)))]
            WALKED.with(|w| w.set(w.get() + 1));
            if let Some(seen) = &mut seen {
                if !seen.insert(std::ptr::from_ref(n)) {
                    continue;
                }
            }
            // Acquire: pairs with the Release store in `cancel_node`.
            if n.cancelled.load(Ordering::Acquire) {
                if let Some(cause) = n.cause() {
                    return Some(inherited(&cause));
                }
            }
            if !through_linked && n.linked.load(Ordering::Acquire) {
                continue;
            }
            if seen.is_none() && n.links.iter().flatten().nth(1).is_some() {
                // The first merge on the walk: only what is above it can be reached twice.
                seen = Some(std::collections::HashSet::new());
            }
            let mut parents = n.links.iter().flatten().map(|l| &*l.parent);
            current = parents.next();
            more.extend(parents);
        }
        None
    }
}

/// The cause a descendant of a node cancelled with `cause` gets.
pub(crate) fn inherited(cause: &Arc<Cause>) -> Arc<Cause> {
    match &**cause {
        Cause::ParentCancelled(_) => Arc::clone(cause),
        _ => Arc::new(Cause::ParentCancelled(Arc::clone(cause))),
    }
}

impl Node {
    /// Takes this node's links to its parents out (unregistering it from each parent's table),
    /// handing each parent reference to `let_go`.
    fn unlink_parents(&mut self, mut let_go: impl FnMut(Arc<Node>)) {
        for link in self.links.iter_mut().filter_map(Option::take) {
            // Relaxed: see `Node::new`.
            let key = link.key.load(Ordering::Relaxed);
            // A cancelled parent's table is emptied by its cancel (which finds this node's
            // weak entry dead and drops it) and stays empty: no lock to take. Acquire: pairs
            // with the Release store in `flag_one` (a stale `false` only costs the lock).
            if key != UNLINKED && !link.parent.cancelled.load(Ordering::Acquire) {
                // The entry may be gone meanwhile (the parent was cancelled): then the table
                // is empty for good and the removal finds nothing. A parent whose deadline's
                // alarm watched for this child's callbacks may let it go now.
                drop(super::wait::Alarm::remove_entry(&link.parent, key));
            }
            let_go(link.parent);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.unlink_parents(release);
    }
}

thread_local! {
    /// The nodes queued by the `release` running on this thread, if one is.
    static RELEASING: RefCell<Option<Vec<Node>>> = const { RefCell::new(None) };
}

/// Drops a parent reference without recursing: a long chain of contexts whose last handle
/// goes away is released in a loop, not one stack frame per ancestor. A reference that is not
/// the last is only a decrement.
#[inline]
fn release(parent: Arc<Node>) {
    // Atomically: the last reference gives the node back, any other one is just let go.
    if let Some(last) = Arc::into_inner(parent) {
        release_last(last);
    }
}

/// [`release`] of a parent's last reference: out of line, so that the common case (not the
/// last) costs a context's drop only the decrement. Measured on `--quick cx` (current
/// thread, ours, in instructions): 77.3M with this inline, 75.8M out of line.
#[inline(never)]
fn release_last(last: Node) {
    let mut last = Some(last);
    let queued = RELEASING.try_with(|r| {
        if let Some(queue) = r.borrow_mut().as_mut() {
            queue.extend(last.take());
        }
    });
    // Not queued: this call drops it, then whatever its drop queues. (Queued: an outer
    // `release` on this thread drops it.)
    let Some(last) = last else {
        return;
    };
    if queued.is_err() {
        // This thread's locals are being torn down (a context kept in a thread-local of the
        // user's, destroyed after this crate's): no queue, so a loop of its own.
        return release_without_queue(last);
    }
    let _ = RELEASING.try_with(|r| *r.borrow_mut() = Some(Vec::new()));
    // A node's drop runs user code (a slot's value, a callback's capture): one that panics
    // does not keep the rest of the queue from being released, nor leave the thread's queue
    // open (every later release on this thread would then only queue, and leak); the first
    // panic goes on to the dropper once the queue is empty.
    let mut panic = drop_caught(last).err();
    while let Some(next) = RELEASING
        .try_with(|r| r.borrow_mut().as_mut().and_then(Vec::pop))
        .ok()
        .flatten()
    {
        if let Err(p) = drop_caught(next) {
            keep_first(&mut panic, p);
        }
    }
    let _ = RELEASING.try_with(|r| *r.borrow_mut() = None);
    if let Some(payload) = panic {
        resume_unless_unwinding(payload);
    }
}

/// [`release_last`] on a thread whose locals are gone: the chain above `first` is let go in
/// a loop here, each node's parents taken out before it is dropped (so its drop does not
/// release them, one stack frame per ancestor). What a node's drop lets go of besides (a
/// slot's value holding a context) takes this way again, one level deeper.
#[cold]
fn release_without_queue(first: Node) {
    let mut work = vec![first];
    let mut panic = None;
    while let Some(mut node) = work.pop() {
        node.unlink_parents(|parent| work.extend(Arc::into_inner(parent)));
        if let Err(p) = drop_caught(node) {
            keep_first(&mut panic, p);
        }
    }
    if let Some(payload) = panic {
        resume_unless_unwinding(payload);
    }
}

/// Cancels `node` and every linked descendant. Returns whether `node` was cancelled by this
/// call (the first cause wins).
///
/// Two passes: the first records the cause on every linked descendant (one lock at a time),
/// the second tells the owners, wakes the waiters and runs the callbacks. So nothing the cancel
/// sets in motion (a scope's run woken, a callback closing a pool, a task woken on another
/// worker) runs before every linked descendant counts as cancelled: none of them can take a
/// consequence of the cancel for a failure of its own, or win with a cause of its own.
pub(crate) fn cancel_node(node: &Arc<Node>, cause: &Arc<Cause>) -> bool {
    if node.background {
        return false;
    }
    let descent = Descent::begin();
    let Some(first) = flag_one(node, cause) else {
        return false;
    };
    let mut panic = None;
    // The common case, a node without linked children, allocates nothing more.
    let mut stack = children_of(&first);
    if stack.is_empty() {
        drop(descent);
        serve(first, &mut panic);
    } else {
        let mut flagged = vec![first];
        // The children reached are kept until everyone is served: the last reference to a
        // node dropped here would run user code (its slots' values), and a panic there must
        // not leave the nodes flagged so far unserved.
        let mut reached = Vec::with_capacity(stack.len());
        while let Some((n, cause)) = stack.pop() {
            if let Some(more) = flag_one(&n, &cause) {
                stack.extend(children_of(&more));
                flagged.push(more);
            }
            reached.push(n);
        }
        // Every node of the linked subtree is flagged (no user code ran yet).
        drop(descent);
        for one in flagged {
            serve(one, &mut panic);
        }
        // One at a time: a second panic while a `Vec`'s drop unwinds would abort.
        for node in reached {
            if let Err(p) = drop_caught(node) {
                keep_first(&mut panic, p);
            }
        }
    }
    if let Some(p) = panic {
        // A user's waker or `on_cancel` callback panicked; every other waiter, callback and
        // child has been served first, so the tree is consistent. Hand the panic back to the
        // caller (unless one unwinds through it already: a guard's `Drop` that cancels).
        resume_unless_unwinding(p);
    }
    true
}

#[cfg(all(test, not(loom)))]
std::thread_local! {
    /// Ancestors looked at by [`Node::cancelled_ancestor`] on this thread (for tests).
    pub(crate) static WALKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(not(all(test, loom)))]
/// Cancels on their way down, process-wide: counted from before a cancel flags its first node
/// to after it has flagged the last node of the linked subtree below it (see [`Descent`]).
static DESCENDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
#[cfg(all(test, loom))]
loom::lazy_static! {
    static ref DESCENDING: loom::sync::atomic::AtomicUsize = loom::sync::atomic::AtomicUsize::new(0);
}

/// A cancel on its way down a linked subtree, counted in [`DESCENDING`] while it lasts.
struct Descent;

impl Descent {
    fn begin() -> Descent {
        // Relaxed: ordered before the first flag's Release store, so whoever sees a flag this
        // cancel set (or anything after it) reads this increment or a later value.
        DESCENDING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Descent
    }
}

impl Drop for Descent {
    fn drop(&mut self) {
        // Release: a reader that reads this decrement (or a later value: every change is a
        // read-modify-write, so it continues the release sequence) sees every flag set above.
        DESCENDING.fetch_sub(1, std::sync::atomic::Ordering::Release);
    }
}

/// Whether no cancel is on its way down anywhere: then every cancel that came before this
/// call (in the sense that its flag, or anything after it, can be seen) has flagged its whole
/// linked subtree, and those flags are visible. Read it before the flags it vouches for.
pub(crate) fn none_descending() -> bool {
    // Acquire: pairs with the Release decrement of `Descent::drop`.
    DESCENDING.load(std::sync::atomic::Ordering::Acquire) == 0
}

/// A node the cancel has recorded its cause on, with what it took out of the node to serve
/// once the whole linked subtree is recorded.
struct Flagged {
    cause: Arc<Cause>,
    entries: Slab<Entry>,
    owner: Option<Weak<dyn Enclosing>>,
}

/// Records `cause` on one node and takes out its entries and owner (under its lock); `None`
/// if it was already cancelled.
fn flag_one(node: &Arc<Node>, cause: &Arc<Cause>) -> Option<Flagged> {
    let mut inner = node.inner.lock();
    if inner.cause.is_set() {
        return None;
    }
    inner.cause = CauseCell::Shared(Arc::clone(cause));
    // Release: pairs with the Acquire loads in `is_cancelled`, publishing the cause.
    node.cancelled.store(true, Ordering::Release);
    Some(Flagged {
        cause: Arc::clone(cause),
        entries: std::mem::take(&mut inner.entries),
        owner: inner.owner.take(),
    })
}

/// The linked children of a flagged node (still alive), with the cause they inherit.
/// Descendants share one cause: "parent cancelled" with the original cause inside, so a deep
/// tree needs no chain of causes (and cancelling it allocates once).
fn children_of(flagged: &Flagged) -> Vec<(Arc<Node>, Arc<Cause>)> {
    let mut child_cause = None;
    let mut children = Vec::new();
    for (_, entry) in flagged.entries.iter() {
        if let Entry::Child(weak) = entry {
            if let Some(child) = weak.upgrade() {
                let c = child_cause
                    .get_or_insert_with(|| inherited(&flagged.cause))
                    .clone();
                children.push((child, c));
            }
        }
    }
    children
}

/// Serves a flagged node (outside every lock): tells its owner, wakes its waiters and runs its
/// callbacks. Wakers and callbacks are user code: one that panics does not keep the cancel from
/// the others (the first panic is kept for the caller).
fn serve(flagged: Flagged, panic: &mut Option<Box<dyn std::any::Any + Send>>) {
    let Flagged {
        cause,
        entries,
        owner,
    } = flagged;
    // The owner's wake may run a user's waker: caught as the waiters' are.
    if let Some(owner) = owner {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tell(&owner))) {
            keep_first(panic, p);
        }
    }
    for entry in entries.into_values() {
        match entry {
            Entry::Waiter(waker) => {
                if let Err(p) =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()))
                {
                    keep_first(panic, p);
                }
            }
            Entry::Callback(f) => {
                let run = std::panic::AssertUnwindSafe(|| f(&cause));
                if let Err(p) = std::panic::catch_unwind(run) {
                    keep_first(panic, p);
                }
            }
            // Flagged in the first pass.
            Entry::Child(_) => {}
        }
    }
}

/// Whether an ancestor not yet linked to `node` is cancelled; if so, records it as `node`'s own
/// cancellation (the walk, after [`Node::no_cancelled_ancestor_quick`] could not tell).
#[cold]
#[inline(never)]
pub(crate) fn ancestor_cancelled_slow(node: &Arc<Node>) -> bool {
    match node.cancelled_ancestor(false) {
        Some(cause) => {
            cancel_node(node, &cause);
            true
        }
        None => false,
    }
}

/// Cancels `node` for its passed deadline `d`. A deadline it inherited (from the parent, or
/// the merge's parent, that set it) is recorded as that parent's would reach it,
/// `ParentCancelled(DeadlineExceeded)`, without firing the parent: so every context under one
/// deadline reads one cause whoever looks first, and looking runs no callback but this
/// node's subtree's.
///
/// A passed deadline is nobody's call: when a running scope's context (or a running service
/// task's) is on the way up the contexts that passed it down (`node` itself included), a
/// callback's panic is the nearest such owner's, kept for its end, whoever looked first (its
/// own bookkeeping, its body, a child, or code the context was handed to); otherwise, or if
/// that owner has ended meanwhile, it goes to the caller, the one code that can take it.
pub(crate) fn fire_deadline(node: &Arc<Node>, d: &Arc<Deadline>) {
    match node.deadline_scope(d) {
        None => fire_deadline_here(node, d),
        Some(scope) => {
            let fired = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fire_deadline_here(node, d);
            }));
            let back = fired
                .err()
                .and_then(|payload| scope.keep_callback_panic(payload));
            // (The scope's last reference, if this was it, goes outside every lock.)
            drop(scope);
            // The scope ended as the callbacks ran (it has reported): the looker's, as outside
            // any scope, rather than lost.
            if let Some(payload) = back {
                resume_unless_unwinding(payload);
            }
        }
    }
}

fn fire_deadline_here(node: &Arc<Node>, d: &Arc<Deadline>) {
    let exceeded = Cause::DeadlineExceeded {
        scope: d.origin.name(),
    };
    if node.deadline_parent(d).is_some() {
        // An ancestor not yet linked may have been cancelled first (the deadline's owner
        // itself, fired): its cause is this node's, recorded now.
        if !node.no_cancelled_ancestor_quick() && ancestor_cancelled_slow(node) {
            return;
        }
        // The owner fired already, its cancel on its way down: the same cause, shared (who
        // reports what is told by the cause's identity, `Cx::a_scope_above_has`).
        // (The flag first: the owner's lock is taken only once it has fired.)
        let owner = node.deadline_owner();
        let fired = owner
            .cancelled
            .load(Ordering::Acquire)
            .then(|| owner.cause())
            .flatten();
        let cause = match fired {
            Some(fired) => inherited(&fired),
            None => Arc::new(Cause::ParentCancelled(Arc::new(exceeded))),
        };
        cancel_node(node, &cause);
    } else {
        cancel_node_with(node, exceeded);
    }
}

/// Cancels `node` with a cause not shared yet: an explicit reason, a deadline or the end of
/// the node's scope, when nothing is registered on the node (its owner aside), is kept as it
/// is (see [`CauseCell`]) and nothing is allocated; otherwise as [`cancel_node`]. Returns
/// whether `node` was cancelled by this call.
pub(crate) fn cancel_node_with(node: &Arc<Node>, cause: Cause) -> bool {
    if node.background {
        return false;
    }
    // An ancestor not yet linked to this node may have been cancelled first: its cause is
    // this node's (the first cause wins), recorded now.
    if !node.no_cancelled_ancestor_quick() && ancestor_cancelled_slow(node) {
        return false;
    }
    // Its own deadline may have passed with no one looking: it came first (law 4). (Not
    // asked at a scope's end, which is no cancellation: that path stays two loads.)
    if !matches!(
        cause,
        Cause::DeadlineExceeded { .. } | Cause::Finished { .. }
    ) {
        if let Some(d) = &node.deadline {
            if Instant::now() >= d.at {
                fire_deadline(node, d);
                return false;
            }
        }
    }
    let mut kept = match cause {
        Cause::Explicit { reason } => CauseCell::Explicit(reason),
        Cause::DeadlineExceeded { scope } => CauseCell::Deadline(scope),
        Cause::Finished { scope } => CauseCell::Finished(scope),
        other => return cancel_node(node, &Arc::new(other)),
    };
    let shared = {
        let mut inner = node.inner.lock();
        if inner.cause.is_set() {
            return false;
        }
        if inner.entries.is_empty() {
            // The cell is empty (checked above): nothing to drop in its place. (Assigned, the
            // old value's drop glue stays in: 3.7% of a context's create + cancel, measured.)
            std::mem::forget(std::mem::replace(&mut inner.cause, kept));
            // Release: pairs with the Acquire loads in `is_cancelled`, publishing the cause.
            node.cancelled.store(true, Ordering::Release);
            let owner = inner.owner.take();
            drop(inner);
            if let Some(owner) = owner {
                tell(&owner);
            }
            return true;
        }
        kept.get()
    };
    // Someone is registered: serve them as any cancel does (a cancel that wins in between
    // makes this one a no-op, as the first cause wins).
    shared.is_some_and(|cause| cancel_node(node, &cause))
}

/// Wakes a cancelled node's owner, if it is still alive (outside every lock): its run looks.
#[inline(never)]
fn tell(owner: &Weak<dyn Enclosing>) {
    if let Some(owner) = owner.upgrade() {
        owner.tracker().wake_owner();
    }
}

/// The earlier of an inherited deadline and a node's own.
pub(super) fn earlier(
    inherited: Option<&Arc<Deadline>>,
    own: Option<Instant>,
    origin: Origin,
) -> Option<Arc<Deadline>> {
    match (inherited, own) {
        (Some(d), Some(at)) if d.at <= at => Some(Arc::clone(d)),
        (_, Some(at)) => Some(Arc::new(Deadline { at, origin })),
        (d, None) => d.cloned(),
    }
}

/// `timeout` from now, saturating far in the future.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    saturating_add(Instant::now(), timeout)
}

/// The deadline `timeout` from now that a context keeps: none for a timeout past what tokio's
/// timer can take (`Duration::MAX`: no deadline). User code hands a context's deadline to
/// tokio (`timeout_at`, `sleep_until`), which panics on an instant that close to the end of
/// time.
pub(crate) fn deadline_in(timeout: Duration) -> Option<Instant> {
    Instant::now()
        .checked_add(timeout)
        .filter(|&at| crate::timer::reachable(at))
}

/// `duration` after `from`, saturating at the end of time ([`end_of_time`]: a `Duration::MAX`
/// means "no limit", and `Instant` cannot hold it). An instant there is never reached: no
/// timer is armed for it (`timer::reachable`).
pub(crate) fn saturating_add(from: Instant, duration: Duration) -> Instant {
    from.checked_add(duration).unwrap_or_else(end_of_time)
}

/// The largest `Instant`, found once: the farthest `Instant::now()` can be moved by a duration.
pub(crate) fn end_of_time() -> Instant {
    static END: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *END.get_or_init(|| {
        let now = Instant::now();
        let (mut fits, mut over) = (Duration::ZERO, Duration::MAX);
        while over.saturating_sub(fits) > Duration::from_nanos(1) {
            let mid = fits + over.saturating_sub(fits) / 2;
            if now.checked_add(mid).is_some() {
                fits = mid;
            } else {
                over = mid;
            }
        }
        now + fits
    })
}
