use scope::{scoped, spawn, Interrupted};

#[scoped]
#[scoped(limit = 2)]
async fn handler() -> Result<u8, Interrupted> {
    let c = spawn!(async { Ok(1) });
    Ok(c.await?)
}

fn main() {}
