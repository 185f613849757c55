use scope::{scope, scoped, spawn, Interrupted};

async fn work() -> Result<u32, Interrupted> {
    Ok(1)
}

// A scope's options are computed before it starts: no child can be started there, in a
// nested `scope!`'s header (inside a `#[scoped]` fn, whose body it is not) or in the
// attribute's own.
#[scoped]
async fn nested() -> Result<u32, Interrupted> {
    let r = scope!(name = { let _h = spawn!(work()); "inner" }, { Ok::<_, Interrupted>(1u32) }).await?;
    Ok(r)
}

#[scoped(timeout = { let _h = spawn!(work()); std::time::Duration::from_secs(1) })]
async fn in_the_attribute() -> Result<u32, Interrupted> {
    Ok(1)
}

fn main() {}
