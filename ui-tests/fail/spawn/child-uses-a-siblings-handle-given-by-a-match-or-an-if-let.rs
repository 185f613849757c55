use scope::{scoped, spawn_in_place, try_spawn, Interrupted};

// A child's handle taken out of a fallible spawn's `Result` by a `match` or an `if let` whose
// value it is, or by `.ok().unwrap()`, is a sibling's handle to the other children.
#[scoped(limit = 4)]
async fn by_a_match() -> Result<u32, Interrupted> {
    let h = match try_spawn!(async { Ok(1u32) }) {
        Ok(h) => h,
        Err(_) => return Ok(0),
    };
    let b = spawn_in_place!(async { Ok(h.await? + 1) });
    b.await
}

#[scoped(limit = 4)]
async fn by_an_if_let() -> Result<u32, Interrupted> {
    let h = if let Ok(h) = try_spawn!(async { Ok(1u32) }) {
        h
    } else {
        return Ok(0);
    };
    let b = spawn_in_place!(async { Ok(h.await? + 1) });
    b.await
}

#[scoped(limit = 4)]
async fn by_ok_unwrap() -> Result<u32, Interrupted> {
    let h = try_spawn!(async { Ok(1u32) }).ok().unwrap();
    let b = spawn_in_place!(async { Ok(h.await? + 1) });
    b.await
}

fn main() {}
