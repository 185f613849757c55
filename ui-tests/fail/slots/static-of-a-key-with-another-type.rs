// A key names one slot and its value type: a second static of `TENANT`'s key that holds
// another type does not compile (before, it compiled, and binding it hid `TENANT`'s value).
use scope::{slot, Cx, Slot};

slot!(static TENANT: String);

static WRONG: Slot<u32, TENANT> = Slot::new("WRONG");

fn main() {
    let cx = Cx::root().with_slot(&TENANT, "acme".to_owned());
    let inner = cx.with_slot(&WRONG, 7);
    assert_eq!(inner.get(&TENANT).map(String::as_str), Some("acme"));
}
