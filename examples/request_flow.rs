//! Required context, checked by the compiler: a request flow where the middleware binds the
//! request's id and tenant, and the handler and its helpers require them.
//!
//! Every peer finds a missing request value only at run time (Go's `ctx.Value` returns nil).
//! Here a fn states the slots it needs with a `Needs![..]` parameter; calling it from a place
//! where they are not bound does not compile, and reading them cannot fail. Run it with
//! `cargo run --example request_flow`; `cargo test --workspace` runs it too.

use std::time::Duration;

use scope::{provided, scoped, slot, spawn, spawn_in_place, Interrupted, Needs};

slot!(
    /// The id of the request being served.
    static REQUEST_ID: String;
    /// The tenant the request belongs to.
    static TENANT: String
);

/// An incoming request, as a web framework would hand it over.
struct Request {
    headers: Vec<(&'static str, &'static str)>,
    path: &'static str,
}

impl Request {
    fn header(&self, name: &str) -> Option<&'static str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// The middleware: reads the headers, binds the slots for everything below it, and gives a
/// deadline to the whole request.
#[scoped(
    timeout = Duration::from_secs(2),
    slots(
        REQUEST_ID = req.header("x-request-id").unwrap_or("generated-1").to_owned(),
        TENANT = tenant_of(&req)?.to_owned(),
    )
)]
async fn middleware(req: Request) -> Result<String, AppError> {
    // `provided!()` is the proof that REQUEST_ID and TENANT are bound here.
    handler(provided!(), req.path).await
}

fn tenant_of(req: &Request) -> Result<&'static str, AppError> {
    req.header("x-tenant")
        .ok_or(AppError::MissingHeader("x-tenant"))
}

/// The handler requires both slots; it fans out to helpers that each require what they use.
#[scoped]
async fn handler(cx: Needs![REQUEST_ID, TENANT], path: &'static str) -> Result<String, AppError> {
    // Spawned and in-place children take the proof along like any value, narrowed to what
    // each callee requires (`provided!()` does the same).
    let audit = spawn!(audit(cx.clone().narrow(), path));
    let user = spawn_in_place!(load_user(cx.clone().narrow()));
    let user = user.await?;
    audit.await?;
    Ok(format!("[{}] {path} for {user}", cx.get(&REQUEST_ID)))
}

/// Needs only the tenant. Calling it needs a proof containing TENANT: the handler's does.
#[scoped]
async fn load_user(cx: Needs![TENANT]) -> Result<String, AppError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(format!("alice@{}", cx.get(&TENANT)))
}

/// Needs only the request id.
#[scoped]
async fn audit(cx: Needs![REQUEST_ID], path: &'static str) -> Result<(), AppError> {
    println!("audit: request {} asked for {path}", cx.get(&REQUEST_ID));
    Ok(())
}

// Would not compile: nothing binds TENANT on this path.
//
//     #[scoped]
//     async fn background() -> Result<String, AppError> {
//         load_user(provided!()).await
//     }
//
// error[E0277]: a slot required here is not bound on this path
//   the callee requires the slots `With<TENANT, Nil>`; the enclosing scopes bind `Nil`

#[scope::main]
async fn main() -> Result<(), AppError> {
    let request = Request {
        headers: vec![("x-request-id", "req-7"), ("x-tenant", "acme")],
        path: "/profile",
    };
    let response = middleware(request).await?;
    println!("{response}");
    assert_eq!(response, "[req-7] /profile for alice@acme");

    let anonymous = Request {
        headers: vec![],
        path: "/profile",
    };
    let refused = middleware(anonymous).await;
    println!("without a tenant: {}", refused.as_ref().unwrap_err());
    assert!(matches!(refused, Err(AppError::MissingHeader("x-tenant"))));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_flow_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
