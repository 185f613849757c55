use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let work = async {
        let _ = tokio::spawn(async {});
    };
    work.await;
    Ok(())
}

fn main() {}
