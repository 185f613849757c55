use scope::{scoped, spawn, Interrupted};

// `self` binds nothing: the handle needs a name.
#[scoped(handle = self)]
async fn fetch() -> Result<u32, Interrupted> {
    let c = spawn!(async { Ok(1) });
    Ok(c.await?)
}

fn main() {}
