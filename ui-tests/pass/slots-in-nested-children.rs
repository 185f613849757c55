use scope::{scope, scoped, slot, spawn, spawn_in_place, Interrupted};

slot!(
    /// The request's id.
    pub static REQUEST_ID: String;
    static ATTEMPT: u32
);

// Slots bound by a scope are read in nested children of both kinds.
#[scoped(slots(REQUEST_ID = id, ATTEMPT = 3))]
async fn handle(id: String) -> Result<(String, u32), Interrupted> {
    let spawned = spawn!(async {
        let inner = scope!({
            let deep = spawn!(async { Ok(REQUEST_ID.get().unwrap_or_default()) });
            deep.await
        });
        inner.await
    });
    let in_place = spawn_in_place!(async { Ok(ATTEMPT.get().unwrap_or(0)) });
    Ok((spawned.await?, in_place.await?))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let out = rt.block_on(handle("r-1".to_owned()));
    assert_eq!(out.ok(), Some(("r-1".to_owned(), 3)));
    assert_eq!(REQUEST_ID.get(), None);
}
