use scope::{scoped, spawn, Interrupted};

// An awaited `send` may borrow its receiver (a bounded `mpsc` sender's) or take it (a request
// builder's): the macro cannot tell them apart, so it says nothing, and rustc reports a real
// borrow, with its own help (`move`).
#[scoped]
async fn awaited_send() -> Result<(), Interrupted> {
    let (tx, _rx) = tokio::sync::mpsc::channel::<u32>(1);
    let _ = spawn!(async {
        let _ = tx.send(1).await;
        Ok::<(), Interrupted>(())
    });
    Ok(())
}

fn main() {}
