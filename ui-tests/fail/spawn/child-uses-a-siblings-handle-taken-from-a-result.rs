use scope::{scoped, spawn, spawn_in_place, spawn_when_free, try_spawn, Interrupted};

// The handle taken out of a fallible spawn's `Result` by a pattern or `.unwrap()` is a
// sibling's handle too, told at the use. (rustc's own message was E0716 "temporary value
// dropped while borrowed" at the attribute, naming neither.)
#[scoped(limit = 4)]
async fn let_else() -> Result<u32, Interrupted> {
    let Ok(a) = spawn_when_free!(async { Ok(1u32) }).await else {
        return Ok(0);
    };
    let b = spawn_in_place!(async { Ok(a.await? + 1) });
    Ok(b.await?)
}

#[scoped(limit = 4)]
async fn if_let() -> Result<u32, Interrupted> {
    if let Ok(a) = try_spawn!(async { Ok(1u32) }) {
        let b = spawn!(async move { Ok(a.await? + 1) });
        return Ok(b.await?);
    }
    Ok(0)
}

#[scoped(limit = 4)]
async fn match_arm() -> Result<u32, Interrupted> {
    match try_spawn!(async { Ok(1u32) }) {
        Ok(a) => {
            let b = spawn_in_place!(async { Ok(a.await? + 1) });
            Ok(b.await?)
        }
        Err(_) => Ok(0),
    }
}

#[scoped(limit = 4)]
async fn unwrapped() -> Result<u32, Interrupted> {
    let a = try_spawn!(async { Ok(1u32) }).unwrap();
    let b = spawn_in_place!(async { Ok(a.await? + 1) });
    Ok(b.await?)
}

fn main() {
    let _ = (let_else(), if_let(), match_arm(), unwrapped());
}
