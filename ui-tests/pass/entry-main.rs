// `#[scope::main]`: the body is the root scope.
#[scope::main(grace = 1s)]
async fn main() -> Result<(), scope::Interrupted> {
    let v = scope::spawn!(async { Ok(2) });
    assert_eq!(v.await?, 2);
    Ok(())
}
