use scope::{scoped, spawn, try_spawn, Interrupted};

// A block that binds the handle's name again gives that value, not the handle: a child that
// uses what it gives uses no handle.
#[scoped(handle = s)]
async fn rebound() -> Result<u32, Interrupted> {
    let n = {
        let s = 40u32;
        s
    };
    let child = spawn!(async move { Ok(n + 2) });
    assert!(!s.is_closed());
    child.await
}

// The same for a child's handle, and for a name of a capital letter bound again by a `let`.
#[scoped]
async fn child_name_rebound() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok::<u32, Interrupted>(1) });
    let v = {
        let a = 41u32;
        a
    };
    let b = spawn!(async move { Ok::<u32, Interrupted>(v + 1) });
    Ok(a.await? + b.await?)
}

#[allow(non_snake_case)]
#[scoped]
async fn capital_rebound() -> Result<u32, Interrupted> {
    let A = spawn!(async { Ok::<u32, Interrupted>(1) });
    let got = A.await?;
    let A = got + 1;
    let b = spawn!(async move { Ok::<u32, Interrupted>(A + 1) });
    b.await
}

// A match arm's block that binds the name again gives that value; an `Err(..)` arm of a value
// that holds a handle in its `Ok` gives the error, not the handle.
#[scoped(limit = 4)]
async fn arm_rebound() -> Result<u32, Interrupted> {
    let h = match try_spawn!(async { Ok(1u32) }) {
        Ok(h) => {
            let v = h.await?;
            let h = v + 1;
            h
        }
        Err(_) => return Ok(0),
    };
    spawn!(async move { Ok::<u32, Interrupted>(h) }).await
}

#[scoped]
async fn err_arm() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok::<u32, Interrupted>(1) });
    let held: Result<_, u32> = Ok(a);
    if let Err(code) = held {
        return spawn!(async move { Ok::<u32, Interrupted>(code) }).await;
    }
    Ok(5)
}

// A `#[scoped]` fn declared in a `const` block has a scope of its own.
#[scoped]
async fn fn_in_a_const_block() -> Result<u32, Interrupted> {
    const {
        #[scoped]
        async fn helper() -> Result<u32, Interrupted> {
            spawn!(async { Ok::<u32, Interrupted>(1) }).await
        }
    };
    spawn!(async move { Ok::<u32, Interrupted>(const { 2u32 }) }).await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(rebound()).unwrap(), 42);
    assert_eq!(rt.block_on(child_name_rebound()).unwrap(), 43);
    assert_eq!(rt.block_on(capital_rebound()).unwrap(), 3);
    assert_eq!(rt.block_on(arm_rebound()).unwrap(), 2);
    assert_eq!(rt.block_on(err_arm()).unwrap(), 5);
    assert_eq!(rt.block_on(fn_in_a_const_block()).unwrap(), 2);
}
