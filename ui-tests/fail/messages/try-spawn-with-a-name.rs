use scope::{scoped, try_spawn, Interrupted};

#[scoped]
async fn named() -> Result<u8, Interrupted> {
    let c = try_spawn!(name = "x", async { Ok(1) }).unwrap();
    Ok(c.await?)
}

fn main() {}
