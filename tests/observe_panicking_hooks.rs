//! A subscriber that panics (a bug in it, or a lock poisoned by an earlier failed assertion)
//! cannot take the scope's bookkeeping down: each hook into it is caught where the library
//! calls it, so the scope still counts, joins and reports its children. The panic hook has
//! reported the subscriber's panic where it happened. Run with
//! `cargo test --all-features --test observe_panicking_hooks`.
#![cfg(feature = "tracing")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use scope::{Config, Interrupted, Scope, Service, ServiceConfig};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Where the subscriber panics.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Hook {
    NewTaskSpan,
    Event,
    Enter,
    Exit,
}

/// A subscriber that takes every span and event, and panics at one hook.
struct Panics {
    at: Hook,
    spans: AtomicUsize,
    /// How many times it panicked (so a test knows the hook was reached).
    panicked: Arc<AtomicUsize>,
}

impl Panics {
    fn boom(&self, hook: Hook) {
        if hook == self.at {
            self.panicked.fetch_add(1, Ordering::SeqCst);
            panic!("the subscriber panicked at {hook:?}");
        }
    }
}

impl Subscriber for Panics {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        if attrs.metadata().name() == "task" {
            self.boom(Hook::NewTaskSpan);
        }
        Id::from_u64(self.spans.fetch_add(1, Ordering::Relaxed) as u64 + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {
        self.boom(Hook::Event);
    }
    fn enter(&self, _: &Id) {
        self.boom(Hook::Enter);
    }
    fn exit(&self, _: &Id) {
        self.boom(Hook::Exit);
    }
}

/// Runs `test` on a runtime of its own, with a subscriber that panics at `at`, and checks that
/// the subscriber did panic.
fn with_panicking_subscriber(at: Hook, test: impl std::future::Future<Output = ()>) {
    let panicked = Arc::new(AtomicUsize::new(0));
    let subscriber = Panics {
        at,
        spans: AtomicUsize::new(0),
        panicked: Arc::clone(&panicked),
    };
    let _default = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), test)
            .await
            .unwrap_or_else(|_| panic!("{at:?}: the scope never resolved"));
    });
    assert!(panicked.load(Ordering::SeqCst) > 0, "{at:?}: never reached");
}

/// Spawned, in-place and blocking children that complete, fail and panic: each outcome is the
/// one the scope reports without a subscriber.
async fn a_scope_of_every_kind() {
    let s = &Scope::new(Config::new().name("hooked"));
    let out = s
        .run(async {
            let a = s.spawn_named("spawned", async { Ok::<_, Interrupted>(1) });
            let b = s.spawn_in_place_named("in_place", async { Ok::<_, Interrupted>(2) });
            let c = s.spawn_blocking(|_| Ok::<_, Interrupted>(3));
            Ok::<_, Interrupted>(a.await? + b.await? + c.await?)
        })
        .await;
    assert_eq!(out.unwrap(), 6);

    let s = &Scope::new(Config::new().name("hooked_failing"));
    let out = s
        .run(async {
            s.spawn_named("failing", async {
                tokio::task::yield_now().await;
                Err::<(), _>(Interrupted::from_cause(scope::Cause::explicit("bad")))
            });
            s.spawn_in_place_named("waiting", async {
                scope::cancelled().await;
            });
            Ok::<_, Interrupted>(())
        })
        .await;
    assert_eq!(out.unwrap_err().to_string(), "cancelled: bad");

    let svc = Service::new(ServiceConfig::new("hooked_service"));
    let task = svc.spawn(async { Ok::<_, Interrupted>(7) }).unwrap();
    let out = task.await;
    assert!(matches!(out, Ok(Ok(7))), "{out:?}");
    let report = svc.stop().await;
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_subscriber_panicking_as_a_childs_span_is_made_costs_the_scope_nothing() {
    with_panicking_subscriber(Hook::NewTaskSpan, a_scope_of_every_kind());
}

#[test]
fn a_subscriber_panicking_at_an_event_costs_the_scope_nothing() {
    with_panicking_subscriber(Hook::Event, a_scope_of_every_kind());
}

#[test]
fn a_subscriber_panicking_as_a_span_is_entered_costs_the_scope_nothing() {
    with_panicking_subscriber(Hook::Enter, a_scope_of_every_kind());
}

#[test]
fn a_subscriber_panicking_as_a_span_is_left_costs_the_scope_nothing() {
    with_panicking_subscriber(Hook::Exit, a_scope_of_every_kind());
}
