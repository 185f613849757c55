use scope::{scoped, Interrupted};

// A blocking task cannot be aborted once it runs: dropping the set leaves it running after
// the scope, even for a set made in the body.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let mut set = tokio::task::JoinSet::new();
    set.spawn_blocking(|| std::thread::sleep(std::time::Duration::from_secs(60)));
    Ok(())
}

fn main() {}
