// tokio's usual `main` signature: `std::io::Error` is a scope's error type as it is.
#[scope::main]
async fn main() -> std::io::Result<()> {
    let n = scope::spawn!(async { Ok::<_, std::io::Error>(1) });
    assert_eq!(n.await?, 1);
    Ok(())
}
