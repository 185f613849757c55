use scope::{scope, scoped, spawn, spawn_in_place, spawn_when_free, try_spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Spawn(#[from] scope::SpawnError),
}

// A child that awaits a sibling's handle (the pipeline habit of `tokio::spawn`) is told so at
// the use, with what to write instead: the handle borrows the scope, which holds the child,
// so neither a spawned nor an in-place child can hold it. (rustc's own message was E0716
// "temporary value dropped while borrowed" at the attribute, naming neither.)
#[scoped]
async fn pipeline() -> Result<u32, Interrupted> {
    let first = spawn!(async { Ok(1u32) });
    let second = spawn!(async move { Ok(first.await? + 1) });
    Ok(second.await?)
}

#[scoped]
async fn in_place_and_renamed() -> Result<u32, Interrupted> {
    let first = spawn_in_place!(async { Ok(1u32) });
    let same = first;
    let second = spawn_in_place!(async move { Ok(same.await? + 1) });
    Ok(second.await?)
}

#[scoped(limit = 2)]
async fn other_spawns() -> Result<u32, AppError> {
    let tried = try_spawn!(async { Ok(1u32) })?;
    let waited = spawn_when_free!(async { Ok(2u32) }).await?;
    let sum = spawn!(async move { Ok(tried.await? + waited.await?) });
    Ok(sum.await?)
}

async fn in_a_scope_block() -> Result<u32, Interrupted> {
    scope!({
        let first = spawn!(async { Ok(1u32) });
        let second = spawn!(async move { Ok(first.await? * 2) });
        Ok(second.await?)
    })
    .await
}

async fn plus_one(first: scope::Child<'_, u32>) -> Result<u32, Interrupted> {
    Ok(first.await? + 1)
}

// The handle passed to an async fn that makes the child's future: the future holds it.
// (rustc's own message was the same E0716.)
#[scoped]
async fn passed_to_an_async_fn() -> Result<u32, Interrupted> {
    let first = spawn!(async { Ok(1u32) });
    let second = spawn_in_place!(plus_one(first));
    Ok(second.await?)
}

// Raced against a timeout in the child's `select!`. (rustc's own message was the same E0716.)
#[scoped]
async fn raced_in_a_select() -> Result<u32, Interrupted> {
    let first = spawn!(async { Ok(1u32) });
    let second = spawn!(async move {
        tokio::select! {
            v = first => Ok(v? + 1),
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => Ok(0),
        }
    });
    Ok(second.await?)
}

fn main() {
    let _ = (pipeline(), in_place_and_renamed(), other_spawns(), in_a_scope_block());
    let _ = (passed_to_an_async_fn(), raced_in_a_select());
}
