use scope::{scoped, Interrupted, Needs};

// Each mistake is said once, at the declaration; the slots are still declared (the good ones
// as written, the others as if written right), so their uses add no errors.
scope::slot!(
    pub static REQUEST_ID: String;
    pub static TENANT: String = String::new();
    static mut ATTEMPT: u32;
    pub const REGION: String;
);

#[scoped(slots(REQUEST_ID = "r".into(), ATTEMPT = 1))]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

#[scoped]
async fn child(cx: Needs![TENANT, REGION]) -> Result<(), Interrupted> {
    let _ = (cx.get(&TENANT), cx.get(&REGION));
    Ok(())
}

fn main() {}
