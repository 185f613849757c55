//! `#[scope::main]`'s entry point: SIGINT and SIGTERM become a `Shutdown` cause on the root
//! context, and a program that winds down within the grace returns normally.
// The entry point needs tokio's signals, which are not there under the loom models.
#![cfg(all(unix, not(loom)))]

use std::time::Duration;

use scope_runtime::entry::{main_entry, MainConfig, MainOutcome};
use scope_runtime::{Cause, Cx, Signal};

/// The main scope's outcome, as the expansion of `#[scope::main]` makes it.
fn outcome<T>(out: T) -> MainOutcome<T> {
    MainOutcome::new(Ok::<_, String>(out), &Cx::current(), Clone::clone)
}

/// Sends `signal` to this process with the shell's `kill`. Called from the program's body:
/// the entry point registers its listeners before the body runs, so the signal cannot come
/// before them (and kill the test binary with its default action).
fn send(signal: &str) {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill {signal} {pid}")])
        .status()
        .expect("`sh` runs");
    assert!(status.success());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sigint_and_sigterm_become_a_shutdown_cause_and_the_program_winds_down() {
    let all = [Signal::Interrupt, Signal::Terminate, Signal::Hangup];
    for (flag, expected) in [
        ("-INT", Signal::Interrupt),
        ("-TERM", Signal::Terminate),
        ("-HUP", Signal::Hangup),
    ] {
        let config = MainConfig::new()
            .grace(Duration::from_secs(5))
            .signals(&all);
        let cause = main_entry(runtime(), config, async {
            send(flag);
            // The program's root context is the ambient one.
            outcome(Cx::current().cancelled_owned().await)
        });
        assert_eq!(
            cause,
            Cause::Shutdown {
                signal: expected.clone()
            },
            "after {flag}"
        );
    }
}

#[test]
fn a_program_that_finishes_on_its_own_returns_its_value() {
    let out = main_entry(runtime(), MainConfig::new(), async { outcome(42) });
    assert_eq!(out, 42);
}

#[test]
fn a_panicking_main_does_not_wait_for_blocking_work_nobody_owns() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let config = MainConfig::new().signals(&[]);
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            main_entry(runtime(), config, async {
                // What a read of `tokio::io::stdin()` does: a blocking call nobody can cancel.
                drop(tokio::task::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_secs(3600));
                }));
                tokio::task::yield_now().await;
                assert!(std::hint::black_box(false), "a bug in main");
                outcome(7)
            })
        }));
        let _ = tx.send(out.map_err(|p| p.downcast::<&str>().map(|m| *m).ok()));
    });
    let out = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(
        out,
        Ok(Err(Some("a bug in main"))),
        "the exit after a panic is bounded, and the panic goes on"
    );
}

#[test]
fn a_clean_exit_does_not_wait_for_blocking_work_nobody_owns() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let config = MainConfig::new().signals(&[]);
        let out = main_entry(runtime(), config, async {
            // What a read of `tokio::io::stdin()` does: a blocking call nobody can cancel.
            drop(tokio::task::spawn_blocking(|| {
                std::thread::sleep(Duration::from_secs(3600));
            }));
            outcome(7)
        });
        let _ = tx.send(out);
    });
    let out = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(
        out,
        Ok(7),
        "the exit is bounded, not held by the blocking call"
    );
}

#[test]
#[allow(clippy::needless_borrow)] // Reason: the borrow is the expansion's, which picks the trait.
fn a_boxed_errors_source_chain_is_printed() {
    // The three, as the expansion of `#[scope::main]` imports them: resolution picks one.
    #[allow(unused_imports)]
    use scope_runtime::entry::{ErrorLine, ViaBoxedError as _, ViaDisplay as _, ViaError as _};
    #[derive(Debug)]
    struct Load(std::io::Error);
    impl std::fmt::Display for Load {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not load the config")
        }
    }
    impl std::error::Error for Load {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let load = || Load(std::io::Error::other("app.toml: no such file"));
    let line = "could not load the config: app.toml: no such file";
    // Exactly what the expansion of `#[scope::main]` calls, for each boxed form.
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(load());
    assert_eq!((&ErrorLine(&e)).line(), line);
    let e: Box<dyn std::error::Error + Send> = Box::new(load());
    assert_eq!((&ErrorLine(&e)).line(), line);
    let e: Box<dyn std::error::Error> = Box::new(load());
    assert_eq!((&ErrorLine(&e)).line(), line);
}

#[cfg(feature = "process")]
#[test]
fn a_clean_main_entry_leaves_other_owners_processes_alone() {
    // A `#[scope::main]` fn called as a plain fn (from a test, from another program's main)
    // returns to its caller: it kills the processes its own runtime left, not those of others.
    use scope_runtime::process::Process;
    let other = runtime();
    let mut running = other
        .block_on(async {
            Process::new({
                let mut cmd = tokio::process::Command::new("sleep");
                cmd.arg("30");
                cmd
            })
            .spawn()
        })
        .unwrap();
    let out = main_entry(runtime(), MainConfig::new().signals(&[]), async {
        outcome(7)
    });
    assert_eq!(out, 7);
    let waited = other.block_on(async {
        let waited = tokio::time::timeout(Duration::from_millis(300), running.wait()).await;
        drop(running); // kills it
        waited
    });
    assert!(
        waited.is_err(),
        "another owner's process was killed: {waited:?}"
    );
}

/// A scope of its own (a `#[scoped]` fn, a `scope!`), `depth` levels down, whose child
/// crashes in its clean-up after the cancel.
async fn a_crashing_flush(depth: u32) -> Result<(), scope_runtime::Interrupted> {
    use scope_runtime::{Config, Interrupted, Scope};
    let s: &Scope<'_, '_, Interrupted> = &Scope::new(Config::new());
    s.run(async {
        if depth > 1 {
            return Box::pin(a_crashing_flush(depth - 1)).await;
        }
        let flusher = s.spawn_named("flusher", async {
            scope_runtime::cancelled().await;
            assert!(std::hint::black_box(false), "no record to flush");
            Ok::<_, Interrupted>(())
        });
        flusher.await
    })
    .await
}

/// What `#[scope::main]` reads of its main scope when the body awaits `nested` (a scope of its
/// own, made when first polled) and the shutdown's signal comes meanwhile.
async fn main_outcome_with_a_signal(
    nested: impl std::future::Future<Output = Result<(), scope_runtime::Interrupted>>,
) -> MainOutcome<()> {
    use scope_runtime::{Config, Interrupted, Scope};
    let app = Cx::root();
    let s: &Scope<'_, '_, Interrupted> = &Scope::new(
        Config::new()
            .parent(app.clone())
            .grace(Duration::from_secs(1)),
    );
    let out = s
        .run(async {
            let signal = async {
                tokio::task::yield_now().await;
                app.cancel_with(Cause::Shutdown {
                    signal: Signal::Terminate,
                });
            };
            let (nested, ()) = tokio::join!(nested, signal);
            nested
        })
        .await;
    MainOutcome::of_scope(out, s, ToString::to_string)
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_nested_scopes_clean_up_after_the_shutdown_is_a_crash_not_the_interruption() {
    // `main`'s body returns the nested scope's panic after the signal; the main scope drops
    // it as a consequence of the cancel, and the exit still tells the crash, with its line.
    for depth in [1, 2] {
        let outcome = main_outcome_with_a_signal(a_crashing_flush(depth)).await;
        assert!(
            !outcome.is_interruption(),
            "depth {depth}: a crash, not the signal's stop: {:?}",
            outcome.error_line()
        );
        let line = outcome.error_line().unwrap();
        assert!(
            line.contains("`flusher` panicked: no record to flush"),
            "depth {depth}: {line}"
        );
    }
}

/// A scope of its own whose child answers the cancel with an error.
async fn a_nested_scope_that_gives_up() -> Result<(), scope_runtime::Interrupted> {
    use scope_runtime::{Config, Interrupted, Scope};
    let inner: &Scope<'_, '_, Interrupted> = &Scope::new(Config::new());
    inner
        .run(async {
            inner
                .spawn(async {
                    scope_runtime::cancelled().await;
                    Err::<(), _>(Interrupted::from_cause(Cause::explicit("gave up")))
                })
                .await
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn a_nested_scopes_error_after_the_shutdown_is_still_the_interruption() {
    // Not a panic: the nested scope's answer to the cancel is a consequence of it.
    let outcome = main_outcome_with_a_signal(a_nested_scope_that_gives_up()).await;
    assert!(outcome.is_interruption(), "{:?}", outcome.error_line());
}

#[tokio::test(start_paused = true)]
async fn a_nested_panic_handled_before_the_shutdown_leaves_the_interruption_as_it_is() {
    use scope_runtime::{Config, Interrupted, Scope};
    let app = Cx::root();
    let s: &Scope<'_, '_, Interrupted> = &Scope::new(
        Config::new()
            .parent(app.clone())
            .grace(Duration::from_secs(1)),
    );
    let out = s
        .run(async {
            let inner: &Scope<'_, '_, Interrupted> = &Scope::new(Config::new());
            let crashed = inner
                .run(async {
                    inner
                        .spawn(async {
                            assert!(std::hint::black_box(false), "a bug, handled");
                            Ok::<_, Interrupted>(())
                        })
                        .await
                })
                .await;
            assert!(matches!(crashed, Err(Interrupted::Panicked(_))));
            // Handled; then the signal, answered with the interruption.
            app.cancel_with(Cause::Shutdown {
                signal: Signal::Terminate,
            });
            scope_runtime::check()
        })
        .await;
    let outcome = MainOutcome::of_scope(out, s, ToString::to_string);
    assert!(outcome.is_interruption(), "{:?}", outcome.error_line());
}

/// What `#[scope::main]` reads of its main scope when the body leaves a worker to the run and
/// returns, and the shutdown's signal comes after: `answers` says whether the worker stops on
/// the cancel with a value of its own (else it sleeps on, and the grace aborts it).
async fn main_outcome_with_a_signal_after_the_body(answers: bool) -> MainOutcome<()> {
    use scope_runtime::{Config, Interrupted, Scope};
    let app = Cx::root();
    let s: &Scope<'_, '_, Interrupted> = &Scope::new(
        Config::new()
            .parent(app.clone())
            .grace(Duration::from_secs(1)),
    );
    let signal = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        app.cancel_with(Cause::Shutdown {
            signal: Signal::Terminate,
        });
    };
    let (out, ()) = tokio::join!(
        s.run(async {
            s.spawn_named("worker", async move {
                if answers {
                    scope_runtime::cancelled().await;
                } else {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok::<_, Interrupted>(())
            });
            Ok::<_, Interrupted>(())
        }),
        signal
    );
    MainOutcome::of_scope(out, s, ToString::to_string)
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_that_cuts_short_work_main_left_to_its_run_is_the_signals_exit() {
    // `main` returned `Ok` before the signal, but the worker it left was aborted at the grace's
    // end: the shutdown cut work short (128 + the signal), not a clean exit.
    let outcome = main_outcome_with_a_signal_after_the_body(false).await;
    assert!(outcome.is_interruption(), "{:?}", outcome.error_line());
    // A worker that stops on the cancel with its own value: a clean exit.
    let outcome = main_outcome_with_a_signal_after_the_body(true).await;
    assert!(
        !outcome.is_interruption() && outcome.error_line().is_none(),
        "{:?}",
        outcome.error_line()
    );
}

#[tokio::test(start_paused = true)]
async fn a_crash_below_a_scope_whose_left_work_the_shutdown_cut_is_a_crash_not_the_signal() {
    use scope_runtime::{Config, Interrupted, Scope};
    // A component scope starts its worker and returns before the signal; the worker's own
    // scope has a clean-up child that panics on the shutdown. The component scope ends with
    // the cancellation (its body's value answered nothing), which hides that panic: it tells
    // the main scope, and the exit is a crash (1), not the signal's stop.
    let app = Cx::root();
    let main_scope: &Scope<'_, '_, Interrupted> = &Scope::new(
        Config::new()
            .parent(app.clone())
            .grace(Duration::from_secs(1)),
    );
    let signal = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        app.cancel_with(Cause::Shutdown {
            signal: Signal::Terminate,
        });
    };
    let (out, ()) = tokio::join!(
        main_scope.run(async {
            let workers: &Scope<'_, '_, Interrupted> =
                &Scope::new(Config::new().grace(Duration::from_secs(1)));
            workers
                .run(async {
                    workers.spawn(async {
                        let flush: &Scope<'_, '_, Interrupted> =
                            &Scope::new(Config::new().grace(Duration::from_secs(1)));
                        flush
                            .run(async {
                                flush.spawn_named("flusher", async {
                                    scope_runtime::cancelled().await;
                                    assert!(std::hint::black_box(false), "flush failed");
                                    Ok::<_, Interrupted>(())
                                });
                                Ok::<_, Interrupted>(())
                            })
                            .await
                    });
                    Ok::<_, Interrupted>(())
                })
                .await?;
            Ok::<_, Interrupted>(())
        }),
        signal
    );
    let outcome = MainOutcome::of_scope(out, main_scope, ToString::to_string);
    assert!(!outcome.is_interruption(), "{:?}", outcome.error_line());
    let line = outcome.error_line().unwrap();
    assert!(line.contains("flush failed"), "{line}");
}

/// A program with a runtime of its own listens to the signals `#[scope::main]` would through
/// `App::os_signals`, and its application's run takes the first one as its shutdown.
#[test]
fn an_application_run_by_hand_takes_the_signals_app_os_signals_listens_to() {
    let runtime = runtime();
    let app = scope_runtime::App::new();
    let (out, report) = runtime.block_on(async {
        // Listed twice: listened to once.
        let signals = scope_runtime::App::os_signals(&[Signal::Hangup, Signal::Hangup]).unwrap();
        app.run(Duration::from_secs(5), signals, async {
            send("-HUP");
            let cause = scope_runtime::cancelled().await;
            cause.to_string()
        })
        .await
    });
    assert_eq!(report.signal(), Some(&Signal::Hangup), "{report}");
    assert!(out.unwrap().contains("SIGHUP"), "{report}");
    assert!(report.forced().is_none(), "{report}");
}

/// What `App::os_signals` cannot listen to, it says, and registers nothing.
#[test]
fn app_os_signals_refuses_what_it_cannot_listen_to() {
    use std::io::ErrorKind;
    let outside = scope_runtime::App::os_signals(&[Signal::Terminate])
        .err()
        .unwrap();
    assert_eq!(outside.kind(), ErrorKind::Other);
    assert!(
        outside.to_string().contains("no tokio runtime"),
        "{outside}"
    );
    runtime().block_on(async {
        let requested = Signal::Requested("deploy".into());
        let not_os = scope_runtime::App::os_signals(&[Signal::Interrupt, requested])
            .err()
            .unwrap();
        assert_eq!(not_os.kind(), ErrorKind::InvalidInput);
        assert!(not_os.to_string().contains("not a signal"), "{not_os}");
    });
    let no_io = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let no_driver = no_io
        .block_on(async { scope_runtime::App::os_signals(&[Signal::Terminate]) })
        .err()
        .unwrap();
    assert!(no_driver.to_string().contains("I/O driver"), "{no_driver}");
}
