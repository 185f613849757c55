use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let _ = std::thread::spawn(|| {});
    Ok(())
}

fn main() {}
