use scope::{scope, scoped, spawn, spawn_in_place, try_spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Spawn(#[from] scope::SpawnError),
}

// A child may use a name that held a sibling's handle once the body binds it again (to the
// handle's value), a name its own block binds, and, in a nested scope, the handle of a child of
// the scope around it (which outlives the nested scope). None is taken for a sibling's handle.

#[scoped]
async fn shadowed() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok(1u32) });
    let a = a.await?;
    let b = spawn!(async move { Ok(a + 1) });
    let c = spawn!(async { Ok(2u32) });
    let d = spawn_in_place!(async move {
        let c = 5u32;
        Ok(c)
    });
    let c = c.await?;
    Ok(b.await? + c + d.await?)
}

#[scoped]
async fn nested() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok(1u32) });
    let v = scope!(error = Interrupted, {
        let b = spawn_in_place!(async { Ok(a.await? + 1) });
        Ok(b.await?)
    })
    .await?;
    Ok(v)
}

// An in-place child of a nested scope may hold the outer child's handle under another name.
#[scoped]
async fn nested_in_place_alias() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok(1u32) });
    let v = scope!(error = Interrupted, {
        let c = a;
        let b = spawn_in_place!(async { Ok(c.await? + 1) });
        Ok(b.await?)
    })
    .await?;
    Ok(v)
}

// A nested scope that takes the outer child's value first may move it into its own spawned
// child.
#[scoped]
async fn nested_takes_the_value_first() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok(1u32) });
    let v = scope!(error = Interrupted, {
        let a = a.await?;
        let b = spawn!(async move { Ok(a + 1) });
        Ok(b.await?)
    })
    .await?;
    Ok(v)
}

#[scoped]
async fn value_of_handle() -> Result<u32, AppError> {
    let a = try_spawn!(async { Ok(1u32) })?;
    let n: u32 = a.await?;
    let b = spawn!(async move { Ok(n * 2) });
    Ok(b.await?)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(rt.block_on(shadowed()).unwrap(), 1 + 1 + 2 + 5);
    assert_eq!(rt.block_on(nested()).unwrap(), 2);
    assert_eq!(rt.block_on(nested_takes_the_value_first()).unwrap(), 2);
    assert_eq!(rt.block_on(nested_in_place_alias()).unwrap(), 2);
    assert_eq!(rt.block_on(value_of_handle()).unwrap(), 2);
}
