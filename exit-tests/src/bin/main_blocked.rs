//! A `#[scope::main]` program whose main task blocks its thread (what a synchronous read of
//! stdin or a blocking client does): the runtime cannot answer a signal until it returns.

use std::io::Write;
use std::time::Duration;

#[scope::main(grace = Duration::from_secs(1))]
async fn main() {
    println!("ready");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(30));
    println!("woke");
}
