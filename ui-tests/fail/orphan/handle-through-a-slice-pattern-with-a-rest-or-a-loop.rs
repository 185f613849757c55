use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// A slice pattern with a rest (`[.., h]`, `[h, ..]` of a longer array), a slice pattern over
// an array kept in a local (as `hs[0]` is), and one in a `for` loop's pattern: each name is
// one of the handles, and a task it starts is an orphan.
#[scoped]
async fn last_of_three() -> Result<(), Interrupted> {
    let [.., h] = [Handle::current(), Handle::current(), Handle::current()];
    h.spawn(async {});
    Ok(())
}

#[scoped]
async fn first_and_rest() -> Result<(), Interrupted> {
    let [first, rest @ ..] = [Handle::current(), Handle::current()];
    first.spawn(async {});
    rest[0].spawn(async {});
    Ok(())
}

#[scoped]
async fn kept_then_taken_apart() -> Result<(), Interrupted> {
    let hs = [Handle::current()];
    let [h] = hs;
    h.spawn(async {});
    Ok(())
}

#[scoped]
async fn in_a_loop() -> Result<(), Interrupted> {
    for [h] in [[Handle::current()]] {
        h.spawn(async {});
    }
    Ok(())
}

fn main() {}
