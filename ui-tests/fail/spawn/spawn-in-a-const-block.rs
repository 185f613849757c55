use scope::{scoped, spawn, Interrupted};

// A `const` block runs at compile time, outside the scope: no child can start there.
#[scoped]
async fn start() -> Result<(), Interrupted> {
    const {
        spawn!(async { Ok(()) });
    };
    Ok(())
}

fn main() {}
