use scope::spawn;

async fn not_scoped() {
    let _ = spawn!(async { Ok::<(), Interrupted>(()) });
}

fn main() {}
