use scope::{scope, Interrupted};

// `scope!`'s body is an async block already: one error, at `async`.
async fn caller() -> Result<u8, Interrupted> {
    scope!(async move { Ok::<u8, Interrupted>(1) }).await
}

async fn with_handle() -> Result<u8, Interrupted> {
    scope!(move |s| {
        let _ = s;
        Ok::<u8, Interrupted>(2)
    })
    .await
}

fn main() {}
