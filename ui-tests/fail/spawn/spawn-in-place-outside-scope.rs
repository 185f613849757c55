use scope::{spawn_in_place};

async fn not_scoped() {
    let _ = spawn_in_place!(async {});
}

fn main() {}
