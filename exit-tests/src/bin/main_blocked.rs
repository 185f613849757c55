//! A `#[scope::main]` program whose main task blocks its thread (what a synchronous read of
//! stdin or a blocking client does): the runtime cannot answer a signal until it returns.
//! With the argument `request`, the program asks for its own shutdown from another thread
//! (`App::request_shutdown`) while its main task is blocked; with `cancel`, it cancels the
//! application's context by hand with a cause that names SIGTERM; with `raise`, it sends itself
//! SIGTERM as its first act, before it blocks (a container stopped as it starts).

use std::io::Write;
use std::time::Duration;

#[scope::main(grace = Duration::from_secs(1))]
async fn main() {
    let mode = std::env::args().nth(1);
    if mode.as_deref() == Some("raise") {
        use rustix::process::{getpid, kill_process, Signal};
        kill_process(getpid(), Signal::TERM).expect("a process may signal itself");
    }
    if matches!(mode.as_deref(), Some("request" | "cancel")) {
        let app = scope::App::current().expect("main runs under its application");
        // The program's own stand-in for an admin endpoint: it lives as long as the process.
        #[scope::allow_orphan]
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            if mode.as_deref() == Some("request") {
                app.request_shutdown("maintenance");
            } else {
                // The application's context cancelled by hand, naming an OS signal.
                app.cx().cancel_with(scope::Cause::Shutdown {
                    signal: scope::Signal::Terminate,
                });
            }
        });
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(30));
    println!("woke");
}
