//! Two more kinds of child: blocking closures on tokio's blocking pool (which the scope waits
//! for, since a blocking thread cannot be aborted) and background children (which the scope
//! stops when its body returns).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{flag, AppError};
use scope_runtime::testing::LeakCheck;
use scope_runtime::{Cause, Config, Interrupted, Scope};
use tokio::time::sleep;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// Blocking work.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_loop_stops_soon_after_a_cancel_and_the_scope_waits_for_it() {
    let stopped_at = Arc::new(Mutex::new(None));
    let returned = Arc::new(AtomicBool::new(false));
    let s = &Scope::new(Config::new());
    let (st, ret) = (stopped_at.clone(), returned.clone());
    let cancelled_at = Arc::new(Mutex::new(None));
    let c = cancelled_at.clone();
    let out: Result<(), AppError> = s
        .run(async {
            // The closure says it runs: one cancelled before a pool thread takes it never
            // runs, so the cancel waits for that, not for a time.
            let (up, is_up) = tokio::sync::oneshot::channel();
            s.spawn_blocking(move |cx| {
                let _ = up.send(());
                while !cx.is_cancelled() {
                    std::thread::sleep(ms(1)); // a slice of blocking work
                }
                *st.lock().unwrap() = Some(Instant::now());
                // Clean-up that takes a while: the scope must wait for it.
                std::thread::sleep(ms(30));
                ret.store(true, Ordering::SeqCst);
            });
            is_up.await.expect("the blocking child ran");
            sleep(ms(20)).await;
            *c.lock().unwrap() = Some(Instant::now());
            s.cancel("stop crunching");
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert!(out.is_err());
    assert!(
        returned.load(Ordering::SeqCst),
        "the scope returned before the blocking closure did"
    );
    let stopped = stopped_at.lock().unwrap().unwrap();
    let cancelled = cancelled_at.lock().unwrap().unwrap();
    let took = stopped.duration_since(cancelled);
    // A 1 ms slice notices at once; on a loaded machine a slice can oversleep by a few ms.
    // What this guards against is a loop that never notices.
    assert!(
        took < ms(2_000),
        "the loop took {took:?} to notice the cancel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_work_has_the_outcome_of_any_child() {
    let s = &Scope::new(Config::new());
    let out: Result<(), AppError> = s
        .run_all(async {
            let sum = s.spawn_blocking(|_| Ok::<_, AppError>((1..=10u64).sum::<u64>()));
            assert_eq!(sum.await?, 55);
            let failed = s.spawn_blocking(|_| Err::<(), _>(AppError::Boom(3)));
            assert!(matches!(failed.await, Err(Interrupted::ChildFailed(_))));
            let panicked = s.spawn_blocking(|_| -> Result<(), AppError> { panic!("bad input") });
            assert!(matches!(panicked.await, Err(Interrupted::Panicked(_))));
            Ok(())
        })
        .await
        .map_err(|f| f.into_vec().into_iter().next().unwrap().into_error());
    // Under supervise the failure is kept; the panic cancelled the rest.
    assert!(out.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_work_wakes_what_it_waits_on_through_on_cancel() {
    let s = &Scope::new(Config::new());
    let out: Result<&str, AppError> = s
        .run(async {
            let (up, is_up) = tokio::sync::oneshot::channel();
            let child = s.spawn_blocking(move |cx| {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                // The cancellation unblocks the wait.
                let _stop = cx.on_cancel(move |_| {
                    let _ = tx.send(());
                });
                let _ = up.send(()); // waiting now
                rx.recv().ok();
                Ok::<_, AppError>("unblocked")
            });
            is_up.await.expect("the blocking child ran");
            child.cancel("stop waiting");
            Ok(child.await?)
        })
        .await;
    assert_eq!(out.unwrap(), "unblocked");
}

// ---------------------------------------------------------------------------------------------
// Background children.

#[tokio::test(start_paused = true)]
async fn a_keep_alive_stops_at_the_bodys_return_and_the_scope_returns_its_value() {
    let check = LeakCheck::new();
    let pings = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(Mutex::new(None));
    let (p, st) = (pings.clone(), stopped.clone());
    let returned_at = Arc::new(Mutex::new(None));
    let r = returned_at.clone();
    let s = &Scope::new(Config::new().grace(ms(500)));
    let out = s
        .run(async {
            let ping = s.spawn_background(async move {
                loop {
                    tokio::select! {
                        cause = scope_runtime::cancelled() => {
                            *st.lock().unwrap() = Some((tokio::time::Instant::now(), cause));
                            return Ok::<_, AppError>(());
                        }
                        () = sleep(ms(100)) => { p.fetch_add(1, Ordering::SeqCst); }
                    }
                }
            });
            sleep(ms(350)).await;
            *r.lock().unwrap() = Some(tokio::time::Instant::now());
            drop(ping);
            Ok::<_, AppError>("the work's value")
        })
        .await;
    assert_eq!(out.unwrap(), "the work's value");
    assert_eq!(pings.load(Ordering::SeqCst), 3);
    let (at, cause) = stopped.lock().unwrap().clone().unwrap();
    let body_returned = returned_at.lock().unwrap().unwrap();
    assert_eq!(
        at, body_returned,
        "stopped within the tick of the body's return"
    );
    assert!(
        matches!(cause.root(), Cause::Finished { .. }),
        "a finished scope, not an error: {cause}"
    );
    check.assert_clean().await;
}

#[tokio::test(start_paused = true)]
async fn a_background_child_that_ignores_the_signal_is_aborted_after_the_grace() {
    let (ignorer, dropped) = flag();
    let start = tokio::time::Instant::now();
    let s = &Scope::new(Config::new().grace(ms(200)));
    let out = s
        .run(async {
            s.spawn_in_place_background(async move {
                let _f = ignorer;
                loop {
                    sleep(ms(10)).await; // never looks
                }
            });
            sleep(ms(50)).await;
            Ok::<_, AppError>(42)
        })
        .await;
    assert_eq!(out.unwrap(), 42);
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(start.elapsed(), ms(250), "the body's 50 ms, then the grace");
}

#[tokio::test(start_paused = true)]
async fn a_background_childs_failure_before_the_end_still_fails_the_scope() {
    let scope = Scope::new(Config::new());
    let s = &scope;
    let out = s
        .run(async {
            s.spawn_background(async {
                sleep(ms(10)).await;
                Err::<(), _>(AppError::Boom(9))
            });
            sleep(ms(100)).await;
            Ok::<_, AppError>(())
        })
        .await;
    assert!(matches!(out, Err(AppError::Boom(9))), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn a_background_child_of_a_body_that_failed_reads_the_failure_not_a_finish() {
    // The body's error cancels its scope (`SiblingFailed`, its children reading it inside
    // `ParentCancelled`): a background child must not be told the work finished well, which
    // a clean-up deciding between commit and roll-back reads as "commit".
    for in_place in [false, true] {
        let seen: Arc<Mutex<Option<Cause>>> = Arc::default();
        let (bg, fg) = (Arc::clone(&seen), Arc::<Mutex<Option<Cause>>>::default());
        let fg_seen = Arc::clone(&fg);
        let s = &Scope::new(Config::new().grace(ms(1_000)));
        let out = s
            .run(async {
                let watch = async move {
                    *bg.lock().unwrap() = Some(scope_runtime::cancelled().await);
                    Ok::<_, AppError>(())
                };
                if in_place {
                    s.spawn_in_place_background(watch);
                } else {
                    s.spawn_background(watch);
                }
                s.spawn(async move {
                    *fg_seen.lock().unwrap() = Some(scope_runtime::cancelled().await);
                    Ok::<_, AppError>(())
                });
                sleep(ms(10)).await;
                Err::<(), _>(AppError::Boom(4))
            })
            .await;
        assert!(matches!(out, Err(AppError::Boom(4))), "{out:?}");
        let fg = fg
            .lock()
            .unwrap()
            .clone()
            .expect("the child saw the cancel");
        let bg = seen
            .lock()
            .unwrap()
            .clone()
            .expect("the background child saw the stop");
        assert!(matches!(fg.root(), Cause::SiblingFailed { .. }), "{fg}");
        assert!(!bg.is_finished(), "in place: {in_place}: {bg}");
        assert!(matches!(bg.root(), Cause::SiblingFailed { .. }), "{bg}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_background_child_keeps_the_shutdown_grace_when_the_body_answers_the_shutdown() {
    // `Config::shutdown_grace` is what children get when the application's shutdown cancels
    // the scope: a background child drains within it as a plain child does, though the
    // body, answering the shutdown, returns (and stops it) at once.
    for in_place in [false, true] {
        let start = tokio::time::Instant::now();
        let (fg_done, bg_done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (f, b) = (Arc::clone(&fg_done), Arc::clone(&bg_done));
        let s = &Scope::new(Config::new().shutdown_grace(ms(5_000)));
        let out = s
            .run(async {
                s.spawn(async move {
                    scope_runtime::cancelled().await;
                    sleep(ms(1_000)).await;
                    f.store(true, Ordering::SeqCst);
                    Ok::<_, AppError>(())
                });
                let drain = async move {
                    scope_runtime::cancelled().await;
                    sleep(ms(1_000)).await;
                    b.store(true, Ordering::SeqCst);
                    Ok::<_, AppError>(())
                };
                if in_place {
                    s.spawn_in_place_background(drain);
                } else {
                    s.spawn_background(drain);
                }
                sleep(ms(10)).await;
                s.cx().cancel_with(Cause::Shutdown {
                    signal: scope_runtime::Signal::Terminate,
                });
                scope_runtime::cancelled().await;
                Ok::<_, AppError>("answered")
            })
            .await;
        assert_eq!(out.unwrap(), "answered");
        assert!(fg_done.load(Ordering::SeqCst));
        assert!(bg_done.load(Ordering::SeqCst), "in place: {in_place}");
        assert_eq!(start.elapsed(), ms(1_010));
    }
}

#[tokio::test(start_paused = true)]
async fn a_handles_cancel_from_a_plain_thread_keeps_the_grace_in_force_when_it_was_asked() {
    // The stop is asked from a thread with no runtime, and the run times it later: a shutdown
    // that comes in between is not the grace of a stop asked before it (on the runtime's
    // thread the same stop gets the plain grace).
    for from_a_plain_thread in [false, true] {
        let start = tokio::time::Instant::now();
        let dropped_at: Arc<Mutex<Option<Duration>>> = Arc::default();
        let at = Arc::clone(&dropped_at);
        let s = &Scope::new(Config::new().shutdown_grace(ms(5_000)).grace(ms(50)));
        let out = s
            .run(async {
                struct Stamp(tokio::time::Instant, Arc<Mutex<Option<Duration>>>);
                impl Drop for Stamp {
                    fn drop(&mut self) {
                        *self.1.lock().unwrap() = Some(self.0.elapsed());
                    }
                }
                let child = s.spawn(async move {
                    let _stamp = Stamp(start, at);
                    sleep(Duration::from_secs(3_600)).await;
                    Ok::<_, AppError>(())
                });
                sleep(ms(10)).await;
                if from_a_plain_thread {
                    std::thread::scope(|t| {
                        t.spawn(|| assert!(child.cancel("not needed")));
                    });
                } else {
                    assert!(child.cancel("not needed"));
                }
                s.cx().cancel_with(Cause::Shutdown {
                    signal: scope_runtime::Signal::Terminate,
                });
                let _ = child.await;
                Ok::<_, AppError>(())
            })
            .await;
        assert!(out.is_ok(), "{out:?}");
        assert_eq!(
            *dropped_at.lock().unwrap(),
            Some(ms(60)),
            "from a plain thread: {from_a_plain_thread}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// In-place children share one waker for their first poll: every wake still reaches its child.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_children_woken_after_their_first_poll_all_complete() {
    for round in 0..50 {
        let s = &Scope::new(Config::new());
        let n = 64;
        let out: Result<usize, AppError> = s
            .run(async {
                let mut senders = Vec::new();
                let mut children = Vec::new();
                for i in 0..n {
                    let (tx, rx) = tokio::sync::oneshot::channel::<usize>();
                    senders.push(tx);
                    // Pending at its first poll (with the shared waker), woken from another
                    // thread later; some wait twice, the second time with a waker of their own.
                    children.push(s.spawn_in_place(async move {
                        let v = rx.await.unwrap_or(0);
                        if i % 3 == 0 {
                            tokio::task::yield_now().await;
                        }
                        Ok::<_, AppError>(v)
                    }));
                }
                tokio::task::yield_now().await; // every child has been polled once
                let wakers = std::thread::spawn(move || {
                    // Out of order, from a thread of its own.
                    let mut senders: Vec<_> = senders.into_iter().enumerate().collect();
                    senders.reverse();
                    senders.rotate_left(round % n);
                    for (i, tx) in senders {
                        let _ = tx.send(i);
                    }
                });
                let mut sum = 0;
                for child in children {
                    sum += child.await?;
                }
                wakers.join().unwrap();
                Ok(sum)
            })
            .await;
        assert_eq!(out.unwrap(), n * (n - 1) / 2, "round {round}");
    }
}

#[tokio::test(start_paused = true)]
async fn try_join_next_takes_every_finished_child_whatever_the_tasks_budget() {
    // Each handle polled spends tokio's cooperative budget (128 polls per task poll): a set
    // of 300 finished children is still read whole in one go.
    let s = &Scope::new(Config::new());
    s.run(async {
        let mut set: scope_runtime::ChildSet<'_, u32> = (0..300)
            .map(|i| s.spawn(async move { Ok::<_, Interrupted>(i) }))
            .collect();
        sleep(ms(50)).await;
        let mut taken = 0;
        while set.try_join_next().is_some() {
            taken += 1;
        }
        assert_eq!(taken, 300, "{} left in the set", set.len());
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_child_awaited_again_after_its_value_says_so() {
    let s = &Scope::new(Config::new());
    s.run(async {
        let mut child = s.spawn(async { Ok::<_, Interrupted>(1) });
        assert_eq!((&mut child).await?, 1);
        let again = (&mut child).await;
        let Err(e) = again else {
            panic!("a second value from one child: {again:?}")
        };
        assert!(
            e.to_string().contains("polled after it completed"),
            "not an abort: {e}"
        );
        let mut local = s.spawn_in_place(async { Ok::<_, Interrupted>(2) });
        assert_eq!((&mut local).await?, 2);
        let e = (&mut local).await.unwrap_err();
        assert!(e.to_string().contains("polled after it completed"), "{e}");
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_child_set_cancels_with_a_reason_made_at_run_time() {
    // As `Child::cancel` does, `cancel_all` takes an owned reason too (a grace: the children
    // answer with the cause they read).
    let s = &Scope::new(Config::new().grace(ms(1_000)));
    s.run(async {
        let mut set = scope_runtime::ChildSet::new();
        for _ in 0..2 {
            set.push(s.spawn(async { Ok::<_, Interrupted>(scope_runtime::cancelled().await) }));
        }
        tokio::task::yield_now().await;
        let request = 42;
        assert_eq!(set.cancel_all(format!("request {request} timed out")), 2);
        while let Some((_, out)) = set.join_next().await {
            assert_eq!(
                out?.root(),
                &Cause::explicit("request 42 timed out".to_owned())
            );
        }
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
}

/// A child pushed after it has finished counts as finishing at its push: after the children
/// that finished in the set before, in push order (an outside tester read the docs as
/// saying such children come first).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_child_set_takes_children_pushed_finished_at_their_push() {
    let s = &Scope::new(Config::new());
    let order = s
        .run(async {
            let named = |name: &'static str, wait: u64| {
                s.spawn_named(name, async move {
                    sleep(ms(wait)).await;
                    Ok::<_, Interrupted>(())
                })
            };
            let (a, b, c) = (named("a", 0), named("b", 0), named("c", 0));
            let mut set = scope_runtime::ChildSet::new();
            set.push(named("d", 1));
            sleep(ms(20)).await; // every child has finished; only `d` was in the set
            for child in [c, a, b] {
                set.push(child);
            }
            let mut order = Vec::new();
            while let Some((info, out)) = set.join_next().await {
                out?;
                order.push(info.name().unwrap_or("?").to_owned());
            }
            Ok::<_, Interrupted>(order)
        })
        .await
        .unwrap();
    assert_eq!(order, ["d", "c", "a", "b"]);
}

// ---------------------------------------------------------------------------------------------
// A blocking child waiting for a thread of the pool is a child not yet started: dropped at
// once when it is stopped (law 9), not when some other work frees a thread.

/// A current-thread runtime with one blocking thread, and a guard holding that thread until
/// it is dropped (or 3 s pass).
fn one_blocking_thread_taken() -> (tokio::runtime::Runtime, impl Drop) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (free, hold) = std::sync::mpsc::channel::<()>();
    let (taken_tx, taken) = std::sync::mpsc::channel::<()>();
    drop(rt.spawn_blocking(move || {
        let _ = taken_tx.send(());
        let _ = hold.recv_timeout(Duration::from_secs(3));
    }));
    taken.recv().unwrap();
    (rt, Free(free))
}

/// Frees the blocking thread [`one_blocking_thread_taken`] holds.
struct Free(std::sync::mpsc::Sender<()>);

impl Drop for Free {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn law9_a_blocking_child_waiting_for_a_thread_is_dropped_at_the_scopes_deadline() {
    let (rt, free) = one_blocking_thread_taken();
    let (out, took) = rt.block_on(async {
        let start = Instant::now();
        let s = &Scope::new(Config::new().timeout(ms(20)));
        let out = s
            .run(async { s.spawn_blocking(|_| Ok::<_, Interrupted>(())).await })
            .await;
        (out, start.elapsed())
    });
    drop(free);
    assert!(
        matches!(out, Err(Interrupted::DeadlineExceeded(_))),
        "{out:?}"
    );
    assert!(took < ms(5_000), "the scope waited {took:?} for a thread");
}

#[test]
fn law9_an_aborted_blocking_child_waiting_for_a_thread_never_runs_and_says_so_at_once() {
    let (rt, free) = one_blocking_thread_taken();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let (out, took) = rt.block_on(async {
        let start = Instant::now();
        let s = &Scope::new(Config::new());
        let out = s
            .run(async {
                let child = s.spawn_blocking(move |_| r.store(true, Ordering::SeqCst));
                tokio::task::yield_now().await;
                child.abort();
                Ok::<_, Interrupted>(child.await)
            })
            .await;
        (out, start.elapsed())
    });
    drop(free);
    let out = out.expect("an aborted child does not fail its scope");
    assert!(matches!(out, Err(Interrupted::NotStarted(_))), "{out:?}");
    assert!(took < ms(5_000), "the abort waited {took:?} for a thread");
    std::thread::sleep(ms(50)); // the pool's thread is free now: nothing runs on it
    assert!(!ran.load(Ordering::SeqCst), "an aborted closure ran");
}

/// A value whose drop is counted.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A blocking child that is aborted while its closure runs: the closure runs to its end (no
/// thread can be stopped), and the value it returns then is dropped, as a spawned child's
/// future is at an abort; its handle reads the abort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn law9_an_aborted_blocking_childs_handle_reads_the_abort_not_its_late_value() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let d = dropped.clone();
    let s = &Scope::new(Config::new());
    let out = s
        .run(async {
            let child = s.spawn_blocking(move |_| {
                let _ = started_tx.send(());
                std::thread::sleep(ms(100));
                Ok::<_, Interrupted>(Counted(d))
            });
            started.await.unwrap();
            child.abort();
            Ok::<_, Interrupted>(child.await)
        })
        .await
        .expect("an aborted child does not fail its scope");
    let Err(Interrupted::Cancelled(c)) = out else {
        panic!("the handle read {:?}", out.map(|_| "a value"));
    };
    assert_eq!(c.cause().to_string(), "aborted");
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the late value was dropped"
    );
}

/// The same when the abort comes after a cancel of the scope (or its deadline) reached the
/// child: its value is dropped, and its handle reads that first cancel, as an aborted
/// spawned sibling's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_blocking_child_already_cancelled_by_its_scope_reads_that_cancel() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new().grace(Duration::from_secs(5)));
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let d = dropped.clone();
    let out = s
        .run(async {
            let blocking = s.spawn_blocking(move |_| {
                let _ = started_tx.send(());
                let _ = wait.recv_timeout(Duration::from_secs(5));
                Ok::<_, Interrupted>(Counted(d))
            });
            let (running_tx, running) = tokio::sync::oneshot::channel::<()>();
            let spawned = s.spawn(async move {
                let _ = running_tx.send(());
                sleep(Duration::from_secs(3600)).await;
                Ok::<_, Interrupted>(())
            });
            // Both have started (a spawned child no worker has polled yet never starts).
            started.await.unwrap();
            running.await.unwrap();
            s.cancel("scope stop");
            blocking.abort();
            spawned.abort();
            go.send(()).unwrap();
            Ok::<_, Interrupted>((blocking.await.map(drop), spawned.await))
        })
        .await;
    let (blocking, spawned) = out.expect("the body answered its own cancel");
    let (Err(Interrupted::Cancelled(b)), Err(Interrupted::Cancelled(sp))) = (&blocking, &spawned)
    else {
        panic!("the handles read {blocking:?} and {spawned:?}");
    };
    assert_eq!(b.cause(), sp.cause());
    assert_eq!(b.cause().root().to_string(), "scope stop");
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the late value was dropped"
    );
}

/// A blocking child's cancel only asks, even once its grace has run out (no thread can be
/// aborted): the value it returns then stands, unlike after its handle's abort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_childs_value_after_its_cancels_grace_stands() {
    let s = &Scope::new(Config::new().grace(ms(30)));
    let late = s
        .run(async {
            let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
            let late = s.spawn_blocking(move |_| {
                let _ = started_tx.send(());
                std::thread::sleep(ms(150));
                Ok::<_, Interrupted>("late")
            });
            started.await.unwrap();
            sleep(ms(20)).await;
            late.cancel("enough");
            Ok::<_, Interrupted>(late.await)
        })
        .await
        .unwrap();
    assert_eq!(late.unwrap(), "late");
}

/// An abort that comes once the child has finished finds it finished: its value stands. (The
/// closure's return alone is not that moment: its outcome is settled just after, and an abort
/// in between still counts, so the test waits for the handle to say it has finished.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_after_a_blocking_childs_closure_returned_keeps_its_value() {
    let s = &Scope::new(Config::new());
    let out = s
        .run(async {
            let child = s.spawn_blocking(move |_| Ok::<_, Interrupted>(5));
            while !child.is_finished() {
                tokio::task::yield_now().await;
            }
            child.abort();
            Ok::<_, Interrupted>(child.await)
        })
        .await
        .unwrap();
    assert_eq!(out.unwrap(), 5);
}

// ---------------------------------------------------------------------------------------------
// Background children are stopped by the body's end, which a limit could block: they take no
// slot of the limit.

#[tokio::test(start_paused = true)]
async fn a_background_child_does_not_take_a_slot_from_the_work() {
    let s = &Scope::new(Config::new().limit(1));
    let run = s.run(async {
        s.spawn_background(async {
            loop {
                sleep(Duration::from_secs(1)).await; // a keep-alive
            }
        });
        assert!(s.try_spawn(async { Ok::<_, Interrupted>(()) }).is_ok());
        s.spawn(async { Ok::<_, Interrupted>(7) }).await
    });
    let out = tokio::time::timeout(Duration::from_secs(60), run).await;
    assert_eq!(out.expect("the keep-alive holds the only slot").unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn an_in_place_background_child_does_not_take_a_slot_from_the_work() {
    let s = &Scope::new(Config::new().limit(1));
    let run = s.run(async {
        s.spawn_in_place_background(async {
            loop {
                sleep(Duration::from_secs(1)).await;
            }
        });
        let first = s.spawn_in_place(async { Ok::<_, Interrupted>(7) }).await?;
        let second = s.spawn(async { Ok::<_, Interrupted>(8) }).await?;
        Ok::<_, Interrupted>(first + second)
    });
    let out = tokio::time::timeout(Duration::from_secs(60), run).await;
    assert_eq!(
        out.expect("the keep-alive holds the only slot").unwrap(),
        15
    );
}

#[tokio::test(start_paused = true)]
async fn a_background_child_spawned_before_the_run_takes_no_slot_either() {
    let s = &Scope::new(Config::new().limit(1));
    let pings = Arc::new(AtomicUsize::new(0));
    let p = pings.clone();
    drop(s.spawn_background(async move {
        loop {
            p.fetch_add(1, Ordering::SeqCst);
            sleep(Duration::from_secs(1)).await;
        }
    }));
    let run = s.run(async {
        let out = s.spawn(async { Ok::<_, Interrupted>(7) }).await?;
        sleep(ms(1_500)).await;
        Ok::<_, Interrupted>(out)
    });
    let out = tokio::time::timeout(Duration::from_secs(60), run).await;
    assert_eq!(out.expect("the keep-alive holds the only slot").unwrap(), 7);
    assert_eq!(
        pings.load(Ordering::SeqCst),
        2,
        "the keep-alive ran from the start"
    );
}

#[test]
fn law9_a_blocking_child_waiting_for_a_thread_is_dropped_at_the_cancel_not_after_the_grace() {
    // It can never run once cancelled (its closure is not called on a cancelled context): the
    // scope does not wait out its grace for it, and neither does a handle's cancel.
    let (rt, free) = one_blocking_thread_taken();
    let (out, took) = rt.block_on(async {
        let start = Instant::now();
        let s = &Scope::new(Config::new().timeout(ms(20)).grace(Duration::from_secs(30)));
        let out = s
            .run(async { s.spawn_blocking(|_| Ok::<_, Interrupted>(())).await })
            .await;
        (out, start.elapsed())
    });
    assert!(
        matches!(out, Err(Interrupted::DeadlineExceeded(_))),
        "{out:?}"
    );
    assert!(
        took < ms(5_000),
        "the scope waited {took:?} for a job that cannot run"
    );

    let (out, took) = rt.block_on(async {
        let start = Instant::now();
        let s = &Scope::new(Config::new().grace(Duration::from_secs(30)));
        let out = s
            .run(async {
                let child = s.spawn_blocking(|_| Ok::<_, Interrupted>(()));
                tokio::task::yield_now().await;
                child.cancel("not needed");
                Ok::<_, Interrupted>(child.await)
            })
            .await;
        (out, start.elapsed())
    });
    drop(free);
    let out = out.expect("a child cancelled alone does not fail its scope");
    assert!(matches!(out, Err(Interrupted::NotStarted(_))), "{out:?}");
    assert!(
        took < ms(5_000),
        "the cancel waited {took:?} for a job that cannot run"
    );
}

/// What the linear-time tests below measure: a set of `n` children, spawned or in place,
/// stopped one by one (`cancel_all`, no grace: running, or waiting for the slot of a limit of
/// one) and joined, or joined once every one has finished.
#[derive(Clone, Copy, Debug)]
enum Many {
    StopRunning,
    StopQueued,
    JoinFinished,
    /// One child at a time, cancelled alone under a long grace and answering at once.
    CancelAnswered,
}

/// `n` children one after another, each cancelled through its handle under an hour's grace
/// and answering the cancel at once.
async fn cancel_answered(in_place: bool, n: usize) -> Duration {
    let s = &Scope::new(Config::new().grace(Duration::from_secs(3600)));
    let took: Result<_, Interrupted> = s
        .run(async {
            let start = Instant::now();
            for _ in 0..n {
                let child = async {
                    scope_runtime::cancelled().await;
                    Ok::<_, Interrupted>(())
                };
                let child = if in_place {
                    s.spawn_in_place(child)
                } else {
                    s.spawn(child)
                };
                tokio::task::yield_now().await; // it has started and waits
                assert!(child.cancel("client went away"));
                child.await?;
            }
            Ok(start.elapsed())
        })
        .await;
    took.unwrap()
}

/// The time from the stop (or, for `JoinFinished`, from the first join) until the set has
/// drained.
fn time_many(rt: &tokio::runtime::Runtime, what: Many, in_place: bool, n: usize) -> Duration {
    if let Many::CancelAnswered = what {
        return rt.block_on(cancel_answered(in_place, n));
    }
    rt.block_on(async {
        let config = match what {
            Many::StopQueued => Config::new().limit(1),
            Many::StopRunning | Many::JoinFinished | Many::CancelAnswered => Config::new(),
        };
        let s = &Scope::new(config);
        let join = matches!(what, Many::JoinFinished);
        let took: Result<_, Interrupted> = s
            .run(async {
                let finished = Arc::new(AtomicUsize::new(0));
                let mut set = scope_runtime::ChildSet::new();
                for _ in 0..n {
                    let finished = finished.clone();
                    let child = async move {
                        if join {
                            finished.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        } else {
                            std::future::pending::<Result<(), Interrupted>>().await
                        }
                    };
                    set.push(if in_place {
                        s.spawn_in_place(child)
                    } else {
                        s.spawn(child)
                    });
                }
                // Every child has started (or waits for the slot), or has finished.
                tokio::task::yield_now().await;
                while join && finished.load(Ordering::SeqCst) < n {
                    tokio::task::yield_now().await;
                }
                let start = Instant::now();
                if !join {
                    assert_eq!(set.cancel_all("stop"), n);
                }
                let mut joined = 0;
                while set.join_next().await.is_some() {
                    joined += 1;
                }
                assert_eq!(joined, n);
                Ok(start.elapsed())
            })
            .await;
        took.unwrap()
    })
}

/// Checks that 8x the children take well under 64x the time (quadratic work): the best of
/// three runs of each size, taken in turns, with no other timing test running.
fn assert_linear(what: Many) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for in_place in [false, true] {
        let (mut small, mut large) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            small = small.min(time_many(&rt, what, in_place, 2_000));
            large = large.min(time_many(&rt, what, in_place, 16_000));
        }
        let ratio = large.as_secs_f64() / small.as_secs_f64();
        // Linear work is 8x; quadratic, 64x. The bound leaves room for the caches and a
        // loaded machine.
        assert!(
            ratio < 40.0,
            "{what:?}, in place: {in_place}: 16,000 children took {ratio:.1}x the time of \
             2,000 ({large:?} against {small:?})"
        );
    }
}

#[test]
fn stopping_running_children_one_by_one_is_linear_in_their_number() {
    // Each stop of an in-place child searched the whole set for it.
    assert_linear(Many::StopRunning);
}

#[test]
fn cancelling_children_alone_under_a_grace_is_linear_in_their_number() {
    // An in-place child cancelled under a grace stayed on the run's list of aborts to make
    // until the grace's end, after it had ended, and each turn of the run went through the
    // whole list.
    assert_linear(Many::CancelAnswered);
}

#[test]
fn stopping_queued_children_one_by_one_is_linear_in_their_number() {
    // Each stop of an in-place child waiting for a slot searched the queues from the front,
    // and a set stops its newest first.
    assert_linear(Many::StopQueued);
}

#[test]
fn joining_a_sets_finished_children_is_linear_in_their_number() {
    // With tokio's cooperative budget spent, each join polled every finished child still in
    // the set (each read as pending).
    assert_linear(Many::JoinFinished);
}

/// In-place children woken together (a burst of answers, a shared instant) are each polled a
/// bounded number of times: all of them run in the scope's task, and once tokio's
/// cooperative budget was spent, every one still to poll read as pending and was woken again,
/// so each pass of the run polled all that were left and completed about 128 of them
/// (`probe133`: 16,000 children 5x the time per child of 2,000). Polls are counted, not
/// timed: quadratic is about N / 256 polls per child, here 30.
#[tokio::test(flavor = "current_thread")]
async fn in_place_children_woken_together_are_polled_a_bounded_number_of_times() {
    const N: usize = 8_000;
    let polls = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new());
    s.run(async {
        let mut senders = Vec::with_capacity(N);
        for _ in 0..N {
            let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
            senders.push(tx);
            let polls = Arc::clone(&polls);
            s.spawn_in_place(std::future::poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                std::future::Future::poll(std::pin::Pin::new(&mut rx), cx)
                    .map(|_| Ok::<(), Interrupted>(()))
            }));
        }
        // Every child waits, then every answer comes at once.
        tokio::task::yield_now().await;
        for tx in senders {
            let _ = tx.send(());
        }
        Ok::<(), Interrupted>(())
    })
    .await
    .unwrap();
    let polls = polls.load(Ordering::Relaxed);
    assert!(polls <= 6 * N, "{polls} polls for {N} children");
}

/// A child that keeps tokio's cooperative budget spent (tokio's own advice for a long loop:
/// `consume_budget` in it) until `stop`.
async fn spends_the_budget(stop: Arc<AtomicBool>) -> Result<(), Interrupted> {
    while !stop.load(Ordering::Relaxed) {
        tokio::task::coop::consume_budget().await;
    }
    Ok(())
}

/// Lets such a child go after `after`, so that a starved test ends (and fails) rather than
/// hang.
fn stop_after(stop: &Arc<AtomicBool>, after: Duration) {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        std::thread::sleep(after);
        stop.store(true, Ordering::Relaxed);
    });
}

/// A gate that needs no budget to be passed (tokio's channels ask for one).
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<(bool, Option<std::task::Waker>)>>);

impl Gate {
    fn open(&self) {
        let waker = {
            let mut g = self.0.lock().unwrap();
            g.0 = true;
            g.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    async fn passed(&self) {
        std::future::poll_fn(|cx| {
            let mut g = self.0.lock().unwrap();
            if g.0 {
                std::task::Poll::Ready(())
            } else {
                g.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await;
    }
}

/// An in-place child woken while a sibling (or a nested scope's child) keeps the budget spent
/// is still polled: the set, stopping for the budget, put the children still to poll back
/// behind the one that spent it, which woke itself first, so that one came first at every
/// turn and the others never (`probe135`, a review of the fix above).
#[test]
fn a_woken_in_place_child_is_polled_while_a_sibling_keeps_the_budget_spent() {
    for (nested, workers) in [(false, 1), (true, 1), (false, 2), (true, 2)] {
        let rt = if workers == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(workers);
            b
        }
        .enable_all()
        .build()
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        stop_after(&stop, Duration::from_secs(5));
        let waited = rt.block_on(async {
            let s = &Scope::new(Config::new());
            s.run(async {
                let spender = Arc::clone(&stop);
                if nested {
                    s.spawn_in_place(async move {
                        let inner = &Scope::new(Config::new());
                        inner
                            .run(async {
                                inner.spawn_in_place(spends_the_budget(spender));
                                Ok::<_, Interrupted>(())
                            })
                            .await
                    });
                } else {
                    s.spawn_in_place(spends_the_budget(spender));
                }
                let gate = Gate::default();
                let (passed, stop) = (gate.clone(), Arc::clone(&stop));
                let woken = s.spawn_in_place(async move {
                    passed.passed().await;
                    stop.store(true, Ordering::Relaxed);
                    Ok::<_, Interrupted>(Instant::now())
                });
                sleep(Duration::from_millis(10)).await;
                let opened = Instant::now();
                gate.open();
                Ok::<_, Interrupted>(woken.await? - opened)
            })
            .await
            .unwrap()
        });
        assert!(
            waited < Duration::from_secs(1),
            "nested: {nested}, workers: {workers}: polled {waited:?} after its wake"
        );
    }
}

/// The scope's grace and deadline end while an in-place child that ignores the cancel keeps
/// the budget spent: the run's timers read as pending once the children had spent it, so law
/// 9's bound never came for such a child (`probe135`; before the fix above too).
#[test]
fn the_grace_and_the_deadline_end_while_an_in_place_child_keeps_the_budget_spent() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for deadline in [false, true] {
        let stop = Arc::new(AtomicBool::new(false));
        stop_after(&stop, Duration::from_secs(5));
        let config = Config::new().grace(Duration::from_millis(50));
        let config = if deadline {
            config.timeout(Duration::from_millis(10))
        } else {
            config
        };
        let started = Instant::now();
        let out = rt.block_on(async {
            let s = &Scope::new(config);
            s.run(async {
                s.spawn_in_place(spends_the_budget(Arc::clone(&stop)));
                if !deadline {
                    sleep(Duration::from_millis(10)).await;
                    s.cancel("stop");
                }
                std::future::pending::<()>().await;
                Ok::<(), Interrupted>(())
            })
            .await
        });
        let took = started.elapsed();
        assert!(out.is_err(), "deadline: {deadline}: {out:?}");
        assert!(
            took < Duration::from_secs(1),
            "deadline: {deadline}: a 50 ms grace took {took:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Sets.

#[tokio::test(start_paused = true)]
async fn children_that_finished_before_the_first_join_come_out_in_the_order_they_finished() {
    for in_place in [false, true] {
        let s = &Scope::new(Config::new());
        let order = s
            .run(async {
                let mut set = scope_runtime::ChildSet::new();
                for (name, wait) in [("slow", 30), ("middle", 20), ("fast", 10)] {
                    let child = async move {
                        sleep(ms(wait)).await;
                        Ok::<_, Interrupted>(())
                    };
                    set.push(if in_place {
                        s.spawn_in_place_named(name, child)
                    } else {
                        s.spawn_named(name, child)
                    });
                }
                assert_eq!(set.len(), 3);
                // Other work first: all three finish meanwhile, at 10, 20 and 30 ms.
                sleep(ms(100)).await;
                assert_eq!(set.len(), 3);
                let mut order = Vec::new();
                while let Some((info, out)) = set.join_next().await {
                    out?;
                    order.push(info.name().unwrap().to_owned());
                }
                assert!(set.is_empty());
                Ok::<_, Interrupted>(order)
            })
            .await
            .unwrap();
        // Before, push order: ["slow", "middle", "fast"].
        assert_eq!(order, ["fast", "middle", "slow"], "in place: {in_place}");
    }
}

#[tokio::test]
async fn a_handle_whose_value_is_not_sync_is_cancelled_from_another_thread() {
    let scope = Scope::new(Config::new());
    let s = &scope;
    let out = s
        .run(async {
            let child = s.spawn(async {
                std::future::pending::<()>().await;
                Ok::<_, Interrupted>(std::cell::Cell::new(0u8))
            });
            tokio::task::yield_now().await;
            std::thread::scope(|t| {
                t.spawn(|| assert!(child.cancel("from a worker thread")));
            });
            Ok::<_, Interrupted>(child.await)
        })
        .await
        .unwrap();
    assert!(matches!(out, Err(Interrupted::Cancelled(_))), "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn one_member_of_a_set_is_stopped_with_the_grace_then_the_abort() {
    // A member's handle is in the set: before, only its context could be reached, whose cancel
    // gets no forced abort, so a member that never looks held `join_next` until the scope
    // ended.
    let s = &Scope::new(Config::new().grace(ms(50)));
    let start = tokio::time::Instant::now();
    let out = s
        .run(async {
            let mut set = scope_runtime::ChildSet::new();
            let stuck = s.spawn_named("stuck", async {
                sleep(Duration::from_secs(3600)).await; // never looks
                Ok::<_, Interrupted>(())
            });
            let stuck_id = stuck.info().id();
            let other = s.spawn_named("other", async {
                sleep(Duration::from_secs(3600)).await;
                Ok::<_, Interrupted>(())
            });
            let other_id = other.info().id();
            set.push(stuck);
            set.push(other);
            set.push(s.spawn_named("quick", async { Ok::<_, Interrupted>(()) }));
            tokio::task::yield_now().await;
            assert!(set.cancel(stuck_id, "not needed"));
            assert!(!set.cancel(stuck_id, "again"), "cancelled before");
            let mut seen = Vec::new();
            while let Some((info, out)) = set.join_next().await {
                let name = info.name().unwrap().to_owned();
                if name == "stuck" {
                    assert_eq!(start.elapsed(), ms(50), "the grace, then the abort");
                    assert!(matches!(out, Err(Interrupted::Cancelled(_))), "{out:?}");
                    assert!(set.abort(other_id));
                } else if name == "other" {
                    assert_eq!(start.elapsed(), ms(50), "aborted at once");
                    assert!(!set.abort(other_id), "taken: no longer in the set");
                }
                seen.push(name);
            }
            Ok::<_, Interrupted>(seen)
        })
        .await
        .unwrap();
    assert_eq!(out, ["quick", "stuck", "other"]);
}

#[tokio::test(start_paused = true)]
async fn a_push_or_a_try_join_keeps_the_waker_of_the_last_poll() {
    // `push` (and `try_join_next`) polled the set with a no-op waker, which took the place of
    // the one the last poll of the set had registered: a task that polled the set by hand,
    // then pushed (or tried a join) and returned `Pending`, was never woken again.
    use futures_util::Stream;
    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for try_join in [false, true] {
        let s = &Scope::new(Config::new());
        s.run(async {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let waker = std::task::Waker::from(count.clone());
            let mut set = scope_runtime::ChildSet::new();
            set.push(s.spawn(async {
                sleep(ms(10)).await;
                Ok::<_, Interrupted>(1)
            }));
            let mut task = std::task::Context::from_waker(&waker);
            assert!(std::pin::Pin::new(&mut set)
                .poll_next(&mut task)
                .is_pending());
            if try_join {
                assert!(set.try_join_next().is_none());
            } else {
                set.push(s.spawn(std::future::pending::<Result<u8, Interrupted>>()));
            }
            sleep(ms(20)).await; // the first member has finished
            assert!(
                count.0.load(Ordering::SeqCst) > 0,
                "try_join: {try_join}: the task that polled the set was not woken"
            );
            set.cancel_all("done");
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// A blocking child turned away (its scope closed, or no runtime to run it on) never runs: its
// context ends at once, as a refused spawned child's does, so that a watcher handed it wakes.

#[tokio::test]
async fn law10_a_blocking_child_refused_by_a_closed_scope_has_its_context_ended() {
    let s = &Scope::new(Config::new());
    let (gate, opened) = tokio::sync::oneshot::channel::<()>();
    let (out, (refused, spawned)) = tokio::join!(
        // The body returns at once; the run then waits for its child, the scope closed.
        s.run(async {
            s.spawn(async {
                let _ = opened.await;
                Ok::<_, Interrupted>(())
            });
            Ok::<_, Interrupted>(())
        }),
        async {
            while !s.is_closed() {
                tokio::task::yield_now().await;
            }
            let b = s.spawn_blocking(|_| Ok::<_, Interrupted>(()));
            let c = s.spawn(async { Ok::<_, Interrupted>(()) });
            let ended = (b.cx().is_cancelled(), c.cx().is_cancelled());
            let out = b.await;
            assert!(matches!(out, Err(Interrupted::NotStarted(_))), "{out:?}");
            assert!(!s.cx().is_cancelled(), "the scope is still running");
            let _ = c.await;
            let _ = gate.send(());
            ended
        }
    );
    out.expect("the scope succeeds");
    assert!(spawned, "a refused spawned child's context ends");
    assert!(refused, "a refused blocking child's context is still live");
}

#[test]
fn law10_a_blocking_child_with_no_runtime_to_run_on_has_its_context_ended() {
    let s = Scope::new(Config::new());
    let ended = common::block_on(s.run(async {
        let b = s.spawn_blocking(|_| Ok::<_, Interrupted>(()));
        let ended = b.cx().is_cancelled();
        let out = b.await;
        assert!(matches!(out, Err(Interrupted::NotStarted(_))), "{out:?}");
        Ok::<_, Interrupted>(ended)
    }))
    .expect("the scope succeeds");
    assert!(
        ended,
        "a blocking child with no runtime keeps a live context"
    );
}

// ---------------------------------------------------------------------------------------------
// A child's value that nobody reads (its handle dropped first), and an error it returns after
// its own cancel (the scope answers the cancel instead), are dropped inside the scope's
// context, as its future is: their destructors see the scope's slots (an outside tester's
// report, probe162: they saw none, or the slots of the scope around).

static RID: scope_runtime::Slot<u64> = scope_runtime::Slot::new("RID");

/// What `work` noted in `seen`, run on `rt` under a context that binds `RID` to 1: sorted,
/// each once.
fn noted_under_rid_1(
    rt: &tokio::runtime::Runtime,
    seen: &Seen,
    work: impl std::future::Future<Output = ()>,
) -> Vec<(&'static str, Option<u64>)> {
    rt.block_on(scope_runtime::Cx::root().with_slot(&RID, 1).run(work));
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    seen.dedup();
    seen
}

/// Runs `check` on a current-thread runtime, then on a two-worker one.
fn on_both_runtimes(check: fn(&tokio::runtime::Runtime)) {
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    check(&ct);
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    check(&mt);
}

/// What each destructor saw: its name, and the `RID` it read.
type Seen = Arc<Mutex<Vec<(&'static str, Option<u64>)>>>;

/// A value whose destructor notes the `RID` it sees.
struct SeesRid(&'static str, Seen);

impl Drop for SeesRid {
    fn drop(&mut self) {
        self.1.lock().unwrap().push((self.0, RID.get()));
    }
}

#[derive(Debug)]
struct RidError(Option<&'static str>, Option<Seen>);

impl From<Interrupted> for RidError {
    fn from(_: Interrupted) -> Self {
        RidError(None, None)
    }
}

impl std::fmt::Display for RidError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rid error")
    }
}

impl Drop for RidError {
    fn drop(&mut self) {
        if let (Some(what), Some(seen)) = (self.0, &self.1) {
            seen.lock().unwrap().push((what, RID.get()));
        }
    }
}

fn unread_values_see_the_scopes_slots(rt: &tokio::runtime::Runtime) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let notes = [seen.clone(), seen.clone(), seen.clone(), seen.clone()];
    let work = async move {
        let [spawned, in_place, spawned_err, in_place_err] = notes;
        let scope = &Scope::new(Config::new().bind(&RID, 2).grace(ms(1000)));
        let _ = scope
            .run(async {
                let value = SeesRid("spawned", spawned);
                drop(scope.spawn(async move { Ok::<_, RidError>(value) }));
                let value = SeesRid("in place", in_place);
                drop(scope.spawn_in_place(async move { Ok::<_, RidError>(value) }));
                let first = scope.spawn(async move {
                    scope_runtime::cancelled().await;
                    Err::<(), _>(RidError(Some("spawned error"), Some(spawned_err)))
                });
                let second = scope.spawn_in_place(async move {
                    scope_runtime::cancelled().await;
                    Err::<(), _>(RidError(Some("in-place error"), Some(in_place_err)))
                });
                sleep(ms(5)).await;
                first.cancel("stop");
                second.cancel("stop");
                sleep(ms(5)).await;
                Ok::<_, RidError>(())
            })
            .await;
    };
    assert_eq!(
        noted_under_rid_1(rt, &seen, work),
        vec![
            ("in place", Some(2)),
            ("in-place error", Some(2)),
            ("spawned", Some(2)),
            ("spawned error", Some(2)),
        ]
    );
}

#[test]
fn an_unread_value_or_an_answered_error_is_dropped_inside_the_scopes_context() {
    on_both_runtimes(unread_values_see_the_scopes_slots);
}

/// A handle dropped as its child sends the value (the child, on another worker, found the
/// handle there, then failed to send): the value is still dropped inside the scope's context.
/// The handle goes after a short, varying spin, so some drops land in that window (CI's find:
/// 1 run in several hundred dropped it outside any context).
#[test]
fn a_value_whose_handle_goes_as_it_is_sent_is_dropped_inside_the_scopes_context() {
    let mt = common::two_workers();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let work = async move {
        for round in 0..4_000_u32 {
            let scope = &Scope::new(Config::new().bind(&RID, 2));
            let note = note.clone();
            let _ = scope
                .run(async {
                    let value = SeesRid("spawned", note);
                    let child = scope.spawn(async move { Ok::<_, RidError>(value) });
                    for _ in 0..(round % 97) * 20 {
                        std::hint::spin_loop();
                    }
                    drop(child);
                    Ok::<_, RidError>(())
                })
                .await;
        }
    };
    let seen = noted_under_rid_1(&mt, &seen, work);
    assert_eq!(seen, vec![("spawned", Some(2))]);
}

// A child's error is described (its `Display`, for the failure's message and the cancel's
// cause) inside the scope's context, and an error the scope drops as the consequence of its
// own cancel is dropped there too: both see the scope's slots, as the child's future did (an
// outside tester's report, probe164: a spawned child's error saw no slot, an in-place one's
// the slots of the scope around).

/// An error that notes the `RID` its `Display` sees, and, when `dropped` is set, the one its
/// destructor sees.
#[derive(Debug)]
struct Described {
    what: &'static str,
    seen: Option<Seen>,
    dropped: bool,
}

impl Described {
    fn new(what: &'static str, seen: &Seen, dropped: bool) -> Self {
        Described {
            what,
            seen: Some(seen.clone()),
            dropped,
        }
    }
}

impl From<Interrupted> for Described {
    fn from(_: Interrupted) -> Self {
        Described {
            what: "interrupted",
            seen: None,
            dropped: false,
        }
    }
}

impl std::fmt::Display for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(seen) = &self.seen {
            seen.lock().unwrap().push((self.what, RID.get()));
        }
        f.write_str(self.what)
    }
}

impl Drop for Described {
    fn drop(&mut self) {
        if let (true, Some(seen)) = (self.dropped, &self.seen) {
            let what = match self.what {
                "spawned consequence" => "spawned consequence dropped",
                _ => "in-place consequence dropped",
            };
            seen.lock().unwrap().push((what, RID.get()));
        }
    }
}

fn errors_are_described_in_the_scopes_context(rt: &tokio::runtime::Runtime) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let work = async move {
        let seen = &note;
        let scope = &Scope::new(Config::new().bind(&RID, 2).grace(ms(1000)));
        let failed = scope
            .run(async {
                let note = seen.clone();
                let _failing = scope.spawn(async move {
                    sleep(ms(2)).await;
                    Err::<(), _>(Described::new("spawned failure", &note, false))
                });
                let note = seen.clone();
                let _answering = scope.spawn(async move {
                    scope_runtime::cancelled().await;
                    Err::<(), _>(Described::new("spawned consequence", &note, true))
                });
                let _in_place = scope.spawn_in_place(async move {
                    scope_runtime::cancelled().await;
                    Err::<(), _>(Described::new("in-place consequence", seen, true))
                });
                scope_runtime::cancelled().await;
                Ok::<_, Described>(())
            })
            .await;
        assert_eq!(failed.unwrap_err().what, "spawned failure");
        let scope = &Scope::new(Config::new().bind(&RID, 2));
        let failed = scope
            .run(async { Err::<(), _>(Described::new("body failure", seen, false)) })
            .await;
        assert_eq!(failed.unwrap_err().what, "body failure");
        let scope = &Scope::new(Config::new().bind(&RID, 2));
        let failed = scope
            .run_all(async {
                let _failing = scope.spawn_in_place(async move {
                    Err::<(), _>(Described::new("in-place failure", seen, false))
                });
                Ok::<_, Described>(())
            })
            .await;
        assert_eq!(failed.unwrap_err().len(), 1);
    };
    assert_eq!(
        noted_under_rid_1(rt, &seen, work),
        vec![
            ("body failure", Some(2)),
            ("in-place consequence", Some(2)),
            ("in-place consequence dropped", Some(2)),
            ("in-place failure", Some(2)),
            ("spawned consequence", Some(2)),
            ("spawned consequence dropped", Some(2)),
            ("spawned failure", Some(2)),
        ]
    );
}

/// What a scope's output leaves is dropped inside its context too: a race's losers' errors,
/// and a body's value that is not the answer (a child failed after it), under both policies
/// (a review's report: they were dropped in the caller's).
fn left_outputs_are_dropped_in_the_scopes_context(rt: &tokio::runtime::Runtime) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let work = async move {
        let seen = &note;
        let race = &scope_runtime::Race::new(Config::new().bind(&RID, 2));
        let won = race
            .run(async {
                let note = seen.clone();
                race.spawn(
                    async move { Err::<u8, _>(RidError(Some("a loser's error"), Some(note))) },
                );
                race.spawn(async {
                    sleep(ms(5)).await;
                    Ok::<u8, RidError>(7)
                });
            })
            .await;
        assert_eq!(won.ok(), Some(7));
        let scope = &Scope::new(Config::new().bind(&RID, 2));
        let failed = scope
            .run(async {
                let _failing = scope.spawn(async {
                    sleep(ms(2)).await;
                    Err::<(), _>(RidError(None, None))
                });
                Ok::<_, RidError>(SeesRid("a value under run", seen.clone()))
            })
            .await;
        assert!(failed.is_err());
        let scope = &Scope::new(Config::new().bind(&RID, 2));
        let failed = scope
            .run_all(async {
                let _failing = scope.spawn(async {
                    sleep(ms(2)).await;
                    Err::<(), _>(RidError(None, None))
                });
                Ok::<_, RidError>(SeesRid("a value under run_all", seen.clone()))
            })
            .await;
        assert!(failed.is_err());
        // A service task's error is described inside the task's context, where its work ran.
        let svc = scope_runtime::Service::new(scope_runtime::ServiceConfig::new("svc"));
        let note = seen.clone();
        scope_runtime::Cx::root()
            .with_slot(&RID, 3)
            .run(async {
                let task = svc.spawn(async move {
                    Err::<(), _>(Described::new("a service task's error", &note, false))
                });
                let _ = task.unwrap().await;
            })
            .await;
        let _ = svc.stop().await;
    };
    assert_eq!(
        noted_under_rid_1(rt, &seen, work),
        vec![
            ("a loser's error", Some(2)),
            ("a service task's error", Some(3)),
            ("a value under run", Some(2)),
            ("a value under run_all", Some(2)),
        ]
    );
}

#[test]
fn what_a_scopes_output_leaves_is_dropped_inside_its_context() {
    on_both_runtimes(left_outputs_are_dropped_in_the_scopes_context);
}

#[test]
fn a_childs_error_is_described_and_a_consequence_dropped_inside_the_scopes_context() {
    on_both_runtimes(errors_are_described_in_the_scopes_context);
}

// What a panic makes moot, and what the scope kept for a report nobody makes, is user code
// too: dropped inside the scope's context (an outside tester's report, probe210: a child's
// value whose future then panicked in its drop saw no slot on a worker and the caller's in
// place; a body's value, a run's kept failures at a dropped run or a body's panic saw the
// caller's slots, or none when a worker let the scope go last).

/// A guard whose destructor panics (unless a panic unwinds already).
struct PanicsInDrop;

impl Drop for PanicsInDrop {
    fn drop(&mut self) {
        assert!(std::thread::panicking(), "a future's destructor");
    }
}

/// A future held with a guard: the guard is dropped with the future, after it returned.
struct Guarded<F>(std::pin::Pin<Box<F>>, PanicsInDrop);

impl<F: std::future::Future> std::future::Future for Guarded<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        task: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.0.as_mut().poll(task)
    }
}

/// A future that panics when polled, and again, with `payload`, when dropped.
struct PanicsTwice(Option<SeesRid>);

impl std::future::Future for PanicsTwice {
    type Output = Result<(), RidError>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        panic!("a future's poll");
    }
}

impl Drop for PanicsTwice {
    fn drop(&mut self) {
        if let Some(payload) = self.0.take() {
            std::panic::panic_any(payload);
        }
    }
}

fn guarded<F: std::future::Future>(fut: F) -> Guarded<F> {
    Guarded(Box::pin(fut), PanicsInDrop)
}

fn moot_values_see_the_scopes_slots(rt: &tokio::runtime::Runtime) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let work = async move {
        let scope = &Scope::new(Config::new().bind(&RID, 2));
        let note = &note;
        let _ = scope
            .run_all(async {
                let value = SeesRid("spawned value", note.clone());
                let spawned = scope.spawn(guarded(async move { Ok::<_, RidError>(value) }));
                let value = SeesRid("in-place value", note.clone());
                let in_place =
                    scope.spawn_in_place(guarded(async move { Ok::<_, RidError>(value) }));
                let payload = Some(SeesRid("spawned second payload", note.clone()));
                let twice = scope.spawn(PanicsTwice(payload));
                let payload = Some(SeesRid("in-place second payload", note.clone()));
                let twice_in_place = scope.spawn_in_place(PanicsTwice(payload));
                assert!(spawned.await.is_err() && in_place.await.is_err());
                assert!(twice.await.is_err() && twice_in_place.await.is_err());
                Ok::<_, RidError>(())
            })
            .await;
        // A body that returned, then panicked in its drop (its panic, resumed, is the run's
        // outcome): its value, or its error.
        for fails in [false, true] {
            let value = SeesRid("body value", note.clone());
            let error = RidError(Some("body error"), Some(note.clone()));
            let run = async move {
                let scope = &Scope::new(Config::new().bind(&RID, 2));
                let _ = scope
                    .run(guarded(async move {
                        if fails {
                            drop(value);
                            Err(error)
                        } else {
                            drop(error);
                            Ok(value)
                        }
                    }))
                    .await;
            };
            let out = tokio::spawn(scope_runtime::Cx::current().run(run)).await;
            assert!(out.unwrap_err().is_panic());
        }
    };
    let seen = noted_under_rid_1(rt, &seen, work);
    assert_eq!(
        seen,
        vec![
            ("body error", Some(2)),
            ("body value", Some(2)),
            ("in-place second payload", Some(2)),
            ("in-place value", Some(2)),
            ("spawned second payload", Some(2)),
            ("spawned value", Some(2)),
        ]
    );
}

#[test]
fn what_a_panic_makes_moot_is_dropped_inside_the_scopes_context() {
    on_both_runtimes(moot_values_see_the_scopes_slots);
}

fn unreported_failures_see_the_scopes_slots(rt: &tokio::runtime::Runtime) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let work = async move {
        // The body panics after a child's failure was kept: the panic is the outcome.
        for all in [false, true] {
            let note = note.clone();
            let body = async move {
                let scope = &Scope::new(Config::new().bind(&RID, 2));
                let body = async {
                    let what = if all {
                        "run_all, body panicked"
                    } else {
                        "run, body panicked"
                    };
                    let failing =
                        scope.spawn(async move { Err::<(), _>(RidError(Some(what), Some(note))) });
                    let _ = failing.await;
                    panic!("the body");
                    #[allow(unreachable_code)]
                    Ok::<_, RidError>(())
                };
                if all {
                    let _ = scope.run_all(body).await;
                } else {
                    let _ = scope.run(body).await;
                }
            };
            let out = tokio::spawn(scope_runtime::Cx::current().run(body)).await;
            assert!(out.unwrap_err().is_panic());
        }
        // The run is dropped (a timeout around it) with a failure kept, and the body's value.
        for all in [false, true] {
            let scope = &Scope::new(Config::new().bind(&RID, 2).grace(ms(1000)));
            let failure = RidError(
                Some(if all {
                    "run_all, dropped"
                } else {
                    "run, dropped"
                }),
                Some(note.clone()),
            );
            let value = SeesRid("body value, dropped", note.clone());
            let body = async {
                // A child that keeps the run waiting, past the cancel the failure makes (it
                // has started by then: one that has not would be dropped at the cancel).
                let (started, has_started) = tokio::sync::oneshot::channel();
                drop(scope.spawn(async {
                    let _ = started.send(());
                    sleep(ms(1000)).await;
                    Ok::<_, RidError>(())
                }));
                let _ = has_started.await;
                let failing = scope.spawn(async move { Err::<(), _>(failure) });
                let _ = failing.await;
                Ok::<_, RidError>(value)
            };
            if all {
                let run = scope.run_all(body);
                assert!(tokio::time::timeout(ms(100), run).await.is_err());
            } else {
                let run = scope.run(body);
                assert!(tokio::time::timeout(ms(100), run).await.is_err());
            }
        }
    };
    let seen = noted_under_rid_1(rt, &seen, work);
    assert_eq!(
        seen,
        vec![
            ("body value, dropped", Some(2)),
            ("run, body panicked", Some(2)),
            ("run, dropped", Some(2)),
            ("run_all, body panicked", Some(2)),
            ("run_all, dropped", Some(2)),
        ]
    );
}

#[test]
fn failures_no_report_reads_are_dropped_inside_the_scopes_context() {
    on_both_runtimes(unreported_failures_see_the_scopes_slots);
}

/// An error whose destructor panics, always.
#[derive(Debug)]
struct PanicsWhenDropped;

impl From<Interrupted> for PanicsWhenDropped {
    fn from(_: Interrupted) -> Self {
        PanicsWhenDropped
    }
}

impl std::fmt::Display for PanicsWhenDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("panics when dropped")
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        // Even while a panic unwinds: the process would abort, were it dropped then.
        panic!("a kept error's destructor");
    }
}

/// The body panics after a child's failure was kept, and that failure's destructor panics:
/// the body's panic is resumed, and the process does not abort (the kept failure was dropped
/// as the panic unwound, a second panic in a destructor during an unwind).
#[test]
fn law5_a_kept_failure_whose_destructor_panics_as_the_body_panics_does_not_abort() {
    let rt = common::two_workers();
    for all in [false, true] {
        let out = rt.block_on(async move {
            tokio::spawn(async move {
                let scope = &Scope::new(Config::new());
                let body = async {
                    let failing = scope.spawn(async { Err::<(), _>(PanicsWhenDropped) });
                    let _ = failing.await;
                    panic!("the body");
                    #[allow(unreachable_code)]
                    Ok::<_, PanicsWhenDropped>(())
                };
                if all {
                    let _ = scope.run_all(body).await;
                } else {
                    let _ = scope.run(body).await;
                }
            })
            .await
        });
        let payload = out.unwrap_err().into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"the body"));
    }
}

/// A race's run dropped under way after a candidate won (a straggler held it in its grace):
/// the winner's value goes with the run, inside the race's context, and a value a straggler
/// offers after that loses, dropped in its own (an outside tester's report, probe210: the
/// value stayed in the race until the race was dropped, in the caller's context, and a panic
/// of its destructor was printed and lost).
fn a_dropped_race_runs_winner_sees_the_races_slots(rt: &tokio::runtime::Runtime) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let work = async move {
        let race = &scope_runtime::Race::new(Config::new().bind(&RID, 2).grace(ms(1000)));
        let (late, straggler) = (note.clone(), note);
        let run = race.run(async move {
            race.spawn(async move {
                sleep(ms(150)).await;
                Ok::<_, RidError>(SeesRid("straggler value", straggler))
            });
            race.spawn(async move {
                sleep(ms(5)).await;
                Ok::<_, RidError>(SeesRid("winner value", late))
            });
        });
        assert!(tokio::time::timeout(ms(50), run).await.is_err());
        // The straggler's value comes (and loses) while the race is still here.
        sleep(ms(300)).await;
    };
    let seen = noted_under_rid_1(rt, &seen, work);
    assert_eq!(
        seen,
        vec![("straggler value", Some(2)), ("winner value", Some(2))]
    );
}

#[test]
fn a_race_runs_winner_is_dropped_with_its_run_inside_the_races_context() {
    on_both_runtimes(a_dropped_race_runs_winner_sees_the_races_slots);
}

/// A value that notes its drop, then panics.
struct PanicsAsDropped(Arc<AtomicBool>);

impl Drop for PanicsAsDropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        assert!(std::thread::panicking(), "a destructor");
    }
}

/// What a dropped run leaves that is its children's (the failures it kept, a race's winner) is
/// dropped with it, and a panic of such a destructor, the child's, is printed and dropped: it
/// does not unwind the code that dropped the run, where it would stop a `FuturesUnordered`
/// dropping the other runs it holds, leaking them with their children (a review's find).
#[test]
fn a_dropped_runs_leftovers_panicking_as_they_are_dropped_do_not_unwind_the_dropper() {
    let rt = common::two_workers();
    let dropped: Vec<Arc<AtomicBool>> = (0..4).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let ticks = Arc::new(AtomicUsize::new(0));
    let (flags, counted) = (dropped.clone(), ticks.clone());
    rt.block_on(async move {
        // Three runs, each with a failure kept whose destructor panics and a child that
        // ignores the cancel, held in a set and dropped with it.
        let mut runs = futures_util::stream::FuturesUnordered::new();
        for flag in &flags[..3] {
            let (flag, ticks) = (flag.clone(), counted.clone());
            runs.push(async move {
                let scope = &Scope::new(Config::new().grace(ms(100)));
                let _ = scope
                    .run_all(async {
                        scope.spawn(async move {
                            loop {
                                ticks.fetch_add(1, Ordering::SeqCst);
                                sleep(ms(5)).await;
                            }
                            #[allow(unreachable_code)]
                            Ok::<_, RidErrorPanics>(())
                        });
                        let failing =
                            scope.spawn(async move { Err::<(), _>(RidErrorPanics(flag)) });
                        let _ = failing.await;
                        std::future::pending::<Result<(), RidErrorPanics>>().await
                    })
                    .await;
            });
        }
        let polled = tokio::time::timeout(ms(30), futures_util::StreamExt::next(&mut runs)).await;
        assert!(polled.is_err());
        drop(runs);
        // A race's winner.
        let race = &scope_runtime::Race::new(Config::new().grace(ms(1000)));
        let winner = flags[3].clone();
        let run = race.run(async move {
            race.spawn(async {
                sleep(ms(150)).await;
                Ok::<_, Interrupted>(None)
            });
            race.spawn(async move {
                sleep(ms(5)).await;
                Ok::<_, Interrupted>(Some(PanicsAsDropped(winner)))
            });
        });
        assert!(tokio::time::timeout(ms(50), run).await.is_err());
    });
    // Every leftover was dropped, and every child stopped at its grace's end (100 ms after
    // the drop).
    assert!(dropped.iter().all(|d| d.load(Ordering::SeqCst)));
    std::thread::sleep(ms(250));
    let stopped = ticks.load(Ordering::SeqCst);
    std::thread::sleep(ms(100));
    assert_eq!(ticks.load(Ordering::SeqCst), stopped, "a child ran on");
}

/// An error that notes its drop, then panics.
#[derive(Debug)]
struct RidErrorPanics(Arc<AtomicBool>);

impl From<Interrupted> for RidErrorPanics {
    fn from(_: Interrupted) -> Self {
        RidErrorPanics(Arc::new(AtomicBool::new(false)))
    }
}

impl std::fmt::Display for RidErrorPanics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an error that panics when dropped")
    }
}

impl Drop for RidErrorPanics {
    fn drop(&mut self) {
        // Notes the drop, then panics (each value once).
        assert!(self.0.swap(true, Ordering::SeqCst), "an error's destructor");
    }
}

/// A race whose body panics after a candidate won: the run resumes the panic, and the winner,
/// which nobody reads then, goes with it inside the race's context, not with the race later
/// in the caller's (a review's find, probe212; older than the fix for a dropped run).
#[allow(clippy::manual_assert)] // Reason: a body that panics, not an assertion.
fn a_race_whose_body_panics_drops_its_winner_inside_its_context(rt: &tokio::runtime::Runtime) {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let work = async move {
        let race = &scope_runtime::Race::new(Config::new().bind(&RID, 2).grace(ms(1000)));
        let run = race.run(async move {
            race.spawn(async move { Ok::<_, RidError>(SeesRid("winner value", note)) });
            sleep(ms(20)).await;
            // (Under an `if`: the body's value stays `()`, not `!`.)
            if true {
                panic!("the race's body");
            }
        });
        let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
        assert!(out.is_err());
    };
    let seen = noted_under_rid_1(rt, &seen, work);
    assert_eq!(seen, vec![("winner value", Some(2))]);
}

#[test]
fn a_race_whose_body_panics_after_a_win_drops_the_winner_inside_its_context() {
    on_both_runtimes(a_race_whose_body_panics_drops_its_winner_inside_its_context);
}
