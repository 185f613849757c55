// Per-key task groups handed in: a map's values are from outside the scope, as a `Vec`'s are.
use std::collections::{BTreeMap, HashMap};

use scope::{scoped, Interrupted};
use tokio::runtime::Handle;
use tokio::task::JoinSet;

#[scoped]
async fn per_connection(
    sets: &mut HashMap<u32, JoinSet<()>>,
    rts: &BTreeMap<u32, Handle>,
) -> Result<(), Interrupted> {
    sets.entry(1).or_default().spawn(async {});
    if let Some(set) = sets.get_mut(&2) {
        set.spawn(async {});
    }
    rts[&1].spawn(async {});
    Ok(())
}

fn main() {}
