//! A `#[scope::main]` program whose main task blocks writing to a stderr nobody reads any more
//! (a full pipe: a stalled log reader), holding stderr's lock: only the watchdog can end it.

use std::io::Write;
use std::time::Duration;

#[scope::main(grace = Duration::from_secs(1))]
async fn main() {
    println!("ready");
    let _ = std::io::stdout().flush();
    let line = "x".repeat(1023);
    while std::hint::black_box(true) {
        // Blocks for good once the pipe is full.
        eprintln!("{line}");
    }
}
