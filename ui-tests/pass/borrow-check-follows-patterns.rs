use scope::{scoped, spawn, Interrupted};

// A name bound inside a spawned block (a `match` arm, `if let`, `while let`) is the block's
// own: it does not borrow the outer local it shadows.
#[scoped]
async fn handler() -> Result<u32, Interrupted> {
    let n = 1u32;
    let child = spawn!(async {
        let mut total = 0;
        match Some(2u32) {
            Some(n) => total += n,
            None => {}
        }
        if let Some(n) = Some(3u32) {
            total += n;
        }
        let mut left = vec![4u32];
        while let Some(n) = left.pop() {
            total += n;
        }
        Ok::<u32, Interrupted>(total)
    });
    Ok(n + child.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(handler()).ok(), Some(10));
}
