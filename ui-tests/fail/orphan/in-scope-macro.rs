use scope::{scope, Interrupted};

async fn handler() {
    let _ = scope!({
        let _ = tokio::spawn(async {});
        Ok::<(), Interrupted>(())
    })
    .await;
}

fn main() {}
