use scope::{scope, spawn, Interrupted};

// A child handle cannot leave its scope: returning it from the body does not compile.
async fn escape() {
    let _child = scope!({
        let child = spawn!(async { Ok::<u8, Interrupted>(1) });
        Ok::<_, Interrupted>(child)
    })
    .await;
}

fn main() {}
