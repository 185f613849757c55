// A started subprocess dropped on the line that started it is killed at once: the compiler
// says so (here as an error, as under `#![deny(warnings)]`).
#![deny(unused_must_use)]

use scope::process::Process;

async fn build() {
    Process::new(tokio::process::Command::new("make")).spawn().unwrap();
}

fn main() {
    let _ = build();
}
