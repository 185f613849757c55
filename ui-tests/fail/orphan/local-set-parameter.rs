use scope::{scoped, Interrupted};
use tokio::task::LocalSet;

// The set comes from outside: its tasks outlive this scope.
#[scoped]
async fn handler(set: &LocalSet) -> Result<(), Interrupted> {
    set.spawn_local(async {});
    Ok(())
}

fn main() {}
