// `Needs![..]` outside a `#[scoped]` fn's parameters is the type it stands for (a trait's
// method declared without a body: `pass/needs-in-a-trait-declaration.rs`); a list that is
// empty or does not parse is told so there too.
use scope::{slot, Interrupted, Needs};

slot!(static TENANT: String);

trait Handler {
    async fn handle(&self, cx: Needs![]) -> Result<usize, Interrupted>;
    async fn serve(&self, cx: Needs![TENANT; 2]) -> Result<usize, Interrupted>;
}

fn main() {}
