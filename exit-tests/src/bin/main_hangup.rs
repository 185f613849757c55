//! A `#[scope::main]` program that shuts down on SIGHUP only: SIGTERM is not listened to, so
//! it keeps its default action (the process is killed by it).

use scope::Interrupted;

#[scope::main(grace = 1s, signals = [hangup])]
async fn main() -> Result<(), Interrupted> {
    println!("ready");
    let cause = scope::cancelled().await;
    println!("stopping: {cause}");
    Ok(())
}
