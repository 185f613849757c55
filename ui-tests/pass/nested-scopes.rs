use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

// A `scope!` inside a `#[scoped]` fn: spawns bind to the innermost scope; a child fans out
// through its own nested scope.
#[scoped]
async fn outer() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok(1) });
    let inner = scope!(limit = 2, {
        let b = spawn!(async { Ok(10) });
        let c = spawn_in_place!(async {
            let nested = scope!({
                let d = spawn!(async { Ok(100) });
                d.await
            });
            nested.await
        });
        Ok::<u32, Interrupted>(b.await? + c.await?)
    })
    .await?;
    Ok(a.await? + inner)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert_eq!(block_on(outer()).ok(), Some(111));
}
