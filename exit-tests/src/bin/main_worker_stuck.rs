//! A `#[scope::main]` program whose only worker is stuck in a clean-up after the signal: no
//! timer of the runtime fires while it is.

use std::io::Write;
use std::time::Duration;

use scope::{spawn, Interrupted};

#[scope::main(worker_threads = 1, grace = Duration::from_millis(300))]
async fn main() -> Result<(), Interrupted> {
    // `ready` once the child runs: one cancelled before its first poll never runs.
    let (up, is_up) = tokio::sync::oneshot::channel::<()>();
    let stuck = spawn!(name = "stuck", async move {
        let _ = up.send(());
        scope::cancelled().await;
        std::thread::sleep(Duration::from_secs(30));
    });
    let _ = is_up.await;
    println!("ready");
    let _ = std::io::stdout().flush();
    stuck.await?;
    Ok(())
}
