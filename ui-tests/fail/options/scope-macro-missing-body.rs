use scope::{scope};

async fn handler() {
    let _ = scope!(limit = 2);
}

fn main() {}
