use scope::{scope, scoped, spawn, try_spawn, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Spawn(#[from] scope::SpawnError),
}

// A spawned child of a nested scope awaits the handle of a child of the scope around it: it
// runs as its own task, and a handle borrows its scope (rustc said "temporary value dropped
// while borrowed" at the attribute).
#[scoped]
async fn nested() -> Result<u32, AppError> {
    let a = spawn!(async { Ok(1u32) });
    let v = scope!(error = AppError, {
        let b = spawn!(async move { Ok(a.await? + 1) });
        Ok(b.await?)
    })
    .await?;
    Ok(v)
}

// Two scopes down, and through `try_spawn!`.
#[scoped]
async fn deeper() -> Result<u32, AppError> {
    let a = spawn!(async { Ok(1u32) });
    let v = scope!(error = AppError, {
        scope!(error = AppError, {
            let b = try_spawn!(async move { Ok(a.await? + 1) })?;
            Ok(b.await?)
        })
        .await
    })
    .await?;
    Ok(v)
}

// Under another name, given outside the nested scope or inside it.
#[scoped]
async fn aliased() -> Result<u32, AppError> {
    let a = spawn!(async { Ok(1u32) });
    let b = a;
    let v = scope!(error = AppError, {
        let c = b;
        let d = spawn!(async move { Ok(c.await? + 1) });
        Ok(d.await?)
    })
    .await?;
    Ok(v)
}

fn main() {}
