use scope::{provided, scoped, slot, Interrupted, Needs};

slot!(static REQUEST_ID: String);

// The handler requires REQUEST_ID; its caller binds nothing.
#[scoped]
async fn handler(cx: Needs![REQUEST_ID]) -> Result<String, Interrupted> {
    Ok(cx.get(&REQUEST_ID).clone())
}

#[scoped]
async fn caller() -> Result<String, Interrupted> {
    handler(provided!()).await
}

fn main() {}
