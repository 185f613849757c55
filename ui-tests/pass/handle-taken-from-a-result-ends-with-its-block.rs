use scope::{scoped, spawn, try_spawn, Interrupted};

// A handle taken out of a fallible spawn's `Result` by `if let` or a `match` arm is a handle
// in that block only: a name of the same kind outside it is not one, and a child may use it.
#[scoped(limit = 4)]
async fn shadowed_only_inside() -> Result<u32, Interrupted> {
    let a = 40u32;
    if let Ok(a) = try_spawn!(async { Ok(1u32) }) {
        a.await?;
    }
    match try_spawn!(async { Ok(1u32) }) {
        Ok(a) => {
            a.await?;
        }
        Err(_) => {}
    }
    let b = spawn!(async move { Ok(a + 2) });
    Ok(b.await?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(shadowed_only_inside().await.unwrap(), 42);
}
