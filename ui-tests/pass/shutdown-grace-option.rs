// `shutdown_grace` gives a scope's children a drain budget when the application's shutdown
// cancels it; any other cancel (here the body's own) stops them at once.
use std::time::{Duration, Instant};

use scope::{scope, scoped, spawn, Interrupted};

#[scoped(shutdown_grace = 5s, handle = s)]
async fn serve() -> Result<Duration, Interrupted> {
    spawn!(std::future::pending::<()>()); // never looks at its context
    s.cancel("done");
    Ok(scope::current_grace())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let start = Instant::now();
    assert_eq!(serve().await.unwrap(), Duration::ZERO);
    let nested = scope!(error = Interrupted, shutdown_grace = Duration::from_secs(1), |s| {
        spawn!(std::future::pending::<()>());
        s.cancel("done");
        Ok(())
    })
    .await;
    assert!(nested.is_ok());
    assert!(start.elapsed() < Duration::from_secs(1));
}
