//! The `tracing` feature under a subscriber that keeps only `INFO` and above, the usual setup of
//! a service: the scope and task spans (`DEBUG`) are filtered out, and the events that matter
//! still arrive, each naming its task or scope: a child's failure (`WARN`) and panic
//! (`ERROR`), a scope's cancellation (`INFO`), failure and panic, and a service task's failure
//! and panic. Run with `cargo test --all-features --test observe_tracing_filtered`.
#![cfg(feature = "tracing")]

use std::sync::OnceLock;
use std::time::Duration;

use info_only::{EventRec, InfoOnly};
use scope::{Config, Interrupted, Scope, Service, ServiceConfig};
use tracing::Level;

#[path = "support/info_only.rs"]
mod info_only;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn subscriber() -> &'static InfoOnly {
    static SUBSCRIBER: OnceLock<InfoOnly> = OnceLock::new();
    SUBSCRIBER.get_or_init(|| {
        let s = InfoOnly::default();
        tracing::subscriber::set_global_default(s.clone()).expect("the only global subscriber");
        s
    })
}

/// The events with `message`, whose fields mention `who` (a task's or scope's name).
fn events(message: &str, who: &str) -> Vec<EventRec> {
    subscriber()
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.fields.get("message").is_some_and(|m| m == message))
        .filter(|e| e.fields.values().any(|v| v.contains(who)))
        .cloned()
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_childs_failure_and_panic_and_a_scopes_cancel_are_events_with_debug_filtered_out() {
    subscriber();
    runtime().block_on(async {
        let s = &Scope::new(Config::new().name("filtered_fail"));
        let out = s
            .run(async {
                s.spawn_named("filtered_failing", async {
                    tokio::task::yield_now().await;
                    Err::<(), BoxError>("disk full".into())
                });
                Ok::<(), BoxError>(())
            })
            .await;
        assert_eq!(out.unwrap_err().to_string(), "disk full");

        let s = &Scope::new(Config::new().name("filtered_panic"));
        let out = s
            .run(async {
                s.spawn_named("filtered_panicking", async {
                    tokio::task::yield_now().await;
                    panic!("kaboom")
                });
                Ok::<(), Interrupted>(())
            })
            .await;
        assert!(matches!(out, Err(Interrupted::Panicked(_))), "{out:?}");
    });

    let failed = events("task failed", "filtered_failing");
    assert_eq!(failed.len(), 1, "the child's failure is an event");
    assert_eq!(failed[0].level, Level::WARN);
    assert_eq!(failed[0].fields["error"], "disk full");
    let cancelled = events("cancelled", "filtered_fail");
    assert_eq!(cancelled.len(), 1, "the scope's cancel is an event");
    assert_eq!(cancelled[0].level, Level::INFO);
    assert_eq!(events("scope failed", "filtered_fail").len(), 1);

    let panicked = events("task panicked", "filtered_panicking");
    assert_eq!(panicked.len(), 1, "the child's panic is an event");
    assert_eq!(panicked[0].level, Level::ERROR);
    assert_eq!(panicked[0].fields["panic"], "kaboom");
    assert_eq!(events("scope panicked", "filtered_panic").len(), 1);
}

#[test]
fn a_service_tasks_failure_and_panic_are_events_not_stops() {
    subscriber();
    runtime().block_on(async {
        let svc = Service::new(ServiceConfig::new("filtered_svc"));
        svc.spawn_named("filtered_svc_failing", async {
            Err::<(), String>("queue full".to_owned())
        })
        .unwrap()
        .detach();
        svc.spawn_named("filtered_svc_panicking", async {
            tokio::task::yield_now().await;
            let work: Vec<u8> = Vec::new();
            assert!(!work.is_empty(), "kaboom");
        })
        .unwrap()
        .detach();
        svc.drain(Duration::from_secs(1)).await.unwrap();
    });
    let failed = events("task failed", "filtered_svc_failing");
    assert_eq!(failed.len(), 1, "the service task's failure is an event");
    assert_eq!(failed[0].level, Level::WARN);
    assert_eq!(failed[0].fields["error"], "queue full");
    let panicked = events("task panicked", "filtered_svc_panicking");
    assert_eq!(panicked.len(), 1, "the service task's panic is an event");
    assert_eq!(panicked[0].level, Level::ERROR);
}

#[test]
fn a_service_task_dropped_past_its_deadline_is_a_failure_event() {
    // The per-task deadline exists for a task stuck on a dead peer; dropped past it, the task
    // is one of the service's failures, and says so at WARN. Before, its event was the DEBUG
    // "stopped" of a stop's abort: filtered out, so the hung task was silent.
    subscriber();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            let svc = Service::new(
                ServiceConfig::new("filtered_svc_hung")
                    .task_timeout(Duration::from_millis(10))
                    .grace(Duration::from_millis(10)),
            );
            svc.spawn_named("filtered_svc_hung_task", std::future::pending::<()>())
                .unwrap()
                .detach();
            svc.drain(Duration::from_secs(1)).await.unwrap();
            assert_eq!(svc.failures().len(), 1, "the service calls it a failure");
        });
    assert_eq!(events("task failed", "filtered_svc_hung_task").len(), 1);
}

#[test]
fn a_drained_service_whose_task_panicked_ends_panicked() {
    // Before, a drain reported the service's end with no failures, whatever its tasks did.
    subscriber();
    runtime().block_on(async {
        let svc = Service::new(ServiceConfig::new("filtered_svc_drained"));
        svc.spawn_named("filtered_svc_drained_task", async {
            tokio::task::yield_now().await;
            let work: Vec<u8> = Vec::new();
            assert!(!work.is_empty(), "kaboom");
        })
        .unwrap()
        .detach();
        svc.drain(Duration::from_secs(1)).await.unwrap();
    });
    assert_eq!(events("scope panicked", "filtered_svc_drained").len(), 1);
}

#[test]
fn a_cancel_from_a_plain_context_is_heard_at_info_by_the_topmost_scope() {
    // Cancelled from a context no scope owns (a root of the program's own, as an application's
    // shutdown is): the topmost scope's cancel was reported at `DEBUG`, as though a scope above
    // had said it, and an `INFO` subscriber heard nothing of it.
    subscriber();
    runtime().block_on(async {
        let root = scope::Cx::root();
        let s = &Scope::new(Config::new().name("filtered_outside").parent(root.clone()));
        let stopper = root.clone();
        let _ = s
            .run(async {
                // A nested scope below it: the top one reports, this one does not repeat it.
                let inner = &Scope::new(Config::new().name("filtered_outside_inner"));
                inner
                    .run(async {
                        stopper.cancel("operator abort");
                        scope::cancelled().await;
                        Ok::<(), Interrupted>(())
                    })
                    .await
            })
            .await;
        // A deadline of a context no scope owns: the topmost scope's own to report.
        let timed = scope::Cx::root().child_with_timeout(Duration::from_millis(5));
        let s = &Scope::new(
            Config::new()
                .name("filtered_outside_deadline")
                .parent(timed),
        );
        let _ = s
            .run(async {
                scope::cancelled().await;
                Ok::<(), Interrupted>(())
            })
            .await;
    });
    let cancelled = events("cancelled", "filtered_outside");
    let top: Vec<_> = cancelled
        .iter()
        .filter(|e| {
            !e.fields
                .values()
                .any(|v| v.contains("filtered_outside_inner"))
        })
        .filter(|e| {
            !e.fields
                .values()
                .any(|v| v.contains("filtered_outside_deadline"))
        })
        .collect();
    assert_eq!(
        top.len(),
        1,
        "the topmost scope reports the cancel: {cancelled:?}"
    );
    assert_eq!(top[0].level, Level::INFO);
    assert!(
        top[0].fields.values().any(|v| v.contains("operator abort")),
        "{:?}",
        top[0].fields
    );
    let deadline = events("deadline exceeded", "filtered_outside_deadline");
    assert_eq!(deadline.len(), 1, "the deadline is reported: {deadline:?}");
    assert_eq!(deadline[0].level, Level::INFO);
}

#[test]
fn a_service_cancelled_through_its_context_reports_the_cancel() {
    // `svc.cx().cancel(..)`, then a stop: the stop's cancel was not the first, so nothing
    // reported the one that was.
    subscriber();
    runtime().block_on(async {
        let svc = Service::new(ServiceConfig::new("filtered_svc_cx_cancel"));
        svc.spawn(async {
            scope::cancelled().await;
        })
        .unwrap()
        .detach();
        svc.cx().cancel("maintenance");
        let _ = svc.stop().await;
    });
    let cancelled = events("cancelled", "filtered_svc_cx_cancel");
    assert_eq!(cancelled.len(), 1, "the cancel is an event: {cancelled:?}");
    assert_eq!(cancelled[0].level, Level::INFO);
    assert!(
        cancelled[0]
            .fields
            .values()
            .any(|v| v.contains("maintenance")),
        "{:?}",
        cancelled[0].fields
    );
}

#[test]
fn a_scope_under_another_scopes_context_leaves_the_cancel_to_that_scope() {
    // Entered outside any scope's code, but under a scope's context handed down: that scope
    // reports the cancel; this one does not say it again at `INFO`.
    subscriber();
    runtime().block_on(async {
        let a = &Scope::new(Config::new().name("filtered_handed_a"));
        let b = &Scope::new(
            Config::new()
                .name("filtered_handed_b")
                .parent(a.cx().clone()),
        );
        let _ = tokio::join!(
            a.run(async {
                tokio::task::yield_now().await;
                a.cancel("stop a");
                Ok::<(), Interrupted>(())
            }),
            b.run(async {
                scope::cancelled().await;
                Ok::<(), Interrupted>(())
            }),
        );
    });
    let from_a = events("cancelled", "filtered_handed_a");
    assert_eq!(from_a.len(), 1, "{from_a:?}");
    assert_eq!(from_a[0].level, Level::INFO);
    let from_b = events("cancelled", "filtered_handed_b");
    assert!(from_b.is_empty(), "said twice at INFO: {from_b:?}");
}

#[test]
fn a_scope_under_a_merge_reports_what_no_scope_above_it_reported() {
    // Either side of a merge: a cancel from the plain context is this scope's to say; one
    // from the scope whose context was merged in, that scope says.
    subscriber();
    runtime().block_on(async {
        for (i, from_plain) in [true, false].into_iter().enumerate() {
            let plain = scope::Cx::root();
            let a = &Scope::new(Config::new().name(format!("filtered_merge_a{i}")));
            let parent = if i == 0 {
                a.cx().merge(&plain)
            } else {
                plain.merge(a.cx())
            };
            let b = &Scope::new(
                Config::new()
                    .name(format!("filtered_merge_b{i}"))
                    .parent(parent),
            );
            let _ = tokio::join!(
                a.run(async {
                    tokio::task::yield_now().await;
                    if from_plain {
                        plain.cancel("stop plain");
                        tokio::task::yield_now().await;
                    } else {
                        a.cancel("stop a");
                    }
                    Ok::<(), Interrupted>(())
                }),
                b.run(async {
                    scope::cancelled().await;
                    Ok::<(), Interrupted>(())
                }),
            );
        }
    });
    let b0 = events("cancelled", "filtered_merge_b0");
    assert_eq!(b0.len(), 1, "the plain context's cancel is said: {b0:?}");
    assert_eq!(b0[0].level, Level::INFO);
    let a1 = events("cancelled", "filtered_merge_a1");
    assert_eq!(a1.len(), 1, "{a1:?}");
    let b1 = events("cancelled", "filtered_merge_b1");
    assert!(b1.is_empty(), "said twice at INFO: {b1:?}");
}

#[test]
fn a_deadline_handed_down_from_a_scope_is_that_scopes_to_report() {
    // `b` runs under `a`'s context, whose deadline a plain context set: both scopes time it,
    // and whichever timer fired first, `b` could say it at `INFO` as its own, and `a` did too
    // (counted twice).
    subscriber();
    runtime().block_on(async {
        for (i, b_first) in [true, false].into_iter().enumerate() {
            let timed = scope::Cx::root().child_with_timeout(Duration::from_millis(20));
            let a = &Scope::new(
                Config::new()
                    .name(format!("filtered_handed_deadline_a{i}"))
                    .parent(timed),
            );
            let b = &Scope::new(
                Config::new()
                    .name(format!("filtered_handed_deadline_b{i}"))
                    .parent(a.cx().clone()),
            );
            let run_a = a.run(async {
                scope::cancelled().await;
                Ok::<(), Interrupted>(())
            });
            let run_b = b.run(async {
                scope::cancelled().await;
                Ok::<(), Interrupted>(())
            });
            if b_first {
                let _ = tokio::join!(run_b, run_a);
            } else {
                let _ = tokio::join!(run_a, run_b);
            }
        }
    });
    for i in 0..2 {
        let a = events(
            "deadline exceeded",
            &format!("filtered_handed_deadline_a{i}"),
        );
        assert_eq!(a.len(), 1, "{a:?}");
        let b = events(
            "deadline exceeded",
            &format!("filtered_handed_deadline_b{i}"),
        );
        assert!(b.is_empty(), "said twice at INFO: {b:?}");
        let b = events("cancelled", &format!("filtered_handed_deadline_b{i}"));
        assert!(b.is_empty(), "said twice at INFO: {b:?}");
    }
}

#[test]
fn a_deadline_handed_down_from_a_scope_is_that_scopes_to_report_when_the_inner_scope_looks_first() {
    // The same, `b` made to look first at the deadline it inherited (its run polled alone
    // once the deadline has passed). Contexts that inherit a deadline record it as the
    // parent's (`ParentCancelled(DeadlineExceeded)`); the first version of that took `b`'s
    // record for a cancel nobody above had said, and `b` said it at `INFO` as well as `a`.
    use std::future::Future;
    use std::task::{Context, Waker};
    subscriber();
    runtime().block_on(async {
        for (i, a_times) in [false, true].into_iter().enumerate() {
            let timed = scope::Cx::root().child_with_timeout(Duration::from_millis(20));
            let config = Config::new().name(format!("filtered_looks_first_a{i}"));
            let a = &Scope::new(if a_times {
                config.timeout(Duration::from_millis(20))
            } else {
                config.parent(timed)
            });
            let b = &Scope::new(
                Config::new()
                    .name(format!("filtered_looks_first_b{i}"))
                    .parent(a.cx().clone()),
            );
            let mut run_a = Box::pin(a.run(async {
                scope::cancelled().await;
                Ok::<(), Interrupted>(())
            }));
            let mut run_b = Box::pin(b.run(async {
                scope::cancelled().await;
                Ok::<(), Interrupted>(())
            }));
            let mut noop = Context::from_waker(Waker::noop());
            assert!(run_a.as_mut().poll(&mut noop).is_pending());
            assert!(run_b.as_mut().poll(&mut noop).is_pending());
            tokio::time::sleep(Duration::from_millis(40)).await; // nobody looks meanwhile
            let _ = run_b.as_mut().poll(&mut noop); // `b` is the first to look
            let _ = tokio::join!(run_a, run_b);
        }
    });
    for i in 0..2 {
        let a = events("deadline exceeded", &format!("filtered_looks_first_a{i}"));
        assert_eq!(a.len(), 1, "{a:?}");
        let b = events("deadline exceeded", &format!("filtered_looks_first_b{i}"));
        assert!(b.is_empty(), "said twice at INFO: {b:?}");
        let b = events("cancelled", &format!("filtered_looks_first_b{i}"));
        assert!(b.is_empty(), "said twice at INFO: {b:?}");
    }
}

#[test]
fn a_scope_under_a_merge_says_the_cancel_that_reached_it_not_one_that_came_later() {
    // The plain side's cancel reached `b`; the scope on the other side was cancelled right
    // after, for its own reason: `b` took that for its cancel said above, and the plain
    // side's went unsaid.
    subscriber();
    runtime().block_on(async {
        let plain = scope::Cx::root();
        let a = &Scope::new(Config::new().name("filtered_merge_later_a"));
        let b = &Scope::new(
            Config::new()
                .name("filtered_merge_later_b")
                .parent(a.cx().merge(&plain)),
        );
        let _ = tokio::join!(
            a.run(async {
                tokio::task::yield_now().await;
                plain.cancel("stop plain");
                a.cancel("stop a");
                Ok::<(), Interrupted>(())
            }),
            b.run(async {
                scope::cancelled().await;
                Ok::<(), Interrupted>(())
            }),
        );
    });
    let b = events("cancelled", "filtered_merge_later_b");
    assert_eq!(b.len(), 1, "the plain side's cancel went unsaid: {b:?}");
    assert!(
        b[0].fields.values().any(|v| v.contains("stop plain")),
        "{b:?}"
    );
}
