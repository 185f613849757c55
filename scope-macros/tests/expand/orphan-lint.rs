// The orphan lint: each unscoped spawn is a `compile_error!` at the call; the opt-out is kept
// out of the output.
#[scoped]
async fn handler(set: &mut tokio::task::JoinSet<()>) -> Result<(), AppError> {
    tokio::spawn(a());
    set.spawn(b());
    #[scope::allow_orphan]
    let _metrics = tokio::spawn(flush());
    Ok(())
}
