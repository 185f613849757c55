use scope::{scoped, slot, Interrupted};

slot!(pub static REQUEST_ID: String;);
slot!(pub static TENANT: String;);

// One `Needs![..]` parameter lists every slot; a second is refused, once.
#[scoped]
async fn handler(cx: scope::Needs![REQUEST_ID], more: scope::Needs![TENANT]) -> Result<usize, Interrupted> {
    Ok(cx.get(&REQUEST_ID).len() + more.get(&REQUEST_ID).len())
}

fn main() {}
