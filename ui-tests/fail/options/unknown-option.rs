use scope::{scoped, Interrupted};

#[scoped(limt = 4)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
