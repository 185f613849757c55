use scope::{scoped, slot, Cx, Interrupted, Needs, Provided};

slot!(static TENANT: String);

#[scoped]
async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

// A proof made by hand for a context that binds nothing: there is no unchecked way to make one.
async fn forge() -> Result<String, Interrupted> {
    handler(Provided::root().bind(&Cx::root(), &TENANT)).await
}

fn main() {}
