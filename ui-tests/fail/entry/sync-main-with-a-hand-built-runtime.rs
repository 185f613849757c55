// A `main` that builds its runtime by hand (the step before the attribute): told to be an
// `async fn`, not to remove an entry attribute that is not there.
async fn serve() {}

#[scope::main]
fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(serve());
}
