use scope::{scoped, spawn, Failures, Interrupted};

// A body that ends in `Ok(..)` or `Err(..)` gets the fn's return type said for it, so a value
// of the wrong type is told so where it is written, as in a plain fn (it was told at the
// attribute: "expected `Result<u32, Interrupted>`, found `Result<usize, Interrupted>`", with
// no line of the body shown).
#[scoped]
async fn count(words: Vec<String>) -> Result<u32, Interrupted> {
    let n = spawn!(async move { Ok(words.len()) });
    Ok(n.await?)
}

// Every branch of an `if` or a `match` that ends the body.
#[scoped]
async fn pick(flag: bool, n: u64) -> Result<u32, Interrupted> {
    match n {
        0 => Ok(0),
        1 if flag => return Ok(1),
        _ => {
            if flag {
                Ok(n)
            } else {
                Ok(2)
            }
        }
    }
}

// Supervised: the body's type is `Result<T, E>` of the fn's `Result<T, Failures<E>>`.
#[scoped(policy = supervise)]
async fn all(n: i64) -> Result<u32, Failures<Interrupted>> {
    spawn!(async { Ok(()) });
    Ok(n)
}

// A labeled block that ends the body: its `break` with a value of the wrong type is told at
// that value (it was told at the attribute, after rustc took the first `break`'s type for
// the block's and said the tail was wrong).
#[scoped]
async fn early(flag: bool) -> Result<u32, Interrupted> {
    'done: {
        if flag {
            break 'done Ok("early");
        }
        Ok(1)
    }
}

// A `return` of its own before the tail: the body's type was taken from it, so the value of
// the wrong type was told at the attribute, twice (once against the tail, once against the
// fn's type), with the `return` only in a note.
#[scoped]
async fn first(flag: bool) -> Result<u32, Interrupted> {
    if flag {
        return Ok("first");
    }
    Ok(1)
}

// Supervised likewise: the body's type is `Result<u32, Interrupted>`.
#[scoped(policy = supervise)]
async fn each(flag: bool) -> Result<u32, Failures<Interrupted>> {
    spawn!(async { Ok(()) });
    if flag {
        return Ok(-1i64);
    }
    Ok(1)
}

fn main() {
    let _ = (count(vec![]), pick(true, 3), all(1), early(true), first(true), each(true));
}
