use scope::{scope, scoped, spawn_in_place, Interrupted};

// An in-place child that assigns to a local of the scope's body (a counter) is told so at the
// name, with what to write instead: rustc's E0373 said "use `move`", which compiles, and the
// child then updates a copy of its own that the body never sees (the fn returned 0).
#[scoped]
async fn count(items: Vec<u32>) -> Result<u32, Interrupted> {
    let mut total = 0;
    let h = spawn_in_place!(async {
        total += items.len() as u32;
        Ok(())
    });
    h.await?;
    Ok(total)
}

async fn last_seen(items: &[u32]) -> Result<u32, Interrupted> {
    scope!({
        let mut last = 0;
        let h = spawn_in_place!(async {
            for i in items {
                last = *i;
            }
            Ok(())
        });
        h.await?;
        Ok(last)
    })
    .await
}

// A name an `if let` or a `match` arm binds is a local of the body too.
#[scoped]
async fn bump(start: Option<u32>) -> Result<u32, Interrupted> {
    if let Some(mut t) = start {
        let h = spawn_in_place!(async {
            t += 1;
            Ok(())
        });
        h.await?;
        return Ok(t);
    }
    match start {
        Some(mut u) => {
            spawn_in_place!(async {
                u *= 2;
                Ok(())
            })
            .await?;
            Ok(u)
        }
        None => Ok(0),
    }
}

fn main() {
    let _ = (count(vec![]), last_seen(&[]), bump(None));
}
