use scope::{scope, spawn, Interrupted};

// A child handle cannot move into an unscoped task, even when the orphan lint is silenced.
async fn escape() {
    let _ = scope!({
        let child = spawn!(async { Ok::<u8, Interrupted>(1) });
        #[scope::allow_orphan]
        let _ = tokio::spawn(async move { child.await });
        Ok::<(), Interrupted>(())
    })
    .await;
}

fn main() {}
