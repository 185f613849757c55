use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// A handle taken out of a `match` or an `if` into a `let` is still a handle: where it came
// from is followed through the branch that yields it (the others return).
#[scoped]
async fn handler(pick: u8) -> Result<(), Interrupted> {
    let rt = match Handle::try_current() {
        Ok(rt) => rt,
        Err(_) => return Ok(()),
    };
    rt.spawn(async {});
    let h = if let Ok(h) = Handle::try_current() { h } else { return Ok(()) };
    h.spawn(async {});
    let t = if pick > 0 { Handle::current() } else { return Ok(()) };
    t.spawn(async {});
    Ok(())
}

fn main() {}
