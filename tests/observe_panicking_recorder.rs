//! A `metrics` recorder that panics, as it registers a scope's handles or as a handle is
//! updated, cannot take the scope's bookkeeping down: the call into it is caught, the panic
//! hook has reported it, and the scope still counts, joins and reports its children. Run with
//! `cargo test --all-features --test observe_panicking_recorder`.
#![cfg(feature = "metrics")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use scope::{Config, Interrupted, Scope, Service, ServiceConfig};

/// Where the recorder panics.
#[derive(Clone, Copy, Debug, PartialEq)]
enum At {
    /// As a scope's handles are registered.
    Register,
    /// As a handle is updated.
    Update,
}

/// Handles that panic when updated, counting the panics.
struct Panicking(Arc<AtomicUsize>);

impl Panicking {
    fn boom(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("the recorder's handle panicked");
    }
}

impl CounterFn for Panicking {
    fn increment(&self, _: u64) {
        self.boom();
    }
    fn absolute(&self, _: u64) {
        self.boom();
    }
}

impl GaugeFn for Panicking {
    fn increment(&self, _: f64) {
        self.boom();
    }
    fn decrement(&self, _: f64) {
        self.boom();
    }
    fn set(&self, _: f64) {
        self.boom();
    }
}

impl HistogramFn for Panicking {
    fn record(&self, _: f64) {
        self.boom();
    }
}

struct PanickingRecorder {
    at: At,
    panicked: Arc<AtomicUsize>,
}

impl PanickingRecorder {
    fn handle(&self) -> Arc<Panicking> {
        if self.at == At::Register {
            self.panicked.fetch_add(1, Ordering::SeqCst);
            panic!("the recorder panicked as it registered a metric");
        }
        Arc::new(Panicking(Arc::clone(&self.panicked)))
    }
}

impl Recorder for PanickingRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle())
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle())
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle())
    }
}

/// Spawned, in-place and blocking children, a failure and a service, under a recorder that
/// panics at `at`: every outcome is the one the scope reports without one.
fn a_scope_of_every_kind_under(at: At) {
    let panicked = Arc::new(AtomicUsize::new(0));
    let recorder = PanickingRecorder {
        at,
        panicked: Arc::clone(&panicked),
    };
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let all = async {
                // A name of its own per recorder: the handles are cached per name.
                let s = &Scope::new(Config::new().name(format!("recorded-{at:?}")));
                let out = s
                    .run(async {
                        let a = s.spawn(async { Ok::<_, Interrupted>(1) });
                        let b = s.spawn_in_place(async { Ok::<_, Interrupted>(2) });
                        let c = s.spawn_blocking(|_| Ok::<_, Interrupted>(3));
                        Ok::<_, Interrupted>(a.await? + b.await? + c.await?)
                    })
                    .await;
                assert_eq!(out.unwrap(), 6);

                let s = &Scope::new(Config::new().name(format!("recorded-failing-{at:?}")));
                let out = s
                    .run(async {
                        s.spawn(async {
                            tokio::task::yield_now().await;
                            Err::<(), _>(Interrupted::from_cause(scope::Cause::explicit("bad")))
                        });
                        Ok::<_, Interrupted>(())
                    })
                    .await;
                assert_eq!(out.unwrap_err().to_string(), "cancelled: bad");

                let svc = Service::new(ServiceConfig::new(format!("recorded-svc-{at:?}")));
                let task = svc.spawn(async { Ok::<_, Interrupted>(7) }).unwrap();
                let out = task.await;
                assert!(matches!(out, Ok(Ok(7))), "{out:?}");
                assert!(svc.stop().await.is_clean());
            };
            tokio::time::timeout(Duration::from_secs(10), all)
                .await
                .unwrap_or_else(|_| panic!("{at:?}: the scope never resolved"));
        });
    });
    assert!(panicked.load(Ordering::SeqCst) > 0, "{at:?}: never reached");
}

#[test]
fn a_recorder_panicking_as_it_registers_costs_the_scope_nothing() {
    a_scope_of_every_kind_under(At::Register);
}

#[test]
fn a_recorder_panicking_as_a_handle_is_updated_costs_the_scope_nothing() {
    a_scope_of_every_kind_under(At::Update);
}

/// A recorder whose registration of one scope's metrics makes a scope of its own (an exporter
/// that starts its flush loop lazily), noting the scopes it registers.
struct ReentrantRecorder {
    registered: std::sync::Mutex<Vec<String>>,
}

impl ReentrantRecorder {
    fn counter(&self, key: &Key) -> Counter {
        let scope = key
            .labels()
            .find(|l| l.key() == "scope")
            .map(|l| l.value().to_owned())
            .unwrap_or_default();
        let first = {
            let mut registered = self.registered.lock().unwrap();
            let first = !registered.contains(&scope);
            if first {
                registered.push(scope.clone());
            }
            first
        };
        if first && scope == "reentrant-outer" {
            // Its own scope, made as it registers (the guard above is let go first).
            drop(Scope::<Interrupted>::new(
                Config::new().name("reentrant-inner"),
            ));
        }
        Counter::noop()
    }
}

impl Recorder for ReentrantRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.counter(key)
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn a_recorder_that_makes_a_scope_as_it_registers_finds_the_cache_free() {
    // The registration ran with the thread's cache of handles borrowed: the scope it made
    // panicked as it looked its own handles up (caught, reported by the hook), and recorded
    // nothing for its life.
    let recorder = ReentrantRecorder {
        registered: std::sync::Mutex::new(Vec::new()),
    };
    metrics::with_local_recorder(&recorder, || {
        drop(Scope::<Interrupted>::new(
            Config::new().name("reentrant-outer"),
        ));
    });
    let registered = recorder.registered.lock().unwrap();
    assert!(
        registered.iter().any(|s| s == "reentrant-inner"),
        "the recorder's own scope registered no metric: {registered:?}"
    );
}

/// A recorder that makes a scope of a new name at every registration of a counter.
struct MakesAScopeEachTime(AtomicUsize);

impl Recorder for MakesAScopeEachTime {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        drop(Scope::<Interrupted>::new(
            Config::new().name(format!("each-time-{n}")),
        ));
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn a_recorder_that_makes_a_scope_at_every_registration_does_not_recurse_for_good() {
    // With the cache let go during a registration, such a recorder recursed until the stack
    // overflowed; the scopes made inside its own scope's registration record nothing.
    let recorder = MakesAScopeEachTime(AtomicUsize::new(0));
    metrics::with_local_recorder(&recorder, || {
        drop(Scope::<Interrupted>::new(Config::new().name("each-time")));
    });
    let made = recorder.0.load(Ordering::SeqCst);
    assert!((1..10_000).contains(&made), "{made} registrations");
}

/// A counter whose `Drop` makes a scope of a new name (an exporter that flushes a series in a
/// scope of its own as the series goes).
struct MakesAScopeAsItGoes(Arc<AtomicUsize>);

impl CounterFn for MakesAScopeAsItGoes {
    fn increment(&self, _: u64) {}
    fn absolute(&self, _: u64) {}
}

impl Drop for MakesAScopeAsItGoes {
    fn drop(&mut self) {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        drop(Scope::<Interrupted>::new(
            Config::new().name(format!("flush-{n}")),
        ));
    }
}

struct FlushesAsSeriesGo(Arc<AtomicUsize>);

impl Recorder for FlushesAsSeriesGo {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(MakesAScopeAsItGoes(Arc::clone(&self.0))))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// A handle whose `Drop` makes a scope: the handles a thread's cache lets go of (past its
/// bound, or as the thread exits) made scopes whose handles, dropped in turn, made more, until
/// the stack overflowed (probe113: mid-run past 1,024 names; at every thread's exit, once a
/// single scope had been made). The scopes made while the cache lets go of handles record
/// nothing.
#[test]
fn a_recorder_whose_handles_make_a_scope_as_they_go_does_not_recurse_for_good() {
    let flushed = Arc::new(AtomicUsize::new(0));
    let made = Arc::clone(&flushed);
    // On a thread of its own, whose exit drops its cache.
    std::thread::spawn(move || {
        let recorder = FlushesAsSeriesGo(made);
        metrics::with_local_recorder(&recorder, || {
            for i in 0..1_500 {
                drop(Scope::<Interrupted>::new(
                    Config::new().name(format!("job-{i}")),
                ));
            }
        });
    })
    .join()
    .unwrap();
    let flushed = flushed.load(Ordering::SeqCst);
    assert!(flushed > 0, "no handle was let go of");
    assert!(flushed < 200_000, "{flushed} handles dropped");
}

/// A counter that adds to its entry in a shared table.
struct Counted(Arc<AtomicUsize>);

impl CounterFn for Counted {
    fn increment(&self, n: u64) {
        self.0
            .fetch_add(usize::try_from(n).unwrap(), Ordering::SeqCst);
    }
    fn absolute(&self, n: u64) {
        self.0.store(usize::try_from(n).unwrap(), Ordering::SeqCst);
    }
}

/// Counters that count, gauges and histograms that panic at every update.
struct OnlyCountersWork {
    counters: std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicUsize>>>,
    panicked: Arc<AtomicUsize>,
}

impl OnlyCountersWork {
    fn count(&self, name: &str, scope: &str, outcome: Option<&str>) -> usize {
        let key = format!("{name} {scope} {outcome:?}");
        let counters = self.counters.lock().unwrap();
        counters.get(&key).map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

impl Recorder for OnlyCountersWork {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let label = |k: &str| {
            key.labels()
                .find(|l| l.key() == k)
                .map(|l| l.value().to_owned())
        };
        let name = if key.name() == "scope_incarnations_ended_total" {
            // Its child's label left out: one child per supervisor in these tests.
            format!(
                "{} {} {} {}",
                key.name(),
                label("scope").unwrap_or_default(),
                label("outcome").unwrap_or_default(),
                label("action").unwrap_or_default()
            )
        } else {
            format!(
                "{} {} {:?}",
                key.name(),
                label("scope").unwrap_or_default(),
                label("outcome").as_deref()
            )
        };
        let mut counters = self.counters.lock().unwrap();
        Counter::from_arc(Arc::new(Counted(Arc::clone(
            counters.entry(name).or_default(),
        ))))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Panicking(Arc::clone(&self.panicked))))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Panicking(Arc::clone(&self.panicked))))
    }
}

/// Runs the future `work` makes on a current-thread runtime, with a fresh `OnlyCountersWork`
/// as the thread's recorder, and returns the recorder.
fn counted<F: std::future::Future<Output = ()>>(work: impl FnOnce() -> F) -> OnlyCountersWork {
    let recorder = OnlyCountersWork {
        counters: std::sync::Mutex::new(std::collections::HashMap::new()),
        panicked: Arc::new(AtomicUsize::new(0)),
    };
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(work());
    });
    recorder
}

#[test]
fn a_metric_whose_update_panics_costs_the_other_metrics_of_that_moment_nothing() {
    // The gauges' updates at a child's start and end (and the latency histogram at a
    // cancelled scope's end) panic: the counters updated at the same moments still count.
    let recorder = counted(|| async {
        let s = &Scope::new(Config::new().name("one-metric-panics"));
        let out = s
            .run(async {
                for _ in 0..3 {
                    s.spawn(async { Ok::<_, Interrupted>(()) });
                }
                s.spawn_in_place(async { Ok::<_, Interrupted>(()) });
                Ok::<_, Interrupted>(())
            })
            .await;
        assert!(out.is_ok());
        let s = &Scope::new(Config::new().name("one-metric-panics-cancelled"));
        let out = s
            .run(async {
                s.cx().cancel("enough");
                Ok::<_, Interrupted>(())
            })
            .await;
        assert!(out.is_ok());
    });
    assert!(
        recorder.panicked.load(Ordering::SeqCst) > 0,
        "never reached"
    );
    let scope = "one-metric-panics";
    assert_eq!(
        recorder.count("scope_children_started_total", scope, None),
        4
    );
    assert_eq!(
        recorder.count("scope_children_ended_total", scope, Some("completed")),
        4
    );
    assert_eq!(
        recorder.count("scope_scopes_ended_total", scope, Some("completed")),
        1
    );
    let cancelled = "one-metric-panics-cancelled";
    assert_eq!(
        recorder.count("scope_scopes_ended_total", cancelled, Some("cancelled")),
        1,
        "{:?}",
        recorder.counters.lock().unwrap().keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_supervised_childs_incarnations_are_counted_by_outcome_and_action() {
    // A crash-looping child is one child to the children's counts; its incarnations are
    // counted apart (the gauges of this recorder panic, which costs the counters nothing).
    use scope::{Backoff, Restart, Supervisor};
    let recorder = counted(|| async {
        let attempts = Arc::new(AtomicUsize::new(0));
        let out = Supervisor::<Interrupted>::new(Config::new().name("counted-supervisor"))
            .backoff(Backoff::new(Duration::ZERO, Duration::ZERO))
            .child("counted-child", Restart::Transient, move || {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        0 | 1 => Err(Interrupted::from_cause(scope::Cause::explicit("lost"))),
                        2 => panic!("boom"),
                        _ => Ok(()),
                    }
                }
            })
            .run()
            .await;
        assert!(out.is_ok(), "{out:?}");
    });
    let counters = recorder.counters.lock().unwrap();
    let count = |outcome: &str, action: &str| {
        let key = format!("scope_incarnations_ended_total counted-supervisor {outcome} {action}");
        counters.get(&key).map_or(0, |c| c.load(Ordering::SeqCst))
    };
    assert_eq!(
        count("failed", "restart"),
        2,
        "{:?}",
        counters.keys().collect::<Vec<_>>()
    );
    assert_eq!(count("panicked", "restart"), 1);
    assert_eq!(count("completed", "stop"), 1);
}
