use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

async fn handler() {
    let _ = scope!(limit = 2);
}

fn main() {}
