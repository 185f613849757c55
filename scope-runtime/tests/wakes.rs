//! A scope wakes the task that runs it only when there is something to do: once it has
//! returned (or its future was dropped), nothing it did wakes that task again.
//!
//! Each test runs a scope inside a task, then parks the task on a future that never wakes it
//! and counts that future's polls: one is the poll that parked it; any more is a wake-up the
//! ended scope caused (the task polled once more for nothing).

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use common::AppError;
use scope_runtime::{Config, Interrupted, Scope};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A future that counts its polls and never completes or wakes anyone.
fn parked(polls: Arc<AtomicUsize>) -> impl Future<Output = ()> {
    std::future::poll_fn(move |_| {
        polls.fetch_add(1, Ordering::SeqCst);
        Poll::Pending
    })
}

/// Lets the other tasks, the timers and the reapers run to their end.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(ms(60)).await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Runs `work` in a task, then parks the task; returns how often the parked future was polled
/// (1 if nothing woke the task after `work`).
async fn polls_after<F>(work: F) -> usize
where
    F: Future<Output = ()> + Send + 'static,
{
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&polls);
    let task = tokio::spawn(async move {
        work.await;
        parked(counted).await;
    });
    settle().await;
    assert!(!task.is_finished(), "the task is parked, not ended");
    task.abort();
    polls.load(Ordering::SeqCst)
}

/// Runs `work` in a task and checks that nothing woke the task after it.
async fn assert_not_woken_after<F>(work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    assert_eq!(
        polls_after(work).await,
        1,
        "the task was woken after the scope ended"
    );
}

/// A child that waits for its scope's cancellation.
async fn waits_for_cancel() {
    scope_runtime::cancelled().await;
}

#[tokio::test]
async fn an_empty_scope_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new());
        let r: Result<(), Interrupted> = s.run(async { Ok(()) }).await;
        r.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_scope_whose_children_ended_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new());
        let r: Result<(), Interrupted> = s
            .run(async {
                s.spawn(async {
                    tokio::time::sleep(ms(5)).await;
                    Ok::<_, Interrupted>(())
                });
                drop(s.spawn_in_place(async {
                    tokio::task::yield_now().await;
                    Ok::<_, Interrupted>(())
                }));
                Ok(())
            })
            .await;
        r.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_scope_failed_by_a_spawned_child_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new());
        let r: Result<(), AppError> = s
            .run(async {
                s.spawn(waits_for_cancel());
                s.spawn(async { Err::<(), _>(AppError::Boom(1)) });
                Ok(())
            })
            .await;
        assert!(r.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_scope_whose_body_failed_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new());
        let r: Result<(), AppError> = s
            .run(async {
                s.spawn(waits_for_cancel());
                tokio::task::yield_now().await;
                Err(AppError::Boom(2))
            })
            .await;
        assert!(r.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_scope_failed_by_an_in_place_child_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new());
        let r: Result<(), AppError> = s
            .run(async {
                drop(s.spawn_in_place(async {
                    tokio::task::yield_now().await;
                    Err::<(), _>(AppError::Boom(3))
                }));
                scope_runtime::cancelled().await;
                Ok(())
            })
            .await;
        assert!(r.is_err());
    })
    .await;
}

#[tokio::test]
async fn a_scope_its_body_cancelled_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new());
        let r: Result<(), Interrupted> = s
            .run(async {
                s.spawn(waits_for_cancel());
                tokio::task::yield_now().await;
                s.cancel("enough");
                Ok(())
            })
            .await;
        r.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_scope_cancelled_from_outside_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new());
        let cx = s.cx().clone();
        let r: Result<(), Interrupted> = s
            .run(async {
                let cx = cx.clone();
                drop(tokio::spawn(async move {
                    tokio::time::sleep(ms(5)).await;
                    cx.cancel("from outside");
                }));
                scope_runtime::cancelled().await;
                Ok(())
            })
            .await;
        r.unwrap();
        // A clone of the ended scope's context: cancelling it again reaches nobody.
        assert!(!cx.cancel("again"));
    })
    .await;
}

#[tokio::test]
async fn a_scope_whose_deadline_fired_does_not_wake_its_task_when_it_ends() {
    assert_not_woken_after(async {
        let s = &Scope::new(Config::new().timeout(ms(5)));
        let r: Result<(), Interrupted> = s
            .run(async {
                tokio::time::sleep(ms(1_000)).await;
                Ok(())
            })
            .await;
        assert!(r.is_err());
    })
    .await;
}

#[tokio::test]
async fn nested_scopes_do_not_wake_their_task_when_they_end() {
    assert_not_woken_after(async {
        let outer = &Scope::new(Config::new());
        let r: Result<(), Interrupted> = outer
            .run(async {
                let inner = &Scope::new(Config::new());
                inner
                    .run(async {
                        drop(inner.spawn_in_place(async { Ok::<_, Interrupted>(()) }));
                        Ok(())
                    })
                    .await
            })
            .await;
        r.unwrap();
    })
    .await;
}

/// A scope whose body never returns, with three spawned children, dropped after 5 ms.
async fn drop_a_running_scope(config: Config) {
    drop_a_running_scope_of(config, false).await;
}

/// As [`drop_a_running_scope`], its children spawned in place (`in_place`) or as tasks.
async fn drop_a_running_scope_of(config: Config, in_place: bool) {
    let s = &Scope::new(config);
    let run = s.run(async {
        for _ in 0..3 {
            let child = async {
                scope_runtime::cancelled().await;
                tokio::time::sleep(ms(2)).await;
            };
            if in_place {
                drop(s.spawn_in_place(child));
            } else {
                drop(s.spawn(child));
            }
        }
        std::future::pending::<Result<(), Interrupted>>().await
    });
    tokio::select! {
        _ = run => unreachable!("the body never returns"),
        () = tokio::time::sleep(ms(5)) => {}
    }
}

#[tokio::test]
async fn a_dropped_scope_does_not_wake_the_task_that_dropped_it() {
    // Without a grace its children are aborted at once; with one, a task of the runtime
    // keeps it, and they end within it.
    let no_grace = polls_after(drop_a_running_scope(Config::new())).await;
    let grace = polls_after(drop_a_running_scope(Config::new().grace(ms(20)))).await;
    assert_eq!((no_grace, grace), (1, 1));
}

#[tokio::test]
async fn a_dropped_scope_with_in_place_children_does_not_wake_the_task_that_dropped_it() {
    // The drop cancels the scope, which wakes the in-place children waiting for it: their
    // wakers lead to the run's, which is the task that dropped it.
    let polls = polls_after(drop_a_running_scope_of(Config::new(), true)).await;
    assert_eq!(polls, 1, "the task was woken after it dropped the scope");
}

#[tokio::test]
async fn a_body_parked_after_its_children_ended_is_not_woken_again() {
    for case in [
        "awaited spawned",
        "awaited in place",
        "not awaited",
        "eight awaited",
    ] {
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&polls);
        let task = tokio::spawn(async move {
            let s = &Scope::new(Config::new());
            let _: Result<(), Interrupted> = s
                .run(async {
                    match case {
                        "awaited spawned" => {
                            s.spawn(async { Ok::<_, Interrupted>(1) }).await?;
                        }
                        "awaited in place" => {
                            s.spawn_in_place(async {
                                tokio::task::yield_now().await;
                                Ok::<_, Interrupted>(1)
                            })
                            .await?;
                        }
                        "not awaited" => {
                            s.spawn(async { Ok::<_, Interrupted>(1) });
                            tokio::time::sleep(ms(5)).await;
                        }
                        _ => {
                            let children: Vec<_> = (0..8)
                                .map(|i| s.spawn(async move { Ok::<_, Interrupted>(i) }))
                                .collect();
                            for child in children {
                                child.await?;
                            }
                        }
                    }
                    parked(counted).await;
                    Ok(())
                })
                .await;
        });
        settle().await;
        task.abort();
        assert_eq!(polls.load(Ordering::SeqCst), 1, "{case}");
    }
}

#[tokio::test]
async fn a_dropped_for_each_does_not_wake_the_task_that_dropped_it() {
    async fn drop_a_waiting_for_each(in_place: bool) {
        let item = |_: u32| async {
            scope_runtime::cancelled().await;
            tokio::time::sleep(ms(2)).await;
            Ok::<_, Interrupted>(())
        };
        // Every item has started: the map's body waits for them when the select drops it.
        if in_place {
            tokio::select! {
                _ = scope_runtime::for_each(0..3u32, item).in_place().run() => unreachable!(),
                () = tokio::time::sleep(ms(5)) => {}
            }
        } else {
            tokio::select! {
                _ = scope_runtime::for_each(0..3u32, item).run() => unreachable!(),
                () = tokio::time::sleep(ms(5)) => {}
            }
        }
    }
    let spawned = polls_after(drop_a_waiting_for_each(false)).await;
    let in_place = polls_after(drop_a_waiting_for_each(true)).await;
    assert_eq!((spawned, in_place), (1, 1));
}

#[tokio::test]
async fn a_body_that_yields_as_its_first_in_place_child_arrives_lets_the_runtime_run_others() {
    // The in-place set made with the first in-place child gives the body a waker of its own,
    // and the body was polled again with it at once, in the same poll of the task: a
    // `yield_now` there returned at its second poll without the runtime having run anything,
    // so a task spawned just before had not started.
    for in_place_ends_at_once in [false, true] {
        let started = Arc::new(AtomicUsize::new(0));
        let s = &Scope::new(Config::new());
        let out = s
            .run(async {
                let seen = Arc::clone(&started);
                let other = s.spawn(async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                });
                if in_place_ends_at_once {
                    s.spawn_in_place(async {});
                } else {
                    s.spawn_in_place(std::future::pending::<()>());
                }
                tokio::task::yield_now().await;
                let after_yield = started.load(Ordering::SeqCst);
                s.cancel("done");
                drop(other);
                Ok::<_, Interrupted>(after_yield)
            })
            .await;
        assert_eq!(
            out.unwrap(),
            1,
            "the spawned task ran during the yield (in-place child ends at once: {in_place_ends_at_once})"
        );
    }
}
