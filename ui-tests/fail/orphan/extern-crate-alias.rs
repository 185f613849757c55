use scope::{scoped, Interrupted};

// A crate renamed in the body is still the crate: `rt::spawn` is tokio's.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    extern crate tokio as rt;
    let _ = rt::spawn(async {});
    let _ = rt::task::spawn_blocking(|| ());
    Ok(())
}

fn main() {}
