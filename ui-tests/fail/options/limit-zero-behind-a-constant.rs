use scope::{scoped, Interrupted};

const NO_CHILDREN: usize = 0;

// A constant's value is known at compile time: a 0 there is said then, at the constant, not
// as `ConfigError::ZeroLimit` when the fn runs.
#[scoped(limit = NO_CHILDREN)]
async fn behind_a_constant() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
