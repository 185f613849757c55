// `#[scoped]` above `#[scope::main]`: the program's body is a scope already. Said as below it
// (a `spawn!` in it was told it was in a scope not seen as one, and the options of a
// `#[scoped(local, timeout = ..)]` there were taken silently, for a scope inside the main one).
use scope::{scoped, spawn, Interrupted};

#[scoped(local)]
#[scope::main]
async fn main() -> Result<(), Interrupted> {
    let child = spawn!(async { Ok::<u8, Interrupted>(1) });
    child.await?;
    Ok(())
}
