// A child's name that is a literal but not a string: told what the name takes, at the value
// (not rustc's trait error about `Cow<'static, str>: From<{integer}>`).
use scope::{scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn numbered() -> Result<(), Interrupted> {
    spawn!(name = 5, async { Ok(()) });
    spawn_in_place!(name = 'c', async { Ok(()) });
    Ok(())
}

// In parentheses, negated, or handed through a macro's `expr` fragment: the same.
macro_rules! named_fn {
    ($n:expr) => {
        #[scoped]
        async fn from_a_fragment() -> Result<(), Interrupted> {
            spawn!(name = $n, async { Ok(()) });
            Ok(())
        }
    };
}

named_fn!(7);

#[scoped]
async fn wrapped() -> Result<(), Interrupted> {
    spawn!(name = (5), async { Ok(()) });
    spawn!(name = -1, async { Ok(()) });
    Ok(())
}

fn main() {}
