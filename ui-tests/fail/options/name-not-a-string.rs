use scope::{scope, scoped, Interrupted};

// A scope's name is a string. A value of another type given as `name = ..` is told so at the
// value, with what to write; rustc's own message named a missing `From` for `Cow<'static, str>`.

// `scope!` cannot tell the fn it is in from a local of that name: rustc sees the fn item.
async fn fetch() -> Result<u32, Interrupted> {
    scope!(name = fetch, { Ok(1u32) }).await
}

#[scoped(name = id)]
async fn by_id(id: u64) -> Result<u32, Interrupted> {
    Ok(id as u32)
}

fn main() {
    let _ = (fetch(), by_id(1));
}
