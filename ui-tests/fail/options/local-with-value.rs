use scope::{scoped, Interrupted};

#[scoped(local = true)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
