// A body that is one `loop` (a server that ends only by its error): the expansion keeps rustc's
// `unused_braces` quiet about the fn's own braces (its help would have removed them), under
// each policy. The warnings are denied so that trybuild sees one.
#![deny(warnings)]
use std::convert::Infallible;

use scope::{scoped, spawn, Failures, Interrupted};

#[scoped]
async fn serve() -> Result<Infallible, Interrupted> {
    loop {
        scope::check()?;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[scoped(policy = supervise)]
async fn watch() -> Result<Infallible, Failures<Interrupted>> {
    loop {
        scope::check()?;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[scoped(policy = first_ok)]
async fn race() -> Result<u8, Failures<Interrupted>> {
    loop {
        spawn!(async { Ok(1) });
        std::future::pending::<()>().await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let cx = scope::Cx::root().child_with_timeout(std::time::Duration::from_millis(5));
        assert!(cx.run(serve()).await.is_err());
        let cx = scope::Cx::root().child_with_timeout(std::time::Duration::from_millis(5));
        assert!(cx.run(watch()).await.is_err());
        assert_eq!(race().await.unwrap(), 1);
    });
}
