use scope::{scoped, spawn, Interrupted};

// A block that binds the handle's name again gives that value, not the handle: a child that
// uses what it gives uses no handle.
#[scoped(handle = s)]
async fn rebound() -> Result<u32, Interrupted> {
    let n = {
        let s = 40u32;
        s
    };
    let child = spawn!(async move { Ok(n + 2) });
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

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(rebound()).unwrap(), 42);
    assert_eq!(rt.block_on(child_name_rebound()).unwrap(), 43);
    assert_eq!(rt.block_on(capital_rebound()).unwrap(), 3);
}
