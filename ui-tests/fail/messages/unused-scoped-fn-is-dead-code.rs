#![deny(dead_code)]

use scope::{scoped, Interrupted};

// rustc's own lints on the item see the user's fn: one never called is dead code, as it would
// be without the attribute (the expansion's braces spanned the item once, and hid it).
#[scoped]
async fn never_called() -> Result<(), Interrupted> {
    Ok(())
}

struct Server;

#[scoped]
impl Server {
    async fn never_called_either(&self) -> Result<(), Interrupted> {
        Ok(())
    }
}

fn main() {
    let _ = Server;
}
