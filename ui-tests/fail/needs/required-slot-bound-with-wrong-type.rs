use scope::{provided, scoped, slot, Interrupted, Needs};

slot!(static REQUEST_ID: String);

#[scoped]
async fn handler(cx: Needs![REQUEST_ID]) -> Result<String, Interrupted> {
    Ok(cx.get(&REQUEST_ID).clone())
}

#[scoped(slots(REQUEST_ID = 42u64))]
async fn caller() -> Result<String, Interrupted> {
    handler(provided!()).await
}

fn main() {}
