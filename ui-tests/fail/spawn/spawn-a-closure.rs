use scope::{scoped, spawn, spawn_in_place, Interrupted};

// A closure where a future is meant: told at the closure's head what to write (rustc said "is
// not a future" and helped to call the closure where it is written).
#[scoped]
async fn f() -> Result<u32, Interrupted> {
    let a = spawn!(async move || Ok::<_, Interrupted>(1u32));
    let b = spawn_in_place!(|| async { Ok::<_, Interrupted>(2u32) });
    Ok(a.await? + b.await?)
}

fn main() {
    let _ = f();
}
