use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

// The JoinSet comes from outside: its tasks outlive this scope.
#[scoped]
async fn handler(set: &mut JoinSet<()>) -> Result<(), Interrupted> {
    set.spawn(async {});
    Ok(())
}

fn main() {}
