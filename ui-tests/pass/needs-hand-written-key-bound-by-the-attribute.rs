//! A slot whose key is written by hand, as `Key`'s docs show it, is bound through
//! `#[scoped(slots(..))]` like one `slot!` declared.
use scope::{scoped, Interrupted, Key, Slot};

#[allow(non_camel_case_types)]
enum TENANT {}
impl Key for TENANT {
    type Value = String;
    fn slot() -> &'static Slot<String, Self> {
        &TENANT
    }
}
static TENANT: Slot<String, TENANT> = Slot::new("TENANT");

#[scoped(slots(TENANT = "acme".to_owned()))]
async fn handler() -> Result<String, Interrupted> {
    Ok(TENANT.get().unwrap_or_default())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(handler()).unwrap(), "acme");
}
