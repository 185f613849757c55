use scope::{scoped, Interrupted};

// The opt-out the lint's note names for a `macro_rules!` rule: on the item.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    #[scope::allow_orphan]
    macro_rules! fire {
        ($f:expr) => {
            tokio::spawn($f);
        };
    }
    fire!(async {});
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(handler()).unwrap();
}
