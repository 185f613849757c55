use scope::{scope, spawn, Interrupted};

// `spawn!` runs the future on another task: it cannot borrow from the enclosing function.
async fn borrow() {
    let words = vec!["a", "b"];
    let _ = scope!({
        let n = spawn!(async { Ok::<usize, Interrupted>(words.len()) });
        n.await
    })
    .await;
}

fn main() {}
