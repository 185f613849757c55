use scope::{scoped, slot, Interrupted, Needs};

slot!(static REQUEST_ID: String; static TENANT: String);

#[scoped]
async fn audit(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

// The handler declares only REQUEST_ID, so it cannot call a helper that needs TENANT.
#[scoped]
async fn handler(cx: Needs![REQUEST_ID]) -> Result<String, Interrupted> {
    audit(cx.clone()).await
}

fn main() {}
