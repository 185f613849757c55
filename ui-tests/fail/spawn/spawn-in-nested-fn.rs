use scope::{scoped, spawn, Interrupted};

#[scoped]
async fn outer() -> Result<(), Interrupted> {
    // A nested fn is not part of the scope's body: it cannot reach the scope.
    async fn helper() {
        let _ = spawn!(async {});
    }
    helper().await;
    Ok(())
}

fn main() {}
