use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use scope::{scope, scoped, spawn_in_place_when_free, spawn_when_free, Interrupted};

#[scoped(limit = 4)]
async fn waiting_loop(n: usize) -> Result<usize, Interrupted> {
    let done = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..n {
        let done = done.clone();
        handles.push(
            spawn_when_free!(async move {
                done.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await?,
        );
    }
    for h in handles {
        h.await?;
    }
    Ok(done.load(Ordering::SeqCst))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(waiting_loop(50).await.unwrap(), 50);
    let words = ["a", "bb", "ccc"];
    let total = scope!(limit = 1, error = Interrupted, {
        let mut sum = 0;
        for w in &words {
            sum += spawn_in_place_when_free!(async move { Ok(w.len()) }).await?.await?;
        }
        Ok(sum)
    })
    .await
    .unwrap();
    assert_eq!(total, 6);
}
