use scope::{scoped, Interrupted};

#[scoped(timeout = soon)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
