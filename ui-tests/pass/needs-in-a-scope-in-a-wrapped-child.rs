use scope::{provided, scope, scoped, slot, spawn, Interrupted, Needs};

slot!(static TENANT: String);

#[scoped]
async fn tenant_of(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

// A child whose future is not a bare `async` block (boxed here; `.instrument(span)` and
// `tokio::time::timeout(d, ..)` have the same shape) and opens a scope that binds a slot: that
// scope starts from the empty proof, and compiles.
#[scoped]
async fn handler() -> Result<String, Interrupted> {
    let c = spawn!(Box::pin(async {
        scope!(error = Interrupted, slots(TENANT = "acme".to_owned()), {
            tenant_of(provided!()).await
        })
        .await
    }));
    Ok(c.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(handler()).unwrap(), "acme");
}
