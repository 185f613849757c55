use scope::{scoped, slot, Interrupted, Needs};

slot!(pub static REQUEST_ID: String;);
slot!(pub static USER: u64;);

// `Needs![..]` is a parameter's whole type: inside `Option<..>` (or a reference) it is told
// so once, with what to write for a slot that may be unbound, in the fn's own names.
#[scoped]
async fn handler(ctx: Option<Needs![USER]>) -> Result<usize, Interrupted> {
    Ok(ctx.map_or(0, |_| 1))
}

#[scoped]
async fn by_ref(cx: &Needs![REQUEST_ID, USER]) -> Result<(), Interrupted> {
    let _ = cx;
    Ok(())
}

fn main() {}
