use scope::{scoped, spawn, Interrupted};

// What a nested `move` closure or `async move` block names is still the child's to hold: the
// scope's handle and a reference parameter are told so there too.
#[scoped(handle = s)]
async fn handle_in_a_closure() -> Result<(), Interrupted> {
    let _ = spawn!(async move {
        let stop = move || s.cancel("found");
        stop();
        Ok::<(), Interrupted>(())
    });
    Ok(())
}

#[scoped]
async fn reference_in_a_closure(name: &str) -> Result<(), Interrupted> {
    let _ = spawn!(async move {
        let len = move || name.len();
        Ok::<_, Interrupted>(len())
    });
    Ok(())
}

fn main() {}
