use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _ = std::thread::Builder::new().name("worker".into()).spawn(|| {});
    Ok(())
}

fn main() {}
