use scope::{scoped, spawn, Interrupted};

// A block without `move` takes by value a local that a method consumes (`into_*`, a oneshot's
// `send`, a request builder's awaited `send`) or that a nested `move` closure captures: the
// child owns it, and it is `'static`.
#[scoped]
async fn reply(items: Vec<u32>) -> Result<u32, Interrupted> {
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let a = spawn!(async {
        let _ = tx.send(7);
        Ok::<_, Interrupted>(())
    });
    let b = spawn!(async { Ok::<_, Interrupted>(items.into_iter().sum::<u32>()) });
    let words = vec!["a".to_owned()];
    let c = spawn!(async {
        let count = move || words.len();
        Ok::<_, Interrupted>(u32::try_from(count()).unwrap_or(0))
    });
    let request = Request { body: 4 };
    let d = spawn!(async { Ok::<_, Interrupted>(request.send().await) });
    a.await?;
    Ok(b.await? + c.await? + d.await? + rx.await.unwrap_or(0))
}

/// A request builder whose `send` takes it (as an HTTP client's does).
struct Request {
    body: u32,
}

impl Request {
    async fn send(self) -> u32 {
        self.body
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(reply(vec![1, 2])).unwrap(), 15);
}
