//! One or more tests per law of the contract (DESIGN §2). Each test's name starts with the
//! law it proves. Time runs on tokio's paused clock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{flag, AppError, Live};
use scope_runtime::testing::LeakCheck;
use scope_runtime::{
    Cause, Config, Cx, Interrupted, Race, Scope, Service, ServiceConfig, Slot, SpawnError,
};
use tokio::time::{sleep, Instant};

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// Law 1: lexical binding.

#[tokio::test(start_paused = true)]
async fn law1_scope_resolves_only_after_every_child_finished() {
    let live = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new());
    let r: Result<(), AppError> = s
        .run(async {
            for i in 0..10u64 {
                let l = Live::new(&live);
                s.spawn(async move {
                    let _l = l;
                    sleep(ms(i * 7 % 13)).await;
                });
                let l = Live::new(&live);
                s.spawn_in_place(async move {
                    let _l = l;
                    sleep(ms(i * 5 % 11)).await;
                });
            }
            Ok(())
        })
        .await;
    r.unwrap();
    assert_eq!(live.load(Ordering::SeqCst), 0, "a child outlived its scope");
}

#[tokio::test(start_paused = true)]
async fn law1_in_place_children_borrow_from_outside_and_run_while_the_body_waits() {
    let mut results = Vec::new();
    let input = [1u32, 2, 3];
    let s = &Scope::new(Config::new());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let out: Result<u32, AppError> = s
        .run(async {
            // The body waits on something only an in-place child provides: no starvation.
            s.spawn_in_place(async {
                sleep(MS).await;
                let _ = tx.send(input.iter().sum::<u32>());
            });
            let sum = rx.await.map_err(|_| AppError::Boom(0))?;
            results.push(sum);
            Ok(sum)
        })
        .await;
    assert_eq!(out.unwrap(), 6);
    assert_eq!(results, vec![6]);
}

// ---------------------------------------------------------------------------------------------
// Law 2: down and up.

#[tokio::test(start_paused = true)]
async fn law2_cancelling_a_scope_cancels_every_descendant_with_a_cause() {
    let parent = Cx::root();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = &Scope::new(Config::new().parent(parent.clone()).grace(10 * MS));
    let p = parent.clone();
    let run = s.run(async {
        for _ in 0..3 {
            let seen = seen.clone();
            s.spawn(async move {
                let cause = scope_runtime::cancelled().await;
                seen.lock().unwrap().push(cause);
            });
        }
        let seen2 = seen.clone();
        s.spawn_in_place(async move {
            let cause = scope_runtime::cancelled().await;
            seen2.lock().unwrap().push(cause);
        });
        sleep(MS).await;
        p.cancel("client went away");
        std::future::pending::<Result<(), AppError>>().await
    });
    let err = run.await.unwrap_err();
    let Some(Interrupted::Cancelled(c)) = err.interrupted() else {
        panic!("{err:?}")
    };
    assert_eq!(c.cause().root(), &Cause::explicit("client went away"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4, "every child observed the cancellation");
    for cause in seen.iter() {
        assert_eq!(cause.root(), &Cause::explicit("client went away"));
        assert!(matches!(cause, Cause::ParentCancelled(_)));
    }
}

#[tokio::test(start_paused = true)]
async fn law2_errors_flow_up_unchanged() {
    let s = &Scope::new(Config::new());
    let r: Result<(), AppError> = s
        .run(async {
            s.spawn(async { Err::<(), _>(AppError::Boom(7)) });
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(AppError::Boom(7))));
}

// ---------------------------------------------------------------------------------------------
// Law 3: policies.

/// The errgroup classic: five children, one fails after 100 ms, the others would take 500 ms.
#[tokio::test(start_paused = true)]
async fn law3_fail_fast_returns_the_first_error_at_once_and_every_child_has_exited() {
    let live = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let s = &Scope::new(Config::new().name("errgroup"));
    let r: Result<(), AppError> = s
        .run(async {
            for i in 0..5u32 {
                let l = Live::new(&live);
                s.spawn_named(format!("worker-{i}"), async move {
                    let _l = l;
                    if i == 3 {
                        sleep(100 * MS).await;
                        return Err(AppError::Boom(i));
                    }
                    sleep(500 * MS).await;
                    Ok(())
                });
            }
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(AppError::Boom(3))), "got {r:?}");
    let took = start.elapsed();
    assert!(took >= 100 * MS && took < 110 * MS, "took {took:?}");
    assert_eq!(live.load(Ordering::SeqCst), 0, "all five have exited");
}

#[tokio::test(start_paused = true)]
async fn law3_fail_fast_cancels_siblings_naming_the_failed_task() {
    let s = &Scope::new(Config::new().grace(50 * MS));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let r: Result<(), AppError> = s
        .run(async {
            s.spawn_named("victim", async move {
                let cause = scope_runtime::cancelled().await;
                let _ = tx.send(cause);
            });
            s.spawn_named("culprit", async {
                sleep(MS).await;
                Err::<(), _>(AppError::Boom(1))
            });
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(AppError::Boom(1))));
    let cause = rx.await.unwrap();
    let Cause::SiblingFailed { task, message } = cause.root() else {
        panic!("{cause}")
    };
    assert_eq!(task.name(), Some("culprit"));
    assert_eq!(message, "boom 1");
}

#[tokio::test(start_paused = true)]
async fn law3_supervise_does_not_cancel_siblings_and_collects_every_failure() {
    let finished = Arc::new(AtomicUsize::new(0));
    let s = &Scope::new(Config::new());
    let r: Result<(), _> = s
        .run_all(async {
            for i in 0..4u32 {
                let finished = finished.clone();
                s.spawn_named(format!("t{i}"), async move {
                    sleep(ms(10 * u64::from(i))).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    if i % 2 == 0 {
                        Err(AppError::Boom(i))
                    } else {
                        Ok(())
                    }
                });
            }
            Ok::<(), AppError>(())
        })
        .await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        4,
        "no sibling was cancelled"
    );
    let failures = r.unwrap_err();
    let got: Vec<_> = failures
        .iter()
        .map(|f| (f.task().name().unwrap().to_owned(), f.error().to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("t0".into(), "boom 0".into()),
            ("t2".into(), "boom 2".into())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn law3_first_ok_returns_the_first_success_and_cancels_the_rest() {
    let live = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let race = &Race::new(Config::new());
    let r = race
        .run(async {
            for (i, ms_) in [(0u32, 30u64), (1, 10), (2, 20)] {
                let l = Live::new(&live);
                race.spawn(async move {
                    let _l = l;
                    sleep(ms(ms_)).await;
                    if i == 1 {
                        Err(AppError::Boom(i))
                    } else {
                        Ok(i)
                    }
                });
            }
        })
        .await;
    assert_eq!(
        r.unwrap(),
        2,
        "the first success wins, not the first to finish"
    );
    assert_eq!(start.elapsed(), 20 * MS);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn law3_first_ok_returns_every_error_when_all_fail() {
    let race = &Race::new(Config::new());
    let r: Result<u32, _> = race
        .run(async {
            for i in 0..3u32 {
                race.spawn(async move {
                    sleep(ms(u64::from(3 - i))).await;
                    Err::<u32, _>(AppError::Boom(i))
                });
            }
        })
        .await;
    let errors: Vec<String> = r
        .unwrap_err()
        .iter()
        .map(|f| f.error().to_string())
        .collect();
    assert_eq!(errors, vec!["boom 2", "boom 1", "boom 0"]);
}

// ---------------------------------------------------------------------------------------------
// Law 4: deadlines only shrink.

#[tokio::test(start_paused = true)]
async fn law4_a_child_deadline_is_the_earlier_of_its_own_and_its_parents() {
    let outer = &Scope::new(Config::new().name("outer").timeout(50 * MS));
    let start = Instant::now();
    let r: Result<(), AppError> = outer
        .run(async {
            let inner = &Scope::new(Config::new().name("inner").timeout(Duration::from_secs(10)));
            assert_eq!(inner.cx().deadline(), outer.cx().deadline());
            inner
                .run(async {
                    sleep(Duration::from_secs(5)).await;
                    Ok::<(), AppError>(())
                })
                .await
        })
        .await;
    assert_eq!(start.elapsed(), 50 * MS);
    let err = r.unwrap_err();
    let Some(Interrupted::DeadlineExceeded(d)) = err.interrupted() else {
        panic!("{err:?}")
    };
    assert_eq!(
        d.cause().root(),
        &Cause::DeadlineExceeded {
            scope: "outer".into()
        },
        "the cause names whose deadline it was"
    );
}

#[tokio::test(start_paused = true)]
async fn law4_a_deadline_is_distinguishable_from_an_explicit_cancel() {
    let s = &Scope::new(Config::new().name("slow").timeout(10 * MS));
    let r: Result<(), AppError> = s
        .run(async {
            sleep(Duration::from_secs(1)).await;
            Ok(())
        })
        .await;
    assert!(matches!(
        r.unwrap_err().interrupted(),
        Some(Interrupted::DeadlineExceeded(_))
    ));

    let s = &Scope::new(Config::new().name("cancelled"));
    let r: Result<(), AppError> = s
        .run(async {
            s.cancel("stop");
            sleep(Duration::from_secs(1)).await;
            Ok(())
        })
        .await;
    let err = r.unwrap_err();
    let Some(Interrupted::Cancelled(c)) = err.interrupted() else {
        panic!("{err:?}")
    };
    assert_eq!(c.cause(), &Cause::explicit("stop"));
}

#[tokio::test(start_paused = true)]
async fn law4_a_timeout_is_resolved_when_the_scope_is_entered() {
    let config = Config::new().timeout(100 * MS);
    sleep(Duration::from_secs(1)).await; // built long before it is entered
    let s = &Scope::new(config);
    let start = Instant::now();
    let r: Result<(), AppError> = s
        .run(async {
            sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
    assert!(r.is_err());
    assert_eq!(start.elapsed(), 100 * MS);
}

// ---------------------------------------------------------------------------------------------
// Law 5: panics.

#[test]
fn law5_a_child_panic_cancels_siblings_and_reaches_the_parent_with_name_and_message() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (sibling, dropped) = flag();
        let s = &Scope::new(Config::new());
        let r: Result<(), AppError> = s
            .run(async {
                s.spawn(async move {
                    let _f = sibling;
                    std::future::pending::<()>().await;
                });
                s.spawn_named("bad", async {
                    tokio::task::yield_now().await;
                    let fail = true;
                    assert!(!fail, "oh no");
                });
                Ok(())
            })
            .await;
        let err = r.unwrap_err();
        let Some(Interrupted::Panicked(p)) = err.interrupted() else {
            panic!("{err:?}")
        };
        assert_eq!(p.task().name(), Some("bad"));
        assert_eq!(p.message(), "oh no");
        assert!(
            dropped.load(Ordering::SeqCst),
            "the sibling was cancelled and dropped"
        );
        let payload = p
            .take_payload()
            .expect("the scope's copy carries the payload");
        assert_eq!(*payload.downcast::<&str>().unwrap(), "oh no");
    });
    // The workers survived: the runtime still runs tasks.
    assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn law5_a_body_panic_resumes_after_the_children_drained() {
    let (child, dropped) = flag();
    let caught = tokio::spawn(async move {
        let s = &Scope::new(Config::new());
        let _: Result<(), AppError> = s
            .run(async {
                s.spawn(async move {
                    let _f = child;
                    std::future::pending::<()>().await;
                });
                sleep(MS).await;
                let fail = true;
                assert!(!fail, "body broke");
                Ok(())
            })
            .await;
    })
    .await
    .unwrap_err();
    assert!(caught.is_panic());
    let payload = caught.into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "body broke");
    assert!(dropped.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// Law 6: closed means closed.

#[tokio::test(start_paused = true)]
async fn law6_after_the_body_returns_a_spawn_is_refused_or_starts_cancelled() {
    let s = &Scope::new(Config::new());
    let r: Result<(), AppError> = s.run(async { Ok(()) }).await;
    r.unwrap();
    assert!(s.is_closed());
    assert_eq!(
        s.try_spawn(async { Ok::<(), AppError>(()) }).unwrap_err(),
        SpawnError::Closed
    );
    let (f, dropped) = flag();
    let handle = s.spawn(async move {
        let _f = f;
        Ok::<u8, AppError>(1)
    });
    assert!(
        dropped.load(Ordering::SeqCst),
        "the refused future was dropped, not run"
    );
    assert!(matches!(handle.await, Err(Interrupted::NotStarted(_))));
}

#[tokio::test(start_paused = true)]
async fn law6_after_cancel_a_spawn_is_refused() {
    let s = &Scope::new(Config::new().grace(100 * MS));
    let r: Result<(), AppError> = s
        .run(async {
            s.cancel("enough");
            assert_eq!(
                s.try_spawn_in_place(async { Ok::<(), AppError>(()) })
                    .unwrap_err(),
                SpawnError::Closed
            );
            let h = s.spawn(async { Ok::<(), AppError>(()) });
            assert!(matches!(h.await, Err(Interrupted::NotStarted(_))));
            // A body that goes on after the cancel, without looking, is dropped.
            sleep(Duration::from_secs(1)).await;
            Ok(())
        })
        .await;
    let Err(AppError::Interrupted(Interrupted::Cancelled(c))) = r else {
        panic!("{r:?}")
    };
    assert_eq!(c.cause(), &Cause::explicit("enough"));
}

// ---------------------------------------------------------------------------------------------
// Law 7: detaching is explicit and owned.

static REQUEST_ID: Slot<String> = Slot::new("REQUEST_ID");

#[tokio::test(start_paused = true)]
async fn law7_detached_work_keeps_slots_not_cancellation_and_is_owned_by_a_service() {
    let audit = Service::new(ServiceConfig::new("audit").task_timeout(Duration::from_secs(1)));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let s = &Scope::new(Config::new().bind(&REQUEST_ID, "r-1".to_owned()));
    let a = audit.clone();
    let r: Result<(), AppError> = s
        .run(async move {
            let _detached = a
                .spawn(async move {
                    sleep(50 * MS).await; // outlives the request
                    let cx = Cx::current();
                    let _ = tx.send((REQUEST_ID.get(), cx.is_cancelled()));
                })
                .unwrap();
            Ok(())
        })
        .await;
    r.unwrap();
    s.cancel("request over");
    assert_eq!(audit.active(), 1);
    let (id, cancelled) = rx.await.unwrap();
    assert_eq!(id.as_deref(), Some("r-1"));
    assert!(
        !cancelled,
        "the request's cancellation did not reach detached work"
    );
    audit.drain(Duration::from_secs(1)).await.unwrap();
    assert_eq!(audit.spawn(async {}).err(), Some(SpawnError::Closed));
}

#[tokio::test(start_paused = true)]
async fn law7_detached_work_has_its_own_time_bound_and_drain_reports_an_overrun() {
    let svc = Service::new(
        ServiceConfig::new("slow")
            .task_timeout(100 * MS)
            .grace(20 * MS),
    );
    let (f, dropped) = flag();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let _detached = svc
        .spawn(async move {
            let _f = f;
            // The bound is the task's deadline: it sees it, with the service named as its origin.
            let deadline = Cx::current().deadline();
            let cause = scope_runtime::cancelled().await;
            let _ = tx.send((deadline, cause));
            sleep(Duration::from_secs(60)).await; // ignores it: dropped a grace later
        })
        .unwrap();
    let start = Instant::now();
    let err = svc.drain(10 * MS).await.unwrap_err();
    assert_eq!(
        err,
        scope_runtime::DrainError::Overrun {
            still_running: 1,
            budget: 10 * MS
        }
    );
    let (deadline, cause) = rx.await.unwrap();
    assert_eq!(deadline, Some(start + 100 * MS));
    assert_eq!(
        cause.root(),
        &Cause::DeadlineExceeded {
            scope: "slow".into()
        }
    );
    assert!(
        !dropped.load(Ordering::SeqCst),
        "signalled first, not dropped"
    );
    svc.drain(Duration::from_secs(1)).await.unwrap();
    assert_eq!(start.elapsed(), 120 * MS, "dropped when the grace ran out");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the task's own bound ended it"
    );
    assert_eq!(svc.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn law7_service_stop_cancels_waits_the_grace_then_aborts() {
    let svc = Service::new(ServiceConfig::new("workers").grace(20 * MS));
    let (f, dropped) = flag();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let _polite = svc
        .spawn_named("polite", async move {
            let cause = scope_runtime::cancelled().await;
            let _ = tx.send(cause);
        })
        .unwrap();
    let _stubborn = svc
        .spawn_named("stubborn", async move {
            let _f = f;
            std::future::pending::<()>().await; // ignores cancellation
        })
        .unwrap();
    tokio::task::yield_now().await; // both have started
    let start = Instant::now();
    let report = svc.stop().await;
    assert_eq!(start.elapsed(), 20 * MS);
    // The stop reports what it cut short, by name.
    let names = |tasks: &[scope_runtime::TaskInfo]| -> Vec<String> {
        tasks.iter().map(ToString::to_string).collect()
    };
    assert_eq!(names(report.stopped()), ["polite"]);
    assert_eq!(names(report.aborted()), ["stubborn"]);
    assert!(matches!(rx.await.unwrap().root(), Cause::Shutdown { .. }));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(svc.active(), 0);
}

// ---------------------------------------------------------------------------------------------
// Law 8: drop cancels.

#[tokio::test(start_paused = true)]
async fn law8_dropping_the_scope_future_cancels_and_drops_every_child() {
    let (spawned, spawned_dropped) = flag();
    let (in_place, in_place_dropped) = flag();
    let check = LeakCheck::new();
    {
        let s = &Scope::new(Config::new());
        let run = s.run(async {
            s.spawn(async move {
                let _f = spawned;
                std::future::pending::<()>().await;
            });
            s.spawn_in_place(async move {
                let _f = in_place;
                std::future::pending::<()>().await;
            });
            std::future::pending::<Result<(), AppError>>().await
        });
        let r = tokio::time::timeout(10 * MS, run).await;
        assert!(r.is_err(), "timed out, dropping the scope's future");
    }
    assert!(in_place_dropped.load(Ordering::SeqCst));
    check.assert_clean().await;
    assert!(spawned_dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn law8_forgetting_the_scope_future_is_safe_and_the_scope_still_aborts_spawned_children() {
    let (spawned, spawned_dropped) = flag();
    let check = LeakCheck::new();
    {
        let s = &Scope::new(Config::new());
        let mut run = Box::pin(s.run(async {
            s.spawn(async move {
                let _f = spawned;
                std::future::pending::<()>().await;
            });
            std::future::pending::<Result<(), AppError>>().await
        }));
        let _ = futures_poll_once(run.as_mut()).await;
        std::mem::forget(run);
    }
    check.assert_clean().await;
    assert!(spawned_dropped.load(Ordering::SeqCst));
}

async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
    let mut f = f;
    std::future::poll_fn(move |cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Law 9: cooperative first, forced after a grace.

#[tokio::test(start_paused = true)]
async fn law9_children_get_the_grace_to_clean_up_then_the_rest_are_aborted() {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let (stubborn, stubborn_dropped) = flag();
    let s = &Scope::new(Config::new().grace(100 * MS));
    let start = Instant::now();
    let c = cleaned.clone();
    let r: Result<(), AppError> = s
        .run(async move {
            s.spawn(async move {
                scope_runtime::cancelled().await;
                sleep(30 * MS).await; // clean-up within the grace
                c.fetch_add(1, Ordering::SeqCst);
            });
            s.spawn(async move {
                let _f = stubborn;
                std::future::pending::<()>().await;
            });
            sleep(10 * MS).await;
            s.cancel("shutting down");
            // The body handled the cancel: its value stands; the children still get the
            // grace, then the stubborn one is aborted.
            Ok(())
        })
        .await;
    r.unwrap();
    assert_eq!(
        cleaned.load(Ordering::SeqCst),
        1,
        "the cooperative child finished its clean-up"
    );
    assert!(
        stubborn_dropped.load(Ordering::SeqCst),
        "the stubborn one was aborted"
    );
    assert_eq!(
        start.elapsed(),
        110 * MS,
        "aborted exactly when the grace ran out"
    );
}

#[tokio::test(start_paused = true)]
async fn law9_the_default_grace_is_zero_so_cancellation_aborts_at_once() {
    assert_eq!(scope_runtime::DEFAULT_GRACE, Duration::ZERO);
    let s = &Scope::new(Config::new());
    let start = Instant::now();
    let r: Result<(), AppError> = s
        .run(async {
            s.spawn(async { sleep(Duration::from_secs(10)).await });
            sleep(5 * MS).await;
            s.cancel("now");
            sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .await;
    assert!(r.is_err());
    assert_eq!(start.elapsed(), 5 * MS);
}

// ---------------------------------------------------------------------------------------------
// Law 10: no leaks.

#[tokio::test(start_paused = true)]
async fn law10_after_a_scope_resolves_no_task_it_started_is_alive() {
    let check = LeakCheck::new();
    for round in 0..20u32 {
        let s = &Scope::new(Config::new().limit(3));
        let _: Result<(), AppError> = s
            .run(async {
                for i in 0..10u32 {
                    s.spawn(async move {
                        sleep(ms(u64::from(i % 4))).await;
                        if i == round % 10 {
                            Err(AppError::Boom(i))
                        } else {
                            Ok(())
                        }
                    });
                }
                Ok(())
            })
            .await;
        check.assert_clean().await;
    }
}

#[tokio::test(start_paused = true)]
async fn law10_the_leak_check_catches_an_orphan_task() {
    let check = LeakCheck::new();
    let orphan = tokio::spawn(std::future::pending::<()>());
    assert_eq!(check.check().await.unwrap_err().alive, 1);
    orphan.abort();
    check.assert_clean().await;
}
