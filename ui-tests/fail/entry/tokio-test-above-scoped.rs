use scope::{scoped, Interrupted};

// tokio's entry attribute runs first and turns the `async fn` into a plain one: it goes below
// `#[scoped]` (or use `#[scope::test]`, which is both).
#[tokio::test]
#[scoped]
async fn handles_a_request() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
