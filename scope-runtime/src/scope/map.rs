//! The parallel map and for-each: "process N items, at most K at a time, stop at the first
//! error", as one call, with K set by `Map::limit`. Items are pulled lazily, one per free slot,
//! so under a limit a million items' futures cost as much memory as the limit (the values a
//! `map` returns are kept as they come, one per item; a `for_each` keeps none); there is no
//! limit by default, and without one every item is pulled and started at once. Each item runs
//! as a child of a scope of its own, so cancellation, deadlines, slots and panics behave as
//! everywhere else.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::{self, Stream};

use super::mode::Sendable;
use super::outcome::{did_not_complete, AllFailures, AsReport, Finish, Report, TaskOutput};
use super::set::ChildSet;
use super::{Reserved, Scope};
use crate::config::Config;
use crate::error::{Failures, Interrupted};
use crate::info::TaskInfo;
use crate::sync::{AtomicBool, AtomicUsize, AtomicWaker, Ordering};

/// Children on the runtime, in parallel (`Send + 'static`): the kind of a [`Map`] unless
/// [`in_place`](Map::in_place) changes it.
///
/// # Examples
///
/// ```
/// use scope::{Interrupted, Map, Spawned};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let doubled: Map<_, _, Spawned> =
///     scope::map([1, 2], |i| async move { Ok::<_, Interrupted>(i * 2) });
/// assert_eq!(doubled.limit(2).run().await?, [2, 4]);
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub enum Spawned {}

/// Children polled in place by the map's own future (they may borrow): the kind of a [`Map`]
/// after [`in_place`](Map::in_place).
///
/// # Examples
///
/// ```
/// use scope::{InPlace, Interrupted, Map};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let words = vec!["a".to_owned(), "bb".to_owned()];
/// let lengths: Map<_, _, InPlace> =
///     scope::map(&words, |w| async move { Ok::<_, Interrupted>(w.len()) }).in_place();
/// assert_eq!(lengths.limit(2).run().await?, [1, 2]);
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub enum InPlace {}

/// A parallel map over a stream of items, bounded by its [`limit`](Map::limit): see [`map`].
/// Configure it, then [`run`](Map::run) (fail-fast: the first error cancels the rest and is
/// returned) or [`run_all`](Map::run_all) (an item's error does not stop the others; every
/// failure is returned, past 256 kept failures counted rather than kept, as
/// [`Scope::run_all`](crate::Scope::run_all) does; an item's panic still stops the map).
///
/// `f` and the source are polled by the map's own scope body: a panic in either is the map's
/// own, not an item's (the items are cancelled and drained, then the panic resumes out of
/// `run` or `run_all`), as a panic in a stream adapter is its caller's. An item's panic is
/// that item's, reported as a failure.
///
/// `f` is a closure that returns a future (`|item| async move { .. }`), called once per item
/// while earlier items still run. An async closure that captures (`async move |item| ..`) is
/// not one: it lends its captures to each future it makes, so rustc refuses it ("async closure
/// does not implement `FnMut` because it captures state from its environment"). Write
/// `move |item| { let db = db.clone(); async move { .. } }`, each future owning what it uses.
///
/// # Examples
///
/// ```
/// use scope::Interrupted;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let lengths = scope::map(["a", "bb", "ccc"], |word| async move { Ok::<_, Interrupted>(word.len()) })
///     .limit(2)
///     .run()
///     .await?;
/// assert_eq!(lengths, [1, 2, 3]); // in input order
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
#[must_use = "a map does nothing until it is run"]
pub struct Map<S, F, K = Spawned> {
    items: S,
    f: F,
    config: Config,
    ordered: bool,
    keep: bool,
    _kind: PhantomData<fn() -> K>,
}

/// A parallel map over anything iterable: each item goes through `f`, whose future runs as a
/// child, at most [`limit`](Map::limit) at a time; the values come back in input order (or as
/// they finish, with [`unordered`](Map::unordered)). Items are pulled only when a slot is free.
///
/// There is no limit by default: without [`limit`](Map::limit) every item is pulled and
/// started at once. Set one for the bounded map.
///
/// # Examples
///
/// The first error stops the rest and is returned:
///
/// ```
/// use scope::Interrupted;
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error("item {0} is bad")]
///     Bad(u32),
///     #[error(transparent)]
///     Interrupted(#[from] Interrupted),
/// }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let out = scope::map(0..1_000u32, |i| async move {
///     if i == 7 { Err(AppError::Bad(i)) } else { Ok(i * 2) }
/// })
/// .limit(4)
/// .run()
/// .await;
/// assert_eq!(out.unwrap_err().to_string(), "item 7 is bad");
/// # });
/// ```
#[track_caller]
pub fn map<I, F, Fut>(items: I, f: F) -> Map<stream::Iter<I::IntoIter>, F>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    map_stream(stream::iter(items), f)
}

/// [`map`] over a [`Stream`] of items, pulled one per free slot.
///
/// There is no limit by default: without [`limit`](Map::limit) every item is pulled and
/// started as soon as the stream yields it. Set one for the bounded map.
///
/// # Examples
///
/// ```
/// use futures_util::stream;
/// use scope::Interrupted;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let doubled = scope::map_stream(stream::iter(1..=3), |i| async move { Ok::<_, Interrupted>(i * 2) })
///     .limit(2)
///     .run()
///     .await?;
/// assert_eq!(doubled, [2, 4, 6]);
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
#[track_caller]
pub fn map_stream<S, F, Fut>(items: S, f: F) -> Map<S, F>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future,
{
    Map {
        items,
        f,
        config: Config::new().name("map"),
        ordered: true,
        keep: true,
        _kind: PhantomData,
    }
}

/// A parallel for-each: [`map`] without the values (nothing is kept per item).
///
/// There is no limit by default: without [`limit`](Map::limit) every item is pulled and
/// started at once. Set one for the bounded for-each.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use scope::Interrupted;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&seen);
/// scope::for_each(0..100, move |_| {
///     let counter = Arc::clone(&counter);
///     async move {
///         counter.fetch_add(1, Ordering::Relaxed);
///         Ok::<_, Interrupted>(())
///     }
/// })
/// .limit(8)
/// .run()
/// .await?;
/// assert_eq!(seen.load(Ordering::Relaxed), 100);
/// # Ok::<(), Interrupted>(()) }).unwrap();
/// ```
#[track_caller]
pub fn for_each<I, F, Fut>(items: I, f: F) -> Map<stream::Iter<I::IntoIter>, F>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    let mut m = map(items, f);
    m.keep = false;
    m.config = m.config.name("for_each");
    m
}

impl<S, F, K> Map<S, F, K> {
    /// At most `n` items in flight (see [`Config::limit`]; `0` is an error). A map has no
    /// limit until this (or a [`config`](Map::config) with a limit) sets one: without it,
    /// every item is pulled and started at once.
    ///
    /// # Examples
    ///
    /// See [`map`].
    pub fn limit(mut self, n: usize) -> Self {
        self.config = self.config.limit(n);
        self
    }

    /// The values in the order the items finish, not the input order.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::Interrupted;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let done = scope::map([30u64, 10, 20], |ms| async move {
    ///     tokio::time::sleep(Duration::from_millis(ms)).await;
    ///     Ok::<_, Interrupted>(ms)
    /// })
    /// .unordered()
    /// .run()
    /// .await?;
    /// assert_eq!(done, [10, 20, 30]);
    /// # Ok::<(), Interrupted>(()) }).unwrap();
    /// ```
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }

    /// The scope's set-up (its name, timeout, grace, slots, parent): it replaces the set-up
    /// of an earlier `config` call whole (write one `Config` with everything), save for the
    /// limit and the name. A limit set with [`limit`](Map::limit) (or an earlier `config`)
    /// before this call holds unless `config` has one of its own (and one set after overrides
    /// the config's), and the name stays `map` (`for_each` for one made by [`for_each`]), or
    /// an earlier `config`'s, unless `config` names the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::{Config, Interrupted};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
    /// let out = scope::map([1u64, 2], |i| async move {
    ///     tokio::time::sleep(Duration::from_secs(i)).await;
    ///     Ok::<_, Interrupted>(i)
    /// })
    /// .config(Config::new().name("slow").timeout(Duration::from_millis(1500)))
    /// .run()
    /// .await;
    /// assert_eq!(out.unwrap_err().to_string(), "deadline of `slow` exceeded");
    /// # });
    /// ```
    pub fn config(mut self, mut config: Config) -> Self {
        if config.limit.is_none() {
            config.limit = self.config.limit;
        }
        if config.name.is_none() {
            config.name = self.config.name.take();
        }
        self.config = config;
        self
    }

    /// Runs the items' futures in place, polled by the map's own future, instead of on the
    /// runtime: they may borrow from the caller (they must still be `Send`).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Interrupted;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let prefix = String::from("item-");
    /// let names = scope::map(1..=2, |i| {
    ///     let prefix = &prefix; // borrowed
    ///     async move { Ok::<_, Interrupted>(format!("{prefix}{i}")) }
    /// })
    /// .in_place()
    /// .run()
    /// .await?;
    /// assert_eq!(names, ["item-1", "item-2"]);
    /// # Ok::<(), Interrupted>(()) }).unwrap();
    /// ```
    pub fn in_place(self) -> Map<S, F, InPlace> {
        Map {
            items: self.items,
            f: self.f,
            config: self.config,
            ordered: self.ordered,
            keep: self.keep,
            _kind: PhantomData,
        }
    }
}

/// Where the values go as the children finish.
struct Values<T> {
    keep: bool,
    ordered: bool,
    slots: Vec<Option<T>>,
    done: Vec<T>,
}

impl<T> Values<T> {
    fn new(keep: bool, ordered: bool) -> Self {
        Values {
            keep,
            ordered,
            slots: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Makes room for item `index`'s value (in input order).
    fn expect(&mut self) {
        if self.keep && self.ordered {
            self.slots.push(None);
        }
    }

    fn put(&mut self, index: usize, value: Option<T>) {
        let Some(value) = value else {
            return;
        };
        if self.ordered {
            self.slots[index] = Some(value);
        } else {
            self.done.push(value);
        }
    }

    /// Drops the values one by one (a second panic while a `Vec`'s drop unwinds would abort
    /// the process); the first panic of a destructor is returned.
    fn drop_each(self) -> Result<(), Box<dyn std::any::Any + Send>> {
        let mut panic = None;
        for value in self.slots.into_iter().flatten().chain(self.done) {
            if let Err(payload) = crate::error::drop_caught(value) {
                crate::error::keep_first(&mut panic, payload);
            }
        }
        panic.map_or(Ok(()), Err)
    }

    fn into_vec(self) -> Vec<T> {
        if self.ordered {
            self.slots.into_iter().flatten().collect()
        } else {
            self.done
        }
    }
}

/// The body of a map's scope: reserve a slot, pull an item, start its child; take what has
/// finished as it goes; then wait for the rest. Under fail-fast the first failure closes the
/// scope and ends the loop (the scope returns that failure). Under supervise every failure,
/// panic and cancellation is the scope's to report, once: the loop takes only values, and
/// when the scope closes (a panic, an outside cancel) it stops pulling items and, once the
/// running children have ended, gives no value (`None`) rather than an error of its own
/// that would repeat the scope's.
async fn drive<'s, 'env, S, F, Fut, T, E, Sp>(
    scope: &'s Scope<'s, 'env, E, Sendable>,
    items: S,
    mut f: F,
    values: Values<T>,
    supervise: bool,
    spawn: Sp,
) -> Result<Option<Vec<T>>, E>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Sp: Fn(
        Reserved<'s, 'env, E, Sendable>,
        usize,
        Tallied<Fut, E>,
    ) -> super::Child<'s, (usize, Option<T>)>,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    // What the map holds of the items' values: those collected, and those finished but not
    // yet read. Given back whole when every item gave its value; otherwise dropped by the
    // guard, one by one, whether the loop ends or the body is dropped (an in-place item's
    // failure settled in the run's turn drops the body unpolled).
    let mut kept = Kept {
        scope,
        values: Some(values),
        running: ChildSet::new(),
    };
    // The loop: whether every item gave its value (into `values`). (An `async` block, so that
    // its `?` ends the loop, not the function.)
    let complete: Result<bool, E> = async {
        let Kept {
            values, running, ..
        } = &mut kept;
        let Some(values) = values.as_mut() else {
            unreachable!("the values are taken only after the loop")
        };
        let mut items = std::pin::pin!(items);
        // Without values there is nothing to read from a handle: the items are counted out
        // instead, and a missing one seen from the count.
        let tally = (!values.keep).then(|| Arc::new(Tally::default()));
        // An item that stops for a cancel of its own (its error dropped, the scope not cancelled
        // for it) explains its missing value in the map's report, and stops a fail-fast map.
        *scope.shared.items_own.lock() = super::ItemsOwn::Watching;
        // An item without its value: the map gives none (under supervise the scope reports why:
        // the item's failure or panic, or the cancellation it stopped for, or never started for).
        let mut missing = false;
        let mut take =
            |out: Result<(usize, Option<T>), Interrupted>, values: &mut Values<T>| match out {
                Ok((index, value)) => {
                    values.put(index, value);
                    Ok(())
                }
                // Under supervise the scope reports it; the others go on.
                Err(_) if supervise => {
                    missing = true;
                    Ok(())
                }
                Err(e) => Err(E::from(e)),
            };
        let mut next = 0;
        let mut stopped = false;
        loop {
            while let Some((_, out)) = running.try_join_next() {
                take(out, values)?;
            }
            let slot = match scope.reserve().await {
                Ok(slot) => slot,
                Err(_) if supervise => {
                    stopped = true;
                    break;
                }
                Err(e) => return Err(E::from(e)),
            };
            // The source may be quiet for long (a channel of jobs): its wait ends at the scope's
            // cancel (a failure, a deadline, an outside cancel), and no item is pulled after it.
            let pulled = pull(scope, items.as_mut()).await;
            let item = match pulled {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(_) if supervise => {
                    stopped = true;
                    break;
                }
                // The scope answers with its own report (the first failure, or the cancel).
                Err(cause) => return Err(E::from(Interrupted::from_cause(cause))),
            };
            let fut = Tallied::new(f(item), tally.as_ref());
            let child = spawn(slot, next, fut);
            next += 1;
            // Every item is waited for, with or without values: a cancel after the last spawn (a
            // deadline, say) cuts the items short, and the map must see it rather than answer
            // for them.
            if tally.is_none() {
                values.expect();
                running.push(child);
            }
        }
        let mut counted_missing = false;
        if let Some(tally) = &tally {
            counted_missing = tally_ended(scope, tally, supervise).await;
        }
        while let Some((_, out)) = running.join_next().await {
            take(out, values)?;
        }
        Ok(!stopped && !missing && !counted_missing)
    }
    .await;
    if let Ok(true) = complete {
        let values = kept.values.take().map(Values::into_vec);
        return Ok(values);
    }
    drop(kept);
    complete.map(|_| None)
}

/// What a map holds of its items' values (see `drive`). Dropped while it still holds them (no
/// value to give: an item failed, or the body was dropped), it drops them here, in the map's
/// body, one by one: a panic of a value's destructor is a panic of the scope, under its policy
/// (beside the failures it reports), not one that unwinds through the map in place of its
/// report.
struct Kept<'s, 'env, T, E> {
    scope: &'s Scope<'s, 'env, E, Sendable>,
    values: Option<Values<T>>,
    running: ChildSet<'s, (usize, Option<T>)>,
}

impl<T, E> Drop for Kept<'_, '_, T, E> {
    fn drop(&mut self) {
        let mut panic = None;
        // The outcomes finished but not read (an in-place item's value waits in its handle).
        let running = &mut self.running;
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut panic = None;
            while let Some((_, out)) = running.try_join_next() {
                if let Err(payload) = crate::error::drop_caught(out) {
                    crate::error::keep_first(&mut panic, payload);
                }
            }
            panic
        }));
        match read {
            Ok(first) => panic = first,
            Err(payload) => crate::error::keep_first(&mut panic, payload),
        }
        if let Some(values) = self.values.take() {
            if let Err(payload) = values.drop_each() {
                crate::error::keep_first(&mut panic, payload);
            }
        }
        if let Some(payload) = panic {
            let shared = &self.scope.shared;
            let _ = shared.panicked(&shared.info, payload);
        }
    }
}

/// Waits for the last item of a map without values; whether one ended without its value.
async fn tally_ended<E>(
    scope: &Scope<'_, '_, E, Sendable>,
    tally: &Tally,
    supervise: bool,
) -> bool {
    Ended(tally).await;
    let missing = tally.missing.load(Ordering::Acquire);
    if missing && !supervise {
        // An item counts itself out as its future is dropped, before the scope has settled
        // its outcome. Under fail-fast every item that ends without its value cancels the
        // scope as it is settled (on another worker, perhaps, still under way), or found it
        // cancelled: a failure, a panic, or an error answering a cancel of its own (see
        // `Shared::items_own`). The body answers after that cancel, so that the failure the
        // scope returns is the item's, not this body's "no value".
        let mut cancelled = std::pin::pin!(None);
        std::future::poll_fn(|task| poll_cancel_own(scope, cancelled.as_mut(), task)).await;
    }
    missing
}

/// The scope's cause if it is cancelled (`None` if not), read as the scope's own bookkeeping:
/// the map's loop is ours, so a passed deadline its look fires runs the callbacks with their
/// panics kept for the scope (see `Shared::is_cancelled_in`), not unwound through the loop.
fn cause_own<E>(scope: &Scope<'_, '_, E, Sendable>) -> Option<crate::cause::Cause> {
    if !scope.shared.is_cancelled_own() {
        return None;
    }
    scope.shared.cause_own().map(|cause| (*cause).clone())
}

/// Waits (in `wait`, made at the first pending poll) for the scope's cancellation, as
/// [`cause_own`] looks at it.
fn poll_cancel_own<'a, E>(
    scope: &'a Scope<'_, '_, E, Sendable>,
    mut wait: Pin<&mut Option<crate::cx::WaitCancelled<'a>>>,
    task: &mut std::task::Context<'_>,
) -> Poll<crate::cause::Cause> {
    if let Some(cause) = cause_own(scope) {
        return Poll::Ready(cause);
    }
    if wait.is_none() {
        wait.set(Some(scope.cx().cancelled()));
    }
    let mut polled = Poll::Pending;
    if let Some(wait) = wait.as_pin_mut() {
        scope.shared.catching(|| polled = wait.poll(task));
    }
    match polled {
        Poll::Ready(cause) => Poll::Ready(cause),
        // Pending, or a callback's panic cut the poll short: the cancel it ran for has been
        // made by then, and is seen here.
        Poll::Pending => cause_own(scope).map_or(Poll::Pending, Poll::Ready),
    }
}

/// The next item, or the scope's cause if it is cancelled. A cancel is looked at before the
/// source is asked (an item that arrives with it stays in the source), and the scope's
/// cancellation is waited for only if the source has nothing yet (an item ready at once
/// costs no waiter).
async fn pull<S: Stream, E>(
    scope: &Scope<'_, '_, E, Sendable>,
    mut items: Pin<&mut S>,
) -> Result<Option<S::Item>, crate::cause::Cause> {
    let mut cancelled = std::pin::pin!(None);
    std::future::poll_fn(|task| {
        // A cancel that came while the source was quiet is seen before the source is asked
        // again: an item that arrives with it stays in the source.
        if let Some(cause) = cause_own(scope) {
            return Poll::Ready(Err(cause));
        }
        if let Poll::Ready(item) = items.as_mut().poll_next(task) {
            return Poll::Ready(Ok(item));
        }
        poll_cancel_own(scope, cancelled.as_mut(), task).map(Err)
    })
    .await
}

/// The items of a map that keeps no values (a for-each) still running: the loop waits for
/// the count to reach zero, and learns from it whether an item ended without its value.
#[derive(Default)]
struct Tally {
    left: AtomicUsize,
    /// An item ended without returning `Ok`: failed, cancelled, aborted, or never started.
    missing: AtomicBool,
    /// The map's body, waiting for the last item.
    body: AtomicWaker,
}

/// The map's body waiting for its last item. Dropped (the map's future dropped while it
/// waits), it takes its waker back out of the tally, so that the items' ends, later, do not
/// wake the task that dropped it.
struct Ended<'a>(&'a Tally);

impl Future for Ended<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<()> {
        let tally = self.0;
        // Registered before the look, so that the last item's end is not missed.
        tally.body.register(task.waker());
        // Acquire: pairs with the items' release of `missing` and of the count.
        if tally.left.load(Ordering::Acquire) == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        // The waker is dropped here, outside any lock of ours.
        drop(self.0.body.take());
    }
}

/// Counts one item out of its [`Tally`] when dropped: after the item's future (a field
/// dropped before this one), even if that future's destructor panics.
struct TallyEnd {
    tally: Option<Arc<Tally>>,
    ok: bool,
}

impl Drop for TallyEnd {
    fn drop(&mut self) {
        let Some(tally) = self.tally.take() else {
            return;
        };
        if !self.ok {
            tally.missing.store(true, Ordering::Release);
        }
        // AcqRel: the last item's end is seen by the loop with every `missing` before it.
        if tally.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // No lock of ours is held: an item's future is dropped outside them.
            tally.body.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// An item's future, its output as a `Result`, counted in its map's [`Tally`] if it has
    /// one. A map without values drops an item's value where the item returns it, in the
    /// item's poll: a panic of its destructor is the item's panic (as for any child's value
    /// nobody reads), and its output is then `Ok(None)`.
    pub(crate) struct Tallied<Fut, E> {
        #[pin]
        fut: Fut,
        end: TallyEnd,
        _error: PhantomData<fn() -> E>,
    }
}

impl<Fut, E> Tallied<Fut, E> {
    fn new(fut: Fut, tally: Option<&Arc<Tally>>) -> Self {
        let tally = tally.map(|tally| {
            // Relaxed: read back only through the items' `AcqRel` decrements.
            tally.left.fetch_add(1, Ordering::Relaxed);
            Arc::clone(tally)
        });
        Tallied {
            fut,
            end: TallyEnd { tally, ok: false },
            _error: PhantomData,
        }
    }
}

impl<Fut, E> Future for Tallied<Fut, E>
where
    Fut: Future,
    Fut::Output: TaskOutput<E>,
{
    type Output = Result<Option<<Fut::Output as TaskOutput<E>>::Ok>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.fut.poll(task)).into_result();
        let out = match out {
            // No values kept: dropped here (a panic of its `Drop` unwinds through this poll,
            // the item's, and leaves `ok` unset).
            Ok(value) if this.end.tally.is_some() => {
                drop(value);
                Ok(None)
            }
            out => out.map(Some),
        };
        this.end.ok = out.is_ok();
        Poll::Ready(out)
    }
}

/// [`drive`] under fail-fast, where it always ends with the values or an error.
async fn drive_fail_fast<'s, 'env, S, F, Fut, T, E, Sp>(
    scope: &'s Scope<'s, 'env, E, Sendable>,
    items: S,
    f: F,
    values: Values<T>,
    spawn: Sp,
) -> Result<Vec<T>, E>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Sp: Fn(
        Reserved<'s, 'env, E, Sendable>,
        usize,
        Tallied<Fut, E>,
    ) -> super::Child<'s, (usize, Option<T>)>,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    match drive(scope, items, f, values, false, spawn).await? {
        Some(values) => Ok(values),
        // Stopped by the scope's close (which, under fail-fast, the loop turns into an error
        // first): the scope's cancellation.
        None => Err(E::from(Interrupted::from_shared_cause(
            scope.shared.cause_own().unwrap_or_else(did_not_complete),
        ))),
    }
}

/// Runs [`drive`] supervised: the scope's report, with a loop that stopped when the scope
/// closed counting as a body that gave no value (so the scope's cancellation, unless a
/// recorded failure explains it, is reported once, first).
async fn run_all<'s, 'env, S, F, Fut, T, E, Sp>(
    scope: &'s Scope<'s, 'env, E, Sendable>,
    items: S,
    f: F,
    values: Values<T>,
    spawn: Sp,
) -> Result<Vec<T>, Failures<E>>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Sp: Fn(
        Reserved<'s, 'env, E, Sendable>,
        usize,
        Tallied<Fut, E>,
    ) -> super::Child<'s, (usize, Option<T>)>,
    E: From<Interrupted> + fmt::Display + Send + 'static,
{
    let body = drive(scope, items, f, values, true, spawn);
    let Report {
        info,
        out,
        failures,
        not_kept,
        unanswered,
        cause,
        refused,
    } = scope.run_with::<_, AsReport>(body).await;
    // An item that stopped for a cancel of its own explains a missing value when the scope
    // has no cause of its own. (Under fail-fast it cancelled the scope with that cause.)
    let cause = cause.or_else(|| match &*scope.shared.items_own.lock() {
        super::ItemsOwn::Kept(own) => Some(Arc::clone(own)),
        super::ItemsOwn::Off | super::ItemsOwn::Watching => None,
    });
    AllFailures::finish(Report {
        info,
        out: out.flatten(),
        failures,
        not_kept,
        unanswered,
        cause,
        refused,
    })
}

impl<S, F, Fut> Map<S, F, Spawned>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send + 'static,
{
    /// Runs the map fail-fast: the values (none from a [`for_each`], which keeps none: an
    /// empty `Vec`), or the first error (which cancels the rest; no item starts once it is
    /// recorded, as its child ends: on a multi-thread runtime, each slot freed between the
    /// item's return and that record may start one more item, which the cancel then
    /// reaches), or the cancellation.
    ///
    /// # Examples
    ///
    /// See [`map`].
    pub async fn run<T, E>(self) -> Result<Vec<T>, E>
    where
        Fut::Output: TaskOutput<E, Ok = T>,
        T: Send + 'static,
        E: From<Interrupted> + fmt::Display + Send + 'static,
    {
        let site = self.config.location;
        let s = &Scope::new(self.config);
        let values = Values::new(self.keep, self.ordered);
        s.run(drive_fail_fast(
            s,
            self.items,
            self.f,
            values,
            |slot, i, fut| {
                slot.spawn_with(TaskInfo::new(None, site), async move {
                    fut.await.map(|v| (i, v))
                })
            },
        ))
        .await
    }

    /// Runs every item, whatever errors: the values if all succeed, else every failure (errors
    /// kept up to 256 failures, the rest counted in
    /// [`Failures::not_kept`](crate::Failures::not_kept); every panic kept). An item's panic is
    /// a bug, and stops the map as it stops a supervised scope: the items running are
    /// cancelled, and no later item starts once it is recorded, as its child ends (on a
    /// multi-thread runtime, as for [`run`](Map::run)'s first error, each slot freed between
    /// the panic and that record may start one more item, which the cancel then reaches).
    ///
    /// # Examples
    ///
    /// ```
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let out = scope::map(1..=4, |i| async move {
    ///     if i % 2 == 0 { Err::<u32, E>(format!("{i} is even").into()) } else { Ok(i) }
    /// })
    /// .run_all()
    /// .await;
    /// let failures = out.unwrap_err();
    /// assert_eq!(failures.len(), 2);
    /// # });
    /// ```
    pub async fn run_all<T, E>(self) -> Result<Vec<T>, Failures<E>>
    where
        Fut::Output: TaskOutput<E, Ok = T>,
        T: Send + 'static,
        E: From<Interrupted> + fmt::Display + Send + 'static,
    {
        let site = self.config.location;
        let s = &Scope::new(self.config);
        let values = Values::new(self.keep, self.ordered);
        run_all(s, self.items, self.f, values, |slot, i, fut| {
            slot.spawn_with(TaskInfo::new(None, site), async move {
                fut.await.map(|v| (i, v))
            })
        })
        .await
    }
}

impl<S, F, Fut> Map<S, F, InPlace>
where
    S: Stream,
    F: FnMut(S::Item) -> Fut,
    Fut: Future + Send,
{
    /// Runs the map fail-fast, its children in place (see [`Map::run`]).
    ///
    /// # Examples
    ///
    /// See [`Map::in_place`].
    pub async fn run<T, E>(self) -> Result<Vec<T>, E>
    where
        Fut::Output: TaskOutput<E, Ok = T>,
        T: Send,
        E: From<Interrupted> + fmt::Display + Send + 'static,
    {
        let site = self.config.location;
        let s: &Scope<'_, '_, E> = &Scope::new(self.config);
        let values = Values::new(self.keep, self.ordered);
        s.run(drive_fail_fast(
            s,
            self.items,
            self.f,
            values,
            |slot, i, fut| {
                slot.spawn_in_place_with(TaskInfo::new(None, site), async move {
                    fut.await.map(|v| (i, v))
                })
            },
        ))
        .await
    }

    /// Runs every item in place, whatever errors (see [`Map::run_all`]: a panic still stops it).
    ///
    /// # Examples
    ///
    /// ```
    /// type E = Box<dyn std::error::Error + Send + Sync>;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let limit = 2;
    /// let out = scope::map(1..=3, |i| async move {
    ///     if i > limit { Err::<u32, E>("too big".into()) } else { Ok(i) }
    /// })
    /// .in_place()
    /// .run_all()
    /// .await;
    /// assert_eq!(out.unwrap_err().len(), 1);
    /// # });
    /// ```
    pub async fn run_all<T, E>(self) -> Result<Vec<T>, Failures<E>>
    where
        Fut::Output: TaskOutput<E, Ok = T>,
        T: Send,
        E: From<Interrupted> + fmt::Display + Send + 'static,
    {
        let site = self.config.location;
        let s: &Scope<'_, '_, E> = &Scope::new(self.config);
        let values = Values::new(self.keep, self.ordered);
        run_all(s, self.items, self.f, values, |slot, i, fut| {
            slot.spawn_in_place_with(TaskInfo::new(None, site), async move {
                fut.await.map(|v| (i, v))
            })
        })
        .await
    }
}

impl<S, F, K> fmt::Debug for Map<S, F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("config", &self.config)
            .field("ordered", &self.ordered)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}
