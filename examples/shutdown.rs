//! Detached work and phased shutdown: a request hands work that must outlive it to a
//! long-lived service; at shutdown the service stops accepting, drains within a budget, then
//! stops what is left.
//!
//! Go's version is `context.WithoutCancel` plus a `sync.WaitGroup` and a timer, kept correct by
//! convention. Here the detached work keeps the request's slots but not its cancellation, is
//! owned by a named `Service` with its own time bound, and `drain` reports an overrun as a typed
//! error. Run it with `cargo run --example shutdown`.

use std::time::Duration;

use scope::{scoped, slot, Interrupted, Service, ServiceConfig, SpawnError};

slot!(static REQUEST_ID: String);

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("the audit service refused the work: {0}")]
    Refused(#[from] SpawnError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// Serves one request; the audit write outlives it.
#[scoped(slots(REQUEST_ID = id.clone()))]
async fn serve(id: String, audit: &Service, write_ms: u64) -> Result<String, AppError> {
    // Detached: the handle is not needed (a failure would be reported by the service).
    audit
        .spawn(async move {
            tokio::time::sleep(Duration::from_millis(write_ms)).await;
            // The request's slots travel with the detached work.
            println!(
                "audit: wrote the record of {}",
                REQUEST_ID.get().unwrap_or_default()
            );
        })?
        .detach();
    Ok(format!("response to {id}"))
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    let audit = Service::new(
        ServiceConfig::new("audit")
            .task_timeout(Duration::from_secs(2))
            .grace(Duration::from_millis(50)),
    );
    println!("{}", serve("r-1".into(), &audit, 20).await?);
    println!("{}", serve("r-2".into(), &audit, 1_000).await?);
    // The requests are done; the slow audit write is not (the fast one may be, by now).
    assert!(audit.active() >= 1);

    // Phase 1 and 2: stop accepting, and drain within a budget.
    let drained = audit.drain(Duration::from_millis(100)).await;
    println!("drain: {drained:?}");
    assert!(drained.is_err(), "the slow write overran the budget");
    assert_eq!(
        audit.spawn(async {}).err(),
        Some(SpawnError::Closed),
        "a draining service accepts nothing new"
    );

    // Phase 3: cancel what is left, give it the grace, then abort.
    let report = audit.stop().await;
    assert_eq!(audit.active(), 0);
    assert_eq!(
        report.aborted().len(),
        1,
        "the slow write outlived the grace"
    );
    println!("stopped: {report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shutdown_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
