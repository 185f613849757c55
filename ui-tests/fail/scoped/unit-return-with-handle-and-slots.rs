use scope::{provided, scoped, Interrupted, Needs};

scope::slot!(static ID: u32);

#[scoped]
async fn needs_id(p: Needs![ID]) -> Result<u32, Interrupted> {
    Ok(*p.get(&ID))
}

// The only error is the missing return type: the handle and the slots still work.
#[scoped(handle = s, slots(ID = 1))]
async fn handler() {
    let _ = s.is_closed();
    let _ = needs_id(provided!()).await;
}

fn main() {}
