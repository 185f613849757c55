use scope::{scoped, Interrupted};

#[scoped(limit = "x")]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
