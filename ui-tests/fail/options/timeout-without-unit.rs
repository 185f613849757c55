use scope::{scoped, Interrupted};

#[scoped(timeout = 5)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
