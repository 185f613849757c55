use scope::{scoped, Interrupted};

#[scoped(policy = "race")]
async fn handler() -> Result<(), scope::Failures<Interrupted>> {
    Ok(())
}

fn main() {}
