use scope::{scoped, Interrupted};

#[scoped(concurrency = 4)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
