use scope::{scoped, Interrupted};

// Independent problems are reported together.
#[scoped(limt = 4, limit = 0, timeout = soon, grace = "1s")]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
