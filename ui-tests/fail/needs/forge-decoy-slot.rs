use scope::{provided, scoped, slot, Interrupted, Needs, Slot};

slot!(static TENANT: String);

// A second static with TENANT's key, of another type: a key names one slot.
static DECOY: Slot<u64, TENANT> = Slot::new("DECOY");

#[scoped]
async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

#[scoped(slots(DECOY = 7u64))]
async fn caller() -> Result<String, Interrupted> {
    handler(provided!()).await
}

fn main() {}
