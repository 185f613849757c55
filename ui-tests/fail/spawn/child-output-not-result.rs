use scope::{scoped, spawn, Interrupted};

#[scoped]
async fn outer() -> Result<(), Interrupted> {
    let _ = spawn!(async { 42 });
    Ok(())
}

fn main() {}
