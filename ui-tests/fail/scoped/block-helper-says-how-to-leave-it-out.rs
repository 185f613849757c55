use scope::{scoped, Interrupted};

pub struct Store;

// `#[scoped]` on an `impl` block scopes every async fn in it: a helper that returns a plain
// value is told where its scoping comes from, and how to leave it out.
#[scoped]
impl Store {
    pub async fn get(&self) -> Result<u32, Interrupted> {
        Ok(self.len().await)
    }

    async fn len(&self) -> u32 {
        2
    }
}

fn main() {}
