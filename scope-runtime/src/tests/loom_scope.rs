//! Loom models of the scope's join protocol (`crate::scope`): the live-work tracker against
//! the close and the finish, across nested scopes (a nested tracker's link to its enclosing
//! one, taken by its first unit and given back by its last); a queued child's start against its abort
//! and against the scope's close; and a budgeted shield's start against the forced abort.
//!
//! The owner waits the way a run does: it registers its waker, then tries to finish (a
//! compare-and-swap from zero units), under `loom::future::block_on`, so a lost wake-up shows
//! as a deadlock.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use crate::scope::admission::{Abort, Admission, Admitted, Queued, Ticket};
use crate::scope::tracker::{Enclosing, PendingJob, TaskHandle, Tracker};

/// An owner of a tracker (a scope or a service, in the runtime).
struct Owner(Tracker);

impl Enclosing for Owner {
    fn tracker(&self) -> &Tracker {
        &self.0
    }
}

fn root() -> Arc<Owner> {
    Arc::new(Owner(Tracker::new(None)))
}

fn nested_in(parent: &Arc<Owner>) -> Arc<Owner> {
    Arc::new(Owner(Tracker::new(Some(
        Arc::clone(parent) as Arc<dyn Enclosing>
    ))))
}

/// Waits, as a run does, until the tracker finishes.
fn finish(t: &Tracker) {
    loom::future::block_on(poll_fn(|cx| {
        t.register_owner(cx.waker());
        if t.try_finish() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
}

/// A child: takes a unit, does its work (sets `done`), gives the unit back. Returns whether it
/// was admitted.
fn child(t: &Tracker, done: &AtomicBool) -> bool {
    if t.enter().is_err() {
        return false;
    }
    // Relaxed: published by the exit's Release, read after the owner's Acquire.
    done.store(true, Ordering::Relaxed);
    t.exit();
    true
}

// ---------------------------------------------------------------------------------------------
// Close racing a spawn from another thread: the spawn is refused, or the owner waits for it.

#[test]
fn loom_close_racing_a_spawn_from_another_thread() {
    loom::model(|| {
        let owner = root();
        let done = Arc::new(AtomicBool::new(false));
        let spawner = {
            let (owner, done) = (Arc::clone(&owner), Arc::clone(&done));
            thread::spawn(move || child(&owner.0, &done))
        };
        owner.0.close();
        finish(&owner.0);
        // Relaxed: ordered by the finish's Acquire of the last exit.
        let seen = done.load(Ordering::Relaxed);
        let admitted = spawner.join().unwrap();
        assert_eq!(
            admitted, seen,
            "an admitted child finished before the owner did"
        );
        assert!(owner.0.enter().is_err(), "a finished owner admits nothing");
    });
}

// ---------------------------------------------------------------------------------------------
// The last child's exit racing the owner's idle check: no lost wake-up.

#[test]
fn loom_the_last_exit_racing_the_idle_check() {
    loom::model(|| {
        let owner = root();
        owner.0.enter().unwrap();
        owner.0.enter().unwrap();
        let exits: Vec<_> = (0..2)
            .map(|_| {
                let owner = Arc::clone(&owner);
                thread::spawn(move || owner.0.exit())
            })
            .collect();
        owner.0.close();
        finish(&owner.0);
        assert_eq!(owner.0.units(), 0);
        for e in exits {
            e.join().unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// A nested scope's child racing the outer scope's close and finish: the outer scope waits for
// it (its units are the outer's too), or it is refused.

#[test]
fn loom_a_nested_scopes_child_racing_the_outer_close() {
    loom::model(|| {
        let outer = root();
        let nested = nested_in(&outer);
        let done = Arc::new(AtomicBool::new(false));
        let spawner = {
            let (nested, done) = (Arc::clone(&nested), Arc::clone(&done));
            thread::spawn(move || child(&nested.0, &done))
        };
        // The nested scope itself never closes (its run was forgotten, say).
        outer.0.close();
        finish(&outer.0);
        // Relaxed: ordered by the finish's Acquire of the last exit.
        let seen = done.load(Ordering::Relaxed);
        let admitted = spawner.join().unwrap();
        assert_eq!(
            admitted, seen,
            "a grandchild finished before the outer scope did"
        );
        assert!(
            nested.0.enter().is_err(),
            "below a finished scope nothing is admitted"
        );
        assert_eq!(nested.0.units(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// A nested tracker holds one unit of its enclosing one while its own count is above zero (the
// link): its last unit's exit gives the link back, a first unit takes one. Those racing each
// other and the outer finish: the outer scope waits for every admitted unit below, and every
// count ends at zero (no link kept, none given back twice).

/// A model of three threads, bounded (the whole space takes too long for CI): three
/// preemptions, enough for each race below (a link given back between a first unit's look and
/// its swap, two first units between each other's steps).
fn three_threads(f: impl Fn() + Sync + Send + 'static) {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(f);
}

#[test]
fn loom_the_last_exit_below_racing_a_first_enter_and_the_outer_finish() {
    three_threads(|| {
        let outer = root();
        let nested = nested_in(&outer);
        nested.0.enter().unwrap();
        let last = {
            let nested = Arc::clone(&nested);
            thread::spawn(move || nested.0.exit())
        };
        let done = Arc::new(AtomicBool::new(false));
        let spawner = {
            let (nested, done) = (Arc::clone(&nested), Arc::clone(&done));
            thread::spawn(move || child(&nested.0, &done))
        };
        outer.0.close();
        finish(&outer.0);
        // Relaxed: ordered by the finish's Acquire of the last exit.
        let seen = done.load(Ordering::Relaxed);
        let admitted = spawner.join().unwrap();
        last.join().unwrap();
        assert_eq!(
            admitted, seen,
            "a unit admitted below finished before the outer scope did"
        );
        assert_eq!((outer.0.units(), nested.0.units()), (0, 0));
    });
}

#[test]
fn loom_two_first_enters_below_racing_the_outer_finish() {
    three_threads(|| {
        let outer = root();
        let nested = nested_in(&outer);
        let spawners: Vec<_> = (0..2)
            .map(|_| {
                let done = Arc::new(AtomicBool::new(false));
                let spawner = {
                    let (nested, done) = (Arc::clone(&nested), Arc::clone(&done));
                    thread::spawn(move || child(&nested.0, &done))
                };
                (spawner, done)
            })
            .collect();
        outer.0.close();
        finish(&outer.0);
        for (spawner, done) in spawners {
            // Relaxed: ordered by the finish's Acquire of the last exit.
            let seen = done.load(Ordering::Relaxed);
            let admitted = spawner.join().unwrap();
            assert_eq!(
                admitted, seen,
                "a unit admitted below finished before the outer scope did"
            );
        }
        assert_eq!((outer.0.units(), nested.0.units()), (0, 0));
    });
}

#[test]
fn loom_a_first_enter_two_levels_below_racing_a_last_exit_between_and_the_outer_finish() {
    three_threads(|| {
        let outer = root();
        let between = nested_in(&outer);
        let nested = nested_in(&between);
        // The scope between has a unit of its own, whose exit races the first unit below.
        between.0.enter().unwrap();
        let last = {
            let between = Arc::clone(&between);
            thread::spawn(move || between.0.exit())
        };
        let done = Arc::new(AtomicBool::new(false));
        let spawner = {
            let (nested, done) = (Arc::clone(&nested), Arc::clone(&done));
            thread::spawn(move || child(&nested.0, &done))
        };
        outer.0.close();
        finish(&outer.0);
        // Relaxed: ordered by the finish's Acquire of the last exit.
        let seen = done.load(Ordering::Relaxed);
        let admitted = spawner.join().unwrap();
        last.join().unwrap();
        assert_eq!(
            admitted, seen,
            "a unit admitted two levels below finished before the outer scope did"
        );
        assert_eq!(
            (outer.0.units(), between.0.units(), nested.0.units()),
            (0, 0, 0)
        );
        assert!(
            nested.0.enter().is_err(),
            "below a finished scope nothing is admitted"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The outer scope's forced abort racing the first task of a scope two levels down, whose
// enclosing scope has no work of its own: the abort reaches the task either way (the walk
// finds it, the chain being registered up to the outer tracker, or the registration finds the
// outer sealed and aborts it itself).

/// A blocking job (the model's task): whether the abort reached it.
#[derive(Default)]
struct ModelJob(AtomicBool);

impl PendingJob for ModelJob {
    fn drop_unstarted(&self) {
        // Relaxed: read after the threads are joined.
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_gone(&self) -> bool {
        // Relaxed: a hint for pruning.
        self.0.load(Ordering::Relaxed)
    }
}

#[test]
fn loom_an_abort_from_above_racing_a_task_below_a_scope_with_no_work() {
    loom::model(|| {
        let outer = root();
        let middle = nested_in(&outer);
        let inner: Arc<dyn Enclosing> = nested_in(&middle);
        let job = Arc::new(ModelJob::default());
        let registrar = {
            let (inner, job) = (Arc::clone(&inner), Arc::clone(&job));
            thread::spawn(move || {
                Tracker::register_task(&inner, TaskHandle::Job(job), None);
            })
        };
        outer.0.abort_all();
        registrar.join().unwrap();
        // Relaxed: ordered by the join.
        assert!(
            job.0.load(Ordering::Relaxed),
            "the outer abort did not reach a task two levels down"
        );
        assert!(inner.tracker().aborted_since(0));
    });
}

// Two scopes below two scopes with no work register their first tasks while the outermost
// owner aborts: each registration inserts the chain above it step by step, and one that inserts
// into a table the abort took already finds the owner sealed and aborts what it inserted (the
// abort missed the second task when each registration aborted only its own).
#[test]
fn loom_an_abort_from_above_racing_two_tasks_below_two_scopes_with_no_work() {
    // Three threads over four trackers: bounded, as the whole space takes too long for CI
    // (three preemptions find the interleaving the abort missed).
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let outer = root();
        let upper = nested_in(&outer);
        let lower = nested_in(&upper);
        let first: Arc<dyn Enclosing> = nested_in(&lower);
        let second: Arc<dyn Enclosing> = nested_in(&lower);
        let jobs = [Arc::new(ModelJob::default()), Arc::new(ModelJob::default())];
        let registrars: Vec<_> = [&first, &second]
            .into_iter()
            .zip(&jobs)
            .map(|(scope, job)| {
                let (scope, job) = (Arc::clone(scope), Arc::clone(job));
                thread::spawn(move || Tracker::register_task(&scope, TaskHandle::Job(job), None))
            })
            .collect();
        outer.0.abort_all();
        for r in registrars {
            r.join().unwrap();
        }
        for (i, job) in jobs.iter().enumerate() {
            // Relaxed: ordered by the joins.
            assert!(
                job.0.load(Ordering::Relaxed),
                "the outer abort missed task {i} two levels down"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// A queued child's start racing its handle's abort: it never starts, or its task is aborted.

#[derive(Clone, Default)]
struct ModelTask(Arc<AtomicBool>);

impl Abort for ModelTask {
    fn abort(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn loom_a_queued_childs_start_racing_its_abort() {
    loom::model(|| {
        let ticket: Arc<Ticket<ModelTask>> = Arc::new(Ticket::default());
        let starter = {
            let ticket = Arc::clone(&ticket);
            thread::spawn(move || {
                if !ticket.may_start() {
                    return None;
                }
                let task = ModelTask::default();
                ticket.started(&task);
                Some(task)
            })
        };
        let aborter = {
            let ticket = Arc::clone(&ticket);
            thread::spawn(move || ticket.abort())
        };
        aborter.join().unwrap();
        if let Some(task) = starter.join().unwrap() {
            assert!(
                task.0.load(Ordering::SeqCst),
                "a started child was not aborted"
            );
        }
        // Aborted for good: it can no longer start.
        assert!(!ticket.may_start());
    });
}

// ---------------------------------------------------------------------------------------------
// A slot handed on racing the scope's close: the queued child starts, or is dropped unstarted,
// never both, never neither; after the close nothing queued starts.

#[test]
fn loom_a_slot_handed_on_racing_the_close() {
    loom::model(|| {
        let admission = Arc::new(Admission::new(Some(1)));
        assert!(admission.start().is_empty());
        assert!(
            admission.try_admit().is_some(),
            "the first child takes the one slot"
        );
        let started = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&started);
        let queued = Queued::Spawn(
            Arc::new(Ticket::default()),
            Box::new(move |_| {
                s.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert!(
            matches!(admission.arrive(queued, false), Ok(None)),
            "queued"
        );
        let releaser = {
            let admission = Arc::clone(&admission);
            thread::spawn(move || {
                if let Some(Admitted(Queued::Spawn(_, start), seq)) = admission.release() {
                    start(seq);
                }
            })
        };
        let dropped = admission.close();
        let dropped_count = dropped.len();
        drop(dropped);
        releaser.join().unwrap();
        assert_eq!(
            started.load(Ordering::SeqCst) + dropped_count,
            1,
            "the queued child starts or is dropped, exactly once"
        );
        assert!(
            admission.release().is_none(),
            "nothing starts after the close"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The start window moving (a child's first poll) racing a slot handed on (another child's
// end): the queued child starts exactly once, whichever lets it through.

#[test]
fn loom_the_start_window_moving_racing_a_slot_handed_on() {
    loom::model(|| {
        let admission = Arc::new(Admission::new(Some(1)));
        assert!(admission.start().is_empty());
        let first = admission.try_admit().expect("the one slot");
        let started = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&started);
        let queued = Queued::Spawn(
            Arc::new(Ticket::default()),
            Box::new(move |_| {
                s.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert!(
            matches!(admission.arrive(queued, false), Ok(None)),
            "queued"
        );
        let run = |admitted: Vec<Admitted>| {
            for Admitted(q, seq) in admitted {
                if let Queued::Spawn(_, start) = q {
                    start(seq);
                }
            }
        };
        // The first child's first poll ends (its place passes on)...
        let poller = {
            let admission = Arc::clone(&admission);
            thread::spawn(move || run(admission.started(first)))
        };
        // ...while it ends (its slot passes on).
        let ender = {
            let admission = Arc::clone(&admission);
            thread::spawn(move || run(admission.release().into_iter().collect()))
        };
        poller.join().unwrap();
        ender.join().unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 1, "started exactly once");
    });
}

// ---------------------------------------------------------------------------------------------
// A waiting spawning loop (`Scope::reserve`) that gives up while a child's end hands it the
// slot: the slot (and its place in the start window) is passed on exactly once, by whichever
// of the two comes second, so the scope can still admit a child afterwards.

#[test]
fn loom_a_reserve_given_up_racing_the_slot_handed_to_it() {
    use crate::scope::admission::Waiter;

    /// The scope's side of a slot that nobody took: the place starts, the slot is released,
    /// and whatever they let through is answered (here nothing else waits).
    fn pass_on(admission: &Admission, seq: u64) {
        assert!(admission.started(seq).is_empty());
        assert!(admission.claim_reserved(), "the slot is the reservation's");
        assert!(admission.release().is_none());
    }

    loom::model(|| {
        let admission = Arc::new(Admission::new(Some(1)));
        assert!(admission.start().is_empty());
        let first = admission
            .try_admit()
            .expect("the first child takes the one slot");
        assert!(admission.started(first).is_empty());
        let waiter = Arc::new(Waiter::default());
        assert!(
            matches!(admission.reserve(&waiter), Ok(None)),
            "the spawning loop waits"
        );
        // The first child ends: its slot goes to the waiting loop.
        let ender = {
            let admission = Arc::clone(&admission);
            thread::spawn(move || {
                if let Some(Admitted(queued, seq)) = admission.release() {
                    let Queued::Waiter(w) = queued else {
                        unreachable!("only the loop waits")
                    };
                    if !w.answer(true, seq) {
                        pass_on(&admission, seq);
                    }
                }
            })
        };
        // Meanwhile the loop's `Reserve` is dropped.
        if let Some(seq) = admission.give_up(&waiter) {
            pass_on(&admission, seq);
        }
        ender.join().unwrap();
        assert!(
            admission.try_admit().is_some(),
            "the slot was passed on: a new child is admitted"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// A reservation dropped on another thread as the body returns (which gives every reservation's
// slot back): the slot is given back once, by one side or the other, never twice and never
// kept.

#[test]
fn loom_a_reservation_dropped_racing_the_bodys_return() {
    use crate::scope::admission::Waiter;

    loom::model(|| {
        let admission = Arc::new(Admission::new(Some(2)));
        assert!(admission.start().is_empty());
        let first = admission.try_admit().expect("a child takes one slot");
        assert!(admission.started(first).is_empty());
        let waiter = Arc::new(Waiter::default());
        assert!(
            matches!(admission.reserve(&waiter), Ok(Some(_))),
            "the reservation takes the other"
        );
        let dropper = {
            let admission = Arc::clone(&admission);
            thread::spawn(move || {
                // `Reserved::drop`.
                if admission.claim_reserved() {
                    assert!(admission.release().is_none());
                }
            })
        };
        let (waiting, admitted) = admission.end_reservations();
        assert!(waiting.is_empty() && admitted.is_empty());
        dropper.join().unwrap();
        let next = admission
            .try_admit()
            .expect("the reservation's slot was given back");
        assert!(admission.started(next).is_empty());
        assert!(
            admission.try_admit().is_none(),
            "the reservation's slot was given back twice"
        );
        assert!(
            matches!(admission.reserve(&waiter), Err(())),
            "a reservation granted after the body returned"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Two `try_spawn`s at once on a limit of one, before the run (no slot to take yet): one is
// promised the place and queued, the other refused; the run starts the one.

#[test]
fn loom_two_tries_racing_for_one_place_before_the_run() {
    use crate::scope::admission::Room;

    loom::model(|| {
        let admission = Arc::new(Admission::new(Some(1)));
        let accepted = Arc::new(AtomicUsize::new(0));
        let tries: Vec<_> = (0..2)
            .map(|_| {
                let (admission, accepted) = (Arc::clone(&admission), Arc::clone(&accepted));
                thread::spawn(move || match admission.take_room(true) {
                    Ok(Room::Promised) => {
                        // `try_spawn`'s arrival (an in-place child: no future to queue).
                        let arrived = admission.arrive(Queued::InPlace, true);
                        assert!(matches!(arrived, Ok(None)), "queued until the run");
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(room) => panic!("{room:?} before the run"),
                    Err(_) => {}
                })
            })
            .collect();
        for t in tries {
            t.join().unwrap();
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one place, one child");
        assert_eq!(admission.start().len(), 1, "the run starts the one");
    });
}

#[test]
fn loom_a_try_overtaken_by_a_spawn_between_its_look_and_its_arrival() {
    // A try's place before the run is promised at its look; a plain spawn from another
    // thread may arrive before the tried child does. Whatever the interleaving, a tried child
    // told `Ok` is not queued behind a full limit: with `limit(1)` it is the one the run
    // starts; refused, it was for `Full`, and the spawned one starts.
    use crate::error::SpawnError;
    use crate::scope::admission::Room;

    fn named(name: usize, first: &Arc<AtomicUsize>) -> Queued {
        let first = Arc::clone(first);
        Queued::Spawn(
            Arc::new(Ticket::default()),
            Box::new(move |_| first.store(name, Ordering::SeqCst)),
        )
    }
    loom::model(|| {
        let admission = Arc::new(Admission::new(Some(1)));
        let first = Arc::new(AtomicUsize::new(0));
        let tried = {
            let (admission, first) = (Arc::clone(&admission), Arc::clone(&first));
            thread::spawn(move || match admission.take_room(false) {
                Ok(Room::Promised) => match admission.arrive(named(1, &first), true) {
                    Ok(None) => true,
                    Err((_, SpawnError::Full)) => false,
                    Ok(Some(_)) | Err(_) => panic!("admitted or closed before the run"),
                },
                Ok(room) => panic!("{room:?} before the run"),
                Err(e) => {
                    assert_eq!(e, SpawnError::Full);
                    false
                }
            })
        };
        let spawned = {
            let (admission, first) = (Arc::clone(&admission), Arc::clone(&first));
            thread::spawn(move || {
                assert!(matches!(
                    admission.arrive(named(2, &first), false),
                    Ok(None)
                ));
            })
        };
        let accepted = tried.join().unwrap();
        spawned.join().unwrap();
        let mut started = admission.start();
        assert_eq!(started.len(), 1, "one slot");
        let Some(Admitted(Queued::Spawn(_, start), seq)) = started.pop() else {
            panic!("a spawned child starts");
        };
        start(seq);
        let expected = if accepted { 1 } else { 2 };
        assert_eq!(
            first.load(Ordering::SeqCst),
            expected,
            "the run starts the tried child first if it was told `Ok`"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Two runs racing to start one scope, with different policies, while another thread spawns: one
// run wins, the policy is the winner's, and a spawn that sees the scope started settles its
// child under that policy, never under the default.

#[test]
fn loom_a_spawn_that_sees_the_start_sees_the_policy() {
    use crate::scope::outcome::Policy;

    loom::model(|| {
        let owner = root();
        let policy = Arc::new(Policy::new());
        let spawner = {
            let (owner, policy) = (Arc::clone(&owner), Arc::clone(&policy));
            thread::spawn(move || owner.0.is_started().then(|| policy.supervises()))
        };
        let rival = {
            let (owner, policy) = (Arc::clone(&owner), Arc::clone(&policy));
            thread::spawn(move || policy.claim(&owner.0, false, true))
        };
        let supervised = policy.claim(&owner.0, true, true);
        let fail_fast = rival.join().unwrap();
        assert!(supervised != fail_fast, "exactly one run claims the scope");
        assert_eq!(policy.supervises(), supervised, "the winner's policy");
        if let Some(seen) = spawner.join().unwrap() {
            assert_eq!(
                seen, supervised,
                "a started scope's child saw another policy"
            );
        }
    });
}

// A run refused for its configuration claims the scope (a second run is refused as one) but
// never marks it started: a spawn from another thread either is refused by the close or
// waits in admission, which the close empties; it never becomes a task that the refused run,
// returning at once, neither joins nor aborts.

#[test]
fn loom_a_refused_run_starts_nothing_a_racing_spawn_sees() {
    use crate::scope::outcome::Policy;

    loom::model(|| {
        let owner = root();
        let policy = Policy::new();
        let spawner = {
            let owner = Arc::clone(&owner);
            thread::spawn(move || {
                let entered = owner.0.enter().is_ok();
                let started = entered && owner.0.is_started();
                if entered {
                    owner.0.exit();
                }
                started
            })
        };
        // The refused run: it claims the scope without starting it, then closes it.
        assert!(policy.claim(&owner.0, false, false));
        owner.0.close();
        assert!(
            !spawner.join().unwrap(),
            "a refused run's scope let a child start as a task"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// A waiting in-place child stopped (on the run's thread) while a slot frees on another thread
// and is let through to it: either the stop removes the child's own entry and the slot goes
// to the entry after it (the spawning loop waiting), or the child is among those let through
// and holds the slot. Never the entry of the in-place child queued after both: that one would
// take the slot ahead of the loop queued before it (spawn order).

#[test]
fn loom_a_waiting_in_place_child_stopped_as_a_slot_reaches_it() {
    use crate::scope::admission::Waiter;

    loom::model(|| {
        let admission = Arc::new(Admission::new(Some(1)));
        assert!(admission.start().is_empty());
        let first = admission
            .try_admit()
            .expect("the first child takes the slot");
        assert!(admission.started(first).is_empty());
        // Queued in order: in-place child X, a spawning loop, in-place child Y.
        assert!(matches!(admission.arrive(Queued::InPlace, false), Ok(None)));
        let waiter = Arc::new(Waiter::default());
        assert!(matches!(admission.reserve(&waiter), Ok(None)));
        assert!(matches!(admission.arrive(Queued::InPlace, false), Ok(None)));
        // The first child ends on another thread: its slot goes to the first entry.
        let ender = {
            let admission = Arc::clone(&admission);
            thread::spawn(move || match admission.release() {
                Some(Admitted(Queued::InPlace, _)) => "in place",
                Some(Admitted(Queued::Waiter(_), _)) => "loop",
                _ => "other",
            })
        };
        // X (first in the run's local queue, none taken yet) is stopped.
        let stopped = admission.remove_waiting_in_place(0);
        let handed = ender.join().unwrap();
        match (stopped, handed) {
            // X was let through first: it holds the slot (the run stops it as running).
            (None, "in place") => {
                assert_eq!(admission.in_place_admitted.load(Ordering::Relaxed), 1);
            }
            // X's entry went with it: the slot went to the loop, Y still waits.
            (Some(true), "loop") => {
                assert_eq!(admission.in_place_admitted.load(Ordering::Relaxed), 0);
            }
            other => panic!("the slot went out of spawn order: {other:?}"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// A budgeted shield starting in a nested scope while the outer owner's forced abort begins:
// either the shield is refused there (it started after the abort began), or the owner's look
// after its mark sees it and waits, woken by the shield's end, until it has ended. Never an
// abort that goes on while a shield it accepted still runs, and no lost wake-up (a deadlock).

#[test]
fn loom_a_shield_starting_as_the_forced_abort_begins_is_refused_or_waited_for() {
    loom::model(|| {
        let outer = root();
        let inner: Arc<dyn Enclosing> = nested_in(&outer);
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let ended = Arc::new(AtomicBool::new(false));
        let shield = {
            let ended = Arc::clone(&ended);
            thread::spawn(move || {
                let held = Tracker::hold(&inner, until);
                // The clean-up runs, then the shield ends its holds.
                ended.store(true, Ordering::Relaxed);
                for scope in &held {
                    scope.tracker().unhold(until);
                }
                held.len()
            })
        };
        // The outer owner's forced abort: mark, then wait while a shield holds it off.
        outer.0.force();
        loom::future::block_on(poll_fn(|cx| {
            outer.0.register_owner(cx.waker());
            if outer.0.held_until().is_none() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        let waited_for = ended.load(Ordering::Relaxed);
        match shield.join().unwrap() {
            // Held at both levels: the abort went on only after the shield ended.
            2 => assert!(
                waited_for,
                "the abort went on while a shield it accepted ran"
            ),
            // Refused above (it started after the abort began), held by its own scope only.
            1 => {}
            n => panic!("held by {n} scopes"),
        }
        assert_eq!(outer.0.holds(), 0);
    });
}
