// `supervise` calls `run_all`; `first_ok` builds a `Race`; `local` enters with `new_local`.
#[scoped(policy = supervise)]
async fn all_settled() -> Result<(), Failures<AppError>> {
    let _ = spawn!(work());
    Ok(())
}

#[scoped(policy = first_ok, local)]
async fn fastest() -> Result<u32, Failures<AppError>> {
    let _ = spawn_in_place!(mirror(1));
    let _ = spawn_in_place!(mirror(2));
}
