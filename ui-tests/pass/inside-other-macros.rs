use scope::{provided, scope, scoped, slot, spawn, Interrupted, Needs};

// What the scope's macros do inside another macro's arguments (`tokio::join!`, `select!`,
// `vec!`) is what they do at statement level: a nested `scope!` keeps the enclosing proof,
// and `#[scope::allow_orphan]` is taken off the statement it allows.

slot!(static TENANT: String);

#[scoped]
async fn handler(cx: Needs![TENANT]) -> Result<usize, Interrupted> {
    Ok(cx.get(&TENANT).len())
}

#[scoped(slots(TENANT = t))]
async fn both(t: String) -> Result<usize, Interrupted> {
    let (a, b) = tokio::join!(
        scope!(error = Interrupted, { handler(provided!()).await }),
        scope!(error = Interrupted, { handler(provided!()).await }),
    );
    Ok(a? + b?)
}

#[scoped]
async fn serve(mut rx: tokio::sync::mpsc::Receiver<u32>) -> Result<u32, Interrupted> {
    let mut flushed = 0;
    tokio::select! {
        Some(n) = rx.recv() => {
            #[scope::allow_orphan]
            let flush = tokio::spawn(async move { n * 2 });
            flushed = flush.await.unwrap();
        }
        else => {}
    }
    let children = vec![spawn!(async { Ok(1) }), spawn!(async { Ok(2) })];
    for child in children {
        flushed += child.await?;
    }
    Ok(flushed)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert_eq!(block_on(both("acme".to_owned())).ok(), Some(8));
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.try_send(20).unwrap();
    assert_eq!(block_on(serve(rx)).ok(), Some(43));
}
