use scope::{scoped, spawn, Interrupted};

async fn work() -> Result<u32, Interrupted> {
    Ok(1)
}

// Supervised (or a race), the scope returns every failure: `Failures<E>`, not `E`.
#[scoped(policy = supervise)]
async fn all() -> Result<u32, Interrupted> {
    let a = spawn!(work());
    Ok(a.await?)
}

#[scoped(policy = first_ok)]
async fn fastest() -> Result<u32, Interrupted> {
    spawn!(work());
    Ok(())
}

fn main() {}
