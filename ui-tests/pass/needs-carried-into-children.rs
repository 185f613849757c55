use scope::{provided, scoped, slot, spawn, spawn_in_place, Interrupted, Needs};

slot!(static REQUEST_ID: String);

#[scoped]
async fn audit(cx: Needs![REQUEST_ID], what: &'static str) -> Result<String, Interrupted> {
    Ok(format!("{what}:{}", cx.get(&REQUEST_ID)))
}

// The proof is a plain value: it moves into a spawned child and an in-place one alike.
#[scoped(slots(REQUEST_ID = "r-3".to_owned()))]
async fn handler() -> Result<(String, String), Interrupted> {
    let spawned = spawn!(audit(provided!(), "spawned"));
    let cx = provided!();
    let in_place = spawn_in_place!(async move { audit(cx, "in-place").await });
    Ok((spawned.await?, in_place.await?))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (a, b) = rt.block_on(handler()).unwrap();
    assert_eq!(a, "spawned:r-3");
    assert_eq!(b, "in-place:r-3");
}
