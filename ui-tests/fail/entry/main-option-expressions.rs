use scope::Interrupted;

// The options of `#[scope::main]` run inside the application's scope: the orphan lint reads them.
#[scope::main(name = { let _ = tokio::spawn(async {}); "app" })]
async fn main() -> Result<(), Interrupted> {
    Ok(())
}
