// A hand-written boxed fn that `#[scoped]` scopes keeps its body's own leading lines in the
// body: a sender bound there is dropped at the body's end, so the child that drains its
// channel ends. Such a fn counts as scoped in an `impl` block or a module whose own
// `#[scoped]` finds no `async fn`.
use std::future::Future;
use std::pin::Pin;

use scope::{scoped, spawn, Interrupted};
use tokio::sync::mpsc;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, Interrupted>> + Send + 'a>>;

struct Pump;

#[scoped(timeout = 5s)]
impl Pump {
    #[scoped]
    fn run(&self, tx: mpsc::Sender<u32>, mut rx: mpsc::Receiver<u32>) -> Boxed<'_, u32> {
        Box::pin(async move {
            let tx = tx; // the body's own: dropped at its end
            let drained = spawn!(async move {
                let mut n = 0;
                while let Some(x) = rx.recv().await {
                    n += x;
                }
                Ok(n)
            });
            tx.send(3).await.unwrap();
            drop(drained);
            Ok(1)
        })
    }
}

#[scoped]
mod handlers {
    use super::{scoped, spawn, Boxed};

    #[scoped]
    pub fn two() -> Boxed<'static, u32> {
        Box::pin(async move { Ok(spawn!(async { Ok(2) }).await?) })
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (tx, rx) = mpsc::channel(4);
    let ten_seconds = std::time::Duration::from_secs(10);
    let out = rt.block_on(async { tokio::time::timeout(ten_seconds, Pump.run(tx, rx)).await });
    assert_eq!(out.expect("the scope ends").unwrap(), 1);
    assert_eq!(rt.block_on(handlers::two()).unwrap(), 2);
}
