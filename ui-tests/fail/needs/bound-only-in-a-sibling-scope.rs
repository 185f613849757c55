use scope::{provided, scope, scoped, slot, Interrupted, Needs};

slot!(static TENANT: String);

#[scoped]
async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

// A sibling scope binds TENANT; the call is outside it.
#[scoped]
async fn caller() -> Result<String, Interrupted> {
    let _ = scope!(slots(TENANT = "acme".to_owned()), {
        Ok::<_, Interrupted>(())
    })
    .await;
    handler(provided!()).await
}

fn main() {}
