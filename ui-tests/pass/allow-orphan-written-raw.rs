// The opt-out written with a raw identifier is the opt-out.
#[scope::scoped]
async fn detach() -> Result<(), scope::Interrupted> {
    #[scope::r#allow_orphan]
    tokio::spawn(async {});
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    detach().await.unwrap();
}
