//! Memory a long-lived scope keeps: children that have ended leave nothing behind, however
//! they ended. A binary of its own, since it counts every allocation of the process.
#![cfg(not(loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use scope_runtime::{Config, Interrupted, Scope};

/// Counts the bytes allocated and not freed yet.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

#[allow(clippy::cast_possible_wrap)] // Reason: a `Layout`'s size never exceeds `isize::MAX`.
                                     // SAFETY: every call is forwarded to the system allocator unchanged; only a counter is
                                     // added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn live() -> isize {
    LIVE_BYTES.load(Ordering::SeqCst)
}

/// Runs `test` alone (the counter is the whole process's), on a runtime of its own.
fn alone<F: std::future::Future<Output = ()>>(test: F) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

#[test]
fn many_short_background_children_leave_nothing_behind() {
    alone(async {
        let s = &Scope::<Interrupted>::new(Config::new());
        s.run(async {
            let child = || async {
                let pad = [0u8; 1024];
                tokio::task::yield_now().await;
                std::hint::black_box(&pad);
            };
            for _ in 0..1_000 {
                s.spawn_background(child()).await?;
                s.spawn_in_place_background(child()).await?;
            }
            let before = live();
            for _ in 0..20_000 {
                s.spawn_background(child()).await?;
                s.spawn_in_place_background(child()).await?;
            }
            let grown = live() - before;
            assert!(
                grown < 1 << 20,
                "{grown} bytes kept for 40,000 finished background children"
            );
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn aborted_pending_in_place_children_leave_nothing_behind() {
    alone(async {
        let s = &Scope::<Interrupted>::new(Config::new());
        s.run(async {
            let once = || async move {
                let c = s.spawn_in_place(std::future::pending::<()>());
                tokio::task::yield_now().await; // its first poll: pending, with the shared waker
                c.abort();
                let _ = c.await;
            };
            for _ in 0..1_000 {
                once().await;
            }
            let before = live();
            for _ in 0..100_000 {
                once().await;
            }
            let grown = live() - before;
            assert!(
                grown < 512 * 1024,
                "{grown} bytes kept after 100,000 aborted in-place children"
            );
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn children_aborted_before_they_start_leave_nothing_behind_when_nobody_reads_them() {
    alone(async {
        let s = &Scope::<Interrupted>::new(Config::new());
        s.run(async {
            // Dropped at once, or after the task was dropped (the record made, not read).
            let abort_one = |i: u32| async move {
                let child = s.spawn(std::future::pending::<()>());
                child.abort();
                if i % 2 == 0 {
                    tokio::task::yield_now().await;
                }
                drop(child);
                tokio::task::yield_now().await;
            };
            for i in 0..1_000 {
                abort_one(i).await;
            }
            let before = live();
            for i in 0..50_000 {
                abort_one(i).await;
            }
            let grown = live() - before;
            assert!(
                grown < 1 << 20,
                "{grown} bytes kept for 50,000 aborted children nobody read"
            );
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn children_cancelled_alone_leave_nothing_behind_once_they_ended() {
    alone(async {
        // A long grace: each child stopped through its handle is to be aborted an hour later
        // if it is still running then; one that ended at once keeps nothing for that hour.
        let s =
            &Scope::<Interrupted>::new(Config::new().grace(std::time::Duration::from_secs(3600)));
        s.run(async {
            let once = || async move {
                let c = s.spawn(async {
                    let pad = [0u8; 1024];
                    scope_runtime::cancelled().await; // answers the cancel at once
                    std::hint::black_box(&pad);
                    Ok::<_, Interrupted>(())
                });
                tokio::task::yield_now().await;
                c.cancel("enough");
                let _ = c.await;
            };
            for _ in 0..500 {
                once().await;
            }
            let before = live();
            for _ in 0..5_000 {
                once().await;
            }
            let grown = live() - before;
            assert!(
                grown < 1 << 20,
                "{grown} bytes kept for 5,000 children that ended"
            );
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn blocking_and_queued_children_cancelled_alone_leave_nothing_behind_once_they_ended() {
    // Their handles stop them through a ticket (a blocking child always, a spawned child that
    // waited for a slot): once ended, nothing is kept for the rest of the grace either.
    alone(async {
        let s = &Scope::<Interrupted>::new(
            Config::new()
                .grace(std::time::Duration::from_secs(3600))
                .limit(1),
        );
        s.run(async {
            let once = |blocking: bool| async move {
                let pad = [0u8; 1024];
                let c = if blocking {
                    s.spawn_blocking(move |cx| {
                        let (tx, rx) = std::sync::mpsc::channel::<()>();
                        let _stop = cx.on_cancel(move |_| {
                            let _ = tx.send(());
                        });
                        let _ = rx.recv(); // answers the cancel at once
                        std::hint::black_box(&pad);
                        Ok::<_, Interrupted>(())
                    })
                } else {
                    // Queued behind the one slot's holder, then started when it ends.
                    let holder = s.spawn(async { Ok::<_, Interrupted>(()) });
                    let c = s.spawn(async move {
                        scope_runtime::cancelled().await;
                        std::hint::black_box(&pad);
                        Ok::<_, Interrupted>(())
                    });
                    let _ = holder.await;
                    tokio::task::yield_now().await;
                    c
                };
                c.cancel("enough");
                let _ = c.await;
            };
            for blocking in [true, false] {
                for _ in 0..200 {
                    once(blocking).await;
                }
                let before = live();
                for _ in 0..2_000 {
                    once(blocking).await;
                }
                let grown = live() - before;
                assert!(
                    grown < 512 * 1024,
                    "blocking: {blocking}: {grown} bytes kept for 2,000 children that ended"
                );
            }
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn registering_and_stopping_callbacks_on_a_long_lived_context_keeps_nothing() {
    // Go's per-operation habit: `stop := AfterFunc(conn, f); ...; stop()`, on a connection's
    // context with a deadline of its own.
    alone(async {
        let conn =
            scope_runtime::Cx::root().child_with_timeout(std::time::Duration::from_secs(3600));
        for _ in 0..1_000 {
            assert!(conn.on_cancel(|_| {}).stop());
        }
        let before = live();
        for _ in 0..20_000 {
            assert!(conn.on_cancel(|_| {}).stop());
        }
        let grown = live() - before;
        assert!(
            grown < 64 * 1024,
            "{grown} bytes kept for 20,000 stopped callbacks"
        );
    });
}

#[test]
fn callbacks_on_contexts_that_inherit_a_deadline_keep_nothing_once_stopped() {
    // The same habit with a context per operation, under a task's context whose deadline no
    // scope's timer fires (a service task's, say). Before, each operation's context was kept
    // by an alarm of its own until the deadline, stopped callback or not.
    alone(async {
        let task =
            scope_runtime::Cx::root().child_with_timeout(std::time::Duration::from_secs(3600));
        for _ in 0..1_000 {
            assert!(task.child().on_cancel(|_| {}).stop());
        }
        let before = live();
        for _ in 0..20_000 {
            let op = task.child();
            assert!(op.on_cancel(|_| {}).stop());
        }
        let grown = live() - before;
        assert!(
            grown < 64 * 1024,
            "{grown} bytes kept for 20,000 dropped contexts with a stopped callback"
        );
    });
}

#[test]
fn blocking_jobs_that_ended_are_not_kept_once_the_scope_spawns_only_tasks() {
    alone(async {
        let s = &Scope::<Interrupted>::new(Config::new());
        s.run(async {
            let before = live();
            // 128 blocking jobs alive at once, each closure 16 KiB (held inline by its job).
            let gate = std::sync::Arc::new(std::sync::RwLock::new(()));
            let shut = gate.write().unwrap();
            let jobs: Vec<_> = (0..128)
                .map(|_| {
                    let gate = std::sync::Arc::clone(&gate);
                    let pad = [0u8; 16 * 1024];
                    s.spawn_blocking(move |_| {
                        drop(gate.read());
                        std::hint::black_box(&pad);
                    })
                })
                .collect();
            drop(shut);
            for job in jobs {
                job.await?;
            }
            // Then plain tasks only, far more than the list's pruning threshold.
            for _ in 0..1_000 {
                s.spawn(async {}).await?;
            }
            let kept = live() - before;
            assert!(
                kept < 1 << 19,
                "{kept} bytes kept for 128 blocking jobs that ended"
            );
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_supervised_scope_does_not_keep_every_failure_of_its_life() {
    // A long-lived supervised scope (an accept loop whose connections must not cancel one
    // another) kept each failure until it ended: about 22 MB for these 20,000.
    alone(async {
        type E = Box<dyn std::error::Error + Send + Sync>;
        let s = &Scope::<E>::new(Config::new());
        let fail = || async { Err::<(), E>("x".repeat(1024).into()) };
        let out = s
            .run_all(async {
                for _ in 0..1_000 {
                    let _ = s.spawn(fail()).await;
                }
                let before = live();
                for _ in 0..20_000 {
                    let _ = s.spawn(fail()).await;
                }
                let grown = live() - before;
                assert!(
                    grown < 1 << 20,
                    "{grown} bytes kept for 20,000 failed children"
                );
                Ok::<_, E>(())
            })
            .await;
        let failures = out.unwrap_err();
        // The first ones are kept, the rest counted.
        assert_eq!(failures.len() + failures.not_kept(), 21_000);
        assert!(failures.len() <= 256, "{}", failures.len());
        assert!(
            failures.to_string().starts_with("21000 tasks failed ("),
            "{failures}"
        );
    });
}

#[test]
fn a_supervised_scope_past_its_bound_on_failures_still_keeps_a_panic() {
    // Past the first 256 failures a panic was counted and dropped like an error: it did not
    // cancel the siblings, and the scope's result did not show it.
    alone(async {
        type E = Box<dyn std::error::Error + Send + Sync>;
        let s = &Scope::<E>::new(Config::new());
        let out = s
            .run_all(async {
                for _ in 0..300 {
                    let _ = s.spawn(async { Err::<(), E>("x".into()) }).await;
                }
                let sibling = s.spawn(std::future::pending::<Result<(), E>>());
                drop(s.spawn_named("bug", async { panic!("a bug") }));
                let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), sibling)
                    .await
                    .expect("the panic cancels the siblings");
                assert!(stopped.is_err());
                Ok::<_, E>(())
            })
            .await;
        let failures = out.unwrap_err();
        assert!(
            failures.iter().any(|f| f.task().name() == Some("bug")),
            "the panic is kept: {failures}"
        );
        assert_eq!(failures.not_kept(), 300 - 256);
    });
}

#[cfg(feature = "tokio-util")]
#[test]
fn tokens_asked_of_a_long_lived_context_do_not_pile_up() {
    // A scope's body (or a root) asked for a token per request: one link for the context,
    // not one per request until its cancel.
    alone(async {
        let cx = scope_runtime::Cx::root();
        let first = cx.to_token();
        for _ in 0..1_000 {
            drop(cx.to_token());
        }
        let before = live();
        for _ in 0..20_000 {
            drop(cx.to_token());
        }
        let grown = live().saturating_sub(before);
        assert!(
            grown < 4 * 1024,
            "{grown} bytes kept for 20,000 dropped tokens"
        );
        cx.cancel("done");
        assert!(first.is_cancelled());
    });
}

/// Starts `n` units of work with `start` (each waiting for `go`), lets them all end, and
/// returns the bytes still held once `ended` reads true, over what was held before a first,
/// smaller burst of the same shape (which warms up what the runtime itself keeps).
async fn kept_after_a_burst<S, E>(n: usize, start: S, ended: E) -> isize
where
    S: Fn(tokio::sync::watch::Receiver<bool>),
    E: Fn() -> bool,
{
    let burst = |n: usize| {
        let (go, wait) = tokio::sync::watch::channel(false);
        for _ in 0..n {
            start(wait.clone());
        }
        go
    };
    let settle = || async {
        for _ in 0..100_000 {
            if ended() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the burst did not end");
    };
    let go = burst(64);
    go.send(true).unwrap();
    settle().await;
    let before = live();
    let go = burst(n);
    tokio::task::yield_now().await;
    go.send(true).unwrap();
    settle().await;
    live() - before
}

/// The bytes a long-lived scope made with `config` keeps after a burst of 20,000 children
/// (each waiting for the burst's end) has ended.
fn scope_kept_after_a_burst(config: Config, background: bool) -> isize {
    let mut kept = 0;
    alone(async {
        let s = &Scope::<Interrupted>::new(config);
        s.run(async {
            let live_children = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            kept = kept_after_a_burst(
                20_000,
                |mut go| {
                    let live_children = live_children.clone();
                    live_children.fetch_add(1, Ordering::SeqCst);
                    let child = async move {
                        let _ = go.wait_for(|go| *go).await;
                        live_children.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Interrupted>(())
                    };
                    // Its handle dropped: the child runs on (the scope joins it).
                    if background {
                        drop(s.spawn_background(child));
                    } else {
                        drop(s.spawn(child));
                    }
                },
                || live_children.load(Ordering::SeqCst) == 0,
            )
            .await;
            Ok::<_, Interrupted>(())
        })
        .await
        .unwrap();
    });
    kept
}

#[test]
fn a_long_lived_scope_gives_back_what_a_burst_of_children_took_once_they_ended() {
    // What is left is what tokio keeps (its run queue's peak); the scope keeps no table sized
    // by the burst.
    let kept = scope_kept_after_a_burst(Config::new(), false);
    assert!(
        kept < 1 << 19,
        "{kept} bytes kept after 20,000 children ended"
    );
}

#[test]
fn a_long_lived_scope_gives_back_what_a_burst_of_background_children_took() {
    let kept = scope_kept_after_a_burst(Config::new(), true);
    assert!(
        kept < 1 << 19,
        "{kept} bytes kept after 20,000 background children ended"
    );
}

#[test]
fn a_long_lived_limited_scope_gives_back_what_a_burst_of_queued_children_took() {
    // Past the limit, the children wait in the scope's queue.
    let kept = scope_kept_after_a_burst(Config::new().limit(4), false);
    assert!(
        kept < 1 << 19,
        "{kept} bytes kept after 20,000 queued children ended"
    );
}

#[test]
fn a_long_lived_service_gives_back_what_a_burst_of_tasks_took_once_they_ended() {
    alone(async {
        let svc = scope_runtime::Service::new(scope_runtime::ServiceConfig::new("burst"));
        let kept = kept_after_a_burst(
            20_000,
            |mut go| {
                svc.spawn(async move {
                    let _ = go.wait_for(|go| *go).await;
                })
                .unwrap()
                .detach();
            },
            || svc.active() == 0,
        )
        .await;
        assert!(
            kept < 1 << 19,
            "{kept} bytes kept after 20,000 service tasks ended"
        );
        svc.drain(std::time::Duration::from_secs(1)).await.unwrap();
    });
}
