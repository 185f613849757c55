use scope::{scoped, Interrupted};

// An `async fn` cannot be `const`: the help says to swap the keyword.
#[scoped]
const fn answer() -> Result<u32, Interrupted> {
    Ok(42)
}

fn main() {}
