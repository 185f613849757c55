// `#[scope::test]` compiles to a `#[test]` fn (left out of this non-test build; the
// integration tests run it).
#[scope::test(start_paused = true)]
async fn waits_on_the_paused_clock() {
    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
}

#[scope::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_a_result() -> Result<(), scope::Interrupted> {
    scope::scope!({ Ok::<(), scope::Interrupted>(()) }).await
}

fn main() {}
