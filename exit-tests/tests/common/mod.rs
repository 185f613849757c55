//! Runs a program of this package as a process: its output lines as they come (with the
//! instant each arrived), signals sent with `kill`, its exit status.
// Reason: each test file uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A line of the program's output and when it arrived.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub(crate) at: Instant,
    pub(crate) text: String,
}

pub(crate) struct Program {
    child: Child,
    stdout: Receiver<Line>,
    stderr: Receiver<Line>,
    /// Every stdout line read so far.
    pub(crate) seen: Vec<Line>,
    /// Every stderr line read so far (by [`Program::wait_for_stderr`]).
    seen_err: Vec<Line>,
}

fn lines(from: impl std::io::Read + Send + 'static) -> Receiver<Line> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for text in BufReader::new(from).lines().map_while(Result::ok) {
            if tx
                .send(Line {
                    at: Instant::now(),
                    text,
                })
                .is_err()
            {
                break;
            }
        }
    });
    rx
}

impl Program {
    pub(crate) fn start(exe: &str, args: &[&str], env: &[(&str, &str)]) -> Program {
        Self::started(exe, args, env, true)
    }

    /// As [`start`](Program::start), with stderr a pipe whose reader is gone (a `2>&1 | tee`
    /// whose `tee` a Ctrl-C ended): every write to it fails.
    pub(crate) fn start_stderr_closed(exe: &str, args: &[&str], env: &[(&str, &str)]) -> Program {
        Self::started(exe, args, env, false)
    }

    fn started(exe: &str, args: &[&str], env: &[(&str, &str)], read_stderr: bool) -> Program {
        let mut child = Command::new(exe)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the program starts");
        let stdout = lines(child.stdout.take().expect("piped"));
        let stderr = child.stderr.take().expect("piped");
        let stderr = if read_stderr {
            lines(stderr)
        } else {
            drop(stderr);
            channel().1
        };
        Program {
            child,
            stdout,
            stderr,
            seen: Vec::new(),
            seen_err: Vec::new(),
        }
    }

    /// Waits for a stdout line that contains `needle` (at most `within`).
    pub(crate) fn wait_for(&mut self, needle: &str, within: Duration) -> Line {
        wait_for_in(&self.stdout, &mut self.seen, "stdout", needle, within)
    }

    /// Waits for a stderr line that contains `needle` (at most `within`), while the program
    /// runs.
    pub(crate) fn wait_for_stderr(&mut self, needle: &str, within: Duration) -> Line {
        wait_for_in(&self.stderr, &mut self.seen_err, "stderr", needle, within)
    }

    /// Sends `signal` (`"TERM"`, `"INT"`, `"HUP"`) to the program.
    pub(crate) fn signal(&self, signal: &str) -> Instant {
        let at = Instant::now();
        // The shell's own `kill` (a slim image may have no `kill` binary).
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", self.child.id())])
            .status()
            .expect("`sh` runs");
        assert!(status.success(), "kill -{signal} failed");
        at
    }

    /// Waits for the program to exit (at most `within`, then it is killed and the test
    /// fails); returns its status, when it exited, and all it printed.
    pub(crate) fn wait(mut self, within: Duration) -> Exited {
        let end = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                break status;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the program did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let at = Instant::now();
        let mut stdout = std::mem::take(&mut self.seen);
        stdout.extend(self.stdout.iter());
        let stderr = std::mem::take(&mut self.seen_err)
            .into_iter()
            .chain(self.stderr.iter())
            .map(|l| l.text)
            .collect::<Vec<_>>();
        Exited {
            status,
            at,
            stdout,
            stderr,
        }
    }
}

/// Waits for a line of `lines` (the stream `what`, whose lines read so far are `seen`) that
/// contains `needle`, at most `within`.
fn wait_for_in(
    lines: &Receiver<Line>,
    seen: &mut Vec<Line>,
    what: &str,
    needle: &str,
    within: Duration,
) -> Line {
    if let Some(line) = seen.iter().find(|l| l.text.contains(needle)) {
        return line.clone();
    }
    let end = Instant::now() + within;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.text.contains(needle) {
                    return line;
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                panic!("no {what} line with {needle:?} within {within:?}; {what} so far: {seen:#?}")
            }
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // A failed test must not leave its program running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Debug)]
pub(crate) struct Exited {
    pub(crate) status: ExitStatus,
    pub(crate) at: Instant,
    pub(crate) stdout: Vec<Line>,
    pub(crate) stderr: Vec<String>,
}

impl Exited {
    pub(crate) fn stderr_has(&self, needle: &str) -> bool {
        self.stderr.iter().any(|l| l.contains(needle))
    }
    pub(crate) fn stdout_has(&self, needle: &str) -> bool {
        self.stdout.iter().any(|l| l.text.contains(needle))
    }
}
