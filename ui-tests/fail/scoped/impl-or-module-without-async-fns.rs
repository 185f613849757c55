// `#[scoped]` on an `impl` block or a module with no `async fn` scopes nothing: said, not
// silently dropped with its options (a fn a macro writes there is not seen either).
use scope::{scoped, Interrupted};

struct Cache;

#[scoped(limit = 4, timeout = 1s)]
impl Cache {
    fn len(&self) -> usize {
        0
    }
}

#[scoped(limit = 4)]
mod helpers {
    pub fn sync_only() {}
}

#[scoped]
mod written_by_a_macro {
    macro_rules! handler {
        () => {
            pub async fn handle() -> Result<(), super::Interrupted> {
                Ok(())
            }
        };
    }
    handler!();
}

fn main() {
    let _ = Cache.len();
    helpers::sync_only();
    let _: Result<(), Interrupted> = Ok(());
}
