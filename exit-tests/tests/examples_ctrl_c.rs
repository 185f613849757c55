//! The examples a learner runs and stops with Ctrl-C part way: each stops with the
//! interruption (exit 130), not with a panic of a claim its cut-short step could not keep
//! (exit 101).
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::Program;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn ctrl_c_in_the_retry_examples_deadline_step_exits_130() {
    let mut p = Program::start(env!("CARGO_BIN_EXE_retry"), &[], &[]);
    // The step under a 1.4 s deadline starts as this line is printed, and runs about 700 ms:
    // the signal lands in it (a moment in, well before its end on a loaded machine).
    p.wait_for("missing item:", WAIT);
    std::thread::sleep(Duration::from_millis(50));
    p.signal("INT");
    let out = p.wait(WAIT);
    assert_eq!(out.status.code(), Some(130), "{out:#?}");
    assert!(out.stderr_has("interrupt"), "{out:#?}");
    assert!(!out.stderr_has("panicked"), "{out:#?}");
}

#[test]
fn ctrl_c_during_the_subprocess_examples_build_exits_130() {
    let mut p = Program::start(env!("CARGO_BIN_EXE_subprocess"), &[], &[]);
    // The build runs under a 1 s deadline from this line on.
    p.wait_for("building", WAIT);
    std::thread::sleep(Duration::from_millis(20));
    p.signal("INT");
    let out = p.wait(WAIT);
    assert_eq!(out.status.code(), Some(130), "{out:#?}");
    assert!(!out.stderr_has("panicked"), "{out:#?}");
}
