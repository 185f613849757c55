//! Limits at scale (law 3: under a limit, children are admitted in spawn order, and once the
//! first failure is known no queued child starts): FIFO admission, no start after a failure,
//! queued children that are futures rather than tasks, waiting admission, the bounded map,
//! and children taken as they complete.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{two_workers, AppError, Live};
use scope_runtime::testing::LeakCheck;
use scope_runtime::{ChildSet, Config, Interrupted, Scope, SpawnError};
use tokio::time::sleep;

/// Each child records its index when it first runs.
#[derive(Clone, Default)]
struct StartLog(Arc<Mutex<Vec<usize>>>);

impl StartLog {
    fn started(&self, i: usize) {
        self.0.lock().unwrap().push(i);
    }

    fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Counts children running now and the most ever running at once.
#[derive(Clone, Default)]
struct InFlight {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl InFlight {
    fn enter(&self) -> InFlightGuard {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(n, Ordering::SeqCst);
        InFlightGuard(self.now.clone())
    }
}

struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// FIFO admission.

#[test]
fn law3_with_limit_1_a_thousand_children_start_exactly_in_spawn_order() {
    let rt = two_workers();
    let log = StartLog::default();
    rt.block_on(async {
        let s = &Scope::new(Config::new().limit(1));
        let out: Result<(), AppError> = s
            .run(async {
                for i in 0..1_000 {
                    let log = log.clone();
                    s.spawn(async move {
                        log.started(i);
                        tokio::task::yield_now().await;
                    });
                }
                Ok(())
            })
            .await;
        out.unwrap();
    });
    let started = log.take();
    assert_eq!(started, (0..1_000).collect::<Vec<_>>());
}

#[test]
fn law3_with_limit_4_on_two_workers_no_child_starts_more_than_4_places_from_its_position() {
    let rt = two_workers();
    for _ in 0..5 {
        let log = StartLog::default();
        rt.block_on(async {
            let s = &Scope::new(Config::new().limit(4));
            let out: Result<(), AppError> = s
                .run(async {
                    for i in 0..1_000 {
                        let log = log.clone();
                        s.spawn(async move {
                            log.started(i);
                            tokio::task::yield_now().await;
                        });
                    }
                    Ok(())
                })
                .await;
            out.unwrap();
        });
        let started = log.take();
        assert_eq!(started.len(), 1_000);
        for (place, i) in started.iter().enumerate() {
            assert!(
                place.abs_diff(*i) <= 4,
                "child {i} started {place}th, more than 4 places from its spawn position"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// No start after a failure.

#[test]
fn law3_with_limit_1_no_child_after_a_failure_at_50_of_200_ever_starts() {
    let rt = two_workers();
    for round in 0..20 {
        let log = StartLog::default();
        let out = rt.block_on(async {
            let s = &Scope::new(Config::new().limit(1));
            s.run(async {
                for i in 0..200u32 {
                    let log = log.clone();
                    s.spawn(async move {
                        log.started(usize::try_from(i).unwrap());
                        tokio::task::yield_now().await;
                        if i == 50 {
                            Err(AppError::Boom(i))
                        } else {
                            Ok(())
                        }
                    });
                }
                Ok::<_, AppError>(())
            })
            .await
        });
        assert!(
            matches!(out, Err(AppError::Boom(50))),
            "round {round}: {out:?}"
        );
        let started = log.take();
        assert_eq!(
            started,
            (0..=50).collect::<Vec<_>>(),
            "round {round}: a child started after the failure"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn law3_a_cancelled_scope_starts_nothing_from_its_queue() {
    let log = StartLog::default();
    let s = &Scope::new(Config::new().limit(2));
    let out: Result<(), AppError> = s
        .run(async {
            for i in 0..10 {
                let log = log.clone();
                s.spawn(async move {
                    log.started(i);
                    sleep(Duration::from_secs(1)).await;
                });
            }
            sleep(Duration::from_millis(10)).await;
            s.cancel("enough");
            std::future::pending::<()>().await;
            Ok(())
        })
        .await;
    assert!(out.is_err());
    assert_eq!(
        log.take(),
        [0, 1],
        "only the two admitted before the cancel ran"
    );
}

// ---------------------------------------------------------------------------------------------
// Queued children are futures, not tasks.

#[test]
fn law3_a_hundred_thousand_queued_children_are_not_tasks_and_all_complete() {
    let rt = two_workers();
    let done = Arc::new(AtomicUsize::new(0));
    let flight = InFlight::default();
    let alive_after_loop = rt.block_on(async {
        let baseline = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        let alive = Arc::new(AtomicUsize::new(0));
        let s = &Scope::new(Config::new().limit(16));
        let out: Result<(), AppError> = s
            .run(async {
                for _ in 0..100_000 {
                    let (done, flight) = (done.clone(), flight.clone());
                    s.spawn(async move {
                        let _running = flight.enter();
                        tokio::task::yield_now().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    });
                }
                let now = tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks();
                alive.store(now.saturating_sub(baseline), Ordering::SeqCst);
                Ok(())
            })
            .await;
        out.unwrap();
        alive.load(Ordering::SeqCst)
    });
    assert!(
        alive_after_loop <= 20,
        "{alive_after_loop} runtime tasks alive right after spawning 100,000 under a limit of 16"
    );
    assert_eq!(done.load(Ordering::Relaxed), 100_000);
    let most = flight.most.load(Ordering::SeqCst);
    assert!(
        most <= 16,
        "{most} children ran at once under a limit of 16"
    );
}

// ---------------------------------------------------------------------------------------------
// Waiting admission.

#[test]
fn law3_a_loop_with_waiting_admission_holds_as_many_futures_as_the_limit() {
    let rt = two_workers();
    let live = Arc::new(AtomicUsize::new(0));
    let most_live = Arc::new(AtomicUsize::new(0));
    let flight = InFlight::default();
    rt.block_on(async {
        let check = LeakCheck::new();
        let s = &Scope::new(Config::new().limit(8));
        let out: Result<(), AppError> = s
            .run(async {
                for _ in 0..20_000 {
                    let slot = s.reserve().await?;
                    // The child's future exists only once a slot is free.
                    let guard = Live::new(&live);
                    most_live.fetch_max(live.load(Ordering::SeqCst), Ordering::SeqCst);
                    let flight = flight.clone();
                    slot.spawn(async move {
                        let _live = guard;
                        let _running = flight.enter();
                        tokio::task::yield_now().await;
                    });
                }
                Ok(())
            })
            .await;
        out.unwrap();
        check.assert_clean().await;
    });
    let most = most_live.load(Ordering::SeqCst);
    assert!(
        most <= 9,
        "{most} child futures alive at once under a limit of 8"
    );
    assert!(flight.most.load(Ordering::SeqCst) <= 8);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn law3_waiting_admission_ends_the_loop_when_the_scope_fails() {
    let spawned = AtomicUsize::new(0);
    let s = &Scope::new(Config::new().limit(2));
    let out: Result<(), AppError> = s
        .run(async {
            for i in 0..1_000u32 {
                s.spawn_when_free(async move {
                    sleep(Duration::from_millis(1)).await;
                    if i == 10 {
                        Err(AppError::Boom(i))
                    } else {
                        Ok(())
                    }
                })
                .await?;
                spawned.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
        .await;
    assert!(matches!(out, Err(AppError::Boom(10))), "{out:?}");
    let n = spawned.load(Ordering::SeqCst);
    assert!(n <= 13, "the loop went on after the failure: {n} spawned");
}

#[tokio::test(start_paused = true)]
async fn law3_a_dropped_reservation_hands_its_slot_on() {
    let s = &Scope::new(Config::new().limit(1));
    let out: Result<u32, AppError> = s
        .run(async {
            let first = s.reserve().await?;
            // The slot is taken: a second reservation waits...
            let mut second = std::pin::pin!(s.reserve());
            let first_poll =
                std::future::poll_fn(|cx| std::task::Poll::Ready(second.as_mut().poll(cx))).await;
            assert!(first_poll.is_pending());
            // ...until the first is dropped unused.
            drop(first);
            let second = second.await?;
            Ok(second.spawn(async { Ok::<_, AppError>(5) }).await?)
        })
        .await;
    assert_eq!(out.unwrap(), 5);
}

// ---------------------------------------------------------------------------------------------
// The bounded map.

#[tokio::test(start_paused = true)]
async fn law3_an_aborted_in_place_childs_slot_goes_to_the_first_child_waiting() {
    // Limit 1: `a` holds the slot (admitted, not yet polled), then a spawned child and an
    // in-place child queue, in that order. Aborting `a` hands its slot to the spawned one.
    let order = Arc::new(Mutex::new(Vec::new()));
    let s = &Scope::new(Config::new().limit(1));
    s.run(async {
        let a = s.spawn_in_place(std::future::pending::<Result<(), Interrupted>>());
        let o = order.clone();
        let spawned = s.spawn(async move {
            o.lock().unwrap().push("spawned");
            Ok::<_, Interrupted>(())
        });
        let o = order.clone();
        let in_place = s.spawn_in_place(async move {
            o.lock().unwrap().push("in place");
            Ok::<_, Interrupted>(())
        });
        a.abort();
        let _ = (spawned.await, in_place.await);
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        ["spawned", "in place"],
        "spawn order"
    );
}

#[tokio::test(start_paused = true)]
async fn map_returns_values_in_input_order_and_pulls_items_lazily() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let most_ahead = Arc::new(AtomicUsize::new(0));
    let (p, f, m) = (pulled.clone(), finished.clone(), most_ahead.clone());
    let items = (0..200u64).inspect(move |_| {
        let ahead = p.fetch_add(1, Ordering::SeqCst) + 1 - f.load(Ordering::SeqCst);
        m.fetch_max(ahead, Ordering::SeqCst);
    });
    let fin = finished.clone();
    let out = scope_runtime::map(items, move |i| {
        let fin = fin.clone();
        async move {
            sleep(Duration::from_millis(200 - i)).await;
            fin.fetch_add(1, Ordering::SeqCst);
            Ok::<_, AppError>(i * 10)
        }
    })
    .limit(4)
    .run()
    .await
    .unwrap();
    assert_eq!(out, (0..200).map(|i| i * 10).collect::<Vec<_>>());
    assert_eq!(pulled.load(Ordering::SeqCst), 200);
    let ahead = most_ahead.load(Ordering::SeqCst);
    assert!(
        ahead <= 5,
        "{ahead} items pulled ahead of the finished ones (limit 4)"
    );
}

#[tokio::test(start_paused = true)]
async fn map_fails_fast_and_starts_no_item_after_the_failure() {
    let log = StartLog::default();
    let l = log.clone();
    let out = scope_runtime::map(0..100usize, move |i| {
        let log = l.clone();
        async move {
            log.started(i);
            sleep(Duration::from_millis(1)).await;
            if i == 20 {
                Err(AppError::Boom(20))
            } else {
                Ok(i)
            }
        }
    })
    .limit(3)
    .run()
    .await;
    assert!(matches!(out, Err(AppError::Boom(20))), "{out:?}");
    let started = log.take();
    assert!(
        started.iter().all(|i| *i <= 22),
        "items started after the failure: {started:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn map_run_all_runs_every_item_and_returns_every_failure() {
    let out = scope_runtime::map(0..10u32, |i| async move {
        if i % 3 == 0 {
            Err(AppError::Boom(i))
        } else {
            Ok(i)
        }
    })
    .limit(2)
    .unordered()
    .run_all()
    .await;
    let failures = out.unwrap_err();
    let mut failed: Vec<_> = failures.iter().map(|f| f.error().to_string()).collect();
    failed.sort();
    assert_eq!(failed, ["boom 0", "boom 3", "boom 6", "boom 9"]);
}

/// `run_all` of a map whose item 1 panics (spawned or in place, with a limit or not), or
/// whose scope is cancelled from outside: what the map reports, one line per failure.
async fn map_run_all_reports(in_place: bool, limit: Option<usize>, cancel: bool) -> Vec<String> {
    let parent = if cancel {
        common::cancelled_after(Duration::from_millis(50), "outside")
    } else {
        scope_runtime::Cx::root()
    };
    let item = |i: u32| async move {
        if cancel {
            sleep(Duration::from_secs(3_600)).await;
        } else if i == 1 {
            sleep(Duration::from_millis(10)).await;
            panic!("item 1 panicked");
        }
        Ok::<_, AppError>(i)
    };
    let mut map = scope_runtime::map(0..4u32, item).config(Config::new().parent(parent));
    if let Some(n) = limit {
        map = map.limit(n);
    }
    let out = if in_place {
        map.in_place().run_all().await
    } else {
        map.run_all().await
    };
    let failures = out.expect_err("a failure");
    failures.iter().map(|f| f.error().to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn map_run_all_reports_a_panic_or_an_outside_cancel_once() {
    for in_place in [false, true] {
        for limit in [None, Some(1), Some(2)] {
            let what = format!("in place: {in_place}, limit: {limit:?}");
            let panicked = map_run_all_reports(in_place, limit, false).await;
            assert_eq!(panicked.len(), 1, "{what}: {panicked:?}");
            assert!(
                panicked[0].contains("item 1 panicked"),
                "{what}: {panicked:?}"
            );
            let cancelled = map_run_all_reports(in_place, limit, true).await;
            assert_eq!(cancelled.len(), 1, "{what}: {cancelled:?}");
            assert!(cancelled[0].contains("outside"), "{what}: {cancelled:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn map_in_place_borrows_and_for_each_keeps_nothing() {
    let words = vec!["a".to_owned(), "bb".to_owned(), "ccc".to_owned()];
    let total = AtomicUsize::new(0);
    scope_runtime::for_each(&words, |w| {
        let total = &total;
        async move {
            total.fetch_add(w.len(), Ordering::SeqCst);
            Ok::<_, AppError>(())
        }
    })
    .in_place()
    .run()
    .await
    .unwrap();
    assert_eq!(total.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn map_is_a_scope_its_deadline_and_cancellation_apply() {
    let parent = scope_runtime::Cx::root();
    let p = parent.clone();
    let canceller = tokio::spawn(async move {
        sleep(Duration::from_millis(5)).await;
        p.cancel("stop the batch");
    });
    let out = scope_runtime::map(0..10u64, |_| async {
        sleep(Duration::from_secs(60)).await;
        Ok::<_, AppError>(())
    })
    .config(Config::new().parent(parent))
    .run()
    .await;
    canceller.await.unwrap();
    let Err(AppError::Interrupted(Interrupted::Cancelled(c))) = out else {
        panic!("{out:?}")
    };
    assert_eq!(c.cause().root().to_string(), "stop the batch");
}

// ---------------------------------------------------------------------------------------------
// Children as they complete.

#[tokio::test(start_paused = true)]
async fn child_set_gives_outcomes_in_completion_order_with_their_task() {
    let s = &Scope::new(Config::new());
    let out: Result<Vec<String>, AppError> = s
        .run(async {
            let mut set = ChildSet::new();
            for (name, ms) in [("c", 30u64), ("a", 10), ("fails", 15), ("b", 20)] {
                set.push(s.spawn_named(name, async move {
                    sleep(Duration::from_millis(ms)).await;
                    if name == "fails" {
                        Err(AppError::Boom(0))
                    } else {
                        Ok(ms)
                    }
                }));
            }
            let mut seen = Vec::new();
            while let Some((info, out)) = set.join_next().await {
                seen.push(format!("{}:{}", info.name().unwrap(), out.is_ok()));
            }
            Ok(seen)
        })
        .await;
    // The failure cancelled the rest (fail-fast), which the set reports as they end.
    let Err(AppError::Boom(0)) = out else {
        panic!("{out:?}")
    };
}

#[tokio::test(start_paused = true)]
async fn child_set_under_supervise_sees_every_outcome_in_order() {
    let s = &Scope::new(Config::new());
    let seen = Mutex::new(Vec::new());
    let out = s
        .run_all(async {
            let mut set = ChildSet::new();
            for (name, ms) in [("c", 30u64), ("a", 10), ("fails", 15), ("b", 20)] {
                set.push(s.spawn_named(name, async move {
                    sleep(Duration::from_millis(ms)).await;
                    if name == "fails" {
                        Err(AppError::Boom(0))
                    } else {
                        Ok(ms)
                    }
                }));
            }
            while let Some((info, out)) = set.join_next().await {
                seen.lock()
                    .unwrap()
                    .push(format!("{}:{}", info.name().unwrap(), out.is_ok()));
            }
            Ok::<_, AppError>(())
        })
        .await;
    assert_eq!(out.unwrap_err().len(), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        ["a:true", "fails:false", "b:true", "c:true"]
    );
}

#[tokio::test(start_paused = true)]
async fn for_each_cut_short_by_its_deadline_reports_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let out = scope_runtime::for_each(0..3u32, move |_| {
        let d = d.clone();
        async move {
            sleep(Duration::from_secs(3600)).await;
            d.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Interrupted>(())
        }
    })
    .config(
        Config::new()
            .name("batch")
            .timeout(Duration::from_millis(10)),
    )
    .run()
    .await;
    assert_eq!(done.load(Ordering::SeqCst), 0, "no item completed");
    assert!(
        matches!(out, Err(Interrupted::DeadlineExceeded(_))),
        "{out:?}"
    );
}

#[tokio::test]
async fn map_run_all_never_returns_ok_with_an_item_missing() {
    let root = scope_runtime::Cx::root();
    let canceller = root.clone();
    let out = scope_runtime::map([1u32, 2, 3], move |i| {
        if i == 3 {
            // An outside cancel that lands after item 3 is spawned and before its task is
            // first polled.
            let c = canceller.clone();
            tokio::spawn(async move {
                c.cancel("client went away");
            });
        }
        async move { Ok::<_, Interrupted>(i) }
    })
    .config(Config::new().parent(root.clone()))
    .run_all()
    .await;
    // Either every value, or the cancel: never a success with a value missing.
    match out {
        Ok(values) => assert_eq!(values, [1, 2, 3], "no value is missing from a success"),
        Err(failures) => assert!(
            failures.to_string().contains("client went away"),
            "{failures}"
        ),
    }
}

/// Law 3: a child's slot is free by the time its value is received. A body that awaits the
/// only running child of a limit-1 scope can reserve the slot at once, whatever kind the child
/// was (before, a blocking child delivered its value and only then gave its slot back).
#[test]
fn law3_a_childs_slot_is_free_once_its_value_is_received() {
    use futures_util::FutureExt;
    two_workers().block_on(async {
        let s = &Scope::new(Config::new().limit(1));
        s.run(async {
            for round in 0..500u32 {
                let value = match round % 3 {
                    0 => s.spawn_blocking(move |_| Ok::<_, AppError>(round)).await?,
                    1 => s.spawn(async move { Ok::<_, AppError>(round) }).await?,
                    _ => {
                        s.spawn_in_place(async move { Ok::<_, AppError>(round) })
                            .await?
                    }
                };
                assert_eq!(value, round);
                let free = s.reserve().now_or_never();
                assert!(free.is_some(), "round {round}: the slot was still taken");
            }
            Ok::<_, AppError>(())
        })
        .await
        .unwrap();
    });
}

/// Law 3: a child spawned into a reservation starts in the reserved slot, in place too; an
/// older in-place child queued behind the reservation does not take it (the scope hung when
/// that one waited for the reserved child).
#[tokio::test(start_paused = true)]
async fn law3_a_reserved_in_place_child_starts_in_its_slot() {
    let s = &Scope::<Interrupted>::new(Config::new().limit(1));
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        s.run(async {
            let slot = s.reserve().await?; // holds the only slot
            let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
            // Queued behind the reservation (no slot free).
            let waiter =
                s.spawn_in_place(async move { Ok::<_, Interrupted>(rx.await.unwrap_or(0)) });
            // Into the reserved slot: it starts now.
            let _sender = slot.spawn_in_place(async move {
                let _ = tx.send(7);
                Ok::<_, Interrupted>(())
            });
            waiter.await
        }),
    )
    .await;
    assert_eq!(
        out.expect("hung: the reserved child never started")
            .unwrap(),
        7
    );
}

/// Law 3: aborting an in-place child that waits for a slot takes its own place in the queue
/// out, not the last in-place child's: a later in-place child does not jump ahead of an
/// earlier spawned one.
#[tokio::test(start_paused = true)]
async fn law3_aborting_a_waiting_in_place_child_keeps_spawn_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o1, o2) = (order.clone(), order.clone());
    let s = &Scope::<Interrupted>::new(Config::new().limit(1));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    s.run(async {
        let blocker = s.spawn(async move {
            let _ = rx.await;
            Ok::<_, Interrupted>(())
        });
        tokio::task::yield_now().await; // the blocker holds the only slot
        let a = s.spawn_in_place(async { Ok::<_, Interrupted>(()) });
        let x = s.spawn(async move {
            o1.lock().unwrap().push("x");
            Ok::<_, Interrupted>(())
        });
        let b = s.spawn_in_place(async move {
            o2.lock().unwrap().push("b");
            Ok::<_, Interrupted>(())
        });
        a.abort();
        tokio::task::yield_now().await; // the run handles the abort
        tx.send(()).unwrap(); // the slot frees
        blocker.await?;
        x.await?;
        b.await?;
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
    assert_eq!(*order.lock().unwrap(), ["x", "b"], "spawn order");
}

/// A map's limit survives a `config` given after it (one with no limit of its own): the
/// natural builder order no longer starts every item at once.
#[tokio::test(start_paused = true)]
async fn a_maps_limit_survives_a_later_config() {
    let (live, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (l, p) = (live.clone(), peak.clone());
    scope_runtime::map(0..100, move |_| {
        let (l, p) = (l.clone(), p.clone());
        async move {
            p.fetch_max(l.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            sleep(Duration::from_millis(10)).await;
            l.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, Interrupted>(())
        }
    })
    .limit(4)
    .config(Config::new().timeout(Duration::from_secs(60)))
    .run()
    .await
    .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 4, "the peak with limit(4)");
}

/// Stopping the children queued behind a limit, one handle after the other, is linear in
/// either order (a set cancels its newest first): 8x the children take about 8x the time,
/// not 64x.
#[test]
fn stopping_queued_children_one_by_one_is_linear() {
    fn cancel_queued(n: usize, newest_first: bool) -> Duration {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = &Scope::<Interrupted>::new(Config::new().limit(1));
            s.run(async {
                let mut handles: Vec<_> = (0..n)
                    .map(|_| s.spawn(std::future::pending::<Result<(), Interrupted>>()))
                    .collect();
                if newest_first {
                    handles.reverse();
                }
                let start = std::time::Instant::now();
                for h in &handles {
                    h.cancel("stop");
                }
                let took = start.elapsed();
                for h in handles {
                    let _ = h.await;
                }
                Ok::<_, Interrupted>(took)
            })
            .await
            .unwrap()
        })
    }
    for newest_first in [true, false] {
        let _ = cancel_queued(2_000, newest_first); // warm-up
                                                    // The best of three each, in turns: one slow turn on a loaded machine is not the
                                                    // work's shape.
        let (mut small, mut big) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            small = small.min(cancel_queued(5_000, newest_first));
            big = big.min(cancel_queued(40_000, newest_first));
        }
        assert!(
            big < small * 40,
            "newest first: {newest_first}: 8x the children: {big:?} vs {small:?} (quadratic)"
        );
    }
}

/// A map over a quiet source (a channel of jobs with none yet) stops pulling items at its
/// first error or its cancel: the error comes back at once, not at the grace's end, and no
/// item that arrives later is handed to `f`.
#[tokio::test(start_paused = true)]
async fn a_maps_first_error_is_returned_at_once_while_its_stream_is_idle() {
    use futures_util::StreamExt;
    let start = tokio::time::Instant::now();
    let calls = Arc::new(AtomicUsize::new(0));
    // One item now, another an hour later.
    let items = futures_util::stream::iter([7u32]).chain(futures_util::stream::once(async {
        sleep(Duration::from_secs(3600)).await;
        8
    }));
    let c = Arc::clone(&calls);
    let out = scope_runtime::map_stream(items, move |i| {
        c.fetch_add(1, Ordering::Relaxed);
        async move { Err::<u32, AppError>(AppError::Boom(i)) }
    })
    .config(Config::new().grace(Duration::from_secs(5)))
    .run()
    .await;
    assert!(matches!(out, Err(AppError::Boom(7))), "{out:?}");
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the failure was known at once"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);

    // Supervised, over a quiet source, with a deadline: it ends at the deadline (its children
    // have all ended), not at the deadline plus the grace.
    let start = tokio::time::Instant::now();
    let items = futures_util::stream::iter([1u32]).chain(futures_util::stream::pending());
    let out = scope_runtime::map_stream(items, |i| async move { Ok::<u32, AppError>(i) })
        .config(
            Config::new()
                .timeout(Duration::from_millis(100))
                .grace(Duration::from_secs(5)),
        )
        .run_all()
        .await;
    assert!(out.is_err(), "{out:?}");
    assert_eq!(start.elapsed(), Duration::from_millis(100));
}

// A slot given back on a thread without a runtime (a `Reserved` dropped on a plain thread)
// still starts the child queued behind it, on the runtime the child was spawned on.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_given_back_on_a_plain_thread_starts_the_queued_blocking_child() {
    let s = &Scope::new(Config::new().limit(1));
    let out = s
        .run(async {
            let held = s.reserve().await?;
            let b = s.spawn_blocking(|_| Ok::<_, Interrupted>(7)); // queued behind `held`
            std::thread::scope(|t| {
                t.spawn(move || drop(held));
            });
            b.await
        })
        .await;
    assert_eq!(out.unwrap(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_given_back_on_a_plain_thread_starts_the_queued_spawned_child() {
    let s = &Scope::new(Config::new().limit(1));
    let out = s
        .run(async {
            let held = s.reserve().await?;
            let b = s.spawn(async { Ok::<_, Interrupted>(7) }); // queued behind `held`
            std::thread::scope(|t| {
                t.spawn(move || drop(held));
            });
            b.await
        })
        .await;
    assert_eq!(out.unwrap(), 7);
}

// A for-each keeps no values, so it counts its items out rather than reading a handle per
// item; these check that the count says what the handles said.

#[tokio::test(start_paused = true)]
async fn for_each_whose_items_answer_the_deadline_with_an_error_reports_the_deadline() {
    let answered = Arc::new(AtomicUsize::new(0));
    let a = answered.clone();
    let out = scope_runtime::for_each(0..4u32, move |_| {
        let a = a.clone();
        async move {
            // Each item answers the cancel, on time, with the interruption.
            let cause = scope_runtime::cancelled().await;
            a.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Interrupted::from_cause(cause))
        }
    })
    // No limit: every item has started when the deadline fires, and the map's body is
    // waiting for them (the count), not for a slot.
    .config(
        Config::new()
            .timeout(Duration::from_millis(10))
            .grace(Duration::from_secs(1)),
    )
    .run()
    .await;
    assert_eq!(answered.load(Ordering::SeqCst), 4, "every item answered");
    assert!(
        matches!(out, Err(Interrupted::DeadlineExceeded(_))),
        "{out:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn for_each_in_place_cut_short_by_an_outside_cancel_is_not_a_success() {
    let parent = scope_runtime::Cx::root();
    let p = parent.clone();
    let canceller = tokio::spawn(async move {
        sleep(Duration::from_millis(5)).await;
        p.cancel("stop the batch");
    });
    let finished = AtomicUsize::new(0);
    let out = scope_runtime::for_each(0..3u64, |i| {
        let finished = &finished;
        async move {
            // Item 0 is done before the cancel; the others answer it, within the grace,
            // with the interruption (so the map's body, waiting for them, reads the count).
            if i > 0 {
                let cause = scope_runtime::cancelled().await;
                return Err(AppError::from(Interrupted::from_cause(cause)));
            }
            finished.fetch_add(1, Ordering::SeqCst);
            Ok::<_, AppError>(())
        }
    })
    .in_place()
    .config(Config::new().parent(parent).grace(Duration::from_secs(1)))
    .run_all()
    .await;
    canceller.await.unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    let failures = out.expect_err("two items gave no value");
    assert!(
        failures.to_string().contains("stop the batch"),
        "{failures}"
    );
}

/// An item that returns `Ok` at its first poll and whose destructor then panics.
struct OkThenPanicsOnDrop;

impl Future for OkThenPanicsOnDrop {
    type Output = Result<(), AppError>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Drop for OkThenPanicsOnDrop {
    fn drop(&mut self) {
        panic!("item 1's destructor");
    }
}

#[tokio::test(start_paused = true)]
async fn for_each_with_an_item_whose_destructor_panics_after_ok_reports_the_panic() {
    // Item 1's future itself returns `Ok`, then panics as the map drops it.
    let item = |i: u32| {
        if i == 1 {
            futures_util::future::Either::Left(OkThenPanicsOnDrop)
        } else {
            futures_util::future::Either::Right(async {
                sleep(Duration::from_millis(1)).await;
                Ok(())
            })
        }
    };
    // Supervised: the panic is in the report (law 5), and the map ends.
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        scope_runtime::for_each(0..3u32, item).limit(2).run_all(),
    )
    .await
    .expect("the for-each ends");
    let failures = out.expect_err("item 1 panicked");
    assert_eq!(failures.len(), 1, "{failures}");
    assert!(
        failures.to_string().contains("item 1's destructor"),
        "{failures}"
    );
    // Fail-fast: the panic is the map's error.
    let out = scope_runtime::for_each(0..3u32, item).limit(2).run().await;
    let Err(AppError::Interrupted(Interrupted::Panicked(panic))) = &out else {
        panic!("{out:?}")
    };
    assert!(panic.to_string().contains("item 1's destructor"), "{panic}");
}

#[test]
fn for_each_returns_ok_only_after_every_item_has_ended() {
    two_workers().block_on(async {
        for round in 0..200u64 {
            let ended = Arc::new(AtomicUsize::new(0));
            let e = ended.clone();
            scope_runtime::for_each(0..16u64, move |i| {
                let e = e.clone();
                async move {
                    if (i + round) % 3 == 0 {
                        tokio::task::yield_now().await;
                    }
                    e.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Interrupted>(())
                }
            })
            .limit(4)
            .run()
            .await
            .unwrap();
            assert_eq!(ended.load(Ordering::SeqCst), 16, "round {round}");
        }
    });
}

#[tokio::test(start_paused = true)]
async fn for_each_whose_items_answer_an_outside_cancel_with_an_error_is_not_a_success() {
    let parent = scope_runtime::Cx::root();
    let p = parent.clone();
    let canceller = tokio::spawn(async move {
        sleep(Duration::from_millis(5)).await;
        p.cancel("client went away");
    });
    let out = scope_runtime::for_each(0..3u32, |_| async move {
        let cause = scope_runtime::cancelled().await;
        Err::<(), _>(Interrupted::from_cause(cause))
    })
    .config(Config::new().parent(parent))
    .run()
    .await;
    canceller.await.unwrap();
    let Err(Interrupted::Cancelled(c)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(c.cause().root().to_string(), "client went away");
}

/// An error whose message takes a while to format (300 ms): it holds open the moment the
/// scope settles a child's failure (the scope formats the error as it settles it).
#[derive(Debug)]
enum Slow {
    Bad,
    Interrupted(Interrupted),
}

impl std::fmt::Display for Slow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slow::Bad => {
                std::thread::sleep(Duration::from_millis(300));
                f.write_str("bad item")
            }
            Slow::Interrupted(i) => write!(f, "{i}"),
        }
    }
}

impl From<Interrupted> for Slow {
    fn from(i: Interrupted) -> Self {
        Slow::Interrupted(i)
    }
}

#[test]
fn for_each_run_on_two_workers_returns_the_items_error_not_a_cancellation() {
    // The scope formats a child's error as it settles it, after the item's future was
    // dropped. A slow `Display` holds that moment open while the map's body, polled on this
    // thread by `block_on`, looks at what its items did.
    two_workers().block_on(async {
        let out = scope_runtime::for_each(0..1u32, |_| async { Err::<(), _>(Slow::Bad) })
            .run()
            .await;
        // Law 3: the first failure is the error the scope returns.
        assert!(matches!(out, Err(Slow::Bad)), "{out:?}");
    });
}

#[tokio::test]
async fn for_each_whose_items_value_panics_when_dropped_reports_the_panic() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("the item's value");
        }
    }
    for in_place in [false, true] {
        let each = scope_runtime::for_each(0..1u32, |_| async { Ok::<_, AppError>(PanicsOnDrop) });
        let out = if in_place {
            each.in_place().run_all().await
        } else {
            each.run_all().await
        };
        // Law 5: the value's destructor is the item's; its panic is the item's panic.
        let failures = out.err().expect("the values' panics are reported");
        assert_eq!(failures.len(), 1, "in place: {in_place}: {failures}");
        assert!(
            failures.to_string().contains("the item's value"),
            "{failures}"
        );
    }
}

#[tokio::test]
async fn a_maps_items_are_known_by_the_maps_call_site() {
    for in_place in [false, true] {
        let (each, line) = (
            scope_runtime::for_each(0..2u32, |i| async move {
                if i == 1 {
                    Err(AppError::Boom(i))
                } else {
                    Ok(())
                }
            }),
            line!() - 7,
        );
        let out = if in_place {
            each.in_place().run_all().await
        } else {
            each.run_all().await
        };
        let failures = out.expect_err("item 1 failed");
        let task = failures.iter().next().expect("one failure").task();
        // Not a line of the library: the failure names the call the user wrote.
        assert_eq!(task.location().file(), file!(), "in place: {in_place}");
        assert_eq!(task.location().line(), line, "in place: {in_place}");
    }
}

/// An item that cancels its own context (`Cx::current()` is the item's own) and then fails:
/// the scope drops that error as the answer to the item's own cancel, so nothing cancels the
/// map's scope.
async fn gives_up_on_item_one(i: u32) -> Result<(), AppError> {
    if i == 1 {
        scope_runtime::Cx::current().cancel("item 1 gives up");
        return Err(AppError::Boom(1));
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_for_each_whose_item_cancels_itself_and_fails_answers_with_the_items_cause() {
    for in_place in [false, true] {
        let each = scope_runtime::for_each(0..2u32, gives_up_on_item_one);
        let run = async move {
            if in_place {
                each.in_place().run().await
            } else {
                each.run().await
            }
        };
        let out = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the for-each answers (it waited for a cancel of its scope)");
        // As `map` answers the same items: the item's own cancel.
        let Err(AppError::Interrupted(Interrupted::Cancelled(c))) = &out else {
            panic!("in place: {in_place}: {out:?}")
        };
        assert_eq!(c.cause().to_string(), "item 1 gives up");
    }
}

#[tokio::test]
async fn a_supervised_map_whose_item_cancels_itself_says_why_it_has_no_value() {
    for keep in [true, false] {
        let failures = if keep {
            scope_runtime::map(0..2u32, gives_up_on_item_one)
                .run_all()
                .await
                .map(drop)
        } else {
            scope_runtime::for_each(0..2u32, gives_up_on_item_one)
                .run_all()
                .await
                .map(drop)
        }
        .expect_err("item 1 gave no value");
        assert!(
            failures.to_string().contains("item 1 gives up"),
            "keep: {keep}: {failures}"
        );
    }
}

/// A job channel as the source: item 0 queues the next job and fails in the same poll, so the
/// job and the failure reach the map's body (waiting for the source) together.
#[tokio::test]
async fn a_map_hands_f_no_item_that_arrives_with_its_first_failure() {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    tx.send(0).unwrap();
    let items =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) });
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let out = scope_runtime::map_stream(items, move |i| {
        c.lock().unwrap().push(i);
        let tx = tx.clone();
        async move {
            tx.send(i + 1).unwrap(); // the next job arrives ...
            Err::<u32, AppError>(AppError::Boom(i)) // ... as this one fails
        }
    })
    .run()
    .await;
    assert!(matches!(out, Err(AppError::Boom(0))), "{out:?}");
    assert_eq!(
        *calls.lock().unwrap(),
        [0],
        "f was handed (and the channel lost) a job pulled after the failure"
    );
}

#[tokio::test]
async fn a_fail_fast_for_each_starts_no_item_after_one_that_cancels_itself_and_fails() {
    for keep in [true, false] {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let f = move |i: u32| {
            r.fetch_add(1, Ordering::SeqCst); // f is called in the body: items pulled
            gives_up_on_item_one(i)
        };
        let out = if keep {
            scope_runtime::map(0..1_000u32, f)
                .limit(1)
                .run()
                .await
                .map(drop)
        } else {
            scope_runtime::for_each(0..1_000u32, f)
                .limit(1)
                .run()
                .await
                .map(drop)
        };
        let Err(AppError::Interrupted(Interrupted::Cancelled(c))) = &out else {
            panic!("keep: {keep}: {out:?}")
        };
        assert_eq!(c.cause().to_string(), "item 1 gives up");
        let ran = ran.load(Ordering::SeqCst);
        // Items 0 and 1, and at most the one pulled before the loop saw item 1's end.
        assert!(ran <= 3, "keep: {keep}: f was called for {ran} items");
    }
}

/// Item 1 gives up on a nested scope (its run dropped by a timeout: the nested child keeps
/// that scope's grace, a unit of the map's scope), then cancels itself and fails.
async fn gives_up_leaving_a_nested_child_in_its_grace(i: u32) -> Result<(), AppError> {
    if i == 1 {
        let s = &Scope::new(Config::new().grace(Duration::from_millis(500)));
        let run = s.run(async {
            s.spawn(std::future::pending::<Result<(), AppError>>());
            std::future::pending::<Result<(), AppError>>().await
        });
        let _ = tokio::time::timeout(Duration::from_millis(10), run).await;
        scope_runtime::Cx::current().cancel("item 1 gives up");
        return Err(AppError::Boom(1));
    }
    Ok(())
}

#[tokio::test]
async fn a_for_each_whose_item_leaves_nested_work_behind_answers_without_spinning() {
    for in_place in [false, true] {
        let each = scope_runtime::for_each(0..2u32, gives_up_leaving_a_nested_child_in_its_grace);
        let run = async move {
            if in_place {
                each.in_place().run().await
            } else {
                each.run().await
            }
        };
        let mut run = std::pin::pin!(run);
        let mut polls = 0u64;
        let out = std::future::poll_fn(|task| {
            polls += 1;
            run.as_mut().poll(task)
        })
        .await;
        let Err(AppError::Interrupted(Interrupted::Cancelled(c))) = &out else {
            panic!("in place: {in_place}: {out:?}")
        };
        assert_eq!(c.cause().to_string(), "item 1 gives up");
        assert!(polls < 100, "in place: {in_place}: polled {polls} times");
    }
}

/// Item 1 forgets a nested run that holds a child (a unit of the map's scope for good), then
/// cancels itself and fails.
async fn gives_up_forgetting_a_nested_run(i: u32) -> Result<(), AppError> {
    if i == 1 {
        let s: &'static Scope<'static, 'static, AppError> =
            Box::leak(Box::new(Scope::new(Config::new())));
        let mut run = Box::pin(s.run(async {
            s.spawn(std::future::pending::<Result<(), AppError>>());
            std::future::pending::<Result<(), AppError>>().await
        }));
        let waker = std::task::Waker::noop();
        assert!(run
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending());
        std::mem::forget(run);
        scope_runtime::Cx::current().cancel("item 1 gives up");
        return Err(AppError::Boom(1));
    }
    Ok(())
}

#[tokio::test]
async fn a_for_each_whose_item_forgets_a_nested_run_answers() {
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        scope_runtime::for_each(0..2u32, gives_up_forgetting_a_nested_run).run(),
    )
    .await
    .expect("the for-each answers; its abort ends the forgotten child");
    let Err(AppError::Interrupted(Interrupted::Cancelled(c))) = &out else {
        panic!("{out:?}")
    };
    assert_eq!(c.cause().to_string(), "item 1 gives up");
}

#[tokio::test]
async fn a_panic_in_a_maps_f_resumes_out_of_the_map_after_its_items_are_drained() {
    use futures_util::FutureExt;
    let live = Arc::new(AtomicUsize::new(0));
    let l = live.clone();
    let out = std::panic::AssertUnwindSafe(
        scope_runtime::map(0..3u32, move |i| {
            assert!(i < 2, "f refuses item {i}");
            let item = Live::new(&l);
            async move {
                let _item = item;
                std::future::pending::<Result<u32, AppError>>().await
            }
        })
        .run(),
    )
    .catch_unwind()
    .await;
    let payload = out.expect_err("f's panic resumes out of run");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("f refuses item 2")
    );
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "both items were dropped first"
    );
}

#[tokio::test(start_paused = true)]
async fn a_maps_discarded_value_whose_drop_panics_does_not_unwind_through_the_map() {
    use futures_util::FutureExt;
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("item 0's value");
        }
    }
    let item = |i: u32| async move {
        if i == 1 {
            sleep(Duration::from_millis(10)).await; // after item 0's value was read
            return Err(AppError::Boom(1));
        }
        Ok(PanicsOnDrop)
    };
    // Supervised: the map gives no value (item 1 failed), so item 0's value is dropped; its
    // panic is reported beside the failure, not resumed in place of the report.
    let out = std::panic::AssertUnwindSafe(scope_runtime::map(0..2u32, item).run_all())
        .catch_unwind()
        .await;
    let failures = out
        .expect("run_all answers with its failures; it does not panic")
        .err()
        .expect("item 1 failed");
    let each: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert_eq!(each.len(), 2, "{each:?}");
    assert!(each.iter().any(|f| f.contains("boom 1")), "{each:?}");
    assert!(
        each.iter().any(|f| f.contains("item 0's value")),
        "{each:?}"
    );
    // Fail-fast: the first failure is the map's error (law 3).
    let out = std::panic::AssertUnwindSafe(scope_runtime::map(0..2u32, item).run())
        .catch_unwind()
        .await;
    let out = out.expect("run answers with the first failure; it does not panic");
    assert!(matches!(out, Err(AppError::Boom(1))), "{}", out.is_ok());
}

#[tokio::test]
async fn a_reservation_polled_again_says_so() {
    // Polled again after it gave its slot, it said "the scope is closed" of a running scope.
    let s = &Scope::new(Config::new().limit(1));
    s.run(async {
        let mut reserve = std::pin::pin!(s.reserve());
        let slot = reserve.as_mut().await?;
        let again = reserve.await;
        let Err(Interrupted::NotStarted(n)) = again else {
            panic!("{again:?}")
        };
        assert_eq!(
            n.cause().to_string(),
            "the reservation was polled after it completed"
        );
        drop(slot);
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn try_reserve_refuses_without_taking_the_future() {
    // errgroup's `TryGo`, with the future still the caller's on a refusal: a refused
    // connection can still be told "busy".
    let s = &Scope::new(Config::new().limit(1));
    assert_eq!(s.try_reserve().err(), Some(SpawnError::NotRunning));
    s.run(async {
        let first = s.try_reserve().expect("a slot is free").spawn(async {
            sleep(Duration::from_millis(10)).await;
            Ok::<_, Interrupted>(1)
        });
        let alive = Arc::new(AtomicUsize::new(0));
        let job = {
            let held = Live::new(&alive);
            async move {
                drop(held);
                Ok::<_, Interrupted>(2)
            }
        };
        assert_eq!(s.try_reserve().err(), Some(SpawnError::Full));
        assert_eq!(
            alive.load(Ordering::SeqCst),
            1,
            "the refused job is still ours"
        );
        assert_eq!(first.await?, 1);
        let second = s.try_reserve().expect("the slot came back").spawn(job);
        assert_eq!(second.await?, 2);
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
    assert_eq!(s.try_reserve().err(), Some(SpawnError::Closed));
}

#[tokio::test(start_paused = true)]
async fn try_reserve_counts_a_waiting_reservation_and_a_dropped_one_hands_its_slot_on() {
    let s = &Scope::new(Config::new().limit(1));
    s.run(async {
        let held = s.try_reserve().expect("a slot is free");
        // A waiting `reserve` is ahead in line: a try comes after it, so it is refused.
        let mut waiting = std::pin::pin!(s.reserve());
        let first_poll =
            std::future::poll_fn(|cx| std::task::Poll::Ready(waiting.as_mut().poll(cx))).await;
        assert!(first_poll.is_pending());
        drop(held);
        assert_eq!(s.try_reserve().err(), Some(SpawnError::Full));
        let slot = waiting.await?;
        assert_eq!(s.try_reserve().err(), Some(SpawnError::Full));
        drop(slot);
        let again = s
            .try_reserve()
            .expect("a dropped reservation hands its slot on");
        again.spawn(async { Ok::<_, Interrupted>(()) }).await
    })
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn try_reserve_without_a_limit_before_the_run_starts_nothing_before_it() {
    let s = &Scope::new(Config::new());
    let started = Arc::new(AtomicUsize::new(0));
    let child = s.try_reserve().expect("no limit: always a slot").spawn({
        let started = Arc::clone(&started);
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Interrupted>(3)
        }
    });
    sleep(Duration::from_millis(5)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        0,
        "a child waits for its scope's run"
    );
    let out = s.run(child).await;
    assert_eq!(out.unwrap(), 3);
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

#[test]
fn a_blocking_child_waiting_for_a_pool_thread_does_not_hold_back_a_free_slot() {
    // Limit 3, one thread in the blocking pool: `y` holds the thread until `w` runs, `x` waits
    // for the thread. Two slots are held; `w` takes the third and starts.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (on_thread, started) = tokio::sync::oneshot::channel::<()>();
        let s = &Scope::new(Config::new().limit(3));
        tokio::time::timeout(
            Duration::from_secs(5),
            s.run(async {
                let y = s.spawn_blocking(move |_| {
                    let _ = on_thread.send(());
                    let _ = held.recv();
                    Ok::<_, Interrupted>(())
                });
                started.await.expect("y runs");
                let x = s.spawn_blocking(|_| Ok::<_, Interrupted>(()));
                s.spawn(async { Ok::<_, Interrupted>(()) }).await?;
                s.spawn(async { Ok::<_, Interrupted>(()) }).await?;
                let w = s.spawn(async move {
                    let _ = release.send(());
                    Ok::<_, Interrupted>(())
                });
                w.await?;
                y.await?;
                x.await
            }),
        )
        .await
    });
    out.expect("w never started although only 2 of the 3 slots were held")
        .unwrap();
}

#[test]
fn law8_a_runtime_shut_down_under_a_long_admission_queue_does_not_overflow_a_workers_stack() {
    // A multi-thread runtime drops its tasks from a random shard: a running child is often
    // dropped before the task of its scope's run. Its slot passed to the next queued child,
    // whose `spawn` on the closed runtime dropped it at once, which passed its slot on: one
    // level of recursion per queued child, and a worker's stack overflowed (SIGABRT). A run
    // misses the order with probability about 1/4; eight runs miss it 1 time in 65,536.
    for _ in 0..8 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (queued, wait) = std::sync::mpsc::channel::<()>();
        rt.spawn(async move {
            let s = &Scope::new(Config::new().limit(4));
            let _ = s
                .run(async {
                    for _ in 0..20_000 {
                        s.spawn(std::future::pending::<Result<(), Interrupted>>());
                    }
                    let _ = queued.send(());
                    std::future::pending::<Result<(), Interrupted>>().await
                })
                .await;
        });
        wait.recv().unwrap();
        drop(rt);
    }
}

/// Law 3 for the body's own slot: a body that fails while holding a reserved slot drops the
/// reservation inside its last poll, before the scope has settled the failure (a slow
/// `Display` holds the settle open). The slot passed on to the queued blocking child there,
/// which ran after the first failure; it is now handed back through the run, after the settle.
#[tokio::test]
async fn law3_a_body_failing_with_a_reserved_slot_starts_no_queued_child() {
    use std::sync::atomic::AtomicBool;
    let ran = Arc::new(AtomicBool::new(false));
    let w_ran = Arc::clone(&ran);
    let s = &Scope::new(Config::new().limit(1));
    let out = s
        .run(async {
            let slot = s.reserve().await?; // the only slot
            let _w = s.spawn_blocking(move |_| {
                // Queued behind the reservation.
                w_ran.store(true, Ordering::SeqCst);
                Ok::<_, Slow>(())
            });
            let _held = slot;
            Err::<(), _>(Slow::Bad) // `_held` is dropped here, before the failure is settled
        })
        .await;
    assert!(matches!(out, Err(Slow::Bad)), "{out:?}");
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued child ran after the body's failure"
    );
}

/// Law 5 for the same: a body that panics while holding a reserved slot drops it as it
/// unwinds, inside its poll; the queued blocking child does not run after the panic.
#[tokio::test]
async fn law5_a_body_panicking_with_a_reserved_slot_starts_no_queued_child() {
    use futures_util::FutureExt;
    use std::sync::atomic::AtomicBool;
    /// Holds the unwind open after the reservation was dropped (declared first, dropped last).
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    fn panics_here() -> Result<(), Interrupted> {
        panic!("body")
    }
    let ran = Arc::new(AtomicBool::new(false));
    let w_ran = Arc::clone(&ran);
    let s = &Scope::new(Config::new().limit(1));
    let out = std::panic::AssertUnwindSafe(s.run(async {
        let _slow = SlowDrop; // dropped last: after the slot
        let slot = s.reserve().await?;
        let _w = s.spawn_blocking(move |_| {
            w_ran.store(true, Ordering::SeqCst);
            Ok::<_, Interrupted>(())
        });
        let _held = slot;
        panics_here()
    }))
    .catch_unwind()
    .await;
    assert!(out.is_err(), "the body's panic is resumed");
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued child ran after the body's panic"
    );
}

/// What the hold above must not hold: a blocking child admitted at once starts at once, so it
/// runs while the body's poll goes on (start it, do other work, then await it).
#[test]
fn a_blocking_child_admitted_at_once_starts_while_the_bodys_poll_goes_on() {
    use std::sync::atomic::AtomicBool;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let seen = rt.block_on(async {
        let s = &Scope::new(Config::new());
        s.run(async {
            let flag = Arc::clone(&started);
            let job = s.spawn_blocking(move |_| flag.store(true, Ordering::SeqCst));
            // Synchronous work in the same poll: the job runs beside it.
            let until = std::time::Instant::now() + Duration::from_secs(5);
            while !started.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            let seen = started.load(Ordering::SeqCst);
            job.await?;
            Ok::<_, Interrupted>(seen)
        })
        .await
        .unwrap()
    });
    assert!(seen, "the blocking child waited for the body's poll to end");
}

/// Nor another scope run inside the body's poll: a limited scope run to its end on a runtime
/// entered from the body (`block_in_place` + `block_on`) hands its slots on at once.
#[test]
fn a_limited_scope_run_inside_a_bodys_poll_hands_its_slots_on() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = rt.block_on(async {
            let s = &Scope::new(Config::new());
            s.run(async {
                let n = tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(async {
                        let inner = &Scope::new(Config::new().limit(1));
                        inner
                            .run(async {
                                let a = inner.spawn_blocking(|_| Ok::<_, Interrupted>(1));
                                // Queued behind `a`.
                                let b = inner.spawn_blocking(|_| Ok::<_, Interrupted>(2));
                                Ok::<_, Interrupted>(a.await? + b.await?)
                            })
                            .await
                    })
                })?;
                Ok::<_, Interrupted>(n)
            })
            .await
        });
        let _ = tx.send(out);
    });
    let out = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the inner scope's queued child never started");
    assert_eq!(out.unwrap(), 3);
}

#[test]
fn law3_a_child_failing_in_its_first_poll_lets_no_queued_child_through_the_start_window() {
    // One worker: its LIFO slot runs the last task spawned first, so `y` ends while `f`, not
    // yet polled, holds the start window shut. `f` then fails in its first poll: its place
    // in the window passed on before its failure was settled (a slow `Display` holds the
    // settle open), and the queued blocking child ran after the first failure.
    use std::sync::atomic::AtomicBool;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let w_ran = Arc::clone(&ran);
    let out = rt.block_on(async move {
        tokio::spawn(async move {
            let s = &Scope::new(Config::new().limit(2));
            s.run(async {
                let f = s.spawn(async { Err::<(), _>(Slow::Bad) });
                let y = s.spawn(async { Ok::<_, Slow>(()) });
                let w = s.spawn_blocking(move |_| {
                    w_ran.store(true, Ordering::SeqCst);
                    Ok::<_, Slow>(())
                });
                let _ = y.await;
                let _ = f.await;
                let _ = w.await;
                Ok::<_, Slow>(())
            })
            .await
        })
        .await
        .unwrap()
    });
    assert!(matches!(out, Err(Slow::Bad)), "{out:?}");
    assert!(
        !ran.load(Ordering::SeqCst),
        "a queued child ran after the first failure"
    );
}

/// Law 5 for a failed map's values: the values collected before the failure are dropped one
/// by one, so two whose destructors panic are a panic of the scope (reported), not a second
/// panic during an unwind, which aborted the process.
#[tokio::test]
async fn law5_a_failed_maps_values_panicking_on_drop_do_not_abort() {
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            panic!("value dropped");
        }
    }
    let out = scope_runtime::map(0..3u32, |i| async move {
        if i == 2 {
            sleep(Duration::from_millis(50)).await;
            Err(AppError::Boom(2))
        } else {
            Ok(Loud)
        }
    })
    .run()
    .await;
    assert!(out.is_err());
}

// ---------------------------------------------------------------------------------------------
// A reservation cannot be spawned into once the body has returned (the scope is closed to new
// children): it gives its slot back then, wherever it is kept, so that the children queued
// behind it start and the run ends.

#[tokio::test(start_paused = true)]
async fn law1_a_reservation_returned_by_the_body_does_not_hold_the_run() {
    let s = &Scope::new(Config::new().limit(1));
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let run = s.run(async move {
        let slot = s.reserve().await?; // the only slot
        let _late = s.spawn(async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Interrupted>(())
        }); // queued behind it
        Ok::<_, Interrupted>(slot) // the slot leaves with the body's value
    });
    let out = tokio::time::timeout(Duration::from_secs(60), run).await;
    let kept = out.expect("the run waited for good for a slot nobody could use");
    let kept = kept.expect("the scope succeeds");
    assert_eq!(ran.load(Ordering::SeqCst), 1, "the queued child ran");
    drop(kept); // gives nothing back twice
}

#[tokio::test(start_paused = true)]
async fn law1_a_reservation_still_waiting_when_the_body_returns_is_refused() {
    let s = &Scope::new(Config::new().limit(1));
    let mut kept = None;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        s.run(async {
            let first = s.spawn(async {
                sleep(Duration::from_millis(10)).await;
                Ok::<_, Interrupted>(())
            });
            // Waits for the slot `first` holds, polled once and kept.
            let mut waiting = Box::pin(s.reserve());
            let waker = futures_util::task::noop_waker();
            let polled = waiting
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker));
            assert!(polled.is_pending());
            let _late = s.spawn(async { Ok::<_, Interrupted>(()) }); // queued behind it
            kept = Some(waiting);
            drop(first);
            Ok::<_, Interrupted>(())
        }),
    )
    .await;
    out.expect("the run waited for good for a reservation nobody polls")
        .expect("the scope succeeds");
    let answer = kept.take().unwrap().await;
    assert!(
        matches!(answer, Err(Interrupted::NotStarted(_))),
        "a reservation granted after the scope closed: {answer:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_in_place_maps_discarded_value_whose_drop_panics_does_not_unwind_through_the_map() {
    // In place, an item's failure is settled inside the run's turn: the map's body (holding
    // the values collected so far) was dropped there, unpolled, and a value's panicking
    // `Drop` came out of `run` as the body's panic in place of the first failure.
    use futures_util::FutureExt;
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("item 0's value");
        }
    }
    let item = |i: u32| async move {
        if i == 1 {
            sleep(Duration::from_millis(10)).await; // after item 0's value was read
            return Err(AppError::Boom(1));
        }
        Ok(PanicsOnDrop)
    };
    for grace in [Duration::ZERO, Duration::from_millis(100)] {
        let map = scope_runtime::map(0..2u32, item)
            .config(Config::new().grace(grace))
            .in_place();
        let out = std::panic::AssertUnwindSafe(map.run()).catch_unwind().await;
        let out = out.expect("run answers with the first failure; it does not panic");
        assert!(
            matches!(out, Err(AppError::Boom(1))),
            "grace {grace:?}: {}",
            out.is_ok()
        );
    }
}

#[test]
fn law1_try_spawn_from_two_threads_at_once_never_queues_behind_a_full_limit() {
    // `try_spawn` looked for room under admission's lock, then admitted the child under a
    // second take of it: two threads trying at once on a free `limit(1)` both found room,
    // and the second child was queued behind the first, with `Ok`, where `Full` was due.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    for round in 0..2_000 {
        let accepted = rt.block_on(async {
            let s = &Scope::new(Config::new().limit(1));
            let mut accepted = 0;
            s.run(async {
                accepted = at_once_on_two_threads(&handle, || {
                    accepted_or_full(
                        &s.try_spawn(async {
                            let _ = scope_runtime::cancelled().await;
                            Ok::<_, Interrupted>(())
                        }),
                        round,
                    )
                });
                s.cancel("done");
                Ok::<_, Interrupted>(())
            })
            .await
            .unwrap();
            accepted
        });
        assert_eq!(
            accepted, 1,
            "round {round}: one of two children fits a limit of one"
        );
    }
}

/// Runs `attempt` on two threads at once, each in `runtime`: how many returned `true`.
fn at_once_on_two_threads(
    runtime: &tokio::runtime::Handle,
    attempt: impl Fn() -> bool + Sync,
) -> usize {
    let (first, second) = both_at_once(runtime, &attempt, &attempt);
    usize::from(first) + usize::from(second)
}

/// Whether a `try_spawn` was accepted; refused, it was for `Full`.
fn accepted_or_full<T>(tried: &Result<T, SpawnError>, round: usize) -> bool {
    match tried {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(*e, SpawnError::Full, "round {round}");
            false
        }
    }
}

#[test]
fn law1_try_spawn_from_two_threads_before_the_run_never_queues_behind_a_full_limit() {
    // Before the run (as with the start window full), `try_spawn` takes no slot at its look:
    // the child waits in the queue for the run. Two threads trying at once on `limit(1)` both
    // found room, and both children were queued: the second behind the first, with `Ok`.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    for round in 0..2_000 {
        let s = &Scope::new(Config::new().limit(1));
        let accepted = at_once_on_two_threads(&handle, || {
            accepted_or_full(&s.try_spawn(async { Ok::<_, Interrupted>(()) }), round)
        });
        rt.block_on(s.run(async { Ok::<_, Interrupted>(()) }))
            .unwrap();
        assert_eq!(
            accepted, 1,
            "round {round}: one of two children fits a limit of one"
        );
    }
}

/// Runs `first` and `second` on two threads at once, each in `runtime`.
fn both_at_once<A: Send, B: Send>(
    runtime: &tokio::runtime::Handle,
    first: impl FnOnce() -> A + Send,
    second: impl FnOnce() -> B + Send,
) -> (A, B) {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|threads| {
        let a = threads.spawn(|| {
            let _runtime = runtime.enter();
            barrier.wait();
            first()
        });
        let b = threads.spawn(|| {
            let _runtime = runtime.enter();
            barrier.wait();
            second()
        });
        (a.join().unwrap(), b.join().unwrap())
    })
}

#[test]
fn law1_an_accepted_try_spawn_is_not_queued_behind_a_spawn_that_came_between_its_look_and_its_arrival(
) {
    // Before the run a `try_spawn` takes no slot at its look: its place is promised until
    // its child arrives in the queue. A plain spawn (or an in-place one) from another thread
    // in between went into the queue ahead of it, and took the only slot of `limit(1)` when
    // the run started: the tried child, told `Ok`, waited behind a full limit.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    for round in 0..4_000 {
        let in_place = round % 2 == 1;
        let s = &Scope::new(Config::new().limit(1));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = |name: &'static str| {
            let order = Arc::clone(&order);
            async move {
                order.lock().unwrap().push(name);
                Ok::<_, Interrupted>(())
            }
        };
        let (tried, ()) = both_at_once(
            &handle,
            || {
                if in_place {
                    s.try_spawn_in_place(record("tried")).is_ok()
                } else {
                    s.try_spawn(record("tried")).is_ok()
                }
            },
            || {
                if in_place {
                    drop(s.spawn_in_place(record("other")));
                } else {
                    drop(s.spawn(record("other")));
                }
            },
        );
        rt.block_on(s.run(async { Ok::<_, Interrupted>(()) }))
            .unwrap();
        let order = order.lock().unwrap().clone();
        if tried {
            assert_eq!(
                order.first(),
                Some(&"tried"),
                "round {round} (in place: {in_place}): the tried child was told `Ok`, then waited behind a full limit"
            );
        } else {
            assert_eq!(order, ["other"], "round {round}");
        }
    }
}

/// An aborted child's slot is given back before its handle learns of its end, as a child that
/// completes does: once `is_finished()` says so (or its outcome is read), there is room again.
/// On two workers, a child queued behind another (its outcome goes through a channel) and one
/// whose value has a destructor; before, the abort delivered the outcome first, and a
/// `try_spawn` right after found the limit full.
#[test]
fn an_aborted_childs_slot_is_free_once_its_handle_says_it_finished() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut full = 0;
    for round in 0..2_000 {
        let tried = rt.block_on(async {
            let s = &Scope::new(Config::new().limit(1));
            s.run(async {
                let first = s.spawn(async { Ok::<_, Interrupted>(0u8) });
                // Queued behind `first`: started from the queue once `first` ends.
                let queued = s.spawn(std::future::pending::<Result<u8, Interrupted>>());
                first.await?;
                tokio::task::yield_now().await;
                queued.abort();
                if round % 2 == 0 {
                    while !queued.is_finished() {
                        std::hint::spin_loop();
                    }
                } else {
                    let _ = queued.await;
                }
                let owned = s.spawn(std::future::pending::<Result<String, Interrupted>>());
                tokio::task::yield_now().await;
                owned.abort();
                let _ = owned.await;
                Ok::<_, Interrupted>(s.try_spawn(async { Ok::<_, Interrupted>(()) }).map(drop))
            })
            .await
            .unwrap()
        });
        if tried.is_err() {
            full += 1;
        }
    }
    assert_eq!(full, 0, "try_spawn found the limit full after the aborted child had finished, in {full} of 2,000 rounds");
}

#[tokio::test]
async fn law3_a_reservation_that_resolves_after_the_scope_closed_is_refused() {
    // A `reserve()` joined with the run, outside the body: the run starts and hands it a slot,
    // the body returns, and the run ends, all before the reservation is polled again. It
    // resolves after the scope closed, so it is refused, as its docs say ("if the scope
    // closes first"); it resolved to a `Reserved` of a finished scope, whose child then never
    // ran. The slot is given back.
    let s = &Scope::<Interrupted>::new(Config::new().limit(2));
    let (reserved, out) = tokio::join!(s.reserve(), s.run(async { Ok(()) }));
    assert!(out.is_ok(), "{out:?}");
    assert!(
        matches!(&reserved, Err(Interrupted::NotStarted(_))),
        "{reserved:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn law3_a_queued_child_whose_context_is_cancelled_keeps_its_place_and_never_runs() {
    // As `Child::cx` says: the cancel of its context only asks, and a queued child cannot
    // look; it leaves the queue when a slot frees, unpolled. `Child::cancel` takes it out now.
    let s = &Scope::new(Config::new().limit(1));
    let polled = Arc::new(AtomicUsize::new(0));
    s.run(async {
        let _holder = s.spawn(sleep(Duration::from_millis(300)));
        let seen = Arc::clone(&polled);
        let asked = s.spawn(async move {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        let seen = Arc::clone(&polled);
        let cancelled = s.spawn(async move {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        asked.cx().cancel("only asks");
        assert!(cancelled.cancel("leaves the queue"));
        sleep(Duration::from_millis(10)).await;
        assert!(cancelled.is_finished(), "Child::cancel left it queued");
        assert!(
            !asked.is_finished(),
            "it left the queue before a slot freed"
        );
        let start = tokio::time::Instant::now();
        let out = asked.await;
        assert!(matches!(out, Err(Interrupted::NotStarted(_))), "{out:?}");
        assert!(start.elapsed() >= Duration::from_millis(280));
        assert!(matches!(cancelled.await, Err(Interrupted::NotStarted(_))));
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
    assert_eq!(
        polled.load(Ordering::SeqCst),
        0,
        "a cancelled queued child ran"
    );
}
