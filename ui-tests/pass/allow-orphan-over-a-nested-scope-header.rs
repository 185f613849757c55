use scope::{scope, scoped, Interrupted};

// The opt-out on a statement that holds a nested `scope!` reaches its header too (its own
// pass flagged the spawn there, asking for the attribute already written).
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    #[scope::allow_orphan]
    let r = scope!(
        name = {
            let _ = tokio::spawn(async {});
            "inner"
        },
        { Ok::<_, Interrupted>(()) }
    )
    .await;
    r
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(rt.block_on(handler()).is_ok());
}
