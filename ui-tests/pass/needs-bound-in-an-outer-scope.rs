use scope::{provided, scope, scoped, slot, Interrupted, Needs};

slot!(static REQUEST_ID: String; static TENANT: String);

#[scoped]
async fn handler(cx: Needs![REQUEST_ID, TENANT]) -> Result<String, Interrupted> {
    Ok(format!("{}@{}", cx.get(&REQUEST_ID), cx.get(&TENANT)))
}

// TENANT is bound by the fn's scope, REQUEST_ID by a `scope!` inside it: the inner proof
// extends the outer one, so the call sees both.
#[scoped(slots(TENANT = "acme".to_owned()))]
async fn outer(id: String) -> Result<String, Interrupted> {
    scope!(slots(REQUEST_ID = id), { handler(provided!()).await }).await
}

// Both bound by one scope.
#[scoped(slots(TENANT = "acme".to_owned(), REQUEST_ID = "r-9".to_owned()))]
async fn both() -> Result<String, Interrupted> {
    handler(provided!()).await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(both()).unwrap(), "r-9@acme");
    assert_eq!(rt.block_on(outer("r-1".to_owned())).unwrap(), "r-1@acme");
}
