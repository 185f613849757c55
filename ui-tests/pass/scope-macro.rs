use scope::{scope, spawn_in_place, Interrupted};

// `scope!` in expression position borrows locals from outside in in-place children, and is
// a future of the block's value.
async fn lengths(words: &[&str]) -> Result<usize, Interrupted> {
    let prefix = String::from(">");
    scope!(name = "lengths", limit = 2, timeout = 1s, {
        let a = spawn_in_place!(async { Ok(words.iter().map(|w| w.len()).sum::<usize>()) });
        let b = spawn_in_place!(async { Ok(prefix.len()) });
        Ok(a.await? + b.await?)
    })
    .await
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert_eq!(block_on(lengths(&["a", "bb"])).ok(), Some(4));
}
