//! A `#[scope::main]` program for the exit-code tests. It prints `ready` once it runs (the
//! signals are listened to from then on); what it does after the first signal is chosen by
//! its first argument. The grace is `GRACE_MS` milliseconds (1,000 unless set); the slow
//! record of `finishes` and `fails-draining` takes `RECORD_MS` (1,500 unless set).

use std::time::Duration;

use scope::{spawn, Interrupted, Service, ServiceConfig};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("could not load the config")]
    Load(#[source] std::io::Error),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

fn grace() -> Duration {
    millis("GRACE_MS", 1_000)
}

fn millis(var: &str, default: u64) -> Duration {
    let ms = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Duration::from_millis(ms)
}

/// Hands `record` to the audit service as task `name`, without waiting for it.
fn hand_over(
    audit: &Service,
    name: &'static str,
    record: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    audit
        .spawn_named(name, record)
        .map_err(|e| AppError::Load(std::io::Error::other(e)))?
        .detach();
    Ok(())
}

#[scope::main(grace = grace())]
async fn main() -> Result<(), AppError> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let audit = Service::new(ServiceConfig::new("audit").grace(Duration::from_millis(200)));
    // The modes whose child the test relies on say `ready` once it runs (a child cancelled
    // before its first poll never runs); the others at once.
    if !matches!(mode.as_str(), "stuck" | "crashes" | "callback-panics") {
        println!("ready");
    }
    match mode.as_str() {
        // A logging thread fills stderr, which nobody reads yet: the shutdown's first line
        // cannot be written. Says on stdout when its cancel came, then returns.
        "stderr-full" | "stderr-full-blocked" => {
            // It runs until the process exits: nothing joins a logger.
            #[scope::allow_orphan]
            std::thread::spawn(|| loop {
                eprintln!("{}", "log ".repeat(256));
            });
            let cause = scope::cancelled().await;
            println!("stopping: {cause}");
            if mode == "stderr-full-blocked" {
                // Blocks its worker thread past every bound: the watchdog forces the exit.
                std::thread::sleep(Duration::from_secs(60));
            }
            Ok(())
        }
        // Handles the shutdown: finishes its in-flight work, hands a record to the service,
        // which drains it after the body returned.
        "drain" => {
            let cause = scope::cancelled().await;
            println!("stopping: {cause}");
            hand_over(&audit, "last-record", async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                println!("audit written");
            })?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            println!("in-flight work done");
            Ok(())
        }
        // Ignores the shutdown: the grace runs out.
        "stuck" => {
            let (up, is_up) = tokio::sync::oneshot::channel::<()>();
            let worker = spawn!(name = "stuck-worker", async move {
                let _ = up.send(());
                std::future::pending::<()>().await;
            });
            let _ = is_up.await;
            println!("ready");
            worker.await?;
            Ok(())
        }
        // Holds its thread for `BUSY_MS` (1,000 unless set) first, so that signals sent
        // meanwhile reach its runtime's listener as one; then winds down as `slow` does.
        "busy-then-slow" => {
            std::thread::sleep(millis("BUSY_MS", 1_000));
            scope::cancelled().await;
            println!("winding down");
            tokio::time::sleep(Duration::from_secs(4)).await;
            Ok(())
        }
        // Winds down slowly (4 s, within a long grace): a second signal ends it at once.
        "slow" => {
            scope::cancelled().await;
            println!("winding down");
            tokio::time::sleep(Duration::from_secs(4)).await;
            Ok(())
        }
        // Meets a failure of its own while winding down after the signal: read as the
        // shutdown's interruption, and the exit's report still says what it was.
        "fails-after-signal" => {
            scope::cancelled().await;
            Err(AppError::Load(std::io::Error::other(
                "database unreachable",
            )))
        }
        // Returns the shutdown's interruption (`?` on the bridge's error).
        "interrupted" => {
            scope::run_until_cancelled(std::future::pending::<()>()).await?;
            Ok(())
        }
        // Returns at once after the signal, but a service task outlives the drain budget.
        "overrun" => {
            hand_over(&audit, "slow-record", async {
                tokio::time::sleep(Duration::from_secs(60)).await;
            })?;
            scope::cancelled().await;
            Ok(())
        }
        // A task of a service with a long grace ignores the stop's cancel, and its clean-up
        // makes a service of its own (the application adopts it: a second pass of the
        // shutdown, which stops it after the first pass's stop).
        "second-pass" => {
            let first = Service::new(ServiceConfig::new("first").grace(Duration::from_secs(3)));
            first
                .spawn_named("hands-over-late", async {
                    scope::cancelled().await;
                    let late =
                        Service::new(ServiceConfig::new("late").grace(Duration::from_secs(3)));
                    late.spawn_named("late-record", std::future::pending::<()>())
                        .expect("the late service accepts its task")
                        .detach();
                    std::future::pending::<()>().await;
                })
                .map_err(|e| AppError::Load(std::io::Error::other(e)))?
                .detach();
            scope::cancelled().await;
            Ok(())
        }
        // Ends on its own, leaving a slow record to the service: the drain runs after the
        // body returned, and a signal meanwhile is the first one, not a second.
        "finishes" => {
            hand_over(&audit, "slow-record", async {
                tokio::time::sleep(millis("RECORD_MS", 1_500)).await;
                println!("audit written");
            })?;
            println!("main work done");
            Ok(())
        }
        // A child's clean-up crashes after the signal: a bug, not the signal's stop.
        "crashes" => {
            let (up, is_up) = tokio::sync::oneshot::channel::<()>();
            let flusher = spawn!(name = "flusher", async move {
                let _ = up.send(());
                scope::cancelled().await;
                let records: Vec<u8> = Vec::new();
                assert!(!records.is_empty(), "no record to flush");
            });
            let _ = is_up.await;
            println!("ready");
            flusher.await?;
            Ok(())
        }
        // A service task's `on_cancel` callback panics when the shutdown cancels it: a bug,
        // which exits 101 once the shutdown is done, with the shutdown's report printed.
        "callback-panics" => {
            let (up, is_up) = tokio::sync::oneshot::channel::<()>();
            let watcher = Service::new(ServiceConfig::new("watcher").daemon());
            watcher
                .spawn_named("watch", async move {
                    let _cb = scope::Cx::current().on_cancel(|_| panic!("callback bug"));
                    let _ = up.send(());
                    scope::cancelled().await;
                })
                .map_err(|e| AppError::Load(std::io::Error::other(e)))?
                .detach();
            let _ = is_up.await;
            println!("ready");
            scope::cancelled().await;
            Ok(())
        }
        // Fails on its own while the service still drains a slow record.
        "fails-draining" => {
            hand_over(&audit, "slow-record", async {
                tokio::time::sleep(millis("RECORD_MS", 1_500)).await;
            })?;
            println!("main work done");
            Err(AppError::Load(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "app.toml: no such file",
            )))
        }
        // A service task commits in a budgeted shield that outlasts every grace: the stop
        // waits for it, and the shutdown is not forced while it does.
        "shielded-record" => {
            hand_over(&audit, "commit", async {
                scope::cancelled().await;
                let _ = scope::shield_for(Duration::from_secs(5), async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    println!("audit committed");
                })
                .await;
            })?;
            scope::cancelled().await;
            Ok(())
        }
        // Fails, and panics, without any signal while a child that never looks at its
        // context runs on (a heartbeat): the grace is the shutdown's, not the failure's.
        "error-while-busy" | "panics-while-busy" => {
            let (up, is_up) = tokio::sync::oneshot::channel::<()>();
            spawn!(name = "heartbeat", async move {
                let _ = up.send(());
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let _ = is_up.await;
            assert!(mode != "panics-while-busy", "start-up bug");
            Err(AppError::Load(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "app.toml: no such file",
            )))
        }
        // Fails without any signal.
        "error" => Err(AppError::Load(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "app.toml: no such file",
        ))),
        other => {
            eprintln!("unknown mode {other:?}");
            Ok(())
        }
    }
}
