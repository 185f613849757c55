use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// A helper macro of the crate's own, whose input is a block of statements.
macro_rules! logged {
    ($($body:tt)*) => {{
        let out = { $($body)* };
        out
    }};
}

// A macro's statements are read as code, with the body's variables known: a spawn written
// there as a method call is seen as it is in the body.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    let outer = Handle::current();
    logged! {
        let h = Handle::current();
        h.spawn(async {});
        outer.spawn_blocking(|| {});
        std::thread::Builder::new().spawn(|| {}).unwrap();
    }
    Ok(())
}

fn main() {}
