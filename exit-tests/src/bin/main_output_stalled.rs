//! A `#[scope::main]` program with a partial line in stdout's buffer, whose main task blocks
//! writing to stderr; stdout and stderr are one pipe nobody reads.

use std::time::Duration;

#[scope::main(grace = Duration::from_secs(1))]
async fn main() {
    // A progress line without its newline: it stays in stdout's buffer.
    print!("progress 1");
    let line = "x".repeat(1023);
    while std::hint::black_box(true) {
        // Blocks for good once the pipe is full.
        eprintln!("{line}");
    }
}
