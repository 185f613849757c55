use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

async fn handler() {
    let _ = scope!({
        let _ = tokio::spawn(async {});
        Ok::<(), Interrupted>(())
    })
    .await;
}

fn main() {}
