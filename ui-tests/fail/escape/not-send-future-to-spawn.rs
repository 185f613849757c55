use scope::{scope, spawn, Interrupted};

use std::rc::Rc;

// `spawn!` runs the future on another thread: it must be `Send`.
async fn not_send() {
    let _ = scope!({
        let n = spawn!(async {
            let rc = Rc::new(1);
            tokio::task::yield_now().await;
            Ok::<i32, Interrupted>(*rc)
        });
        n.await
    })
    .await;
}

fn main() {}
