use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn handler() {
    let _ = spawn!(async {});
}

fn main() {}
