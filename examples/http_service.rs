//! An HTTP service with axum, structured: a scope per request, with a deadline and a
//! `REQUEST_ID` slot; a fail-fast fan-out to (simulated) backends; a detached audit record
//! through a service the application owns; a graceful shutdown on SIGTERM.
//!
//! - `GET /work/{ms}`: two backends, `users` and `orders`, each take `ms` milliseconds. The
//!   request's deadline is 2.5 s: `/work/3000` answers 504. The request id comes from the
//!   `x-request-id` header, or is minted, and is sent back in the same header.
//! - `GET /fail`: the `orders` backend fails after 10 ms; fail-fast cancels `users` (its
//!   cancellation is logged) and the answer is 502.
//! - A client that goes away mid-request: axum drops the handler's future, which cancels the
//!   request's scope and its backends (each logs `cancelled: ...` with the cause).
//! - Every answered request hands an audit record to the `audit` service, written 50 ms after
//!   the answer (`audit: ...`), even though the request is over by then. A request whose
//!   client went away is not audited: unlike Go's, whose handler runs on after a disconnect
//!   with only its context cancelled, the handler's future is dropped before the hand-over.
//!   To audit those too, hand the record over from a guard's `Drop` (`Service::spawn` is not
//!   async), disarmed once the normal hand-over is done.
//! - SIGTERM (or Ctrl-C): `#[scope::main]` cancels the application's context;
//!   `scope::shutdown_signal()` tells axum to stop accepting (the listener closes) and to
//!   finish the requests in flight; a request that starts meanwhile answers 503. Then the audit
//!   service drains, and the process exits 0 (if the 5 s grace ran out, 128 + the signal:
//!   143 for SIGTERM, 130 for Ctrl-C).
//!
//! Run it with `cargo run --example http_service -- 127.0.0.1:3000`, then
//! `curl -i localhost:3000/work/500`; stop it with Ctrl-C. Its claims are tested by
//! `exit-tests/tests/http_service.rs`, which drives it over loopback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use scope::{scoped, slot, spawn, Cx, Interrupted, Service, ServiceConfig};

slot!(
    /// The request's id, for every log line of the request and of its detached work.
    static REQUEST_ID: String
);

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("backend `{0}` failed")]
    Backend(&'static str),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
struct AppState {
    /// Detached work: the audit records.
    audit: Service,
    /// The application's main context: cancelled when the shutdown starts.
    main: Cx,
}

/// Logs a line with the request's id (stdout: the test reads it).
fn log(what: &str) {
    let id = REQUEST_ID.get().unwrap_or_else(|| "-".to_owned());
    println!("{what} [request {id}]");
}

/// A simulated backend: answers after `ms`, or fails; logs its start and its cancellation's
/// cause.
async fn backend(name: &'static str, ms: u64, fail: bool) -> Result<String, AppError> {
    log(&format!("started: backend `{name}`"));
    let work = tokio::time::sleep(Duration::from_millis(ms));
    tokio::select! {
        () = work => {
            if fail {
                Err(AppError::Backend(name))
            } else {
                Ok(format!("{name} in {ms}ms"))
            }
        }
        cause = scope::cancelled() => {
            log(&format!("cancelled: backend `{name}`: {cause}"));
            Err(Interrupted::from_cause(cause).into())
        }
    }
}

/// One request: a scope with a deadline and the request's id, fanning out to the backends
/// (fail-fast: the first failure cancels the other). The grace lets the backends log their
/// cancellation.
#[scoped(timeout = 2500ms, grace = 100ms, slots(REQUEST_ID = id))]
async fn handle(id: String, ms: u64, fail: bool) -> Result<String, AppError> {
    let users = spawn!(name = "users", backend("users", ms, false));
    let orders = spawn!(
        name = "orders",
        backend("orders", if fail { 10 } else { ms }, fail)
    );
    Ok(format!("{}, {}", users.await?, orders.await?))
}

static MINTED: AtomicU64 = AtomicU64::new(1);

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(
            || format!("r-{}", MINTED.fetch_add(1, Ordering::Relaxed)),
            ToOwned::to_owned,
        )
}

/// The HTTP side of a request: 503 while shutting down, the scope's outcome as a status, the
/// audit record handed to the service.
async fn respond(state: &AppState, headers: &HeaderMap, ms: u64, fail: bool) -> Response {
    let id = request_id(headers);
    let (status, body) = if state.main.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down".to_owned())
    } else {
        match handle(id.clone(), ms, fail).await {
            Ok(body) => (StatusCode::OK, body),
            Err(AppError::Interrupted(Interrupted::DeadlineExceeded(e))) => {
                (StatusCode::GATEWAY_TIMEOUT, e.to_string())
            }
            Err(AppError::Backend(name)) => {
                (StatusCode::BAD_GATEWAY, format!("backend `{name}` failed"))
            }
            // A bug on our side: logged here, and not retried by the client (a 503 would say
            // "try again later"); the panic's text stays out of the answer.
            Err(AppError::Interrupted(Interrupted::Panicked(p))) => {
                eprintln!("request {id}: {p}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    };
    println!("answered: {} [request {id}]", status.as_u16());
    // Detached: it outlives the request (keeping its id), owned by the audit service.
    let audited = Cx::current().with_slot(&REQUEST_ID, id.clone());
    let record = audited.run(async {
        state
            .audit
            .spawn_named(format!("audit of {id}"), async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                log(&format!("audit: {}", status.as_u16()));
            })
    });
    match record.await {
        Ok(task) => task.detach(),
        Err(e) => println!("audit refused: {e} [request {id}]"),
    }
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn work(State(state): State<AppState>, Path(ms): Path<u64>, headers: HeaderMap) -> Response {
    respond(&state, &headers, ms, false).await
}

async fn fail(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&state, &headers, 1_000, true).await
}

#[scope::main(grace = 5s)]
async fn main() -> Result<(), AppError> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    // Made inside `#[scope::main]`: the application owns it and drains it at shutdown.
    let audit = Service::new(
        ServiceConfig::new("audit")
            .workers(4)
            .capacity(10_000)
            .task_timeout(Duration::from_secs(2)),
    );
    let state = AppState {
        audit,
        main: Cx::current(),
    };
    let app = Router::new()
        .route("/work/{ms}", get(work))
        .route("/fail", get(fail))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(scope::shutdown_signal())
        .await?;
    println!("server stopped");
    Ok(())
}
