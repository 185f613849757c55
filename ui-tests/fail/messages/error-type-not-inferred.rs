use scope::{scope, spawn};

// Nothing says the scope's error type: write `scope!(error = E, { .. })`.
async fn caller() {
    let total = scope!({
        let a = spawn!(async { Ok(1) });
        Ok(a.await?)
    })
    .await;
    let _ = total;
}

fn main() {}
