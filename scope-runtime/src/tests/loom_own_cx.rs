//! Loom models of children's own contexts created on demand (`crate::scope::own_cx`): the
//! child and its handle racing to create it; a context created by the handle reaching the
//! child that looks for it through the registry's epoch; a child waiting without a context of
//! its own racing the handle that creates one; the handle making the child's context as the
//! child ends; and a wait kept past its child's end learning of that end.

use loom::thread;

use crate::scope::own_cx::OwnCxs;
use crate::{Cause, Cx, TaskId};

#[test]
fn loom_child_and_handle_racing_to_create_get_one_context() {
    loom::model(|| {
        let registry = std::sync::Arc::new(OwnCxs::default());
        let parent = Cx::root();
        let id = TaskId::next();
        let handle = {
            let (registry, parent) = (registry.clone(), parent.clone());
            thread::spawn(move || registry.get_or_create(id, &parent, true))
        };
        let by_child = registry.get_or_create(id, &parent, false);
        let by_handle = handle.join().unwrap();
        assert!(by_child.same_as(&by_handle));
        assert!(!by_child.same_as(&parent));
    });
}

#[test]
fn loom_a_context_created_and_cancelled_by_the_handle_reaches_the_child() {
    loom::model(|| {
        let registry = std::sync::Arc::new(OwnCxs::default());
        let parent = Cx::root();
        let id = TaskId::next();
        let seen = registry.epoch();
        let handle = {
            let (registry, parent) = (registry.clone(), parent.clone());
            thread::spawn(move || {
                let own = registry.get_or_create(id, &parent, true);
                own.cancel("only this child");
                own // kept alive, as the handle keeps it
            })
        };
        // The child's poll: it looks only when the epoch moved.
        let adopted = (registry.epoch() != seen)
            .then(|| registry.find(id))
            .flatten();
        let own = handle.join().unwrap();
        if let Some(found) = adopted {
            // Whoever it found is the handle's context.
            assert!(found.same_as(&own));
        } else {
            // Not yet: a later poll finds it, since the epoch moved for good.
            assert_ne!(registry.epoch(), seen);
            let found = registry
                .find(id)
                .expect("the handle's context is registered");
            assert!(found.same_as(&own));
            assert_eq!(found.cause(), Some(Cause::explicit("only this child")));
        }
    });
}

/// A waker that counts its wakes.
struct Count(loom::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn loom_a_child_waiting_without_a_context_is_told_of_the_one_the_handle_creates() {
    loom::model(|| {
        let registry = std::sync::Arc::new(OwnCxs::default());
        let parent = Cx::root();
        let id = TaskId::next();
        let count = std::sync::Arc::new(Count(loom::sync::atomic::AtomicUsize::new(0)));
        let waker = std::task::Waker::from(count.clone());
        let handle = {
            let (registry, parent) = (registry.clone(), parent.clone());
            thread::spawn(move || {
                let own = registry.get_or_create(id, &parent, true);
                own.cancel("only this child");
                own
            })
        };
        // The child's wait parks its waker, unless the node is there already.
        let parked = registry.park(id, &parent, waker.clone(), None);
        let own = handle.join().unwrap();
        match parked {
            // Found at once: the wait moves over to it.
            Err((found, _waker)) => assert!(found.same_as(&own)),
            // Parked first: the creation took the waker out and woke it, after the epoch moved.
            Ok(unkept) => {
                assert!(unkept.iter().all(Option::is_none));
                assert_eq!(count.0.load(loom::sync::atomic::Ordering::SeqCst), 1);
                // The creation took the waker, and keeps the node for the wait until it has
                // moved over (here: the node is found, the wait leaves).
                let found = registry.find(id).expect("registered");
                let (waker, node) = registry.unpark(id, &waker);
                assert!(waker.is_none(), "the creation took it");
                assert!(node.expect("kept for the wait").same_as(&own));
                assert_eq!(found.cause(), Some(Cause::explicit("only this child")));
            }
        }
    });
}

#[test]
fn loom_parked_wakers_are_given_back_by_unpark_and_at_the_scopes_end() {
    loom::model(|| {
        let registry = OwnCxs::default();
        let parent = Cx::root();
        let count = std::sync::Arc::new(Count(loom::sync::atomic::AtomicUsize::new(0)));
        let (a, b) = (TaskId::next(), TaskId::next());
        for id in [a, b] {
            let parked = registry.park(id, &parent, std::task::Waker::from(count.clone()), None);
            assert!(matches!(parked, Ok([None, None])));
        }
        assert_eq!(std::sync::Arc::strong_count(&count), 3);
        // A wait leaving while the registry is free takes its waker back.
        let probe = std::task::Waker::from(count.clone());
        drop(registry.try_unpark(a, &probe).0.expect("parked"));
        drop(probe);
        assert_eq!(std::sync::Arc::strong_count(&count), 2);
        // What a cancelled wait left behind goes with the scope's end.
        registry.clear_parked();
        assert_eq!(std::sync::Arc::strong_count(&count), 1);
        let probe = std::task::Waker::from(count.clone());
        assert!(matches!(registry.unpark(b, &probe), (None, None)));
    });
}

/// The handle's `cx()` racing the child's end (`probe128`): a context the handle makes while
/// the child ends is ended, by the child's end or by the handle once the outcome is in.
#[test]
fn loom_a_context_the_handle_makes_as_the_child_ends_is_ended() {
    loom::model(|| {
        let registry = std::sync::Arc::new(OwnCxs::default());
        let parent = Cx::root();
        let info = crate::TaskInfo::here(None);
        let id = info.id();
        let finished = std::sync::Arc::new(loom::sync::atomic::AtomicBool::new(false));
        // The child last looked at the epoch here (a lazy child, no context of its own).
        let seen = registry.epoch();
        let handle = {
            let (registry, parent, finished, info) = (
                registry.clone(),
                parent.clone(),
                finished.clone(),
                info.clone(),
            );
            thread::spawn(move || {
                // `Child::cx()`: made now, ended at once if the child is over.
                let cx = registry.get_or_create(id, &parent, true);
                if finished.load(loom::sync::atomic::Ordering::Acquire) {
                    if let Some(kept) = registry.release(id) {
                        kept.finish(&info);
                    }
                }
                cx
            })
        };
        // The child's end: its own context if the epoch moved, then what is kept for it; then
        // its task completes.
        if registry.epoch() != seen {
            if let Some(own) = registry.take(id) {
                own.finish(&info);
            }
        }
        if let Some(kept) = registry.release(id) {
            kept.finish(&info);
        }
        finished.store(true, loom::sync::atomic::Ordering::Release);
        let cx = handle.join().unwrap();
        // The handle's outcome is in (its await's `Ready`).
        if let Some(kept) = registry.release(id) {
            kept.finish(&info);
        }
        assert!(
            cx.cause().is_some(),
            "the handle's context ended with the child"
        );
    });
}

/// A `scope::cancelled()` first polled in a child without a context of its own, kept past the
/// child's end and polled again elsewhere with another waker as the child ends (`probe197`):
/// it learns of the end (a node ended so, found at once or woken for), and once it has moved
/// over the registry keeps nothing for it.
#[test]
fn loom_a_wait_parked_without_a_context_learns_of_its_childs_end() {
    loom::model(|| {
        let registry = std::sync::Arc::new(OwnCxs::default());
        let parent = Cx::root();
        let info = crate::TaskInfo::here(None);
        let id = info.id();
        let seen = registry.epoch();
        let (at_child, elsewhere) = (
            std::sync::Arc::new(Count(loom::sync::atomic::AtomicUsize::new(0))),
            std::sync::Arc::new(Count(loom::sync::atomic::AtomicUsize::new(0))),
        );
        let first = std::task::Waker::from(at_child.clone());
        // Its first poll, in the child: parked.
        let parked = registry.park(id, &parent, first.clone(), None);
        assert!(matches!(parked, Ok([None, None])));
        let watcher = {
            let (registry, parent) = (registry.clone(), parent.clone());
            let (first, second) = (first.clone(), std::task::Waker::from(elsewhere.clone()));
            thread::spawn(move || {
                match registry.park(id, &parent, second.clone(), Some(&first)) {
                    // Parked again, with the watcher's waker.
                    Ok(_) => (None, second),
                    // The node is there: the wait still holds its first waker's share.
                    Err((own, _)) => (Some(own), first),
                }
            })
        };
        // The child's end, without a context of its own.
        registry.end_waits(id, &parent, |own| own.finish(&info));
        let (found, parked_with) = watcher.join().unwrap();
        let own = found.unwrap_or_else(|| {
            // Parked before the end: the end woke it, after the epoch moved.
            assert_eq!(elsewhere.0.load(loom::sync::atomic::Ordering::SeqCst), 1);
            assert_ne!(registry.epoch(), seen);
            registry.find(id).expect("kept for the wait")
        });
        assert!(
            own.cause().is_some_and(|c| c.is_finished()),
            "{:?}",
            own.cause()
        );
        // The end woke the waker parked then, once: the first if the wait found the node.
        let woken = [&at_child, &elsewhere].map(|c| c.0.load(loom::sync::atomic::Ordering::SeqCst));
        assert_eq!(woken[0] + woken[1], 1, "{woken:?}");
        // The wait moves over: its share of the handover comes back, with the node.
        let (waker, node) = registry.unpark(id, &parked_with);
        assert!(waker.is_none());
        assert!(node.expect("kept for the wait").same_as(&own));
        drop(own);
        assert!(registry.find(id).is_none(), "nothing is kept for the wait");
    });
}
