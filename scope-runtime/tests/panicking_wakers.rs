//! A user's waker that panics, woken by the scope's own bookkeeping (a child's exit given back
//! up the trackers, a slot handed on, a wait parked on a child's context): the bookkeeping
//! goes on to its end, and nothing is lost or left waiting (`probe153`). The waker's panic is
//! dropped there, as tokio drops the panic of a task's join waker.
//!
//! Each case runs on a current-thread runtime and on a two-worker one.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use scope_runtime::{Config, Interrupted, Scope};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A waker that passes the wake on to the task that polled last, then panics, once.
struct PanicsOnce {
    task: Mutex<Option<Waker>>,
    panicked: AtomicBool,
}

impl Wake for PanicsOnce {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = self.task.lock().unwrap().clone();
        if let Some(task) = task {
            task.wake();
        }
        assert!(
            self.panicked.swap(true, Ordering::SeqCst),
            "the user's waker panics, once"
        );
    }
}

/// Polls `fut` with a [`PanicsOnce`] waker.
struct PolledWithPanickyWaker<F> {
    fut: Pin<Box<F>>,
    waker: Arc<PanicsOnce>,
}

fn with_panicky_waker<F: Future>(fut: F) -> PolledWithPanickyWaker<F> {
    PolledWithPanickyWaker {
        fut: Box::pin(fut),
        waker: Arc::new(PanicsOnce {
            task: Mutex::new(None),
            panicked: AtomicBool::new(false),
        }),
    }
}

impl<F: Future> Future for PolledWithPanickyWaker<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<F::Output> {
        *self.waker.task.lock().unwrap() = Some(task.waker().clone());
        let waker = Waker::from(Arc::clone(&self.waker));
        self.fut.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

/// Runs `case` on a current-thread runtime, then on a two-worker one, each within 5 s.
fn on_both_runtimes<F, Fut>(case: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for rt in [current, common::two_workers()] {
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), tokio::spawn(case()))
                .await
                .expect("the case hung")
                .unwrap();
        });
    }
}

#[test]
fn a_nested_scope_run_with_a_panicking_waker_gives_its_unit_back_to_the_scope_around_it() {
    // The inner run's waker, woken as its last child exits, panicked out of the exit's walk up
    // the trackers, before the outer scope's unit was given back: the outer run never
    // returned, not after a cancel and its grace either.
    on_both_runtimes(|| async {
        let outer = &Scope::<Interrupted>::new(Config::new().grace(ms(10)));
        let out = outer
            .run(async {
                let inner = &Scope::<Interrupted>::new(Config::new());
                with_panicky_waker(inner.run(async {
                    drop(inner.spawn(async {
                        tokio::time::sleep(ms(1)).await;
                        Ok::<_, Interrupted>(())
                    }));
                    Ok::<_, Interrupted>("inner done")
                }))
                .await
            })
            .await;
        assert_eq!(out.unwrap(), "inner done");
    });
}

#[test]
fn a_run_with_a_panicking_waker_keeps_its_spawned_childs_value() {
    // The run's waker panicked in the child's task as its future was dropped: tokio took the
    // task for panicked, and the handle read "the child was aborted" in place of `7`.
    on_both_runtimes(|| async {
        let s = &Scope::<Interrupted>::new(Config::new());
        let out = with_panicky_waker(s.run(async {
            let a = s.spawn(async {
                tokio::time::sleep(ms(2)).await;
                Ok::<_, Interrupted>(7)
            });
            Ok::<_, Interrupted>(a.await)
        }))
        .await;
        assert_eq!(out.unwrap().unwrap(), 7);
    });
}

#[test]
fn a_slot_handed_to_a_waiter_with_a_panicking_waker_keeps_the_childs_value() {
    // The waiter for the slot, answered by the finishing child's poll, panicked there: the
    // child's value was lost.
    on_both_runtimes(|| async {
        let s = &Scope::<Interrupted>::new(Config::new().limit(1));
        let out = s
            .run(async {
                let a = s.spawn(async {
                    tokio::time::sleep(ms(2)).await;
                    Ok::<_, Interrupted>(7)
                });
                drop(with_panicky_waker(s.reserve()).await);
                Ok::<_, Interrupted>(a.await)
            })
            .await;
        assert_eq!(out.unwrap().unwrap(), 7);
    });
}

#[test]
fn a_slot_handed_on_by_an_aborted_child_to_a_panicking_waker_still_ends_the_child() {
    // The aborted child's drop handed its slot on first; the waiter's waker panicked there,
    // and the rest of the drop (the child's end, its unit) was skipped: the run never
    // returned.
    on_both_runtimes(|| async {
        let s = &Scope::<Interrupted>::new(Config::new().limit(1).grace(ms(10)));
        let out = s
            .run(async {
                let a = s.spawn(std::future::pending::<Result<u32, Interrupted>>());
                let mut reserve = std::pin::pin!(with_panicky_waker(s.reserve()));
                assert!(futures_poll_once(reserve.as_mut()).await.is_none());
                tokio::time::sleep(ms(2)).await;
                a.abort();
                assert!(reserve.await.is_ok(), "the slot was not handed on");
                Ok::<_, Interrupted>(a.await.is_err())
            })
            .await;
        assert!(out.unwrap(), "the aborted child's handle read a value");
    });
}

#[test]
fn a_child_cancelled_alone_while_a_wait_with_a_panicking_waker_is_parked_is_cancelled() {
    // The child's own context, made by the cancel, woke the waits parked on the child; the
    // first waker's panic left the context unmade and the cancel undone, yet the handle's
    // cancel went on as if it had cancelled: the child, never told, was aborted at the end of
    // the grace, its handle naming a runtime shutdown that never happened.
    on_both_runtimes(|| async {
        let s = &Scope::<Interrupted>::new(Config::new().grace(ms(2_000)));
        let out = s
            .run(async {
                let a = s.spawn(async {
                    let (first, second) = tokio::join!(
                        with_panicky_waker(scope_runtime::cancelled()),
                        scope_runtime::cancelled()
                    );
                    Ok::<_, Interrupted>(format!("{first} / {second}"))
                });
                tokio::time::sleep(ms(5)).await;
                a.cancel("stop a");
                Ok::<_, Interrupted>(a.await)
            })
            .await;
        let said = out.unwrap().unwrap();
        assert!(said.contains("stop a"), "the child saw {said:?}");
    });
}

#[test]
fn a_childs_handle_with_a_panicking_waker_reads_its_value_through_the_channel() {
    // A value with a destructor goes to the handle through a channel, whose send wakes the
    // handle's waker.
    on_both_runtimes(|| async {
        let s = &Scope::<Interrupted>::new(Config::new());
        let out = s
            .run(async {
                let a = s.spawn(async {
                    tokio::time::sleep(ms(2)).await;
                    Ok::<_, Interrupted>("seven".to_owned())
                });
                with_panicky_waker(a).await
            })
            .await;
        assert_eq!(out.unwrap(), "seven");
    });
}

#[test]
fn an_aborted_child_whose_handles_waker_panics_still_ends() {
    // The aborted child's drop hands its interruption to the handle through the channel; the
    // handle's waker panicked there, and the rest of the drop (the child's end, its unit)
    // was skipped: the run never returned.
    on_both_runtimes(|| async {
        let s = &Scope::<Interrupted>::new(Config::new().grace(ms(10)));
        let out = s
            .run(async {
                let a = s.spawn(std::future::pending::<Result<String, Interrupted>>());
                let mut a = std::pin::pin!(with_panicky_waker(a));
                assert!(futures_poll_once(a.as_mut()).await.is_none());
                tokio::time::sleep(ms(2)).await;
                s.cancel("enough"); // ignored: the child is aborted when the grace runs out
                Ok::<_, Interrupted>(a.await.is_err())
            })
            .await;
        assert!(out.unwrap(), "the aborted child's handle read a value");
    });
}

/// Polls `fut` once: its value if it was ready.
async fn futures_poll_once<F: Future + Unpin>(mut fut: F) -> Option<F::Output> {
    std::future::poll_fn(|task| {
        Poll::Ready(match Pin::new(&mut fut).poll(task) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
    })
    .await
}

#[test]
fn a_service_drain_with_a_panicking_waker_leaves_the_other_drains_their_wake() {
    // Two drains of one service wait for its last task; the first was polled by the user
    // with a waker that panics. tokio's `Notify` woke the waiters in a batch, and the panic
    // left the rest of the batch unwoken: the second drain slept to the end of its 5 s budget
    // (`probe155`).
    on_both_runtimes(|| async {
        let svc = Arc::new(scope_runtime::Service::new(
            scope_runtime::ServiceConfig::new("two drains"),
        ));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let _task = svc
            .spawn(async move {
                let _ = released.await;
                Ok::<(), Interrupted>(())
            })
            .unwrap();
        let first = Arc::clone(&svc);
        let mut first = Box::pin(with_panicky_waker(async move {
            first.drain(Duration::from_secs(5)).await
        }));
        assert!(futures_poll_once(first.as_mut()).await.is_none());
        let second = Arc::clone(&svc);
        let second = tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            second.drain(Duration::from_secs(5)).await.unwrap();
            began.elapsed()
        });
        tokio::time::sleep(ms(50)).await;
        release.send(()).unwrap();
        let took = second.await.unwrap();
        assert!(
            took < Duration::from_secs(2),
            "the second drain took {took:?}"
        );
        drop(first);
    });
}
