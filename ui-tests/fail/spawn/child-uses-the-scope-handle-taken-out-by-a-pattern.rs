use scope::{scoped, spawn, Interrupted};

// The scope's handle taken out again by a pattern (let-else, `if let`, `@`, a `match` arm) or
// given by a labeled block is still the scope's handle: a child that uses it is told so at
// that name (each got rustc's E0716 at the attribute, which named nothing). So is a child's
// handle kept in a wrapper, to a sibling.

#[scoped(handle = s)]
async fn let_else() -> Result<(), Interrupted> {
    let Some(s2) = Some(s) else { return Ok(()) };
    let _ = spawn!(async move {
        s2.cancel("found");
        Ok::<(), Interrupted>(())
    });
    Ok(())
}

#[scoped(handle = s)]
async fn if_let() -> Result<(), Interrupted> {
    if let Some(s3) = Some(s) {
        let _ = spawn!(async move {
            s3.cancel("found");
            Ok::<(), Interrupted>(())
        });
    }
    Ok(())
}

#[scoped(handle = s)]
async fn at_pattern() -> Result<(), Interrupted> {
    let s4 @ _ = s;
    let _ = spawn!(async move {
        s4.cancel("found");
        Ok::<(), Interrupted>(())
    });
    Ok(())
}

#[scoped(handle = s)]
async fn labeled() -> Result<(), Interrupted> {
    let s5 = 'a: { break 'a s };
    let _ = spawn!(async move {
        s5.cancel("found");
        Ok::<(), Interrupted>(())
    });
    Ok(())
}

#[scoped(handle = s)]
async fn a_match() -> Result<(), Interrupted> {
    match Some(s) {
        Some(s6) => {
            let _ = spawn!(async move {
                s6.cancel("found");
                Ok::<(), Interrupted>(())
            });
        }
        None => {}
    }
    Ok(())
}

#[scoped]
async fn sibling_in_a_wrapper() -> Result<(), Interrupted> {
    let a = spawn!(async { Ok::<u32, Interrupted>(1) });
    let held = Some(a);
    let _ = spawn!(async move {
        let _ = held;
        Ok::<(), Interrupted>(())
    });
    Ok(())
}

fn main() {}
