//! A `#[scope::main]` program whose only worker is stuck in a clean-up after the signal: no
//! timer of the runtime fires while it is.

use std::io::Write;
use std::time::Duration;

use scope::{spawn, Interrupted};

#[scope::main(worker_threads = 1, grace = Duration::from_millis(300))]
async fn main() -> Result<(), Interrupted> {
    let stuck = spawn!(name = "stuck", async {
        scope::cancelled().await;
        std::thread::sleep(Duration::from_secs(30));
    });
    println!("ready");
    let _ = std::io::stdout().flush();
    stuck.await?;
    Ok(())
}
