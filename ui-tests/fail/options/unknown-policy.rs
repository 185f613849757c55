use scope::{scoped, Interrupted};

#[scoped(policy = all_or_nothing)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
