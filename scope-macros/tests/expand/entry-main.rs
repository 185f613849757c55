// `#[scope::main]`: a runtime, a root scope, the signals that start the shutdown, the
// grace, and the exit code.
#[scope::main(grace = 5s, signals = [terminate, hangup])]
async fn main() -> Result<(), AppError> {
    let server = spawn!(serve());
    server.await?;
    Ok(())
}
