//! Blocking work under a scope's cancellation, in three parts.
//!
//! 1. A blocking read from a socket whose peer has gone quiet: nothing can interrupt the
//!    thread, so `Cx::on_cancel` (Go's `context.AfterFunc`) registers a callback that shuts
//!    the socket down when the context is cancelled or its deadline passes; the read returns,
//!    and the closure reports the deadline. The handle's `stop` (Go's `stop()`) unregisters
//!    the callback and says whether it had run: that is how the closure tells a read cut
//!    short by the cancel from one that ended on its own, whose socket it hands back open.
//! 2. A blocking loop on `Scope::spawn_blocking` that checks its `cx` between chunks, with
//!    `Cx::merge` (Go writes a goroutine that selects on two `Done` channels) for two sources
//!    of cancellation: the request's deadline, or the server stopping.
//! 3. Clean-up after a cancel: a rollback in `shield_for` gets its budget although the
//!    scope's grace is shorter, and a rollback that hangs is cut off at the budget (Go's
//!    `context.WithTimeout(context.WithoutCancel(ctx), budget)`, which nothing waits for).
//!
//! In Go and in Rust alike, a blocked thread cannot be killed; the difference is that here a
//! scope waits for its blocking children: none is left running after the function returns.
//! Run it with `cargo run --example blocking_io`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scope::{scope, scoped, spawn, Cause, Cx, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// A connected pair of loopback sockets: ours, and the peer's.
fn socket_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let ours = TcpStream::connect(listener.local_addr()?)?;
    let (theirs, _) = listener.accept()?;
    Ok((ours, theirs))
}

/// Part 1: reads one line on a blocking thread, within `timeout`; gives the socket back.
#[scoped(handle = s, timeout = timeout)]
async fn read_line(socket: TcpStream, timeout: Duration) -> Result<(String, TcpStream), AppError> {
    let reader = s.spawn_blocking(move |cx| -> Result<_, AppError> {
        let closer = socket.try_clone()?;
        let unblock = cx.on_cancel(move |_cause| {
            let _ = closer.shutdown(Shutdown::Both); // wakes the read below
        });
        let mut line = String::new();
        let read = BufReader::new(&socket).read_line(&mut line);
        if !unblock.stop() {
            // The callback has run: the read was cut short by the cancel, which says why.
            let cause = cx.cause().expect("the callback ran: cancelled");
            return Err(Interrupted::from_cause(cause).into());
        }
        read?;
        Ok((line, socket))
    });
    Ok(reader.await?)
}

/// Part 2: a checksum of `data` on a blocking thread, 1 KiB at a time, stopped by whichever
/// comes first: this request's deadline (its `cx`) or the server stopping (`server`).
#[scoped(handle = s, timeout = timeout)]
async fn checksum(
    data: Arc<Vec<u8>>,
    server: Cx,
    timeout: Duration,
    chunks_done: Arc<AtomicUsize>,
) -> Result<u64, AppError> {
    let job = s.spawn_blocking(move |cx| {
        let stop = cx.merge(&server);
        let mut sum = 0u64;
        for chunk in data.chunks(1024) {
            stop.check()?; // between chunks: the deadline or the server stopping
            sum = chunk
                .iter()
                .fold(sum, |h, &b| h.rotate_left(5) ^ u64::from(b));
            std::thread::sleep(Duration::from_millis(1)); // a slow disk
            chunks_done.fetch_add(1, Ordering::SeqCst);
        }
        Ok(sum)
    });
    Ok(job.await?)
}

/// Part 3: sends parts, 10 ms each, until cancelled; then rolls back what it sent, in a
/// shield with a 300 ms budget, and logs how that went.
async fn upload(rollback: Duration, log: Arc<Mutex<Vec<String>>>) -> Result<u32, AppError> {
    let mut sent = 0;
    loop {
        let part = tokio::time::sleep(Duration::from_millis(10));
        if let Err(stopped) = scope::run_until_cancelled(part).await {
            let undo = async move {
                tokio::time::sleep(rollback).await;
                format!("rolled back {sent} parts")
            };
            let line = match scope::shield_for(Duration::from_millis(300), undo).await {
                Ok(line) => line,
                Err(cut) => format!("rollback cut off: {cut}"),
            };
            log.lock().unwrap().push(line);
            return Err(stopped.into());
        }
        sent += 1;
    }
}

/// The upload under a 100 ms deadline, with 100 ms of grace for its children to stop.
#[scoped(timeout = 100ms, grace = 100ms)]
async fn upload_within(rollback: Duration, log: Arc<Mutex<Vec<String>>>) -> Result<u32, AppError> {
    Ok(spawn!(upload(rollback, log)).await?)
}

/// How a step ended, for the printout.
fn said<T>(out: &Result<T, AppError>) -> String {
    out.as_ref()
        .err()
        .map_or_else(|| "ok".to_owned(), ToString::to_string)
}

fn is_deadline<T>(out: &Result<T, AppError>) -> bool {
    matches!(
        out,
        Err(AppError::Interrupted(Interrupted::DeadlineExceeded(_)))
    )
}

/// Runs an upload whose rollback takes `rollback`, past its deadline; prints what it said
/// (after `label`) and returns how long it took and the first line its rollback logged.
async fn rollback_run(
    label: &str,
    rollback: Duration,
) -> Result<(Duration, Option<String>), AppError> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let out = upload_within(rollback, log.clone()).await;
    let took = start.elapsed();
    scope::check()?;
    let logged = log.lock().unwrap().clone();
    println!("{label} {} after {took:?}: {logged:?}", said(&out));
    assert!(is_deadline(&out));
    Ok((took, logged.first().cloned()))
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    // 1. The peer answers in time; then it goes quiet, and the deadline unblocks the read.
    let (ours, peer) = socket_pair()?;
    (&peer).write_all(b"pong\n")?;
    let (line, ours) = read_line(ours, Duration::from_secs(5)).await?;
    println!("1. the peer answered: {line:?}");
    assert_eq!(line, "pong\n");
    let start = Instant::now();
    let out = read_line(ours, Duration::from_millis(200)).await;
    let took = start.elapsed();
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    println!("   the peer went quiet: {} after {took:?}", said(&out));
    assert!(is_deadline(&out), "the read was cut at the deadline");
    assert!(
        took >= Duration::from_millis(200),
        "blocked until the deadline"
    );
    assert!(took < Duration::from_secs(3), "not much later");

    // 2. The same loop, stopped by each source in turn.
    let data = Arc::new(vec![42u8; 200 * 1024]);
    let server = Cx::root();
    let done = Arc::new(AtomicUsize::new(0));
    let out = checksum(
        data.clone(),
        server.clone(),
        Duration::from_millis(50),
        done.clone(),
    )
    .await;
    scope::check()?;
    let chunks = done.load(Ordering::SeqCst);
    println!(
        "2. request deadline: {} after {chunks} of 200 chunks",
        said(&out)
    );
    assert!(is_deadline(&out));
    assert!(chunks < 200, "stopped part-way");
    assert!(!server.is_cancelled(), "the server goes on");

    let done = Arc::new(AtomicUsize::new(0));
    let stopper = server.clone();
    let out = scope!(error = AppError, {
        spawn!(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stopper.cancel("the server is stopping");
            Ok(())
        });
        let request = checksum(data, server.clone(), Duration::from_secs(60), done.clone());
        Ok(request.await)
    })
    .await?;
    scope::check()?;
    let chunks = done.load(Ordering::SeqCst);
    println!(
        "   server stopping: {} after {chunks} of 200 chunks",
        said(&out)
    );
    let Err(AppError::Interrupted(Interrupted::Cancelled(c))) = out else {
        panic!("expected the server's cancel, got {out:?}");
    };
    assert_eq!(c.cause().root(), &Cause::explicit("the server is stopping"));
    assert!(
        chunks < 200,
        "stopped part-way, long before its own 60 s deadline"
    );

    // 3. A rollback of 200 ms, past the grace (100 ms) but within its budget (300 ms), runs to
    // its end; one that would take 10 s is cut off at the budget, and says so before the
    // forced abort (held off until then) comes.
    let (took, logged) = rollback_run("3.", Duration::from_millis(200)).await?;
    assert!(
        logged
            .as_deref()
            .is_some_and(|l| l.starts_with("rolled back")),
        "the rollback ran to its end: {logged:?}"
    );
    assert!(
        took >= Duration::from_millis(300),
        "the deadline, then the whole rollback, past the grace"
    );

    let (took, logged) = rollback_run("  ", Duration::from_secs(10)).await?;
    assert!(
        logged
            .as_deref()
            .is_some_and(|l| l.starts_with("rollback cut off")),
        "the rollback said it was cut off: {logged:?}"
    );
    assert!(
        took >= Duration::from_millis(400),
        "the deadline, then the budget"
    );
    assert!(took < Duration::from_secs(3), "not the 10 s rollback");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_blocking_io_example_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
