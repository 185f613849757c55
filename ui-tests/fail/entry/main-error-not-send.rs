#[scope::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = std::env::var("HOME")?;
    Ok(())
}
