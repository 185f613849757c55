//! A `#[scope::main]` program whose shutdown is forced while a subprocess runs: on SIGTERM the
//! child that owns the subprocess blocks its worker in a clean-up (so it is never dropped),
//! and the app's grace (300 ms) runs out long before the scope's (30 s). The subprocess
//! ignores SIGTERM; it prints its pid (`pid N`) once its trap is set.

use std::time::Duration;

use scope::process::{Process, ProcessError};
use scope::{scope, spawn};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[scope::main(flavor = "multi_thread", worker_threads = 2, grace = Duration::from_millis(300))]
async fn main() -> Result<(), ProcessError> {
    scope!(error = ProcessError, grace = 30s, {
        spawn!(async {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", r#"trap "" TERM; echo "pid $$"; exec sleep 600"#])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .stdin(std::process::Stdio::null());
            let mut running = Process::new(cmd).spawn()?;
            let out = running.take_stdout().expect("piped");
            let line = BufReader::new(out).lines().next_line().await;
            println!("{}", line.ok().flatten().unwrap_or_default());
            scope::cancelled().await;
            // A clean-up stuck in a blocking call while it holds the process: why the exit
            // is forced, and why the process's owner is never dropped.
            std::thread::sleep(Duration::from_secs(30));
            running.wait().await
        })
        .await?;
        Ok(())
    })
    .await?;
    Ok(())
}
