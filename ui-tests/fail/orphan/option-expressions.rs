use scope::{scope, scoped, Interrupted};

#[scoped(name = { let _ = tokio::spawn(async {}); "work" })]
async fn handler() -> Result<(), Interrupted> {
    scope!(name = { let _ = tokio::spawn(async {}); "inner" }, { Ok::<_, Interrupted>(()) }).await
}

fn main() {}
