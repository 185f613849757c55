use scope::{scoped, try_spawn, Failures, Interrupted};

#[scoped(policy = first_ok)]
async fn fastest() -> Result<u8, Failures<Interrupted>> {
    let _ = try_spawn!(async { Ok::<u8, Interrupted>(1) });
}

fn main() {}
