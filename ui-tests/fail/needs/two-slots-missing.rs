use scope::{provided, scoped, slot, Interrupted, Needs};

slot!(static REQUEST_ID: String; static TENANT: String);

// Both missing: both are named.
#[scoped]
async fn handler(cx: Needs![REQUEST_ID, TENANT]) -> Result<String, Interrupted> {
    Ok(format!("{} {}", cx.get(&REQUEST_ID), cx.get(&TENANT)))
}

#[scoped]
async fn caller() -> Result<String, Interrupted> {
    handler(provided!()).await
}

fn main() {}
