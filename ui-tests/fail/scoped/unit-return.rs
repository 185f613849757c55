use scope::{scoped, spawn};

#[scoped]
async fn handler() {
    let _ = spawn!(async {});
}

fn main() {}
