use scope::{scope, scoped, spawn, Interrupted};

// A format string's inline argument that only looks like a name (`²` is a letter to Unicode
// but not in a Rust name) gets rustc's own message, in a child as in the body: the macros
// read the string to see which names a child uses, and leave what names nothing to rustc.
#[scoped]
async fn in_a_child() -> Result<(), Interrupted> {
    let c = spawn!(async move {
        println!("{a²}");
        Ok(())
    });
    c.await
}

async fn in_a_scope_block() -> Result<(), Interrupted> {
    scope!({
        let c = spawn!(async move {
            println!("{b²}");
            Ok(())
        });
        c.await
    })
    .await
}

fn main() {}
