// `#[scoped]` on an async fn: options become the `Config` chain, the body runs as the scope.
#[scoped(limit = 4, timeout = 2s)]
async fn fetch_all(ids: Vec<u32>) -> Result<Vec<User>, AppError> {
    let first = spawn!(fetch(ids[0]));
    let rest = spawn_in_place!(name = "rest", fetch_rest(&ids[1..]));
    Ok(vec![first.await?, rest.await?])
}
