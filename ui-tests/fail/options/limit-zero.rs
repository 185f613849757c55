use scope::{scoped, Interrupted};

#[scoped(limit = 0)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
