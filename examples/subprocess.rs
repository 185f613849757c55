//! Scoped subprocesses: three build steps run as child processes of a scope with a deadline.
//! When the deadline fires, each is sent SIGTERM; the one that exits on it is done, the one
//! that ignores it is killed once the scope's grace has passed, and every process is reaped
//! before the scope returns: none outlives it.
//!
//! Go's version is `exec.CommandContext` with `cmd.Cancel` set to send SIGTERM and
//! `cmd.WaitDelay` for the escalation, remembered by hand at every call site; a forgotten
//! `Wait` leaves a zombie, and a `kill` of the shell alone leaves its children running. Here
//! a process is a child of the scope like any other: `scope::process` signals its whole
//! process group, escalates after the grace of the scope that runs it, and reaps it, also
//! when the child is aborted. Run it with `cargo run --example subprocess` (Unix: elsewhere
//! `scope::process` does not exist, and the example is an empty program).

#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
#[cfg(unix)]
use std::sync::{Arc, Mutex};
#[cfg(unix)]
use std::time::{Duration, Instant};

#[cfg(unix)]
use scope::process::{Process, ProcessError};
#[cfg(unix)]
use scope::{scoped, spawn, Interrupted};
#[cfg(unix)]
use tokio::process::Command;

/// `scope::process` is Unix only: elsewhere there is nothing to show.
#[cfg(not(unix))]
fn main() {}

#[cfg(unix)]
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// What each step did: its name, its pid, and how it ended (`None`: it was still running
/// when the scope's grace ran out, and was killed and reaped as its child was aborted).
#[cfg(unix)]
type Log = Arc<Mutex<Vec<(&'static str, u32, Option<String>)>>>;

/// One step: `script` under `sh`, as a child process of the scope that awaits it.
#[cfg(unix)]
async fn step(name: &'static str, script: &'static str, log: Log) -> Result<(), BuildError> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    let mut running = Process::new(cmd).spawn()?;
    let pid = running.id().expect("just started");
    // Its place in the log, taken under one lock: the steps run on several workers at once.
    let at = {
        let mut log = log.lock().unwrap();
        log.push((name, pid, None));
        log.len() - 1
    };
    let out = running.wait().await;
    let ended = match &out {
        // A stop by the scope's deadline is an error that keeps the status it ended with.
        Ok(status) | Err(ProcessError::Stopped { status, .. }) => {
            match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit {code}"),
                (_, Some(15)) => "SIGTERM".to_owned(),
                (_, Some(9)) => "SIGKILL".to_owned(),
                _ => format!("{status}"),
            }
        }
        Err(e) => e.to_string(),
    };
    log.lock().unwrap()[at].2 = Some(ended);
    // Stopped: the step did not complete, and its error says why (the deadline).
    out?;
    Ok(())
}

/// The build: three steps, a second for all of them, 300 ms of grace to stop.
#[cfg(unix)]
#[scoped(timeout = Duration::from_secs(1), grace = Duration::from_millis(300))]
async fn build(log: Log) -> Result<(), BuildError> {
    let codegen = spawn!(step("codegen", "exit 0", log.clone()));
    // `exec`: the shell becomes `sleep`, which dies of SIGTERM.
    let tests = spawn!(step("tests", "exec sleep 60", log.clone()));
    // Ignores SIGTERM (and so does its `sleep`, which inherits that).
    let linker = spawn!(step("linker", r#"trap "" TERM; sleep 60"#, log.clone()));
    codegen.await?;
    tests.await?;
    linker.await?;
    Ok(())
}

/// Whether the process is still there, running or as a zombie (Linux: `/proc`).
#[cfg(unix)]
fn present(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(unix)]
#[scope::main]
async fn main() -> Result<(), BuildError> {
    let log = Log::default();
    let start = Instant::now();
    println!("building (deadline 1 s)...");
    let out = build(log.clone()).await;
    let took = start.elapsed();
    // Ctrl-C cancels `main` and cuts the build short: stop with the interruption (exit 130)
    // rather than check the claims of a build that did not run to its deadline.
    scope::check()?;
    println!("build: {out:?} after {took:?}");
    let log = log.lock().unwrap().clone();
    for (name, pid, ended) in &log {
        println!(
            "  {name} (pid {pid}): {}",
            ended.as_deref().unwrap_or("killed when aborted")
        );
    }
    assert!(matches!(
        out,
        Err(BuildError::Interrupted(Interrupted::DeadlineExceeded(_)))
    ));
    let ended = |step: &str| log.iter().find(|l| l.0 == step).and_then(|l| l.2.clone());
    assert_eq!(ended("codegen").as_deref(), Some("exit 0"));
    assert_eq!(
        ended("tests").as_deref(),
        Some("SIGTERM"),
        "it stopped when asked"
    );
    // It ignored SIGTERM and was killed after the grace: by the abort of its child (the usual
    // way: the scope aborts at the end of its grace), or by its own escalation, due then too.
    assert!(
        matches!(ended("linker").as_deref(), None | Some("SIGKILL")),
        "{:?}",
        ended("linker")
    );
    assert!(
        took >= Duration::from_millis(1_300),
        "the deadline, then the grace"
    );
    assert!(took < Duration::from_secs(30), "not the 60 s sleeps");
    if cfg!(target_os = "linux") {
        for (name, pid, _) in &log {
            assert!(
                !present(*pid),
                "{name} was reaped before the scope returned"
            );
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn the_subprocess_example_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
