use scope::{scoped, Interrupted};

#[scoped(flavor = "current_thread")]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
