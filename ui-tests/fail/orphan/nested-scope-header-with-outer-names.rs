use scope::{scope, scoped, Interrupted};

// A nested `scope!`'s header runs in the enclosing body: its `use`s and locals hold there.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    use tokio::spawn as go;
    let h = tokio::runtime::Handle::current();
    scope!(
        name = {
            go(async {});
            h.spawn(async {});
            "inner"
        },
        { Ok(()) }
    )
    .await
}

fn main() {}
