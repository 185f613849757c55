use scope::{scope, scoped, Interrupted};

// A number and its unit are one token: `5.s` (a field `s` of `5`) is told how to write it.
#[scoped(timeout = 5.s)]
async fn a() -> Result<(), Interrupted> {
    Ok(())
}

async fn b() -> Result<(), Interrupted> {
    scope!(grace = 1.5.ms, { Ok(()) }).await
}

fn main() {}
