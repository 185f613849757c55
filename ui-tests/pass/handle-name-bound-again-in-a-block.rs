use scope::{scoped, spawn, Interrupted};

// A block that binds the handle's name again gives that value, not the handle: a child that
// uses what it gives uses no handle.
#[scoped(handle = s)]
async fn rebound() -> Result<u32, Interrupted> {
    let n = {
        let s = 40u32;
        s
    };
    let child = spawn!(async move { Ok(n + 2) });
    child.await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(rebound()).unwrap(), 42);
}
