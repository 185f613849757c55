use scope::{scoped, spawn, Interrupted};

struct Store {
    items: Vec<u32>,
}

impl Store {
    // `async move` would not help: `self` is a reference, moved or not.
    #[scoped]
    async fn total(&self) -> Result<usize, Interrupted> {
        let n = spawn!(async { Ok(self.items.len()) });
        Ok(n.await?)
    }

    #[scoped]
    async fn total_moved(&self) -> Result<usize, Interrupted> {
        let n = spawn!(async move { Ok(self.items.len()) });
        Ok(n.await?)
    }
}

#[scoped]
async fn count(store: &Store) -> Result<usize, Interrupted> {
    let n = spawn!(async move { Ok(store.items.len()) });
    Ok(n.await?)
}

fn main() {}
