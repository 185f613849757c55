use scope::{scoped, spawn, Interrupted};

#[scoped]
async fn outer() -> Result<(), Interrupted> {
    // A helper macro's own `spawn!` is not part of the scope's body: its message says how to
    // reach the scope from there.
    macro_rules! go {
        ($e:expr) => {
            spawn!($e)
        };
    }
    go!(async { Ok::<_, Interrupted>(()) }).await?;
    Ok(())
}

fn main() {}
