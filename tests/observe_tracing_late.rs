//! The `tracing` feature with a subscriber installed after a scope, a service and a child were
//! made (a `main` that builds its services before it sets up logging): their later events
//! still name them. Run with `cargo test --all-features --test observe_tracing_late`.
#![cfg(feature = "tracing")]

use info_only::InfoOnly;
use scope::{Config, Scope, Service, ServiceConfig};

#[path = "support/info_only.rs"]
mod info_only;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[test]
fn work_made_before_the_subscriber_is_named_by_its_events() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Made before any subscriber exists.
        let audit = Service::new(ServiceConfig::new("late_audit"));
        let s = &Scope::new(Config::new().name("late_scope"));
        let child = s.spawn_named("late_child", async {
            tokio::task::yield_now().await;
            Err::<(), BoxError>("disk full".into())
        });
        let subscriber = InfoOnly::default();
        tracing::subscriber::set_global_default(subscriber.clone())
            .expect("the only global subscriber");
        let out = s.run(async { Ok::<_, BoxError>(child.await?) }).await;
        assert_eq!(out.unwrap_err().to_string(), "disk full");
        let _ = audit.stop().await; // (its events are the test)
        let events = subscriber.events.lock().unwrap().clone();
        let named = |message: &str, field: &str, who: &str| {
            events.iter().any(|e| {
                e.fields.get("message").is_some_and(|m| m == message)
                    && e.fields.get(field).is_some_and(|v| v.contains(who))
            })
        };
        assert!(named("task failed", "task", "late_child"), "{events:#?}");
        assert!(named("scope failed", "scope", "late_scope"), "{events:#?}");
        assert!(named("cancelled", "scope", "late_audit"), "{events:#?}");
    });
}
