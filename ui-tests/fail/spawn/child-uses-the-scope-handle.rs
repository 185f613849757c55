use scope::{scoped, spawn, spawn_in_place, Interrupted};

// A child cannot hold the scope it is a child of: told so at the handle's name, with what to
// write instead (rustc's own error names the hidden owner of the scope).
#[scoped(handle = s)]
async fn with_handle() -> Result<(), Interrupted> {
    let _ = spawn!(async move {
        s.cancel("found");
        Ok::<(), Interrupted>(())
    });
    let _ = spawn_in_place!(async { s.cx().is_cancelled() });
    Ok(())
}

fn main() {}
