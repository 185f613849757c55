//! `examples/http_service.rs`, driven over loopback with a minimal HTTP/1.1 client: a client
//! that goes away cancels its request's scope; SIGTERM lets a request in flight finish while
//! new connections are refused; the audit record of a request is written after its answer;
//! the process exits 0.
#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Program;

const EXE: &str = env!("CARGO_BIN_EXE_http_service");
const WAIT: Duration = Duration::from_secs(20);

/// Starts the service on a free loopback port; returns it and its address.
fn start() -> (Program, String) {
    let mut p = Program::start(EXE, &["127.0.0.1:0"], &[]);
    let line = p.wait_for("listening on ", WAIT);
    let addr = line.text.trim_start_matches("listening on ").to_owned();
    (p, addr)
}

fn send(addr: &str, path: &str, id: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nx-request-id: {id}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    stream
}

/// The status code of the answer on `stream`, and when it was read in full.
fn answer(mut stream: TcpStream) -> (u16, String, Instant) {
    stream.set_read_timeout(Some(WAIT)).expect("settable");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    let at = Instant::now();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:?}"));
    (status, raw, at)
}

fn get(addr: &str, path: &str, id: &str) -> (u16, String, Instant) {
    answer(send(addr, path, id))
}

#[test]
fn a_client_that_goes_away_cancels_its_request_scope_and_its_children_at_once() {
    let (mut p, addr) = start();
    let stream = send(&addr, "/work/1000", "gone-1");
    // Both backends run (a child cancelled before its first poll never runs, nor logs).
    for backend in ["users", "orders"] {
        p.wait_for(
            &format!("started: backend `{backend}` [request gone-1]"),
            WAIT,
        );
    }
    let closed = Instant::now();
    drop(stream);
    for backend in ["users", "orders"] {
        let line = p.wait_for(
            &format!(
                "cancelled: backend `{backend}`: parent cancelled: scope dropped [request gone-1]"
            ),
            WAIT,
        );
        // Typically a few ms; the backends' work takes 1,000 ms, so well under that is the
        // cancel (the bound leaves room for a loaded machine).
        let took = line.at - closed;
        assert!(
            took <= Duration::from_millis(900),
            "backend `{backend}` saw the cancellation {took:?} after the client left"
        );
    }
    p.signal("TERM");
    let out = p.wait(WAIT);
    assert_eq!(out.status.code(), Some(0), "{out:#?}");
    assert!(
        !out.stdout_has("answered: 200 [request gone-1]"),
        "{out:#?}"
    );
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_0() {
    let (mut p, addr) = start();
    // A request whose head is not complete when the shutdown starts: served, with 503.
    // Connected first, so accepted before the request in flight (the accept loop takes them
    // in turn).
    let mut late = TcpStream::connect(&addr).expect("connects");
    write!(late, "GET /work/10 HTTP/1.1\r\nHost: test\r\n").expect("writes");
    // Within its 2.5 s deadline with room to spare on a loaded machine.
    let in_flight = send(&addr, "/work/1500", "slow-1");
    // The request in flight is being worked on (so both connections were accepted).
    p.wait_for("started: backend `users` [request slow-1]", WAIT);
    std::thread::sleep(Duration::from_millis(50));
    let sent = p.signal("TERM");
    // The listener closes once the shutdown starts: a new connection is refused then (looked
    // for every 10 ms, for 5 s at most).
    let refused = (0..500).any(|_| {
        let refused = TcpStream::connect(&addr).is_err();
        if !refused {
            std::thread::sleep(Duration::from_millis(10));
        }
        refused
    });
    let refused_at = Instant::now();
    assert!(
        refused,
        "new connections were still accepted 5 s into the shutdown"
    );
    write!(late, "x-request-id: late-1\r\nConnection: close\r\n\r\n").expect("writes");
    let (status, raw, answered) = answer(in_flight);
    assert_eq!(status, 200, "{raw}");
    // The listener closed at the shutdown's start, not once the work in flight was done.
    assert!(
        refused_at < answered,
        "the listener closed only after the request in flight was answered"
    );
    assert!(raw.contains("x-request-id: slow-1"), "{raw}");
    assert!(
        answered - sent < Duration::from_secs(5),
        "answered within the grace"
    );
    let (late_status, late_raw, _) = answer(late);
    assert_eq!(late_status, 503, "{late_raw}");
    // The audit record is written after the request was answered: the two lines come in
    // that order on the program's stdout (one pipe, read by one reader; the times two
    // threads took would race on a loaded machine).
    p.wait_for("audit: 200 [request slow-1]", WAIT);
    let at = |needle: &str| p.seen.iter().position(|l| l.text.contains(needle));
    let (answered_at, audit_at) = (
        at("answered: 200 [request slow-1]"),
        at("audit: 200 [request slow-1]"),
    );
    assert!(
        answered_at.is_some() && answered_at < audit_at,
        "the audit was written before the answer: {:#?}",
        p.seen
    );
    let out = p.wait(WAIT);
    assert_eq!(out.status.code(), Some(0), "{out:#?}");
    assert!(out.stdout_has("server stopped"), "{out:#?}");
    assert!(
        out.stderr_has("shutdown: drained: service `audit`"),
        "{out:#?}"
    );
}

#[test]
fn a_deadline_answers_504_and_a_failed_backend_502_after_cancelling_the_other() {
    let (mut p, addr) = start();
    let (status, raw, _) = get(&addr, "/work/3000", "late-2");
    assert_eq!(status, 504, "{raw}");
    assert!(raw.contains("deadline of `handle` exceeded"), "{raw}");
    let (status, raw, _) = get(&addr, "/fail", "fail-1");
    assert_eq!(status, 502, "{raw}");
    p.wait_for(
        "cancelled: backend `users`: parent cancelled: sibling task `orders` failed: \
         backend `orders` failed [request fail-1]",
        WAIT,
    );
    // Without an `x-request-id`, one is minted and sent back.
    let mut stream = TcpStream::connect(&addr).expect("connects");
    write!(
        stream,
        "GET /work/1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let (status, raw, _) = answer(stream);
    assert_eq!(status, 200, "{raw}");
    assert!(raw.contains("x-request-id: r-"), "{raw}");
    p.signal("TERM");
    assert_eq!(p.wait(WAIT).status.code(), Some(0));
}
