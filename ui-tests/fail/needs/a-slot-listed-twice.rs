use scope::{scoped, slot, Interrupted, Needs};

slot!(static TENANT: String);

// A slot listed twice: said at the list, not as "type annotations needed" at each read.
#[scoped]
async fn handler(cx: Needs![TENANT, TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

fn main() {}
