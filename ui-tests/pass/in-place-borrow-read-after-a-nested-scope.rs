// What an in-place child borrows is free again once its scope has ended: a nested `scope!`
// ends the borrow where the fn goes on. (Awaiting the child's handle does not: see
// `ui-tests/fail/escape/in-place-borrow-lasts-until-the-scope-ends.rs`.) A child that
// returns what it computes needs neither.
use scope::{scope, scoped, spawn_in_place, Interrupted};

#[scoped]
async fn bump(n: &mut u32) -> Result<u32, Interrupted> {
    scope!(error = Interrupted, {
        spawn_in_place!(async {
            *n += 1;
            Ok(())
        });
        Ok(())
    })
    .await?;
    let more = spawn_in_place!(async { Ok(*n * 10) }).await?;
    Ok(*n + more)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut n = 1;
    assert_eq!(rt.block_on(bump(&mut n)).unwrap(), 22);
    assert_eq!(n, 2);
}
