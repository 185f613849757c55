use scope::{scoped, spawn, Interrupted};

async fn consume(words: Vec<String>) -> Result<usize, Interrupted> {
    Ok(words.len())
}

// A block without `move` that uses a non-`Copy` local by value takes it by value, as a
// closure does: the child owns it, and it is `'static`.
#[scoped]
async fn handler(req: Vec<String>) -> Result<usize, Interrupted> {
    let extra = vec!["x".to_owned()];
    let a = spawn!(async { consume(req).await });
    let b = spawn!(async { consume(extra).await });
    let kept = vec!["y".to_owned()];
    let c = spawn!(async {
        let mine = kept;
        Ok::<_, Interrupted>(mine.len())
    });
    Ok(a.await? + b.await? + c.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(handler(vec!["a".into(), "b".into()])).unwrap(), 4);
}
