use scope::{scoped, Interrupted};

// A `use` holds in its own block: the nested fn's `use .. as go` does not hide the body's
// `use tokio::spawn as go`.
#[scoped]
async fn handler() -> Result<u8, Interrupted> {
    use tokio::spawn as go;
    let _ = go(async {});
    fn one() -> u8 {
        use std::convert::identity as go;
        go(1)
    }
    Ok(one())
}

fn main() {}
