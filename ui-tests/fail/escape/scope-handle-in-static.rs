use std::sync::OnceLock;

use scope::{Config, Interrupted, Scope};

static SAVED: OnceLock<&'static Scope<'static, 'static, Interrupted>> = OnceLock::new();

// The scope handle cannot be put in a `static`.
async fn escape() {
    let s = &Scope::new(Config::new());
    let _ = s.run(async {
        let _ = SAVED.set(s);
        Ok::<(), Interrupted>(())
    }).await;
}

fn main() {}
