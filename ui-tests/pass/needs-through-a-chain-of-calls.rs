use scope::{provided, scoped, slot, Interrupted, Needs};

slot!(static REQUEST_ID: String; static TENANT: String);

// Inference works through a chain: each fn states only what it needs; the caller's proof
// (a list of any order and length) satisfies every requirement it contains.
#[scoped]
async fn leaf(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

#[scoped]
async fn middle(cx: Needs![REQUEST_ID, TENANT]) -> Result<String, Interrupted> {
    // `provided!()` narrows this fn's proof to what `leaf` requires.
    let tenant = leaf(provided!()).await?;
    Ok(format!("{}/{tenant}", cx.get(&REQUEST_ID)))
}

#[scoped(slots(REQUEST_ID = "r-5".to_owned()))]
async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    // Extends the caller's proof (TENANT) with this scope's binding (REQUEST_ID).
    middle(provided!()).await.map(|s| format!("{s} ({})", cx.get(&TENANT)))
}

#[scoped(slots(TENANT = "acme".to_owned()))]
async fn entry() -> Result<String, Interrupted> {
    handler(provided!()).await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(entry()).unwrap(), "r-5/acme (acme)");
}
