// A race's body only starts the candidates; the winner's value is the race's. A body that ends
// with a value is told to end with `Ok(())`.
use scope::{scoped, spawn, Failures, Interrupted};

#[scoped(policy = first_ok)]
async fn fastest() -> Result<u32, Failures<Interrupted>> {
    spawn!(async { Ok::<u32, Interrupted>(2) });
    Ok(999)
}

fn main() {}
