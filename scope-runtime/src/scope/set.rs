//! Children as they complete: a set of handles whose outcomes are taken in the order the
//! children finish (tokio's `JoinSet::join_next`, for the children of a scope).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, Stream, StreamExt};

use super::child::{Child, ChildScope};
use crate::error::{drop_caught, keep_first, resume_unless_unwinding, Interrupted};
use crate::info::{TaskId, TaskInfo};

/// A child's outcome, taken from a [`ChildSet`]: who it was, and its value or why there is
/// none.
///
/// # Examples
///
/// ```
/// use scope::{ChildSet, Config, Finished, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// s.run(async {
///     let mut set = ChildSet::new();
///     set.push(s.spawn_named("answer", async { Ok::<_, Interrupted>(42) }));
///     let finished: Finished<u32> = set.join_next().await.expect("one child");
///     let (info, out) = finished;
///     assert_eq!(info.name(), Some("answer"));
///     assert_eq!(out?, 42);
///     Ok::<_, Interrupted>(())
/// })
/// .await?;
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
pub type Finished<T> = (TaskInfo, Result<T, Interrupted>);

/// A set of children of one scope, with values of one type, whose outcomes are taken as the
/// children finish: [`join_next`](ChildSet::join_next) gives the next one to finish, with its
/// [`TaskInfo`]. For supervisors and "handle results as they arrive" loops, without channels.
///
/// The set holds handles only: the scope still owns, joins and cancels the children. It
/// carries the scope's lifetime, like the handles.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::{ChildSet, Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new());
/// let order = s
///     .run(async {
///         let mut set = ChildSet::new();
///         for (name, ms) in [("slow", 30), ("fast", 10), ("middle", 20)] {
///             set.push(s.spawn_named(name, async move {
///                 tokio::time::sleep(Duration::from_millis(ms)).await;
///                 Ok::<_, Interrupted>(ms)
///             }));
///         }
///         let mut order = Vec::new();
///         while let Some((info, value)) = set.join_next().await {
///             order.push((info.name().unwrap_or_default().to_owned(), value?));
///         }
///         Ok::<_, Interrupted>(order)
///     })
///     .await
///     .unwrap();
/// assert_eq!(order, [("fast".into(), 10), ("middle".into(), 20), ("slow".into(), 30)]);
/// # });
/// ```
pub struct ChildSet<'s, T> {
    children: FuturesUnordered<Named<'s, T>>,
    /// Outcomes found as children were pushed, in the order they finished, taken first. (A
    /// pushed handle is polled at once, so that it wakes the set when its child finishes: a
    /// handle first polled at the next join would come out in push order.) Behind a `Mutex`
    /// reached only through `&mut` (never locked), so that the set is `Sync` whatever `T` is.
    done: Mutex<VecDeque<Outcome<'s, T>>>,
    /// How many outcomes `done` holds (read by `&self`).
    ready: usize,
    /// The waker of the last poll of the set: the set's own polls that are not a join
    /// (`push`, `try_join_next`) poll with it, so that they do not take its place in the
    /// handles' registration (the task that polled the set is still woken).
    waker: Option<Waker>,
}

impl<T> Drop for ChildSet<'_, T> {
    fn drop(&mut self) {
        // The outcomes found as children were pushed, never joined: their values are dropped
        // one by one under a catch, as an unread handle's are (a destructor's panic is the
        // child's while the scope runs, and must not unwind into the code dropping the set,
        // which may be unwinding already). The handles still in `children` do so in their
        // own drops.
        // Every value is dropped, the handles' too, before a panic handed back (the run has
        // ended) is resumed: the first one, once (a second panic while one unwinds would
        // abort the process).
        let mut resume = None;
        let done = std::mem::take(self.done.get_mut().unwrap_or_else(PoisonError::into_inner));
        for ((info, unread), scope) in done {
            if let Err(payload) = drop_caught(unread) {
                if let Some(payload) = scope.unread_panicked(&info, payload) {
                    keep_first(&mut resume, payload);
                }
            }
        }
        for handle in std::mem::take(&mut self.children) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(handle))) {
                keep_first(&mut resume, payload);
            }
        }
        if let Some(payload) = resume {
            resume_unless_unwinding(payload);
        }
    }
}

/// A handle that also gives back who the child was, and its scope (for a value the set
/// drops unread).
struct Named<'s, T>(Child<'s, T>);

/// A child's outcome, with the scope that answers for a panic of its value's destructor.
type Outcome<'s, T> = (Finished<T>, &'s dyn ChildScope);

impl<'s, T> Future for Named<'s, T> {
    type Output = Outcome<'s, T>;
    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Outcome<'s, T>> {
        let out = std::task::ready!(Pin::new(&mut self.0).poll(task));
        Poll::Ready(((self.0.info().clone(), out), self.0.owner()))
    }
}

impl<'s, T> ChildSet<'s, T> {
    /// An empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let set: scope::ChildSet<'_, u8> = scope::ChildSet::new();
    /// assert!(set.is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        ChildSet {
            children: FuturesUnordered::new(),
            done: Mutex::new(VecDeque::new()),
            ready: 0,
            waker: None,
        }
    }

    /// Adds a child's handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ChildSet, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let mut set = ChildSet::new();
    ///     set.push(s.spawn(async { Ok::<_, Interrupted>(1) }));
    ///     assert_eq!(set.len(), 1);
    ///     let (_, one) = set.join_next().await.unwrap();
    ///     assert_eq!(one?, 1);
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn push(&mut self, child: Child<'s, T>) {
        self.children.push(Named(child));
        // Polled now (out of tokio's cooperative budget, which a spent budget would make read
        // as pending), so that it wakes the set when it finishes and the set takes the
        // outcomes in the order they come; what has finished already is kept for the joins.
        let done = self.done.get_mut().unwrap_or_else(PoisonError::into_inner);
        let before = done.len();
        let waker = self.waker.as_ref().unwrap_or(Waker::noop());
        let mut task = Context::from_waker(waker);
        loop {
            let mut next = tokio::task::coop::unconstrained(self.children.next());
            match Pin::new(&mut next).poll(&mut task) {
                Poll::Ready(Some(finished)) => done.push_back(finished),
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        self.ready = done.len();
        if self.ready > before {
            // An outcome is there to take: the task that polled the set last is told.
            waker.wake_by_ref();
        }
    }

    /// The first outcome found as children were pushed, if any.
    fn take_done(&mut self) -> Option<Finished<T>> {
        if self.ready == 0 {
            return None;
        }
        let done = self.done.get_mut().unwrap_or_else(PoisonError::into_inner);
        let finished = done.pop_front();
        self.ready = done.len();
        finished.map(|(finished, _)| finished)
    }

    /// How many children the set holds (finished ones included, until taken).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(scope::ChildSet::<'_, ()>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.children.len() + self.ready
    }

    /// Whether the set holds no child.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(scope::ChildSet::<'_, ()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.children.is_empty() && self.ready == 0
    }

    /// The next child to finish, with its outcome; `None` once the set is empty. A child
    /// pushed after it has finished counts as finishing at its push (the set learns of its end
    /// only then): it comes after the children that finished in the set before that push, and
    /// children pushed finished come in the order they were pushed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropped before it resolves (a `select!` branch that lost), it takes no
    /// outcome, and the next call gets it.
    ///
    /// # Examples
    ///
    /// See [`ChildSet`].
    pub async fn join_next(&mut self) -> Option<Finished<T>> {
        std::future::poll_fn(|task| self.poll_join_next(task)).await
    }

    /// The next outcome, spending one unit of tokio's cooperative budget per child joined,
    /// here, rather than one per handle polled: with the budget spent, each handle would read
    /// as pending and the set would poll every finished child for nothing, so that joining
    /// `n` finished children took time in `n²`.
    fn poll_join_next(&mut self, task: &mut Context<'_>) -> Poll<Option<Finished<T>>> {
        if self.is_empty() {
            return Poll::Ready(None);
        }
        if !self
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(task.waker()))
        {
            self.waker = Some(task.waker().clone());
        }
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(task));
        if let Some(finished) = self.take_done() {
            coop.made_progress();
            return Poll::Ready(Some(finished));
        }
        let mut next = tokio::task::coop::unconstrained(self.children.next());
        let polled = Pin::new(&mut next).poll(task);
        if polled.is_ready() {
            coop.made_progress();
        }
        polled.map(|next| next.map(|(finished, _)| finished))
    }

    /// A child that has finished already, if any, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ChildSet, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let mut set = ChildSet::new();
    ///     set.push(s.spawn(async { Ok::<_, Interrupted>(1) }));
    ///     while set.try_join_next().is_none() {
    ///         tokio::task::yield_now().await; // let it run
    ///     }
    ///     assert!(set.is_empty());
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn try_join_next(&mut self) -> Option<Finished<T>> {
        if let Some(finished) = self.take_done() {
            return Some(finished);
        }
        if self.children.is_empty() {
            return None;
        }
        // Out of tokio's cooperative budget: each handle polled spends it, and a spent budget
        // would make a finished child read as pending.
        // With the last poll's waker, which it must not take the place of.
        let waker = self.waker.as_ref().unwrap_or(Waker::noop());
        let mut next = tokio::task::coop::unconstrained(self.children.next());
        match Pin::new(&mut next).poll(&mut Context::from_waker(waker)) {
            Poll::Ready(next) => next.map(|(finished, _)| finished),
            Poll::Pending => None,
        }
    }

    /// Cancels every child in the set (each as [`Child::cancel`] does: the scope's grace, then
    /// the abort). Returns how many this call cancelled.
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](crate::Cx::on_cancel) callback on a child's context panics, the
    /// first such panic is resumed here, once every child in the set has been cancelled
    /// (dropped when a panic already unwinds through the caller, as
    /// [`Cx::cancel`](crate::Cx::cancel) does).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ChildSet, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         let mut set = ChildSet::new();
    ///         for _ in 0..3 {
    ///             set.push(s.spawn(std::future::pending::<Result<(), Interrupted>>()));
    ///         }
    ///         tokio::task::yield_now().await;
    ///         assert_eq!(set.cancel_all("enough"), 3);
    ///         while let Some((_, out)) = set.join_next().await {
    ///             assert!(matches!(out, Err(Interrupted::Cancelled(_))));
    ///         }
    ///         Ok::<_, Interrupted>("the scope goes on")
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), "the scope goes on");
    /// # });
    /// ```
    pub fn cancel_all(&self, reason: impl Into<Cow<'static, str>>) -> usize {
        let reason: Cow<'static, str> = reason.into();
        self.each_member(|child| child.cancel(reason.clone()))
    }
}

/// Nothing of the set is ever pinned (the handles are `Unpin`, the outcomes are moved out).
impl<T> Unpin for ChildSet<'_, T> {}

impl<'s, T> ChildSet<'s, T> {
    /// The member `id`, if the set holds it and it has not been taken.
    fn member(&self, id: TaskId) -> Option<&Child<'s, T>> {
        self.children
            .iter()
            .map(|named| &named.0)
            .find(|child| child.info().id() == id)
    }

    /// Cancels one member of the set, as [`Child::cancel`] does (its context now, the
    /// scope's grace, then the abort): for a member whose handle went into the set, found by
    /// the id of its [`TaskInfo`](crate::TaskInfo). Returns whether this call cancelled it
    /// (`false` if the set does not hold it, or it was cancelled before, or has finished).
    ///
    /// # Panics
    ///
    /// As [`Child::cancel`]: a panic of an [`on_cancel`](crate::Cx::on_cancel) callback is
    /// resumed here, after the abort is scheduled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{ChildSet, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().grace(Duration::from_millis(50)));
    /// let out = s
    ///     .run(async {
    ///         let mut set = ChildSet::new();
    ///         let stuck = s.spawn_named("stuck", async {
    ///             tokio::time::sleep(Duration::from_secs(3600)).await; // never looks
    ///             Ok::<_, Interrupted>(())
    ///         });
    ///         let id = stuck.info().id();
    ///         set.push(stuck);
    ///         set.push(s.spawn_named("quick", async { Ok::<_, Interrupted>(()) }));
    ///         tokio::task::yield_now().await;
    ///         assert!(set.cancel(id, "not needed")); // aborted after the grace
    ///         let mut names = Vec::new();
    ///         while let Some((info, _)) = set.join_next().await {
    ///             names.push(info.name().unwrap_or_default().to_owned());
    ///         }
    ///         Ok::<_, Interrupted>(names)
    ///     })
    ///     .await;
    /// assert_eq!(out.unwrap(), ["quick", "stuck"]);
    /// # });
    /// ```
    pub fn cancel(&self, id: TaskId, reason: impl Into<Cow<'static, str>>) -> bool {
        self.member(id).is_some_and(|child| child.cancel(reason))
    }

    /// Aborts one member of the set at once, as [`Child::abort`] does, found by the id of its
    /// [`TaskInfo`](crate::TaskInfo). Returns whether the set holds it unfinished.
    ///
    /// # Panics
    ///
    /// As [`Child::abort`]: a panic of an [`on_cancel`](crate::Cx::on_cancel) callback is
    /// resumed here, after the abort.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ChildSet, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let mut set = ChildSet::new();
    ///     let stuck = s.spawn(std::future::pending::<Result<(), Interrupted>>());
    ///     let id = stuck.info().id();
    ///     set.push(stuck);
    ///     tokio::task::yield_now().await;
    ///     assert!(set.abort(id));
    ///     let (_, out) = set.join_next().await.expect("one member");
    ///     assert!(matches!(out, Err(Interrupted::Cancelled(_))));
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn abort(&self, id: TaskId) -> bool {
        match self.member(id) {
            Some(child) if !child.is_finished() => {
                child.abort();
                true
            }
            _ => false,
        }
    }

    /// Aborts every member of the set at once (each as [`Child::abort`] does), as tokio's
    /// `JoinSet::abort_all`; their outcomes are still taken with
    /// [`join_next`](ChildSet::join_next).
    ///
    /// # Panics
    ///
    /// If an [`on_cancel`](crate::Cx::on_cancel) callback on a member's context panics, the
    /// first such panic is resumed here, once every member has been aborted (dropped when a
    /// panic already unwinds through the caller, as [`Cx::cancel`](crate::Cx::cancel) does).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ChildSet, Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let mut set: ChildSet<()> = (0..3)
    ///         .map(|_| s.spawn(std::future::pending::<Result<(), Interrupted>>()))
    ///         .collect();
    ///     tokio::task::yield_now().await;
    ///     set.abort_all();
    ///     while let Some((_, out)) = set.join_next().await {
    ///         assert!(matches!(out, Err(Interrupted::Cancelled(_))));
    ///     }
    ///     Ok::<_, Interrupted>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn abort_all(&self) {
        self.each_member(|child| {
            child.abort();
            false
        });
    }

    /// Runs `f` on every member, also when it panics for one (an `on_cancel` callback its
    /// cancel ran): the first panic reaches the caller once every member was served. Returns
    /// how many members `f` said `true` of.
    fn each_member(&self, mut f: impl FnMut(&Child<'s, T>) -> bool) -> usize {
        let mut count = 0;
        let mut panic = None;
        for named in &self.children {
            match catch_unwind(AssertUnwindSafe(|| f(&named.0))) {
                Ok(yes) => count += usize::from(yes),
                Err(payload) => keep_first(&mut panic, payload),
            }
        }
        if let Some(payload) = panic {
            resume_unless_unwinding(payload);
        }
        count
    }
}

impl<T> Default for ChildSet<'_, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'s, T> Extend<Child<'s, T>> for ChildSet<'s, T> {
    fn extend<I: IntoIterator<Item = Child<'s, T>>>(&mut self, children: I) {
        for child in children {
            self.push(child);
        }
    }
}

impl<'s, T> FromIterator<Child<'s, T>> for ChildSet<'s, T> {
    fn from_iter<I: IntoIterator<Item = Child<'s, T>>>(children: I) -> Self {
        let mut set = ChildSet::new();
        set.extend(children);
        set
    }
}

/// The outcomes, as the children finish.
impl<T> Stream for ChildSet<'_, T> {
    type Item = Finished<T>;
    fn poll_next(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Option<Finished<T>>> {
        self.poll_join_next(task)
    }
}

impl<T> fmt::Debug for ChildSet<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSet")
            .field("children", &self.len())
            .finish()
    }
}
