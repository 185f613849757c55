use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

// A set from outside keeps its origin through a typed `let` ...
#[scoped]
async fn typed(set: &mut JoinSet<()>) -> Result<(), Interrupted> {
    let tasks: &mut JoinSet<()> = set;
    tasks.spawn(async {});
    Ok(())
}

// ... and past a closure parameter, a match arm or an `if let` that reuse its name: their
// bindings end with them.
#[scoped]
async fn shadowed(set: &mut JoinSet<()>, spare: Option<u32>) -> Result<(), Interrupted> {
    let size = |set: &JoinSet<()>| set.len();
    let _ = size(set);
    if let Some(set) = spare {
        let _ = set;
    }
    match spare {
        Some(set) => drop(set),
        None => {}
    }
    set.spawn(async {});
    Ok(())
}

fn main() {}
