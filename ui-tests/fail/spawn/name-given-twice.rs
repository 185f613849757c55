use scope::{scoped, spawn, Interrupted};

#[scoped]
async fn twice() -> Result<(), Interrupted> {
    let _ = spawn!(name = "fetch", name = "again", async { Ok(()) });
    Ok(())
}

fn main() {}
