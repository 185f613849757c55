use scope::{scoped, Interrupted};

#[scoped(timeout = budget)]
async fn handler(budget: u64) -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
