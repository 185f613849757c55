use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn outer() -> Result<(), Interrupted> {
    let _ = spawn!(label = "x", async {});
    Ok(())
}

fn main() {}
