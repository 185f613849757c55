use scope::{scoped, spawn, Interrupted};

// A closure (or block) of the body that uses the scope's handle, or starts children with
// `spawn!`, borrows the scope: a child that holds it would hold its own scope. The message
// names the closure and says what to write instead.
#[scoped(handle = s)]
async fn cancels_through_a_closure() -> Result<(), Interrupted> {
    let stop = || s.cancel("done");
    let c = spawn!(async move {
        stop();
        Ok(())
    });
    c.await
}

#[scoped]
async fn starts_through_a_closure() -> Result<u8, Interrupted> {
    let start = async || spawn!(async { Ok(1u8) });
    let outer = spawn!(async move { start().await.await });
    outer.await
}

fn main() {}
