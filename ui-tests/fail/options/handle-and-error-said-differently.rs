use scope::{scope, scoped, Interrupted};

#[scoped(error = Interrupted)]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

async fn caller() {
    let _ = scope!(handle = s, { Ok::<(), Interrupted>(()) }).await;
}

fn main() {}
