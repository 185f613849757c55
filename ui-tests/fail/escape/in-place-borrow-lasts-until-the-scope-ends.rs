use scope::{scoped, spawn_in_place, Interrupted};

// What an in-place child borrows stays borrowed until its scope ends, not until its handle is
// awaited: the scope holds the child's future to its end. Have the child return the value,
// or read it after a nested `scope!` (`ui-tests/pass/in-place-borrow-read-after-a-nested-scope.rs`).
#[scoped]
async fn bump(n: &mut u32) -> Result<u32, Interrupted> {
    let c = spawn_in_place!(async {
        *n += 1;
        Ok(())
    });
    c.await?;
    Ok(*n)
}

fn main() {}
