use scope::{scoped, Interrupted};

#[scoped(limit = 2, limit = 4)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
