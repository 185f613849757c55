use scope::{scope, Interrupted};

async fn work() -> Result<u32, Interrupted> {
    Ok(1)
}

// A body written without its block: said once, over what was written (the first error was
// "unknown option `spawn`", the way out only second).
async fn handler() -> Result<u32, Interrupted> {
    scope!(spawn!(work()).await).await
}

fn main() {
    let _ = handler();
}
