// `SlotKey` is sealed: a key type of one's own that keyed slots of two value types would make
// their statics one slot (each would read as unbound while the other is bound).
use scope::{Slot, SlotKey};

enum MyKey {}

impl SlotKey<u64> for MyKey {}
impl SlotKey<String> for MyKey {}

static COUNT: Slot<u64, MyKey> = Slot::new("COUNT");
static USER: Slot<String, MyKey> = Slot::new("USER");

fn main() {
    let _ = (&COUNT, &USER);
}
