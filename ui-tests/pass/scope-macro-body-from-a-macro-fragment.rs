use scope::{scope, spawn, Interrupted};

// A body handed on by a `macro_rules!` fragment (`$body:block` arrives in an invisible group)
// is a body.
macro_rules! scoped_block {
    ($body:block) => {
        scope!(error = Interrupted, $body)
    };
}

async fn one() -> Result<u32, Interrupted> {
    Ok(1)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(scoped_block!({
        let a = spawn!(one());
        Ok(a.await? + 1)
    }));
    assert_eq!(out.unwrap(), 2);
}
