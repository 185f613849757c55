use scope::{scoped, Interrupted};

scope::slot!(static REQUEST_ID: String);

#[scoped(slots(REQUEST_ID = 42))]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
