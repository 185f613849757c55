use scope::{scoped, spawn, Interrupted};

// A `const` block runs at compile time, outside the scope: no child can start there, and the
// message says so (not to put `#[scoped]` on the fn, which has it).
#[scoped]
async fn start() -> Result<(), Interrupted> {
    const {
        spawn!(async { Ok(()) });
    };
    Ok(())
}

fn main() {}
