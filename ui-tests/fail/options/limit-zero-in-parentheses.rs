use scope::{scoped, Interrupted};

// A zero is a zero in parentheses too: said at compile time, not as `ConfigError::ZeroLimit`
// when the fn runs.
#[scoped(limit = (0))]
async fn in_parentheses() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
