// A crate moving to edition 2024 runs `cargo fix --edition`, which turns on the
// `rust_2024_compatibility` lints. The macros' own code gives none of them: denied here, each
// form below compiled with a `tail_expr_drop_order` warning per use ("relative drop order
// changing in Rust 2024", pointing into the runtime's `Drop`s), though its order is the same in
// both editions. (The bodies keep their own tails free of temporaries with a `Drop`: such a
// tail is warned about in any async fn.)
#![deny(rust_2024_compatibility)]

use scope::{scope, scoped, spawn, spawn_in_place, Failures, Interrupted};

#[scoped]
async fn fail_fast(ids: Vec<u32>) -> Result<u32, Interrupted> {
    let first = spawn!(async move { Ok::<_, Interrupted>(ids[0]) });
    let value = first.await?;
    Ok(value)
}

#[scoped(policy = supervise)]
async fn supervised() -> Result<u32, Failures<Interrupted>> {
    let child = spawn_in_place!(async { Ok::<u32, Interrupted>(2) });
    let value = child.await.unwrap_or(0);
    Ok(value)
}

#[scoped(policy = first_ok)]
async fn race() -> Result<u32, Failures<Interrupted>> {
    spawn!(async { Ok::<u32, Interrupted>(3) });
    Ok(())
}

#[scoped(local)]
async fn local() -> Result<u32, Interrupted> {
    let rc = std::rc::Rc::new(4);
    let child = spawn_in_place!(async move { Ok(*rc) });
    let value = child.await?;
    Ok(value)
}

async fn block() -> Result<u32, Interrupted> {
    scope!({
        let child = spawn!(async { Ok::<u32, Interrupted>(5) });
        let value = child.await?;
        Ok(value)
    })
    .await
}

#[scope::main]
async fn main() -> Result<(), Interrupted> {
    assert_eq!(fail_fast(vec![1]).await?, 1);
    assert_eq!(supervised().await.ok(), Some(2));
    assert_eq!(race().await.ok(), Some(3));
    assert_eq!(local().await?, 4);
    assert_eq!(block().await?, 5);
    Ok(())
}
