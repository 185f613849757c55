// `#[scope::test]`: a tokio test runtime, then the no-leak check.
#[scope::test(start_paused = true)]
async fn deadline_fires() {
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
}
