use scope::{scoped, spawn, Interrupted};

async fn report() -> Result<u32, Interrupted> {
    Ok(1)
}

// A name bound in a block ends with it: a later `spawn!` that calls the fn of that name
// borrows nothing.
#[scoped]
async fn handler(ids: Vec<u32>) -> Result<u32, Interrupted> {
    let mut sum = 0;
    for id in ids {
        let report = id * 2; // a local of the loop's body only
        sum += report;
    }
    {
        let report = "shadowed in a block";
        let _ = report;
    }
    let child = spawn!(async { report().await });
    Ok(sum + child.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(handler(vec![1, 2])).ok(), Some(7));
}
