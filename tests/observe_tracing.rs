//! The `tracing` feature: every scope and child has a span, parented along the scope tree
//! (across workers), children carry the spawner's span so `#[instrument]`ed code nests in
//! either attribute order, and cancellations, deadlines, failures and panics are events in the
//! right span. Run with `cargo test --all-features --test observe_tracing`.
#![cfg(feature = "tracing")]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use scope::{scoped, spawn, spawn_in_place, Interrupted};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span as the subscriber saw it created.
#[derive(Clone, Debug)]
struct SpanRec {
    id: u64,
    /// The span's name (`scope`, `task`, or the instrumented fn's).
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
}

#[derive(Clone, Debug)]
struct EventRec {
    fields: HashMap<String, String>,
    parent: Option<u64>,
    level: tracing::Level,
}

#[derive(Default)]
struct Log {
    spans: HashMap<u64, SpanRec>,
    meta: HashMap<u64, &'static Metadata<'static>>,
    events: Vec<EventRec>,
}

/// A subscriber that records every span with its parent and every event with its span.
#[derive(Clone, Default)]
struct Capture {
    log: Arc<Mutex<Log>>,
    next: Arc<AtomicU64>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

fn current() -> Option<u64> {
    STACK.with(|s| s.borrow().last().copied())
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else if attrs.is_contextual() {
            current()
        } else {
            None
        };
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let rec = SpanRec {
            id,
            name: attrs.metadata().name(),
            fields,
            parent,
        };
        let mut log = self.log.lock().unwrap();
        log.spans.insert(id, rec);
        log.meta.insert(id, attrs.metadata());
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let parent = if let Some(p) = event.parent() {
            Some(p.into_u64())
        } else if event.is_contextual() {
            current()
        } else {
            None
        };
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.log.lock().unwrap().events.push(EventRec {
            fields,
            parent,
            level: *event.metadata().level(),
        });
    }
    fn enter(&self, span: &Id) {
        STACK.with(|s| s.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|x| *x == span.into_u64()) {
                s.remove(i);
            }
        });
    }
    // `Span::current()` (what a child carries from its spawner) asks for this.
    fn current_span(&self) -> tracing_core::span::Current {
        let meta =
            current().and_then(|id| self.log.lock().unwrap().meta.get(&id).map(|m| (id, *m)));
        match meta {
            Some((id, meta)) => tracing_core::span::Current::new(Id::from_u64(id), meta),
            None => tracing_core::span::Current::none(),
        }
    }
}

/// The one subscriber of this test binary (the workers of a multi-thread runtime need a global
/// one); each test finds its own spans by their unique names.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(capture.clone())
            .expect("the only global subscriber");
        capture
    })
}

impl Log {
    fn find(&self, name: &str) -> Vec<&SpanRec> {
        self.spans.values().filter(|s| s.name == name).collect()
    }
    /// The names of `id`'s ancestors, nearest first (a span's name, or a scope or task
    /// span's `name` field after a colon).
    fn chain(&self, mut id: u64) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(p) = self.spans.get(&id).and_then(|s| s.parent) {
            let s = &self.spans[&p];
            out.push(match s.fields.get("name") {
                Some(n) if s.name == "scope" || s.name == "task" => format!("{}:{n}", s.name),
                _ => s.name.to_owned(),
            });
            id = p;
        }
        out
    }
}

#[tracing::instrument(name = "leaf_a", skip_all)]
async fn leaf_a() -> Result<u8, Interrupted> {
    tokio::task::yield_now().await;
    Ok(1)
}

#[tracing::instrument(name = "leaf_b", skip_all)]
async fn leaf_b() -> Result<u8, Interrupted> {
    tokio::task::yield_now().await;
    Ok(2)
}

/// `#[scoped]` outside `#[instrument]`: the scope is entered inside the request's span.
#[scoped(name = "order_a")]
#[tracing::instrument(name = "request_a", skip_all)]
async fn scoped_then_instrument() -> Result<u8, Interrupted> {
    let spawned = spawn!(async { leaf_a().await });
    let in_place = spawn_in_place!(async { leaf_b().await });
    Ok(spawned.await? + in_place.await?)
}

#[tracing::instrument(name = "leaf_c", skip_all)]
async fn leaf_c() -> Result<u8, Interrupted> {
    tokio::task::yield_now().await;
    Ok(3)
}

#[tracing::instrument(name = "leaf_d", skip_all)]
async fn leaf_d() -> Result<u8, Interrupted> {
    tokio::task::yield_now().await;
    Ok(4)
}

/// `#[instrument]` outside `#[scoped]`: the request's span is entered inside the scope.
#[tracing::instrument(name = "request_b", skip_all)]
#[scoped(name = "order_b")]
async fn instrument_then_scoped() -> Result<u8, Interrupted> {
    let spawned = spawn!(async { leaf_c().await });
    let in_place = spawn_in_place!(async { leaf_d().await });
    Ok(spawned.await? + in_place.await?)
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A current-thread runtime on a paused clock.
fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn spans_nest_along_the_tree_with_scoped_outside_instrument() {
    let capture = capture();
    let rt = multi_thread();
    // Spawned from a task, so that the spawned child may well run on the other worker.
    let out = rt.block_on(rt.spawn(scoped_then_instrument())).unwrap();
    assert_eq!(out.unwrap(), 3);
    let log = capture.log.lock().unwrap();
    let spawned = log.find("leaf_a");
    assert_eq!(spawned.len(), 1);
    // leaf -> the child's task span -> the scope -> the request.
    let chain = log.chain(spawned[0].id);
    assert!(chain[0].starts_with("task:"), "{chain:?}");
    assert_eq!(&chain[1..3], ["scope:order_a", "request_a"], "{chain:?}");
    let task = &log.spans[&spawned[0].parent.unwrap()];
    assert_eq!(task.fields["kind"], "spawned");
    assert!(
        task.fields["site"].contains("observe_tracing.rs"),
        "{task:?}"
    );

    let in_place = log.find("leaf_b");
    let chain = log.chain(in_place[0].id);
    assert!(chain[0].starts_with("task:"), "{chain:?}");
    assert_eq!(&chain[1..3], ["scope:order_a", "request_a"], "{chain:?}");
    assert_eq!(
        log.spans[&in_place[0].parent.unwrap()].fields["kind"],
        "in-place"
    );
}

#[test]
fn spans_nest_along_the_tree_with_instrument_outside_scoped() {
    let capture = capture();
    let rt = multi_thread();
    let out = rt.block_on(rt.spawn(instrument_then_scoped())).unwrap();
    assert_eq!(out.unwrap(), 7);
    let log = capture.log.lock().unwrap();
    // The children carry the request's span (current where they were spawned).
    for (leaf, kind) in [("leaf_c", "spawned"), ("leaf_d", "in-place")] {
        let spans = log.find(leaf);
        assert_eq!(spans.len(), 1, "{leaf}");
        let chain = log.chain(spans[0].id);
        assert!(chain[0].starts_with("task:"), "{leaf}: {chain:?}");
        assert_eq!(
            &chain[1..3],
            ["request_b", "scope:order_b"],
            "{leaf}: {chain:?}"
        );
        assert_eq!(log.spans[&spans[0].parent.unwrap()].fields["kind"], kind);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Log {
    /// The span of a scope or child named `name`.
    fn named(&self, span: &str, name: &str) -> u64 {
        let found: Vec<_> = self
            .spans
            .values()
            .filter(|s| s.name == span && s.fields.get("name").map(String::as_str) == Some(name))
            .collect();
        assert_eq!(found.len(), 1, "one {span} span named {name}");
        found[0].id
    }
    /// The events in span `id` whose message is `message`.
    fn events_in(&self, id: u64, message: &str) -> Vec<&EventRec> {
        self.events
            .iter()
            .filter(|e| {
                e.parent == Some(id) && e.fields.get("message").map(String::as_str) == Some(message)
            })
            .collect()
    }
}

#[test]
fn failures_panics_cancellations_and_deadlines_are_events_in_their_spans() {
    use scope::{Config, Scope};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let s = &Scope::new(Config::new().name("events_fail"));
        let out = s
            .run(async {
                // The failure comes once the sibling runs (a sibling cancelled before its first
                // poll never runs, and has no span to look at).
                let (started, sibling_runs) = tokio::sync::oneshot::channel::<()>();
                s.spawn_named("events_failing", async move {
                    let _ = sibling_runs.await;
                    Err::<(), BoxError>("disk full".into())
                });
                s.spawn_named("events_sibling", async move {
                    let _ = started.send(());
                    scope::cancelled().await;
                    Ok::<(), BoxError>(())
                });
                Ok::<(), BoxError>(())
            })
            .await;
        assert_eq!(out.unwrap_err().to_string(), "disk full");

        let s = &Scope::new(Config::new().name("events_panic"));
        let out = s
            .run(async {
                s.spawn_named("events_panicking", async {
                    tokio::task::yield_now().await;
                    panic!("kaboom")
                });
                Ok::<(), Interrupted>(())
            })
            .await;
        assert!(matches!(out, Err(Interrupted::Panicked(_))));

        let s = &Scope::new(
            Config::new()
                .name("events_deadline")
                .timeout(Duration::from_millis(20)),
        );
        let out = s
            .run(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<(), Interrupted>(())
            })
            .await;
        assert!(matches!(out, Err(Interrupted::DeadlineExceeded(_))));
    });

    let log = capture.log.lock().unwrap();
    let failing = log.named("task", "events_failing");
    let failed = log.events_in(failing, "task failed");
    assert_eq!(
        failed.len(),
        1,
        "the failure is an event in the child's span"
    );
    assert_eq!(failed[0].fields["error"], "disk full");
    let scope = log.named("scope", "events_fail");
    let cancelled = log.events_in(scope, "cancelled");
    assert_eq!(
        cancelled.len(),
        1,
        "the cancellation is an event in the scope's span"
    );
    assert_eq!(
        cancelled[0].fields["cause"],
        "sibling task `events_failing` failed: disk full"
    );
    assert_eq!(log.events_in(scope, "scope failed").len(), 1);
    // The sibling was stopped by the cancel; it completed on its own, so no event of its own.
    let sibling = log.named("task", "events_sibling");
    assert!(log.events_in(sibling, "task failed").is_empty());

    let panicking = log.named("task", "events_panicking");
    let panicked = log.events_in(panicking, "task panicked");
    assert_eq!(panicked.len(), 1);
    assert_eq!(panicked[0].fields["panic"], "kaboom");
    assert_eq!(
        log.events_in(log.named("scope", "events_panic"), "scope panicked")
            .len(),
        1
    );

    let deadline = log.named("scope", "events_deadline");
    let expired = log.events_in(deadline, "deadline exceeded");
    assert_eq!(
        expired.len(),
        1,
        "the deadline is an event in its scope's span"
    );
    assert_eq!(expired[0].fields["deadline"], "events_deadline");
}

/// A cancelled scope whose grace runs out while a child still runs says so, at `WARN`, before it
/// aborts what is left (an outside tester's report, probe142: an SRE saw nothing at `INFO` for a
/// request cut short at the grace's end); one whose children answer within the grace does not.
#[test]
fn a_grace_that_runs_out_is_a_warning_in_the_scopes_span() {
    use scope::{Config, Scope};
    use std::time::Duration;
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let config = Config::new().name("events_grace_ran_out");
        let s = &Scope::new(config.grace(Duration::from_millis(50)));
        let out = s
            .run(async {
                // (Started first: a child cancelled before its first poll never starts.)
                let (up, started) = tokio::sync::oneshot::channel();
                let _stuck = s.spawn(async {
                    let _ = up.send(());
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<(), Interrupted>(())
                });
                let _ = started.await;
                s.cx().cancel("stop");
                Ok::<(), Interrupted>(())
            })
            .await;
        assert!(out.is_ok(), "{out:?}");
        let config = Config::new().name("events_grace_kept");
        let s = &Scope::new(config.grace(Duration::from_secs(30)));
        let out = s
            .run(async {
                let (up, started) = tokio::sync::oneshot::channel();
                let _answers = s.spawn(async {
                    let _ = up.send(());
                    scope::cancelled().await;
                    Ok::<(), Interrupted>(())
                });
                let _ = started.await;
                s.cx().cancel("stop");
                Ok::<(), Interrupted>(())
            })
            .await;
        assert!(out.is_ok(), "{out:?}");
    });
    let log = capture.log.lock().unwrap();
    let ran_out = log.events_in(log.named("scope", "events_grace_ran_out"), "grace ran out");
    assert_eq!(ran_out.len(), 1, "{ran_out:?}");
    assert_eq!(ran_out[0].fields["grace"], "50ms");
    assert_eq!(ran_out[0].level, tracing::Level::WARN);
    let kept = log.events_in(log.named("scope", "events_grace_kept"), "grace ran out");
    assert!(kept.is_empty(), "{kept:?}");
}

/// The grace the event names is the one the cancel gave: a shutdown grace the scope's deadline
/// cut to 1 s reads `1s`, not what is left of it when it runs out (probe146: `0ns`).
#[test]
fn a_grace_cut_by_the_deadline_runs_out_with_the_grace_it_gave() {
    use scope::{Cause, Config, Scope, Signal};
    use std::time::Duration;
    let capture = capture();
    paused().block_on(async {
        let config = Config::new()
            .name("events_grace_cut")
            .timeout(Duration::from_secs(2));
        let s = &Scope::new(config.shutdown_grace(Duration::from_secs(5)));
        let _ = s
            .run(async {
                let (up, started) = tokio::sync::oneshot::channel();
                let _stuck = s.spawn(async {
                    let _ = up.send(());
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<(), Interrupted>(())
                });
                let _ = started.await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                s.cx().cancel_with(Cause::Shutdown {
                    signal: Signal::Terminate,
                });
                Ok::<(), Interrupted>(())
            })
            .await;
    });
    let log = capture.log.lock().unwrap();
    let ran_out = log.events_in(log.named("scope", "events_grace_cut"), "grace ran out");
    assert_eq!(ran_out.len(), 1, "{ran_out:?}");
    assert_eq!(ran_out[0].fields["grace"], "1s");
}

/// A scope's own body's error is not a sibling's in the scope's own span (probe111: "cancelled
/// cause=sibling task `conn` failed" in `scope[name=conn]`); its child still reads it as its
/// parent's cause, where the body is its sibling.
#[test]
fn a_scopes_own_body_failing_is_its_body_in_its_span_not_a_sibling() {
    use scope::{Config, Scope};
    let capture = capture();
    let rt = multi_thread();
    let child_read = rt.block_on(async {
        let s = &Scope::new(
            Config::new()
                .name("events_body_fails")
                .grace(Duration::from_secs(5)),
        );
        let (read, got) = tokio::sync::oneshot::channel();
        let out = s
            .run(async {
                // The body fails once the child runs (one cancelled before its first poll
                // never runs).
                let (started, child_runs) = tokio::sync::oneshot::channel::<()>();
                s.spawn_named("events_body_child", async move {
                    let _ = started.send(());
                    scope::cancelled().await;
                    let _ = read.send(scope::Cx::current().cause().map(|c| c.to_string()));
                    Ok::<(), BoxError>(())
                });
                let _ = child_runs.await;
                Err::<(), BoxError>("connection reset".into())
            })
            .await;
        assert_eq!(out.unwrap_err().to_string(), "connection reset");
        got.await.unwrap()
    });
    assert_eq!(
        child_read.as_deref(),
        Some("parent cancelled: sibling task `events_body_fails` failed: connection reset")
    );
    let log = capture.log.lock().unwrap();
    let scope = log.named("scope", "events_body_fails");
    let cancelled = log.events_in(scope, "cancelled");
    assert_eq!(
        cancelled.len(),
        1,
        "one cancellation event in the scope's span"
    );
    assert_eq!(
        cancelled[0].fields["cause"],
        "its body failed: connection reset"
    );
    assert_eq!(log.events_in(scope, "scope failed").len(), 1);
}

#[test]
fn a_scope_whose_end_runs_a_panicking_callback_is_reported_as_panicked() {
    use scope::{Config, Cx, Scope};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let s = &Scope::new(Config::new().name("events_end_callback"));
        // Runs when the scope's context ends, at the scope's end: a panic of the scope.
        let _callback = s.cx().on_cancel(|_| panic!("callback"));
        let out = s.run(async { Ok::<(), Interrupted>(()) }).await;
        assert!(matches!(out, Err(Interrupted::Panicked(_))), "{out:?}");
        assert!(Cx::current().same_as(&Cx::background()));
    });
    let (panicked, finished) = {
        let log = capture.log.lock().unwrap();
        let scope = log.named("scope", "events_end_callback");
        (
            log.events_in(scope, "scope panicked").len(),
            log.events_in(scope, "scope finished").len(),
        )
    };
    // Before, the span said "scope finished" (completed) for a scope that returned a panic.
    assert_eq!(
        (panicked, finished),
        (1, 0),
        "the scope's result is a panic, and so is its event"
    );
}

/// A child whose output nobody reads (its handle was dropped) and whose output's destructor
/// panics: that panic is the child's (the scope returns it), and its span says so, for an
/// in-place child and a blocking one alike (they reported "completed" and no panic).
#[test]
fn a_panic_dropping_an_unread_output_is_the_childs_panic_event() {
    use scope::{Config, Scope};
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("output dropped badly");
        }
    }
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let s = &Scope::new(Config::new().name("events_unread_output"));
        let out = s
            .run(async {
                drop(s.spawn_in_place_named("events_bad_output", async {
                    tokio::task::yield_now().await;
                    Ok::<_, Interrupted>(Bomb)
                }));
                Ok::<_, Interrupted>(())
            })
            .await;
        assert!(matches!(out, Err(Interrupted::Panicked(_))), "{out:?}");
        let s = &Scope::new(Config::new().name("events_unread_blocking"));
        let out = s
            .run(async {
                drop(s.spawn_blocking(|_| Ok::<_, Interrupted>(Bomb)));
                Ok::<_, Interrupted>(())
            })
            .await;
        assert!(matches!(out, Err(Interrupted::Panicked(_))), "{out:?}");
    });
    let log = capture.log.lock().unwrap();
    let task = log.named("task", "events_bad_output");
    assert_eq!(log.events_in(task, "task panicked").len(), 1);
    let scope = log.named("scope", "events_unread_blocking");
    let blocking: Vec<u64> = log
        .spans
        .values()
        .filter(|s| s.name == "task" && s.parent == Some(scope))
        .map(|s| s.id)
        .collect();
    assert_eq!(blocking.len(), 1, "one blocking child");
    assert_eq!(log.events_in(blocking[0], "task panicked").len(), 1);
}

/// A service made while a request's span is current is a root span, as its context is a root:
/// under the request's span, that span stayed open for the service's whole life and every
/// later task of the service was filed under that first request.
#[test]
fn a_service_made_in_a_requests_span_is_a_root_span() {
    use scope::{Service, ServiceConfig};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let request = tracing::info_span!("request_making_a_service");
        let svc = {
            let _entered = request.enter();
            Service::new(ServiceConfig::new("events_svc_root"))
        };
        drop(request);
        let _ = svc.stop().await; // (clean-up: what it stops is not the test)
    });
    let log = capture.log.lock().unwrap();
    let svc = log.named("scope", "events_svc_root");
    assert_eq!(log.spans[&svc].parent, None, "the service's span is a root");
}

#[test]
fn a_siblings_error_answering_the_cancel_is_a_stop_not_a_failure() {
    use scope::{Config, Scope};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        // A grace, so that the sibling answers the cancel (with none it is aborted first).
        let s = &Scope::new(
            Config::new()
                .name("events_consequence")
                .grace(Duration::from_secs(5)),
        );
        let out = s
            .run(async {
                let (started, sibling_runs) = tokio::sync::oneshot::channel::<()>();
                s.spawn_named("events_first_failure", async move {
                    let _ = sibling_runs.await;
                    Err::<(), BoxError>("disk full".into())
                });
                s.spawn_named("events_answering", async move {
                    let _ = started.send(());
                    // Answers the scope's cancel with an error of its own: a consequence.
                    let cause = scope::cancelled().await;
                    Err::<(), BoxError>(format!("gave up: {cause}").into())
                });
                Ok::<(), BoxError>(())
            })
            .await;
        assert_eq!(out.unwrap_err().to_string(), "disk full");
    });
    let log = capture.log.lock().unwrap();
    let first = log.named("task", "events_first_failure");
    assert_eq!(log.events_in(first, "task failed").len(), 1);
    let answering = log.named("task", "events_answering");
    assert!(
        log.events_in(answering, "task failed").is_empty(),
        "a consequence of the cancel is not a failure"
    );
    // The error it answered with, not the cause alone (`probe221`: the field held the
    // cause, and the child's own error was in no event).
    let stopped = log.events_in(answering, "task stopped before completing");
    assert_eq!(stopped.len(), 1);
    assert_eq!(
        stopped[0].fields["cause"],
        "task `events_answering` failed: gave up: parent cancelled: sibling task \
         `events_first_failure` failed: disk full"
    );
}

/// A supervised scope's child that fails in its grace after the run was dropped (a timeout
/// around it) is a failure all the same, though no report reads it: a `task failed` event,
/// not a stop; and the scope, with no panic anywhere, did not panic.
#[test]
fn a_failure_in_the_grace_of_a_dropped_run_is_still_a_failure() {
    use scope::{Config, Scope};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let s = &Scope::new(
            Config::new()
                .name("events_dropped_run")
                .grace(Duration::from_secs(5)),
        );
        let (failed, has_failed) = tokio::sync::oneshot::channel::<()>();
        let run = s.run_all(async {
            s.spawn_named("events_fails_in_the_grace", async move {
                let _ = scope::cancelled().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = failed.send(());
                Err::<(), BoxError>("flushed too late".into())
            });
            Ok::<(), BoxError>(())
        });
        assert!(tokio::time::timeout(Duration::from_millis(50), run)
            .await
            .is_err());
        let _ = has_failed.await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    });
    let log = capture.log.lock().unwrap();
    let child = log.named("task", "events_fails_in_the_grace");
    assert_eq!(log.events_in(child, "task failed").len(), 1);
    let scope = log.named("scope", "events_dropped_run");
    assert!(log.events_in(scope, "scope panicked").is_empty());
}

/// A race that returned its winner neither failed nor was cancelled: the winner's cancel of
/// the losers is its end, not a cancellation, and a candidate that failed before is not the
/// race's failure.
#[test]
fn a_race_that_won_is_neither_failed_nor_cancelled() {
    use scope::{Config, Race};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        for (name, with_failure) in [
            ("events_race_won_after_failure", true),
            ("events_race_won", false),
        ] {
            let race = &Race::new(Config::new().name(name));
            let winner = race
                .run(async {
                    if with_failure {
                        race.spawn_named("race_down", async {
                            Err::<&str, BoxError>("mirror a is down".into())
                        });
                    }
                    race.spawn_named("race_up", async {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        Ok::<_, BoxError>("mirror b")
                    });
                })
                .await;
            assert_eq!(winner.unwrap(), "mirror b");
        }
    });
    let log = capture.log.lock().unwrap();
    for name in ["events_race_won_after_failure", "events_race_won"] {
        let scope = log.named("scope", name);
        assert!(
            log.events_in(scope, "scope failed").is_empty(),
            "{name}: the race returned its winner"
        );
        assert!(
            log.events_in(scope, "cancelled").is_empty(),
            "{name}: the winner's end of the losers is not a cancellation"
        );
    }
}

#[test]
fn a_losers_answer_to_the_win_is_a_stop_not_a_failure() {
    // A loser that answers the win's cancel with an error (the usual shape of cancellable
    // code) was logged at WARN "task failed" and counted failed, in a race that returned its
    // winner.
    use scope::{Config, Race};
    let capture = capture();
    multi_thread().block_on(async {
        let race = &Race::new(
            Config::new()
                .name("events_race_answered")
                .grace(Duration::from_secs(5)),
        );
        let winner = race
            .run(async {
                race.spawn_named("race_answering_loser", async {
                    let cause = scope::cancelled().await;
                    Err::<&str, BoxError>(format!("gave up: {cause}").into())
                });
                race.spawn_named("race_fast", async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Ok::<_, BoxError>("mirror b")
                });
            })
            .await;
        assert_eq!(winner.unwrap(), "mirror b");
    });
    let log = capture.log.lock().unwrap();
    let loser = log.named("task", "race_answering_loser");
    assert!(
        log.events_in(loser, "task failed").is_empty(),
        "the race won"
    );
    let stopped = log.events_in(loser, "task stopped before completing");
    assert_eq!(stopped.len(), 1);
    assert_eq!(
        stopped[0].fields["cause"],
        "task `race_answering_loser` failed: gave up: parent cancelled: another candidate won the race"
    );
}

#[test]
fn an_inherited_deadline_is_reported_by_the_scope_that_set_it_only() {
    // One scope with a timeout calling one nested scope: one "deadline exceeded" (INFO), from
    // the scope whose deadline it is. Before, the nested scope reported it too, as its own:
    // with no deadline of its own, and with one of its own that is later than (or the same
    // as) its parent's, which is then not the one in force.
    use scope::{Config, Scope};
    for (case, inner_timeout) in [("none", None), ("later", Some(60_000)), ("same", Some(20))] {
        let capture = capture();
        let (outer_name, inner_name) = (format!("dl_{case}_outer"), format!("dl_{case}_inner"));
        paused().block_on(async {
            let outer = &Scope::new(
                Config::new()
                    .name(outer_name.clone())
                    .timeout(Duration::from_millis(20)),
            );
            let out = outer
                .run(async {
                    let mut config = Config::new().name(inner_name.clone());
                    if let Some(ms) = inner_timeout {
                        config = config.timeout(Duration::from_millis(ms));
                    }
                    let inner = &Scope::new(config);
                    inner
                        .run(async {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            Ok::<(), Interrupted>(())
                        })
                        .await
                })
                .await;
            assert!(
                matches!(out, Err(Interrupted::DeadlineExceeded(_))),
                "{out:?}"
            );
        });
        let log = capture.log.lock().unwrap();
        let inner = log.named("scope", &inner_name);
        assert!(
            log.events_in(inner, "deadline exceeded").is_empty(),
            "{case}: the nested scope blamed for its parent's deadline"
        );
        let outer = log.named("scope", &outer_name);
        assert_eq!(log.events_in(outer, "deadline exceeded").len(), 1, "{case}");
    }
}

/// A run forgotten while it drained (it had seen its deadline) reports that deadline once.
#[test]
fn a_forgotten_run_that_saw_its_deadline_reports_it_once() {
    use scope::{Config, Scope};
    let capture = capture();
    let rt = paused();
    rt.block_on(async {
        let s = &Scope::new(
            Config::new()
                .name("events_forgotten_deadline")
                .timeout(Duration::from_millis(10))
                .grace(Duration::from_secs(60)),
        );
        let mut run = Box::pin(s.run(async {
            s.spawn(std::future::pending::<Result<(), Interrupted>>()); // in its grace
            std::future::pending::<Result<(), Interrupted>>().await
        }));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), run.as_mut())
                .await
                .is_err()
        );
        std::mem::forget(run);
    });
    rt.block_on(async {
        // Supervised, with a child's failure kept: forgotten, it is reported failed (as a run
        // that returns would be), not only cancelled.
        let s = &Scope::new(
            Config::new()
                .name("events_forgotten_failed")
                .grace(Duration::from_secs(60)),
        );
        let mut run = Box::pin(s.run_all(async {
            s.spawn(async { Err::<(), BoxError>("disk full".into()) });
            s.spawn(std::future::pending::<Result<(), BoxError>>());
            std::future::pending::<Result<(), BoxError>>().await
        }));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), run.as_mut())
                .await
                .is_err()
        );
        std::mem::forget(run);
    });
    let log = capture.log.lock().unwrap();
    let scope = log.named("scope", "events_forgotten_deadline");
    assert_eq!(log.events_in(scope, "deadline exceeded").len(), 1);
    let scope = log.named("scope", "events_forgotten_failed");
    assert_eq!(log.events_in(scope, "scope failed").len(), 1);
}

#[test]
fn a_service_dropped_without_a_stop_or_a_drain_reports_its_end() {
    // Its start was reported when it was made: its end is too, when its last clone goes (its
    // tasks ended first: each holds the service), with what its tasks did.
    use scope::{Service, ServiceConfig};
    let capture = capture();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let quiet = Service::new(ServiceConfig::new("events_svc_dropped"));
            let _ = quiet.spawn(async { Ok::<(), String>(()) }).unwrap().await;
            drop(quiet);
            let failing = Service::new(ServiceConfig::new("events_svc_dropped_failed"));
            let _ = failing
                .spawn(async { Err::<(), _>("disk full") })
                .unwrap()
                .await;
            drop(failing);
            tokio::task::yield_now().await;
        });
    let log = capture.log.lock().unwrap();
    let quiet = log.named("scope", "events_svc_dropped");
    assert_eq!(log.events_in(quiet, "scope finished").len(), 1);
    let failing = log.named("scope", "events_svc_dropped_failed");
    assert_eq!(log.events_in(failing, "scope failed").len(), 1);
}

/// A service whose tasks were cut short by its stop's abort (or dropped by their runtime's
/// shutdown) ends cancelled, as a scope whose children were aborted after its grace does: each
/// task reports a stop, and no task failed, so the service did not fail either. A task dropped
/// at its own deadline is still a failure.
#[test]
fn a_service_whose_tasks_were_only_stopped_ends_cancelled_not_failed() {
    use scope::{Service, ServiceConfig};
    let capture = capture();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let svc =
            Service::new(ServiceConfig::new("events_svc_aborted").grace(Duration::from_millis(1)));
        let _task = svc.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        let report = svc.stop().await;
        assert_eq!(report.aborted().len(), 1, "{report:?}");
        let hung = Service::new(
            ServiceConfig::new("events_svc_hung")
                .grace(Duration::from_millis(1))
                .task_timeout(Duration::from_millis(5)),
        );
        let _task = hung.spawn(std::future::pending::<()>()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(hung);
        // One task cancelled through its handle, which ignores it and is dropped a grace
        // later: the caller's decision, not a failure, and not a cancel of the service.
        let one = Service::new(
            ServiceConfig::new("events_svc_handle_cancel").grace(Duration::from_millis(1)),
        );
        let task = one.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        assert!(task.cancel("enough"));
        assert!(task.await.is_err());
        assert_eq!(one.failures().len(), 1, "listed, as every drop is");
        one.drain(Duration::from_secs(1)).await.unwrap();
    });
    // Dropped by its runtime's shutdown.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let svc = rt.block_on(async {
        let svc = Service::new(ServiceConfig::new("events_svc_runtime_gone"));
        let _task = svc.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        svc
    });
    drop(rt);
    assert_eq!(svc.failures().len(), 1);
    drop(svc);
    let log = capture.log.lock().unwrap();
    for (name, outcome) in [
        ("events_svc_aborted", "cancelled"),
        ("events_svc_runtime_gone", "cancelled"),
        ("events_svc_handle_cancel", "completed"),
    ] {
        let svc = log.named("scope", name);
        assert!(
            log.events_in(svc, "scope failed").is_empty(),
            "{name}: {:?}",
            log.events
        );
        let finished = log.events_in(svc, "scope finished");
        assert_eq!(finished.len(), 1, "{name}: {:?}", log.events);
        assert_eq!(
            finished[0].fields.get("outcome").map(String::as_str),
            Some(outcome),
            "{name}"
        );
    }
    let hung = log.named("scope", "events_svc_hung");
    assert_eq!(
        log.events_in(hung, "scope failed").len(),
        1,
        "{:?}",
        log.events
    );
}

#[test]
fn a_services_grace_that_runs_out_is_a_warning_in_its_span() {
    // An outside report (probe192): a scope whose grace runs out says so (a warning), and a
    // service whose stop aborts work past its grace, or whose daemon a shutdown drops at its
    // grace, said nothing above `DEBUG`. Now the service's span has the same warning, once,
    // with its grace; a stop that aborts nothing has none.
    use scope::{App, Service, ServiceConfig, Signal};
    let capture = capture();
    paused().block_on(async {
        let svc = Service::new(
            ServiceConfig::new("events_svc_grace_ran_out").grace(Duration::from_millis(20)),
        );
        let _task = svc.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(svc.stop().await.aborted().len(), 1);
        // (Its review, probe193: two stops at once warned twice, and a zero grace, which
        // gives none to run out, warned too.)
        let twice = Service::new(
            ServiceConfig::new("events_svc_stopped_twice").grace(Duration::from_millis(20)),
        );
        let _task = twice.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        let (one, other) = tokio::join!(twice.stop(), twice.stop());
        assert_eq!(one.aborted().len() + other.aborted().len(), 2);
        let zero = Service::new(ServiceConfig::new("events_svc_zero_grace").grace(Duration::ZERO));
        let _task = zero.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(zero.stop().await.aborted().len(), 1);
        let polite = Service::new(
            ServiceConfig::new("events_svc_grace_kept").grace(Duration::from_millis(20)),
        );
        let _task = polite
            .spawn(async {
                scope::cancelled().await;
            })
            .unwrap();
        tokio::task::yield_now().await;
        assert!(polite.stop().await.aborted().is_empty());
        let signals = futures_util::stream::iter([Signal::Terminate]);
        let (_, report) = App::new()
            .run(Duration::from_secs(3), signals, async {
                let daemons = Service::new(
                    ServiceConfig::new("events_daemon_grace_ran_out")
                        .daemon()
                        .grace(Duration::from_millis(30)),
                );
                daemons
                    .spawn(std::future::pending::<()>())
                    .unwrap()
                    .detach();
                scope::cancelled().await;
            })
            .await;
        assert!(!report.is_clean(), "{report}");
    });
    let log = capture.log.lock().unwrap();
    for (name, grace) in [
        ("events_svc_grace_ran_out", "20ms"),
        ("events_daemon_grace_ran_out", "30ms"),
        ("events_svc_stopped_twice", "20ms"),
    ] {
        let ran_out = log.events_in(log.named("scope", name), "grace ran out");
        assert_eq!(ran_out.len(), 1, "{name}: {:?}", log.events);
        assert_eq!(ran_out[0].fields["grace"], grace, "{name}");
        assert_eq!(ran_out[0].level, tracing::Level::WARN, "{name}");
    }
    for name in ["events_svc_grace_kept", "events_svc_zero_grace"] {
        let none = log.events_in(log.named("scope", name), "grace ran out");
        assert!(none.is_empty(), "{name}: {none:?}");
    }
}

#[test]
fn a_supervisors_give_up_is_a_failure_of_its_child() {
    // The child that gave up ends with its failure (an event, and the failed count), as any
    // failed child does; it read as completed when the give-up went around the scope.
    use scope::{Config, Restart, Supervisor};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let out = Supervisor::<BoxError>::new(Config::new().name("events_supervisor"))
            .intensity(0, Duration::from_secs(60))
            .child("events_giving_up", Restart::Permanent, || async {
                Err::<(), BoxError>("disk full".into())
            })
            .run()
            .await;
        assert_eq!(out.unwrap_err().to_string(), "disk full");
    });
    let log = capture.log.lock().unwrap();
    let child = log.named("task", "events_giving_up");
    assert_eq!(
        log.events_in(child, "task failed").len(),
        1,
        "the give-up is its child's failure"
    );
}

/// A supervised child's incarnations that end (a failure, a panic, a normal return) are
/// events in the child's span, with the attempt and the supervisor's decision: a crash-looping
/// child is not one healthy task to a subscriber.
#[test]
fn a_supervised_childs_crashes_are_events_in_its_span() {
    use scope::{Backoff, Config, Restart, Supervisor};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let attempts = Arc::new(AtomicU64::new(0));
        let out = Supervisor::<BoxError>::new(Config::new().name("events_supervising"))
            .backoff(Backoff::new(Duration::ZERO, Duration::ZERO))
            .child("events_crashing", Restart::Transient, move || {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        0 => Err::<(), BoxError>("connection lost".into()),
                        1 => panic!("boom"),
                        _ => Ok(()),
                    }
                }
            })
            .run()
            .await;
        assert!(out.is_ok(), "{out:?}");
    });
    let log = capture.log.lock().unwrap();
    let child = log.named("task", "events_crashing");
    let field = |e: &EventRec, f: &str| e.fields.get(f).cloned().unwrap_or_default();
    let failed = log.events_in(child, "supervised incarnation failed");
    assert_eq!(failed.len(), 1, "{:?}", log.events);
    assert_eq!(field(failed[0], "error"), "connection lost");
    assert_eq!(field(failed[0], "attempt"), "1");
    assert_eq!(field(failed[0], "action"), "restart");
    assert_eq!(field(failed[0], "task"), "events_crashing");
    let panicked = log.events_in(child, "supervised incarnation panicked");
    assert_eq!(panicked.len(), 1, "{:?}", log.events);
    assert!(field(panicked[0], "panic").contains("boom"), "{panicked:?}");
    assert_eq!(field(panicked[0], "attempt"), "2");
    assert_eq!(field(panicked[0], "action"), "restart");
    let returned = log.events_in(child, "supervised incarnation returned");
    assert_eq!(returned.len(), 1, "{:?}", log.events);
    assert_eq!(field(returned[0], "attempt"), "3");
    assert_eq!(field(returned[0], "action"), "stop");
    // The child itself ended once, normally: no failure of its own.
    assert!(log.events_in(child, "task failed").is_empty());
}

#[test]
fn a_drained_service_stopped_later_reports_no_cancel_after_its_end() {
    // Drained (its end reported), then stopped: the stop's cancel came after the end, as a
    // `cancelled` event in a service that had finished.
    use scope::{Service, ServiceConfig};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let svc = Service::new(ServiceConfig::new("events_drained_then_stopped"));
        svc.spawn(async {}).unwrap().detach();
        svc.drain(Duration::from_secs(1)).await.unwrap();
        let _ = svc.stop().await;
    });
    let log = capture.log.lock().unwrap();
    let scope = log.named("scope", "events_drained_then_stopped");
    assert!(
        log.events_in(scope, "cancelled").is_empty(),
        "a cancel reported after the service's end"
    );
    assert_eq!(log.events_in(scope, "scope finished").len(), 1);
}

/// A subscriber that cannot say which span is current (`Subscriber::current_span` left to its
/// default, as some do): what it is told is all it knows.
struct Forgetful(Capture);

impl Subscriber for Forgetful {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        self.0.new_span(attrs)
    }
    fn record(&self, id: &Id, values: &Record<'_>) {
        self.0.record(id, values);
    }
    fn record_follows_from(&self, id: &Id, follows: &Id) {
        self.0.record_follows_from(id, follows);
    }
    fn event(&self, event: &Event<'_>) {
        self.0.event(event);
    }
    fn enter(&self, span: &Id) {
        self.0.enter(span);
    }
    fn exit(&self, span: &Id) {
        self.0.exit(span);
    }
}

#[scoped(name = "forgetful")]
async fn spawns_under_a_forgetful_subscriber() -> Result<u8, Interrupted> {
    let spawned = spawn!(async { leaf_a().await });
    let in_place = spawn_in_place!(async { leaf_b().await });
    Ok(spawned.await? + in_place.await?)
}

#[test]
fn children_hang_under_their_scope_with_a_subscriber_that_cannot_say_what_is_current() {
    let capture = Capture::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = tracing::subscriber::with_default(Forgetful(capture.clone()), || {
        rt.block_on(spawns_under_a_forgetful_subscriber())
    });
    assert_eq!(out.unwrap(), 3);
    let log = capture.log.lock().unwrap();
    for leaf in ["leaf_a", "leaf_b"] {
        let found = log.find(leaf);
        assert_eq!(found.len(), 1, "{leaf}");
        let chain = log.chain(found[0].id);
        assert!(chain[0].starts_with("task:"), "{leaf}: {chain:?}");
        assert_eq!(
            chain.get(1).map(String::as_str),
            Some("scope:forgetful"),
            "{leaf}: {chain:?}"
        );
    }
}

/// A child stopped before it completed says why in one form, the cause's text, however it
/// was stopped (`probe197`: a child aborted at the grace said "cancelled: parent cancelled:
/// stop it", the error's text, and one past a deadline the cause alone).
#[test]
fn a_stopped_childs_cause_is_the_causes_text_however_it_was_stopped() {
    use scope::{Config, Interrupted, Scope};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let s = &Scope::new(
            Config::new()
                .name("events_stopped")
                .grace(Duration::from_millis(10)),
        );
        let _ = s
            .run(async {
                let (started, running) = tokio::sync::oneshot::channel::<()>();
                s.spawn_named("events_ignores_the_cancel", async move {
                    let _ = started.send(());
                    std::future::pending::<Result<(), Interrupted>>().await
                });
                let _ = running.await;
                s.cancel("stop it");
                Ok::<(), Interrupted>(())
            })
            .await;
        let s = &Scope::new(
            Config::new()
                .name("events_stopped_at_its_deadline")
                .timeout(Duration::from_millis(20)),
        );
        let _ = s
            .run(async {
                let (started, running) = tokio::sync::oneshot::channel::<()>();
                s.spawn_named("events_past_the_deadline", async move {
                    let _ = started.send(());
                    std::future::pending::<Result<(), Interrupted>>().await
                });
                let _ = running.await;
                std::future::pending::<()>().await;
                Ok::<(), Interrupted>(())
            })
            .await;
    });
    let log = capture.log.lock().unwrap();
    for (task, cause) in [
        ("events_ignores_the_cancel", "parent cancelled: stop it"),
        (
            "events_past_the_deadline",
            "parent cancelled: deadline of `events_stopped_at_its_deadline` exceeded",
        ),
    ] {
        let stopped = log.events_in(log.named("task", task), "task stopped before completing");
        assert_eq!(stopped.len(), 1, "{task}");
        assert_eq!(stopped[0].fields["cause"], cause, "{task}");
    }
}

#[test]
fn a_child_that_never_started_says_why_as_a_stopped_child_does() {
    // `probe201`: a child aborted or cancelled before its first poll had a span and no event,
    // so whether a fail-fast sibling's stop was heard depended on the runtime's flavour.
    use scope::{Config, Interrupted, Scope, Service, ServiceConfig};
    let capture = capture();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = &Scope::new(Config::new().name("events_never_started"));
        let _ = s
            .run(async {
                let aborted = s.spawn_named("events_aborted_unstarted", async {
                    Ok::<(), Interrupted>(())
                });
                aborted.abort();
                let _ = aborted.await;
                // Fail-fast: the sibling spawned beside the failure has not had its first
                // poll when the failure cancels the scope (one thread).
                s.spawn_named("events_fails_first", async {
                    Err::<(), _>(Interrupted::from_cause(scope::Cause::explicit("broke")))
                });
                s.spawn_named("events_cancelled_unstarted", async {
                    Ok::<(), Interrupted>(())
                });
                std::future::pending::<Result<(), Interrupted>>().await
            })
            .await;
        // A service task waiting for a worker when its handle cancels it never starts.
        let svc = Service::new(ServiceConfig::new("events_svc_never_started").workers(1));
        let busy = svc.spawn(std::future::pending::<()>()).unwrap();
        tokio::task::yield_now().await;
        let task = svc
            .spawn_named("events_svc_task_unstarted", async {})
            .unwrap();
        tokio::task::yield_now().await;
        task.cancel("not needed");
        assert!(matches!(task.await, Err(Interrupted::NotStarted(_))));
        busy.detach();
        let _ = svc.stop().await;
    });
    let log = capture.log.lock().unwrap();
    for (task, why) in [
        ("events_aborted_unstarted", "not started: aborted"),
        (
            "events_cancelled_unstarted",
            "not started: sibling task `events_fails_first` failed: cancelled: broke",
        ),
        // As its handle's error says it.
        ("events_svc_task_unstarted", "not started: not needed"),
    ] {
        let stopped = log.events_in(log.named("task", task), "task stopped before completing");
        assert_eq!(stopped.len(), 1, "{task}");
        assert_eq!(stopped[0].level, tracing::Level::DEBUG, "{task}");
        assert_eq!(stopped[0].fields["cause"], why, "{task}");
    }
}

#[test]
fn a_spawn_its_scope_refuses_makes_no_child_to_report() {
    // A spawn into a scope closed already makes no child, as a `try_spawn` refused with
    // `Closed` makes none: no span, no event (its handle says why).
    use scope::{Config, Interrupted, Scope};
    let capture = capture();
    let rt = multi_thread();
    rt.block_on(async {
        let s = &Scope::new(Config::new().name("events_refusing"));
        s.run(async { Ok::<(), Interrupted>(()) }).await.unwrap();
        let late = s.spawn_named("events_refused_late", async { Ok::<(), Interrupted>(()) });
        assert!(matches!(late.await, Err(Interrupted::NotStarted(_))));
    });
    let log = capture.log.lock().unwrap();
    assert!(log
        .spans
        .values()
        .all(|span| span.fields.get("name").map(String::as_str) != Some("events_refused_late")));
}

#[test]
fn a_supervised_failure_past_the_kept_ones_is_a_failure_event_not_a_stop() {
    // `probe245`: a supervised scope counts its failures past the first 256 rather than keep
    // them; each is a failure all the same, and said so (`task failed`, `WARN`), but they were
    // told as stops (`task stopped before completing`, `DEBUG`), unheard at `INFO`.
    use scope::{Config, Scope};
    let capture = capture();
    let rt = multi_thread();
    let failures = rt.block_on(async {
        let s = &Scope::new(Config::new().name("events_supervising"));
        s.run_all(async {
            for i in 0..300u32 {
                s.spawn_named("events_not_kept", async move {
                    Err::<(), _>(Interrupted::from_cause(scope::Cause::explicit(format!(
                        "broke {i}"
                    ))))
                });
            }
            Ok::<(), Interrupted>(())
        })
        .await
        .unwrap_err()
    });
    assert_eq!(failures.len() + failures.not_kept(), 300);
    let log = capture.log.lock().unwrap();
    let spans: Vec<u64> = log
        .spans
        .values()
        .filter(|s| {
            s.name == "task" && s.fields.get("name").map(String::as_str) == Some("events_not_kept")
        })
        .map(|s| s.id)
        .collect();
    assert_eq!(spans.len(), 300);
    let (mut failed, mut stopped) = (0, 0);
    for &span in &spans {
        for event in log.events_in(span, "task failed") {
            assert_eq!(event.level, tracing::Level::WARN);
            failed += 1;
        }
        stopped += log.events_in(span, "task stopped before completing").len();
    }
    assert_eq!((failed, stopped), (300, 0));
}

#[test]
fn a_grace_longer_than_584_years_is_named_as_it_was_given() {
    // `probe244`: the event's grace, kept as nanoseconds in a word, saturated at 584.9 years
    // (a paused clock reaches the end of a grace of 1,000 years in a moment).
    use scope::{Config, Scope};
    use std::time::Duration;
    let capture = capture();
    let rt = paused();
    let years = |n: u64| Duration::from_secs(n * 365 * 24 * 60 * 60);
    rt.block_on(async {
        for (name, grace) in [
            ("events_grace_1000_years", years(1_000)),
            (
                "events_grace_100_years",
                years(100) + Duration::from_nanos(1),
            ),
        ] {
            let s = &Scope::new(Config::new().name(name).grace(grace));
            let out = s
                .run(async {
                    let (up, started) = tokio::sync::oneshot::channel();
                    let _stuck = s.spawn(async {
                        let _ = up.send(());
                        std::future::pending::<Result<(), Interrupted>>().await
                    });
                    let _ = started.await;
                    s.cx().cancel("stop");
                    Ok::<(), Interrupted>(())
                })
                .await;
            assert!(out.is_ok(), "{out:?}");
        }
    });
    let log = capture.log.lock().unwrap();
    for (name, named) in [
        ("events_grace_1000_years", "31536000000s"),
        ("events_grace_100_years", "3153600000.000000001s"),
    ] {
        let ran_out = log.events_in(log.named("scope", name), "grace ran out");
        assert_eq!(ran_out.len(), 1, "{name}: {ran_out:?}");
        assert_eq!(ran_out[0].fields["grace"], named, "{name}");
    }
}
