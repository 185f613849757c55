use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

async fn handler() {
    let _ = scope!(limit = 0, timout = 1s, {
        Ok::<(), Interrupted>(())
    })
    .await;
}

fn main() {}
