// A syntax error in the body (a half-typed edit): the syntax error is the only error, not a
// misplaced attribute, a `spawn!` outside any scope, or an `async fn main`.
#[scope::main]
async fn main() -> Result<(), scope::Interrupted> {
    let n = scope::spawn!(async { Ok::<_, scope::Interrupted>(1) }).await?;
    let x = ;
    Ok(())
}
