// `handle = s` names the scope's handle in the body; `try_spawn!` refuses when closed or full.
#[scoped(handle = s, limit = 1)]
async fn bounded() -> Result<u8, AppError> {
    let first = try_spawn!(async { Ok(1) })?;
    if s.is_closed() {
        return Ok(0);
    }
    s.cancel("enough");
    Ok(first.await?)
}
