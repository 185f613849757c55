use scope::{scoped, slot, Interrupted, Needs};

slot!(pub static REQUEST_ID: String;);

// `Needs![..]` is a parameter's whole type: inside `Option<..>` (or a reference) it is told
// so once, with what to write for a slot that may be unbound.
#[scoped]
async fn handler(cx: Option<Needs![REQUEST_ID]>) -> Result<usize, Interrupted> {
    Ok(cx.map_or(0, |_| 1))
}

#[scoped]
async fn by_ref(cx: &Needs![REQUEST_ID]) -> Result<(), Interrupted> {
    let _ = cx;
    Ok(())
}

fn main() {}
