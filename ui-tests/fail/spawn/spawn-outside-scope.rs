use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

async fn not_scoped() {
    let _ = spawn!(async { Ok::<(), Interrupted>(()) });
}

fn main() {}
