use futures::task::{Spawn, SpawnExt};
use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// A spawner is known by its type wherever the signature writes it: a generic's bound (in the
// list or the `where` clause), any one of several bounds, the element of a slice or a `Vec`.
#[scoped]
async fn generic<S: Spawn>(ex: S) -> Result<(), Interrupted> {
    ex.spawn(async {}).unwrap();
    Ok(())
}

#[scoped]
async fn in_where<S>(ex: &S) -> Result<(), Interrupted>
where
    S: Spawn + Sync,
{
    ex.spawn(async {}).unwrap();
    Ok(())
}

#[scoped]
async fn second_bound(ex: &(impl Clone + Spawn)) -> Result<(), Interrupted> {
    ex.spawn(async {}).unwrap();
    Ok(())
}

#[scoped]
async fn sharded(rts: &[Handle], i: usize) -> Result<(), Interrupted> {
    rts[i % rts.len()].spawn(async {});
    for h in rts {
        h.spawn(async {});
    }
    Ok(())
}

#[scoped]
async fn pools(rts: Vec<Handle>) -> Result<(), Interrupted> {
    for h in rts.iter() {
        h.spawn(async {});
    }
    Ok(())
}

fn main() {}
