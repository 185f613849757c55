// A syntax error in a scoped fn's body: the syntax error is the only error, and a caller
// still finds the fn (no "cannot find function").
#[scope::scoped]
async fn work() -> Result<u32, scope::Interrupted> {
    let n = scope::spawn!(async { Ok::<_, scope::Interrupted>(1) }).await?;
    let x = ;
    Ok(n)
}

async fn caller() -> Result<u32, scope::Interrupted> {
    work().await
}

fn main() {
    let _ = caller();
}
