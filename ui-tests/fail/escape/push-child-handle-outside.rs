use scope::{scope, spawn, Interrupted};

// A child handle cannot be stored in a collection declared outside the scope.
async fn escape() {
    let mut handles = Vec::new();
    let _ = scope!({
        handles.push(spawn!(async { Ok::<u8, Interrupted>(1) }));
        Ok::<(), Interrupted>(())
    })
    .await;
    drop(handles);
}

fn main() {}
