use scope::{scope, Interrupted};

// The body of `scope!` is a plain block, which the macro makes an async block: a label, an
// `unsafe` or `const` block, or an attribute in its place is said once, with where it goes.
async fn labeled() -> Result<u8, Interrupted> {
    scope!('found: { break 'found Ok(1) }).await
}

async fn unsafe_block() -> Result<u8, Interrupted> {
    scope!(limit = 2, unsafe { Ok(2) }).await
}

fn main() {}
