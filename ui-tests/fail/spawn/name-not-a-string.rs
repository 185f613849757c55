// A child's name that is a literal but not a string: told what the name takes, at the value
// (not rustc's trait error about `Cow<'static, str>: From<{integer}>`).
use scope::{scoped, spawn, spawn_in_place, Interrupted};

#[scoped]
async fn numbered() -> Result<(), Interrupted> {
    spawn!(name = 5, async { Ok(()) });
    spawn_in_place!(name = 'c', async { Ok(()) });
    Ok(())
}

fn main() {}
