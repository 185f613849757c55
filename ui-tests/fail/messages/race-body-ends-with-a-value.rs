// A race's body only starts the candidates; the winner's value is the race's. A body that ends
// with a value is told to end with `Ok(())`.
use scope::{scoped, spawn, Failures, Interrupted};

#[scoped(policy = first_ok)]
async fn fastest() -> Result<u32, Failures<Interrupted>> {
    spawn!(async { Ok::<u32, Interrupted>(2) });
    Ok(999)
}

// A value given with a `return` of its own is told the same, at the return type (a body whose
// last statement is such a `return` never ends there; it was said to be of the body's type,
// which turned the message into a type mismatch at the attribute).
#[scoped(policy = first_ok)]
async fn fastest_returned() -> Result<u32, Failures<Interrupted>> {
    spawn!(async { Ok::<u32, Interrupted>(2) });
    return Ok(5);
}

fn main() {}
