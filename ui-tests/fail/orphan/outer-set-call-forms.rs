use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

// The call forms of a set's spawning methods, on a set from outside the scope, as the method
// forms are: `JoinSet::extend`, `Extend::extend`.
#[scoped]
async fn handler(outer: &mut JoinSet<()>) -> Result<(), Interrupted> {
    JoinSet::extend(&mut *outer, [async {}]);
    Extend::extend(&mut *outer, [async {}]);
    Ok(())
}

fn main() {}
