use scope::{scope, scoped, Interrupted};
use std::sync::Arc;
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

// A nested `scope!` is linted with what the enclosing body knows: its parameters, locals and
// `use`s (each of these is flagged at the body's top level, and so it is in here).
#[scoped]
async fn handler(set: &mut JoinSet<()>, rt: Arc<tokio::runtime::Runtime>) -> Result<(), Interrupted> {
    use tokio::spawn as go;
    let h = tokio::runtime::Handle::current();
    scope!(timeout = 1s, {
        set.spawn(poll_forever());
        rt.spawn(poll_forever());
        h.spawn(poll_forever());
        go(poll_forever());
        Ok::<_, Interrupted>(())
    })
    .await
}

fn main() {}
