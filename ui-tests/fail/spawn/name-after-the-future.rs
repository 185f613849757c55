use scope::{scoped, spawn, Interrupted};

#[scoped]
async fn after() -> Result<(), Interrupted> {
    let _ = spawn!(async { Ok(()) }, name = "fetch");
    Ok(())
}

#[scoped]
async fn bare() -> Result<(), Interrupted> {
    let _ = spawn!("fetch", async { Ok(()) });
    Ok(())
}

fn main() {}
