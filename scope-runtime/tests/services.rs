//! Services and the application's shutdown, on tokio's paused clock: task handles and
//! outcomes, workers over the bounded queue, what a stop reports, and the phases in order.
#![cfg(not(loom))]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use scope_runtime::{
    shield_for, App, Cause, Config, ConfigError, Cx, Forced, Interrupted, Scope, Service,
    ServiceConfig, ShutdownReport, Signal, SpawnError,
};
use tokio::time::{sleep, sleep_until, Instant};

const MS: Duration = Duration::from_millis(1);

/// Signals at the given times from now.
fn signals_at(plan: &[(u64, Signal)]) -> impl futures_util::Stream<Item = Signal> {
    let start = Instant::now();
    futures_util::stream::iter(plan.to_vec()).then(move |(ms, signal)| async move {
        tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
        signal
    })
}

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, what: impl Into<String>) {
    log.lock().unwrap().push(what.into());
}

/// Makes an "audit" service (under the application, if any) and hands it a record that takes
/// 100 ms to write, noted in `written` once written.
fn audit_a_record(written: &Arc<Mutex<Vec<&'static str>>>) {
    let w = Arc::clone(written);
    Service::new(ServiceConfig::new("audit"))
        .spawn_named("record", async move {
            sleep(100 * MS).await;
            w.lock().unwrap().push("record written");
        })
        .unwrap()
        .detach();
}

/// A main work that ends on its own: it makes a "mailer" service (the application owns it),
/// hands it a mail that takes `takes` to send (noted in `log` once sent), and returns `out`.
fn hand_a_mail(log: &Log, takes: Duration, out: u32) -> impl std::future::Future<Output = u32> {
    let l = log.clone();
    async move {
        let mailer = Service::new(ServiceConfig::new("mailer"));
        let _ = mailer.spawn(async move {
            sleep(takes).await;
            note(&l, "mail sent");
        });
        out
    }
}

/// Runs `app` with `grace` and no signal over [`hand_a_mail`]'s main work.
async fn run_handing_a_mail(
    app: &App,
    grace: Duration,
    log: &Log,
    takes: Duration,
    out: u32,
) -> (Option<u32>, ShutdownReport) {
    app.run(
        grace,
        futures_util::stream::pending(),
        hand_a_mail(log, takes, out),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn a_failure_of_detached_work_is_reported_even_when_nobody_awaits_its_handle() {
    let svc = Service::new(ServiceConfig::new("audit"));
    drop(
        svc.spawn_named("write r-1", async { Err::<(), _>("disk full") })
            .unwrap(),
    );
    drop(
        svc.spawn_named("write r-2", async {
            let record: Vec<u8> = Vec::new();
            assert!(!record.is_empty(), "no record");
        })
        .unwrap(),
    );
    let ok = svc
        .spawn_named("write r-3", async { Ok::<_, String>(3) })
        .unwrap();
    assert_eq!(ok.await.unwrap(), Ok(3));
    svc.drain(Duration::from_secs(1)).await.unwrap();
    let failures: Vec<String> = svc.failures().iter().map(ToString::to_string).collect();
    assert_eq!(
        failures,
        [
            "task `write r-1` failed: disk full",
            "task `write r-2` panicked: no record",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn workers_run_in_order_and_the_deadline_starts_when_a_worker_takes_the_task() {
    let svc = Service::new(
        ServiceConfig::new("pool")
            .workers(1)
            .capacity(3)
            .task_timeout(100 * MS),
    );
    let log: Log = Arc::default();
    let mut handles = Vec::new();
    for i in 0..3 {
        let log = log.clone();
        handles.push(
            svc.spawn(async move {
                sleep(80 * MS).await; // under its own deadline, not under three of them
                note(&log, format!("task {i}"));
            })
            .unwrap(),
        );
    }
    // The queue is bounded: three accepted and not finished fill it.
    assert_eq!(svc.spawn(async {}).err(), Some(SpawnError::Full));
    let start = Instant::now();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(start.elapsed(), 240 * MS, "one at a time");
    assert_eq!(*log.lock().unwrap(), ["task 0", "task 1", "task 2"]);
    assert!(svc.failures().is_empty(), "no task overran its deadline");
}

#[tokio::test(start_paused = true)]
async fn a_stop_waits_for_a_budgeted_shield_and_reports_the_rest_by_name() {
    let svc = Service::new(ServiceConfig::new("sync").grace(10 * MS).workers(2));
    let flushed = Arc::new(Mutex::new(false));
    let f = flushed.clone();
    let _flush = svc
        .spawn_named("flush", async move {
            shield_for(Duration::from_secs(1), async move {
                sleep(200 * MS).await;
                *f.lock().unwrap() = true;
            })
            .await
        })
        .unwrap();
    let _stuck = svc
        .spawn_named("stuck", std::future::pending::<()>())
        .unwrap();
    let queued = svc.spawn_named("queued", async {}).unwrap();
    tokio::task::yield_now().await;
    let start = Instant::now();
    let report = svc.stop().await;
    assert_eq!(start.elapsed(), 200 * MS, "the abort waited for the shield");
    assert!(*flushed.lock().unwrap(), "the shielded flush finished");
    assert_eq!(report.not_started(), 1);
    assert!(matches!(queued.await, Err(Interrupted::NotStarted(_))));
    // The flush ended on its own once its shield did; the other had to be aborted.
    let names = |t: &[scope_runtime::TaskInfo]| -> Vec<String> {
        t.iter().map(ToString::to_string).collect()
    };
    assert_eq!(names(report.stopped()), ["flush"], "{report}");
    assert_eq!(names(report.aborted()), ["stuck"], "{report}");
    assert_eq!(svc.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_runs_its_phases_in_order() {
    let log: Log = Arc::default();
    let app = App::new();
    let l = log.clone();
    let (out, report) = app
        .run(
            Duration::from_secs(1),
            signals_at(&[(10, Signal::Terminate)]),
            async move {
                let first = Service::new(ServiceConfig::new("first"));
                let second = Service::new(ServiceConfig::new("second").grace(50 * MS));
                let cause = scope_runtime::cancelled().await;
                note(&l, format!("phase 1: {cause}"));
                assert!(
                    !first.is_closed(),
                    "services still accept during the main work's drain"
                );
                // In-flight work hands the services their last records.
                let l1 = l.clone();
                let _ = first.spawn(async move {
                    sleep(100 * MS).await;
                    note(&l1, "first drained");
                });
                let l2 = l.clone();
                let _ = second.spawn_named("stubborn", async move {
                    note(&l2, "second started");
                    std::future::pending::<()>().await;
                });
                sleep(300 * MS).await;
                note(&l, "main work done");
                "bye"
            },
        )
        .await;
    assert_eq!(out, Some("bye"));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "phase 1: shutdown requested by SIGTERM",
            "second started",
            "first drained",
            "main work done",
        ]
    );
    assert_eq!(report.signal(), Some(&Signal::Terminate));
    assert_eq!(report.main_ended_after(), Some(300 * MS));
    assert_eq!(report.forced(), None);
    // Last made, drained first: `second` overran what was left of the grace, then was
    // stopped (aborted after its own grace); `first` had nothing left.
    let drained: Vec<String> = report.drained().iter().map(ToString::to_string).collect();
    assert_eq!(drained, ["first"]);
    assert_eq!(report.stopped().len(), 1);
    let aborted: Vec<String> = report.stopped()[0]
        .aborted()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(aborted, ["stubborn"]);
    assert!(!report.is_clean());
}

/// The README's advice: a service that others hand work to is made first, so that it drains
/// after them and takes their last hand-overs; made after them, it is closed when they hand
/// over (an outside tester's pitfall).
#[tokio::test(start_paused = true)]
async fn a_service_made_first_takes_the_hand_overs_of_those_made_after_it() {
    for downstream_first in [true, false] {
        let log: Log = Arc::default();
        let app = App::new();
        let l = log.clone();
        let (out, report) = app
            .run(
                Duration::from_secs(1),
                signals_at(&[(10, Signal::Terminate)]),
                async move {
                    let (db, audit) = if downstream_first {
                        let db = Service::new(ServiceConfig::new("db"));
                        (db, Service::new(ServiceConfig::new("audit")))
                    } else {
                        let audit = Service::new(ServiceConfig::new("audit"));
                        (Service::new(ServiceConfig::new("db")), audit)
                    };
                    scope_runtime::cancelled().await;
                    // The audit record, written during the drain, hands a row to `db`.
                    let _ = audit.spawn(async move {
                        sleep(50 * MS).await;
                        let row = l.clone();
                        let handed = db.spawn(async move {
                            sleep(50 * MS).await;
                            note(&row, "row written");
                        });
                        note(
                            &l,
                            if handed.is_ok() {
                                "handed over"
                            } else {
                                "db closed"
                            },
                        );
                    });
                },
            )
            .await;
        assert_eq!(out, Some(()));
        let expected: &[&str] = if downstream_first {
            &["handed over", "row written"]
        } else {
            &["db closed"]
        };
        assert_eq!(
            *log.lock().unwrap(),
            expected,
            "downstream first: {downstream_first}"
        );
        assert!(report.is_clean(), "{report}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_ends_the_shutdown_at_once() {
    let app = App::new();
    let start = Instant::now();
    let (out, report) = app
        .run(
            Duration::from_secs(10),
            signals_at(&[(10, Signal::Terminate), (50, Signal::Interrupt)]),
            async {
                scope_runtime::cancelled().await;
                sleep(Duration::from_secs(5)).await; // a slow wind-down
            },
        )
        .await;
    assert_eq!(out, None);
    assert_eq!(
        report.forced(),
        Some(&Forced::SecondSignal(Signal::Interrupt))
    );
    assert_eq!(start.elapsed(), 50 * MS);
}

#[tokio::test(start_paused = true)]
async fn without_a_signal_the_services_are_drained_when_the_main_work_ends() {
    let app = App::new();
    let log: Log = Arc::default();
    let (out, report) = run_handing_a_mail(&app, Duration::from_secs(1), &log, 100 * MS, 7).await;
    assert_eq!(out, Some(7));
    assert_eq!(*log.lock().unwrap(), ["mail sent"]);
    assert!(report.is_clean());
    assert_eq!(report.signal(), None);
}

#[tokio::test(start_paused = true)]
async fn a_first_signal_while_the_services_drain_does_not_cut_the_drain_short() {
    // The main work ends on its own; the services drain; one SIGTERM comes meanwhile (say,
    // the service manager asks for the stop already under way). It is the first signal, not
    // a second one: the drain goes on, and the report says when the signal came.
    let app = App::new();
    let log: Log = Arc::default();
    let start = Instant::now();
    let (out, report) = app
        .run(
            Duration::from_secs(1),
            signals_at(&[(20, Signal::Terminate), (500, Signal::Interrupt)]),
            hand_a_mail(&log, 100 * MS, 7),
        )
        .await;
    assert_eq!(out, Some(7));
    assert_eq!(*log.lock().unwrap(), ["mail sent"]);
    assert_eq!(report.forced(), None, "{report}");
    assert!(report.is_clean());
    assert_eq!(report.signal(), Some(&Signal::Terminate));
    assert_eq!(start.elapsed(), 100 * MS);
    // The application's context was told to stop accepting, with the signal.
    assert_eq!(
        app.cx().cause().map(|c| c.to_string()).as_deref(),
        Some("shutdown requested by SIGTERM")
    );
    assert_eq!(
        report.to_string(),
        "shutdown: the main work ended; draining the services\n\
         shutdown: SIGTERM after 20ms, while draining: the drain goes on\n\
         shutdown: drained: service `mailer`"
    );

    // A second signal during that drain ends it at once.
    let app = App::new();
    let start = Instant::now();
    let (out, report) = app
        .run(
            Duration::from_secs(1),
            signals_at(&[(20, Signal::Terminate), (50, Signal::Interrupt)]),
            hand_a_mail(&Log::default(), 100 * MS, 7),
        )
        .await;
    assert_eq!(out, Some(7));
    assert_eq!(
        report.forced(),
        Some(&Forced::SecondSignal(Signal::Interrupt))
    );
    assert_eq!(start.elapsed(), 50 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_grace_of_duration_max_waits_as_long_as_the_work_takes() {
    // "No limit": before, the grace's end overflowed `Instant` and the shutdown panicked; then
    // it saturated 30 years off, and a paused clock got there (probe242).
    let forty_years = Duration::from_secs(60 * 60 * 24 * 365 * 40);
    let app = App::new();
    let start = Instant::now();
    let (out, report) = app
        .run(
            Duration::MAX,
            signals_at(&[(10, Signal::Terminate)]),
            async move {
                scope_runtime::cancelled().await;
                // A very slow wind-down (`sleep_until`: tokio's `sleep` stops at 30 years).
                sleep_until(Instant::now() + forty_years).await;
                7
            },
        )
        .await;
    assert_eq!(out, Some(7));
    assert_eq!(report.forced(), None);
    assert_eq!(start.elapsed(), 10 * MS + forty_years);

    let app = App::new();
    let log: Log = Arc::default();
    // The mail takes 10 s: within the service's own task timeout.
    let (out, report) = run_handing_a_mail(&app, Duration::MAX, &log, 10_000 * MS, 8).await;
    assert_eq!(out, Some(8));
    assert_eq!(*log.lock().unwrap(), ["mail sent"]);
    assert!(report.is_clean());
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct BadDisplay;

impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("display")
    }
}

#[tokio::test(start_paused = true)]
async fn a_task_error_whose_display_panics_is_reported_as_the_tasks_panic() {
    let svc = Service::new(ServiceConfig::new("audit"));
    let handle = svc
        .spawn_named("write r-4", async { Err::<(), _>(BadDisplay) })
        .unwrap();
    let seen = handle.await;
    assert!(
        matches!(seen, Err(scope_runtime::Interrupted::Panicked(_))),
        "{seen:?}"
    );
    svc.drain(Duration::from_secs(1)).await.unwrap();
    let failures: Vec<String> = svc.failures().iter().map(ToString::to_string).collect();
    assert_eq!(failures, ["task `write r-4` panicked: display"]);
}

#[tokio::test(start_paused = true)]
async fn the_applications_context_ends_when_its_run_returns() {
    // A watcher detached under the application's own context (not under a scope): before, a
    // main work that ended on its own left that context running, so the watcher never woke.
    let app = App::new();
    let watcher = tokio::spawn(app.cx().clone().cancelled_owned());
    let log: Log = Arc::default();
    let (out, report) = run_handing_a_mail(&app, Duration::from_secs(1), &log, 30 * MS, 7).await;
    assert_eq!(out, Some(7));
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(*log.lock().unwrap(), ["mail sent"]); // the drain came first
    let cause = tokio::time::timeout(Duration::from_secs(60), watcher)
        .await
        .expect("the application's context did not end")
        .unwrap();
    assert!(cause.is_finished(), "{cause}");
    assert!(
        matches!(&cause, Cause::Finished { scope } if scope.name() == Some("app")),
        "{cause}"
    );

    // After a signal its cause stays the shutdown.
    let app = App::new();
    let (_, report) = app
        .run(
            Duration::from_secs(1),
            signals_at(&[(5, Signal::Terminate)]),
            scope_runtime::cancelled(),
        )
        .await;
    assert_eq!(report.signal(), Some(&Signal::Terminate));
    assert!(matches!(app.cx().cause().unwrap(), Cause::Shutdown { .. }));

    // A run dropped before its end ends the context too.
    let app = App::new();
    let run = app.run(
        Duration::from_secs(1),
        futures_util::stream::pending(),
        std::future::pending::<()>(),
    );
    assert!(tokio::time::timeout(10 * MS, run).await.is_err());
    assert!(app.cx().cause().unwrap().is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_drained_services_context_ends_and_one_that_overran_does_not() {
    // Work detached under the service's own context learns that the service is done.
    let svc = Service::new(ServiceConfig::new("audit"));
    let watcher = tokio::spawn(svc.cx().clone().cancelled_owned());
    drop(svc.spawn(sleep(10 * MS)).unwrap()); // its handle is not needed
    assert_eq!(svc.drain(Duration::from_secs(1)).await, Ok(()));
    let cause = tokio::time::timeout(Duration::from_secs(60), watcher)
        .await
        .expect("the drained service's context did not end")
        .unwrap();
    assert!(
        matches!(&cause, Cause::Finished { scope } if scope.name() == Some("audit")),
        "{cause}"
    );

    // A drain that overran leaves the running work alone: its context is not cancelled.
    let svc = Service::new(ServiceConfig::new("slow"));
    drop(svc.spawn(sleep(Duration::from_secs(10))).unwrap());
    assert!(svc.drain(10 * MS).await.is_err());
    assert!(!svc.cx().is_cancelled());
    let report = svc.stop().await;
    assert_eq!(report.aborted().len(), 1);
    assert!(matches!(svc.cx().cause().unwrap(), Cause::Shutdown { .. }));
}

/// A waker that tells when it is woken, then holds the thread that woke it until released.
struct HeldWake {
    woken: Mutex<std::sync::mpsc::Sender<()>>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl std::task::Wake for HeldWake {
    fn wake(self: Arc<Self>) {
        let _ = self.woken.lock().unwrap().send(());
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
    }
}

/// A [`HeldWake`] waker, with what tells when it is woken and what releases it.
fn held_waker() -> (
    std::task::Waker,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (woken_tx, woken) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let waker = std::task::Waker::from(Arc::new(HeldWake {
        woken: Mutex::new(woken_tx),
        release: Mutex::new(release_rx),
    }));
    (waker, woken, release)
}

/// Spawns a task of `svc` and polls its handle once with `waker`, then lets the task end:
/// its end hands the outcome over, waking `waker`.
fn ending_on_send(svc: &Service, waker: &std::task::Waker) -> scope_runtime::ServiceHandle<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut handle = svc
        .spawn(async move {
            let _ = rx.await;
        })
        .unwrap();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(std::future::Future::poll(std::pin::Pin::new(&mut handle), &mut cx).is_pending());
    tx.send(()).unwrap();
    handle
}

#[test]
fn a_drain_that_overruns_counts_a_task_still_handing_over_its_outcome() {
    // A task's end is recorded, then its outcome handed to its handle (whose waker is not
    // ours), then it counts itself gone: a drain whose budget runs out in between must
    // count it as still running, not say "0 task(s) still running".
    common::two_workers().block_on(async {
        let svc = Service::new(ServiceConfig::new("audit"));
        let (waker, woken, release) = held_waker();
        let handle = ending_on_send(&svc, &waker);
        // The task is waking its handle, on a worker: its end is recorded, it is not gone.
        woken.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(
            svc.active(),
            1,
            "a task handing over its outcome is still active"
        );
        let budget = 10 * MS;
        let drained = svc.drain(budget).await;
        release.send(()).unwrap();
        assert_eq!(
            drained,
            Err(scope_runtime::DrainError::Overrun {
                still_running: 1,
                budget
            })
        );
        svc.drain(Duration::from_secs(10)).await.unwrap();
        assert_eq!(svc.active(), 0);
        assert!(handle.await.is_ok());
    });
}

/// A waker that panics when woken.
struct PanickingWake;

impl std::task::Wake for PanickingWake {
    fn wake(self: Arc<Self>) {
        panic!("a handle's waker panicked");
    }
}

#[test]
fn a_task_whose_handles_waker_panics_as_it_ends_is_still_gone() {
    // The task's end hands its outcome to its handle, whose waker panics: the task must still
    // count itself gone, or every drain after overruns and every stop waits out its grace.
    common::two_workers().block_on(async {
        let svc = Service::new(ServiceConfig::new("audit"));
        let waker = std::task::Waker::from(Arc::new(PanickingWake));
        let handle = ending_on_send(&svc, &waker);
        assert_eq!(svc.drain(Duration::from_secs(10)).await, Ok(()));
        assert_eq!(svc.active(), 0);
        assert!(
            handle.await.is_ok(),
            "the outcome was handed over before the panic"
        );
    });
}

#[test]
fn a_drain_or_stop_does_not_wait_for_another_drains_waker() {
    // A task's end wakes the drains waiting for the service; one whose waker blocks must not
    // hold up another drain or a stop, or count the task as still running.
    common::two_workers().block_on(async {
        let svc = Service::new(ServiceConfig::new("audit"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        drop(
            svc.spawn(async move {
                let _ = rx.await;
            })
            .unwrap(),
        );
        let (waker, woken, release) = held_waker();
        let mut first = Box::pin(svc.drain(Duration::from_secs(10)));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::future::Future::poll(first.as_mut(), &mut cx).is_pending());
        tx.send(()).unwrap();
        // The task's end is waking the first drain, on a worker.
        woken.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(svc.active(), 0);
        assert_eq!(svc.drain(10 * MS).await, Ok(()));
        let began = std::time::Instant::now();
        let report = svc.stop().await;
        let took = began.elapsed();
        release.send(()).unwrap();
        assert!(report.aborted().is_empty());
        assert!(took < Duration::from_millis(500), "the stop took {took:?}");
        assert_eq!(first.await, Ok(()));
    });
}

#[test]
fn a_drain_that_overruns_on_work_its_ended_tasks_left_says_so() {
    // A task whose scope's run a timeout dropped leaves that scope's blocking closure running
    // (no abort stops one), still counted by the service: a drain that gives up on it counts
    // no task, and says what it waited for.
    common::two_workers().block_on(async {
        let svc = Service::new(ServiceConfig::new("audit"));
        svc.spawn(async {
            let s = &scope_runtime::Scope::new(scope_runtime::Config::new());
            let _ = tokio::time::timeout(
                10 * MS,
                s.run(async {
                    let _blocking = s.spawn_blocking(|_| {
                        std::thread::sleep(Duration::from_millis(400));
                        Ok::<_, Interrupted>(())
                    });
                    std::future::pending::<()>().await;
                    Ok::<_, Interrupted>(())
                }),
            )
            .await;
        })
        .unwrap()
        .await
        .unwrap();
        let budget = 50 * MS;
        let drained = svc.drain(budget).await;
        assert_eq!(
            drained,
            Err(scope_runtime::DrainError::Overrun {
                still_running: 0,
                budget
            })
        );
        assert_eq!(
            drained.unwrap_err().to_string(),
            "work left by the service's ended tasks still running after the drain budget of 50ms"
        );
        assert_eq!(svc.drain(Duration::from_secs(10)).await, Ok(()));
    });
}

/// A value whose destructor panics (unless a panic is unwinding already).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        assert!(std::thread::panicking(), "{}", self.0);
    }
}

/// A future that is ready at once, holding a value whose destructor panics.
struct ReadyThenPanicOnDrop {
    _held: PanicOnDrop,
}

impl std::future::Future for ReadyThenPanicOnDrop {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_of_a_scope_dropped_in_a_service_task_is_a_failure_of_the_service() {
    // A scope whose run the task drops (a timeout around it) holds an in-place child whose
    // destructor panics: no report of that scope carries it, so the service reports it (law
    // 5), under the name of the child that panicked. Before, it was printed and lost.
    let svc = Service::new(ServiceConfig::new("audit"));
    let task = svc
        .spawn_named("holder", async {
            let inner = &Scope::new(Config::new().name("inner").grace(Duration::from_secs(3600)));
            let run = inner.run(async {
                inner.spawn_in_place_named("bad-drop", async {
                    let _held = PanicOnDrop("dropped badly");
                    std::future::pending::<()>().await;
                });
                std::future::pending::<()>().await;
                Ok::<_, Interrupted>(())
            });
            let _ = tokio::time::timeout(MS, run).await;
            Ok::<_, Interrupted>(())
        })
        .unwrap();
    // The task itself returned.
    assert!(matches!(task.await, Ok(Ok(()))));
    let report = svc.stop().await;
    let failures: Vec<(String, bool)> = report
        .failures()
        .iter()
        .map(|f| (f.to_string(), f.panicked()))
        .collect();
    assert_eq!(
        failures,
        [("task `bad-drop` panicked: dropped badly".to_owned(), true)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_dropping_a_service_tasks_work_or_unread_output_is_that_tasks_panic() {
    // Before, tokio's task swallowed both: the service reported a clean drop, or nothing.
    let svc = Service::new(ServiceConfig::new("audit").grace(10 * MS));
    drop(
        svc.spawn_named("stuck", async {
            let _held = PanicOnDrop("dropped badly");
            std::future::pending::<()>().await;
        })
        .unwrap(),
    );
    // Its handle is dropped at once: nobody reads the output, which is dropped for it.
    drop(
        svc.spawn_named("unread", async {
            sleep(MS).await;
            Ok::<_, String>(PanicOnDrop("output dropped badly"))
        })
        .unwrap(),
    );
    // A work whose own destructor panics after it returned: its handle reads the panic.
    let done = svc
        .spawn_named(
            "done",
            ReadyThenPanicOnDrop {
                _held: PanicOnDrop("work dropped badly"),
            },
        )
        .unwrap();
    match done.await {
        Err(Interrupted::Panicked(p)) => assert_eq!(p.message(), "work dropped badly"),
        other => panic!("expected the task's panic, got {other:?}"),
    }
    sleep(5 * MS).await;
    let report = svc.stop().await;
    assert_eq!(report.aborted().len(), 1);
    let mut failures: Vec<(String, bool)> = report
        .failures()
        .iter()
        .map(|f| (f.to_string(), f.panicked()))
        .collect();
    failures.sort();
    assert_eq!(
        failures,
        [
            ("task `done` panicked: work dropped badly".to_owned(), true),
            ("task `stuck` panicked: dropped badly".to_owned(), true),
            (
                "task `unread` panicked: output dropped badly".to_owned(),
                true
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_dropping_a_finished_tasks_output_with_its_handle_is_that_tasks_panic() {
    // The task has ended and sent its output; its handle is dropped unread. The destructor's
    // panic was swallowed by the handle's drop (the service reported nothing), while the same
    // handle dropped before the task's end made it the task's panic.
    let svc = Service::new(ServiceConfig::new("audit"));
    let handle = svc
        .spawn_named("late", async {
            Ok::<_, String>(PanicOnDrop("output dropped late"))
        })
        .unwrap();
    sleep(MS).await;
    assert!(handle.is_finished());
    drop(handle);
    let report = svc.stop().await;
    let failures: Vec<(String, bool)> = report
        .failures()
        .iter()
        .map(|f| (f.to_string(), f.panicked()))
        .collect();
    assert_eq!(
        failures,
        [("task `late` panicked: output dropped late".to_owned(), true)]
    );
    // Once the service is gone, the panic is the dropping code's: not lost.
    let svc = Service::new(ServiceConfig::new("gone"));
    let handle = svc
        .spawn(async { Ok::<_, String>(PanicOnDrop("output dropped after the service")) })
        .unwrap();
    let _ = svc.stop().await;
    drop(svc);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(handle)));
    let payload = dropped.expect_err("the destructor's panic was lost");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("output dropped after the service")
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_unwinding_from_a_panic_ends_the_context_without_a_second_panic() {
    // The application's context ends as the run unwinds; a cancel callback that panics then
    // must not make a second panic (which would abort the process): the work's panic goes on.
    let app = App::new();
    let _callback = app.cx().on_cancel(|_| panic!("callback"));
    let run = app.run(
        Duration::from_secs(1),
        futures_util::stream::pending(),
        async {
            sleep(MS).await;
            panic!("main work bug");
        },
    );
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let payload = out.expect_err("the work's panic goes on");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main work bug"));
    assert!(app.cx().cause().unwrap().is_finished());
}

// ---------------------------------------------------------------------------------------------
// Law 9 for one service task: cancelled alone it gets the service's grace, then it is dropped;
// cancelled while it waits for a worker it never starts; and the forced ends wait for a
// budgeted shield, as a scope's do.

#[tokio::test(start_paused = true)]
async fn law9_a_service_task_cancelled_alone_is_dropped_after_the_grace() {
    let svc = Service::new(ServiceConfig::new("sync").grace(10 * MS));
    let slow = svc.spawn(std::future::pending::<()>()).unwrap();
    tokio::task::yield_now().await;
    let start = Instant::now();
    slow.cancel("not needed");
    let out = tokio::time::timeout(Duration::from_secs(1), slow)
        .await
        .expect("dropped a grace after its cancel, not at its hard stop");
    assert_eq!(start.elapsed(), 10 * MS, "after the grace, not before");
    let err = out.expect_err("it did not complete");
    assert!(
        matches!(
            err.cause(),
            Some(Cause::Explicit { .. } | Cause::ParentCancelled(_))
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not needed"), "{err}");
    assert_eq!(svc.active(), 0);
    let failures = svc.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
}

#[tokio::test(start_paused = true)]
async fn law9_a_queued_service_task_cancelled_by_its_handle_never_starts() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let svc = Service::new(ServiceConfig::new("pool").workers(1));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    svc.spawn(async move {
        let _ = rx.await;
    })
    .unwrap()
    .detach();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let queued = svc.spawn(async move { r.store(true, SeqCst) }).unwrap();
    tokio::task::yield_now().await;
    queued.cancel("not needed");
    let out = queued.await;
    assert!(matches!(out, Err(Interrupted::NotStarted(_))), "{out:?}");
    assert!(!ran.load(SeqCst));
    tx.send(()).unwrap();
    svc.drain(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn law9_a_shielded_flush_in_a_service_task_past_its_deadline_gets_its_budget() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let svc = Service::new(
        ServiceConfig::new("audit")
            .task_timeout(100 * MS)
            .grace(10 * MS),
    );
    let flushed = Arc::new(AtomicBool::new(false));
    let f = flushed.clone();
    let task = svc
        .spawn(async move {
            scope_runtime::cancelled().await; // its own deadline: wind down
            shield_for(Duration::from_secs(1), async move {
                sleep(200 * MS).await; // the flush
                f.store(true, SeqCst);
            })
            .await
            .map_err(|e| e.to_string())
        })
        .unwrap();
    let start = Instant::now();
    let out = task.await;
    assert!(flushed.load(SeqCst), "the flush ran to its end: {out:?}");
    assert_eq!(start.elapsed(), 300 * MS, "the deadline, then the flush");
    assert_eq!(out.unwrap(), Ok(()));
}

#[test]
fn a_service_without_a_task_timeout_runs_on_a_runtime_without_timers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap(); // no timers
    rt.block_on(async {
        let svc = Service::new(ServiceConfig::new("audit").task_timeout(Duration::MAX));
        let task = svc.spawn(async { Ok::<_, String>(7) }).unwrap();
        assert_eq!(task.await.unwrap(), Ok(7));
        let slow = svc.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        assert!(!slow.is_finished());
    });
}

/// A task its runtime dropped (shut down under it) is not one someone aborted: its handle
/// said "service task aborted", where the stop's report said "its runtime shut down" (an
/// outside tester's report).
#[test]
fn a_task_its_runtime_dropped_says_so_in_its_handle() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let svc = Service::new(ServiceConfig::new("audit"));
    let (handle, started) = rt.block_on(async {
        let (tx, started) = tokio::sync::oneshot::channel();
        let handle = svc
            .spawn(async move {
                tx.send(()).unwrap();
                std::future::pending::<Result<(), String>>().await
            })
            .unwrap();
        (handle, started)
    });
    rt.block_on(started).unwrap();
    drop(rt);
    let out = common::block_on(handle);
    let Err(Interrupted::Cancelled(c)) = &out else {
        panic!("the task's end: {out:?}");
    };
    assert_eq!(c.cause().root().to_string(), "its runtime shut down");
}

/// An application's run where no timer runs (no runtime, or one built without timers) is
/// refused before anything starts, with a typed error: its shutdown's budgets are timed on
/// tokio's timer, and tokio panicked at the first signal (an outside tester's report).
#[test]
fn an_application_run_without_a_timer_is_refused() {
    let without_timers = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for on_a_runtime in [false, true] {
        let app = App::new();
        let run = app.run(
            Duration::ZERO,
            futures_util::stream::iter([Signal::Terminate]),
            std::future::pending::<()>(),
        );
        let (out, report) = if on_a_runtime {
            without_timers.block_on(run)
        } else {
            common::block_on(run)
        };
        assert_eq!(out, None);
        assert!(
            matches!(report.refused(), Some(ConfigError::NoTimer { .. })),
            "{report:?}"
        );
        assert!(
            !app.cx().is_cancelled(),
            "the application is left as it was"
        );
    }
}

/// A stop with no grace to time, of a service with nothing left to abort, needs no timer (an
/// outside tester's report: it panicked with tokio's "timers are disabled" on a runtime
/// without them, even with no task). (A task to abort still needs one: the stop waits for it
/// within a bound, as `stop`'s docs say.)
#[test]
fn a_stop_with_no_grace_and_nothing_to_abort_needs_no_timer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap(); // no timers
    rt.block_on(async {
        let svc = Service::new(ServiceConfig::new("mailer").daemon().grace(Duration::ZERO));
        let done = svc.spawn(async { Ok::<_, String>(7) }).unwrap();
        assert_eq!(done.await.unwrap(), Ok(7));
        let report = svc.stop().await;
        assert!(report.aborted().is_empty(), "{report:?}");
        let idle = Service::new(ServiceConfig::new("idle"));
        assert!(idle.drain(Duration::ZERO).await.is_ok());
        // With a grace and a budget, but nothing left to wait for: no timer either (an
        // outside sweep's find: tokio's panic, the timer made before the look).
        let quiet = Service::new(ServiceConfig::new("quiet").task_timeout(Duration::MAX));
        let done = quiet.spawn(async { Ok::<_, String>(1) }).unwrap();
        assert_eq!(done.await.unwrap(), Ok(1));
        assert!(quiet.drain(Duration::from_secs(5)).await.is_ok());
        let report = quiet.stop().await;
        assert!(report.is_clean(), "{report:?}");
    });
}

/// Outside any runtime (a service stopped from a destructor driven by another executor, say),
/// `drain` and `stop` look once and wait for nothing, as a scope's grace is not waited there;
/// they panicked with tokio's "there is no reactor running" (an outside tester's report), while
/// `spawn` there gives `SpawnError::NoRuntime`.
#[test]
fn drain_and_stop_outside_a_runtime_look_once_without_a_panic() {
    use futures_util::FutureExt;
    let svc = Service::new(ServiceConfig::new("audit"));
    assert!(matches!(
        svc.spawn(async {}).map(drop),
        Err(SpawnError::NoRuntime)
    ));
    let drained = svc.drain(Duration::from_secs(5)).now_or_never();
    assert_eq!(
        drained.map(|d| d.is_ok()),
        Some(true),
        "nothing runs: drained"
    );
    let other = Service::new(ServiceConfig::new("mailer"));
    let report = other
        .stop()
        .now_or_never()
        .expect("the stop waits for nothing");
    assert!(report.aborted().is_empty() && report.stopped().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_service_made_while_the_services_drain_is_drained_too() {
    let app = App::new();
    let log: Log = Arc::default();
    let l = log.clone();
    let (_, report) = app
        .run(
            Duration::from_secs(10),
            futures_util::stream::pending(),
            async move {
                let first = Service::new(ServiceConfig::new("first"));
                first
                    .spawn(async move {
                        sleep(10 * MS).await;
                        // Made under the application (the task keeps its slots): it owns it.
                        let late = Service::new(ServiceConfig::new("late"));
                        late.spawn(async move {
                            sleep(100 * MS).await;
                            note(&l, "late work done");
                        })
                        .unwrap()
                        .detach();
                    })
                    .unwrap()
                    .detach();
            },
        )
        .await;
    assert_eq!(app.services().len(), 2, "`late` was adopted");
    assert_eq!(*log.lock().unwrap(), ["late work done"], "{report}");
    let drained: Vec<_> = report.drained().iter().map(ToString::to_string).collect();
    assert_eq!(drained.len(), 2, "{report}");
    assert!(drained.iter().any(|d| d.contains("late")), "{report}");
}

#[tokio::test(start_paused = true)]
async fn active_counts_the_services_tasks_not_their_scopes_children() {
    let svc = Service::new(ServiceConfig::new("fan-out"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    svc.spawn(async move {
        let s = &scope_runtime::Scope::new(scope_runtime::Config::new());
        s.run(async {
            for _ in 0..3 {
                drop(s.spawn(async {
                    sleep(Duration::from_secs(1)).await;
                    Ok::<_, Interrupted>(())
                }));
            }
            let _ = rx.await;
            Ok::<_, Interrupted>(())
        })
        .await
    })
    .unwrap()
    .detach();
    tokio::task::yield_now().await;
    assert_eq!(svc.active(), 1, "one task, whatever its scopes run");
    let budget = 10 * MS;
    assert_eq!(
        svc.drain(budget).await,
        Err(scope_runtime::DrainError::Overrun {
            still_running: 1,
            budget
        })
    );
    drop(tx);
    svc.drain(Duration::from_secs(2)).await.unwrap();
    assert_eq!(svc.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_report_names_an_aborted_task_once_and_counts_the_failures_not_kept() {
    let (_, report) = App::new()
        .run(10 * MS, futures_util::stream::pending(), async {
            let svc = Service::new(ServiceConfig::new("audit").grace(10 * MS));
            svc.spawn_named("stuck", std::future::pending::<()>())
                .unwrap()
                .detach();
        })
        .await;
    let text = report.to_string();
    assert_eq!(text.matches("stuck").count(), 1, "named once: {text}");

    let (_, report) = App::new()
        .run(10 * MS, futures_util::stream::pending(), async {
            let svc = Service::new(ServiceConfig::new("audit"));
            for _ in 0..300 {
                svc.spawn(async { Err::<(), _>("disk full") })
                    .unwrap()
                    .detach();
            }
        })
        .await;
    assert_eq!(report.failures().len(), 256);
    assert_eq!(report.failures_lost(), 300 - 256);
    let text = report.to_string();
    assert!(text.contains("44 more failures were not kept"), "{text}");
}

/// `Duration::MAX` is "no limit" for a service's grace too: a task cancelled alone cleans up
/// for as long as it takes (it panicked on the overflow, in the task's poll).
#[tokio::test(start_paused = true)]
async fn a_service_grace_of_duration_max_is_no_limit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let svc = Service::new(
        ServiceConfig::new("s")
            .grace(Duration::MAX)
            .task_timeout(Duration::MAX),
    );
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let h = svc
        .spawn(async move {
            scope_runtime::cancelled().await;
            // Clean-up after the cancel, for 40 years: "no limit" saturated 30 years off.
            let forty_years = Duration::from_secs(60 * 60 * 24 * 365 * 40);
            sleep_until(Instant::now() + forty_years).await; // not `sleep`: it stops at 30 years
            d.store(true, Ordering::SeqCst);
        })
        .unwrap();
    tokio::task::yield_now().await;
    h.cancel("stop");
    svc.drain(Duration::MAX).await.unwrap();
    assert!(done.load(Ordering::SeqCst), "the clean-up was cut");
}

/// A service task that keeps entering budgeted shields after its grace ran out is still
/// stopped: only the shield under way when the stop's grace ran out is waited for.
#[tokio::test(start_paused = true)]
async fn a_service_stop_waits_only_for_the_shields_under_way_when_its_grace_ran_out() {
    let svc = Service::new(ServiceConfig::new("s").grace(Duration::from_millis(5)));
    svc.spawn(async {
        for _ in 0..u32::MAX {
            let _ =
                scope_runtime::shield_for(Duration::from_secs(1), sleep(Duration::from_millis(10)))
                    .await;
        }
    })
    .unwrap()
    .detach();
    tokio::task::yield_now().await;
    let start = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(60), svc.stop()).await;
    assert!(stopped.is_ok(), "the stop never ended");
    assert!(
        start.elapsed() <= Duration::from_millis(20),
        "took {:?}",
        start.elapsed()
    );
}

/// A signal that came while the main work could not be polled (it blocked its thread) and is
/// there when the work ends is reported, not lost: the shutdown began with it.
#[tokio::test(start_paused = true)]
async fn a_signal_waiting_when_the_main_work_ends_is_reported() {
    let (out, report) = App::new()
        .run(
            Duration::from_secs(10),
            futures_util::stream::iter([Signal::Terminate]),
            async { 7 },
        )
        .await;
    assert_eq!(out, Some(7));
    assert_eq!(report.signal(), Some(&Signal::Terminate), "{report}");
    assert!(report.is_clean(), "{report}");
}

/// With a grace of zero, a main work that answers the signal at once is not forced.
/// A work whose scope takes the application's grace and whose body ignores the shutdown
/// ends as the grace runs out, with the interruption its scope returns then: `run` gives that
/// output, and the report says the grace forced it (an outside tester, probe96, read the
/// two as contradicting each other; `Forced::GraceRanOut`'s docs now say both cases).
#[tokio::test(start_paused = true)]
async fn a_work_whose_scope_ran_out_of_the_same_grace_returns_its_interruption_and_is_forced() {
    let app = App::new();
    let (out, report) = app
        .run(
            Duration::from_secs(2),
            signals_at(&[(10, Signal::Terminate)]),
            async {
                let s = &scope_runtime::Scope::new(scope_runtime::Config::new());
                s.run(async {
                    s.spawn(async {
                        scope_runtime::cancelled().await;
                        sleep(Duration::from_millis(500)).await; // a clean-up within the grace
                        Ok::<_, Interrupted>(())
                    });
                    std::future::pending::<()>().await; // ignores the shutdown
                    Ok::<_, Interrupted>(())
                })
                .await
            },
        )
        .await;
    let Some(Err(Interrupted::Cancelled(c))) = &out else {
        panic!("the scope's interruption: {out:?}");
    };
    assert!(matches!(c.cause().root(), Cause::Shutdown { .. }), "{c}");
    assert_eq!(
        report.forced(),
        Some(&Forced::GraceRanOut {
            grace: Duration::from_secs(2)
        })
    );
    assert_eq!(report.main_ended_after(), Some(Duration::from_secs(2)));
}

#[tokio::test(start_paused = true)]
async fn a_zero_grace_with_a_work_that_returns_at_once_is_not_forced() {
    let report = zero_grace_work_answering_at_once().await;
    assert!(report.is_clean(), "{report}");
}

/// A run with no grace whose work answers the signal at once: it returns its value, and the
/// shutdown is not forced.
async fn zero_grace_work_answering_at_once() -> ShutdownReport {
    let (out, report) = App::new()
        .run(
            Duration::ZERO,
            futures_util::stream::iter([Signal::Terminate]),
            async {
                scope_runtime::cancelled().await;
                7
            },
        )
        .await;
    assert_eq!(out, Some(7));
    assert_eq!(report.forced(), None, "{report}");
    report
}

/// After a second signal the run returns at once, and the services it owns do not run on:
/// closed, cancelled and aborted.
#[tokio::test(start_paused = true)]
async fn after_a_second_signal_the_applications_services_are_aborted() {
    let app = App::new();
    let (out, report) = app
        .run(
            Duration::from_secs(10),
            futures_util::stream::iter([Signal::Terminate, Signal::Interrupt]),
            async {
                let audit = Service::new(ServiceConfig::new("audit"));
                audit
                    .spawn_named("slow-record", sleep(Duration::from_secs(20)))
                    .unwrap()
                    .detach();
                std::future::pending::<()>().await;
            },
        )
        .await;
    assert_eq!(out, None);
    assert_eq!(
        report.forced(),
        Some(&Forced::SecondSignal(Signal::Interrupt))
    );
    let audit = &app.services()[0];
    assert!(audit.is_closed(), "still accepting after the run returned");
    tokio::task::yield_now().await; // the abort reaches the task
    assert_eq!(
        audit.active(),
        0,
        "the service's task outlived the run: {report}"
    );
}

/// A service task stuck in a blocking call (an `fsync`, a synchronous client) cannot be
/// aborted: the stop does not wait for it past a bound of its own, and names it aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_task_stuck_in_a_blocking_call_does_not_hold_the_stop() {
    let svc = Service::new(ServiceConfig::new("sync-writer").grace(Duration::from_millis(100)));
    let (up, is_up) = tokio::sync::oneshot::channel::<()>();
    svc.spawn_named("fsync", async move {
        let _ = up.send(());
        std::thread::sleep(Duration::from_secs(4)); // blocks its worker
    })
    .unwrap()
    .detach();
    is_up.await.expect("it has started");
    let start = std::time::Instant::now();
    let report = svc.stop().await;
    // The grace (100 ms) and the bound after the abort (1 s); the call itself takes 4 s.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}: {report}",
        start.elapsed()
    );
    assert_eq!(report.aborted()[0].name(), Some("fsync"), "{report}");
}

/// A request in flight below a nested scope with no grace of its own gets the shutdown's: a
/// scope whose grace is unset, cancelled by the application's shutdown, gives its children its
/// enclosing scope's grace, so `#[scope::main]` → `#[scoped] async fn serve()` → a spawned
/// handler drains within the program's grace instead of being cut at the signal.
#[tokio::test(start_paused = true)]
async fn a_request_in_flight_below_a_nested_scope_gets_the_shutdowns_grace() {
    use scope_runtime::{Config, Scope};
    use std::sync::atomic::{AtomicBool, Ordering};
    let answered = Arc::new(AtomicBool::new(false));
    let a = answered.clone();
    let (out, report) = App::new()
        .run(
            Duration::from_secs(10),
            signals_at(&[(100, Signal::Terminate)]),
            async move {
                // What `#[scope::main]` makes: the main scope, with the program's grace.
                let main = &Scope::new(Config::new().name("main").grace(Duration::from_secs(10)));
                main.run(async move {
                    // `#[scoped] async fn serve()`: no grace of its own.
                    let serve = &Scope::new(Config::new().name("serve"));
                    serve
                        .run(async move {
                            // A request in flight: it answers after 2 s.
                            serve.spawn_named("request", async move {
                                sleep(Duration::from_secs(2)).await;
                                a.store(true, Ordering::SeqCst);
                            });
                            scope_runtime::cancelled().await; // stop accepting
                            Ok::<_, Interrupted>(())
                        })
                        .await
                })
                .await
            },
        )
        .await;
    assert!(
        answered.load(Ordering::SeqCst),
        "the request in flight was cut at the signal"
    );
    assert!(matches!(out, Some(Ok(()))) && report.is_clean(), "{report}");

    // A grace set to zero on purpose stays zero.
    let answered = Arc::new(AtomicBool::new(false));
    let a = answered.clone();
    let _ = App::new()
        .run(
            Duration::from_secs(10),
            signals_at(&[(100, Signal::Terminate)]),
            async move {
                let main = &Scope::new(Config::new().grace(Duration::from_secs(10)));
                main.run(async move {
                    let serve = &Scope::new(Config::new().grace(Duration::ZERO));
                    serve
                        .run(async move {
                            serve.spawn(async move {
                                sleep(Duration::from_secs(2)).await;
                                a.store(true, Ordering::SeqCst);
                            });
                            scope_runtime::cancelled().await;
                            Ok::<_, Interrupted>(())
                        })
                        .await
                })
                .await
            },
        )
        .await;
    assert!(
        !answered.load(Ordering::SeqCst),
        "an explicit zero grace is kept"
    );
}

/// Law 4 under the shutdown: a nested scope with a deadline but no grace of its own, cancelled
/// by the application's shutdown, gives its children the enclosing scope's grace only up to its
/// own deadline. A request with `timeout = 2s` waiting on a backend that never answers ends at
/// its deadline, as it would without the signal, not at the end of the program's grace (which
/// would also make a clean shutdown a forced one).
#[tokio::test(start_paused = true)]
async fn law4_a_nested_scopes_deadline_still_bounds_it_under_the_shutdowns_grace() {
    use scope_runtime::{Config, Scope};
    let start = Instant::now();
    let (out, report) = App::new()
        .run(
            Duration::from_secs(60),
            signals_at(&[(100, Signal::Terminate)]),
            async move {
                let main = &Scope::new(Config::new().name("main").grace(Duration::from_secs(30)));
                main.run(async move {
                    // `#[scoped(timeout = 2s)] async fn request()`: no grace of its own.
                    let request = &Scope::new(
                        Config::new()
                            .name("request")
                            .timeout(Duration::from_secs(2)),
                    );
                    let r = request
                        .run(async move {
                            // A backend that never answers and does not look at the cancel.
                            request
                                .spawn_named("backend", sleep(Duration::from_secs(3600)))
                                .await?;
                            Ok::<_, Interrupted>(())
                        })
                        .await;
                    Ok::<_, Interrupted>((r, start.elapsed()))
                })
                .await
            },
        )
        .await;
    let (r, took) = out.unwrap().expect(
        "main's body was dropped at the end of its grace: the request outlived its deadline",
    );
    assert!(
        took <= Duration::from_secs(2),
        "the request outlived its deadline: {took:?}"
    );
    assert!(r.is_err(), "{r:?}");
    assert!(report.is_clean(), "{report}");
}

/// The same on the real clock: a work that answers the signal at once is not forced, though
/// some time always passes.
#[tokio::test]
async fn a_zero_grace_with_a_work_that_returns_at_once_is_not_forced_on_the_real_clock() {
    // (Not forced: checked inside.)
    let _report = zero_grace_work_answering_at_once().await;
}

/// Law 9 for a service whose stop is given less time than its grace
/// (`timeout(d, svc.stop())`, a `select!` against a second Ctrl-C): the stop's future is dropped
/// in the middle of the grace, so it never aborts anything; each task's own grace applies
/// again, and one that ignores its cancel is dropped when it runs out.
#[tokio::test(start_paused = true)]
async fn law9_a_stop_dropped_part_way_still_ends_its_tasks_after_the_grace() {
    let svc = Service::new(ServiceConfig::new("stubborn").grace(100 * MS));
    let ignores = svc
        .spawn_named("ignores-cancel", std::future::pending::<()>())
        .unwrap();
    let late = svc
        .spawn_named("ignores-cancel-too", std::future::pending::<()>())
        .unwrap();
    tokio::task::yield_now().await; // both have started
    let start = Instant::now();
    assert!(tokio::time::timeout(10 * MS, svc.stop()).await.is_err());
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(svc.active(), 0, "a cancelled task outlived its grace");
    assert!(ignores.is_finished() && late.is_finished());
    let Err(Interrupted::Cancelled(c)) = ignores.await else {
        panic!("not dropped as cancelled")
    };
    assert!(matches!(c.cause().root(), Cause::Shutdown { .. }), "{c}");
    assert!(start.elapsed() >= 100 * MS);

    // A task whose own grace runs out while a stop is under way leaves its end to that stop;
    // the stop dropped before its abort, the task ends at once (it was woken), not never.
    let svc = Service::new(ServiceConfig::new("stubborn-2").grace(100 * MS));
    let t = svc.spawn(std::future::pending::<()>()).unwrap();
    tokio::task::yield_now().await;
    t.cancel("alone"); // its grace ends at 100 ms
    sleep(50 * MS).await;
    let mut stop = Box::pin(svc.stop()); // its grace ends at 150 ms
    assert!(tokio::time::timeout(70 * MS, stop.as_mut()).await.is_err()); // dropped at 120 ms
    assert!(!t.is_finished(), "left to the stop under way");
    let dropped_at = Instant::now();
    drop(stop);
    while !t.is_finished() {
        tokio::task::yield_now().await;
        assert_eq!(
            Instant::now(),
            dropped_at,
            "not woken when the stop was dropped"
        );
    }
    assert_eq!(svc.active(), 0);

    // An `on_cancel` that panics inside the stop's cancel unwinds out of `stop`: the same.
    let svc = Service::new(ServiceConfig::new("stubborn-3").grace(100 * MS));
    let t = svc
        .spawn(async {
            let _cb = scope_runtime::Cx::current().on_cancel(|_| panic!("callback"));
            std::future::pending::<()>().await;
        })
        .unwrap();
    tokio::task::yield_now().await;
    let stopped = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(svc.stop()));
    assert!(stopped.await.is_err());
    sleep(Duration::from_secs(1)).await;
    assert!(t.is_finished(), "the task outlived a stop that unwound");
}

/// A drain that returned has every drained task's outcome ready at its handle: a task hands
/// its outcome over before it counts itself gone (before, a drainer on another thread could
/// return in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_services_handles_are_finished() {
    for round in 0..2_000 {
        let svc = Service::new(ServiceConfig::new("quick"));
        let task = svc.spawn(async {}).unwrap();
        svc.drain(Duration::from_secs(1)).await.unwrap();
        assert!(task.is_finished(), "round {round}: drained, yet no outcome");
    }
}

/// A second signal ends the shutdown at once, and the report still says what it cut short:
/// the services' failures not read before, and the tasks it aborted, by name; what an aborted
/// task's failure says is what happened (no grace was given).
#[tokio::test(start_paused = true)]
async fn a_second_signal_still_reports_the_services_failures_and_what_it_aborted() {
    let app = App::new();
    let (_, report) = app
        .run(
            Duration::from_secs(10),
            signals_at(&[(100, Signal::Terminate), (200, Signal::Interrupt)]),
            async {
                let audit = Service::new(ServiceConfig::new("audit"));
                audit
                    .spawn_named("r-1", async { Err::<(), _>("disk full") })
                    .unwrap()
                    .detach();
                audit
                    .spawn_named("r-2", sleep(Duration::from_secs(20)))
                    .unwrap()
                    .detach();
                std::future::pending::<()>().await;
            },
        )
        .await;
    assert_eq!(
        report.forced(),
        Some(&Forced::SecondSignal(Signal::Interrupt))
    );
    let text = report.to_string();
    assert!(text.contains("disk full"), "{text}");
    assert!(text.contains("r-2"), "{text}");
    tokio::task::yield_now().await; // the abort reaches r-2
    let kept = app.services()[0].failures();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let said = kept[0].to_string();
    assert!(!said.contains("grace"), "{said}");
    assert!(said.contains("second signal"), "{said}");
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_after_one_stop_ended_keeps_that_stops_report() {
    // The services with work left after the drain are stopped together; `fast` (grace
    // 100 ms) has been stopped, `slow` (grace 10 s) is still stopping when the second signal
    // comes. The stops' reports went into the shutdown's report only once every stop had
    // ended: the second signal dropped `fast`'s finished report, whose stop had taken its
    // unread failures, so its failure and its aborted task were said nowhere, and its
    // `failures()` was empty.
    let app = App::new();
    let (_, report) = app
        .run(
            Duration::from_secs(1),
            signals_at(&[(100, Signal::Terminate), (3_000, Signal::Interrupt)]),
            async {
                let fast =
                    Service::new(ServiceConfig::new("fast").grace(Duration::from_millis(100)));
                fast.spawn_named("f-err", async { Err::<(), _>("disk full") })
                    .unwrap()
                    .detach();
                fast.spawn_named("f-stuck", std::future::pending::<()>())
                    .unwrap()
                    .detach();
                let slow = Service::new(ServiceConfig::new("slow").grace(Duration::from_secs(10)));
                slow.spawn_named("s-stuck", std::future::pending::<()>())
                    .unwrap()
                    .detach();
                std::future::pending::<()>().await;
            },
        )
        .await;
    assert_eq!(
        report.forced(),
        Some(&Forced::SecondSignal(Signal::Interrupt))
    );
    let text = report.to_string();
    assert!(text.contains("disk full"), "{text}");
    assert!(text.contains("f-stuck"), "{text}");
    assert!(text.contains("s-stuck"), "{text}");
    assert_eq!(text.matches("disk full").count(), 1, "said once: {text}");
}

/// Workers take the queued tasks in the order they were accepted, also when the spawns come
/// from a task of a multi-thread runtime (where each new task takes its worker's LIFO slot,
/// and would otherwise join the line at its first poll, out of order).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn workers_take_tasks_in_the_order_they_were_accepted() {
    let pool = Service::new(ServiceConfig::new("pool").workers(1));
    let order = Arc::new(Mutex::new(Vec::new()));
    let (p, o) = (pool.clone(), order.clone());
    // A request handler: it runs on the worker thread.
    tokio::spawn(async move {
        for i in 0..3 {
            let o = o.clone();
            p.spawn(async move { o.lock().unwrap().push(i) })
                .unwrap()
                .detach();
        }
    })
    .await
    .unwrap();
    pool.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_the_program_requests_is_the_applications_shutdown() {
    // An admin endpoint, or a fatal condition a handler finds: the program asks for the
    // shutdown. Its grace bounds the main work, and the report says who asked.
    let app = App::new();
    let asked = app.clone();
    let start = Instant::now();
    let run = app.run(
        Duration::from_secs(2),
        futures_util::stream::pending(),
        async move {
            sleep(100 * MS).await;
            asked.request_shutdown("the admin asked");
            std::future::pending::<()>().await; // ignores it
        },
    );
    let (out, report) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no timer bounded the shutdown the program asked for");
    assert_eq!(out, None);
    assert_eq!(
        report.signal(),
        Some(&Signal::Requested("the admin asked".into()))
    );
    assert_eq!(
        report.forced(),
        Some(&Forced::GraceRanOut {
            grace: Duration::from_secs(2)
        })
    );
    assert_eq!(start.elapsed(), 2_100 * MS);

    // The context cancelled by hand with a shutdown cause is the same request.
    let app = App::new();
    let cx = app.cx().clone();
    let (out, report) = app
        .run(
            Duration::from_secs(2),
            futures_util::stream::pending(),
            async move {
                cx.cancel_with(Cause::Shutdown {
                    signal: Signal::Requested("fatal".into()),
                });
                scope_runtime::cancelled().await;
                7
            },
        )
        .await;
    assert_eq!(out, Some(7));
    assert_eq!(report.signal(), Some(&Signal::Requested("fatal".into())));
    assert_eq!(report.forced(), None);
    // Said as a request, not as a signal (an outside tester read "shutdown requested by
    // request (fatal)" and "the main work ended .. after the signal").
    let cause = Cause::Shutdown {
        signal: Signal::Requested("fatal".into()),
    };
    assert_eq!(cause.to_string(), "shutdown requested: fatal");
    let said = report.to_string();
    assert!(said.contains("after the request"), "{said}");
    assert!(!said.contains("after the signal"), "{said}");
}

#[tokio::test]
async fn the_leak_check_does_not_excuse_a_service_task_waiting_for_a_worker() {
    use scope_runtime::testing::LeakCheck;
    let svc = Service::new(ServiceConfig::new("one").workers(1));
    let (go_tx, go) = tokio::sync::oneshot::channel::<()>();
    drop(svc.spawn(async move {
        let _ = go.await;
    }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let older = tokio::spawn(async move {
        let _ = rx.await;
    });
    tokio::task::yield_now().await;
    let check = LeakCheck::new(); // the baseline: the busy worker's task, and `older`
    drop(svc.spawn(async {})); // waits for the worker: it runs after the test
    tx.send(()).unwrap();
    older.await.unwrap(); // the count is back to the baseline
    let out = check.check().await;
    go_tx.send(()).unwrap();
    assert!(svc.stop().await.failures().is_empty());
    assert!(
        out.is_err(),
        "a service task waiting for a worker was excused"
    );
}

#[tokio::test(start_paused = true)]
async fn an_os_signal_after_a_requested_shutdown_is_not_a_second_signal() {
    // The program asks for the shutdown; the orchestrator's usual SIGTERM comes while it
    // drains: the drain goes on. Only a second OS signal cuts it short.
    let app = App::new();
    let asked = app.clone();
    let signals = signals_at(&[(200, Signal::Terminate)]);
    let (out, report) = app
        .run(Duration::from_secs(2), signals, async move {
            asked.request_shutdown("fatal");
            scope_runtime::cancelled().await;
            sleep(500 * MS).await; // a clean-up well within the grace
            7
        })
        .await;
    assert_eq!(report.forced(), None);
    assert_eq!(out, Some(7));

    let app = App::new();
    let asked = app.clone();
    let signals = signals_at(&[(200, Signal::Terminate), (300, Signal::Interrupt)]);
    let (out, report) = app
        .run(Duration::from_secs(2), signals, async move {
            asked.request_shutdown("fatal");
            scope_runtime::cancelled().await;
            sleep(500 * MS).await;
            7
        })
        .await;
    assert_eq!(
        report.forced(),
        Some(&Forced::SecondSignal(Signal::Interrupt))
    );
    assert_eq!(out, None);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_answers_the_stop_with_the_interruption_is_stopped_not_failed() {
    // `?` on the interruption is how scope code answers a cancel. Before, the stop's report
    // listed it as a failure ("task `poller` failed: cancelled: ..."), logged as one.
    let svc = Service::new(ServiceConfig::new("sync"));
    svc.spawn_named("poller", async {
        scope_runtime::run_until_cancelled(std::future::pending::<()>()).await?;
        Ok::<_, Interrupted>(())
    })
    .unwrap()
    .detach();
    tokio::task::yield_now().await;
    let report = svc.stop().await;
    assert_eq!(report.stopped()[0].name(), Some("poller"));
    assert!(report.failures().is_empty(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_answers_its_handles_cancel_with_an_error_is_not_a_failure() {
    let svc = Service::new(ServiceConfig::new("sync"));
    let task = svc
        .spawn_named("poller", async {
            scope_runtime::cancelled().await;
            Err::<(), String>("gave up".into())
        })
        .unwrap();
    tokio::task::yield_now().await;
    task.cancel("not needed");
    assert_eq!(task.await.unwrap(), Err("gave up".to_owned())); // its value, as it returned it
    assert!(svc.failures().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_task_that_fails_at_its_own_deadline_is_still_a_failure() {
    let svc = Service::new(ServiceConfig::new("sync").task_timeout(10 * MS));
    svc.spawn_named("slow", async {
        scope_runtime::run_until_cancelled(std::future::pending::<()>()).await?;
        Ok::<_, Interrupted>(())
    })
    .unwrap()
    .detach();
    sleep(20 * MS).await;
    let failures = svc.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_reports_the_queued_tasks_it_dropped() {
    // Before, the forced stop counted only the tasks that had started: the ones waiting for a
    // worker were dropped without a word.
    let app = App::new();
    let signals = signals_at(&[(100, Signal::Terminate), (200, Signal::Interrupt)]);
    let (_, report) = app
        .run(Duration::from_secs(10), signals, async {
            let pool = Service::new(ServiceConfig::new("pool").workers(1));
            pool.spawn_named("busy", sleep(Duration::from_secs(20)))
                .unwrap()
                .detach();
            sleep(10 * MS).await; // `busy` has the worker
            for _ in 0..3 {
                pool.spawn_named("queued", async {}).unwrap().detach();
            }
            std::future::pending::<()>().await;
        })
        .await;
    assert!(
        matches!(
            report.forced(),
            Some(Forced::SecondSignal(Signal::Interrupt))
        ),
        "{report}"
    );
    let pool = report
        .stopped()
        .iter()
        .find(|s| s.service().and_then(|i| i.name()) == Some("pool"))
        .unwrap_or_else(|| panic!("the pool is in the report: {report}"));
    assert_eq!(pool.aborted().len(), 1, "{report}");
    assert_eq!(pool.not_started(), 3, "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_callback_panic_fired_by_the_tasks_own_watch_is_the_tasks_panic() {
    // The work runs a scope that inherits the task's deadline, so only that scope (no alarm of
    // the callback's own) fires it for its callbacks; the task's watch of its context looked
    // first, and a panicking callback unwound through the task at its deadline: the work was
    // dropped without its grace, and the panic was lost ("dropped: deadline exceeded").
    let svc = Service::new(
        ServiceConfig::new("sync")
            .task_timeout(10 * MS)
            .grace(Duration::from_secs(1)),
    );
    let cleaned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let c = Arc::clone(&cleaned);
    let task = svc
        .spawn_named("flush", async move {
            // A grace of its own: its body answers the deadline.
            let s = &scope_runtime::Scope::new(scope_runtime::Config::new().grace(10 * MS));
            s.run(async {
                let _callback = s.cx().on_cancel(|_| panic!("callback"));
                scope_runtime::cancelled().await; // the task's deadline
                sleep(MS).await; // the clean-up the grace is for
                c.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, Interrupted>(())
            })
            .await
        })
        .unwrap();
    let out = task.await;
    svc.drain(Duration::from_secs(5)).await.unwrap();
    let failures = svc.failures();
    assert!(
        cleaned.load(std::sync::atomic::Ordering::SeqCst),
        "the work got its grace: {out:?} {failures:?}"
    );
    assert!(
        matches!(out, Err(Interrupted::Panicked(_))),
        "the callback's panic is the task's: {out:?}"
    );
    assert!(
        failures.iter().any(scope_runtime::TaskFailure::panicked),
        "the callback's panic is the service's failure: {failures:?}"
    );
}

/// A service (made under the application, so it is the application's) with one task that
/// never ends and whose context has an `on_cancel` callback that panics ("stop callback").
fn stubborn_with_a_panicking_callback(grace: Duration) {
    let stubborn = Service::new(ServiceConfig::new("stubborn").grace(grace));
    stubborn
        .spawn_named("hook", async {
            let _cb = scope_runtime::Cx::current().on_cancel(|_| panic!("stop callback"));
            std::future::pending::<()>().await;
        })
        .unwrap()
        .detach();
}

#[tokio::test(start_paused = true)]
async fn a_panicking_cancel_callback_does_not_abandon_the_applications_shutdown() {
    // The application's own cancels (the shutdown's, each service's stop) run the callbacks
    // of everything under them. One that panicked unwound out of `App::run` in phase 1: the
    // services were never drained, and a record queued in one was lost. The panic now
    // reaches the caller once the shutdown has done its work.
    let written = Arc::new(Mutex::new(Vec::<&str>::new()));
    let w = Arc::clone(&written);
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let app = App::new();
    let run = app.run(Duration::from_secs(5), signals, async move {
        audit_a_record(&w);
        stubborn_with_a_panicking_callback(50 * MS);
        let _cb = scope_runtime::Cx::current().on_cancel(|_| panic!("callback"));
        scope_runtime::cancelled().await;
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let payload = out.expect_err("the callback's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback"));
    assert_eq!(*written.lock().unwrap(), ["record written"]);
    for service in app.services() {
        assert!(service.is_closed(), "{} left open", service.info());
        assert_eq!(service.active(), 0, "{} left running", service.info());
    }
}

#[tokio::test(start_paused = true)]
async fn an_app_run_dropped_part_way_leaves_no_service_running() {
    let app = App::new();
    let run = app.run(
        Duration::from_secs(1),
        futures_util::stream::pending(),
        async {
            let poller = Service::new(ServiceConfig::new("poller").task_timeout(Duration::MAX));
            poller
                .spawn_named("poll", async {
                    scope_runtime::cancelled().await;
                })
                .unwrap()
                .detach();
            std::future::pending::<()>().await;
        },
    );
    // The caller gives up on the run (a `timeout`, a `select!`).
    assert!(tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .is_err());
    assert!(app.cx().is_cancelled());
    let poller = &app.services()[0];
    sleep(Duration::from_secs(60)).await;
    // Before, still accepting work, and its task ran on.
    assert!(poller.is_closed(), "still accepting work");
    assert_eq!(poller.active(), 0, "its task runs on");
}

#[tokio::test(start_paused = true)]
async fn a_daemon_service_that_stops_when_told_does_not_hold_the_shutdown() {
    // A consumer loop in a service cannot see the application's cancel (a service is not
    // cancelled with the main work), so the drain waited out the whole grace for it, and the
    // stop that followed made the shutdown "cut short" (exit 143). A daemon service's work is
    // cancelled when the services' turn comes, and one that ends within the grace is drained.
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let start = Instant::now();
    let stopped_with = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&stopped_with);
    let (_, report) = App::new()
        .run(Duration::from_secs(10), signals, async move {
            let daemons = Service::new(ServiceConfig::new("daemons").daemon());
            daemons
                .spawn_named("consumer", async move {
                    let cause = scope_runtime::cancelled().await;
                    *seen.lock().unwrap() = Some(cause);
                })
                .unwrap()
                .detach();
            scope_runtime::cancelled().await;
        })
        .await;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.drained().len(), 1, "{report}");
    let cause = stopped_with
        .lock()
        .unwrap()
        .clone()
        .expect("the daemon saw its stop");
    assert!(
        matches!(
            cause.root(),
            Cause::Shutdown {
                signal: Signal::Terminate
            }
        ),
        "{cause}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_daemon_service_has_no_task_deadline() {
    let daemons = Service::new(ServiceConfig::new("daemons").daemon());
    let task = daemons
        .spawn(async {
            sleep(Duration::from_secs(3600)).await;
            Ok::<_, Interrupted>(scope_runtime::Cx::current().deadline())
        })
        .unwrap();
    assert_eq!(task.await.unwrap().unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_callback_panic_of_a_stop_cut_short_by_a_second_signal_still_reaches_the_caller() {
    // The stops keep a callback's panic to resume it at the shutdown's end; a second signal
    // dropped the stops part way, and the panic with them: `App::run` returned normally.
    let signals = futures_util::stream::iter([Signal::Terminate, Signal::Interrupt]).then(
        |signal| async move {
            sleep(100 * MS).await;
            signal
        },
    );
    let app = App::new();
    let run = app.run(Duration::from_millis(50), signals, async {
        stubborn_with_a_panicking_callback(Duration::from_secs(1));
        scope_runtime::cancelled().await;
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let payload = out.expect_err("the callback's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"stop callback"));
    let stubborn = &app.services()[0];
    sleep(MS).await; // the abort takes effect at the task's next poll
    assert_eq!(stubborn.active(), 0, "the second signal aborted it");
}

#[tokio::test(start_paused = true)]
async fn a_daemon_is_stopped_in_its_turn_after_the_services_that_feed_it() {
    // The shutdown told every daemon to stop before any service drained: a daemon made first
    // (a writer) fed by a service made after it lost what that service still sent.
    let received = Arc::new(Mutex::new(0));
    let got = Arc::clone(&received);
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let (_, report) = App::new()
        .run(Duration::from_secs(10), signals, async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u8>(8);
            let writer = Service::new(ServiceConfig::new("writer").daemon());
            writer
                .spawn_named("write", async move {
                    loop {
                        tokio::select! {
                            message = rx.recv() => match message {
                                Some(_) => *got.lock().unwrap() += 1,
                                None => break,
                            },
                            _ = scope_runtime::cancelled() => break,
                        }
                    }
                })
                .unwrap()
                .detach();
            let jobs = Service::new(ServiceConfig::new("jobs"));
            jobs.spawn_named("send", async move {
                for i in 0..3 {
                    sleep(100 * MS).await; // still sending after the signal
                    let _ = tx.send(i).await;
                }
            })
            .unwrap()
            .detach();
            scope_runtime::cancelled().await;
        })
        .await;
    assert_eq!(*received.lock().unwrap(), 3, "{report}");
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_daemons_task_timeout_holds_whichever_comes_first() {
    for config in [
        ServiceConfig::new("d")
            .task_timeout(Duration::from_secs(60))
            .daemon(),
        ServiceConfig::new("d")
            .daemon()
            .task_timeout(Duration::from_secs(60)),
    ] {
        let daemons = Service::new(config);
        let task = daemons
            .spawn(async { Ok::<_, Interrupted>(scope_runtime::Cx::current().deadline()) })
            .unwrap();
        assert!(
            task.await.unwrap().unwrap().is_some(),
            "the given deadline holds"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_tasks_own_context_ends_with_the_task() {
    // As a scope child's: a clone kept elsewhere learns the task is over (not its deadline,
    // 30 s later by default, nor never for a daemon).
    for config in [
        ServiceConfig::new("jobs"),
        ServiceConfig::new("jobs").task_timeout(Duration::MAX),
        ServiceConfig::new("jobs").daemon(),
    ] {
        let svc = Service::new(config);
        let own = svc
            .spawn_named("job", async { Ok::<_, String>(Cx::current()) })
            .unwrap()
            .await
            .unwrap()
            .unwrap();
        let cause = tokio::time::timeout(Duration::from_secs(5), own.cancelled())
            .await
            .expect("a finished service task's context is still open");
        assert!(cause.is_finished(), "{cause}");
        assert_eq!(cause.to_string(), "scope `job` finished");
        assert!(svc.stop().await.is_clean());
    }
}

#[cfg(feature = "tokio-util")]
#[tokio::test]
async fn a_finished_service_tasks_token_keeps_nothing_alive_until_the_service_stops() {
    let probe = Arc::new(());
    let svc = Service::new(ServiceConfig::new("jobs").daemon());
    for _ in 0..100 {
        let p = Arc::clone(&probe);
        let token = svc
            .spawn(async move {
                let cx = Cx::current();
                drop(cx.on_cancel(move |_| drop(p)));
                Ok::<_, String>(cx.to_token())
            })
            .unwrap()
            .await
            .unwrap()
            .unwrap();
        drop(token);
    }
    assert_eq!(
        Arc::strong_count(&probe),
        1,
        "finished tasks' contexts kept by their links"
    );
    assert!(svc.stop().await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_daemon_that_ignores_the_shutdown_is_cut_short_not_drained() {
    // A consumer loop that never looks at its cancel is dropped when the service's grace runs
    // out after the shutdown's cancel: work cut short, as a plain service's loop is stopped.
    // It was reported drained, and the shutdown clean (so `#[scope::main]` exited 0).
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let start = Instant::now();
    let (_, report) = App::new()
        .run(Duration::from_secs(10), signals, async {
            let daemons = Service::new(
                ServiceConfig::new("consumers")
                    .daemon()
                    .grace(Duration::from_secs(1)),
            );
            daemons
                .spawn_named("queue", std::future::pending::<()>())
                .unwrap()
                .detach();
            daemons
                .spawn_named("polite", async {
                    scope_runtime::cancelled().await;
                })
                .unwrap()
                .detach();
            scope_runtime::cancelled().await;
        })
        .await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(report.drained().is_empty(), "{report}");
    assert!(!report.is_clean(), "{report}");
    let stop = &report.stopped()[0];
    let names = |tasks: &[scope_runtime::TaskInfo]| -> Vec<String> {
        tasks.iter().map(ToString::to_string).collect()
    };
    assert_eq!(names(stop.aborted()), ["queue"], "{report}");
    assert_eq!(names(stop.stopped()), ["polite"], "{report}");
    let failure = report.failures()[0].to_string();
    assert!(failure.contains("grace of 1s"), "{failure}");
}

#[tokio::test(start_paused = true)]
async fn a_daemons_tasks_dropped_unstarted_by_the_shutdown_are_reported() {
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let (_, report) = App::new()
        .run(Duration::from_secs(10), signals, async {
            let daemons = Service::new(ServiceConfig::new("consumers").daemon().workers(1));
            for i in 0..3 {
                daemons
                    .spawn_named(format!("consumer-{i}"), async {
                        scope_runtime::cancelled().await;
                    })
                    .unwrap()
                    .detach();
            }
            scope_runtime::cancelled().await;
        })
        .await;
    let never: usize = report
        .stopped()
        .iter()
        .map(scope_runtime::StopReport::not_started)
        .sum();
    assert_eq!(never, 2, "{report}");
    assert!(!report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_callback_on_a_drained_services_context_does_not_abandon_the_shutdown() {
    // A drain that finishes ends its service's context: a callback's panic there unwound out
    // of `App::run`, whose guard then aborted the services not drained yet.
    let written = Arc::new(Mutex::new(Vec::<&str>::new()));
    let w = Arc::clone(&written);
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let app = App::new();
    let run = app.run(Duration::from_secs(5), signals, async move {
        audit_a_record(&w); // made first: drained last
                            // Made second: drained first; its drain ends its context.
        let metrics = Service::new(ServiceConfig::new("metrics"));
        let cb = metrics.cx().on_cancel(|_| panic!("metrics callback"));
        std::mem::forget(cb); // stays registered
        scope_runtime::cancelled().await;
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let payload = out.expect_err("the callback's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"metrics callback"));
    assert_eq!(*written.lock().unwrap(), ["record written"]);
}

#[tokio::test(start_paused = true)]
async fn a_service_drain_resumes_a_callbacks_panic_after_its_work() {
    let svc = Service::new(ServiceConfig::new("metrics"));
    let cb = svc.cx().on_cancel(|_| panic!("metrics callback"));
    std::mem::forget(cb);
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        svc.drain(Duration::from_secs(1)),
    ))
    .await;
    assert!(out.is_err(), "the callback's panic reaches the caller");
    assert!(svc.cx().is_cancelled(), "the drain's work is done");
}

#[tokio::test(start_paused = true)]
async fn a_run_dropped_part_way_does_not_blame_a_second_signal() {
    let app = App::new();
    let run = app.run(
        Duration::from_secs(1),
        futures_util::stream::pending(),
        async {
            let svc = Service::new(ServiceConfig::new("poller"));
            svc.spawn_named("poll", std::future::pending::<()>())
                .unwrap()
                .detach();
            std::future::pending::<()>().await;
        },
    );
    assert!(tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .is_err());
    sleep(MS).await; // the abort takes effect at the task's next poll
    let failures = app.services()[0].failures();
    assert_eq!(failures.len(), 1);
    let failure = failures[0].to_string();
    assert!(!failure.contains("second signal"), "{failure}");
    assert!(failure.contains("run ended"), "{failure}");
}

#[tokio::test(start_paused = true)]
async fn a_service_made_under_an_ended_application_takes_no_work() {
    // "No work the application owns runs on, or is taken, after its run": a service made
    // there (by work detached under the application's context) was adopted and took work
    // nobody would drain or stop.
    let app = App::new();
    let late = tokio::spawn(app.cx().clone().run(async {
        scope_runtime::cancelled().await; // the program is done
        let flush = Service::new(ServiceConfig::new("late-flush"));
        flush
            .spawn(sleep(Duration::from_secs(3600)))
            .map(scope_runtime::ServiceHandle::detach)
    }));
    let _ = app
        .run(
            Duration::from_secs(1),
            futures_util::stream::pending(),
            async {},
        )
        .await;
    assert_eq!(late.await.unwrap().unwrap_err(), SpawnError::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_service_made_as_the_main_work_is_dropped_after_the_shutdown_takes_no_work() {
    // The main work, still running when the grace ran out, is dropped at the run's end,
    // inside the application's context: a service its destructor made was adopted after the
    // shutdown's last look at the services, and took work nobody would stop.
    struct FlushOnDrop(Arc<Mutex<Option<Result<(), SpawnError>>>>);
    impl Drop for FlushOnDrop {
        fn drop(&mut self) {
            let flush = Service::new(ServiceConfig::new("flush-on-drop"));
            let taken = flush
                .spawn(std::future::pending::<()>())
                .map(scope_runtime::ServiceHandle::detach);
            *self.0.lock().unwrap() = Some(taken);
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let guard = FlushOnDrop(Arc::clone(&seen));
    let app = App::new();
    let signals = futures_util::stream::iter([Signal::Terminate]);
    let (out, _report) = app
        .run(Duration::from_secs(1), signals, async move {
            let _guard = guard;
            std::future::pending::<()>().await; // ignores the shutdown: the grace runs out
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(*seen.lock().unwrap(), Some(Err(SpawnError::Closed)));
}

#[tokio::test(start_paused = true)]
async fn a_service_aborted_as_it_is_adopted_after_the_run_keeps_its_unread_failures() {
    let svc = Service::new(ServiceConfig::new("audit")); // no application here
    svc.spawn(async { Err::<(), _>("disk full") })
        .unwrap()
        .detach();
    sleep(MS).await; // it ran and failed
    let app = App::new();
    let _ = app
        .run(
            Duration::from_secs(1),
            futures_util::stream::pending(),
            async {},
        )
        .await;
    app.adopt(&svc); // the run has ended: aborted as it is adopted
    let failures = svc.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
}

#[tokio::test(start_paused = true)]
async fn a_run_dropped_part_way_keeps_the_services_unread_failures() {
    let app = App::new();
    let svc = Service::new(ServiceConfig::new("audit"));
    app.adopt(&svc);
    svc.spawn(async { Err::<(), _>("disk full") })
        .unwrap()
        .detach();
    let run = app.run(
        Duration::from_secs(1),
        futures_util::stream::pending(),
        std::future::pending::<()>(),
    );
    assert!(tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .is_err());
    let failures = svc.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
}

/// A daemon "consumers" with one worker: "slow" holds it, and winds down in 2 s once
/// cancelled (within its own 5 s grace); two more tasks wait for the worker.
async fn consumers_with_two_queued() {
    let consumers = Service::new(
        ServiceConfig::new("consumers")
            .daemon()
            .workers(1)
            .grace(Duration::from_secs(5)),
    );
    let (up, is_up) = tokio::sync::oneshot::channel::<()>();
    consumers
        .spawn_named("slow", async move {
            let _ = up.send(());
            scope_runtime::cancelled().await;
            sleep(Duration::from_secs(2)).await;
        })
        .unwrap()
        .detach();
    for _ in 0..2 {
        consumers.spawn_named("queued", async {}).unwrap().detach();
    }
    let _ = is_up.await;
    scope_runtime::cancelled().await;
}

#[tokio::test(start_paused = true)]
async fn a_daemon_whose_drain_overruns_still_reports_its_unstarted_tasks() {
    // The shutdown's 1 s runs out in the daemon's turn: the stop that follows counted the
    // tasks the turn had dropped unstarted as its own baseline, and reported none.
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let (_, report) = App::new()
        .run(Duration::from_secs(1), signals, consumers_with_two_queued())
        .await;
    let stop = &report.stopped()[0];
    assert_eq!(stop.stopped()[0].name(), Some("slow"), "{report}");
    assert_eq!(stop.not_started(), 2, "{report}");
    assert!(!report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_in_a_daemons_turn_reports_what_the_turn_dropped_unstarted() {
    let signals = signals_at(&[(10, Signal::Terminate), (510, Signal::Interrupt)]);
    let (_, report) = App::new()
        .run(
            Duration::from_secs(10),
            signals,
            consumers_with_two_queued(),
        )
        .await;
    let cut = &report.stopped()[0];
    assert_eq!(cut.aborted()[0].name(), Some("slow"), "{report}");
    assert_eq!(cut.not_started(), 2, "{report}");
}

#[tokio::test]
async fn a_service_whose_context_was_cancelled_by_hand_says_it_is_closed() {
    let svc = Service::new(ServiceConfig::new("audit"));
    svc.cx().cancel("by hand");
    assert_eq!(svc.spawn(async {}).err(), Some(SpawnError::Closed));
    assert!(svc.is_closed(), "is_closed answers whether spawn refuses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_adopted_as_the_run_returns_is_not_left_open() {
    // A service adopted from another thread after the shutdown's last look at the services,
    // before the run marked itself ended: nobody drained, stopped or aborted it.
    for _ in 0..300 {
        let app = App::new();
        let made: Arc<Mutex<Vec<Service>>> = Arc::default();
        let (a, m) = (app.clone(), Arc::clone(&made));
        let go = Arc::new(std::sync::Barrier::new(2));
        let ready = Arc::clone(&go);
        let maker = std::thread::spawn(move || {
            ready.wait();
            for _ in 0..50 {
                let s = Service::new(ServiceConfig::new("late"));
                a.adopt(&s);
                m.lock().unwrap().push(s);
                std::thread::yield_now();
            }
        });
        go.wait();
        let _ = app
            .run(
                Duration::from_millis(5),
                futures_util::stream::empty(),
                async {},
            )
            .await;
        tokio::task::spawn_blocking(move || maker.join().unwrap())
            .await
            .unwrap();
        let open = made
            .lock()
            .unwrap()
            .iter()
            .filter(|s| !s.is_closed())
            .count();
        assert_eq!(
            open, 0,
            "every service the application took is closed after its run"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_given_up_on_does_not_make_the_shutdown_report_a_cut() {
    // The program's own stop, dropped part way (a timeout around it), left where it began
    // counting for the next report: the shutdown then reported a daemon that drained cleanly
    // as cut short, with that stop's task dropped unstarted.
    let (_, report) = App::new()
        .run(
            Duration::from_secs(10),
            futures_util::stream::pending(),
            async {
                let svc = Service::new(
                    ServiceConfig::new("consumers")
                        .daemon()
                        .workers(1)
                        .grace(Duration::from_secs(5)),
                );
                let (up, is_up) = tokio::sync::oneshot::channel::<()>();
                svc.spawn_named("slow", async move {
                    let _ = up.send(());
                    scope_runtime::cancelled().await;
                    sleep(Duration::from_secs(2)).await;
                })
                .unwrap()
                .detach();
                svc.spawn_named("queued", async {}).unwrap().detach();
                let _ = is_up.await;
                let _ = tokio::time::timeout(100 * MS, svc.stop()).await;
                sleep(Duration::from_secs(3)).await; // "slow" has ended
            },
        )
        .await;
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_service_handle_polled_again_after_its_outcome_says_so_rather_than_panic() {
    // A `select!` loop over `&mut handle` polls it again once it has answered: tokio's
    // channel below panicked ("called after complete").
    let svc = Service::new(ServiceConfig::new("jobs"));
    let mut handle = svc.spawn(async { Ok::<_, String>(1u32) }).unwrap();
    assert_eq!((&mut handle).await.unwrap(), Ok(1));
    let again = (&mut handle).await;
    let why = again.unwrap_err().to_string();
    assert!(
        why.contains("the service task's handle was polled after it completed"),
        "{why}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_stop_under_way_reports_a_task_the_first_aborted_as_aborted() {
    // Two stops at once: the first's grace runs out and it aborts the task that never looked;
    // the second, whose own grace had not run out, found the service idle and said the task
    // "stopped within the grace", which it never did.
    let svc = Service::new(ServiceConfig::new("sync").grace(100 * MS));
    svc.spawn_named("stubborn", std::future::pending::<()>())
        .unwrap()
        .detach();
    tokio::task::yield_now().await;
    let first = tokio::spawn({
        let svc = svc.clone();
        async move { svc.stop().await }
    });
    sleep(50 * MS).await;
    let second = svc.stop().await;
    let first = first.await.unwrap();
    assert_eq!(
        (first.stopped().len(), first.aborted().len()),
        (0, 1),
        "first: {first}"
    );
    assert_eq!(
        (second.stopped().len(), second.aborted().len()),
        (0, 1),
        "second: {second}"
    );
    assert_eq!(second.aborted()[0].name(), Some("stubborn"));
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_requested_while_the_services_drain_is_the_reports_signal() {
    // The main work ended on its own; while the services drain, a task asks for the
    // shutdown. An OS signal then is the first signal, reported as one; the request was not
    // looked at, and the report said nobody asked.
    let (_, report) = App::new()
        .run(
            Duration::from_secs(5),
            futures_util::stream::pending(),
            async {
                let svc = Service::new(ServiceConfig::new("s"));
                svc.spawn(async {
                    sleep(50 * MS).await;
                    App::current().unwrap().request_shutdown("fatal condition");
                    sleep(50 * MS).await;
                })
                .unwrap()
                .detach();
            },
        )
        .await;
    assert_eq!(
        report.signal(),
        Some(&Signal::Requested("fatal condition".into())),
        "{report}"
    );
    assert!(report.forced().is_none(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_stop_under_way_when_a_second_signal_aborts_its_service_reports_the_abort() {
    // The program stops a service itself (a long grace); a second signal then aborts every
    // service at once. The program's stop, finding the service idle within its grace, must
    // not say its task stopped within it.
    let user_stop = Arc::new(Mutex::new(None));
    let kept = Arc::clone(&user_stop);
    let (_, report) = App::new()
        .run(
            Duration::from_secs(1),
            signals_at(&[(10, Signal::Terminate), (20, Signal::Interrupt)]),
            async move {
                let svc = Service::new(ServiceConfig::new("sync").grace(Duration::from_secs(60)));
                svc.spawn_named("stubborn", std::future::pending::<()>())
                    .unwrap()
                    .detach();
                tokio::task::yield_now().await;
                tokio::spawn(async move {
                    let report = svc.stop().await;
                    *kept.lock().unwrap() = Some(report);
                });
            },
        )
        .await;
    assert!(
        matches!(report.forced(), Some(Forced::SecondSignal(_))),
        "{report}"
    );
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let stop = user_stop
        .lock()
        .unwrap()
        .take()
        .expect("the program's stop ended");
    assert_eq!(
        (stop.stopped().len(), stop.aborted().len()),
        (0, 1),
        "the program's stop: {stop}"
    );
}

/// The work's scopes under `App::run` give their children the application's grace at the
/// shutdown, as `#[scope::main]`'s main scope does: a request in flight finishes within it
/// (before, a scope with no grace of its own aborted it at the signal).
#[tokio::test(start_paused = true)]
async fn the_works_scopes_drain_within_the_applications_grace() {
    let start = Instant::now();
    let (out, report) = App::new()
        .run(2000 * MS, signals_at(&[(100, Signal::Interrupt)]), async {
            let s = &scope_runtime::Scope::new(scope_runtime::Config::new());
            s.run(async {
                let request = s.spawn(async {
                    // A nested scope with no grace of its own: the same grace reaches it.
                    let inner = &scope_runtime::Scope::new(scope_runtime::Config::new());
                    inner
                        .run(async {
                            let write = inner.spawn(async {
                                scope_runtime::cancelled().await;
                                sleep(500 * MS).await;
                                Ok::<_, Interrupted>("finished")
                            });
                            write.await
                        })
                        .await
                });
                request.await
            })
            .await
        })
        .await;
    assert!(matches!(out, Some(Ok("finished"))), "{out:?} {report:?}");
    assert_eq!(start.elapsed(), 600 * MS);
    assert_eq!(report.forced(), None);
}

/// A server scope with a shutdown grace shorter than the application's, and in it a nested
/// scope with none of its own (it inherits the server's): at the shutdown the nested scope's
/// body answers at once, and a straggler it spawned holds it until the inherited grace ends,
/// at the same instant as the server's. The server's abort ends the straggler, and the nested
/// scope's value reaches the server's body, which answered the shutdown with it: that is the
/// work's value, not the interruption.
#[tokio::test(start_paused = true)]
async fn a_nested_scopes_answer_reaches_a_server_whose_grace_ends_with_its_own() {
    let start = Instant::now();
    let (out, report) = App::new()
        .run(1000 * MS, signals_at(&[(10, Signal::Terminate)]), async {
            let server =
                &scope_runtime::Scope::new(scope_runtime::Config::new().shutdown_grace(500 * MS));
            server
                .run(async {
                    let inner = &scope_runtime::Scope::new(scope_runtime::Config::new());
                    let said = inner
                        .run(async {
                            inner.spawn(async {
                                sleep(3600 * 1000 * MS).await;
                                Ok::<_, Interrupted>(())
                            });
                            scope_runtime::cancelled().await;
                            Ok::<_, Interrupted>("inner stopped")
                        })
                        .await?;
                    Ok::<_, Interrupted>(said)
                })
                .await
        })
        .await;
    assert!(
        matches!(out, Some(Ok("inner stopped"))),
        "{out:?} {report:?}"
    );
    assert_eq!(start.elapsed(), 510 * MS);
    assert_eq!(report.main_ended_after(), Some(500 * MS));
}

/// A grace the work's scope sets itself (zero included) is its own, as in any scope.
#[tokio::test(start_paused = true)]
async fn a_grace_the_works_scope_sets_itself_stands_at_the_shutdown() {
    let (out, _report) = App::new()
        .run(2000 * MS, signals_at(&[(100, Signal::Interrupt)]), async {
            let s = &scope_runtime::Scope::new(scope_runtime::Config::new().grace(Duration::ZERO));
            s.run(async {
                let request = s.spawn(async {
                    scope_runtime::cancelled().await;
                    sleep(500 * MS).await;
                    Ok::<_, Interrupted>("finished")
                });
                request.await
            })
            .await
        })
        .await;
    match out {
        Some(Err(Interrupted::Cancelled(c))) => {
            assert!(matches!(c.cause().root(), Cause::Shutdown { .. }), "{c:?}");
        }
        other => panic!("aborted at the signal, as the scope's own grace says: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_application_runs_once_a_second_run_is_refused_and_runs_nothing() {
    let app = App::new();
    let (out, report) = app
        .run(MS, futures_util::stream::empty(), async { 1 })
        .await;
    assert_eq!((out, report.refused()), (Some(1), None));
    // Again, after its end: refused, the work not run (its context has ended).
    let ran = Arc::new(Mutex::new(false));
    let r = Arc::clone(&ran);
    let (out, report) = app
        .run(MS, futures_util::stream::empty(), async move {
            *r.lock().unwrap() = true;
            2
        })
        .await;
    assert_eq!(out, None);
    assert_eq!(
        report.refused(),
        Some(&scope_runtime::ConfigError::AppAlreadyRun)
    );
    assert!(!*ran.lock().unwrap(), "the refused run ran its work");
    assert!(!report.is_clean());
    assert_eq!(
        report.signal(),
        None,
        "a refused run reports a signal nobody sent"
    );
    assert!(
        report.to_string().contains("refused"),
        "the report does not say the run was refused: {report}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_application_run_inside_its_own_run_is_refused_and_leaves_the_outer_run_alone() {
    let app = App::new();
    let inner = app.clone();
    let (out, report) = app
        .run(MS, futures_util::stream::empty(), async move {
            let (nested, nested_report) = inner
                .run(MS, futures_util::stream::empty(), async { 2 })
                .await;
            // The outer run's context is not ended by the nested one.
            (
                nested,
                nested_report.refused().cloned(),
                scope_runtime::is_cancelled(),
            )
        })
        .await;
    assert_eq!(
        out,
        Some((None, Some(scope_runtime::ConfigError::AppAlreadyRun), false))
    );
    assert_eq!((report.signal(), report.refused()), (None, None));
    assert!(report.is_clean());
}

/// What runs after an application's grace ran out: the main work's scope (`nested`: the
/// shield is in a child of a scope nested in a spawned child; `long_grace`: that nested scope
/// has a grace of its own, longer than the application's) has a spawned child busy in a
/// budgeted shield, or ignoring the cancel; returns whether that child's work was still alive
/// 10 ms after the run returned, and whether it finished at all.
async fn alive_after_the_applications_grace(nested: bool, long_grace: bool) -> (bool, bool) {
    use scope_runtime::{Config, Scope};
    struct Alive(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (a, f) = (alive.clone(), finished.clone());
    let work = async move {
        let s = &Scope::new(Config::new());
        s.run(async move {
            let child = s.spawn(async move {
                let _alive = Alive(a);
                let busy = async move {
                    if long_grace {
                        // Ignores the cancel: only an abort ends it.
                        sleep(Duration::from_millis(1500)).await;
                    } else {
                        shield_for(Duration::from_secs(2), sleep(Duration::from_millis(1500)))
                            .await?;
                    }
                    f.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok::<(), Interrupted>(())
                };
                if nested {
                    let config = if long_grace {
                        Config::new().grace(Duration::from_secs(10))
                    } else {
                        Config::new()
                    };
                    let inner = &Scope::new(config);
                    inner.run(async move { inner.spawn(busy).await }).await
                } else {
                    busy.await
                }
            });
            child.await
        })
        .await
    };
    let app = App::new();
    let start = Instant::now();
    let (out, report) = app
        .run(
            Duration::from_millis(300),
            signals_at(&[(50, Signal::Terminate)]),
            work,
        )
        .await;
    assert!(out.is_none());
    assert_eq!(
        report.forced(),
        Some(&Forced::GraceRanOut {
            grace: Duration::from_millis(300)
        })
    );
    assert_eq!(start.elapsed(), 350 * MS);
    sleep(10 * MS).await;
    let alive_then = alive.load(std::sync::atomic::Ordering::SeqCst);
    sleep(Duration::from_secs(3)).await;
    (
        alive_then,
        finished.load(std::sync::atomic::Ordering::SeqCst),
    )
}

// The application's grace is the program's own bound (an outside tester's report, probe158:
// a shielded child ran on 1.15 s after the run returned): work cut short at its end is
// dropped, shields and the longer graces of scopes in it and all.
#[tokio::test(start_paused = true)]
async fn a_budgeted_shield_in_the_main_work_does_not_outlive_the_applications_grace() {
    assert_eq!(
        alive_after_the_applications_grace(false, false).await,
        (false, false)
    );
}

#[tokio::test(start_paused = true)]
async fn a_budgeted_shield_nested_in_the_main_work_does_not_outlive_the_applications_grace() {
    assert_eq!(
        alive_after_the_applications_grace(true, false).await,
        (false, false)
    );
}

#[tokio::test(start_paused = true)]
async fn a_nested_scopes_longer_grace_does_not_outlive_the_applications_grace() {
    assert_eq!(
        alive_after_the_applications_grace(true, true).await,
        (false, false)
    );
}

/// Main work's state whose destructor panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("work's destructor");
    }
}

// A panic of the work's destructors as the grace's end drops it is the work's panic: resumed
// from the run, once, after the shutdown did its work.
#[tokio::test(start_paused = true)]
async fn a_panic_dropping_the_work_its_grace_cut_short_is_resumed_from_the_run() {
    let app = App::new();
    let svc = Service::new(ServiceConfig::new("audit"));
    app.adopt(&svc);
    let done = svc.spawn(async { Ok::<u32, Interrupted>(7) }).unwrap();
    let run = app.run(100 * MS, signals_at(&[(10, Signal::Terminate)]), async {
        let _guard = PanicsOnDrop;
        std::future::pending::<()>().await;
    });
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let payload = out.expect_err("the destructor's panic goes on");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"work's destructor"));
    assert_eq!(done.await.unwrap().unwrap(), 7);
    assert!(matches!(
        app.cx().cause().unwrap().root(),
        Cause::Shutdown { .. }
    ));
}

// After a second signal too, with a callback's panic kept: the work is dropped before that
// panic is resumed (a panic of its destructors while it unwound aborted the process), and the
// callback's panic goes first.
#[tokio::test(start_paused = true)]
async fn a_panic_dropping_the_work_after_a_second_signal_does_not_abort_a_kept_callback_panic() {
    let app = App::new();
    let _callback = app.cx().on_cancel(|_| panic!("callback"));
    let run = app.run(
        100 * MS,
        signals_at(&[(10, Signal::Terminate), (60, Signal::Terminate)]),
        async {
            let _guard = PanicsOnDrop;
            std::future::pending::<()>().await;
        },
    );
    let out = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await;
    let payload = out.expect_err("the callback's panic goes on");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callback"));
}

/// Names of `tasks`, in order.
fn task_names(tasks: &[scope_runtime::TaskInfo]) -> Vec<String> {
    tasks.iter().map(ToString::to_string).collect()
}

#[tokio::test(start_paused = true)]
async fn a_daemon_dropped_at_its_grace_takes_the_work_below_it_with_it() {
    // An outside report (probe192): a daemon's task runs a scope whose own grace (5 s) is
    // longer than the service's (200 ms), with a child that ignores the cancel. The task was
    // dropped at the service's grace, and its scope gave the child the rest of its own grace:
    // the drain waited out the application's whole grace (3 s) for it, and the shutdown was
    // then reported clean ("nothing was running"; `#[scope::main]` exited 0). The service's
    // grace bounds the work below its tasks, as the application's bounds its main work.
    let signals = signals_at(&[(10, Signal::Terminate)]);
    let start = Instant::now();
    let (up, dropped) = common::flag();
    let (_, report) = App::new()
        .run(Duration::from_secs(3), signals, async {
            let server = Service::new(ServiceConfig::new("server").daemon().grace(200 * MS));
            server
                .spawn_named("accept", async move {
                    let config = Config::new()
                        .name("accept-scope")
                        .grace(Duration::from_secs(5));
                    let s = &Scope::new(config);
                    s.run(async {
                        let _request = s.spawn_named("request", async move {
                            let _up = up;
                            std::future::pending::<()>().await;
                            Ok::<_, Interrupted>(())
                        });
                        scope_runtime::cancelled().await;
                        Ok::<_, Interrupted>(())
                    })
                    .await
                })
                .unwrap()
                .detach();
            scope_runtime::cancelled().await;
        })
        .await;
    assert_eq!(start.elapsed(), 210 * MS, "{report}");
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!report.is_clean(), "{report}");
    assert_eq!(
        task_names(report.stopped()[0].aborted()),
        ["accept"],
        "{report}"
    );
}

#[test]
fn a_daemon_dropped_at_its_grace_is_named_when_work_below_it_outlasts_the_shutdown() {
    // The same report, one step over: work below the dropped task that nothing can abort (a
    // blocking child of a scope in it) holds the service past the application's grace. The
    // service is then stopped, and its stop found no task running (the one its turn dropped
    // was gone): "stopped: service `server`: nothing was running", the shutdown clean.
    let rt = common::two_workers();
    let (_, report) = rt.block_on(async {
        let signals = signals_at(&[(10, Signal::Terminate)]);
        App::new()
            .run(300 * MS, signals, async {
                let server = Service::new(ServiceConfig::new("server").daemon().grace(50 * MS));
                server
                    .spawn_named("accept", async {
                        let s = &Scope::new(Config::new().name("accept-scope"));
                        s.run(async {
                            let _blocking = s.spawn_blocking(|_| {
                                std::thread::sleep(Duration::from_millis(700));
                                Ok::<_, Interrupted>(())
                            });
                            scope_runtime::cancelled().await;
                            Ok::<_, Interrupted>(())
                        })
                        .await
                    })
                    .unwrap()
                    .detach();
                scope_runtime::cancelled().await;
            })
            .await
    });
    assert!(!report.is_clean(), "{report}");
    let stop = &report.stopped()[0];
    assert_eq!(task_names(stop.aborted()), ["accept"], "{report}");
    assert!(
        !report.to_string().contains("nothing was running"),
        "{report}"
    );
}

// A service task's output nobody reads is dropped inside the task's context (it sees the slot
// values the task was spawned with), and a panic of its destructor is the task's, in the
// service's failures, however late its handle went (an outside tester's report, probe210: a
// detached task's output saw no slot, and a handle dropped while the task was ending, on
// another thread, left the panic to tokio, which lost it).

static TASK_RID: scope_runtime::Slot<u64> = scope_runtime::Slot::new("TASK_RID");

/// An output that notes the `TASK_RID` its destructor sees, and panics there if `panics`.
struct Output(Arc<Mutex<Vec<Option<u64>>>>, bool);

impl Drop for Output {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(TASK_RID.get());
        assert!(!self.1, "the output's destructor");
    }
}

#[test]
fn a_service_tasks_unread_output_is_dropped_inside_its_context() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let outputs = seen.clone();
    common::two_workers().block_on(Cx::root().with_slot(&TASK_RID, 1).run(async move {
        let svc = Service::new(ServiceConfig::new("outputs"));
        let output = Output(outputs.clone(), false);
        svc.spawn(async move { Ok::<_, String>(output) })
            .unwrap()
            .detach();
        // Handles dropped at varied moments: before the task ends, as it sends, after.
        for round in 0..500_u32 {
            let output = Output(outputs.clone(), false);
            let handle = svc.spawn(async move { Ok::<_, String>(output) }).unwrap();
            for _ in 0..(round % 97) * 20 {
                std::hint::spin_loop();
            }
            drop(handle);
        }
        svc.drain(Duration::from_secs(5)).await.unwrap();
    }));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 501);
    assert!(seen.iter().all(|rid| *rid == Some(1)), "{seen:?}");
}

#[test]
fn a_service_tasks_output_panicking_as_its_handle_goes_late_is_the_tasks_failure() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let outputs = seen.clone();
    common::two_workers().block_on(Cx::root().with_slot(&TASK_RID, 1).run(async move {
        let svc = Service::new(ServiceConfig::new("outputs"));
        let output = Output(outputs, true);
        let handle = svc
            .spawn(async move {
                // Runs as the task's context ends, at its end: the handle goes meanwhile,
                // after the task found it there and before it sends.
                std::mem::forget(
                    Cx::current().on_cancel(|_| std::thread::sleep(Duration::from_millis(200))),
                );
                Ok::<_, String>(output)
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(handle);
        // Its failure, not the runtime's to print and forget.
        svc.drain(Duration::from_secs(5)).await.unwrap();
        let failures = svc.failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].message().contains("the output's destructor"),
            "{failures:?}"
        );
    }));
    assert_eq!(*seen.lock().unwrap(), vec![Some(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_callback_panicking_as_a_tasks_context_ends_is_the_tasks_panic_for_its_handle_too() {
    // The task returned its value; the end of its context ran a callback that panicked: the
    // service counted the task as panicked while its handle read the value. One answer now.
    let svc = Service::new(ServiceConfig::new("ends"));
    let task = svc
        .spawn_named("t", async {
            std::mem::forget(scope_runtime::Cx::current().on_cancel(|_| panic!("end callback")));
            Ok::<_, Interrupted>("done")
        })
        .unwrap();
    let out = task.await;
    svc.drain(Duration::from_secs(5)).await.unwrap();
    let failures = svc.failures();
    assert!(
        failures.iter().any(scope_runtime::TaskFailure::panicked),
        "the service counts the callback's panic: {failures:?}"
    );
    assert!(
        matches!(&out, Err(Interrupted::Panicked(p)) if p.message() == "end callback"),
        "the handle reads what the service does: {out:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_callback_on_a_tasks_own_context_panicking_at_its_deadline_is_the_tasks_panic() {
    // No scope in the task: its own context's callback had an alarm of its own, which fired
    // the deadline inside the runtime's driver, where the panic went to the panic hook alone;
    // the handle read the value and the service counted nothing. The task times its deadline
    // itself now, and the panic is the task's.
    let svc = Service::new(ServiceConfig::new("svc").task_timeout(50 * MS));
    let task = svc
        .spawn_named("t", async {
            std::mem::forget(scope_runtime::Cx::current().on_cancel(|_| panic!("callback")));
            let cause = scope_runtime::cancelled().await;
            Ok::<_, Interrupted>(cause.to_string())
        })
        .unwrap();
    let out = task.await;
    svc.drain(Duration::from_secs(5)).await.unwrap();
    assert!(
        matches!(&out, Err(Interrupted::Panicked(p)) if p.message() == "callback"),
        "{out:?}"
    );
    let failures = svc.failures();
    assert!(
        failures.iter().any(scope_runtime::TaskFailure::panicked),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_tasks_deadline_first_seen_by_code_handed_its_context_gives_the_task_the_panic() {
    // The task's context handed to a thread (another library), which looks first at the
    // passed deadline while the task holds its worker: the look does not panic, and the
    // callback's panic is the task's.
    let svc = Service::new(ServiceConfig::new("svc").task_timeout(Duration::from_millis(250)));
    let saw = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&saw);
    let task = svc
        .spawn_named("t", async move {
            let cx = scope_runtime::Cx::current();
            std::mem::forget(cx.on_cancel(|_| panic!("callback")));
            let looked = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400));
                cx.is_cancelled()
            });
            // Holds the worker past the thread's look: no timer of the runtime fires first.
            std::thread::sleep(Duration::from_millis(600));
            *seen.lock().unwrap() = Some(looked.join().ok());
            Ok::<_, Interrupted>(())
        })
        .unwrap();
    let out = task.await;
    svc.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        *saw.lock().unwrap(),
        Some(Some(true)),
        "the thread's look panicked, or did not see the deadline"
    );
    assert!(
        matches!(&out, Err(Interrupted::Panicked(p)) if p.message() == "callback"),
        "the task's panic: {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_on_a_tasks_context_runs_at_its_deadline_while_the_work_blocks() {
    // The way to stop blocking work at a deadline (Go's `AfterFunc`): the callback runs when
    // the deadline passes, by the runtime's timer, though the task's own poll is blocked
    // (the task owning its context must not take that alarm away).
    let svc = Service::new(ServiceConfig::new("svc").task_timeout(100 * MS));
    let task = svc
        .spawn_named("blocking", async {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            std::mem::forget(scope_runtime::Cx::current().on_cancel(move |_| {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }));
            let start = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if start.elapsed() > Duration::from_secs(5) {
                    return Ok::<_, Interrupted>(false);
                }
                std::thread::sleep(MS);
            }
            Ok(true)
        })
        .unwrap();
    let out = task.await;
    svc.drain(Duration::from_secs(5)).await.unwrap();
    assert!(
        matches!(out, Ok(Ok(true))),
        "the callback did not stop the blocking work: {out:?}"
    );
}

/// A stop given up on after its abort (a `timeout` around it that ran out as the abort
/// landed), then a second stop: the task the first one aborted was reported by the second
/// as "stopped within the grace", beside its failure that says it was aborted after the
/// stop's grace. A stop after another's abort reports what is still running as aborted.
#[test]
fn a_stop_after_a_dropped_stop_reports_the_tasks_that_one_aborted_as_aborted() {
    let mut second_stops = 0;
    for drop_at_us in (1_000..=3_000).step_by(100) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let svc = Service::new(ServiceConfig::new("svc").grace(Duration::from_millis(2)));
            let _stubborn = svc
                .spawn_named("stubborn", async {
                    std::future::pending::<()>().await;
                    Ok::<_, String>(())
                })
                .unwrap();
            tokio::task::yield_now().await; // it runs
            let first = tokio::time::timeout(Duration::from_micros(drop_at_us), svc.stop()).await;
            if first.is_ok() {
                return;
            }
            second_stops += 1;
            let report = svc.stop().await;
            let names = |tasks: &[scope_runtime::TaskInfo]| {
                tasks
                    .iter()
                    .map(|t| t.name().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
            };
            assert!(
                report.stopped().is_empty(),
                "dropped at {drop_at_us} µs: stopped {:?}, aborted {:?}: {report}",
                names(report.stopped()),
                names(report.aborted())
            );
            assert_eq!(names(report.aborted()), ["stubborn"], "{report}");
        });
    }
    assert!(second_stops > 0, "no first stop was given up on");
}

/// A stop given up on before its end has dropped the tasks still waiting for a worker; the
/// next stop's report counts them (they were counted nowhere).
#[tokio::test(start_paused = true)]
async fn a_stop_after_a_dropped_stop_counts_the_tasks_that_one_dropped_unstarted() {
    let svc = Service::new(
        ServiceConfig::new("svc")
            .workers(1)
            .grace(Duration::from_millis(100)),
    );
    let mut handles = Vec::new();
    for name in ["stuck", "queued-1", "queued-2", "queued-3"] {
        handles.push(
            svc.spawn_named(name, async {
                std::future::pending::<()>().await;
                Ok::<_, String>(())
            })
            .unwrap(),
        );
    }
    tokio::task::yield_now().await; // the first takes the worker
    let first = tokio::time::timeout(Duration::from_millis(10), svc.stop()).await;
    assert!(
        first.is_err(),
        "the first stop is given up on within its grace"
    );
    let report = svc.stop().await;
    assert_eq!(report.not_started(), 3, "{report}");
    let again = svc.stop().await;
    assert_eq!(again.not_started(), 0, "counted once: {again}");
}

/// A stop given up on during its abort's wait (one task blocks its thread, so the wait lasts):
/// the other task it aborted has ended by the next stop, whose report named it only in a
/// failure line, in neither `aborted` nor `stopped`. It is named aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_after_a_stop_dropped_in_its_abort_names_what_that_one_aborted() {
    let svc = Service::new(ServiceConfig::new("svc").grace(Duration::from_millis(10)));
    let _blocks = svc
        .spawn_named("blocks", async {
            scope_runtime::cancelled().await;
            std::thread::sleep(Duration::from_millis(1_300));
            Ok::<_, String>(())
        })
        .unwrap();
    let _ignores = svc
        .spawn_named("ignores", async {
            std::future::pending::<()>().await;
            Ok::<_, String>(())
        })
        .unwrap();
    sleep(Duration::from_millis(5)).await;
    let first = tokio::time::timeout(Duration::from_millis(300), svc.stop()).await;
    assert!(first.is_err(), "given up on in its abort's wait");
    let report = svc.stop().await;
    let aborted: Vec<&str> = report
        .aborted()
        .iter()
        .map(|t| t.name().unwrap_or_default())
        .collect();
    assert!(aborted.contains(&"ignores"), "{report}");
    assert!(report.stopped().is_empty(), "{report}");
}

/// A request's slot value whose destructor panics, kept by a task of a service made outside
/// the request (law 7), is dropped with the task's context: that panic is the task's, in the
/// service's failures (`probe247`: it was dropped in the runtime's harness, after the task
/// had ended, and lost: no failure, a drain that said all was well).
#[test]
fn a_slot_value_whose_drop_panics_with_a_service_tasks_context_is_that_tasks_panic() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            // (Not while a panic unwinds already: that would abort.)
            assert!(std::thread::panicking(), "the request's value broke");
        }
    }
    static VALUE: scope_runtime::Slot<PanicsOnDrop> = scope_runtime::Slot::new("VALUE");
    for rt in [common::paused(), common::two_workers()] {
        rt.block_on(async {
            let svc = Service::new(ServiceConfig::new("audit"));
            // The task ends only once its handle has gone (else the handle, which keeps the
            // task's first context, could be the last to let the value go, and its drop panic).
            let (handle_gone, gone) = tokio::sync::oneshot::channel::<()>();
            let handle = {
                let s = &Scope::new(Config::new().bind(&VALUE, PanicsOnDrop));
                s.run(async {
                    let task = svc.spawn_named("audit_write", async {
                        let _ = gone.await;
                        Ok::<_, String>(7)
                    });
                    Ok::<_, Interrupted>(task.unwrap())
                })
                .await
                .unwrap()
            };
            // The request is over; the task keeps the last reference to its value.
            drop(handle);
            drop(handle_gone);
            svc.drain(Duration::from_secs(5)).await.unwrap();
            let failures = svc.failures();
            assert_eq!(failures.len(), 1, "{failures:?}");
            assert!(failures[0].panicked(), "{failures:?}");
            assert_eq!(failures[0].task().name(), Some("audit_write"));
            assert!(
                failures[0].message().contains("the request's value broke"),
                "{failures:?}"
            );
        });
    }
}
