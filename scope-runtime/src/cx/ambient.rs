//! The ambient context: what [`Cx::current`] returns, and which scope's code is running.
//!
//! One thread-local holds both. A scope swaps its context (and itself, as the enclosing scope
//! of whatever scope is entered there) in for the duration of each poll of its body or of a
//! child, and back out afterwards, panics included. [`Cx::run`] swaps in a context only.
//!
//! # A child's own context, on demand
//!
//! A child's context is a child of its scope's, and until something needs it as a node of its
//! own it *is* its scope's: reading it (`is_cancelled`, deadlines, slots) gives the same
//! answers, and most children never need more. So a child runs with its scope's context and
//! its own id as the `lazy` mark; the first [`Cx::current`] in it (to keep, wait on, cancel or
//! derive from) creates its own node through the scope ([`Enclosing::child_cx`]), which the
//! swap then hands back to the child's task. Its handle creates the same node on demand
//! (`Child::cx`, a cancel of that child alone), and the task adopts it at its next poll.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use super::tree::Node;
use super::Cx;
use crate::cause::Cause;
use crate::error::{drop_after_panic, keep_first};
use crate::info::{TaskId, TaskInfo};
use crate::scope::tracker::Enclosing;

/// The scope whose code is being polled, as the enclosing scope of scopes entered there.
pub(crate) type EnclosingScope = Option<Arc<dyn Enclosing>>;

/// A child whose own context is not created yet: its id. `None` for a scope's body, a child
/// with its own context, and [`Cx::run`].
pub(crate) type Lazy = Option<TaskId>;

/// The bit of a child task's flags that says it is lazy (see [`Lazy`]): the task keeps its
/// mark as one bit, next to its id, rather than as a word of its own.
pub(crate) const LAZY: u8 = 32;

struct Ambient {
    cx: Option<Cx>,
    scope: EnclosingScope,
    /// The code running is child `lazy` of `scope`, and `cx` is its scope's context (see the
    /// module's docs).
    lazy: Lazy,
    /// For a lazy child: the epoch of its scope's registry when its task last looked itself
    /// up; a check that finds it moved looks again (its handle may have made its node).
    seen: u32,
}

thread_local! {
    static AMBIENT: RefCell<Ambient> =
        const { RefCell::new(Ambient { cx: None, scope: None, lazy: None, seen: 0 }) };
}

/// Swaps a context, and for a scope's own code the enclosing scope too, into the thread's
/// ambient slot, and back out on drop (panics included). No reference count changes.
pub(crate) struct Enter<'a> {
    cx: &'a mut Option<Cx>,
    scope: Option<&'a mut EnclosingScope>,
    lazy: Lazy,
    seen: u32,
    /// Where the `lazy` mark goes back (a child task's flags, its [`LAZY`] bit), if anywhere.
    lazy_home: Option<&'a mut u8>,
    /// The swap happened (so the drop swaps back).
    swapped: bool,
}

/// Why an [`Enter`] cannot swap: the ambient slot is borrowed by `Slot::with`'s closure.
const BORROWED: &str = "a scope (or a `Cx::run` future) cannot be polled inside `Slot::with`'s \
    closure: read the value out first (`Slot::get`) and poll outside it";

impl<'a> Enter<'a> {
    /// For a scope's body and children with their own context: the context and the scope they
    /// belong to.
    pub(crate) fn scope_code(cx: &'a mut Option<Cx>, scope: &'a mut EnclosingScope) -> Self {
        Self::for_scope_code(cx, scope).entered()
    }

    /// As [`scope_code`](Enter::scope_code), for a destructor: see [`in_drop`](Enter::in_drop).
    pub(crate) fn scope_code_in_drop(
        cx: &'a mut Option<Cx>,
        scope: &'a mut EnclosingScope,
    ) -> Self {
        Self::for_scope_code(cx, scope).in_drop()
    }

    fn for_scope_code(cx: &'a mut Option<Cx>, scope: &'a mut EnclosingScope) -> Self {
        Enter {
            cx,
            scope: Some(scope),
            lazy: None,
            seen: 0,
            lazy_home: None,
            swapped: false,
        }
    }

    /// For child `id`: `cx` is its own context, or its scope's while the [`LAZY`] bit of its
    /// `flags` is set (see the module's docs; `seen`: the registry's epoch when its task last
    /// looked). A context created for it during the poll comes back into `cx`, and the bit is
    /// cleared.
    #[inline]
    pub(crate) fn child(
        cx: &'a mut Option<Cx>,
        scope: &'a mut EnclosingScope,
        (flags, id): (&'a mut u8, TaskId),
        seen: u32,
    ) -> Self {
        Self::for_child(cx, scope, (flags, id), seen).entered()
    }

    /// As [`child`](Enter::child), for a destructor: see [`in_drop`](Enter::in_drop).
    pub(crate) fn child_in_drop(
        cx: &'a mut Option<Cx>,
        scope: &'a mut EnclosingScope,
        (flags, id): (&'a mut u8, TaskId),
        seen: u32,
    ) -> Self {
        Self::for_child(cx, scope, (flags, id), seen).in_drop()
    }

    #[inline]
    fn for_child(
        cx: &'a mut Option<Cx>,
        scope: &'a mut EnclosingScope,
        (flags, id): (&'a mut u8, TaskId),
        seen: u32,
    ) -> Self {
        Enter {
            cx,
            scope: Some(scope),
            lazy: (*flags & LAZY != 0).then_some(id),
            seen,
            lazy_home: Some(flags),
            swapped: false,
        }
    }

    /// Swaps in where a panic must not start: in a destructor. A future dropped inside
    /// `Slot::with`'s closure (a combinator that drops what it polled while it reads a slot)
    /// finds the slot borrowed: its destructor then runs with the ambient context as it is,
    /// rather than panic in a drop (which would leave the rest of the drop undone, or abort
    /// the process if a panic is unwinding already).
    fn in_drop(mut self) -> Self {
        self.swapped = self.swap();
        self
    }

    /// For [`Cx::run`]: the context only; the enclosing scope stays what it is.
    pub(crate) fn cx_only(cx: &'a mut Option<Cx>) -> Self {
        Self::for_cx_only(cx).entered()
    }

    /// As [`cx_only`](Enter::cx_only), for a destructor: see [`in_drop`](Enter::in_drop).
    pub(crate) fn cx_only_in_drop(cx: &'a mut Option<Cx>) -> Self {
        Self::for_cx_only(cx).in_drop()
    }

    fn for_cx_only(cx: &'a mut Option<Cx>) -> Self {
        Enter {
            cx,
            scope: None,
            lazy: None,
            seen: 0,
            lazy_home: None,
            swapped: false,
        }
    }

    /// Swapped in (see [`enter`](Enter::enter)).
    #[inline]
    fn entered(mut self) -> Self {
        self.enter();
        self
    }

    /// Swaps in; panics (with nothing swapped, so the drop swaps nothing back) if the slot is
    /// borrowed.
    #[inline]
    fn enter(&mut self) {
        self.swapped = self.swap();
        assert!(self.swapped, "{BORROWED}");
    }

    /// Swaps the slot's contents with this guard's; `false` if the slot is borrowed.
    fn swap(&mut self) -> bool {
        // `try_with`: during thread teardown the slot may be gone; then there is nothing to swap.
        AMBIENT
            .try_with(|a| {
                let Ok(mut a) = a.try_borrow_mut() else {
                    return false;
                };
                std::mem::swap(&mut a.cx, self.cx);
                std::mem::swap(&mut a.lazy, &mut self.lazy);
                std::mem::swap(&mut a.seen, &mut self.seen);
                if let Some(scope) = self.scope.as_deref_mut() {
                    std::mem::swap(&mut a.scope, scope);
                }
                true
            })
            .unwrap_or(true)
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        // Never a panic here (it may run while unwinding): a guard that could not swap in
        // swaps nothing back.
        if self.swapped {
            self.swap();
        }
        if let Some(home) = self.lazy_home.as_deref_mut() {
            // The mark comes back as it was, or cleared (the child adopted its own context).
            if self.lazy.take().is_none() {
                *home &= !LAZY;
            }
        }
    }
}

/// The ambient context as a context of its own: for a lazy child, its own context, created
/// now if nobody has yet, and kept as the ambient one from now on (and, when the poll ends, by
/// the child's task).
fn current_owned() -> Option<Cx> {
    AMBIENT
        .try_with(|cell| {
            if let Ok(a) = cell.try_borrow_mut() {
                let Some(id) = a.lazy else {
                    return a.cx.clone();
                };
                let (Some(scope), Some(parent)) = (a.scope.clone(), a.cx.clone()) else {
                    return a.cx.clone();
                };
                drop(a);
                // Outside the borrow: making the node wakes the waits parked for it (user
                // wakers, which may read the ambient context).
                let own = scope.child_cx(id, &parent, true);
                return match cell.try_borrow_mut() {
                    // Still that child's code (a waker may have polled other code meanwhile,
                    // whose guards put everything back): kept as the ambient context.
                    Ok(a) if a.lazy == Some(id) => Some(adopt(a, own)),
                    _ => Some(own),
                };
            }
            // Borrowed (`Cx::current` inside `Slot::with`): the same context, not kept here;
            // the child finds it in its scope's registry at its next look.
            let a = cell.borrow();
            let (Some(id), Some(scope), Some(parent)) = (a.lazy, a.scope.clone(), a.cx.clone())
            else {
                return a.cx.clone();
            };
            // Outside this borrow: making the node wakes the waits parked for it.
            drop(a);
            Some(scope.child_cx(id, &parent, false))
        })
        .ok()
        .flatten()
}

/// A lazy child's own context, `own`, becomes the ambient one (its task takes it back when
/// the poll ends, and the lazy mark with it).
fn adopt(mut a: std::cell::RefMut<'_, Ambient>, own: Cx) -> Cx {
    a.lazy = None;
    let parent = a.cx.replace(own.clone());
    // The scope's context (a clone): dropped after the borrow ends.
    drop(a);
    drop(parent);
    own
}

/// Whether the ambient context is cancelled: for a lazy child, also a cancel of that child
/// alone, made through its handle since its task last looked (its node, made by the handle,
/// is found when the registry's epoch has moved, and adopted as the ambient context).
///
/// Nothing that may run callbacks or wakers (a passed deadline fired, an ancestor's cancel
/// recorded) happens while the ambient slot is borrowed: that check is made on a clone, after.
pub(crate) fn is_cancelled() -> bool {
    let looked = AMBIENT.try_with(|a| {
        let a = a.borrow();
        let cx = a.cx.as_ref().unwrap_or_else(|| background_ref());
        match cx.is_cancelled_quiet() {
            Some(true) => return Looked::Cancelled,
            Some(false) => {}
            None => {
                // A lazy child asks on its scope's behalf (see `Enclosing::is_cancelled_for_child`).
                let scope = match (a.lazy, &a.scope) {
                    (Some(_), Some(scope)) => Some(Arc::clone(scope)),
                    _ => None,
                };
                return Looked::Ask(cx.clone(), scope);
            }
        }
        match (a.lazy, &a.scope) {
            (Some(_), Some(scope)) => match scope.own_cxs() {
                Some(registry) if registry.epoch() != a.seen => Looked::OwnMadeMeanwhile,
                _ => Looked::Not,
            },
            _ => Looked::Not,
        }
    });
    match looked {
        Ok(Looked::Cancelled) => true,
        // Cold: a deadline that may have passed, or an ancestor not linked yet.
        Ok(Looked::Ask(cx, scope)) => {
            let cancelled = match &scope {
                Some(scope) => scope.is_cancelled_for_child(&cx),
                None => cx.is_cancelled(),
            };
            cancelled || is_cancelled_own_made_meanwhile()
        }
        Ok(Looked::OwnMadeMeanwhile) => is_cancelled_own_made_meanwhile(),
        // Not cancelled; or the thread's ambient slot is gone (thread teardown): the
        // background context.
        Ok(Looked::Not) | Err(_) => false,
    }
}

/// What [`is_cancelled`] saw under the ambient slot's borrow.
enum Looked {
    Cancelled,
    Not,
    /// The check may run code: made on this clone, after the borrow (for a lazy child, whose
    /// context is its scope's, through that scope).
    Ask(Cx, EnclosingScope),
    /// A lazy child whose handle may have made its own context since its task last looked.
    OwnMadeMeanwhile,
}

/// For a lazy child: whether its own context, made by its handle since its task last looked,
/// is cancelled (`false` if it has none, or is not a lazy child).
fn is_cancelled_own_made_meanwhile() -> bool {
    own_made_meanwhile().is_some_and(|own| own.is_cancelled())
}

/// A lazy child whose registry's epoch moved: its own context, if its handle made one,
/// adopted as the ambient context (the task takes it back when the poll ends).
#[cold]
fn own_made_meanwhile() -> Option<Cx> {
    AMBIENT
        .try_with(|a| {
            let Ok(mut a) = a.try_borrow_mut() else {
                // Borrowed (inside `Slot::with`): looked up, not kept.
                let a = a.borrow();
                let registry = a.scope.as_ref()?.own_cxs()?;
                return registry.find(a.lazy?);
            };
            let id = a.lazy?;
            let (epoch, found) = {
                let registry = a.scope.as_ref()?.own_cxs()?;
                (registry.epoch(), registry.take(id))
            };
            a.seen = epoch;
            Some(adopt(a, found?))
        })
        .ok()
        .flatten()
}

/// For a child still on its parent's context (its `lazy` mark set, in a scope that keeps a
/// registry of own contexts): that context, the child's id and its scope, so that it can wait
/// for a cancellation without a node of its own. `None` otherwise.
pub(crate) fn lazy_parent() -> Option<(Cx, TaskId, Arc<dyn Enclosing>)> {
    AMBIENT
        .try_with(|a| {
            let a = a.try_borrow().ok()?;
            let id = a.lazy?;
            let scope = a.scope.as_ref().filter(|s| s.own_cxs().is_some())?;
            Some((a.cx.clone()?, id, Arc::clone(scope)))
        })
        .ok()
        .flatten()
}

/// The running child's look at itself (its context, or its scope's with its `lazy` mark, and
/// the registry's epoch it has seen), cloned out of the thread's ambient slot: read while the
/// child is entered, so that what is read of it runs outside the slot's borrow.
pub(crate) fn current_child() -> (Option<Cx>, Lazy, u32) {
    AMBIENT
        .try_with(|a| {
            let a = a.try_borrow().ok()?;
            Some((a.cx.clone(), a.lazy, a.seen))
        })
        .ok()
        .flatten()
        .unwrap_or((None, None, 0))
}

/// The scope whose code is running on this thread, if any: the enclosing scope of a scope
/// entered now.
pub(crate) fn enclosing_scope() -> EnclosingScope {
    AMBIENT
        .try_with(|a| a.borrow().scope.clone())
        .ok()
        .flatten()
}

/// The grace of the scope (or service) whose code runs now: how long its cancelled children
/// (this code among them) get to clean up before they are aborted. Zero outside any scope.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert_eq!(scope::current_grace(), Duration::ZERO);
/// let s = &Scope::new(Config::new().grace(Duration::from_secs(2)));
/// let seen = s
///     .run(async {
///         let child = s.spawn(async { Ok::<_, Interrupted>(scope::current_grace()) });
///         child.await
///     })
///     .await
///     .unwrap();
/// assert_eq!(seen, Duration::from_secs(2));
/// # });
/// ```
#[must_use]
pub fn current_grace() -> std::time::Duration {
    // Read outside the borrow: a scope's grace may depend on its cause, whose read may fire a
    // passed deadline (and run callbacks).
    enclosing_scope().map(|s| s.grace()).unwrap_or_default()
}

pub(crate) fn background_ref() -> &'static Cx {
    static BACKGROUND: OnceLock<Cx> = OnceLock::new();
    BACKGROUND.get_or_init(|| Cx {
        node: Arc::new(Node::background()),
    })
}

/// Calls `f` with the ambient context without cloning it.
pub(crate) fn with_current<R>(f: impl FnOnce(&Cx) -> R) -> R {
    let mut f = Some(f);
    let inside = AMBIENT.try_with(|a| {
        let a = a.borrow();
        f.take()
            .map(|f| f(a.cx.as_ref().unwrap_or_else(|| background_ref())))
    });
    match (inside, f) {
        (Ok(Some(r)), _) => r,
        // The thread's ambient slot is gone (thread teardown): the background context.
        (_, Some(f)) => f(background_ref()),
        (Ok(None) | Err(_), None) => unreachable!("`f` is taken only when it runs"),
    }
}

impl Cx {
    /// The context of the scope or child running now; [`Cx::background`] outside any scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Cx;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// let seen = cx.clone().run(async { Cx::current() }).await;
    /// assert!(seen.same_as(&cx));
    /// assert!(Cx::current().same_as(&Cx::background()));
    /// # });
    /// ```
    #[must_use]
    pub fn current() -> Cx {
        current_owned().unwrap_or_else(|| background_ref().clone())
    }

    /// The background context: what [`Cx::current`] returns outside any scope. It is never
    /// cancelled ([`cancel`](Cx::cancel) on it returns `false` and does nothing), and
    /// contexts derived from it are roots.
    ///
    /// # Examples
    ///
    /// ```
    /// let bg = scope::Cx::background();
    /// assert!(!bg.cancel("no effect"));
    /// assert!(!bg.is_cancelled());
    /// ```
    #[must_use]
    pub fn background() -> Cx {
        background_ref().clone()
    }

    /// Runs `fut` with this context as the ambient one ([`Cx::current`] inside it).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Cx;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// let inside = cx.clone().run(async { Cx::current().same_as(&cx) }).await;
    /// assert!(inside);
    /// # });
    /// ```
    pub fn run<F: Future>(self, fut: F) -> WithCx<F> {
        WithCx {
            cx: Some(self),
            ends: None,
            fut: Some(fut),
        }
    }

    /// Runs `fut` with this context, made for it alone (a shield's): the context ends with
    /// `Cause::Finished` when the future answers or is dropped, so that a clone kept past the
    /// work learns that it is over. `at` is where the work was started, for the cause.
    pub(crate) fn run_owned<F: Future>(self, fut: F, at: &'static Location<'static>) -> WithCx<F> {
        WithCx {
            cx: Some(self),
            ends: Some(at),
            fut: Some(fut),
        }
    }
}

pin_project_lite::pin_project! {
    /// A future run with a context as the ambient one. See [`Cx::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, WithCx};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cx = Cx::root();
    /// cx.cancel("done");
    /// let fut: WithCx<_> = cx.run(async { scope::is_cancelled() });
    /// assert!(fut.cx().is_cancelled());
    /// assert!(fut.await); // the future saw `cx` as its ambient context
    /// assert!(!scope::is_cancelled()); // and only while it was polled
    /// # });
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct WithCx<F> {
        cx: Option<Cx>,
        // Set when the context was made for this future alone: where the work started. The
        // context ends when the future answers or is dropped (see `Cx::run_owned`).
        ends: Option<&'static Location<'static>>,
        // `None` only while it is dropped: its destructor runs inside the context too.
        #[pin]
        fut: Option<F>,
    }

    impl<F> PinnedDrop for WithCx<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            drop_inside(this.cx, this.fut, this.ends);
        }
    }
}

/// Ends a context made for one future alone, once (its `ends` taken), after the future:
/// [`Cause::Finished`] if it answered, cut short (`shield dropped`) if it was dropped before.
/// Its `on_cancel` callbacks run here.
fn end_owned(cx: Option<&Cx>, ends: &mut Option<&'static Location<'static>>, answered: bool) {
    if let (Some(cx), Some(at)) = (cx, ends.take()) {
        if answered {
            cx.finish(&TaskInfo::new(Some("shield".into()), at));
        } else {
            cx.cancel_with(Cause::explicit("shield dropped"));
        }
    }
}

/// Drops the future inside its context; then a context made for it alone ends. The drop may
/// run while the thread unwinds (the work around panicked): a panic of the future's
/// destructor or of a callback is then dropped (the first panic goes on; a second would abort
/// the process), else resumed once both are done. Either way the context ends.
fn drop_inside<F>(
    cx: &mut Option<Cx>,
    mut fut: Pin<&mut Option<F>>,
    ends: &mut Option<&'static Location<'static>>,
) {
    let mut drop_fut = || {
        if fut.is_some() {
            let _entered = Enter::cx_only_in_drop(cx);
            fut.set(None);
        }
    };
    if ends.is_none() {
        drop_fut();
        return;
    }
    let dropped = catch_unwind(AssertUnwindSafe(drop_fut));
    let ended = catch_unwind(AssertUnwindSafe(|| end_owned(cx.as_ref(), ends, false)));
    let mut first = dropped.err();
    if let Err(payload) = ended {
        keep_first(&mut first, payload);
    }
    if let Some(payload) = first {
        if std::thread::panicking() {
            drop_after_panic(payload);
        } else {
            resume_unwind(payload);
        }
    }
}

impl<F> WithCx<F> {
    /// Drops the future now, inside the context (as its own drop would): it answered
    /// without it, and what it holds (a lock's guard, a connection) goes now, not when this
    /// future is dropped. Polled again, it is pending.
    pub(crate) fn drop_future(self: Pin<&mut Self>) {
        let this = self.project();
        drop_inside(this.cx, this.fut, this.ends);
    }

    /// Replaces the context (before the first poll).
    pub(crate) fn set_cx(self: Pin<&mut Self>, cx: Cx) {
        *self.project().cx = Some(cx);
    }

    /// The context this future runs with.
    ///
    /// # Examples
    ///
    /// ```
    /// let cx = scope::Cx::root();
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
        let out = {
            let _entered = Enter::cx_only(this.cx);
            match this.fut.as_pin_mut() {
                Some(fut) => fut.poll(task),
                // While it is dropped, where nothing polls it, or after `drop_future`.
                None => Poll::Pending,
            }
        };
        if out.is_ready() {
            end_owned(this.cx.as_ref(), this.ends, true);
        }
        out
    }
}

impl<F> fmt::Debug for WithCx<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithCx")
            .field("cx", &self.cx)
            .finish_non_exhaustive()
    }
}
