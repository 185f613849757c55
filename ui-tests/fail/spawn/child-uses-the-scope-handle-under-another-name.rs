use scope::{scoped, spawn, spawn_in_place, Interrupted};

// The scope's handle under another name is still the scope's handle: a child that uses it is
// told so at that name, as one that uses the handle itself is.
#[scoped(handle = s)]
async fn with_handle() -> Result<(), Interrupted> {
    let outer = s;
    let again = &outer;
    let _ = spawn!(async move {
        outer.cancel("found");
        Ok::<(), Interrupted>(())
    });
    let _ = spawn_in_place!(async { Ok::<bool, Interrupted>(again.cx().is_cancelled()) });
    Ok(())
}

fn main() {}
