//! A `#[scope::main]` program with a partial line in stdout's buffer; stdout and stderr are
//! one pipe nobody reads. By default its main task blocks writing to stderr; with `clean`, a
//! logging thread does, and the main task answers the first signal with a clean stop.

use std::time::Duration;

#[scope::main(grace = Duration::from_secs(1))]
async fn main() {
    // A progress line without its newline: it stays in stdout's buffer.
    print!("progress 1");
    let line = "x".repeat(1023);
    if std::env::args().nth(1).as_deref() == Some("clean") {
        // A logger that blocks for good once the pipe is full (holding stderr's lock).
        #[scope::allow_orphan]
        std::thread::spawn(move || loop {
            eprintln!("{line}");
        });
        scope::cancelled().await;
        return;
    }
    while std::hint::black_box(true) {
        // Blocks for good once the pipe is full.
        eprintln!("{line}");
    }
}
