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
