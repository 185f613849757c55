//! The contract under races, nesting and misuse: one test per way the laws (DESIGN §2) were
//! found broken from safe code, each named after the law it guards. Time runs on tokio's
//! paused clock where the test is not about threads.

mod common;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use common::{flag, two_workers, AppError, Live};
use scope_runtime::testing::LeakCheck;
use scope_runtime::{Cause, Config, Cx, Interrupted, Scope};
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

/// Runs `f` on a thread and fails the test if it does not finish in time (a deadlock).
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(e) => panic!("{what}: no answer within {secs} s (deadlock or hang): {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Law 1 and law 6: a spawn racing the close from another thread is either refused or joined.

#[test]
fn law1_a_spawn_racing_the_close_is_refused_or_joined() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let mut joined = 0;
    let mut refused = 0;
    for _ in 0..2_000 {
        let live = Arc::new(AtomicUsize::new(0));
        let s: Scope<'_, '_, AppError> = Scope::new(Config::new());
        let barrier = Barrier::new(2);
        let alive_at_end = std::thread::scope(|ts| {
            let racer = ts.spawn(|| {
                let _rt = handle.enter();
                barrier.wait();
                // A large future makes the window between the check and the count wide.
                let l = Live::new(&live);
                #[allow(clippy::large_stack_arrays)] // Reason: a large future is the point.
                let big = [7u8; 64 * 1024];
                let child = s.spawn(async move {
                    let _l = l;
                    std::hint::black_box(&big);
                    Ok::<_, AppError>(())
                });
                child
            });
            let out = rt.block_on(s.run(async {
                barrier.wait();
                Ok::<_, AppError>(())
            }));
            let alive = live.load(Ordering::SeqCst);
            let child = racer.join().unwrap();
            let seen = rt.block_on(child);
            (out, alive, seen)
        });
        let (out, alive, seen) = alive_at_end;
        out.unwrap();
        match seen {
            // Admitted: the scope waited for it, so its future was gone when it resolved.
            Ok(()) => {
                assert_eq!(
                    alive, 0,
                    "the scope resolved while an admitted child was alive"
                );
                joined += 1;
            }
            // Refused: it never ran, and its handle says so.
            Err(Interrupted::NotStarted(_)) => refused += 1,
            Err(other) => panic!("the child's outcome was lost: {other}"),
        }
    }
    assert_eq!(joined + refused, 2_000);
}

// ---------------------------------------------------------------------------------------------
// Law 1: grandchildren never outlive the root, whatever the nesting.

async fn deep_sleeper(live: Arc<AtomicUsize>) -> Result<(), AppError> {
    let _l = Live::new(&live);
    sleep(hours(1)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn law1_a_failing_root_outlives_no_grandchild_of_nested_spawned_scopes() {
    let live = Arc::new(AtomicUsize::new(0));
    let root = &Scope::new(Config::new());
    let out: Result<(), AppError> = root
        .run(async {
            root.spawn(async {
                sleep(ms(10)).await;
                Err::<(), _>(AppError::Boom(1))
            });
            let l1 = &Scope::new(Config::new());
            l1.run(async {
                let l2 = &Scope::new(Config::new());
                l2.run(async {
                    l2.spawn(deep_sleeper(live.clone()));
                    Ok::<_, AppError>(())
                })
                .await
            })
            .await
        })
        .await;
    assert!(matches!(out, Err(AppError::Boom(1))), "{out:?}");
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "a grandchild outlived the root"
    );
}

#[tokio::test(start_paused = true)]
async fn law1_a_failing_root_outlives_no_grandchild_under_in_place_nesting() {
    let live = Arc::new(AtomicUsize::new(0));
    let root = &Scope::new(Config::new());
    let out: Result<(), AppError> = root
        .run(async {
            root.spawn(async {
                sleep(ms(10)).await;
                Err::<(), _>(AppError::Boom(1))
            });
            root.spawn_in_place(async {
                let l1 = &Scope::new(Config::new());
                l1.run(async {
                    l1.spawn_in_place(async {
                        let l2 = &Scope::new(Config::new());
                        l2.run(async {
                            l2.spawn(deep_sleeper(live.clone()));
                            Ok::<_, AppError>(())
                        })
                        .await
                    });
                    Ok::<_, AppError>(())
                })
                .await
            });
            Ok(())
        })
        .await;
    assert!(matches!(out, Err(AppError::Boom(1))), "{out:?}");
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "a grandchild outlived the root"
    );
}

#[test]
fn law1_a_failing_root_outlives_no_grandchild_of_spawned_nesting_on_two_workers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..200 {
        let live = Arc::new(AtomicUsize::new(0));
        let l = live.clone();
        rt.block_on(async move {
            let root = &Scope::new(Config::new());
            let out: Result<(), AppError> = root
                .run(async {
                    root.spawn(async {
                        tokio::task::yield_now().await;
                        Err::<(), _>(AppError::Boom(1))
                    });
                    let live = l.clone();
                    root.spawn(async move {
                        let l1 = &Scope::new(Config::new());
                        l1.run(async {
                            let live = live.clone();
                            l1.spawn(async move {
                                let l2 = &Scope::new(Config::new());
                                l2.run(async {
                                    l2.spawn(deep_sleeper(live.clone()));
                                    Ok::<_, AppError>(())
                                })
                                .await
                            });
                            Ok::<_, AppError>(())
                        })
                        .await
                    });
                    Ok(())
                })
                .await;
            assert!(matches!(out, Err(AppError::Boom(1))), "{out:?}");
            assert_eq!(
                l.load(Ordering::SeqCst),
                0,
                "a grandchild outlived the root"
            );
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Laws 4 and 9: a scope value made inside a body never keeps the enclosing scope waiting.

#[tokio::test(start_paused = true)]
async fn law9_a_scope_value_returned_from_a_body_does_not_keep_the_enclosing_scope_open() {
    let outer = &Scope::new(Config::new().timeout(ms(100)));
    let run = outer.run(async {
        let inner: Scope<'static, 'static, AppError> = Scope::new(Config::new());
        Ok::<_, AppError>(inner)
    });
    let out = tokio::time::timeout(hours(1), run).await;
    let inner = out.expect("the outer scope never resolved").unwrap();
    drop(inner);
}

#[tokio::test(start_paused = true)]
async fn law9_a_scope_in_a_static_does_not_keep_the_enclosing_scope_open() {
    static INNER: OnceLock<Scope<'static, 'static, AppError>> = OnceLock::new();
    let outer = &Scope::new(Config::new().timeout(ms(100)));
    let run = outer.run(async {
        let _ = INNER.get_or_init(|| Scope::new(Config::new()));
        Ok::<_, AppError>(())
    });
    let out = tokio::time::timeout(hours(1), run).await;
    out.expect("the outer scope never resolved").unwrap();
}

#[tokio::test(start_paused = true)]
async fn law9_a_forgotten_scope_value_does_not_keep_the_enclosing_scope_open() {
    let outer = &Scope::new(Config::new().timeout(ms(100)));
    let run = outer.run(async {
        let inner: Scope<'_, '_, AppError> = Scope::new(Config::new());
        std::mem::forget(inner);
        Ok::<_, AppError>(())
    });
    let out = tokio::time::timeout(hours(1), run).await;
    out.expect("the outer scope never resolved").unwrap();
}

#[tokio::test(start_paused = true)]
async fn law9_a_forgotten_nested_run_future_does_not_keep_the_enclosing_scope_open() {
    let outer = &Scope::new(Config::new().timeout(ms(100)));
    let run = outer.run(async {
        let inner = Box::leak(Box::new(Scope::<AppError>::new(Config::new())));
        let mut nested = Box::pin(inner.run(async {
            inner.spawn_in_place(std::future::pending::<()>());
            std::future::pending::<Result<(), AppError>>().await
        }));
        let waker = Waker::noop();
        assert!(nested
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        std::mem::forget(nested);
        Ok::<_, AppError>(())
    });
    let out = tokio::time::timeout(hours(1), run).await;
    out.expect("the outer scope never resolved").unwrap();
}

// ---------------------------------------------------------------------------------------------
// Law 5: a panic in a child's destructor is a panic of that child.

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        // Not while unwinding already (that would abort the test process).
        assert!(std::thread::panicking(), "dropped badly");
    }
}

fn expect_panicked(out: Result<(), AppError>) {
    match out {
        Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
            assert_eq!(p.message(), "dropped badly");
            assert_eq!(p.task().name(), Some("bad-drop"));
        }
        other => panic!("expected the child's panic, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_dropping_an_aborted_in_place_child_is_its_panic_and_siblings_drain() {
    let (sibling, sibling_dropped) = flag();
    let s = &Scope::new(Config::new());
    let run = s.run(async {
        s.spawn_in_place_named("bad-drop", async {
            let _bad = PanicOnDrop;
            std::future::pending::<()>().await;
        });
        s.spawn_in_place(holds_until_dropped(sibling));
        sleep(ms(1)).await;
        s.cancel("stop");
        Ok::<_, AppError>(())
    });
    let out = std::panic::AssertUnwindSafe(run);
    let out = futures_util::FutureExt::catch_unwind(out).await;
    let out = out.expect("the scope's future panicked raw");
    expect_panicked(out);
    assert!(sibling_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_dropping_an_aborted_spawned_child_is_its_panic() {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new());
    let out = s
        .run(async {
            let child = s.spawn_named("bad-drop", async {
                let _bad = PanicOnDrop;
                std::future::pending::<()>().await;
            });
            sleep(ms(1)).await;
            s.cancel("stop");
            let seen = child.await;
            assert!(matches!(seen, Err(Interrupted::Panicked(_))), "{seen:?}");
            Ok::<_, AppError>(())
        })
        .await;
    expect_panicked(out);
    check.assert_clean().await;
}

/// A scope nested in a child of the outer one, whose in-place child `bad-drop` panics as it is
/// dropped; with `panic_first`, a second in-place child panics in its poll first (the nested
/// scope keeps that panic for its end, which never comes when its run is dropped).
async fn nested_with_a_bad_drop(panic_first: bool) -> Result<(), AppError> {
    // A long grace: the body (which never looks) keeps the run going until the outer scope's
    // code drops it, so that no outcome of this scope ever carries the panic. (With none, the
    // outer cancel would reach this scope first: it would end with the panic, returned by the
    // outer scope's child after the outer cancel, as its consequence.)
    let inner = &Scope::new(Config::new().name("inner").grace(ms(3_600_000)));
    inner
        .run(async {
            inner.spawn_in_place_named("bad-drop", async {
                let _bad = PanicOnDrop;
                std::future::pending::<()>().await;
            });
            if panic_first {
                inner.spawn_in_place_named("bad-poll", async {
                    panic!("polled badly");
                });
            }
            std::future::pending::<()>().await;
            Ok::<_, AppError>(())
        })
        .await
}

/// How the outer scope's code drops the nested scope's run (law 5 through a dropped run).
#[derive(Clone, Copy, Debug)]
enum DropsTheRun {
    /// A spawned child that ignores the cancel runs it, aborted after the outer grace.
    SpawnedAborted,
    /// An in-place child runs it, dropped after the outer grace.
    InPlaceAborted,
    /// A spawned child drops it itself (a timeout around it) and returns `Ok`.
    SpawnedTimesOut,
    /// The outer body drops it itself (a timeout around it).
    BodyTimesOut,
}

async fn outer_dropping_a_nested_run(how: DropsTheRun, panic_first: bool) -> Result<(), AppError> {
    let outer = &Scope::new(Config::new().name("outer").grace(ms(5)));
    outer
        .run(async {
            let timed_out = async move {
                let _ = tokio::time::timeout(ms(1), nested_with_a_bad_drop(panic_first)).await;
                Ok::<_, AppError>(())
            };
            match how {
                DropsTheRun::SpawnedAborted => {
                    outer.spawn_named("holder", nested_with_a_bad_drop(panic_first));
                }
                DropsTheRun::InPlaceAborted => {
                    outer.spawn_in_place_named("holder", nested_with_a_bad_drop(panic_first));
                }
                DropsTheRun::SpawnedTimesOut => {
                    outer.spawn_named("holder", timed_out);
                }
                DropsTheRun::BodyTimesOut => timed_out.await?,
            }
            sleep(ms(2)).await;
            outer.cancel("stop");
            Ok::<_, AppError>(())
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_dropping_a_child_of_a_dropped_nested_run_reaches_the_enclosing_scope() {
    for how in [
        DropsTheRun::SpawnedAborted,
        DropsTheRun::InPlaceAborted,
        DropsTheRun::SpawnedTimesOut,
        DropsTheRun::BodyTimesOut,
    ] {
        let check = LeakCheck::new();
        let out = outer_dropping_a_nested_run(how, false).await;
        match out {
            Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
                assert_eq!(p.message(), "dropped badly", "{how:?}");
                assert_eq!(p.task().name(), Some("bad-drop"), "{how:?}");
            }
            other => panic!("{how:?}: expected the grandchild's panic, got {other:?}"),
        }
        check.assert_clean().await;
    }
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_a_dropped_nested_run_had_kept_reaches_the_enclosing_scope() {
    for how in [
        DropsTheRun::SpawnedAborted,
        DropsTheRun::InPlaceAborted,
        DropsTheRun::SpawnedTimesOut,
        DropsTheRun::BodyTimesOut,
    ] {
        let out = outer_dropping_a_nested_run(how, true).await;
        // The first panic is the outer scope's answer (fail-fast keeps the first).
        match out {
            Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
                assert_eq!(p.message(), "polled badly", "{how:?}");
                assert_eq!(p.task().name(), Some("bad-poll"), "{how:?}");
            }
            other => panic!("{how:?}: expected the grandchild's panic, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn law5_a_child_unwinding_through_a_dropped_nested_run_is_reported_with_its_own_panic() {
    // The child's own panic unwinds as it drops the nested run, whose in-place child's
    // destructor panics then: the unwinding panic is the child's, and the one the scope
    // returns (before, the nested panic went up first and took its place).
    struct PanicsEvenInAnUnwind;
    impl Drop for PanicsEvenInAnUnwind {
        fn drop(&mut self) {
            panic!("dropped in the unwind");
        }
    }
    async fn nested() -> Result<(), AppError> {
        let inner = &Scope::new(Config::new().name("inner").grace(ms(3_600_000)));
        inner
            .run(async {
                inner.spawn_in_place_named("bad-drop", async {
                    let _bad = PanicsEvenInAnUnwind;
                    std::future::pending::<()>().await;
                });
                std::future::pending::<()>().await;
                Ok::<_, AppError>(())
            })
            .await
    }
    let outer = &Scope::new(Config::new().name("outer").grace(ms(5)));
    let out = outer
        .run(async {
            outer.spawn_named("holder", async {
                let mut run = Box::pin(nested());
                let _ = tokio::time::timeout(ms(1), &mut run).await;
                panic!("holder panicked");
            });
            Ok::<_, AppError>(())
        })
        .await;
    match out {
        Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
            assert_eq!(p.message(), "holder panicked");
            assert_eq!(p.task().name(), Some("holder"));
        }
        other => panic!("expected the holder's panic, got {other:?}"),
    }
}

/// A child that waits forever, holding `flag` (set when the child's future is dropped).
async fn holds_until_dropped(flag: common::DropFlag) {
    let _flag = flag;
    std::future::pending::<()>().await;
}

/// A child that, once cancelled, takes `cleanup` to clean up while holding `held`, then sets
/// the flag returned beside it (set only by a child that was drained, not aborted).
fn cleans_up_after_cancel(
    held: impl Send + 'static,
    cleanup: Duration,
) -> (impl Future<Output = ()> + Send + 'static, Arc<AtomicBool>) {
    let cleaned = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&cleaned);
    let child = async move {
        let _held = held;
        scope_runtime::cancelled().await;
        sleep(cleanup).await;
        set.store(true, Ordering::SeqCst);
    };
    (child, cleaned)
}

/// A value whose destructor panics (unless a panic is unwinding already).
struct PanicOnDropValue;

impl Drop for PanicOnDropValue {
    fn drop(&mut self) {
        assert!(std::thread::panicking(), "output dropped badly");
    }
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_dropping_an_in_place_childs_unread_output_is_its_panic_and_siblings_drain() {
    let (sibling, sibling_dropped) = flag();
    let s = &Scope::new(Config::new());
    let run = s.run(async {
        s.spawn_in_place(holds_until_dropped(sibling));
        // Its handle is dropped at once: nobody reads the output, which is dropped for it.
        drop(s.spawn_in_place_named("bad-output", async {
            sleep(ms(1)).await;
            Ok::<_, AppError>(PanicOnDropValue)
        }));
        std::future::pending::<Result<(), AppError>>().await
    });
    let out = not_raw(run).await;
    match out {
        Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
            assert_eq!(p.message(), "output dropped badly");
            assert_eq!(p.task().name(), Some("bad-output"));
        }
        other => panic!("expected the child's panic, got {other:?}"),
    }
    assert!(sibling_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_dropping_a_blocking_childs_unread_output_is_its_panic() {
    let s = &Scope::new(Config::new());
    let out = s
        .run(async {
            // Its handle is dropped at once: the output is dropped on the blocking thread.
            drop(s.spawn_blocking(|_| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                Ok::<_, AppError>(PanicOnDropValue)
            }));
            Ok::<_, AppError>(())
        })
        .await;
    match out {
        Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
            assert_eq!(p.message(), "output dropped badly");
        }
        other => panic!("expected the child's panic, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_dropping_a_finished_childs_value_with_its_handle_is_the_childs_panic() {
    // The child has ended and sent its value; the handle (or a `ChildSet` holding its outcome)
    // is dropped unread while the scope runs. Its destructor's panic was swallowed by the
    // handle's drop, and the scope returned `Ok`, while the same handle dropped a moment
    // earlier (before the child's end) made it the child's panic. It is the child's panic
    // either way.
    for way in ["spawned", "in place", "set"] {
        let (sibling, sibling_dropped) = flag();
        let s = &Scope::new(Config::new());
        let out = s
            .run(async {
                s.spawn(async move {
                    let _held = sibling;
                    sleep(Duration::from_secs(3600)).await;
                });
                let child = async {
                    sleep(ms(1)).await;
                    Ok::<_, AppError>(PanicOnDropValue)
                };
                let handle = if way == "in place" {
                    s.spawn_in_place_named("bad-value", child)
                } else {
                    s.spawn_named("bad-value", child)
                };
                sleep(ms(5)).await;
                assert!(handle.is_finished(), "{way}");
                if way == "set" {
                    let mut set = scope_runtime::ChildSet::new();
                    set.push(handle);
                    drop(set);
                } else {
                    drop(handle);
                }
                sleep(Duration::from_secs(3600)).await;
                Ok::<_, AppError>(())
            })
            .await;
        match out {
            Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
                assert_eq!(p.message(), "output dropped badly", "{way}");
                assert_eq!(p.task().name(), Some("bad-value"), "{way}");
            }
            other => panic!("{way}: expected the child's panic, got {other:?}"),
        }
        assert!(sibling_dropped.load(Ordering::SeqCst), "{way}");
    }
}

#[tokio::test(start_paused = true)]
async fn law5_a_panic_dropping_a_childs_value_with_its_handle_after_the_run_reaches_the_dropper() {
    // The scope has reported: the panic has no outcome to join, and is the code's that drops
    // the handle (it was swallowed). A drop while a panic unwinds already still does not
    // abort (`law5_a_handle_dropped_in_an_unwind_...` in behaviour.rs).
    for in_place in [false, true] {
        let s = &Scope::new(Config::new());
        let handle = s
            .run(async {
                let child = async { Ok::<_, AppError>(PanicOnDropValue) };
                let handle = if in_place {
                    s.spawn_in_place(child)
                } else {
                    s.spawn(child)
                };
                while !handle.is_finished() {
                    tokio::task::yield_now().await;
                }
                Ok::<_, AppError>(handle)
            })
            .await
            .expect("the scope completes");
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(handle)));
        let Err(payload) = dropped else {
            panic!("the destructor's panic was lost (in place: {in_place})");
        };
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        assert_eq!(
            message,
            Some("output dropped badly"),
            "in place: {in_place}"
        );
    }
}

#[test]
fn law5_a_handle_dropped_on_another_thread_as_the_run_ends_loses_no_panic() {
    // The handle's drop decides between the child's panic (the run goes on) and the dropper's
    // (the run has ended) under the lock the run's end is marked under: checked without it,
    // a drop could read "running" and record the panic after the report had taken the
    // failures, and the panic was in neither place. Exactly one of the two, every round.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut in_outcome, mut at_dropper) = (0, 0);
    for round in 0..2_000u32 {
        let s = &Scope::new(Config::new());
        let about = &AtomicBool::new(false);
        std::thread::scope(|t| {
            let (tx, rx) = std::sync::mpsc::channel();
            let dropper = t.spawn(move || {
                let handle = rx.recv().unwrap();
                about.store(true, Ordering::SeqCst);
                for _ in 0..round % 64 {
                    std::hint::spin_loop();
                }
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(handle))).is_err()
            });
            let out = rt.block_on(s.run(async {
                let handle = s.spawn(async { Ok::<_, AppError>(PanicOnDropValue) });
                while !handle.is_finished() {
                    tokio::task::yield_now().await;
                }
                tx.send(handle).unwrap();
                // Half the rounds end the run as the other thread is about to drop.
                while round % 2 == 0 && !about.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                Ok::<_, AppError>(())
            }));
            let resumed = dropper.join().unwrap();
            let reported = matches!(out, Err(AppError::Interrupted(Interrupted::Panicked(_))));
            assert!(
                reported != resumed,
                "round {round}: in the outcome: {reported}, at the dropper: {resumed}"
            );
            in_outcome += usize::from(reported);
            at_dropper += usize::from(resumed);
        });
    }
    assert_eq!(in_outcome + at_dropper, 2_000);
}

/// A race's candidate that panics when it is told to stop.
async fn panics_when_cancelled() -> Result<&'static str, AppError> {
    scope_runtime::cancelled().await;
    panic!("loser bug")
}

#[tokio::test(start_paused = true)]
async fn law5_a_losing_candidates_panic_is_not_dropped_for_the_winner() {
    // A race's winner is its answer, but a panic is a bug that must reach the caller: a loser
    // that panics while it stops (spawned or in place) fails the race with that panic.
    for in_place in [false, true] {
        let race = &scope_runtime::Race::new(Config::new().grace(ms(100)));
        let out = race
            .run(async {
                if in_place {
                    race.spawn_in_place_named("loser", panics_when_cancelled());
                } else {
                    race.spawn_named("loser", panics_when_cancelled());
                }
                race.spawn(async {
                    sleep(ms(5)).await;
                    Ok::<_, AppError>("winner")
                });
            })
            .await;
        let failures = out.expect_err("the loser's panic is the race's");
        assert_eq!(failures.len(), 1, "in place: {in_place}: {failures:?}");
        let failure = failures.primary().unwrap();
        assert_eq!(failure.task().name(), Some("loser"));
        match failure.error() {
            AppError::Interrupted(Interrupted::Panicked(p)) => assert_eq!(p.message(), "loser bug"),
            other => panic!("expected the loser's panic, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn law3_a_race_is_answered_by_what_comes_first_a_winner_or_the_bodys_error() {
    // The body fails first: the race fails with it at once, and the candidate is cancelled.
    let race = &scope_runtime::Race::<u8, AppError>::new(Config::new());
    let start = tokio::time::Instant::now();
    let out = race
        .run(async {
            race.spawn(async {
                sleep(hours(1)).await;
                Ok::<u8, AppError>(1)
            });
            Err::<(), _>(AppError::Boom(400))
        })
        .await;
    let failures = out.expect_err("the body's error came first");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(matches!(
        failures.primary().unwrap().error(),
        AppError::Boom(400)
    ));
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the candidate was not waited for"
    );

    // A candidate wins first: the win cancels the body, and what the body returns after it
    // (here an error it made when it saw the cancel) is a consequence, as a loser's is.
    let race = &scope_runtime::Race::<u8, AppError>::new(Config::new().grace(ms(100)));
    let out = race
        .run(async {
            race.spawn(async { Ok::<u8, AppError>(7) });
            scope_runtime::cancelled().await;
            Err::<(), _>(AppError::Boom(499))
        })
        .await;
    assert_eq!(out.expect("the winner came first"), 7);
}

#[tokio::test(start_paused = true)]
async fn law3_a_race_whose_candidates_were_all_stopped_alone_says_so() {
    // Candidates stopped through their handles record no failure of their own; the race still
    // had candidates, and its answer names why none succeeded.
    let race = &scope_runtime::Race::<u8, Interrupted>::new(Config::new());
    let out = race
        .run(async {
            let c = race.spawn(std::future::pending::<Result<u8, Interrupted>>());
            tokio::task::yield_now().await;
            c.abort();
            let _ = c.await;
        })
        .await;
    let failures = out.expect_err("no candidate succeeded");
    assert!(failures.primary().is_some(), "{failures}");
    assert!(
        failures.to_string().contains("stopped"),
        "{failures}: not \"there were no candidates\""
    );
}

#[tokio::test(start_paused = true)]
async fn law3_a_race_whose_body_failed_first_is_not_won_by_a_candidate_ending_in_the_grace() {
    // The body fails while a candidate that does not look at the cancel runs: with a grace,
    // the candidate ends with a value inside it, which is a consequence, not a win.
    let race = &scope_runtime::Race::<u8, AppError>::new(Config::new().grace(ms(100)));
    let out = race
        .run(async {
            race.spawn(async {
                sleep(ms(10)).await;
                Ok::<u8, AppError>(1)
            });
            tokio::task::yield_now().await;
            Err::<(), _>(AppError::Boom(400))
        })
        .await;
    let failures = out.expect_err("the body's error came first: the race fails with it");
    assert!(matches!(
        failures.primary().unwrap().error(),
        AppError::Boom(400)
    ));
}

#[tokio::test(start_paused = true)]
async fn law3_a_race_whose_body_failed_first_is_not_won_by_an_in_place_candidate_it_woke() {
    // An in-place candidate the body woke just before failing is polled before it is stopped.
    let race = &scope_runtime::Race::<u8, AppError>::new(Config::new());
    let out = race
        .run(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
            race.spawn_in_place(async move { Ok::<u8, AppError>(rx.await.unwrap_or(0)) });
            tokio::task::yield_now().await;
            let _ = tx.send(2);
            Err::<(), _>(AppError::Boom(401))
        })
        .await;
    let failures = out.expect_err("the body's error came first: the race fails with it");
    assert!(matches!(
        failures.primary().unwrap().error(),
        AppError::Boom(401)
    ));
}

#[tokio::test(start_paused = true)]
async fn law3_a_race_body_error_after_an_outside_cancel_is_a_consequence_not_an_answer() {
    // The race is cancelled from outside first (its deadline, its own cancel); the body then
    // returns an error, and a candidate that does not look at the cancel ends with a value in
    // the grace. As under fail-fast, an error made after the scope was cancelled is a
    // consequence of that cancel: it does not answer the race, and the value still wins.
    for outside in ["deadline", "cancel"] {
        let config = match outside {
            "deadline" => Config::new().timeout(ms(10)),
            _ => Config::new(),
        };
        let race = &scope_runtime::Race::<u8, AppError>::new(config.grace(ms(100)));
        let out = race
            .run(async {
                race.spawn(async {
                    sleep(ms(20)).await;
                    Ok::<u8, AppError>(1)
                });
                if outside == "cancel" {
                    sleep(ms(1)).await; // the candidate runs
                    race.cancel("stop");
                }
                scope_runtime::cancelled().await;
                Err::<(), _>(AppError::Boom(402))
            })
            .await;
        assert_eq!(out.expect(outside), 1, "{outside}");
    }

    // With no candidate left to answer, the race fails with what cancelled it first.
    let race =
        &scope_runtime::Race::<u8, AppError>::new(Config::new().timeout(ms(10)).grace(ms(100)));
    let out = race
        .run(async {
            race.spawn(async {
                scope_runtime::cancelled().await;
                Err::<u8, AppError>(AppError::Boom(403))
            });
            scope_runtime::cancelled().await;
            Err::<(), _>(AppError::Boom(404))
        })
        .await;
    let failures = out.expect_err("nothing answered the race");
    assert!(
        matches!(
            failures.primary().unwrap().error(),
            AppError::Interrupted(Interrupted::DeadlineExceeded(_))
        ),
        "{failures:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn law3_a_race_whose_body_failed_first_is_not_won_by_a_value_answering_a_cancel_after_it() {
    // The body's error comes first (its scope was not cancelled when it looked), and a cancel
    // from outside lands before the error is kept: a candidate's value answering that cancel
    // came after the body's failure and does not win. The race's first cause was the outside
    // cancel, and the value won, the kept error dropped (`probe139`: 22 runs in 5,000 on two
    // workers, every time with the cancel made where the error is described).
    race_whose_body_failed_as_its_error_is_described_cancels().await;
}

#[test]
fn law3_a_race_whose_body_failed_first_is_not_won_across_workers_while_its_error_is_described() {
    // The same on two workers: the candidate answers the cancel on the other worker while the
    // error's `Display` still runs. The body's failure answers the race when the scope looks at
    // it, before any user code runs (`probe140`: an exchange made after the `Display` let the
    // value win in 100 runs of 100).
    let rt = two_workers();
    for _ in 0..20 {
        rt.block_on(race_whose_body_failed_as_its_error_is_described_cancels());
    }
}

async fn race_whose_body_failed_as_its_error_is_described_cancels() {
    let parent = Cx::root();
    let out = parent
        .clone()
        .run(async {
            let race =
                &scope_runtime::Race::<u8, CancelsWhenShown>::new(Config::new().grace(ms(100)));
            race.run(async {
                race.spawn(async {
                    Cx::current().cancelled().await;
                    Ok::<u8, CancelsWhenShown>(7)
                });
                tokio::task::yield_now().await; // the candidate waits for the cancel
                Err::<(), _>(CancelsWhenShown::MineSlowly(parent.clone()))
            })
            .await
        })
        .await;
    let failures = out.expect_err("the body's error came first: the race fails with it");
    assert!(
        failures
            .iter()
            .any(|f| matches!(f.error(), CancelsWhenShown::MineSlowly(_))),
        "{failures:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Law 5: a user's `on_cancel` callback that panics when the scope cancels its own context (a
// failure, its deadline, its end) is a panic of the scope, not an unwind through the child or
// the run that made the cancel.

/// The outcome of a scope's future, which must not panic raw (a panic of the scope is its
/// outcome, not an unwind out of its future).
async fn not_raw<T>(run: impl Future<Output = T>) -> T {
    futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run))
        .await
        .expect("the scope's future panicked raw")
}

fn callback_panicked(e: &AppError) -> bool {
    matches!(e, AppError::Interrupted(Interrupted::Panicked(p)) if p.message() == "callback")
}

#[tokio::test(start_paused = true)]
async fn law5_a_panicking_cancel_callback_costs_a_failing_spawned_child_nothing() {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new());
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let mut seen = None;
    let out: Result<(), AppError> = s
        .run(async {
            let child = s.spawn_named("failing", async {
                sleep(ms(5)).await;
                Err::<(), _>(AppError::Boom(1))
            });
            seen = Some(child.await);
            Ok(())
        })
        .await;
    // The child's handle reads its own failure (it was cut off before, and read a
    // cancellation caused by itself).
    match seen.expect("the body awaited the child") {
        Err(Interrupted::ChildFailed(f)) => assert_eq!(f.task().name(), Some("failing")),
        other => panic!("expected the child's failure, got {other:?}"),
    }
    // Fail-fast keeps the first failure; the callback's panic came after it.
    assert!(matches!(out, Err(AppError::Boom(1))), "{out:?}");
    check.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn law5_a_panicking_cancel_callback_under_supervision_is_reported_beside_the_failure() {
    let s = &Scope::new(Config::new());
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let out = s
        .run_all(async {
            s.spawn(async {
                sleep(ms(5)).await;
                Err::<(), _>(AppError::Boom(1))
            });
            // The body's own failure cancels the scope under supervision.
            sleep(ms(10)).await;
            Err::<(), _>(AppError::Boom(2))
        })
        .await;
    let failures = out.expect_err("two failures and a panic");
    let errors: Vec<_> = failures.iter().map(scope_runtime::Failure::error).collect();
    assert!(
        errors.iter().any(|e| matches!(e, AppError::Boom(1))),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| matches!(e, AppError::Boom(2))),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| callback_panicked(e)), "{errors:?}");
}

#[tokio::test(start_paused = true)]
async fn law5_a_panicking_cancel_callback_leaves_a_failing_in_place_childs_siblings_to_drain() {
    let (sibling, sibling_dropped) = flag();
    let s = &Scope::new(Config::new());
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let run = s.run(async {
        s.spawn_in_place(holds_until_dropped(sibling));
        let child = s.spawn_in_place(async {
            sleep(ms(5)).await;
            Err::<(), _>(AppError::Boom(1))
        });
        assert!(matches!(child.await, Err(Interrupted::ChildFailed(_))));
        Ok::<_, AppError>(())
    });
    let out = not_raw(run).await;
    assert!(matches!(out, Err(AppError::Boom(1))), "{out:?}");
    assert!(sibling_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn law5_a_cancel_callback_panicking_at_the_deadline_is_the_scopes_panic_after_draining() {
    let check = LeakCheck::new();
    let (child, child_dropped) = flag();
    let s = &Scope::new(Config::new().timeout(ms(5)));
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let run = s.run(async {
        s.spawn(cleans_up_after_cancel(child, ms(1)).0);
        sleep(hours(1)).await;
        Ok::<_, AppError>(())
    });
    let out = not_raw(run).await;
    assert!(out.as_ref().is_err_and(callback_panicked), "{out:?}");
    assert!(child_dropped.load(Ordering::SeqCst));
    check.assert_clean().await;
}

/// The timeout of the scopes whose bodies let it pass unseen: long enough that a loaded
/// machine's stall before the body runs does not pass it first.
const DEADLINE_UNSEEN: Duration = Duration::from_millis(250);

/// How a scope's body, on the real clock, lets its scope's deadline ([`DEADLINE_UNSEEN`])
/// pass unseen: it holds the thread, so that neither the run nor a timer can look first.
fn let_the_deadline_pass_unseen() {
    std::thread::sleep(DEADLINE_UNSEEN + ms(100));
}

#[tokio::test]
async fn law5_a_deadline_callback_panic_first_seen_by_the_bodys_check_is_the_scopes_panic() {
    // The body is the first to look at its scope's passed deadline: firing it runs the
    // callback, whose panic is the scope's (its deadline is no call of the body's), not an
    // unwind through the body out of the scope's future. Before, the same program returned
    // the scope's panic or unwound, by who looked first.
    let s = &Scope::new(Config::new().timeout(DEADLINE_UNSEEN));
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let run = s.run(async {
        let_the_deadline_pass_unseen();
        assert!(scope_runtime::is_cancelled());
        Ok::<_, AppError>(())
    });
    let out = not_raw(run).await;
    assert!(out.as_ref().is_err_and(callback_panicked), "{out:?}");
}

#[tokio::test]
async fn law5_a_deadline_callback_panic_first_seen_by_the_bodys_wait_is_the_scopes_panic() {
    let s = &Scope::new(Config::new().timeout(DEADLINE_UNSEEN));
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let run = s.run(async {
        let_the_deadline_pass_unseen();
        let cause = scope_runtime::cancelled().await;
        assert!(matches!(cause, Cause::DeadlineExceeded { .. }), "{cause:?}");
        Ok::<_, AppError>(())
    });
    let out = not_raw(run).await;
    assert!(out.as_ref().is_err_and(callback_panicked), "{out:?}");
}

#[tokio::test]
async fn law5_a_deadline_callback_panic_first_seen_by_code_handed_the_context_is_the_scopes() {
    // The scope's context handed to code of another library (here a thread), which is the
    // first to look: a query of the context does not throw the scope's callback's panic at
    // it, and the scope reports that panic as its own.
    let s = &Scope::new(Config::new().timeout(DEADLINE_UNSEEN));
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let handed = s.cx().clone();
    let run = s.run(async {
        let_the_deadline_pass_unseen();
        let looked = std::thread::spawn(move || handed.is_cancelled()).join();
        assert!(
            matches!(looked, Ok(true)),
            "the library's check panicked, or did not see the deadline"
        );
        Ok::<_, AppError>(())
    });
    let out = not_raw(run).await;
    assert!(out.as_ref().is_err_and(callback_panicked), "{out:?}");
}

#[tokio::test]
async fn law5_a_deadline_callback_panic_the_scope_ended_before_is_the_lookers_not_lost() {
    // Code handed the context fires the deadline, and the callback is still running when the
    // scope ends (nothing of the scope waits for another library's thread): the scope has
    // reported without it, so the panic goes back to the looker, as outside any scope. (It
    // was kept in the scope after its report, and reached nobody.)
    let s = &Scope::new(Config::new().timeout(DEADLINE_UNSEEN));
    let started = Arc::new(AtomicBool::new(false));
    let in_callback = Arc::clone(&started);
    let _callback = s.cx().on_cancel(move |_| {
        in_callback.store(true, Ordering::SeqCst);
        std::thread::sleep(ms(300));
        panic!("callback")
    });
    let handed = s.cx().clone();
    let mut thread = None;
    let out: Result<(), AppError> = not_raw(s.run(async {
        let_the_deadline_pass_unseen();
        thread = Some(std::thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handed.is_cancelled()))
        }));
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        Ok(())
    }))
    .await;
    let looked = thread
        .expect("the body ran")
        .join()
        .expect("the thread ran");
    let looker_panicked = looked.is_err_and(|p| p.downcast_ref::<&str>() == Some(&"callback"));
    assert!(
        looker_panicked != out.as_ref().is_err_and(callback_panicked),
        "the panic went to exactly one of them: looker {looker_panicked}, scope {out:?}"
    );
}

#[tokio::test]
async fn law5_a_deadline_a_nested_scope_inherits_gives_its_callback_panic_to_the_nested_scope() {
    // The inner scope has no deadline of its own: the outer's reaches it. Its body is the
    // first to look; the callback registered on the inner scope's context is the inner
    // scope's panic, its outcome, which the outer body reads as a value.
    let outer = &Scope::new(Config::new().timeout(DEADLINE_UNSEEN));
    let out: Result<(), AppError> = outer
        .run(async {
            let inner = &Scope::new(Config::new());
            let _callback = inner.cx().on_cancel(|_| panic!("callback"));
            let inner_out: Result<(), AppError> = inner
                .run(async {
                    let_the_deadline_pass_unseen();
                    assert!(scope_runtime::is_cancelled());
                    Ok(())
                })
                .await;
            assert!(
                inner_out.as_ref().is_err_and(callback_panicked),
                "{inner_out:?}"
            );
            Ok(())
        })
        .await;
    // The outer body returned its value: it has the last word, as after any cancel.
    assert!(out.is_ok(), "{out:?}");
}

#[tokio::test]
async fn a_deadline_callback_panic_outside_any_scope_reaches_the_check_that_fired_it() {
    // No scope: the code that looks is the only one to take it (unchanged).
    let cx = Cx::root().child_with_timeout(ms(100));
    let _callback = std::thread::scope(|t| {
        // Registered where no runtime is, so that no alarm fires the deadline.
        t.spawn(|| cx.on_cancel(|_| panic!("callback")))
            .join()
            .unwrap()
    });
    std::thread::sleep(ms(150));
    let looked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cx.is_cancelled()));
    let payload = looked.expect_err("the check that fired the deadline takes the panic");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback"));
    assert!(cx.is_cancelled());
}

#[test]
fn law5_a_cancel_callback_panicking_while_a_dropped_scope_unwinds_does_not_abort() {
    // The scope is dropped while a panic unwinds through its owner; its drop ends its context,
    // which runs the callback, which panics: a second panic in a drop would abort the process.
    let out = std::panic::catch_unwind(|| {
        let s = &Scope::<Interrupted>::new(Config::new());
        let _callback = s.cx().on_cancel(|_| panic!("callback"));
        panic!("first");
    });
    let payload = out.expect_err("the first panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"first"));
}

#[test]
fn law1_a_forgotten_runs_children_are_aborted_even_when_a_cancel_callback_panics() {
    let rt = common::paused();
    let (child, child_dropped) = flag();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let s = &Scope::<Interrupted>::new(Config::new());
            let _callback = s.cx().on_cancel(|_| panic!("callback"));
            let mut run = Box::pin(s.run(async {
                s.spawn(async move {
                    let _f = child;
                    std::future::pending::<()>().await;
                });
                std::future::pending::<Result<(), Interrupted>>().await
            }));
            let polled = run.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert!(polled.is_pending());
            sleep(ms(1)).await;
            std::mem::forget(run);
            // The scope is dropped here: it cancels its context, and the callback panics.
        });
    }));
    assert!(
        dropped.is_err(),
        "the callback's panic reaches whoever dropped the scope"
    );
    rt.block_on(async {
        let check = LeakCheck::new();
        sleep(ms(1)).await;
        assert!(
            child_dropped.load(Ordering::SeqCst),
            "the child was aborted all the same"
        );
        check.assert_clean().await;
    });
}

#[tokio::test(start_paused = true)]
async fn law5_a_cancel_callback_panicking_at_the_scopes_end_is_the_scopes_panic() {
    let s = &Scope::new(Config::new());
    let _callback = s.cx().on_cancel(|_| panic!("callback"));
    let run = s.run(async {
        s.spawn(async { sleep(ms(1)).await });
        Ok::<_, AppError>(())
    });
    let out = not_raw(run).await;
    assert!(out.as_ref().is_err_and(callback_panicked), "{out:?}");
    // The context ended all the same.
    assert!(s.cx().is_cancelled());
}

// ---------------------------------------------------------------------------------------------
// Law 5: an error whose `Display` panics (user code our bookkeeping calls, for the failure's
// message) is a panic of the task whose error it is.

#[derive(Debug)]
enum BadDisplay {
    Bad,
    Interrupted(Interrupted),
}

impl std::fmt::Display for BadDisplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadDisplay::Bad => panic!("display"),
            BadDisplay::Interrupted(i) => write!(f, "{i}"),
        }
    }
}

impl From<Interrupted> for BadDisplay {
    fn from(i: Interrupted) -> Self {
        BadDisplay::Interrupted(i)
    }
}

fn display_panicked(out: &Result<(), BadDisplay>) -> bool {
    matches!(out, Err(BadDisplay::Interrupted(Interrupted::Panicked(p))) if p.message() == "display")
}

#[tokio::test(start_paused = true)]
async fn law5_a_spawned_childs_error_whose_display_panics_is_its_panic() {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new());
    let mut seen = None;
    let out: Result<(), BadDisplay> = s
        .run(async {
            let child = s.spawn(async {
                sleep(ms(1)).await;
                Err::<(), _>(BadDisplay::Bad)
            });
            seen = Some(child.await);
            Ok(())
        })
        .await;
    // Before, the handle read "aborted" and the scope returned Ok(()).
    assert!(
        matches!(seen, Some(Err(Interrupted::Panicked(_)))),
        "{seen:?}"
    );
    assert!(display_panicked(&out), "{out:?}");
    check.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn law5_an_in_place_childs_error_whose_display_panics_is_its_panic_and_siblings_drain() {
    let (sibling, sibling_dropped) = flag();
    let s = &Scope::new(Config::new());
    let run = s.run(async {
        s.spawn_in_place(holds_until_dropped(sibling));
        let child = s.spawn_in_place(async {
            sleep(ms(1)).await;
            Err::<(), _>(BadDisplay::Bad)
        });
        assert!(matches!(child.await, Err(Interrupted::Panicked(_))));
        Ok::<_, BadDisplay>(())
    });
    let out = not_raw(run).await;
    assert!(display_panicked(&out), "{out:?}");
    assert!(sibling_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn law5_a_body_error_whose_display_panics_is_the_bodys_panic_after_draining() {
    let (child, child_dropped) = flag();
    let s = &Scope::new(Config::new().grace(ms(10)));
    let (child_fut, cleaned) = cleans_up_after_cancel(child, ms(2));
    let run = s.run(async {
        s.spawn(child_fut);
        sleep(ms(1)).await;
        Err::<(), _>(BadDisplay::Bad)
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    // The body's panic resumes once the children have drained, as for any panic of the body:
    // the sibling finished its clean-up (within the grace), not aborted.
    let payload = out.expect_err("the body's panic is resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"display"));
    assert!(
        cleaned.load(Ordering::SeqCst),
        "the sibling drained before the panic resumed"
    );
    assert!(child_dropped.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// Law 5: an error type whose `From<Interrupted>` panics (user code: an `unreachable!()` for
// "never interrupted") cannot lose a child's panic nor cut the drain short. The scope converts
// a child's panic into `E` only when it reports, after every child has drained; a panic there
// is the scope's future's, as any panic in the caller's own code would be.

#[derive(Debug)]
struct NeverInterrupted;

impl std::fmt::Display for NeverInterrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl From<Interrupted> for NeverInterrupted {
    fn from(_: Interrupted) -> Self {
        panic!("from")
    }
}

async fn panics_after(delay: Duration) {
    sleep(delay).await;
    panic!("child")
}

#[tokio::test(start_paused = true)]
async fn law5_a_panicking_from_for_an_in_place_childs_panic_comes_after_the_drain() {
    let (sibling, cleaned) = cleans_up_after_cancel((), ms(2));
    let s = &Scope::new(Config::new().grace(ms(10)));
    let mut seen = None;
    let run = s.run(async {
        s.spawn(sibling);
        let child = s.spawn_in_place(panics_after(ms(1)));
        seen = Some(child.await);
        Ok::<(), NeverInterrupted>(())
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let payload = out.expect_err("no `NeverInterrupted` can say the child panicked");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"from"));
    // Before, the scope's future panicked in the middle of the child's bookkeeping: the
    // spawned sibling was aborted, not drained.
    assert!(
        cleaned.load(Ordering::SeqCst),
        "the sibling was not drained"
    );
    let seen: Result<(), Interrupted> = seen.expect("the body saw the child's outcome");
    assert!(matches!(seen, Err(Interrupted::Panicked(_))), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn law5_a_panicking_from_for_a_spawned_childs_panic_does_not_lose_it() {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new());
    let mut seen = None;
    let run = s.run(async {
        let child = s.spawn(panics_after(ms(1)));
        seen = Some(child.await);
        Ok::<(), NeverInterrupted>(())
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    // Before, the child's task panicked again inside its bookkeeping: its handle read
    // "aborted" and the scope returned `Ok(())`, the child's panic lost.
    let seen: Result<(), Interrupted> = seen.expect("the body saw the child's outcome");
    assert!(matches!(seen, Err(Interrupted::Panicked(_))), "{seen:?}");
    let payload = out.expect_err("no `NeverInterrupted` can say the child panicked");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"from"));
    check.assert_clean().await;
}

// ---------------------------------------------------------------------------------------------
// Law 9: a cancel reaches every waiter and descendant even when one waker panics (a waker is
// user code); the panic goes to whoever cancelled, after everyone was served.

struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker");
    }
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn law9_a_panicking_waker_does_not_keep_a_cancel_from_the_others() {
    let cx = Cx::root();
    let child = cx.child();
    let bad = Waker::from(Arc::new(PanickingWaker));
    let good = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let good_waker = Waker::from(Arc::clone(&good));
    let mut first = Box::pin(cx.cancelled());
    let mut second = Box::pin(cx.cancelled());
    let mut below = Box::pin(child.cancelled());
    assert!(first
        .as_mut()
        .poll(&mut Context::from_waker(&bad))
        .is_pending());
    assert!(second
        .as_mut()
        .poll(&mut Context::from_waker(&good_waker))
        .is_pending());
    assert!(below
        .as_mut()
        .poll(&mut Context::from_waker(&good_waker))
        .is_pending());
    let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cx.cancel("stop")));
    assert!(
        cancelled.is_err(),
        "the waker's panic goes to the canceller"
    );
    assert_eq!(
        good.0.load(Ordering::SeqCst),
        2,
        "the other waiter and the child's were woken"
    );
    assert!(child.is_cancelled());
    let mut noop = Context::from_waker(Waker::noop());
    assert!(second.as_mut().poll(&mut noop).is_ready());
    assert!(below.as_mut().poll(&mut noop).is_ready());
}

// ---------------------------------------------------------------------------------------------
// Law 1: deep in-place nesting polls, cancels and drops within a small stack.

/// A chain of `depth` nested in-place scopes whose leaf sets `leaf` and waits for good; with
/// `spawned`, the leaf first spawns a child (counted there while its future is alive) that
/// never ends on its own: the first unit of live work below `depth` scopes with none of their
/// own.
fn nest(
    depth: usize,
    leaf: Arc<AtomicBool>,
    spawned: Option<Arc<AtomicUsize>>,
) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>> {
    Box::pin(async move {
        let s = &Scope::new(Config::new());
        s.run(async {
            if depth == 0 {
                if let Some(live) = &spawned {
                    let l = Live::new(live);
                    s.spawn(async move {
                        let _l = l;
                        std::future::pending::<Result<(), AppError>>().await
                    });
                }
                leaf.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Ok(())
            } else {
                s.spawn_in_place(nest(depth - 1, leaf.clone(), spawned.clone()))
                    .await?;
                Ok(())
            }
        })
        .await
    })
}

/// Runs the future `body` makes on a thread with a 2 MiB stack, in a current-thread runtime on
/// the paused clock: whether it completed (a panic in it is `false`; an overflow of the stack
/// aborts the test process).
fn on_a_2mib_stack<F: Future<Output = ()>>(body: impl FnOnce() -> F + Send + 'static) -> bool {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap()
                .block_on(body());
        })
        .unwrap()
        .join()
        .is_ok()
}

/// Levels that must fit in a 2 MiB stack: 1,000 in a release build (DESIGN §9); the debug
/// build's frames are several times larger, so it checks a proportional depth.
const DEEP: usize = if cfg!(debug_assertions) { 250 } else { 1_000 };

#[test]
fn law1_deep_in_place_nesting_polls_cancels_and_drops_on_a_2mib_stack() {
    let done = on_a_2mib_stack(|| async {
        // Cancelled at the root: with a grace, the chain unwinds level by level and
        // the body sees it end; without one, the chain is dropped at once, and the
        // body's last poll reads its end and returns. (It was dropped, and the scope
        // returned the cancel, while the chain's cancel used up tokio's cooperative
        // budget for the poll: its read of the chain's handle was pending then.)
        for grace in [Duration::from_secs(3600), Duration::ZERO] {
            let leaf = Arc::new(AtomicBool::new(false));
            let root = &Scope::new(Config::new().grace(grace));
            let mut seen = None;
            let run = root.run(async {
                let chain = root.spawn_in_place(nest(DEEP, leaf.clone(), None));
                while !leaf.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                root.cancel("unwind the chain");
                seen = Some(chain.await.is_err());
                Ok::<_, AppError>(())
            });
            run.await.unwrap();
            assert_eq!(seen, Some(true), "the body saw the chain end, cancelled");
        }
        // And dropped part-way, without a cancel first.
        let leaf = Arc::new(AtomicBool::new(false));
        let mut chain = nest(DEEP, leaf.clone(), None);
        let waker = Waker::noop();
        assert!(chain
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        assert!(leaf.load(Ordering::SeqCst));
        drop(chain);
    });
    assert!(done, "deep in-place nesting failed on a 2 MiB stack");
}

/// A spawn at the bottom of a deep chain of scopes with no work of their own is a unit of
/// every scope above it (each holds one of the next one up while it has work): it fits a
/// 2 MiB stack, and the root's run resolves only once the child's future is dropped.
#[test]
fn law1_a_spawn_below_a_deep_chain_of_idle_scopes_is_waited_for_on_a_2mib_stack() {
    let done = on_a_2mib_stack(|| async {
        for grace in [Duration::from_secs(1), Duration::ZERO] {
            let (leaf, live) = (Arc::new(AtomicBool::new(false)), Arc::default());
            let root = &Scope::new(Config::new().grace(grace));
            let run = root.run(async {
                let chain = root.spawn_in_place(nest(DEEP, leaf.clone(), Some(Arc::clone(&live))));
                while !leaf.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                assert_eq!(live.load(Ordering::SeqCst), 1, "the child is running");
                root.cancel("unwind the chain");
                let _ = chain.await;
                Ok::<_, AppError>(())
            });
            let _ = run.await;
            assert_eq!(
                live.load(Ordering::SeqCst),
                0,
                "the root resolved with the child below alive"
            );
        }
    });
    assert!(done, "a spawn below a deep chain failed on a 2 MiB stack");
}

/// A value bound on each level of the spawned chain: counts the levels' scopes alive.
static LEVEL: scope_runtime::Slot<Live> = scope_runtime::Slot::new("LEVEL");

/// What the spawned chain's levels count, and how its innermost child is let go.
#[derive(Clone)]
struct Chain {
    /// The levels' futures alive.
    futures: Arc<AtomicUsize>,
    /// The levels' scopes alive (their bound value).
    scopes: Arc<AtomicUsize>,
    started: std::sync::mpsc::Sender<()>,
    release: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
}

/// A level of a chain of nested scopes, each entered in a spawned child of the one above; the
/// innermost holds a blocking child (which no abort stops) until `chain.release` sends.
fn spawned_level(
    depth: usize,
    chain: Chain,
) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>> {
    Box::pin(async move {
        let _alive = Live::new(&chain.futures);
        let s = &Scope::new(Config::new().bind(&LEVEL, Live::new(&chain.scopes)));
        s.run(async move {
            if depth == 0 {
                s.spawn_blocking(move |_| {
                    let _ = chain.started.send(());
                    let _ = chain.release.lock().unwrap().recv();
                    Ok::<_, AppError>(())
                });
            } else {
                s.spawn(spawned_level(depth - 1, chain));
            }
            std::future::pending::<Result<(), AppError>>().await
        })
        .await
    })
}

/// A chain of nested spawned scopes aborted from the top while its innermost child runs on
/// (a blocking one): every level's future is dropped, and each level's scope is held only by
/// the level below it. When the innermost child ends, the whole chain is let go at once, on
/// a thread with a small stack: in a loop, not in a recursion as deep as the chain (which
/// overflowed it and aborted the test process).
#[test]
fn law1_a_deep_chain_of_aborted_spawned_scopes_is_let_go_on_a_small_stack() {
    let futures = Arc::new(AtomicUsize::new(0));
    let scopes = Arc::new(AtomicUsize::new(0));
    let counts = (futures.clone(), scopes.clone());
    let done = std::thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(256 << 10)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (started, leaf) = std::sync::mpsc::channel();
                let (release, released) = std::sync::mpsc::channel();
                let chain = Chain {
                    futures: counts.0.clone(),
                    scopes: counts.1.clone(),
                    started,
                    release: Arc::new(std::sync::Mutex::new(released)),
                };
                let root = &Scope::new(Config::new());
                root.run(async {
                    let top = root.spawn(spawned_level(DEEP_SPAWNED, chain));
                    tokio::task::spawn_blocking(move || {
                        leaf.recv_timeout(Duration::from_secs(60))
                            .expect("the chain reached its innermost child");
                    })
                    .await
                    .unwrap();
                    top.abort();
                    // Every level's future is dropped (no grace); every level's scope is
                    // still held, by the level below, down to the blocking child.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                    while counts.0.load(Ordering::SeqCst) > 0 {
                        assert!(tokio::time::Instant::now() < deadline, "the abort stalled");
                        sleep(Duration::from_millis(1)).await;
                    }
                    assert_eq!(counts.1.load(Ordering::SeqCst), DEEP_SPAWNED + 1);
                    release.send(()).unwrap();
                    Ok::<_, AppError>(())
                })
                .await
                .unwrap();
            });
        })
        .unwrap()
        .join();
    assert!(done.is_ok(), "the chain's set-up or abort failed");
    assert_eq!(scopes.load(Ordering::SeqCst), 0, "every level was let go");
}

/// Levels of the spawned chain: deep enough that a recursion per level overflows 256 KiB.
const DEEP_SPAWNED: usize = 2_000;

// ---------------------------------------------------------------------------------------------
// No user code under the scope's locks: a user's `From`, `Drop` and waker may re-enter.

static REENTER: OnceLock<&'static Scope<'static, 'static, Reentrant>> = OnceLock::new();

#[derive(Debug)]
struct Reentrant(#[allow(dead_code)] Interrupted);

impl std::fmt::Display for Reentrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reentrant")
    }
}

impl From<Interrupted> for Reentrant {
    fn from(i: Interrupted) -> Self {
        if let Some(s) = REENTER.get() {
            // Re-enters the scope from inside its own error conversion.
            let _ = s.is_closed();
            drop(s.spawn(async {}));
            drop(s.spawn_in_place(async {}));
            let _ = s.cancel("from inside From");
        }
        Reentrant(i)
    }
}

#[test]
fn law6_user_code_may_re_enter_the_scope_from_from_drop_and_wake() {
    within(20, "re-entrant user code", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s: &'static Scope<'static, 'static, Reentrant> =
            Box::leak(Box::new(Scope::new(Config::new())));
        let _ = REENTER.set(s);
        rt.block_on(async {
            struct SpawnOnDrop;
            impl Drop for SpawnOnDrop {
                fn drop(&mut self) {
                    if let Some(s) = REENTER.get() {
                        drop(s.spawn_in_place(async {}));
                        drop(s.spawn(async {}));
                    }
                }
            }
            let out = s
                .run(async {
                    s.spawn_in_place(async {
                        let _d = SpawnOnDrop;
                        std::future::pending::<()>().await;
                    });
                    s.spawn(async {
                        tokio::task::yield_now().await;
                        // The failure that makes the scope convert through the re-entrant
                        // `From` (a panic, kept as the scope's outcome).
                        panic!("the child's panic, converted by a re-entrant From");
                    });
                    std::future::pending::<Result<(), Reentrant>>().await
                })
                .await;
            assert!(out.is_err());
        });
    });
}

#[test]
fn law6_a_scopes_debug_output_may_re_enter_the_scope() {
    // (An outside auditor's find: the scope's `Debug` held its admission lock while the
    // user's `fmt::Write` ran, and a writer that reserved a slot deadlocked.)
    within(20, "re-entrant Debug writer", || {
        struct Reserving(&'static Scope<'static, 'static, AppError>, usize, String);
        impl fmt::Write for Reserving {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                if self.0.try_reserve().is_ok() {
                    self.1 += 1;
                }
                self.2.push_str(text);
                Ok(())
            }
        }
        let s: &'static Scope<'static, 'static, AppError> =
            Box::leak(Box::new(Scope::new(Config::new().limit(2))));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let w = rt.block_on(s.run(async {
            let mut w = Reserving(s, 0, String::new());
            fmt::write(&mut w, format_args!("{s:?}")).unwrap();
            Ok(w)
        }));
        let w = w.unwrap();
        assert!(w.1 > 0, "the writer reserved a slot");
        assert!(w.2.contains("limit: Some(2)"), "{}", w.2);
    });
}

struct ReenteringWaker {
    scope: &'static Scope<'static, 'static, AppError>,
    woken: AtomicUsize,
}

impl Wake for ReenteringWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.fetch_add(1, Ordering::SeqCst);
        // A user executor whose wake-up spawns into the scope it is waking.
        drop(self.scope.spawn_in_place(async {}));
    }
}

#[test]
fn law6_a_waker_may_re_enter_the_scope_it_wakes() {
    within(20, "re-entrant waker", || {
        let s: &'static Scope<'static, 'static, AppError> =
            Box::leak(Box::new(Scope::new(Config::new())));
        let waker = Arc::new(ReenteringWaker {
            scope: s,
            woken: AtomicUsize::new(0),
        });
        let w = Waker::from(waker.clone());
        let mut cx = Context::from_waker(&w);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut run = Box::pin(s.run(async move {
            // Each wake-up of the run spawns another in-place child, until this resolves.
            let _ = rx.await;
            Ok::<_, AppError>(())
        }));
        assert!(run.as_mut().poll(&mut cx).is_pending());
        drop(s.spawn_in_place(async {}));
        assert!(run.as_mut().poll(&mut cx).is_pending());
        tx.send(()).unwrap();
        for _ in 0..10 {
            if run.as_mut().poll(&mut cx).is_ready() {
                assert!(waker.woken.load(Ordering::SeqCst) > 0);
                return;
            }
        }
        panic!("the scope did not finish");
    });
}

// ---------------------------------------------------------------------------------------------
// Law 9 for one child: cancelled alone, it gets the grace and is then aborted.

#[tokio::test(start_paused = true)]
async fn law9_a_child_cancelled_alone_is_aborted_after_the_grace() {
    let (stubborn, stubborn_dropped) = flag();
    let start = tokio::time::Instant::now();
    let s = &Scope::new(Config::new().grace(ms(50)));
    let out = s
        .run(async {
            let child = s.spawn(async move {
                let _f = stubborn;
                sleep(hours(1)).await; // never looks at its context
                Ok::<_, AppError>(1)
            });
            tokio::task::yield_now().await;
            assert!(child.cancel("not needed"));
            let seen = child.await;
            let Err(Interrupted::Cancelled(c)) = seen else {
                panic!("{seen:?}")
            };
            assert_eq!(c.cause(), &Cause::explicit("not needed"));
            Ok::<_, AppError>(start.elapsed())
        })
        .await;
    let waited = out.unwrap();
    assert_eq!(
        waited,
        ms(50),
        "aborted once the grace ran out, not before or after"
    );
    assert!(stubborn_dropped.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// Law 1: a scope that is never run starts nothing.

#[tokio::test(start_paused = true)]
async fn law1_a_scope_never_run_never_starts_its_children() {
    let check = LeakCheck::new();
    let started = Arc::new(AtomicBool::new(false));
    let s: &'static Scope<'static, 'static, AppError> =
        Box::leak(Box::new(Scope::new(Config::new())));
    let st = started.clone();
    let child = s.spawn(async move {
        st.store(true, Ordering::SeqCst);
        sleep(hours(1)).await;
    });
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    sleep(ms(10)).await;
    assert!(
        !started.load(Ordering::SeqCst),
        "a child of a scope never run started"
    );
    assert!(!child.is_finished());
    check.assert_clean().await;
}

// ---------------------------------------------------------------------------------------------
// Law 6: a finished scope's context has ended, with a cause that is not an error.

#[tokio::test(start_paused = true)]
async fn law6_a_finished_scope_ends_its_context_and_wakes_its_watchers() {
    let s = &Scope::new(Config::new().name("batch"));
    let watcher = s.cx().clone().cancelled_owned();
    let watch = tokio::spawn(watcher);
    let out = s.run(async { Ok::<_, AppError>(7) }).await;
    assert_eq!(out.unwrap(), 7);
    assert!(
        s.cx().is_cancelled(),
        "the finished scope's context has not ended"
    );
    let cause = tokio::time::timeout(ms(10), watch)
        .await
        .expect("the watcher never woke")
        .unwrap();
    assert_eq!(cause.to_string(), "scope `batch` finished");
}

/// Nobody listens when the scope ends (its cause is kept in the node, not allocated): a clone
/// that outlives the scope still reads the whole cause, and a watcher that comes later wakes.
#[tokio::test(start_paused = true)]
async fn law6_a_finished_scopes_cause_read_later_through_a_clone_names_the_scope() {
    let kept = {
        let s = &Scope::new(Config::new().name("batch"));
        let kept = s.cx().clone();
        let out = s.run(async { Ok::<_, AppError>(7) }).await;
        assert_eq!(out.unwrap(), 7);
        kept
    }; // the scope is gone
    assert!(kept.is_cancelled());
    let cause = kept.cause().expect("the context has ended");
    assert!(cause.is_finished(), "{cause}");
    assert_eq!(cause.to_string(), "scope `batch` finished");
    let late = tokio::time::timeout(ms(10), kept.cancelled())
        .await
        .expect("a late watcher wakes at once");
    assert_eq!(late, cause);
    // A child made from it afterwards starts cancelled, as the scope's descendant.
    let child = kept.child();
    assert_eq!(
        child.cause().map(|c| c.root().to_string()).as_deref(),
        Some("scope `batch` finished")
    );
}

// ---------------------------------------------------------------------------------------------
// Law 9 for one child: it can also be aborted at once, as `JoinHandle::abort` does.

#[tokio::test(start_paused = true)]
async fn law9_a_child_can_be_aborted_at_once_of_either_kind() {
    let (spawned, spawned_dropped) = flag();
    let (in_place, in_place_dropped) = flag();
    let start = tokio::time::Instant::now();
    let s = &Scope::new(Config::new().grace(hours(1)));
    let started = Arc::new(AtomicUsize::new(0));
    let (sa, sb) = (started.clone(), started.clone());
    let out = s
        .run(async {
            let a = s.spawn(async move {
                let _f = spawned;
                sa.fetch_add(1, Ordering::SeqCst);
                sleep(hours(2)).await;
                Ok::<_, AppError>(1)
            });
            let b = s.spawn_in_place(async move {
                let _f = in_place;
                sb.fetch_add(1, Ordering::SeqCst);
                sleep(hours(2)).await;
                Ok::<_, AppError>(2)
            });
            // Both are running (a child aborted before it starts never runs: law 9's
            // `NotStarted`).
            while started.load(Ordering::SeqCst) < 2 {
                tokio::task::yield_now().await;
            }
            a.abort();
            b.abort();
            for seen in [a.await, b.await] {
                let Err(Interrupted::Cancelled(c)) = seen else {
                    panic!("{seen:?}")
                };
                assert_eq!(c.cause(), &Cause::explicit("aborted"));
            }
            Ok::<_, AppError>(start.elapsed())
        })
        .await;
    assert_eq!(
        out.unwrap(),
        Duration::ZERO,
        "aborted at once, not after the grace"
    );
    assert!(spawned_dropped.load(Ordering::SeqCst));
    assert!(in_place_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn law9_cancelling_a_finished_child_does_nothing_and_says_so() {
    let s = &Scope::new(Config::new());
    let out = s
        .run(async {
            let spawned = s.spawn(async { Ok::<_, AppError>(3) });
            let in_place = s.spawn_in_place(async { Ok::<_, AppError>(4) });
            while !(spawned.is_finished() && in_place.is_finished()) {
                tokio::task::yield_now().await;
            }
            // Before, each cancel reported `true` (it made the finished child a context, only
            // to cancel it).
            assert!(
                !spawned.cancel("too late"),
                "the spawned child had finished"
            );
            assert!(
                !in_place.cancel("too late"),
                "the in-place child had finished"
            );
            spawned.abort();
            in_place.abort();
            let values = (spawned.await?, in_place.await?);
            // A set counts only the children it did cancel.
            let mut set = scope_runtime::ChildSet::new();
            let done = s.spawn(async { Ok::<_, AppError>(5) });
            while !done.is_finished() {
                tokio::task::yield_now().await;
            }
            set.push(done);
            set.push(s.spawn(std::future::pending::<Result<i32, AppError>>()));
            tokio::task::yield_now().await;
            assert_eq!(set.cancel_all("enough"), 1, "only the running child");
            while set.join_next().await.is_some() {}
            Ok::<_, AppError>(values)
        })
        .await;
    assert_eq!(out.unwrap(), (3, 4), "a finished child keeps its value");
}

// ---------------------------------------------------------------------------------------------
// Law 1: a child that never returns (its output is `!`) is a child like any other.

#[tokio::test(start_paused = true)]
async fn law1_a_child_that_never_returns_is_a_child_like_any_other() {
    let s = &Scope::new(Config::new());
    let out = s
        .run(async {
            let server = s.spawn(async {
                loop {
                    sleep(ms(10)).await;
                }
            });
            let in_place = s.spawn_in_place(async {
                loop {
                    sleep(ms(10)).await;
                }
            });
            let crasher = s.spawn_named("crasher", async {
                sleep(ms(25)).await;
                panic!("the server loop broke");
            });
            let seen = crasher.await;
            assert!(matches!(seen, Err(Interrupted::Panicked(_))), "{seen:?}");
            assert!(server.await.is_err());
            assert!(in_place.await.is_err());
            Ok::<_, AppError>(())
        })
        .await;
    // The panic cancelled the loops and is the scope's outcome.
    assert!(
        matches!(out, Err(AppError::Interrupted(Interrupted::Panicked(_)))),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Law 3: the policy is chosen once, by the method that runs the scope.

#[tokio::test(start_paused = true)]
async fn law3_the_method_is_the_policy_run_all_supervises_and_run_fails_fast() {
    // Reason: a scope's body is a future, whether or not it awaits.
    #[allow(clippy::unused_async)]
    async fn two_failures<'s>(s: &'s Scope<'s, '_, AppError>) -> Result<(), AppError> {
        s.spawn_named("a", async {
            sleep(ms(1)).await;
            Err::<(), _>(AppError::Boom(1))
        });
        s.spawn_named("b", async {
            sleep(ms(2)).await;
            Err::<(), _>(AppError::Boom(2))
        });
        Ok(())
    }
    let supervised = &Scope::new(Config::new());
    let all = supervised.run_all(two_failures(supervised)).await;
    let failures = all.unwrap_err();
    assert_eq!(failures.len(), 2, "run_all keeps every failure");
    let fail_fast = &Scope::new(Config::new());
    let first = fail_fast.run(two_failures(fail_fast)).await;
    assert!(matches!(first, Err(AppError::Boom(1))), "{first:?}");
}

/// What `run`'s and `run_all`'s docs say of the body's error: one returned after an outside
/// cancel is that cancel's consequence (the result is the cancellation; the scope cannot tell
/// it from the interruption handed on with `?`), one returned before it is the first failure.
#[tokio::test(start_paused = true)]
async fn law3_an_error_the_body_returns_after_an_outside_cancel_is_its_consequence() {
    // Reason: a scope's body is a future, whether or not it awaits.
    #[allow(clippy::unused_async)]
    async fn cancel_then_fail<'s>(s: &'s Scope<'s, '_, AppError>) -> Result<(), AppError> {
        s.cancel("outside");
        Err(AppError::Boom(1))
    }
    let s = &Scope::new(Config::new());
    let out = s.run(cancel_then_fail(s)).await;
    let cancelled = out.unwrap_err();
    assert!(
        matches!(cancelled.interrupted(), Some(Interrupted::Cancelled(_))),
        "{cancelled:?}"
    );
    let s = &Scope::new(Config::new());
    let failures = s.run_all(cancel_then_fail(s)).await.unwrap_err();
    assert!(
        failures
            .iter()
            .all(|f| matches!(f.error().interrupted(), Some(Interrupted::Cancelled(_)))),
        "{failures:?}"
    );
    // Before the cancel, it is the failure, and stays.
    let s = &Scope::new(Config::new());
    let out = s
        .run(async {
            s.spawn(async {
                sleep(ms(10)).await;
                Ok::<_, AppError>(())
            });
            Err::<(), _>(AppError::Boom(2))
        })
        .await;
    assert!(matches!(out, Err(AppError::Boom(2))), "{out:?}");
}

/// An error whose `Display` cancels the scope it fails (user code: the scope formats the
/// error to name it in its siblings' cause).
#[derive(Debug)]
enum CancelsWhenShown {
    Mine(Cx),
    /// Cancels from another thread, as a cancel from outside landing there would, then takes
    /// 5 ms (a slow formatter), in which another worker may run what the cancel woke.
    MineSlowly(Cx),
    Interrupted(Interrupted),
}

impl std::fmt::Display for CancelsWhenShown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Mine(cx) => {
                cx.cancel("cancelled while the error was shown");
                f.write_str("mine")
            }
            Self::MineSlowly(cx) => {
                let cx = cx.clone();
                std::thread::spawn(move || cx.cancel("outside, as the body's error is kept"))
                    .join()
                    .unwrap();
                std::thread::sleep(ms(5));
                f.write_str("mine, slowly")
            }
            Self::Interrupted(i) => write!(f, "{i}"),
        }
    }
}

impl From<Interrupted> for CancelsWhenShown {
    fn from(i: Interrupted) -> Self {
        Self::Interrupted(i)
    }
}

/// Law 3 with user code in the failure's path: the first failure is the one a task returned
/// before any cancel, even when describing it (its `Display`, called by the scope) cancels the
/// scope. The failure was read as that cancel's consequence and dropped: a spawned child's or
/// an in-place child's error left the scope `Ok(())`, the body's own error became the cancel.
#[tokio::test(start_paused = true)]
async fn law3_a_failure_whose_display_cancels_the_scope_is_still_the_first_failure() {
    for kind in ["spawned", "in place", "body"] {
        let s = &Scope::new(Config::new());
        let cx = s.cx().clone();
        let out = s
            .run(async {
                let failing = async move { Err::<(), _>(CancelsWhenShown::Mine(cx)) };
                match kind {
                    "spawned" => {
                        let _ = s.spawn(failing).await;
                    }
                    "in place" => {
                        let _ = s.spawn_in_place(failing).await;
                    }
                    _ => failing.await?,
                }
                Ok::<_, CancelsWhenShown>(())
            })
            .await;
        assert!(
            matches!(out, Err(CancelsWhenShown::Mine(_))),
            "{kind}: {out:?}"
        );
    }
    // Supervised, the body's own error is kept the same way (beside the cancel its `Display`
    // made, which the scope reports as any cancel that comes after a failure).
    let s = &Scope::new(Config::new());
    let cx = s.cx().clone();
    let out = s
        .run_all(async move { Err::<(), _>(CancelsWhenShown::Mine(cx)) })
        .await;
    let failures = out.unwrap_err();
    assert!(
        failures
            .iter()
            .any(|f| matches!(f.error(), CancelsWhenShown::Mine(_))),
        "{failures:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Law 9: cancelling through a deep chain of in-place scopes takes work linear in its depth.

fn counted_nest(
    depth: usize,
    leaf: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
) -> Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>> {
    let counter = polls.clone();
    let inner = Box::pin(async move {
        let s = &Scope::new(Config::new());
        s.run(async {
            if depth == 0 {
                leaf.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
                Ok(())
            } else {
                s.spawn_in_place(counted_nest(depth - 1, leaf.clone(), polls.clone()))
                    .await?;
                Ok(())
            }
        })
        .await
    });
    Box::pin(Counted {
        inner,
        polls: counter,
    })
}

struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

/// Polls of every level from a cooperative cancel of the root (with a grace, so that every
/// level unwinds its own way) to the root's end.
fn polls_to_cancel(depth: usize) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let leaf = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicUsize::new(0));
        let root = &Scope::new(Config::new().grace(hours(1)));
        let before = std::cell::Cell::new(0);
        let out = root
            .run(async {
                let chain = root.spawn_in_place(counted_nest(depth, leaf.clone(), polls.clone()));
                while !leaf.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                before.set(polls.load(Ordering::SeqCst));
                root.cancel("unwind");
                let _ = chain.await;
                Ok::<_, AppError>(())
            })
            .await;
        out.unwrap();
        polls.load(Ordering::SeqCst) - before.get()
    })
}

#[test]
fn law9_cancel_through_a_deep_in_place_chain_is_linear() {
    // A big stack: a debug build's frames are large.
    let counted = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| (polls_to_cancel(250), polls_to_cancel(1_000)))
        .unwrap()
        .join()
        .unwrap();
    let (small, large) = counted;
    // Linear: four times the depth, about four times the polls (quadratic would be 16).
    assert!(
        large <= 5 * small,
        "cancel is not linear in the depth: {small} polls at 250 levels, {large} at 1,000"
    );
}

// ---------------------------------------------------------------------------------------------
// Law 5, contexts: a panic in a destructor that a context's release runs (a callback's captured
// value) does not break the contexts released after it on the same thread.

static FLAGGED: scope_runtime::Slot<common::DropFlag> = scope_runtime::Slot::new("flagged");

#[test]
fn law5_a_value_panicking_as_its_context_is_released_leaves_later_contexts_released() {
    std::thread::spawn(|| {
        // A parent holding a callback whose captured value panics when dropped, kept alive
        // only by its child: dropping the child releases the parent, and the value panics.
        let parent = Cx::root().child();
        let bad = PanicOnDrop;
        let _callback = parent.on_cancel(move |_| {
            let _held = &bad;
        });
        let child = parent.child();
        drop(parent);
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(child)));
        assert!(out.is_err(), "the value's panic reaches the dropper");
        // Later contexts on this thread are released as always: their values dropped.
        let (value, dropped) = flag();
        let parent = Cx::root().with_slot(&FLAGGED, value);
        let child = parent.child();
        drop(parent);
        drop(child);
        assert!(
            dropped.load(Ordering::SeqCst),
            "a context released after the panic leaked"
        );
    })
    .join()
    .unwrap();
}

#[tokio::test]
async fn law5_a_blocking_closure_panicking_when_dropped_unstarted_is_its_panic_and_the_scope_ends()
{
    // Queued behind the limit, then the scope is cancelled: the closure is dropped without
    // running, and what it captured panics. Before, that skipped the child's bookkeeping, so
    // the scope waited for it for ever.
    let s = &Scope::new(Config::new().limit(1));
    let run = s.run(async {
        s.spawn_blocking(|_| {
            std::thread::sleep(Duration::from_millis(50));
            Ok::<_, AppError>(())
        });
        let bad = PanicOnDrop;
        s.spawn_blocking(move |_| {
            let _held = &bad;
            Ok::<_, AppError>(())
        });
        s.cancel("stop");
        Ok::<_, AppError>(())
    });
    let out = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the scope waited for the dropped closure for ever");
    expect_panicked_with(out, "dropped badly");
}

fn expect_panicked_with(out: Result<(), AppError>, message: &str) {
    match out {
        Err(AppError::Interrupted(Interrupted::Panicked(p))) => assert_eq!(p.message(), message),
        other => panic!("expected the child's panic, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The first cause wins, also for a context not yet linked to its parent (a child links itself
// only when something waits on it): a cancel that came first above is not overwritten by a
// later own cancel, nor reported as the deadline that passed after it.

#[tokio::test(start_paused = true)]
async fn law4_a_parents_explicit_cancel_is_not_reported_as_the_childs_deadline_later() {
    let parent = Cx::root().child_with_timeout(ms(10_000));
    let child = parent.child();
    parent.cancel("stop");
    sleep(ms(11_000)).await; // the inherited deadline has passed since
    let cause = child.cause().expect("cancelled");
    assert!(
        !cause.is_deadline(),
        "the parent's cancel came first: {cause}"
    );
    assert_eq!(cause.root(), &Cause::explicit("stop"));
}

#[tokio::test(start_paused = true)]
async fn law4_on_cancel_under_the_deadline_of_a_scope_not_run_yet_runs_at_that_deadline() {
    // A scope's timer fires its context's deadline, so callbacks under it armed no alarm of
    // their own; but that timer exists only while the scope runs. Before `run` (or without
    // one), a callback on the scope's context or on one made under it did not run at the
    // deadline, as it does on any other context with one.
    for on_a_child in [false, true] {
        let ran = Arc::new(std::sync::Mutex::new(None));
        let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("late").timeout(ms(10)));
        let cx = if on_a_child {
            s.cx().child()
        } else {
            s.cx().clone()
        };
        let seen = Arc::clone(&ran);
        let _cb = cx.on_cancel(move |cause| *seen.lock().unwrap() = Some(cause.clone()));
        sleep(ms(50)).await;
        let cause = ran.lock().unwrap().clone();
        assert!(
            cause.as_ref().is_some_and(Cause::is_deadline),
            "the callback ran at the deadline (on a child: {on_a_child}): {cause:?}"
        );
        // Run afterwards, the scope reports its deadline; the callback ran once.
        *ran.lock().unwrap() = None;
        let out = s.run(async { Ok::<_, Interrupted>(()) }).await;
        assert!(
            matches!(out, Err(Interrupted::DeadlineExceeded(_))),
            "{out:?}"
        );
        assert!(ran.lock().unwrap().is_none(), "the callback ran once");
    }
}

#[tokio::test(start_paused = true)]
async fn law4_a_callback_registered_before_the_run_leaves_the_deadline_to_the_runs_timer() {
    // The alarm armed before the run and the run's timer are due at the same instant: the
    // run's fires the deadline, so that a callback's panic there is the scope's, as for a
    // callback registered while it runs.
    for registered_before_the_run in [true, false] {
        let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().timeout(ms(10)));
        let cb = registered_before_the_run
            .then(|| s.cx().on_cancel(|_| panic!("callback at the deadline")));
        let out = s
            .run(async {
                let _cb = (!registered_before_the_run)
                    .then(|| s.cx().on_cancel(|_| panic!("callback at the deadline")));
                sleep(ms(50)).await;
                Ok::<_, Interrupted>(())
            })
            .await;
        match out {
            Err(Interrupted::Panicked(p)) => assert_eq!(p.message(), "callback at the deadline"),
            other => panic!("before the run: {registered_before_the_run}: {other:?}"),
        }
        drop(cb);
    }
}

#[tokio::test(start_paused = true)]
async fn law4_a_scope_dropped_unrun_after_its_deadline_passed_ends_with_the_deadline() {
    // Nobody looked at the context while the deadline passed; the scope, never run, is then
    // dropped. Its context read `Finished` (the end that came second), while a look before
    // the drop read the deadline: the first cause wins, whoever looks when.
    let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("late").timeout(ms(10)));
    let kept = s.cx().clone();
    sleep(ms(50)).await;
    drop(s);
    let cause = kept.cause().expect("the scope's context ended with it");
    assert!(cause.is_deadline(), "{cause:?}");
    // Dropped before its deadline, it ends as finished.
    let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("early").timeout(ms(10)));
    let kept = s.cx().clone();
    drop(s);
    let cause = kept.cause().expect("the scope's context ended with it");
    assert!(matches!(cause, Cause::Finished { .. }), "{cause:?}");
}

#[test]
fn law2_cancelling_a_child_whose_parent_is_cancelled_keeps_the_parents_cause() {
    let parent = Cx::root();
    let child = parent.child();
    parent.cancel("first");
    assert!(
        !child.cancel("second"),
        "the child was cancelled already, through its parent"
    );
    assert_eq!(child.cause().unwrap().root(), &Cause::explicit("first"));
}

/// Law 2 while the parent's cancel is on its way down: inside the parent's own `on_cancel`
/// callback, a child linked into the tree (something waits on it) is already cancelled, as an
/// unlinked one is, and its own cancel there does not replace the parent's cause.
#[test]
fn law2_a_linked_childs_cancel_during_its_parents_keeps_the_parents_cause() {
    let parent = Cx::root();
    let linked = parent.child();
    let _waits = linked.on_cancel(|_| {}); // something waits on it: it is linked
    let unlinked = parent.child();
    let seen = Arc::new(std::sync::Mutex::new(None));
    let (l, u, s) = (linked.clone(), unlinked.clone(), seen.clone());
    let _cb = parent.on_cancel(move |_| {
        *s.lock().unwrap() = Some((u.is_cancelled(), l.is_cancelled(), l.cancel("second")));
    });
    parent.cancel("first");
    assert_eq!(
        *seen.lock().unwrap(),
        Some((true, true, false)),
        "(unlinked cancelled, linked cancelled, the linked child's own cancel won)"
    );
    assert_eq!(linked.cause().unwrap().root(), &Cause::explicit("first"));
}

/// Law 3 on a multi-thread runtime: an error a scope's body returns because of its parent's
/// cancel (a shutdown callback closed the pool under it) is a consequence of that cancel, on
/// every runtime: the scope returns the cancellation, not the error, even while the cancel is
/// still on its way down the tree when the body answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn law3_an_error_caused_by_the_parents_cancel_is_a_consequence_while_the_cancel_descends() {
    let app = Cx::root();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // The shutdown's first step closes a shared resource; the rest of a long descent follows
    // (held here until the request has answered).
    let _close = app.on_cancel(move |_| {
        closed_tx.send(()).unwrap();
        let _ = done_rx.recv_timeout(Duration::from_secs(10));
    });
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let parent = app.clone();
    let request = tokio::spawn(async move {
        let s = &Scope::<AppError>::new(Config::new().name("request").parent(parent));
        let out = s
            .run(async move {
                started_tx.send(()).unwrap();
                // The pool is closed under us.
                closed_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                Err::<(), _>(AppError::Boom(1)) // "the pool is closed"
            })
            .await;
        done_tx.send(()).unwrap();
        out
    });
    started_rx.await.unwrap();
    app.cancel("shutdown");
    let err = request.await.unwrap().unwrap_err();
    let i = err
        .interrupted()
        .unwrap_or_else(|| panic!("the consequence was kept: {err}"));
    assert_eq!(i.cause().unwrap().root(), &Cause::explicit("shutdown"));
}

/// Law 2 for a nested race whose ancestor race has just won: the ancestor's forced abort (grace
/// zero) can seal the nested race's spawns before the ancestor's cancel has reached the nested
/// race's context. The nested race still reports the ancestor's cause ("another candidate won
/// the race"), not "every candidate was stopped (through its handle)", and its refused
/// candidate is not told that the body had returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn law2_a_nested_race_cancelled_by_its_ancestors_win_says_so_when_the_abort_comes_first() {
    use scope_runtime::Race;
    use std::sync::mpsc;
    struct OnDrop(mpsc::Sender<()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let ten = Duration::from_secs(10);
    let (ready_tx, ready_rx) = mpsc::channel::<()>(); // the nested race's body runs
    let (aborted_tx, aborted_rx) = mpsc::channel::<()>(); // the outer forced abort has run
    let (reported_tx, reported_rx) = mpsc::channel::<()>(); // the nested race has resolved
    let got: Arc<std::sync::Mutex<Option<Result<(), String>>>> = Arc::default();
    let seen: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let (got2, seen2) = (got.clone(), seen.clone());

    let r1 = &Race::<u8, Interrupted>::new(Config::new().name("outer").grace(Duration::ZERO));
    // Stands for the rest of a long descent (other callbacks, many contexts, preemption).
    let _hold = r1.cx().on_cancel(move |_| {
        let _ = reported_rx.recv_timeout(ten);
    });
    let guard = OnDrop(aborted_tx);
    let out = r1
        .run(async move {
            // Dropped with the in-place children, right after the forced abort.
            r1.spawn_in_place_named("holder", async move {
                let _guard = guard;
                std::future::pending::<Result<u8, Interrupted>>().await
            });
            r1.spawn_named("loser", async move {
                let inner = Race::<u8, Interrupted>::new(Config::new().name("inner"));
                let s = &inner;
                let out = s
                    .run(async move {
                        ready_tx.send(()).unwrap();
                        aborted_rx
                            .recv_timeout(ten)
                            .expect("the outer forced abort");
                        let c = s.spawn_named("candidate", async { Ok::<u8, Interrupted>(7) });
                        *seen2.lock().unwrap() = Some(format!("{:?}", c.await));
                    })
                    .await;
                *got2.lock().unwrap() = Some(out.map(|_| ()).map_err(|f| f.to_string()));
                reported_tx.send(()).unwrap();
                Ok::<u8, Interrupted>(0)
            });
            r1.spawn_named("winner", async move {
                ready_rx.recv_timeout(ten).unwrap();
                Ok::<u8, Interrupted>(1)
            });
            std::future::pending::<()>().await;
        })
        .await;
    assert_eq!(out.unwrap(), 1);
    let err = got
        .lock()
        .unwrap()
        .take()
        .expect("the nested race resolved")
        .unwrap_err();
    assert!(!err.contains("through its handle"), "{err}");
    assert!(err.contains("another candidate won the race"), "{err}");
    let seen = seen.lock().unwrap().take().unwrap();
    assert!(!seen.contains("its body has returned"), "{seen}");
}

/// Law 6's message for work refused because an enclosing scope's forced abort sealed it while
/// the scope's own context lives (a scope entered in a shield, in a blocking child that the
/// abort cannot stop): a reservation, a blocking child and a spawned child are all told that
/// an enclosing scope has ended, not that the body returned or the scope was dropped.
#[test]
fn law6_work_refused_under_a_sealed_enclosing_scope_says_so() {
    use std::sync::mpsc;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    rt.block_on(async move {
        let outer = &Scope::new(Config::new().name("outer"));
        let _ = outer
            .run(async {
                let _job = outer.spawn_blocking(move |_| {
                    let handle = tokio::runtime::Handle::current();
                    handle.block_on(scope_runtime::shield(async move {
                        let n = &Scope::new(Config::new().name("inner").limit(1));
                        let _ = n
                            .run(async {
                                // A task before the abort: the abort then closes this scope's
                                // tracker too, as well as sealing it.
                                n.spawn(async { Ok::<_, Interrupted>(()) }).await?;
                                ready_tx.send(()).unwrap();
                                // Until the outer forced abort has sealed this scope's work.
                                let until = std::time::Instant::now() + Duration::from_secs(10);
                                while !n.is_closed() && std::time::Instant::now() < until {
                                    std::thread::sleep(Duration::from_millis(1));
                                }
                                let lines = [
                                    format!("{:?}", n.reserve().await.err()),
                                    format!(
                                        "{:?}",
                                        n.spawn_blocking(|_| Ok::<_, Interrupted>(())).await
                                    ),
                                    format!(
                                        "{:?}",
                                        n.spawn(async { Ok::<_, Interrupted>(()) }).await
                                    ),
                                ];
                                seen2.lock().unwrap().extend(lines);
                                Ok::<_, Interrupted>(())
                            })
                            .await;
                    }));
                    Ok::<_, Interrupted>(())
                });
                let _ = tokio::task::spawn_blocking(move || ready_rx.recv()).await;
                // The forced abort (grace zero) seals everything under `outer`; the blocking
                // child cannot be stopped, and the inner scope's context is a shield's.
                outer.cancel("stop");
                Ok::<_, Interrupted>(())
            })
            .await;
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for line in seen.iter() {
        assert!(
            line.contains("an enclosing scope has ended"),
            "{line} (all: {seen:?})"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn law2_a_childs_cancel_after_its_scopes_keeps_the_scopes_cause() {
    let s = &Scope::new(Config::new().grace(ms(1_000)));
    let out = s
        .run(async {
            let child = s.spawn(async { Ok::<_, Interrupted>(scope_runtime::cancelled().await) });
            tokio::task::yield_now().await;
            s.cancel("scope stop");
            assert!(!child.cancel("mine"), "the scope's cancel came first");
            let cause = child.await?;
            assert_eq!(cause.root(), &Cause::explicit("scope stop"));
            Ok::<_, Interrupted>(())
        })
        .await;
    // The body has the last word: it ended well within the grace.
    out.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Misuse and drops of the run, found from outside: each a law broken before.

#[tokio::test(start_paused = true)]
async fn law3_a_refused_second_run_does_not_change_the_running_scopes_policy() {
    let s = &Scope::<AppError>::new(Config::new());
    let run = s.run(async {
        // Misuse: a second run, refused with `AlreadyRun`...
        let refused = s.run_all(async { Ok::<(), AppError>(()) }).await;
        assert!(refused.is_err());
        // ...and the scope is still fail-fast: the failure cancels the sibling.
        s.spawn_named("fails", async { Err::<(), AppError>(AppError::Boom(1)) });
        s.spawn_named("waits", async {
            scope_runtime::cancelled().await;
            Ok::<(), AppError>(())
        });
        Ok::<(), AppError>(())
    });
    let out = tokio::time::timeout(hours(1), run)
        .await
        .expect("resolved: the refused run_all did not make the scope supervise");
    assert!(matches!(out, Err(AppError::Boom(1))), "{out:?}");

    // The reverse: a supervised scope stays supervised.
    let s = &Scope::<AppError>::new(Config::new());
    let out = s
        .run_all(async {
            let refused = s.run(async { Ok::<(), AppError>(()) }).await;
            assert!(refused.is_err());
            s.spawn(async { Err::<(), AppError>(AppError::Boom(1)) });
            s.spawn(async {
                sleep(ms(5)).await;
                Err::<(), AppError>(AppError::Boom(2))
            });
            Ok::<(), AppError>(())
        })
        .await;
    let failures = out.expect_err("both failures");
    assert_eq!(failures.len(), 2, "{failures:?}");
}

#[tokio::test(start_paused = true)]
async fn law3_a_held_reservation_does_not_stall_the_free_slots() {
    let s = &Scope::<Interrupted>::new(Config::new().limit(2));
    let run = s.run(async {
        let kept = s.reserve().await?; // one slot kept for the last step
        assert_eq!(s.spawn(async { Ok::<_, Interrupted>(1) }).await?, 1);
        assert_eq!(s.spawn(async { Ok::<_, Interrupted>(2) }).await?, 2);
        assert!(
            s.try_spawn(async { Ok::<_, Interrupted>(3) }).is_ok(),
            "a slot is free"
        );
        kept.spawn(async { Ok::<_, Interrupted>(4) }).await
    });
    let out = tokio::time::timeout(hours(1), run)
        .await
        .expect("resolved: a free slot did not wait for the kept reservation");
    assert_eq!(out.unwrap(), 4);
}

#[tokio::test(start_paused = true)]
async fn law9_a_child_queued_in_a_kept_scope_never_run_does_not_pin_the_enclosing_scope() {
    let outer = &Scope::<AppError>::new(Config::new().timeout(ms(100)));
    let run = outer.run(async {
        let inner: &'static Scope<'static, 'static, AppError> =
            Box::leak(Box::new(Scope::new(Config::new())));
        drop(inner.spawn(async {})); // queued: `inner` is never run
        drop(inner.spawn_in_place(async { Ok::<_, AppError>(()) }));
        drop(inner.spawn_blocking(|_| ()));
        Ok::<_, AppError>(())
    });
    let out = tokio::time::timeout(hours(1), run)
        .await
        .expect("resolved: the queued child of a never-run scope does not hold it");
    out.unwrap();
}

#[tokio::test]
async fn law8_dropping_a_scope_future_inside_slot_with_neither_panics_nor_orphans_children() {
    use std::task::{Context, Waker};
    static S: scope_runtime::Slot<u8> = scope_runtime::Slot::new("S");
    let (child, child_dropped) = flag();
    let s = &Scope::<Interrupted>::new(Config::new());
    let mut run = Box::pin(s.run(async {
        s.spawn(async move {
            let _f = child;
            std::future::pending::<()>().await;
        });
        s.spawn_in_place(std::future::pending::<()>());
        s.spawn_in_place(std::future::pending::<()>());
        std::future::pending::<Result<(), Interrupted>>().await
    }));
    assert!(run
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    tokio::task::yield_now().await; // the spawned child starts and waits
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| S.with(|_| drop(run))));
    assert!(
        dropped.is_ok(),
        "dropping the scope's future inside Slot::with panicked"
    );
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(
        child_dropped.load(Ordering::SeqCst),
        "the spawned child was aborted"
    );
}

#[tokio::test]
async fn law6_a_refused_run_ends_its_scopes_context() {
    let cx = {
        let s = &Scope::<Interrupted>::new(Config::new().limit(0));
        let out = s.run(async { Ok::<(), Interrupted>(()) }).await;
        assert!(out.is_err(), "a zero limit is refused");
        s.cx().clone()
    };
    assert!(
        cx.is_cancelled(),
        "the refused scope's context ended with it"
    );
}

/// Law 5 for a refused run: an `on_cancel` callback that panics as the refused scope's
/// context ends is a panic of the scope, its outcome (`Panicked`, as at any scope's end); the
/// drop of the `Scope` value afterwards does not panic (it raised it there, or, before that,
/// lost it).
#[tokio::test]
async fn law5_a_callback_panicking_at_a_refused_runs_end_is_its_outcome() {
    use futures_util::FutureExt;
    let whole = std::panic::AssertUnwindSafe(async {
        let s = Scope::<Interrupted>::new(Config::new().limit(0));
        let _callback = s.cx().on_cancel(|_| panic!("callback at the end"));
        s.run(async { Ok::<(), Interrupted>(()) }).await
        // The scope is dropped here.
    })
    .catch_unwind()
    .await;
    let out = whole.expect("no panic escapes the run or the scope's drop");
    match out {
        Err(Interrupted::Panicked(p)) => assert_eq!(p.message(), "callback at the end"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn law6_a_forgotten_run_without_spawned_children_ends_its_context() {
    use std::task::{Context, Waker};
    let cx = {
        let s = &Scope::<Interrupted>::new(Config::new());
        let mut run = Box::pin(s.run(std::future::pending::<Result<(), Interrupted>>()));
        assert!(run
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
        std::mem::forget(run);
        s.cx().clone()
    };
    assert!(
        cx.is_cancelled(),
        "the forgotten scope's context ended with the scope"
    );
}

/// A body whose destructor panics (when not already unwinding).
struct PanicsOnDrop<F>(Pin<Box<F>>);

impl<F: Future> Future for PanicsOnDrop<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<F::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<F> Drop for PanicsOnDrop<F> {
    fn drop(&mut self) {
        // Not while unwinding already (a second panic would abort).
        assert!(std::thread::panicking(), "body dropped badly");
    }
}

#[tokio::test(start_paused = true)]
async fn law5_a_body_whose_destructor_panics_after_it_returned_drains_the_children_first() {
    use futures_util::FutureExt;
    let (child, child_dropped) = flag();
    let s = &Scope::<AppError>::new(Config::new());
    let run = s.run(PanicsOnDrop(Box::pin(async {
        s.spawn(async move {
            let _f = child;
            std::future::pending::<()>().await;
        });
        Ok::<(), AppError>(())
    })));
    let out = std::panic::AssertUnwindSafe(run).catch_unwind().await;
    // The body's panic is resumed, as a body's panic is, once its children have drained.
    let payload = out.expect_err("the body's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body dropped badly"));
    assert!(
        child_dropped.load(Ordering::SeqCst),
        "the child drained first"
    );
}

#[tokio::test(start_paused = true)]
async fn law9_dropping_a_cancelled_scope_mid_grace_keeps_the_original_grace() {
    let (child, child_dropped) = flag();
    let s = &Scope::<AppError>::new(Config::new().grace(ms(100)));
    let start = tokio::time::Instant::now();
    let run = s.run(async {
        s.spawn(async move {
            let _f = child;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await; // the child starts (it ignores the cancel)
        s.cancel("stop"); // the grace runs from here (t = 0)
        std::future::pending::<Result<(), AppError>>().await
    });
    let _ = tokio::time::timeout(ms(50), run).await; // dropped at t = 50 ms
    sleep(ms(1)).await;
    assert!(!child_dropped.load(Ordering::SeqCst), "within its grace");
    tokio::time::sleep_until(start + ms(105)).await;
    assert!(
        child_dropped.load(Ordering::SeqCst),
        "aborted at the end of the grace that began at the cancel, not 100 ms after the drop"
    );
}

#[tokio::test(start_paused = true)]
async fn law9_a_blocking_child_queued_in_a_kept_scope_never_run_does_not_pin_the_enclosing_scope() {
    let outer = &Scope::<AppError>::new(Config::new().timeout(ms(100)));
    let run = outer.run(async {
        let inner: &'static Scope<'static, 'static, AppError> =
            Box::leak(Box::new(Scope::new(Config::new())));
        drop(inner.spawn_blocking(|_| ())); // queued: `inner` is never run
        Ok::<_, AppError>(())
    });
    let out = tokio::time::timeout(hours(1), run)
        .await
        .expect("resolved: the queued blocking child of a never-run scope does not hold it");
    out.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Law 5: an error the scope drops itself (a consequence of the scope's cancel, an error of a
// child cancelled alone, a stopped background child's) is user code: a panic in its `Drop` is
// a panic of the task whose error it is. It must not unwind through the scope's bookkeeping
// (the slot, the handle, the context's node) nor out of the scope's future.

/// A part of an error whose destructor panics (unless a panic is unwinding already).
#[derive(Debug)]
struct Armed;

impl Drop for Armed {
    fn drop(&mut self) {
        assert!(std::thread::panicking(), "error dropped badly");
    }
}

#[derive(Debug)]
enum BadDrop {
    Boom,
    Armed(#[allow(dead_code)] Armed),
    DisplayToo(#[allow(dead_code)] Armed),
    Interrupted(Interrupted),
}

impl std::fmt::Display for BadDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadDrop::Boom => f.write_str("boom"),
            BadDrop::Armed(_) => f.write_str("armed"),
            BadDrop::DisplayToo(_) => panic!("display"),
            BadDrop::Interrupted(i) => write!(f, "{i}"),
        }
    }
}

impl From<Interrupted> for BadDrop {
    fn from(i: Interrupted) -> Self {
        BadDrop::Interrupted(i)
    }
}

fn dropped_badly<T: std::fmt::Debug>(seen: &Result<T, Interrupted>, message: &str) -> bool {
    matches!(seen, Err(Interrupted::Panicked(p)) if p.message() == message)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Spawned,
    InPlace,
    Blocking,
}

/// Spawns, as `kind`, a child that waits for its cancel and then returns `error()`. A
/// blocking child also says when its closure runs (a blocking child cancelled before a pool
/// thread takes it never runs: the tests wait for it, not for a time).
fn errs_once_cancelled<'s, 'env>(
    s: &'s Scope<'s, 'env, BadDrop>,
    kind: Kind,
    error: fn() -> BadDrop,
) -> (
    scope_runtime::Child<'s, ()>,
    Option<tokio::sync::oneshot::Receiver<()>>,
) {
    match kind {
        Kind::Spawned => (
            s.spawn(async move {
                scope_runtime::cancelled().await;
                Err::<(), _>(error())
            }),
            None,
        ),
        Kind::InPlace => (
            s.spawn_in_place(async move {
                scope_runtime::cancelled().await;
                Err::<(), _>(error())
            }),
            None,
        ),
        Kind::Blocking => {
            let (up, is_up) = tokio::sync::oneshot::channel();
            let child = s.spawn_blocking(move |cx| {
                let _ = up.send(());
                while !cx.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err::<(), _>(error())
            });
            (child, Some(is_up))
        }
    }
}

/// Waits until a blocking child's closure runs (see [`errs_once_cancelled`]), or a moment
/// for the other kinds.
async fn started(up: Option<tokio::sync::oneshot::Receiver<()>>) {
    match up {
        Some(up) => up.await.expect("the blocking child ran"),
        None => sleep(ms(1)).await,
    }
}

/// Fail-fast, with a limit: the first failure cancels a sibling whose error (a consequence,
/// dropped by the scope) panics in `Drop`. The sibling's handle sees its panic, its slot is
/// freed, the scope returns the first failure, and nothing is left behind.
async fn consequence_drop_panics(kind: Kind) {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new().limit(2).grace(ms(100)));
    let mut seen = None;
    let run = s.run(async {
        let (bad, up) = errs_once_cancelled(s, kind, || BadDrop::Armed(Armed));
        s.spawn(async {
            started(up).await;
            sleep(ms(5)).await;
            Err::<(), _>(BadDrop::Boom)
        });
        let queued = s.spawn(async { Ok::<_, BadDrop>(()) });
        seen = Some((bad.await, queued.await));
        Ok(())
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run));
    let out = tokio::time::timeout(Duration::from_secs(10), out).await;
    let out = out.expect("the scope hung");
    let out = out.expect("the scope's future panicked raw");
    assert!(matches!(out, Err(BadDrop::Boom)), "{kind:?}: {out:?}");
    let (bad, queued) = seen.expect("the body ran to its end");
    assert!(
        dropped_badly(&bad, "error dropped badly"),
        "{kind:?}: {bad:?}"
    );
    assert!(
        matches!(queued, Err(Interrupted::NotStarted(_))),
        "{kind:?}: {queued:?}"
    );
    check.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn law5_a_consequence_error_whose_drop_panics_is_its_spawned_childs_panic() {
    consequence_drop_panics(Kind::Spawned).await;
}

#[tokio::test(start_paused = true)]
async fn law5_a_consequence_error_whose_drop_panics_is_its_in_place_childs_panic() {
    consequence_drop_panics(Kind::InPlace).await;
}

#[tokio::test]
async fn law5_a_consequence_error_whose_drop_panics_is_its_blocking_childs_panic() {
    consequence_drop_panics(Kind::Blocking).await;
}

/// A child cancelled alone returns an error the scope drops (the handle sees the cancel):
/// its destructor's panic is the child's panic, which the scope reports.
async fn cancelled_alone_drop_panics(kind: Kind, error: fn() -> BadDrop, message: &str) {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new().grace(ms(100)));
    let mut seen = None;
    let run = s.run(async {
        let (bad, up) = errs_once_cancelled(s, kind, error);
        started(up).await;
        assert!(bad.cancel("not needed"));
        seen = Some(bad.await);
        Ok(())
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run));
    let out = tokio::time::timeout(Duration::from_secs(10), out).await;
    let out = out.expect("the scope hung");
    let out = out.expect("the scope's future panicked raw");
    let seen = seen.expect("the body ran to its end");
    assert!(dropped_badly(&seen, message), "{kind:?}: {seen:?}");
    assert!(
        matches!(&out, Err(BadDrop::Interrupted(Interrupted::Panicked(p))) if p.message() == message),
        "{kind:?}: {out:?}"
    );
    check.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn law5_an_error_of_a_child_cancelled_alone_whose_drop_panics_is_its_panic() {
    for kind in [Kind::Spawned, Kind::InPlace] {
        cancelled_alone_drop_panics(kind, || BadDrop::Armed(Armed), "error dropped badly").await;
    }
}

#[tokio::test]
async fn law5_an_error_of_a_blocking_child_cancelled_alone_whose_drop_panics_is_its_panic() {
    cancelled_alone_drop_panics(
        Kind::Blocking,
        || BadDrop::Armed(Armed),
        "error dropped badly",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn law5_an_error_whose_display_and_drop_both_panic_is_one_panic_of_its_child() {
    let check = LeakCheck::new();
    for kind in [Kind::Spawned, Kind::InPlace] {
        let s = &Scope::new(Config::new().grace(ms(100)));
        let mut seen = None;
        let run = s.run(async {
            let bad = match kind {
                Kind::InPlace => {
                    s.spawn_in_place(async { Err::<(), _>(BadDrop::DisplayToo(Armed)) })
                }
                _ => s.spawn(async { Err::<(), _>(BadDrop::DisplayToo(Armed)) }),
            };
            seen = Some(bad.await);
            Ok(())
        });
        let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
        let out = out.expect("the scope's future panicked raw");
        assert!(dropped_badly(&seen.unwrap(), "display"), "{kind:?}");
        assert!(
            matches!(&out, Err(BadDrop::Interrupted(Interrupted::Panicked(p))) if p.message() == "display"),
            "{kind:?}: {out:?}"
        );
    }
    check.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn law5_a_body_error_dropped_as_a_consequence_whose_drop_panics_is_the_bodys_panic() {
    let (child, child_dropped) = flag();
    let s = &Scope::new(Config::new().grace(ms(10)));
    let run = s.run(async {
        s.spawn(async {
            sleep(ms(1)).await;
            Err::<(), _>(BadDrop::Boom)
        });
        s.spawn(holds_until_dropped(child));
        scope_runtime::cancelled().await;
        // A consequence of the sibling's failure: the scope drops it.
        Err::<(), _>(BadDrop::Armed(Armed))
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    // The body's panic resumes once the children have drained, as any panic of the body.
    let payload = out.expect_err("the body's panic is resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"error dropped badly"));
    assert!(child_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn law5_a_stopped_background_childs_error_whose_drop_panics_is_its_panic() {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new().grace(ms(100)));
    let out = s
        .run(async {
            s.spawn_background(async {
                scope_runtime::cancelled().await;
                Err::<(), _>(BadDrop::Armed(Armed))
            });
            sleep(ms(1)).await;
            Ok(())
        })
        .await;
    assert!(
        matches!(&out, Err(BadDrop::Interrupted(Interrupted::Panicked(p))) if p.message() == "error dropped badly"),
        "{out:?}"
    );
    check.assert_clean().await;
}

#[tokio::test]
async fn law5_a_callback_panicking_at_a_races_win_is_the_races_panic_not_the_winners() {
    // The win cancels the race's own context: a callback's panic there is the race's (as for
    // every cancel a scope makes of its own context), not the winning candidate's.
    let race = &scope_runtime::Race::<u8, Interrupted>::new(Config::new().name("race"));
    let _cb = race.cx().on_cancel(|_| panic!("callback"));
    let out = race
        .run(async {
            drop(race.spawn_named("winner", async { Ok(1) }));
        })
        .await;
    let failures = out.unwrap_err();
    let primary = failures
        .primary()
        .expect("the callback's panic is reported");
    assert_eq!(primary.task().name(), Some("race"), "{failures}");
    assert!(failures.to_string().contains("callback"), "{failures}");
}

#[tokio::test(start_paused = true)]
async fn law5_a_deadline_callback_panicking_as_a_running_run_is_dropped_still_ends_its_child() {
    // The scope's deadline has passed and nobody looked: the child's first poll (after the
    // clock moved) is the first to ask, and firing it runs a callback that panics. The panic
    // is the scope's: kept, and (a dropped run has no outcome to carry it) it reaches the
    // dropper once the drop has ended the run's children, as every panic a dropped run finds.
    let s = &Scope::new(Config::new().timeout(ms(10)));
    let _cb = s.cx().on_cancel(|_| panic!("callback"));
    let (f, child_dropped) = flag();
    let mut run = Box::pin(s.run(async {
        s.spawn(holds_until_dropped(f));
        std::future::pending::<Result<(), AppError>>().await
    }));
    assert!(run
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    tokio::time::advance(ms(20)).await; // the deadline passes; the run is not polled
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
    let payload = out.expect_err("the scope's panic reaches whoever dropped its run");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback"));
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert!(
        child_dropped.load(Ordering::SeqCst),
        "the run's drop did not end its child"
    );
}

/// What a scope whose deadline callback panics returns: that panic, as the scope's.
fn is_the_callbacks_panic(out: &Result<(), AppError>) -> bool {
    matches!(out, Err(e) if matches!(e.interrupted(), Some(Interrupted::Panicked(p)) if p.message() == "callback"))
}

#[tokio::test(start_paused = true)]
async fn law5_a_deadline_first_seen_by_the_runs_start_is_the_scopes_panic() {
    // The deadline passes before the run's first poll; its start fires it, and the callback's
    // panic is the scope's (a `Panicked` outcome), not an unwind out of the scope's future.
    // (The callback is registered where no runtime is, so that no alarm fires the deadline
    // first: on a runtime, one does, at the deadline, and a callback's panic there is the
    // panic hook's alone, as for any context's alarm; see the next test.)
    let s = &Scope::new(Config::new().timeout(Duration::from_millis(10)));
    let _cb = std::thread::scope(|t| {
        t.spawn(|| s.cx().on_cancel(|_| panic!("callback")))
            .join()
            .unwrap()
    });
    tokio::time::advance(Duration::from_millis(20)).await;
    let mut run = Box::pin(s.run(async { Ok::<_, Interrupted>(()) }));
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }))
    .expect("the callback's panic unwound through the run's first poll");
    let out = match polled {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => run.await,
    };
    assert!(
        matches!(&out, Err(Interrupted::Panicked(p)) if p.message() == "callback"),
        "{out:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_callback_on_a_scope_not_run_yet_runs_at_its_deadline_and_the_run_reports_the_deadline() {
    // Registered on a runtime before the run, the callback runs at the deadline (an alarm
    // fires it: the scope has no timer yet), inside the runtime's driver, where its panic is
    // not resumed (the panic hook reports it); the run, started after, reports the deadline.
    let ran = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().timeout(Duration::from_millis(10)));
    let seen = Arc::clone(&ran);
    let _cb = s.cx().on_cancel(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        panic!("callback")
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(ran.load(Ordering::SeqCst), 1, "it ran at the deadline");
    let out = s.run(async { Ok::<_, Interrupted>(()) }).await;
    assert!(
        matches!(out, Err(Interrupted::DeadlineExceeded(_))),
        "{out:?}"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 1, "once");
}

#[tokio::test(start_paused = true)]
async fn law5_a_deadline_fired_by_an_in_place_childs_first_poll_is_the_scopes_panic() {
    // The deadline passed and nobody looked; the first to look is an in-place child's first
    // poll (it checks its context before it runs). Before, the callback's panic unwound
    // through the run's poll: the scope's future panicked raw.
    use std::task::Poll;
    let s = &Scope::new(Config::new().limit(1).timeout(ms(10)));
    let _cb = s.cx().on_cancel(|_| panic!("callback"));
    let mut run = Box::pin(s.run(async {
        drop(s.spawn(async { Ok::<_, AppError>(()) })); // the only slot; ends at its first poll
        let waiting = s.spawn_in_place(async { Ok::<_, AppError>(()) }); // queued for it
        let _ = waiting.await;
        Ok::<_, AppError>(())
    }));
    assert!(run
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    for _ in 0..3 {
        tokio::task::yield_now().await; // the spawned child ends; its slot admits the other
    }
    tokio::time::advance(ms(20)).await; // the deadline passes; nobody looks
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }))
    .expect("the callback's panic unwound through the run's poll");
    let out = match polled {
        Poll::Ready(out) => out,
        Poll::Pending => run.await,
    };
    assert!(is_the_callbacks_panic(&out), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn law5_a_deadline_fired_by_a_spawned_childs_first_poll_is_the_scopes_panic() {
    // The same, the first to look being a spawned child's first poll. Before, tokio caught the
    // panic as that task's, and the scope returned `DeadlineExceeded`.
    let s = &Scope::new(Config::new().timeout(ms(10)));
    let _cb = s.cx().on_cancel(|_| panic!("callback"));
    let mut run = Box::pin(s.run(async {
        drop(s.spawn(async { Ok::<_, AppError>(()) }));
        std::future::pending::<Result<(), AppError>>().await
    }));
    assert!(run
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    tokio::time::advance(ms(20)).await; // the child's first poll comes after the deadline
    let out = run.await;
    assert!(is_the_callbacks_panic(&out), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn law5_a_deadline_fired_by_an_in_place_childs_wait_is_the_scopes_panic_and_the_child_drains()
{
    // A child with no context of its own waits on its scope's: its wait's timer and the run's
    // fire in the same tick, and the run polls its in-place children first, so the child's wait
    // is the first to look. Before, it fired the scope's deadline in the child's own poll: the
    // scope's callback panicked there, the child was reported as the panicking task, and its
    // clean-up after the wait never ran.
    let s = &Scope::new(Config::new().name("outer").timeout(ms(10)).grace(ms(100)));
    let _cb = s.cx().on_cancel(|_| panic!("callback"));
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cleaned);
    let out = s
        .run(async {
            drop(s.spawn_in_place_named("waiter", async move {
                scope_runtime::cancelled().await;
                c.store(true, Ordering::SeqCst);
                Ok::<_, AppError>(())
            }));
            std::future::pending::<Result<(), AppError>>().await
        })
        .await;
    assert!(
        matches!(&out, Err(e) if matches!(e.interrupted(), Some(Interrupted::Panicked(p))
            if p.message() == "callback" && p.task().name() == Some("outer"))),
        "{out:?}"
    );
    assert!(
        cleaned.load(Ordering::SeqCst),
        "the child's clean-up did not run"
    );
}

#[tokio::test(start_paused = true)]
async fn law5_a_deadline_first_seen_by_a_childs_ambient_check_is_the_scopes_panic() {
    // The same through `scope::is_cancelled()` in a child with no context of its own, the first
    // to look after the deadline passed. Before, the callback's panic unwound out of the check.
    let s = &Scope::new(Config::new().name("outer").timeout(ms(10)).grace(ms(100)));
    let _cb = s.cx().on_cancel(|_| panic!("callback"));
    let seen = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&seen);
    let mut run = Box::pin(s.run(async {
        drop(s.spawn_in_place_named("looker", async move {
            tokio::time::sleep(ms(20)).await; // past the deadline, before the run looks
            c.store(scope_runtime::is_cancelled(), Ordering::SeqCst);
            Ok::<_, AppError>(())
        }));
        std::future::pending::<Result<(), AppError>>().await
    }));
    assert!(run
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    tokio::time::advance(ms(20)).await; // the deadline passes; nobody looks
    let out = run.await;
    assert!(
        matches!(&out, Err(e) if matches!(e.interrupted(), Some(Interrupted::Panicked(p))
            if p.message() == "callback" && p.task().name() == Some("outer"))),
        "{out:?}"
    );
    assert!(
        seen.load(Ordering::SeqCst),
        "the child did not see the cancel"
    );
}

#[tokio::test(start_paused = true)]
async fn law4_contexts_under_one_inherited_deadline_read_one_cause_whoever_looks_first() {
    // A context that inherited its deadline and was the first to look after it passed
    // recorded `DeadlineExceeded` on itself; its sibling, looking after the parent fired,
    // read `ParentCancelled(DeadlineExceeded)`: unequal causes, with different text.
    let line = line!() + 1;
    let p = Cx::root().child_with_timeout(ms(10));
    let (a, b) = (p.child(), p.child());
    tokio::time::advance(ms(20)).await;
    let first = a.cause().expect("past the deadline");
    assert!(p.is_cancelled());
    assert_eq!(
        p.cause(),
        Some(Cause::DeadlineExceeded {
            scope: format!("{}:{line}:24", file!()).into()
        }),
        "the deadline is the parent's own"
    );
    assert_eq!(b.cause().as_ref(), Some(&first), "{first}");
    assert!(
        matches!(&first, Cause::ParentCancelled(d) if d.is_deadline()),
        "{first}"
    );
    // Cancelled explicitly after the deadline passed: the deadline came first, inherited.
    let late = Cx::root().child_with_timeout(ms(10));
    let below = late.child();
    tokio::time::advance(ms(20)).await;
    below.cancel("too late");
    assert!(
        matches!(below.cause(), Some(Cause::ParentCancelled(d)) if d.is_deadline()),
        "{:?}",
        below.cause()
    );
}

#[tokio::test(start_paused = true)]
async fn law5_a_deadline_first_seen_by_a_maps_wait_for_items_is_the_maps_panic() {
    // The map's loop waits on a quiet source; the map's deadline wakes its run, which polls the
    // loop first, and the loop's look at the cancel fires the deadline: an item's callback
    // panics there. Before, that panic unwound out of the map's future.
    use futures_util::{stream, FutureExt, StreamExt};
    let items = stream::iter([1u32]).chain(stream::pending()); // quiet after one item
    let out = std::panic::AssertUnwindSafe(
        scope_runtime::map_stream(items, |_| async {
            let _cb = Cx::current().on_cancel(|_| panic!("callback"));
            std::future::pending::<()>().await;
            Ok::<u32, AppError>(0)
        })
        .config(Config::new().timeout(ms(10)))
        .run(),
    )
    .catch_unwind()
    .await;
    let out: Result<Vec<u32>, AppError> =
        out.expect("the callback's panic unwound out of the map's future");
    assert!(
        matches!(&out, Err(e) if matches!(e.interrupted(), Some(Interrupted::Panicked(p)) if p.message() == "callback")),
        "{out:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn law8_a_run_dropped_as_the_first_to_see_its_deadline_keeps_the_panic_and_ends_its_child() {
    // As `law5_a_deadline_callback_panicking_as_a_running_run_is_dropped_still_ends_its_child`,
    // with the child started before the deadline passes, so that the drop is the first to
    // look. Before, the panic unwound out of the drop before any of its work: the child was
    // never aborted. Now it reaches the dropper after the drop's work.
    let s = &Scope::new(Config::new().timeout(ms(10)));
    let _cb = s.cx().on_cancel(|_| panic!("callback"));
    let (f, child_dropped) = flag();
    let mut run = Box::pin(s.run(async {
        s.spawn(holds_until_dropped(f));
        std::future::pending::<Result<(), AppError>>().await
    }));
    assert!(run
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    tokio::task::yield_now().await; // the child's first poll, before the deadline
    tokio::time::advance(ms(20)).await; // the deadline passes; nobody looks
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(run)));
    let payload = out.expect_err("the scope's panic reaches whoever dropped its run");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback"));
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert!(
        child_dropped.load(Ordering::SeqCst),
        "the run's drop did not end its child"
    );
}

#[test]
fn law5_a_forgotten_run_past_its_unseen_deadline_dropped_while_unwinding_does_not_abort() {
    // The scope's drop is the first to look at its passed deadline, while a panic unwinds.
    // Before, the callback's panic escaped the drop: a panic in a destructor during an unwind
    // aborts the process (this test binary).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _in_rt = rt.enter();
        let s = &Scope::new(Config::new().timeout(ms(5)));
        let _cb = s.cx().on_cancel(|_| panic!("callback"));
        let mut run =
            Box::pin(s.run(async { std::future::pending::<Result<(), AppError>>().await }));
        assert!(run
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
        std::mem::forget(run); // nothing of it left to stop: the scope's drop ends it
        std::thread::sleep(ms(30)); // the deadline passes; nobody looks
        panic!("first"); // the scope is dropped while this unwinds
    }));
    assert_eq!(out.unwrap_err().downcast_ref::<&str>(), Some(&"first"));
}

#[test]
fn law5_a_forgotten_run_past_its_unseen_deadline_is_the_scopes_panic_when_dropped() {
    // The same drop, not during an unwind: the callback's panic is the scope's, resumed by its
    // drop (as every such panic a forgotten run leaves), after the context has ended.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _in_rt = rt.enter();
    let mut seen = None;
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let s = &Scope::new(Config::new().timeout(ms(5)));
        let _cb = s.cx().on_cancel(|_| panic!("callback"));
        seen = Some(s.cx().clone());
        let mut run =
            Box::pin(s.run(async { std::future::pending::<Result<(), AppError>>().await }));
        assert!(run
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
        std::mem::forget(run);
        std::thread::sleep(ms(30)); // the scope is dropped at the end of this block
    }));
    let payload = out.expect_err("the callback's panic is the scope's, resumed by its drop");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback"));
    assert!(seen.expect("the scope was made").is_cancelled());
}

#[test]
fn law3_the_cause_names_the_failure_the_scope_returns() {
    // Two failures at once on two workers: the one kept is the one returned, and the cause the
    // siblings see names that one (a failure the scope drops does not cancel in its place).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for round in 0..10_000 {
        rt.block_on(async {
            let s = &Scope::new(Config::new());
            // Both fail at the same moment on the two workers: each spins until the other has
            // arrived, for 1 ms at most (a worker blocked for good could leave the other child
            // unscheduled in its queue).
            let arrived = Arc::new(AtomicUsize::new(0));
            let out: Result<(), AppError> = s
                .run(async {
                    for (i, name) in [(0, "a"), (1, "b")] {
                        let arrived = Arc::clone(&arrived);
                        drop(s.spawn_named(name, async move {
                            arrived.fetch_add(1, Ordering::SeqCst);
                            let start = std::time::Instant::now();
                            while arrived.load(Ordering::SeqCst) < 2
                                && start.elapsed() < Duration::from_millis(1)
                            {
                                std::hint::spin_loop();
                            }
                            Err::<(), _>(AppError::Boom(i))
                        }));
                    }
                    Ok(())
                })
                .await;
            let Err(AppError::Boom(i)) = out else {
                panic!("round {round}: {out:?}")
            };
            let Some(Cause::SiblingFailed { task, .. }) = s.cx().cause() else {
                panic!("round {round}: {:?}", s.cx().cause())
            };
            assert_eq!(
                task.name(),
                Some(["a", "b"][i as usize]),
                "round {round}: the cause names the failure the scope dropped"
            );
        });
    }
}

/// How a test stops one child whose context has a panicking `on_cancel` callback.
#[derive(Clone, Copy, Debug)]
enum StopBy {
    Cancel,
    Abort,
    CancelAll,
}

/// A child whose context has a panicking callback and which never looks at its cancel, stopped
/// by `how`: the callback's panic reaches the caller, and the stop still happens (the child is
/// dropped, the scope ends at once with a grace of zero).
async fn stop_a_child_with_a_panicking_callback(how: StopBy, in_place: bool) {
    let (live, dropped) = flag();
    let s = &Scope::new(Config::new());
    let start = tokio::time::Instant::now();
    let out = s
        .run(async {
            let started = Arc::new(AtomicBool::new(false));
            let up = started.clone();
            let work = async move {
                let _live = live;
                std::mem::forget(Cx::current().on_cancel(|_| panic!("callback bug")));
                up.store(true, Ordering::SeqCst);
                sleep(hours(2)).await; // never looks
                Ok::<_, AppError>(())
            };
            let child = if in_place {
                s.spawn_in_place(work)
            } else {
                s.spawn(work)
            };
            while !started.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            let mut set = scope_runtime::ChildSet::new();
            let stop = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match how {
                StopBy::Cancel => {
                    child.cancel("stop");
                }
                StopBy::Abort => child.abort(),
                StopBy::CancelAll => {
                    set.push(child);
                    set.cancel_all("stop");
                }
            }));
            let payload = stop.expect_err("the callback's panic reaches the caller");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback bug"));
            Ok::<_, AppError>(())
        })
        .await;
    assert!(out.is_ok(), "{how:?} in_place={in_place}: {out:?}");
    assert!(
        dropped.load(Ordering::SeqCst),
        "{how:?} in_place={in_place}: the child was stopped"
    );
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "{how:?} in_place={in_place}"
    );
}

#[tokio::test(start_paused = true)]
async fn law9_a_panicking_cancel_callback_does_not_skip_the_childs_stop() {
    for how in [StopBy::Cancel, StopBy::Abort, StopBy::CancelAll] {
        for in_place in [false, true] {
            tokio::time::timeout(
                hours(10),
                stop_a_child_with_a_panicking_callback(how, in_place),
            )
            .await
            .unwrap_or_else(|_| panic!("{how:?} in_place={in_place}: the scope never ended"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn law9_a_handles_cancel_after_its_context_was_cancelled_still_aborts_after_the_grace() {
    // `child.cx().cancel(..)` only asks (the docs of `Child::cx`); `child.cancel(..)` after it
    // found the context cancelled already and scheduled no abort: a child that does not look
    // ran on, and its handle waited for it.
    let s = &Scope::new(Config::new().grace(Duration::from_millis(50)));
    let out = s
        .run(async {
            let stuck = s.spawn(async {
                tokio::time::sleep(Duration::from_secs(3600)).await; // never looks
                Ok::<_, Interrupted>("finished")
            });
            tokio::task::yield_now().await; // it has started
            assert!(stuck.cx().cancel("please stop"));
            assert!(!stuck.cancel("stop now"), "cancelled before");
            let start = tokio::time::Instant::now();
            let joined = tokio::time::timeout(Duration::from_secs(1), stuck).await;
            Ok::<_, Interrupted>((joined.is_ok(), start.elapsed()))
        })
        .await;
    assert_eq!(out.unwrap(), (true, Duration::from_millis(50)));
}

#[tokio::test(start_paused = true)]
async fn law9_repeated_cancels_of_one_child_schedule_one_stop() {
    // A watchdog that cancels a stuck child again and again (after its context was cancelled
    // through `cx()`) gets it aborted once the grace after the first such call runs out, not
    // later, and each call after the first schedules nothing more.
    let s = &Scope::new(Config::new().grace(Duration::from_millis(100)));
    let out = s
        .run(async {
            let stuck = s.spawn(async {
                sleep(Duration::from_secs(3600)).await; // never looks
                Ok::<_, Interrupted>(())
            });
            tokio::task::yield_now().await;
            stuck.cx().cancel("please stop");
            let start = tokio::time::Instant::now();
            while !stuck.is_finished() {
                assert!(!stuck.cancel("stop now"));
                sleep(Duration::from_millis(10)).await;
            }
            Ok::<_, Interrupted>(start.elapsed())
        })
        .await;
    let took = out.unwrap();
    assert!(
        took >= Duration::from_millis(100) && took <= Duration::from_millis(120),
        "{took:?}"
    );
}

#[test]
fn law3_a_race_answers_with_what_cancelled_it_first_across_workers() {
    // A candidate that succeeds on another worker as the body fails: the race is answered by
    // what came first, as its context's first cause says. The win was decided by a look at the
    // cause taken before the value was stored, so a body failing between the two was
    // cancelled first and kept as the answer, and the race still returned the value.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut won, mut failed) = (0, 0);
        for i in 0..3_000u32 {
            let race = &scope_runtime::Race::<u8, AppError>::new(Config::new());
            let out = race
                .run(async {
                    race.spawn(async { Ok::<u8, AppError>(1) });
                    for _ in 0..(i % 64) * 16 {
                        std::hint::spin_loop();
                    }
                    Err::<(), _>(AppError::Boom(402))
                })
                .await;
            let body_first = matches!(race.cx().cause(), Some(Cause::SiblingFailed { .. }));
            match out {
                Ok(_) => {
                    assert!(!body_first, "the race was won after its body's failure");
                    won += 1;
                }
                Err(failures) => {
                    assert!(body_first, "the race failed after a win: {failures}");
                    failed += 1;
                }
            }
        }
        assert!(won + failed == 3_000);
    });
}

/// A value whose destructor takes a while (a connection closed, a buffer flushed), counted.
struct SlowToDrop(Arc<AtomicUsize>);

impl Drop for SlowToDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(20));
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn law1_a_spawned_childs_value_nobody_reads_is_dropped_before_its_scope_resolves() {
    // The child's handle was dropped before the child ended: tokio dropped the value the
    // child returned on the worker, after the child's end had been counted, so the scope
    // could resolve while the value's destructor still ran (and ran on after it).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    for round in 0..20 {
        rt.block_on(async {
            let s = &Scope::new(Config::new());
            let live = &live;
            s.run(async move {
                let l = Arc::clone(live);
                drop(s.spawn(async move {
                    l.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Interrupted>(SlowToDrop(l))
                }));
                Ok::<_, Interrupted>(())
            })
            .await
            .unwrap();
            assert_eq!(
                live.load(Ordering::SeqCst),
                0,
                "round {round}: the value is still being dropped"
            );
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Law 4 and DESIGN §6: a body that returned its value before an outside cancellation (its
// deadline, a parent, an explicit cancel) has not answered it. Children that the cancel then
// stops without a value of their own (never started, aborted, or returning an error it
// caused) make the cancellation the scope's result: the work cut short is never reported as
// the body's success. Children that answer the cancel with their own value leave the body's.

/// Children that sleep for `each` (not looking at the cancel), counting those that started.
fn sleepers<'s>(
    s: &'s Scope<'s, '_, Interrupted>,
    n: usize,
    each: Duration,
    started: &Arc<AtomicUsize>,
) {
    for _ in 0..n {
        let started = Arc::clone(started);
        s.spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            sleep(each).await;
            Ok::<_, Interrupted>(())
        });
    }
}

#[tokio::test(start_paused = true)]
async fn law4_a_deadline_that_stops_queued_children_after_the_body_returned_is_the_result() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().limit(1).timeout(ms(25)));
    let out = s
        .run(async {
            sleepers(s, 5, ms(10), &started);
            Ok::<_, Interrupted>(7)
        })
        .await;
    assert_eq!(started.load(Ordering::SeqCst), 3, "two never started");
    match out {
        Err(Interrupted::DeadlineExceeded(_)) => {}
        other => panic!("the deadline stopped two queued children, not the body's: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn law4_a_deadline_that_aborts_children_after_the_body_returned_is_the_result() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().timeout(ms(25)));
    let out = s
        .run(async {
            sleepers(s, 3, hours(1), &started);
            Ok::<_, Interrupted>(7)
        })
        .await;
    assert_eq!(started.load(Ordering::SeqCst), 3);
    let err = out.expect_err("the deadline aborted every child: not the body's value");
    assert!(
        err.cause().is_some_and(Cause::is_deadline),
        "the scope's deadline, as its cause: {err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn law5_a_body_value_the_deadline_makes_moot_that_panics_as_it_drops_is_the_result() {
    // The deadline cut the children short after the body returned: its value answers
    // nothing and is dropped. Its destructor's panic was swallowed there, and the scope
    // returned the deadline; a panic wins over a cancellation (as under `run_all`, where it
    // is one more failure).
    let started = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().timeout(ms(25)));
    let out = s
        .run(async {
            sleepers(s, 1, hours(1), &started);
            Ok::<_, Interrupted>(PanicOnDropValue)
        })
        .await;
    match out {
        Err(Interrupted::Panicked(p)) => assert_eq!(p.message(), "output dropped badly"),
        other => panic!("the value's panic is the result: {:?}", other.err()),
    }
}

#[tokio::test(start_paused = true)]
async fn law2_an_outside_cancel_whose_consequence_errors_are_dropped_is_the_result() {
    let s = &Scope::new(Config::new().grace(hours(1)));
    let (out, ()) = tokio::join!(
        s.run(async {
            s.spawn(async {
                scope_runtime::cancelled().await;
                Err::<(), AppError>(AppError::Boom(1))
            });
            Ok::<_, AppError>(7)
        }),
        async {
            sleep(ms(10)).await;
            s.cancel("outside");
        }
    );
    match out {
        Err(AppError::Interrupted(i)) => {
            assert_eq!(i.cause(), Some(&Cause::explicit("outside")));
        }
        other => panic!("the child's error answered the cancel: it is the result: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn law2_a_supervised_scope_stopped_after_its_body_returned_reports_the_cancel_first() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().limit(1).timeout(ms(25)));
    let out = s
        .run_all(async {
            sleepers(s, 5, ms(10), &started);
            Ok::<_, Interrupted>(7)
        })
        .await;
    let failures = out.expect_err("two children never started");
    let primary = failures.primary().expect("the cancellation");
    assert!(
        primary.error().cause().is_some_and(Cause::is_deadline),
        "{primary:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn law2_children_that_answer_a_cancel_after_the_body_returned_leave_its_value() {
    // Each child looks at the cancel and stops with a value of its own: a graceful stop.
    let s = &Scope::new(Config::new().timeout(ms(25)).grace(hours(1)));
    let out = s
        .run(async {
            for _ in 0..3 {
                s.spawn(async {
                    scope_runtime::cancelled().await;
                    Ok::<_, Interrupted>(())
                });
            }
            Ok::<_, Interrupted>(7)
        })
        .await;
    assert_eq!(out.unwrap(), 7);
    // A child that ignores the cancel but completes within the grace has its own value too.
    let started = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().timeout(ms(25)).grace(hours(1)));
    let out = s
        .run(async {
            sleepers(s, 2, ms(50), &started);
            Ok::<_, Interrupted>(7)
        })
        .await;
    assert_eq!(out.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn law2_a_body_that_returns_after_the_cancel_has_the_last_word() {
    // The body cancels its scope and returns: it answered that cancel; what the cancel
    // stops is what it asked for.
    let started = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().limit(1));
    let out = s
        .run(async {
            sleepers(s, 3, hours(1), &started);
            s.cancel("enough");
            Ok::<_, Interrupted>(7)
        })
        .await;
    assert_eq!(out.unwrap(), 7);
    // A child its handle aborted before the body returned was stopped by the body, not by the
    // deadline that comes after.
    let s = &Scope::new(Config::new().timeout(ms(25)).grace(hours(1)));
    let out = s
        .run(async {
            let aborted = s.spawn(std::future::pending::<Result<(), Interrupted>>());
            sleep(ms(1)).await;
            aborted.abort();
            s.spawn(async {
                scope_runtime::cancelled().await;
                Ok::<_, Interrupted>(())
            });
            Ok::<_, Interrupted>(7)
        })
        .await;
    assert_eq!(out.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn law2_a_child_its_handle_stopped_is_no_work_a_later_deadline_cut_short() {
    // Cancelled through its handle before the body returned; its grace (100 ms) ends after
    // the scope's deadline (25 ms), so its abort lands while the scope is cancelled: the
    // handle stopped it, not the deadline. Spawned and in place.
    for in_place in [false, true] {
        let s = &Scope::new(Config::new().timeout(ms(25)).grace(ms(100)));
        let out = s
            .run(async {
                let unwanted = if in_place {
                    s.spawn_in_place(std::future::pending::<Result<(), Interrupted>>())
                } else {
                    s.spawn(std::future::pending::<Result<(), Interrupted>>())
                };
                tokio::task::yield_now().await; // it has started
                unwanted.cancel("not needed");
                Ok::<_, Interrupted>(7)
            })
            .await;
        assert_eq!(out.unwrap(), 7, "in place: {in_place}");
    }
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct LoudError;

impl std::fmt::Display for LoudError {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        assert!(std::hint::black_box(false), "a Display that panics");
        Ok(())
    }
}

impl From<Interrupted> for LoudError {
    fn from(_: Interrupted) -> Self {
        LoudError
    }
}

#[tokio::test(start_paused = true)]
async fn law2_a_supervised_scope_reports_the_cancel_first_whatever_the_cut_childs_error_does() {
    // The child's error after the deadline is cut work, whether its `Display` panics (its
    // panic) or not: the deadline comes first, as for a child that panics in its poll.
    let failures = Scope::<LoudError>::new(Config::new().timeout(ms(25)).grace(hours(1)));
    let s = &failures;
    let out = s
        .run_all(async {
            s.spawn(async {
                scope_runtime::cancelled().await;
                Err::<(), LoudError>(LoudError)
            });
            Ok::<_, LoudError>(7)
        })
        .await;
    let failures = out.expect_err("the deadline cut the child short");
    assert_eq!(failures.len(), 2, "the deadline, then the child's panic");
    assert_eq!(
        failures.primary().unwrap().task().id(),
        s.info().id(),
        "the scope's own entry first"
    );
}

/// What a child's handle reads when the child answers its scope's cancel with an error: the
/// scope drops that error as the cancel's consequence, so the handle reads the cancellation
/// (as it does when the child alone was cancelled), not a failure nobody reports.
async fn handle_of_a_child_answering_the_scope_cancel(in_place: bool) -> Result<(), Interrupted> {
    let s = &Scope::new(Config::new().grace(hours(1)));
    let out = s
        .run(async {
            let answer = async {
                scope_runtime::cancelled().await;
                Err::<(), AppError>(scope_runtime::check().unwrap_err().into())
            };
            let child = if in_place {
                s.spawn_in_place(answer)
            } else {
                s.spawn(answer)
            };
            tokio::task::yield_now().await;
            s.cancel("stop");
            Ok::<_, AppError>(child.await)
        })
        .await;
    match out {
        Ok(read) => read,
        Err(e) => panic!("the body's value stands (it answered the cancel): {e:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn law2_a_childs_error_answering_its_scopes_cancel_reads_as_the_cancel_on_its_handle() {
    for in_place in [false, true] {
        let read = handle_of_a_child_answering_the_scope_cancel(in_place).await;
        match read {
            Err(Interrupted::Cancelled(c)) => assert_eq!(
                c.cause().root(),
                &Cause::explicit("stop"),
                "in place: {in_place}"
            ),
            other => panic!("in place: {in_place}: the handle reads the cancel, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn law3_a_siblings_error_after_the_first_failure_reads_as_the_cancel_on_its_handle() {
    let read = Arc::new(std::sync::Mutex::new(None));
    let s = &Scope::new(Config::new().grace(hours(1)));
    let out = s
        .run(async {
            let sibling = s.spawn(async {
                scope_runtime::cancelled().await;
                Err::<(), AppError>(AppError::Boom(2))
            });
            s.spawn(async {
                sleep(ms(10)).await;
                Err::<(), AppError>(AppError::Boom(1))
            });
            let answer = sibling.await;
            *read.lock().unwrap() = Some(answer);
            Ok::<_, AppError>(())
        })
        .await;
    assert!(
        matches!(out, Err(AppError::Boom(1))),
        "the first failure: {out:?}"
    );
    let read = read
        .lock()
        .unwrap()
        .take()
        .expect("the body read the sibling's handle");
    match read {
        Err(Interrupted::Cancelled(c)) => match c.cause().root() {
            Cause::SiblingFailed { message, .. } => assert_eq!(message, "boom 1"),
            other => panic!("the sibling's failure is the cause: {other:?}"),
        },
        other => panic!("the dropped error is no failure on the handle: {other:?}"),
    }
}

/// What a sibling reads of a failure or a panic, as `Cause`'s docs say (an outside tester,
/// probe96, read them as promising `SiblingFailed` itself): the scope's cause, inside
/// `ParentCancelled`, naming the task, its `root` the failure.
#[tokio::test(start_paused = true)]
async fn law3_a_sibling_reads_the_failure_or_the_panic_inside_parent_cancelled() {
    for panics in [false, true] {
        let s = &Scope::new(Config::new().grace(hours(1)));
        let seen = Arc::new(std::sync::Mutex::new(None));
        let read = Arc::clone(&seen);
        let _ = s
            .run(async {
                s.spawn(async move {
                    let cause = scope_runtime::cancelled().await;
                    *read.lock().unwrap() = Some(cause);
                    Ok::<_, AppError>(())
                });
                s.spawn_named("db", async move {
                    sleep(ms(10)).await;
                    assert!(!panics, "kaboom");
                    Err::<(), AppError>(AppError::Boom(1))
                });
                Ok::<_, AppError>(())
            })
            .await;
        let cause = seen
            .lock()
            .unwrap()
            .take()
            .expect("the sibling was cancelled");
        let Cause::ParentCancelled(inner) = &cause else {
            panic!("the scope's cause, inside: {cause:?}");
        };
        match (&**inner, panics) {
            (Cause::SiblingFailed { task, .. }, false) | (Cause::Panicked { task, .. }, true) => {
                assert_eq!(task.name(), Some("db"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cause.root(), &**inner);
        let text = cause.to_string();
        let expected = if panics {
            "parent cancelled: sibling task `db` panicked: kaboom"
        } else {
            "parent cancelled: sibling task `db` failed: boom 1"
        };
        assert_eq!(text, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn law3_a_supervised_childs_error_after_the_cancel_is_kept_and_its_handle_reads_it() {
    let s = &Scope::new(Config::new().grace(hours(1)));
    let out = s
        .run_all(async {
            let child = s.spawn(async {
                scope_runtime::cancelled().await;
                Err::<(), AppError>(AppError::Boom(3))
            });
            tokio::task::yield_now().await;
            s.cancel("stop");
            let read = child.await;
            assert!(
                matches!(&read, Err(Interrupted::ChildFailed(f)) if f.message() == "boom 3"),
                "kept by the supervised scope, so a failure on the handle: {read:?}"
            );
            Ok::<_, AppError>(())
        })
        .await;
    let failures = out.expect_err("the kept failure");
    assert!(
        failures.iter().any(|f| f.error().to_string() == "boom 3"),
        "{failures:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn law3_a_race_losers_error_answering_the_wins_cancel_reads_as_that_cancel() {
    // The race returns its winner and reports no loser's error: a loser's handle reads the
    // cancel it answered (as a fail-fast child's does), not a failure nobody reports.
    let race = &scope_runtime::Race::<u32, AppError>::new(Config::new().grace(hours(1)));
    let read = Arc::new(std::sync::Mutex::new(None));
    let out = race
        .run(async {
            let loser = race.spawn(async {
                scope_runtime::cancelled().await;
                Err::<u32, AppError>(AppError::Boom(2))
            });
            race.spawn(async {
                sleep(ms(10)).await;
                Ok::<u32, AppError>(7)
            });
            let answer = loser.await;
            *read.lock().unwrap() = Some(answer);
        })
        .await;
    assert_eq!(out.ok(), Some(7));
    let read = read.lock().unwrap().take();
    match read {
        Some(Err(Interrupted::Cancelled(c))) => assert!(
            matches!(c.cause().root(), Cause::Explicit { .. }),
            "the win's cancel: {c:?}"
        ),
        other => panic!("the loser's handle reads the win's cancel: {other:?}"),
    }
}

/// A nested scope whose grace ends with its parent's (inherited under a shutdown, or set to
/// the same or a longer one) answers the parent's cancel and returns; a straggler it spawned
/// holds its end until its grace runs out. The parent's grace ends at that same instant: its
/// forced abort ends the straggler, and the nested scope, then free to end, hands its body's
/// value up; the parent's body, which answered the cancel with it, has the last word.
#[tokio::test(start_paused = true)]
async fn law2_a_nested_scope_whose_grace_ends_with_its_parents_still_hands_its_value_up() {
    // The straggler spawned, or in place: the parent's abort cannot end that one (it is the
    // nested scope's to drop), and the nested scope, polled again by its parent's body, takes
    // the abort as the end of its own grace, drops it and hands its value up (it held the
    // value, and the parent dropped its body with it, before `f049c9e`).
    for in_place in [false, true] {
        for inner_grace in [ms(500), hours(1)] {
            let case = format!("in place {in_place}, inner grace {inner_grace:?}");
            let held = Arc::new(AtomicUsize::new(0));
            let outer = &Scope::new(Config::new().grace(ms(500)));
            let run = outer.run(async {
                let inner = &Scope::new(Config::new().grace(inner_grace));
                let guard = Live::new(&held);
                let said = inner
                    .run(async {
                        let straggler = async move {
                            let _guard = guard;
                            sleep(hours(1)).await;
                            Ok::<_, Interrupted>(())
                        };
                        if in_place {
                            inner.spawn_in_place(straggler);
                        } else {
                            inner.spawn(straggler);
                        }
                        scope_runtime::cancelled().await;
                        Ok::<_, Interrupted>("inner stopped")
                    })
                    .await?;
                Ok::<_, Interrupted>(said)
            });
            let started = tokio::time::Instant::now();
            let (out, ()) = tokio::join!(run, async {
                sleep(ms(10)).await;
                outer.cancel("stop");
            });
            assert_eq!(out.unwrap(), "inner stopped", "{case}");
            assert_eq!(started.elapsed(), ms(510), "{case}");
            assert_eq!(held.load(Ordering::SeqCst), 0, "{case}");
        }
    }
    // A body that does not answer is still dropped at the grace's end: the cancel is the
    // result, and nothing it held outlives the run.
    let outer = &Scope::new(Config::new().grace(ms(500)));
    let held = Arc::new(AtomicUsize::new(0));
    let guard = Live::new(&held);
    let run = outer.run(async move {
        let _guard = guard;
        sleep(hours(1)).await;
        Ok::<_, Interrupted>("never")
    });
    let (out, ()) = tokio::join!(run, async {
        sleep(ms(10)).await;
        outer.cancel("stop");
    });
    assert!(matches!(out, Err(Interrupted::Cancelled(_))), "{out:?}");
    assert_eq!(held.load(Ordering::SeqCst), 0);
}

/// The same with no grace above (the default, zero: no timer to wait on) or the shortest one:
/// the nested scope answered the cancel, its spawned straggler is aborted with the parent's
/// cancel, and the parent's last poll comes once the runtime has dropped it, so the value
/// comes up in both, at once. (With a grace of zero the last poll came at
/// once, before the runtime had run the abort, and the value was lost with the body: a grace
/// of 1 ns kept it.)
#[tokio::test(start_paused = true)]
async fn law2_a_zero_grace_parent_gets_the_value_of_a_nested_scope_that_answered_its_cancel() {
    for in_place in [false, true] {
        for inner_grace in [Duration::ZERO, hours(1)] {
            for outer_grace in [Duration::ZERO, Duration::from_nanos(1)] {
                let started = tokio::time::Instant::now();
                let got = answered_below(outer_grace, inner_grace, in_place).await;
                let case = format!(
                    "in place {in_place}, inner grace {inner_grace:?}, outer {outer_grace:?}"
                );
                assert_eq!(got, "Ok(5), held 0", "{case}");
                // (The timer of a grace of 1 ns fires at the clock's next millisecond.)
                assert!(
                    started.elapsed() <= ms(1),
                    "{case}: {:?}",
                    started.elapsed()
                );
            }
        }
    }
}

/// The same on two workers, where the aborted straggler is dropped by whichever worker takes
/// it: the zero grace's wait is the wall clock's, not a count of this task's turns (under
/// `block_on` its yields come straight back; on a worker the other may hold the straggler),
/// and rounds lost the value (counted by a review: 67 to 119 of 200 under `block_on`, up to 23
/// of 200 in a spawned task, with the wait a count of 16 turns). A round may still lose it if
/// the machine holds the worker off for the whole wait: a few are allowed.
#[test]
fn law2_a_zero_grace_parent_gets_the_answered_value_on_two_workers() {
    let rt = common::two_workers();
    for spawned in [false, true] {
        let mut lost = Vec::new();
        for _ in 0..100 {
            let below = answered_below(Duration::ZERO, Duration::ZERO, false);
            let got = if spawned {
                rt.block_on(async { tokio::spawn(below).await.unwrap() })
            } else {
                rt.block_on(below)
            };
            assert!(got.ends_with("held 0"), "law 1: {got}");
            if got != "Ok(5), held 0" {
                lost.push(got);
            }
        }
        assert!(lost.len() <= 5, "spawned {spawned}: {lost:#?}");
    }
}

/// A body with the default grace of zero that cancels its scope (or reaches its deadline) and
/// then reads its aborted children's handles has returned by its last poll: its value is the
/// result on two workers too. (An outside tester's report, probe93: 70 of 400 rounds lost it
/// to the cancellation, 8 to 20 of 400 with the deadline. A spawned child's handle reads
/// tokio's task, which completes just after the child's future is dropped, and the run saw
/// the drop, went idle and gave the body its last poll in between.)
#[test]
fn law2_a_zero_grace_body_that_reads_its_aborted_childrens_handles_keeps_its_value() {
    for deadline in [false, true] {
        let lost = lost_rounds(300, true, move || async move {
            let config = if deadline {
                Config::new().timeout(ms(2))
            } else {
                Config::new()
            };
            let s = &Scope::new(config);
            s.run(async {
                let (a, b) = (s.spawn(sleeper()), s.spawn(sleeper()));
                if !deadline {
                    tokio::time::sleep(ms(1)).await;
                    s.cancel("stop");
                }
                Ok::<_, Interrupted>((a.await.is_err(), b.await.is_err()))
            })
            .await
            .map_err(|e| e.to_string())
        });
        // The zero grace's wait for the aborted work below is bounded by the wall clock
        // (20 ms): a round may still lose the value if the machine holds the runtime off
        // for the whole wait (seen once in a CI run beside other builds). A few are allowed;
        // the bug lost tens.
        assert!(
            lost.len() <= ALLOWED_LOST,
            "deadline {deadline}: {} lost: {lost:?}",
            lost.len()
        );
    }
}

/// Rounds of the zero grace's races that may lose their value to a machine that holds the
/// runtime off for the whole of the wait's 20 ms (see above).
const ALLOWED_LOST: usize = 3;

/// The same one level down: the body of a scope nested in the body reads its own aborted
/// children's handles when the outer scope's deadline passes, and the outer body returns what
/// it got. (The review of the fix above, probe95: 41 of 1,000 rounds lost the outer value.
/// The outer scope found nothing of its own to wait for, and gave its body the last poll
/// while the nested scope's tasks were not completed; the nested run, polled in it, waited
/// for them and had no later poll.)
#[test]
fn law2_a_zero_grace_body_gets_a_nested_scopes_value_read_from_aborted_handles() {
    // Under `block_on` only: the outer run is polled off the workers, where it was likeliest.
    let lost = lost_rounds(800, false, || async {
        let s = &Scope::new(Config::new().timeout(ms(2)));
        s.run(async {
            let inner = &Scope::new(Config::new());
            let read = inner
                .run(async {
                    let (a, b) = (inner.spawn(sleeper()), inner.spawn(sleeper()));
                    Ok::<_, Interrupted>((a.await.is_err(), b.await.is_err()))
                })
                .await;
            Ok::<_, Interrupted>(read.unwrap_or((false, false)))
        })
        .await
        .map_err(|e| e.to_string())
    });
    // As above: a few rounds may lose it to a loaded machine (1 of 800 in a CI run beside
    // other builds); the bug lost 41 of 1,000.
    assert!(lost.len() <= ALLOWED_LOST, "{} lost: {lost:?}", lost.len());
}

/// The last poll is one poll, whatever the runtime's cooperative budget says: a body that reads
/// more aborted children's handles than the budget allows in one poll (128 on tokio) keeps its
/// value. (The review of the fix above, probe95: from 129 handles on, the rest read as pending
/// and the body was dropped, in every round, on every runtime, a `ChildSet`'s loop too.)
#[test]
fn law2_a_zero_grace_body_that_reads_many_aborted_handles_in_its_last_poll_keeps_its_value() {
    for n in [100, 200, 1_000] {
        let got = common::paused().block_on(async {
            let s = &Scope::new(Config::new());
            s.run(async {
                let handles: Vec<_> = (0..n).map(|_| s.spawn(sleeper())).collect();
                tokio::time::sleep(ms(1)).await;
                s.cancel("stop");
                let mut aborted = 0;
                for h in handles {
                    aborted += usize::from(h.await.is_err());
                }
                Ok::<_, Interrupted>(aborted)
            })
            .await
        });
        assert_eq!(got.map_err(|e| e.to_string()), Ok(n), "{n} children");
    }
}

/// A child that sleeps past any test.
async fn sleeper() -> Result<(), Interrupted> {
    tokio::time::sleep(ms(1_000)).await;
    Ok(())
}

/// Runs `round` `n` times, each on a two-worker runtime of its own (as a program's: the races
/// were likelier there), under `block_on`, or alternately on a worker (its sibling drops the
/// children) and under `block_on` (`on_workers_too`): the results that are not
/// `Ok((true, true))`.
fn lost_rounds<R, F>(n: usize, on_workers_too: bool, round: R) -> Vec<String>
where
    R: Fn() -> F,
    F: Future<Output = Result<(bool, bool), String>> + Send + 'static,
{
    let mut lost = Vec::new();
    for i in 0..n {
        let rt = common::two_workers();
        let got = if on_workers_too && i % 2 == 0 {
            let run = round();
            rt.block_on(async { tokio::spawn(run).await.unwrap() })
        } else {
            rt.block_on(round())
        };
        if got != Ok((true, true)) {
            lost.push(format!("{got:?}"));
        }
    }
    lost
}

/// The same on a runtime without timers, where a grace of zero is all a scope may have.
#[test]
fn law2_a_zero_grace_parent_gets_the_answered_value_on_a_runtime_without_timers() {
    let no_timers = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for in_place in [false, true] {
        let got = no_timers.block_on(answered_below(Duration::ZERO, Duration::ZERO, in_place));
        assert_eq!(got, "Ok(5), held 0", "in place {in_place}");
    }
}

/// A scope with `outer_grace` cancelled on the runtime's next turn, whose body awaits a nested
/// scope that answers the cancel with `5` while a straggler of its own (`in_place` or spawned)
/// ignores it: the result, and how many of the straggler's guards were alive as it resolved.
async fn answered_below(outer_grace: Duration, inner_grace: Duration, in_place: bool) -> String {
    let held = Arc::new(AtomicUsize::new(0));
    let outer = &Scope::new(Config::new().grace(outer_grace));
    let guard = Live::new(&held);
    let run = async {
        let out = outer
            .run(async {
                let inner = &Scope::new(Config::new().grace(inner_grace));
                inner
                    .run(async {
                        let straggler = async move {
                            let _guard = guard;
                            std::future::pending::<()>().await;
                            Ok::<_, Interrupted>(())
                        };
                        if in_place {
                            inner.spawn_in_place(straggler);
                        } else {
                            inner.spawn(straggler);
                        }
                        scope_runtime::cancelled().await;
                        Ok::<_, Interrupted>(5)
                    })
                    .await
            })
            .await;
        (out, held.load(Ordering::SeqCst))
    };
    let ((out, left), ()) = tokio::join!(run, async {
        tokio::task::yield_now().await;
        outer.cancel("stop");
    });
    format!("{out:?}, held {left}")
}

/// Law 9 for a scope made in a body and run after the scope it was made in has finished (whose
/// finish sealed its tracker; the scope has a context of its own): its cancel gives its
/// in-place children its grace, as a top-level scope's does. (A nested scope that took any
/// sealed tracker above as its parent's abort dropped them at once.)
#[test]
fn law9_a_scope_returned_from_a_body_and_run_after_its_scope_ended_keeps_its_grace() {
    within(20, "returned scope", || {
        common::paused().block_on(async {
            let outer = &Scope::<Interrupted>::new(Config::new());
            let kept: &'static Scope<'static, 'static, Interrupted> = outer
                .run(async {
                    Ok::<_, Interrupted>(&*Box::leak(Box::new(Scope::new(
                        Config::new().parent(Cx::root()).grace(ms(1_000)),
                    ))))
                })
                .await
                .unwrap();
            let started = tokio::time::Instant::now();
            let (out, cleaned) = run_cancelled_by(kept, move || {
                kept.cancel("stop");
            })
            .await;
            let took = started.elapsed();
            assert!(
                cleaned,
                "the in-place child's cleanup was cut (took {took:?}, out {out:?})"
            );
            assert_eq!(out.unwrap(), 7);
        });
    });
}

/// The same, the scope handed to a task of the runtime and run there after the scope it was
/// made in finished.
#[test]
fn law9_a_scope_made_in_a_body_and_run_in_a_task_after_its_scope_ended_keeps_its_grace() {
    within(20, "tokio task", || {
        common::paused().block_on(async {
            let outer = &Scope::<Interrupted>::new(Config::new());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let task = outer
                .run(async {
                    let s: &'static Scope<'static, 'static, Interrupted> = Box::leak(Box::new(
                        Scope::new(Config::new().parent(Cx::root()).grace(ms(1_000))),
                    ));
                    Ok::<_, Interrupted>(tokio::spawn(async move {
                        let _ = rx.await;
                        run_cancelled_by(s, move || {
                            s.cancel("stop");
                        })
                        .await
                    }))
                })
                .await
                .unwrap();
            // The outer scope has finished.
            tx.send(()).unwrap();
            let (out, cleaned) = task.await.unwrap();
            assert!(cleaned, "the in-place child's cleanup was cut: {out:?}");
            assert_eq!(out.unwrap(), 7);
        });
    });
}

/// Law 2 three levels deep, with stragglers (in place, spawned) at some levels: every body
/// answers the cancel, and the innermost body's value reaches the outer body. It was lost when
/// the innermost scope had a spawned straggler and the scope between had no task of its own:
/// the outer's abort did not reach that task (see the law 1 test below), the middle scope,
/// given its last poll, aborted it itself but was not idle in that same poll, and the outer
/// dropped its body.
#[test]
fn law2_three_levels_hand_the_innermost_value_up_whatever_each_level_holds() {
    let mut lost = Vec::new();
    for mask in 0u32..8 {
        let (mid_in_place, inner_in_place, inner_spawns) =
            (mask & 1 != 0, mask & 2 != 0, mask & 4 != 0);
        let r = common::paused().block_on(async move {
            let outer = &Scope::<Interrupted>::new(Config::new().grace(ms(200)));
            let run = outer.run(async move {
                let mid = &Scope::<Interrupted>::new(Config::new().grace(hours(1)));
                mid.run(async move {
                    if mid_in_place {
                        mid.spawn_in_place(async move {
                            sleep(hours(2)).await;
                            Ok::<_, Interrupted>(())
                        });
                    }
                    let inner = &Scope::<Interrupted>::new(Config::new().grace(hours(1)));
                    inner
                        .run(async move {
                            if inner_in_place {
                                inner.spawn_in_place(async move {
                                    sleep(hours(2)).await;
                                    Ok::<_, Interrupted>(())
                                });
                            }
                            if inner_spawns {
                                inner.spawn(async move {
                                    sleep(hours(2)).await;
                                    Ok::<_, Interrupted>(())
                                });
                            }
                            scope_runtime::cancelled().await;
                            Ok::<_, Interrupted>(5u32)
                        })
                        .await
                })
                .await
            });
            let started = tokio::time::Instant::now();
            let (out, ()) = tokio::join!(run, async {
                sleep(ms(10)).await;
                outer.cancel("stop");
            });
            (out, started.elapsed())
        });
        if !matches!(r.0, Ok(5)) {
            lost.push(format!(
                "mid in-place {mid_in_place} inner in-place {inner_in_place} inner spawned {inner_spawns}: {:?} after {:?}",
                r.0, r.1
            ));
        }
    }
    assert!(lost.is_empty(), "{lost:#?}");
}

/// Laws 1 and 9: the outer scope's forced abort reaches a spawned task two levels down, also
/// when the scope in between has no task of its own (its tracker was registered in the outer
/// one only at its own first task, so the abort did not walk down to the grandchild's, which
/// lived on until the middle scope was dropped: an hour, its grace, before the body's last
/// poll).
#[test]
fn law1_the_outer_abort_reaches_a_task_two_levels_below_a_scope_with_no_task_of_its_own() {
    within(20, "abort reach", || {
        let mut bad = Vec::new();
        for mid_has_task in [true, false] {
            let r = common::paused().block_on(async move {
                let held = Arc::new(AtomicUsize::new(0));
                let outer = &Scope::<Interrupted>::new(Config::new().grace(ms(50)));
                let h = Arc::clone(&held);
                let run = outer.run(async move {
                    let mid = &Scope::<Interrupted>::new(Config::new().grace(hours(1)));
                    mid.run(async move {
                        if mid_has_task {
                            mid.spawn(async {
                                sleep(hours(2)).await;
                                Ok::<_, Interrupted>(())
                            });
                        }
                        let inner = &Scope::<Interrupted>::new(Config::new().grace(hours(1)));
                        let g = Live::new(&h);
                        inner
                            .run(async move {
                                inner.spawn(async move {
                                    let _g = g;
                                    sleep(hours(2)).await;
                                    Ok::<_, Interrupted>(())
                                });
                                // Ignores the cancel.
                                sleep(hours(2)).await;
                                Ok::<_, Interrupted>(())
                            })
                            .await
                    })
                    .await
                });
                let started = tokio::time::Instant::now();
                let h2 = Arc::clone(&held);
                let (out, (), at_70) = tokio::join!(
                    run,
                    async {
                        sleep(ms(10)).await;
                        outer.cancel("stop");
                    },
                    async move {
                        sleep(ms(70)).await;
                        h2.load(Ordering::SeqCst)
                    }
                );
                (out, started.elapsed(), at_70, held.load(Ordering::SeqCst))
            });
            let (out, took, at_70, left) = r;
            if at_70 != 0 || took > ms(70) || left != 0 {
                bad.push(format!(
                    "mid has a task {mid_has_task}: grandchild alive at 70 ms: {at_70}, outer resolved after {took:?} ({out:?}), alive at the end {left}"
                ));
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    });
}

/// An in-place child that needs 20 ms of cleanup once cancelled; the scope is cancelled by
/// `cancel` (run 10 ms into the body). Returns the run's result and whether the cleanup ran.
async fn run_cancelled_by(
    s: &'static Scope<'static, 'static, Interrupted>,
    cancel: impl FnOnce() + Send + 'static,
) -> (Result<u32, Interrupted>, bool) {
    let cleaned = Arc::new(AtomicBool::new(false));
    let cl = Arc::clone(&cleaned);
    let out = s
        .run(async move {
            let child = s.spawn_in_place(async move {
                scope_runtime::cancelled().await;
                sleep(ms(20)).await;
                cl.store(true, Ordering::SeqCst);
                Ok::<_, Interrupted>(7)
            });
            sleep(ms(10)).await;
            cancel();
            child.await
        })
        .await;
    (out, cleaned.load(Ordering::SeqCst))
}

/// `aborted`: the outer scope ends by its forced abort (its body ignores the cancel), else it
/// finishes. The kept scope (parent: an unrelated root context, grace 1 s) is run in a tokio
/// task after the outer scope ended, and cancelled through its parent context.
fn kept_scope_cancelled_through_its_own_parent(aborted: bool) -> (Result<u32, Interrupted>, bool) {
    within(20, "kept scope", move || {
        common::paused().block_on(async move {
            let other = Cx::root();
            let outer = &Scope::<Interrupted>::new(Config::new().grace(ms(10)));
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let other2 = other.clone();
            let task: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<_>>>> = Arc::default();
            let task2 = Arc::clone(&task);
            let run = outer.run(async move {
                let s: &'static Scope<'static, 'static, Interrupted> = Box::leak(Box::new(
                    Scope::new(Config::new().parent(other2.clone()).grace(ms(1_000))),
                ));
                *task2.lock().unwrap() = Some(tokio::spawn(async move {
                    let _ = rx.await;
                    run_cancelled_by(s, move || {
                        other2.cancel("the kept scope's own parent stops");
                    })
                    .await
                }));
                if aborted {
                    // Ignores the cancel.
                    sleep(hours(1)).await;
                }
                Ok::<_, Interrupted>(())
            });
            let (out, ()) = tokio::join!(run, async {
                if aborted {
                    sleep(ms(5)).await;
                    outer.cancel("stop");
                }
            });
            assert_eq!(out.is_err(), aborted, "{out:?}");
            tx.send(()).unwrap();
            let t = task.lock().unwrap().take().unwrap();
            let _ = &other;
            t.await.unwrap()
        })
    })
}

/// Law 9 for the same scope when the scope it was made in finished instead.
#[test]
fn law9_a_scope_cancelled_through_its_own_parent_after_its_scope_finished_keeps_its_grace() {
    let (out, cleaned) = kept_scope_cancelled_through_its_own_parent(false);
    assert!(cleaned, "cleanup cut: {out:?}");
}

/// Law 9 for a scope made in a body whose scope was then aborted, run after that abort with a
/// context of its own, and cancelled through it: the abort came before it started, so its
/// cancel (a `ParentCancelled`, from its own parent) gets the grace. (The first version read
/// any abort above with an inherited cause as the end of the grace.)
#[test]
fn law9_a_scope_started_after_its_scope_was_aborted_keeps_its_grace() {
    let (out, cleaned) = kept_scope_cancelled_through_its_own_parent(true);
    assert!(
        cleaned,
        "the in-place child's cleanup was cut (the cancel came from the scope's own parent, not the aborted scope): {out:?}"
    );
}

/// Outer (grace 200 ms) over a nested scope (grace 1 h) with an in-place straggler that ignores
/// the cancel; the nested body answers the cancel with 5. `outer_cancel`: how the outer is
/// cancelled at 10 ms ("explicit" or "deadline"); `nested_first`: the nested scope is cancelled
/// on its own at 5 ms first ("none", "own-deadline", "own-cancel").
fn nested_value(
    outer_cancel: &'static str,
    nested_first: &'static str,
) -> (Result<u32, Interrupted>, Duration, usize) {
    common::paused().block_on(async move {
        let held = Arc::new(AtomicUsize::new(0));
        let mut oc = Config::new().grace(ms(200));
        if outer_cancel == "deadline" {
            oc = oc.timeout(ms(10));
        }
        let outer = &Scope::<Interrupted>::new(oc);
        let h = Arc::clone(&held);
        let run = outer.run(async move {
            let mut nc = Config::new().grace(hours(1));
            if nested_first == "own-deadline" {
                nc = nc.timeout(ms(5));
            }
            let inner = &Scope::<Interrupted>::new(nc);
            let g = Live::new(&h);
            let v = inner
                .run(async move {
                    inner.spawn_in_place(async move {
                        let _g = g;
                        sleep(hours(2)).await;
                        Ok::<_, Interrupted>(())
                    });
                    if nested_first == "own-cancel" {
                        sleep(ms(5)).await;
                        inner.cancel("inner's own");
                    }
                    scope_runtime::cancelled().await;
                    Ok::<_, Interrupted>(5u32)
                })
                .await;
            // Whatever the nested scope returned, the body answers with its value or 99.
            Ok::<_, Interrupted>(v.unwrap_or(99))
        });
        let started = tokio::time::Instant::now();
        let (out, ()) = tokio::join!(run, async {
            if outer_cancel == "explicit" {
                sleep(ms(10)).await;
                outer.cancel("stop");
            }
        });
        (out, started.elapsed(), held.load(Ordering::SeqCst))
    })
}

/// Law 2 whatever cancelled the nested scope first: its parent's deadline (inherited), or
/// its own timeout or `cancel` before its parent's abort reached it in its grace. The abort
/// ends that grace, and the value the nested body answered with reaches the parent's body
/// (which gives 99 for an error). With its own cancel first it was lost: only an inherited
/// cancel ended the grace with the abort, and the parent dropped its body with the value in
/// it.
#[test]
fn law2_a_nested_scope_cancelled_first_by_its_own_timeout_hands_its_value_up() {
    for (outer_cancel, nested_first) in [
        ("deadline", "none"),
        ("explicit", "own-deadline"),
        ("explicit", "own-cancel"),
    ] {
        let (out, took, left) = nested_value(outer_cancel, nested_first);
        let case = format!("{outer_cancel}, nested first {nested_first}");
        assert_eq!(left, 0, "{case}");
        assert!(took <= ms(400), "{case}: took {took:?}");
        assert!(matches!(out, Ok(5)), "{case}: {out:?} after {took:?}");
    }
}

/// Law 2 when the nested scope's own cancel and its parent's (zero-grace) cancel come from
/// the parent's in-place child in one step: the parent's run polls that child, sees its cancel
/// and aborts in the same turn, and the nested run notices its own cancel only in the parent's
/// last poll. Its value still reaches the parent's body (it was read as a cancel after the
/// abort, which kept its grace, and was lost). With the fail-fast variant, the child fails.
fn own_cancel_from_a_sibling_then_parent_with(
    fail: bool,
    mode: &'static str,
) -> (String, Option<u32>, usize, Duration) {
    common::paused().block_on(async move {
        let held = Arc::new(AtomicUsize::new(0));
        let got = Arc::new(std::sync::Mutex::new(None::<u32>));
        let slot: Arc<std::sync::Mutex<Option<Cx>>> = Arc::new(std::sync::Mutex::new(None));
        let (h, g2, sl) = (Arc::clone(&held), Arc::clone(&got), Arc::clone(&slot));
        let started = tokio::time::Instant::now();
        let o = &Scope::<AppError>::new(Config::new());
        let ocx = o.cx().clone();
        let out = o
            .run(async move {
                o.spawn_in_place(async move {
                    sleep(ms(10)).await;
                    let icx = sl.lock().unwrap().take().expect("inner cx");
                    if mode != "inherited" {
                        icx.cancel("inner's own");
                    }
                    if mode == "gap" {
                        sleep(ms(1)).await;
                    }
                    if fail {
                        return Err(AppError::Boom(3));
                    }
                    ocx.cancel("stop");
                    Ok::<_, AppError>(())
                });
                let inner = &Scope::<AppError>::new(Config::new().grace(hours(1)));
                *slot.lock().unwrap() = Some(inner.cx().clone());
                let g = Live::new(&h);
                let v = inner
                    .run(async move {
                        inner.spawn_in_place(async move {
                            let _g = g;
                            sleep(hours(2)).await;
                            Ok::<_, AppError>(())
                        });
                        scope_runtime::cancelled().await;
                        Ok::<_, AppError>(5u32)
                    })
                    .await;
                *g2.lock().unwrap() = v.as_ref().ok().copied();
                Ok::<_, AppError>(v.unwrap_or(99))
            })
            .await;
        let got = *got.lock().unwrap();
        (
            format!("{out:?}"),
            got,
            held.load(Ordering::SeqCst),
            started.elapsed(),
        )
    })
}

fn own_cancel_from_a_sibling_then_parent(fail: bool) -> (String, Option<u32>, usize, Duration) {
    own_cancel_from_a_sibling_then_parent_with(fail, "same turn")
}

/// Controls: 1 ms between the two cancels (the nested run sees its cancel first), and no own
/// cancel at all (the inherited one).
#[test]
fn law2_a_nested_scope_cancelled_a_moment_before_its_parent_or_by_it_hands_its_value_up() {
    for fail in [false, true] {
        for mode in ["gap", "inherited"] {
            let (out, got, left, took) = within(20, "control", move || {
                own_cancel_from_a_sibling_then_parent_with(fail, mode)
            });
            assert_eq!(left, 0, "{mode} fail {fail}: {out}");
            assert_eq!(got, Some(5), "{mode} fail {fail}: {out} after {took:?}");
        }
    }
}

#[test]
fn law2_a_nested_scope_cancelled_in_the_same_turn_as_its_parents_abort_hands_its_value_up() {
    let (out, got, left, took) = within(20, "own then parent", || {
        own_cancel_from_a_sibling_then_parent(false)
    });
    assert_eq!(left, 0, "law 1: {out} after {took:?}");
    assert_eq!(
        out, "Ok(5)",
        "nested value seen by the body: {got:?}; after {took:?}"
    );
}

#[test]
fn law2_a_nested_scope_cancelled_in_the_same_turn_as_a_fail_fast_abort_hands_its_value_to_the_body()
{
    let (out, got, left, took) = within(20, "own then fail-fast", || {
        own_cancel_from_a_sibling_then_parent(true)
    });
    assert_eq!(left, 0, "law 1: {out} after {took:?}");
    assert!(out.contains("Boom(3)"), "{out}");
    assert_eq!(
        got,
        Some(5),
        "the nested scope's value never reached the body: {out} after {took:?}"
    );
}

/// Runs `w` with an in-place child that cleans up for 20 ms once cancelled; says it is ready
/// once the child runs, waits until an enclosing scope's abort has sealed `w`'s work, then calls `cancel`. Returns
/// the run's result, and notes whether the child cleaned up and whether `w` was sealed.
async fn clean_up_after_the_abort<'s, 'e>(
    w: &'s Scope<'s, 'e, Interrupted>,
    ready: std::sync::mpsc::Sender<()>,
    cleaned: &Arc<AtomicBool>,
    sealed: &mut bool,
    cancel: impl FnOnce(),
) -> Result<u32, Interrupted> {
    let cl = Arc::clone(cleaned);
    let started = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&started);
    w.run(async {
        let child = w.spawn_in_place(async move {
            st.store(true, Ordering::SeqCst);
            scope_runtime::cancelled().await;
            sleep(ms(20)).await;
            cl.store(true, Ordering::SeqCst);
            Ok::<_, Interrupted>(7)
        });
        // Ready once the child runs: a child cancelled before its first poll never starts (the
        // abort, on other threads, may seal the scope within the body's first poll).
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while !started.load(Ordering::SeqCst) && std::time::Instant::now() < until {
            tokio::time::sleep(ms(1)).await;
        }
        ready.send(()).unwrap();
        while !w.is_closed() && std::time::Instant::now() < until {
            tokio::time::sleep(ms(1)).await;
        }
        *sealed = w.is_closed();
        cancel();
        child.await
    })
    .await
}

/// A scope N in a shield in a blocking child, which the outer scope's abort cannot stop, and
/// (but for `how == "n itself"`) a scope N2 in N's body; the outer scope is cancelled (no
/// grace) once the scope that cleans up is running. Returns that scope's result, whether its
/// child cleaned up, whether the abort sealed it.
fn shielded_nested(how: &'static str) -> (Result<u32, Interrupted>, bool, bool) {
    type Got = Option<(Result<u32, Interrupted>, bool, bool)>;
    within(30, "shield in blocking", move || {
        let rt = two_workers();
        let got: Arc<std::sync::Mutex<Got>> = Arc::default();
        let got2 = Arc::clone(&got);
        rt.block_on(async move {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
            let outer = &Scope::<Interrupted>::new(Config::new().name("outer"));
            let _ = outer
                .run(async {
                    let _job = outer.spawn_blocking(move |_| {
                        let handle = tokio::runtime::Handle::current();
                        handle.block_on(scope_runtime::shield(async move {
                            let own_parent = Cx::root();
                            let n = &Scope::<Interrupted>::new(
                                Config::new().name("inner").grace(ms(1_000)),
                            );
                            let cleaned = Arc::new(AtomicBool::new(false));
                            let mut sealed = false;
                            let out = if how == "n itself" {
                                clean_up_after_the_abort(n, ready_tx, &cleaned, &mut sealed, || {
                                    n.cancel("inner's own stop");
                                })
                                .await
                            } else {
                                let cleaned = &cleaned;
                                let sealed = &mut sealed;
                                n.run(async move {
                                    // Made in N's body: nested in N, its context N's child.
                                    let mut c2 = Config::new().name("inner2").grace(ms(1_000));
                                    if how == "own parent" {
                                        c2 = c2.parent(own_parent.clone());
                                    }
                                    let n2 = &Scope::<Interrupted>::new(c2);
                                    clean_up_after_the_abort(n2, ready_tx, cleaned, sealed, || {
                                        match how {
                                            "own parent" => {
                                                own_parent.cancel("inner2's own parent stops");
                                            }
                                            "n2 itself" => {
                                                n2.cancel("inner2's own stop");
                                            }
                                            _ => {
                                                n.cancel("inner's own stop");
                                            }
                                        }
                                    })
                                    .await
                                })
                                .await
                            };
                            *got2.lock().unwrap() =
                                Some((out, cleaned.load(Ordering::SeqCst), sealed));
                        }));
                        Ok::<_, Interrupted>(())
                    });
                    let _ = tokio::task::spawn_blocking(move || ready_rx.recv()).await;
                    outer.cancel("stop");
                    Ok::<_, Interrupted>(())
                })
                .await;
        });
        let r = got.lock().unwrap().take().expect("the inner run ended");
        r
    })
}

/// Law 9 for a scope entered in a shield in a blocking child, which the outer scope's abort
/// cannot stop: the abort seals the scope's work, but its context is the shield's, so the
/// scope runs on (its in-place children run on its own run). Cancelled after the abort, it
/// gives its in-place child its grace, whatever the cancel: its own, or, for a scope N2 below
/// the shielded N, N2's own, N's, or N2's own parent context's (a cancel it inherits there is
/// not the aborting scope's). Versions of the rule before this one cut the grace: for its own
/// cancel (the first), for the inherited ones (the first three).
#[test]
fn law9_a_scope_cancelled_on_its_own_after_an_enclosing_abort_keeps_its_grace() {
    for how in ["n itself", "n2 itself", "from N", "own parent"] {
        let (out, cleaned, sealed) = shielded_nested(how);
        assert!(sealed, "{how}: the outer abort did not seal the scope");
        assert!(
            cleaned,
            "{how}: the in-place child's cleanup was cut: {out:?}"
        );
        assert!(matches!(out, Ok(7)), "{how}: {out:?}");
    }
}

/// Law 6 as `Scope::is_closed` says: a scope made in a body and run after that body's scope
/// finished (its work is over) refuses spawned children, with a cause naming the ended scope,
/// and still runs in-place ones on its own run.
#[tokio::test(start_paused = true)]
async fn law6_a_scope_run_after_the_scope_it_was_made_in_finished_spawns_nothing() {
    let outer = &Scope::<Interrupted>::new(Config::new());
    let kept: &'static Scope<'static, 'static, Interrupted> = outer
        .run(async {
            Ok::<_, Interrupted>(&*Box::leak(Box::new(Scope::new(
                Config::new().parent(Cx::root()),
            ))))
        })
        .await
        .unwrap();
    assert!(kept.is_closed());
    let out = kept
        .run(async {
            assert!(kept.try_spawn(async { Ok::<_, Interrupted>(1) }).is_err());
            let spawned = kept.spawn(async { Ok::<_, Interrupted>(1) }).await;
            let Err(Interrupted::NotStarted(not_started)) = spawned else {
                panic!("{spawned:?}");
            };
            assert!(
                not_started
                    .to_string()
                    .contains("an enclosing scope has ended"),
                "{not_started}"
            );
            kept.spawn_in_place(async { Ok::<_, Interrupted>(2) }).await
        })
        .await;
    assert_eq!(out.unwrap(), 2);
}

type KeptScope = Scope<'static, 'static, Interrupted>;
type KeptRun = Pin<Box<dyn Future<Output = Result<u32, Interrupted>> + Send>>;

fn leaked(s: KeptScope) -> &'static KeptScope {
    Box::leak(Box::new(s))
}

/// S's run: an in-place child that, once cancelled, cleans up for 20 ms and hands 7 up.
fn cleaning_run(s: &'static KeptScope, cleaned: Arc<AtomicBool>) -> KeptRun {
    Box::pin(s.run(async move {
        let child = s.spawn_in_place(async move {
            scope_runtime::cancelled().await;
            sleep(ms(20)).await;
            cleaned.store(true, Ordering::SeqCst);
            Ok::<_, Interrupted>(7u32)
        });
        child.await
    }))
}

/// A scope S made in X's body (so X encloses it; S has a parent context of its own, P), its run
/// started outside X (in the caller), then X force-aborted (its grace ran out over a stubborn
/// in-place child). Returns S, P, S's started run, the cleanup flag.
async fn s_under_aborted_x() -> (&'static KeptScope, Cx, KeptRun, Arc<AtomicBool>) {
    let x = leaked(Scope::new(Config::new().name("X").grace(ms(5))));
    let p = Cx::root();
    let p2 = p.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<&'static KeptScope>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let xrun = tokio::spawn(x.run(async move {
        let s = leaked(Scope::new(
            Config::new().name("S").parent(p2).grace(ms(1_000)),
        ));
        tx.send(s).ok().unwrap();
        x.spawn_in_place(async {
            // Ignores the cancel.
            sleep(hours(2)).await;
            Ok::<_, Interrupted>(())
        });
        let _ = go_rx.await;
        x.cancel("x stop");
        std::future::pending::<()>().await;
        Ok::<_, Interrupted>(())
    }));
    let s = rx.await.unwrap();
    let cleaned = Arc::new(AtomicBool::new(false));
    let mut run = cleaning_run(s, Arc::clone(&cleaned));
    // Start S's run.
    std::future::poll_fn(|cx| {
        assert!(run.as_mut().poll(cx).is_pending());
        std::task::Poll::Ready(())
    })
    .await;
    go_tx.send(()).unwrap();
    let xout = tokio::time::timeout(ms(10_000), xrun).await;
    assert!(xout.is_ok(), "X did not end: {xout:?}");
    (s, p, run, cleaned)
}

/// Control: S cancelled (own cancel, or its own parent P) after X's abort, polled on its own
/// (no last poll anywhere): keeps its grace.
#[test]
fn law9_a_scope_whose_enclosing_scope_was_aborted_after_its_start_keeps_its_grace_for_a_later_cancel(
) {
    for how in ["own", "parent"] {
        let (out, cleaned) = within(20, "control", move || {
            common::paused().block_on(async move {
                let (s, p, run, cleaned) = s_under_aborted_x().await;
                if how == "own" {
                    s.cancel("s own");
                } else {
                    p.cancel("p");
                }
                let out = run.await;
                (format!("{out:?}"), cleaned.load(Ordering::SeqCst))
            })
        });
        assert!(cleaned, "{how}: cleanup cut: {out}");
        assert_eq!(out, "Ok(7)", "{how}");
    }
}

/// S (enclosed by X, which was aborted) polled by hand inside the last poll of an unrelated
/// scope A (made at top level, its own root; A's abort never reaches S; S's run lives outside
/// A's body and outlives it): only a run polled in an enclosing scope's last poll has its
/// grace cut there (any last poll on the thread cut it, with the cancel S noticed there).
fn unrelated_last_poll(how: &'static str) -> (String, bool, String) {
    within(20, "unrelated last poll", move || {
        common::paused().block_on(async move {
            let (s, p, mut run, cleaned) = s_under_aborted_x().await;
            let a = &Scope::<Interrupted>::new(Config::new().name("A").grace(Duration::ZERO));
            let acx = a.cx().clone();
            let done: Arc<std::sync::Mutex<Option<Result<u32, Interrupted>>>> = Arc::default();
            let d2 = Arc::clone(&done);
            let run_ref = &mut run;
            let aout = a
                .run(async move {
                    a.spawn_in_place(async move {
                        sleep(ms(1)).await;
                        if how == "own" {
                            s.cancel("s own");
                        } else {
                            p.cancel("p");
                        }
                        acx.cancel("a stop");
                        Ok::<_, Interrupted>(())
                    });
                    std::future::poll_fn(|cx| {
                        let mut d = d2.lock().unwrap();
                        if d.is_none() {
                            if let std::task::Poll::Ready(v) = run_ref.as_mut().poll(cx) {
                                *d = Some(v);
                            }
                        }
                        std::task::Poll::<()>::Pending
                    })
                    .await;
                    Ok::<_, Interrupted>(())
                })
                .await;
            let got = done.lock().unwrap().take();
            let out = match got {
                Some(v) => format!("ended in A's last poll: {v:?}"),
                None => format!("{:?}", run.await),
            };
            (out, cleaned.load(Ordering::SeqCst), format!("{aout:?}"))
        })
    })
}

/// S cancelled on its own, or through its own parent context, there.
#[test]
fn law9_a_scope_cancelled_on_its_own_in_an_unrelated_scopes_last_poll_keeps_its_grace() {
    for how in ["own", "parent"] {
        let (out, cleaned, aout) = unrelated_last_poll(how);
        assert!(
            cleaned,
            "{how}: S's in-place cleanup was cut in an unrelated scope's last poll: S {out}; A {aout}"
        );
        assert_eq!(out, "Ok(7)", "{how}: A {aout}");
    }
}

/// Law 9 with the body's last poll: work below the body that the abort cannot stop (a blocking
/// closure, or a task stuck in synchronous code) and that ends only when the body's locals go
/// (a sender the body holds) does not keep the scope from ending. The body's last poll waits
/// for the work below to end for a moment only, then the body is dropped. At one level, and
/// one level down (the nested scope's body holds the sender).
#[test]
fn law9_work_below_that_ends_with_the_bodys_drop_does_not_hold_the_scope() {
    for nested in [false, true] {
        let out = within(20, "work below that ends with the body's drop", move || {
            two_workers().block_on(async move {
                let s = &Scope::new(Config::new().grace(ms(50)));
                let body = async {
                    let (tx, rx) = std::sync::mpsc::channel::<u32>();
                    let writer = s.spawn_blocking(move |_cx| {
                        let mut n = 0;
                        for _ in rx {
                            n += 1;
                        }
                        Ok::<_, Interrupted>(n)
                    });
                    tx.send(1).unwrap();
                    std::future::pending::<()>().await;
                    drop(tx);
                    writer.await
                };
                let run = s.run(async {
                    if nested {
                        let inner = &Scope::new(Config::new().grace(hours(1)));
                        inner
                            .run(async {
                                let (tx, rx) = std::sync::mpsc::channel::<u32>();
                                inner.spawn_blocking(move |_cx| {
                                    for _ in rx {}
                                    Ok::<_, Interrupted>(())
                                });
                                std::future::pending::<()>().await;
                                drop(tx);
                                Ok::<_, Interrupted>(0)
                            })
                            .await
                    } else {
                        body.await
                    }
                });
                let (out, ()) = tokio::join!(run, async {
                    sleep(ms(10)).await;
                    s.cancel("stop");
                });
                format!("{out:?}")
            })
        });
        assert!(out.contains("Cancelled"), "nested {nested}: {out}");
    }
}

/// An outside tester's report (probe97): past a deadline and its grace, a body awaiting a
/// `spawn_blocking` child that ignores the cancel returned `Ok` when the child returned within
/// 100 ms of the grace's end, and the deadline when it took longer. As `Scope::run` says: the
/// child, which no abort stops, hands its value to the body's last poll, and the body has the
/// last word; one that returns only later finds the body dropped. A body for which the deadline
/// is final says so, and gets it either way.
#[test]
fn law4_a_blocking_childs_value_reaches_the_bodys_last_poll_and_a_later_one_does_not() {
    let run = |child_ms: u64, final_deadline: bool| {
        within(20, "a blocking child past the deadline", move || {
            two_workers().block_on(async move {
                let s = &Scope::new(Config::new().timeout(ms(50)).grace(ms(30)));
                let out = s
                    .run(async {
                        let slow = s.spawn_blocking(move |_cx| {
                            std::thread::sleep(ms(child_ms));
                            Ok::<_, Interrupted>(child_ms)
                        });
                        let value = slow.await?;
                        if final_deadline {
                            scope_runtime::check()?;
                        }
                        Ok(value)
                    })
                    .await;
                format!("{out:?}")
            })
        })
    };
    // The grace ends at 80 ms; the last poll comes when the child has returned, by 180 ms.
    assert_eq!(run(100, false), "Ok(100)");
    let checked = run(100, true);
    assert!(checked.contains("DeadlineExceeded"), "{checked}");
    // Past 180 ms the body is dropped: the deadline, once the child has returned.
    let late = run(400, false);
    assert!(late.contains("DeadlineExceeded"), "{late}");
}

/// The body's last poll makes no timer a scope did not have: on a runtime without timers a
/// scope with no grace and no deadline still works (cancelled with a spawned child running,
/// and without), as it did before the last poll.
#[test]
fn law9_a_zero_grace_scope_cancelled_on_a_runtime_without_timers_ends() {
    for with_child in [false, true] {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let s = &Scope::new(Config::new());
            let run = s.run(async {
                if with_child {
                    let h = s.spawn(std::future::pending::<Result<u32, Interrupted>>());
                    Ok::<_, Interrupted>(h.await.unwrap_or(3))
                } else {
                    std::future::pending::<()>().await;
                    Ok::<_, Interrupted>(0)
                }
            });
            let (out, ()) = tokio::join!(run, async {
                tokio::task::yield_now().await;
                s.cancel("stop");
            });
            out
        });
        match (with_child, out) {
            (false, Err(Interrupted::Cancelled(_)))
            | (true, Ok(3) | Err(Interrupted::Cancelled(_))) => {}
            (_, other) => panic!("with a child {with_child}: {other:?}"),
        }
    }
}

/// A child's future that returns `Err(Boom(1))` without having been cancelled, and whose
/// destructor then takes `drop_ms` (its end is settled after it). `returned` is set as the
/// destructor starts: the error has been returned by then.
struct FailsThenDropsSlowly {
    returned: Arc<AtomicBool>,
    drop_ms: u64,
}

impl Future for FailsThenDropsSlowly {
    type Output = Result<u32, AppError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> std::task::Poll<Self::Output> {
        assert!(!scope_runtime::is_cancelled());
        std::task::Poll::Ready(Err(AppError::Boom(1)))
    }
}

impl Drop for FailsThenDropsSlowly {
    fn drop(&mut self) {
        self.returned.store(true, Ordering::SeqCst);
        std::thread::sleep(ms(self.drop_ms));
    }
}

/// Laws 2 and 3 (`probe222`): an error a child returned before a cancel of that child alone
/// stands, though the cancel lands before the scope has settled the child's end (here while
/// its future's destructor runs). It read as a consequence of the cancel: the handle (or the
/// set) read the cancellation, and the scope, fail-fast or supervising, reported no failure.
#[test]
fn law3_an_error_returned_before_a_cancel_of_the_child_alone_stands() {
    let rt = two_workers();
    for how in ["handle", "cx", "set"] {
        for supervise in [false, true] {
            let (handle_read, out) = rt.block_on(async {
                let returned = Arc::new(AtomicBool::new(false));
                let s = &Scope::<AppError>::new(Config::new());
                let body = async {
                    let fut = FailsThenDropsSlowly {
                        returned: returned.clone(),
                        drop_ms: 100,
                    };
                    let child = s.spawn(fut);
                    while !returned.load(Ordering::SeqCst) {
                        tokio::task::yield_now().await;
                    }
                    // It has returned its error, uncancelled; its destructor still runs.
                    let read = if how == "set" {
                        let id = child.info().id();
                        let mut set = scope_runtime::ChildSet::new();
                        set.push(child);
                        set.cancel(id, "late");
                        set.join_next().await.map(|(_, read)| read)
                    } else {
                        if how == "handle" {
                            child.cancel("late");
                        } else {
                            child.cx().cancel("late");
                        }
                        Some(child.await)
                    };
                    Ok::<_, AppError>(format!("{read:?}"))
                };
                if supervise {
                    let out = s.run_all(body).await;
                    let out = out
                        .map_err(|f| f.iter().map(|x| x.error().to_string()).collect::<Vec<_>>());
                    match out {
                        Ok(read) => (read, "Ok".to_owned()),
                        Err(errors) => (String::new(), errors.join("; ")),
                    }
                } else {
                    match s.run(body).await {
                        Ok(read) => (read, "Ok".to_owned()),
                        Err(e) => (String::new(), e.to_string()),
                    }
                }
            });
            assert!(
                out.contains("boom 1"),
                "{how}, supervise {supervise}: the scope read {out:?} (the handle: {handle_read})"
            );
            assert!(
                !handle_read.contains("late"),
                "{how}, supervise {supervise}: the handle read {handle_read}"
            );
        }
    }
}

/// Law 2 (`probe222`): a background child's error returned while the body still runs fails
/// the scope, though the body returns while the child's future is being dropped (its end is
/// settled after the body's value): it read as stopped with the body's end.
#[test]
fn law2_a_background_childs_error_before_the_bodys_end_fails_the_scope() {
    let rt = two_workers();
    for supervise in [false, true] {
        let out = rt.block_on(async {
            let returned = Arc::new(AtomicBool::new(false));
            let s = &Scope::<AppError>::new(Config::new());
            let body = async {
                s.spawn_background(FailsThenDropsSlowly {
                    returned: returned.clone(),
                    drop_ms: 100,
                });
                while !returned.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                Ok::<_, AppError>(())
            };
            if supervise {
                s.run_all(body).await.map_err(|f| {
                    f.iter()
                        .map(|x| x.error().to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            } else {
                s.run(body).await.map_err(|e| e.to_string())
            }
        });
        assert!(
            out.as_ref().is_err_and(|e| e.contains("boom 1")),
            "supervise {supervise}: {out:?}"
        );
    }
}

/// Law 2, one step over (`probe222`'s sibling): an error a child returned before its scope
/// was cancelled from outside is the fail-fast scope's failure, though the cancel lands before
/// the scope has settled the child's end (here while its future's destructor runs): it read
/// as a consequence of that cancel, and the scope returned the cancellation.
#[test]
fn law2_an_error_returned_before_the_scopes_cancel_is_its_failure() {
    let rt = two_workers();
    let out = rt.block_on(async {
        let returned = Arc::new(AtomicBool::new(false));
        let s = &Scope::<AppError>::new(Config::new());
        s.run(async {
            let _child = s.spawn(FailsThenDropsSlowly {
                returned: returned.clone(),
                drop_ms: 100,
            });
            while !returned.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            s.cancel("late");
            std::future::pending::<()>().await;
            Ok::<_, AppError>(())
        })
        .await
    });
    assert!(
        matches!(out, Err(AppError::Boom(1))),
        "the scope read {out:?}"
    );
}
