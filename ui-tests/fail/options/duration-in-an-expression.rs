use scope::{scoped, Interrupted};

#[scoped(timeout = 2 * 500ms)]
async fn doubled() -> Result<(), Interrupted> {
    Ok(())
}

#[scoped(grace = -5s)]
async fn negative() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
