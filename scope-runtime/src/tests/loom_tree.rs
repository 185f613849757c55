//! Loom models of the cancellation tree (`crate::cx`): what a cancel may race with, and what
//! must hold once the racing threads have joined.
//!
//! Each model runs two threads next to the model's main thread and observes the tree through
//! `is_cancelled`/`cause`, `on_cancel` callbacks and the parent's entry table
//! (`Cx::entry_count`), rather than through async polling; the waiter models poll
//! `cancelled()` by hand, with a waker that records its wake-up.
//!
//! Children link into their parents lazily (when a waiter, a callback or a linked child needs
//! it), so the models that look at a parent's table first register something on the child.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Mutex;
use loom::thread;

use crate::{Cause, Cx, Signal};

fn explicit(reason: &'static str) -> Cause {
    Cause::explicit(reason)
}

fn from_parent(cause: Cause) -> Cause {
    Cause::ParentCancelled(Arc::new(cause))
}

/// A cause recorder for `on_cancel`: every call appends the cause it was given.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Cause>>>);

impl Seen {
    fn watch(&self, cx: &Cx) {
        let seen = self.clone();
        // Dropping the handle leaves the callback registered.
        drop(cx.on_cancel(move |cause| seen.0.lock().unwrap().push(cause.clone())));
    }

    fn take(&self) -> Vec<Cause> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Cancel racing child creation: never a child left uncancelled under a cancelled parent.

#[test]
fn loom_cancel_racing_child_creation() {
    loom::model(|| {
        let parent = Cx::root();
        let p = parent.clone();
        let canceller = thread::spawn(move || p.cancel("stop"));
        let p = parent.clone();
        let creator = thread::spawn(move || p.child());

        assert!(canceller.join().unwrap());
        let child = creator.join().unwrap();
        assert!(parent.is_cancelled());
        assert_eq!(child.cause(), Some(from_parent(explicit("stop"))));
        // A cancelled node's table is empty for good, whichever side won.
        assert_eq!(parent.entry_count(), 0);
        drop(child);
        assert_eq!(parent.entry_count(), 0);
    });
}

/// A cancel on its way down a linked chain, and a reader that has seen it begin (the root's
/// flag) and asks the leaf to catch up, as a scope's end does: the leaf is cancelled for it,
/// whether the descent has reached it yet or not (the count of cancels under way tells the
/// reader to walk up while one is).
#[test]
fn loom_a_leaf_catches_up_with_a_cancel_seen_on_its_way_down() {
    loom::model(|| {
        let root = Cx::root();
        let leaf = root.child().child();
        // Linked all the way up, as a running scope's context is.
        let _linked = leaf.on_cancel(|_| {});
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel("stop"));
        let (r, l) = (root.clone(), leaf.clone());
        let reader = thread::spawn(move || {
            if r.is_cancelled() {
                assert!(l.catch_up(), "a cancel seen above was missed below");
                let cause = l.cause().expect("cancelled");
                assert_eq!(cause.root(), &explicit("stop"));
            }
        });
        assert!(canceller.join().unwrap());
        reader.join().unwrap();
        assert!(leaf.catch_up());
    });
}

/// The cancel descends one node at a time; a grandchild created under the middle node while
/// the cancel is on its way down must be reached (or find the middle node cancelled at birth),
/// and carry the same cause either way.
#[test]
fn loom_cancel_racing_grandchild_creation() {
    loom::model(|| {
        let root = Cx::root();
        let middle = root.child();
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel("stop"));
        let m = middle.clone();
        let creator = thread::spawn(move || m.child());

        assert!(canceller.join().unwrap());
        let leaf = creator.join().unwrap();
        // Descendants share one cause, whether the descent reached the leaf or the leaf was
        // born under an already cancelled middle node.
        assert_eq!(middle.cause(), Some(from_parent(explicit("stop"))));
        assert_eq!(leaf.cause(), middle.cause());
        assert_eq!(root.entry_count(), 0);
        assert_eq!(middle.entry_count(), 0);
    });
}

/// A merged context links to its two parents when it is made; cancelling one while the merge
/// is being made and linked must cancel it (with that parent's cause, seen by a callback
/// registered on it once), and its link to the other parent (an unlinked child of a third
/// context, linked on the way) must stay until it is dropped.
#[test]
fn loom_cancel_racing_merge() {
    loom::model(|| {
        let left = Cx::root();
        let base = Cx::root();
        let right = base.child();
        let seen = Seen::default();
        let l = left.clone();
        let canceller = thread::spawn(move || l.cancel("left"));
        let (a, b, w) = (left.clone(), right.clone(), seen.clone());
        let making = thread::spawn(move || {
            let merged = a.merge(&b);
            w.watch(&merged);
            merged
        });

        assert!(canceller.join().unwrap());
        let merged = making.join().unwrap();
        assert_eq!(merged.cause(), Some(from_parent(explicit("left"))));
        assert_eq!(
            seen.take(),
            vec![from_parent(explicit("left"))],
            "the callback ran once"
        );
        assert!(!right.is_cancelled());
        assert_eq!(left.entry_count(), 0);
        // Linked to `right` if the merge was made before the cancel; not otherwise.
        assert!(right.entry_count() <= 1);
        drop(merged);
        assert_eq!(right.entry_count(), 0, "dropping the merge unlinks it");
    });
}

/// Lazy linking racing a cancel two levels up: the child links itself and its unlinked
/// parent on its way to the root while the root is cancelled. Either the link is in place
/// before the cancel (which then reaches the callback) or the link finds the cancel (and runs
/// the callback itself): exactly once, with the root's cause.
#[test]
fn loom_linking_through_an_unlinked_parent_racing_a_root_cancel() {
    loom::model(|| {
        let root = Cx::root();
        let middle = root.child();
        let leaf = middle.child();
        let seen = Seen::default();
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel("stop"));
        let (l, w) = (leaf.clone(), seen.clone());
        let linker = thread::spawn(move || w.watch(&l));

        assert!(canceller.join().unwrap());
        linker.join().unwrap();
        assert_eq!(seen.take(), vec![from_parent(explicit("stop"))]);
        assert_eq!(leaf.cause(), Some(from_parent(explicit("stop"))));
        assert_eq!(middle.cause(), Some(from_parent(explicit("stop"))));
        assert_eq!(root.entry_count(), 0);
        assert_eq!(middle.entry_count(), 0);
    });
}

/// Two threads link the same child at once (each registering a callback): the parent ends
/// with one entry for it, not two, and a later cancel runs both callbacks once.
#[test]
fn loom_two_threads_link_the_same_child() {
    loom::model(|| {
        let parent = Cx::root();
        let child = parent.child();
        let seen = Seen::default();
        let (c1, w1) = (child.clone(), seen.clone());
        let a = thread::spawn(move || w1.watch(&c1));
        let (c2, w2) = (child.clone(), seen.clone());
        let b = thread::spawn(move || w2.watch(&c2));
        a.join().unwrap();
        b.join().unwrap();

        assert_eq!(parent.entry_count(), 1);
        assert!(parent.cancel("stop"));
        assert_eq!(seen.take().len(), 2);
        drop(child);
        assert_eq!(parent.entry_count(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// (b) Cancel racing the drop of a child: no panic, no deadlock, an empty table.

#[test]
fn loom_cancel_racing_child_drop() {
    loom::model(|| {
        let parent = Cx::root();
        let child = parent.child();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        // The callback lives in the child's table: it runs if the cancel reaches the child
        // before the drop, and is dropped unrun otherwise.
        drop(child.on_cancel(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let p = parent.clone();
        let canceller = thread::spawn(move || p.cancel("stop"));
        let dropper = thread::spawn(move || drop(child));

        assert!(canceller.join().unwrap());
        dropper.join().unwrap();
        assert_eq!(parent.entry_count(), 0);
        assert!(runs.load(Ordering::SeqCst) <= 1);
    });
}

/// A sibling's drop frees its key while another sibling is being linked: the new sibling's
/// entry must survive (a later cancel reaches it) and its own drop must empty the table.
#[test]
fn loom_child_drop_racing_sibling_creation() {
    loom::model(|| {
        let parent = Cx::root();
        let old = parent.child();
        drop(old.on_cancel(|_| {})); // linked
        let dropper = thread::spawn(move || drop(old));
        let p = parent.clone();
        let creator = thread::spawn(move || {
            let new = p.child();
            drop(new.on_cancel(|_| {})); // linked
            new
        });

        dropper.join().unwrap();
        let new = creator.join().unwrap();
        assert_eq!(parent.entry_count(), 1);
        assert!(parent.cancel("stop"));
        assert_eq!(new.cause(), Some(from_parent(explicit("stop"))));
        drop(new);
        assert_eq!(parent.entry_count(), 0);
    });
}

/// Two siblings dropped at once while the main thread cancels the parent.
#[test]
fn loom_cancel_racing_two_child_drops() {
    loom::model(|| {
        let parent = Cx::root();
        let (a, b) = (parent.child(), parent.child());
        let da = thread::spawn(move || drop(a));
        let db = thread::spawn(move || drop(b));
        assert!(parent.cancel("stop"));
        da.join().unwrap();
        db.join().unwrap();
        assert_eq!(parent.entry_count(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// (c) Concurrent cancels with different causes: one winner, one cause for every observer.

#[test]
fn loom_concurrent_cancels_agree_on_one_cause() {
    loom::model(|| {
        let cx = Cx::root();
        let child = cx.child();
        let (on_cx, on_child) = (Seen::default(), Seen::default());
        on_cx.watch(&cx);
        on_child.watch(&child);
        let shutdown = Cause::Shutdown {
            signal: Signal::Terminate,
        };

        let (c, ch) = (cx.clone(), child.clone());
        let a = thread::spawn(move || {
            let won = c.cancel("explicit");
            // Whoever won, the context is cancelled once `cancel` returns.
            (won, c.cause().unwrap(), ch.cause())
        });
        let (c, ch, s) = (cx.clone(), child.clone(), shutdown.clone());
        let b = thread::spawn(move || {
            let won = c.cancel_with(s);
            (won, c.cause().unwrap(), ch.cause())
        });

        let (won_a, cause_a, child_a) = a.join().unwrap();
        let (won_b, cause_b, child_b) = b.join().unwrap();
        assert!(won_a != won_b, "exactly one cancel wins");
        let winner = if won_a {
            explicit("explicit")
        } else {
            shutdown
        };
        assert_eq!(cause_a, winner);
        assert_eq!(cause_b, winner);
        assert_eq!(cx.cause(), Some(winner.clone()));
        let inherited = from_parent(winner.clone());
        // Mid-race the descent may not have reached the child yet; if it has, the cause is
        // the winner's.
        for seen in [child_a, child_b].into_iter().flatten() {
            assert_eq!(seen, inherited);
        }
        assert_eq!(child.cause(), Some(inherited.clone()));
        assert_eq!(on_cx.take(), vec![winner]);
        assert_eq!(on_child.take(), vec![inherited]);
    });
}

// ---------------------------------------------------------------------------------------------
// (d) `on_cancel` racing its stop handle: at most one run, and `stop` is true iff it never ran.

#[test]
fn loom_on_cancel_racing_stop() {
    loom::model(|| {
        let cx = Cx::root();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let handle = cx.on_cancel(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        });
        let c = cx.clone();
        let canceller = thread::spawn(move || c.cancel("go"));
        let stopper = thread::spawn(move || handle.stop());

        assert!(canceller.join().unwrap());
        let did_stop = stopper.join().unwrap();
        let ran = runs.load(Ordering::SeqCst);
        assert!(ran <= 1, "the callback ran {ran} times");
        assert_eq!(did_stop, ran == 0, "stop() = {did_stop}, runs = {ran}");
        assert_eq!(cx.entry_count(), 0);
    });
}

/// The registration itself races the cancel (the callback may run on the spot), then the same
/// thread stops it.
#[test]
fn loom_on_cancel_registration_racing_cancel() {
    loom::model(|| {
        let cx = Cx::root();
        let runs = Arc::new(AtomicUsize::new(0));
        let c = cx.clone();
        let canceller = thread::spawn(move || c.cancel("go"));
        let (c, r) = (cx.clone(), Arc::clone(&runs));
        let registrar = thread::spawn(move || {
            let handle = c.on_cancel(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            });
            handle.stop()
        });

        assert!(canceller.join().unwrap());
        let stopped = registrar.join().unwrap();
        let ran = runs.load(Ordering::SeqCst);
        assert!(ran <= 1, "the callback ran {ran} times");
        assert_eq!(stopped, ran == 0, "stop() = {stopped}, runs = {ran}");
        assert_eq!(cx.entry_count(), 0);
    });
}

/// Two threads stop the same registration while the main thread cancels: at most one stop
/// wins, and the callback runs iff none did.
#[test]
fn loom_two_stops_racing_cancel() {
    loom::model(|| {
        let cx = Cx::root();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let handle = Arc::new(cx.on_cancel(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        let h = Arc::clone(&handle);
        let s1 = thread::spawn(move || h.stop());
        let h = Arc::clone(&handle);
        let s2 = thread::spawn(move || h.stop());
        assert!(cx.cancel("go"));

        let stops = usize::from(s1.join().unwrap()) + usize::from(s2.join().unwrap());
        let ran = runs.load(Ordering::SeqCst);
        assert!(stops <= 1, "{stops} stops claimed the callback");
        assert_eq!(stops + ran, 1, "stops = {stops}, runs = {ran}");
        assert_eq!(cx.entry_count(), 0);
    });
}

/// `stop` takes `&self`, so it may be called twice. Between the calls the freed key may be
/// taken by another entry of the same table, here a child's link (made by a callback on the
/// child): the second call must not remove it, or the child would be left uncancelled under
/// a cancelled parent.
#[test]
fn loom_stop_twice_racing_child_creation() {
    loom::model(|| {
        let cx = Cx::root();
        let handle = cx.on_cancel(|_| {});
        let stopper = thread::spawn(move || (handle.stop(), handle.stop()));
        let c = cx.clone();
        let creator = thread::spawn(move || {
            let child = c.child();
            let seen = Seen::default();
            seen.watch(&child); // links the child: an entry in the parent's table
            (child, seen)
        });

        let (first, second) = stopper.join().unwrap();
        let (child, seen) = creator.join().unwrap();
        assert!(first);
        assert!(!second);
        assert!(cx.cancel("stop"));
        assert_eq!(
            seen.take(),
            vec![from_parent(explicit("stop"))],
            "the link survived the second stop"
        );
        assert_eq!(child.cause(), Some(from_parent(explicit("stop"))));
    });
}

// ---------------------------------------------------------------------------------------------
// Waiters: a registered waker is woken by a racing cancel, and a dropped waiter leaves nothing
// behind.

/// Counts its wake-ups.
#[derive(Default)]
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
#[test]
fn loom_waiter_is_woken_by_a_racing_cancel() {
    loom::model(|| {
        let cx = Cx::root();
        let c = cx.clone();
        let canceller = thread::spawn(move || c.cancel("wake"));
        let flag = Arc::new(WakeCount::default());
        let waker = Waker::from(Arc::clone(&flag));
        let mut task = Context::from_waker(&waker);
        let mut wait = pin!(cx.cancelled());
        let first = wait.as_mut().poll(&mut task);

        assert!(canceller.join().unwrap());
        if first.is_pending() {
            // The cancel came after the registration: it must have woken the waiter.
            assert!(flag.0.load(Ordering::SeqCst) > 0, "lost wake-up");
        }
        let cause = match first {
            Poll::Ready(cause) => cause,
            Poll::Pending => match wait.as_mut().poll(&mut task) {
                Poll::Ready(cause) => cause,
                Poll::Pending => panic!("woken, but still pending after the cancel"),
            },
        };
        assert_eq!(cause, explicit("wake"));
        assert_eq!(cx.entry_count(), 0);
    });
}

#[test]
fn loom_waiter_drop_racing_cancel() {
    loom::model(|| {
        let cx = Cx::root();
        let c = cx.clone();
        let waiter = thread::spawn(move || {
            let mut wait = pin!(c.cancelled());
            let mut task = Context::from_waker(Waker::noop());
            // Registers (or finds the cancel already there); then the future is dropped.
            match wait.as_mut().poll(&mut task) {
                Poll::Ready(cause) => Some(cause),
                Poll::Pending => None,
            }
        });
        assert!(cx.cancel("stop"));
        if let Some(cause) = waiter.join().unwrap() {
            assert_eq!(cause, explicit("stop"));
        }
        assert_eq!(cx.entry_count(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// (e) A scope's run sets itself as its context's owner while another thread cancels an
// ancestor: either the owner is kept and told exactly once, or it is refused because the
// cancel came first (the run then looks for itself). Never neither.

/// A scope's stand-in as a node's owner: its tracker's owner waker counts the wakes.
struct Counted {
    tracker: crate::scope::tracker::Tracker,
    wakes: Arc<WakeCount>,
}

impl Counted {
    fn new() -> Arc<Self> {
        let owner = Arc::new(Counted {
            tracker: crate::scope::tracker::Tracker::new(None),
            wakes: Arc::default(),
        });
        owner.listen();
        owner
    }

    /// Registers the counting waker as the run's (a wake takes it, as a run's is taken).
    fn listen(&self) {
        let waker = Waker::from(Arc::clone(&self.wakes));
        self.tracker.register_owner(&waker);
    }

    fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }

    fn weak(self: &Arc<Self>) -> std::sync::Weak<dyn crate::scope::tracker::Enclosing> {
        let owner: Arc<dyn crate::scope::tracker::Enclosing> = self.clone();
        Arc::downgrade(&owner)
    }
}

impl crate::scope::tracker::Enclosing for Counted {
    fn tracker(&self) -> &crate::scope::tracker::Tracker {
        &self.tracker
    }
}

#[test]
fn loom_an_owner_set_while_an_ancestor_is_cancelled_is_told_once_or_refused() {
    loom::model(|| {
        let root = Cx::root();
        // Not linked yet: setting the owner links it, racing the cancel's walk.
        let cx = root.child();
        let owner = Counted::new();
        let r = root.clone();
        let canceller = thread::spawn(move || r.cancel("stop"));
        let kept = cx.set_owner(owner.weak());
        assert!(canceller.join().unwrap());
        assert_eq!(cx.cause(), Some(from_parent(explicit("stop"))));
        assert_eq!(owner.wakes(), usize::from(kept));
        // Ended again (the scope's end): the owner is not woken twice.
        owner.listen();
        cx.cancel_with(Cause::Finished {
            scope: crate::TaskInfo::here(None),
        });
        assert_eq!(owner.wakes(), usize::from(kept));
    });
}

/// The scope's end, with nobody registered but the owner, keeps its cause inline and still
/// wakes the owner, while another thread reads the cause.
#[test]
fn loom_the_end_of_a_scope_tells_its_owner_and_a_reader_sees_the_cause() {
    loom::model(|| {
        let cx = Cx::root();
        let owner = Counted::new();
        assert!(cx.set_owner(owner.weak()));
        let c = cx.clone();
        let reader = thread::spawn(move || c.cause().map(|c| c.is_finished()));
        let scope = crate::TaskInfo::here(Some("job".into()));
        assert!(cx.cancel_with(Cause::Finished {
            scope: scope.clone()
        }));
        assert_eq!(owner.wakes(), 1);
        // Before the end, or after it with the whole cause.
        assert_ne!(reader.join().unwrap(), Some(false));
        assert_eq!(cx.cause(), Some(Cause::Finished { scope }));
    });
}

// ---------------------------------------------------------------------------------------------
// (f) A deadline's alarm (the wait that fires a context's passed deadline for its `on_cancel`
// callbacks when nothing else looks): its wait is registered, then kept, while a cancel may
// wake it in between; and a `stop` may let it go while a cancel wakes it. Either way, once the
// threads have joined, the alarm keeps nothing: no wait, no waker left in the context's table.
// (The timer itself is the runtime's, which loom does not have: these alarms watch contexts
// without a deadline, with the same protocol.)

#[test]
fn loom_an_alarm_set_while_its_context_is_cancelled_keeps_nothing() {
    loom::model(|| {
        let cx = Cx::root();
        let alarm = crate::cx::ModelAlarm::new();
        let c = cx.clone();
        let canceller = thread::spawn(move || c.cancel("stop"));
        // Registers its wait (or finds the cancel there), then keeps it unless the cancel came
        // between, whose wake found nothing to take.
        alarm.watch(&cx);
        assert!(canceller.join().unwrap());
        assert!(!alarm.is_watching(), "the alarm kept a cancelled context");
        assert_eq!(alarm.wakers_out(), 0, "a waker of the alarm was kept");
        assert_eq!(cx.entry_count(), 0);
    });
}

#[test]
fn loom_an_alarm_let_go_while_its_context_is_cancelled_keeps_nothing() {
    loom::model(|| {
        let cx = Cx::root();
        let alarm = crate::cx::ModelAlarm::new();
        alarm.watch(&cx);
        assert!(alarm.is_watching());
        assert_eq!(alarm.wakers_out(), 1);
        let alarm = Arc::new(alarm);
        let a = Arc::clone(&alarm);
        // A `stop` that leaves the alarm nothing to serve, racing the cancel's wake: one of
        // them takes the wait and drops it.
        let stopper = thread::spawn(move || a.disarm());
        assert!(cx.cancel("stop"));
        stopper.join().unwrap();
        assert!(!alarm.is_watching(), "the alarm kept its wait");
        assert_eq!(alarm.wakers_out(), 0, "a waker of the alarm was kept");
        assert_eq!(cx.entry_count(), 0);
        assert_eq!(cx.cause(), Some(explicit("stop")));
    });
}
