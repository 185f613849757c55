use scope::{scope, scoped, Interrupted};

// The opt-out on a statement that holds a nested `scope!` reaches into it (before, the nested
// scope's own pass flagged the spawn, with a note asking for the attribute already there).
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    #[scope::allow_orphan]
    let r = scope!({
        let _ = tokio::spawn(async {});
        Ok::<_, Interrupted>(())
    })
    .await;
    r
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(rt.block_on(handler()).is_ok());
}
