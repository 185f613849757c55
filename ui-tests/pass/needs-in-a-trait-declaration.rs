// `Needs![..]` in a trait's method declared without a body (the impls are `#[scoped]`) is the
// type the impls' `Needs![..]` becomes: callers pass `provided!()` through the trait.
use scope::{provided, scoped, slot, Interrupted, Needs};

slot!(static TENANT: String);
slot!(static REQUEST_ID: u64);

trait Handler {
    async fn handle(&self, cx: Needs![TENANT, REQUEST_ID]) -> Result<usize, Interrupted>;
    // Through a path to the facade of one's own (a facade renamed in `Cargo.toml`).
    async fn tenant(&self, cx: Needs![crate = ::scope; TENANT]) -> Result<usize, Interrupted>;
}

struct Echo;

impl Handler for Echo {
    #[scoped]
    async fn handle(&self, cx: Needs![TENANT, REQUEST_ID]) -> Result<usize, Interrupted> {
        Ok(cx.get(&TENANT).len() + *cx.get(&REQUEST_ID) as usize)
    }

    #[scoped]
    async fn tenant(&self, cx: Needs![crate = ::scope; TENANT]) -> Result<usize, Interrupted> {
        Ok(cx.get(&TENANT).len())
    }
}

#[scoped(slots(TENANT = tenant, REQUEST_ID = 7))]
async fn serve(tenant: String) -> Result<usize, Interrupted> {
    Ok(Echo.handle(provided!()).await? + Echo.tenant(provided!()).await? - 4)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(serve("acme".to_owned())).unwrap(), 11);
}
