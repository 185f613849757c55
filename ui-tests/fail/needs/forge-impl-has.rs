use scope::{provided, scoped, slot, Has, Interrupted, Needs, Nil};

slot!(static TENANT: String);

// The empty list claims to hold TENANT: the proof's traits are sealed.
impl Has<TENANT, ()> for Nil {}

#[scoped]
async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

#[scoped]
async fn caller() -> Result<String, Interrupted> {
    handler(provided!()).await
}

fn main() {}
