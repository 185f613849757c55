use scope::{scoped, Interrupted};

#[scoped(handle = "s")]
async fn named() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
