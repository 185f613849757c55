// `#[scope::main]`: a runtime, a root scope, SIGINT/SIGTERM as a shutdown cause, the grace.
#[scope::main(grace = 5s)]
async fn main() -> Result<(), AppError> {
    let server = spawn!(serve());
    server.await?;
    Ok(())
}
