use scope::{scoped, spawn, Interrupted};

#[scoped]
async fn outer() -> Result<(), Interrupted> {
    let _ = spawn!();
    Ok(())
}

fn main() {}
