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

// `provided!()` inside an `async move` child gives the child its own copy: the body's proof
// stays, for the next child and for the body itself.
#[scoped(slots(REQUEST_ID = "r-4".to_owned()))]
async fn fan_out(tags: Vec<&'static str>) -> Result<Vec<String>, Interrupted> {
    let mut children = Vec::new();
    for tag in tags {
        children.push(spawn!(async move { audit(provided!(), tag).await }));
    }
    let mut out = vec![audit(provided!(), "body").await?];
    for child in children {
        out.push(child.await?);
    }
    Ok(out)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (a, b) = rt.block_on(handler()).unwrap();
    assert_eq!(a, "spawned:r-3");
    assert_eq!(b, "in-place:r-3");
    let all = rt.block_on(fan_out(vec!["a", "b"])).unwrap();
    assert_eq!(all, ["body:r-4", "a:r-4", "b:r-4"]);
}
