use scope::{scoped, Interrupted};

#[scoped]
fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
