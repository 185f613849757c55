use scope::{scoped, Interrupted};

#[scoped(deadline = 5)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
