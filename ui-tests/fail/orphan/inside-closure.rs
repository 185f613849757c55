use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let start = || {
        let _ = tokio::spawn(async {});
    };
    start();
    Ok(())
}

fn main() {}
