use scope::{scope, Interrupted};

async fn handler() {
    let _ = scope!(limit = 0, timout = 1s, {
        Ok::<(), Interrupted>(())
    })
    .await;
}

fn main() {}
