// Children that race futures in a `select!`: the macros read its branches (a sibling's handle
// there is refused at the use, see `fail/spawn/child-uses-a-siblings-handle.rs`), and what rustc
// accepts here stays accepted (its review, probe98, found each of these refused at first).
use scope::{scoped, spawn, Interrupted};
use std::time::Duration;

async fn again() -> u32 {
    3
}

fn sleep() -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(1))
}

// A body local handed on as a branch's value, a block's tail, or through `+`: a block
// without `move` takes it by value, and borrows nothing.
#[scoped]
async fn values_moved_out() -> Result<usize, Interrupted> {
    let name = String::from("x");
    let label = String::from("y");
    let text = String::from("z");
    let first = spawn!(async {
        let r = tokio::select! { _ = sleep() => name, else => String::new() };
        Ok(r.len())
    });
    let second = spawn!(async {
        let r = tokio::select! { _ = sleep() => { label } v = again() => v.to_string() };
        Ok(r.len())
    });
    let third = spawn!(async {
        tokio::select! { _ = sleep() => { let t = text + "!"; Ok(t.len()) } }
    });
    Ok(first.await? + second.await? + third.await?)
}

// A branch's pattern binds its own names (here one named like a sibling's handle), and a
// statement under a `cfg` that leaves it out is not read.
#[scoped]
async fn names_of_its_own() -> Result<u32, Interrupted> {
    let a = spawn!(async { Ok(1u32) });
    let b = spawn!(async move {
        let n = tokio::select! {
            a = again() => a,
            Some(a) = async { Some(2u32) } => a,
            else => 0,
        };
        #[cfg(any())]
        drop(a);
        Ok(n)
    });
    Ok(a.await? + b.await?)
}

fn main() {
    let _ = (values_moved_out(), names_of_its_own());
}
