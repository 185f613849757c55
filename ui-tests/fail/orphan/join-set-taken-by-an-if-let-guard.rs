use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

// A set taken by a `match` arm's `if let` guard and handed out leaves the scope with its task
// running, as one taken by an `if let` does: both are flagged at the spawn.
#[scoped]
async fn stash(out: &mut Vec<JoinSet<u32>>, ready: bool) -> Result<(), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 1 });
    match ready {
        true if let Some(s) = Some(set) => out.push(s),
        _ => {}
    }
    Ok(())
}

fn main() {
    let mut out = Vec::new();
    let _ = stash(&mut out, true);
}
