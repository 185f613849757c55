// `HeldBy` is sealed: an impl of it cannot let a static of a key hold another type (it would
// read `None` where the key's slot is bound).
pub struct Tenant(pub String);

scope::slot!(static TENANT: Tenant);

impl scope::HeldBy<u64> for Tenant {}

static DECOY: scope::Slot<u64, TENANT> = scope::Slot::new("DECOY");

fn main() {
    let _ = &DECOY;
}
