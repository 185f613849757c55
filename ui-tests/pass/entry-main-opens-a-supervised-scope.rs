// What the message for `#[scope::main(policy = ..)]` says to write: a scope with that policy
// inside `main`.
use scope::{Failures, Interrupted};

#[scope::main]
async fn main() -> Result<(), Interrupted> {
    let all: Result<(), Failures<Interrupted>> = scope::scope!(policy = supervise, {
        let _ = scope::spawn!(async { Ok::<(), Interrupted>(()) });
        Ok(())
    })
    .await;
    assert!(all.is_ok());
    Ok(())
}
