use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

async fn not_scoped() {
    let _ = spawn_in_place!(async {});
}

fn main() {}
