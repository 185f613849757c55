use scope::{Config, Interrupted, Scope};

struct Holder<'a> {
    scope: &'a Scope<'a, 'a, Interrupted>,
}

// A struct that outlives the scope cannot hold its handle.
async fn escape() -> Holder<'static> {
    let s = &Scope::new(Config::new());
    let _ = s.run(async { Ok::<(), Interrupted>(()) }).await;
    Holder { scope: s }
}

fn main() {}
