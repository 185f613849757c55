use scope::{provided, scope, scoped, slot, spawn, spawn_in_place, Interrupted, Needs};

slot!(static TENANT: String);

#[scoped]
async fn tenant_of(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

// Fanning out from inside a child, as the spawn macros' help says: the nested scope is on the
// path where TENANT is bound, and its `provided!()` says so. Each child takes its own copy of
// the body's proof, `move` or not.
#[scoped(slots(TENANT = "acme".to_owned()))]
async fn handler() -> Result<Vec<String>, Interrupted> {
    let spawned = spawn!(async {
        scope!(error = Interrupted, {
            let one = spawn!(tenant_of(provided!()));
            one.await
        })
        .await
    });
    let moved = spawn!(async move {
        scope!(error = Interrupted, { tenant_of(provided!()).await }).await
    });
    let in_place = spawn_in_place!(async {
        scope!(error = Interrupted, { tenant_of(provided!()).await }).await
    });
    // `provided!()` itself in a child without `move`.
    let direct = spawn!(async { tenant_of(provided!()).await });
    let body = tenant_of(provided!()).await?;
    Ok(vec![spawned.await?, moved.await?, in_place.await?, direct.await?, body])
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(handler()).unwrap();
    assert_eq!(out, ["acme"; 5]);
}
