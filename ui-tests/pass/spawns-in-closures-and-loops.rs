use scope::{scoped, spawn, spawn_in_place, Interrupted};

// The spawn macros are rewritten in loops, closures, async blocks and other macros' arguments.
#[scoped]
async fn fan_out(n: u32) -> Result<u32, Interrupted> {
    let mut children = Vec::new();
    for i in 0..n {
        children.push(spawn!(async move { Ok(i) }));
    }
    let mut k = 0;
    while k < 2 {
        children.push(spawn!(async move { Ok(100) }));
        k += 1;
    }
    let start = |x: u32| spawn!(async move { Ok(x * 1000) });
    children.push(start(1));
    let in_block = async { spawn_in_place!(async { Ok(5) }) };
    children.push(in_block.await);
    let more = vec![spawn!(async { Ok(20_000) }), spawn!(name = "last", async { Ok(0) })];
    children.extend(more);
    let mut total = 0;
    for c in children {
        total += c.await?;
    }
    Ok(total)
}

// Written with braces as a statement of its own (no `;`), as a statement macro may be.
#[scoped]
async fn braces() -> Result<u32, Interrupted> {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let d = done.clone();
    spawn! { async move { d.fetch_add(1, std::sync::atomic::Ordering::SeqCst); Ok(()) } }
    let d = done.clone();
    spawn! { async move { d.fetch_add(2, std::sync::atomic::Ordering::SeqCst); Ok(()) } }
    Ok(3)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    // 0 + 1 + 2 + 100 + 100 + 1000 + 5 + 20_000 + 0
    assert_eq!(block_on(fan_out(3)).ok(), Some(21_208));
    assert_eq!(block_on(braces()).ok(), Some(3));
}
