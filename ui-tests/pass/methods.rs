use scope::{scoped, spawn, spawn_in_place, Interrupted};

// Inherent methods with every receiver, generics and a where-clause.
struct Counter {
    step: u32,
}

impl Counter {
    #[scoped]
    async fn by_ref(&self) -> Result<u32, Interrupted> {
        let step = self.step;
        Ok(spawn!(async move { Ok(step) }).await?)
    }

    #[scoped]
    async fn by_mut(&mut self) -> Result<u32, Interrupted> {
        self.step += 1;
        let step = &self.step;
        Ok(spawn_in_place!(async { Ok(*step) }).await?)
    }

    #[scoped]
    async fn by_value(self) -> Result<u32, Interrupted> {
        Ok(self.step)
    }

    #[scoped(limit = n)]
    async fn generic<T, F>(&self, n: usize, items: Vec<T>, f: F) -> Result<Vec<u32>, Interrupted>
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> u32 + Sync,
    {
        let mut children = Vec::new();
        for item in &items {
            let f = &f;
            children.push(spawn_in_place!(async move { Ok(f(item)) }));
        }
        let mut out = Vec::new();
        for c in children {
            out.push(c.await?);
        }
        Ok(out)
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    let mut c = Counter { step: 1 };
    assert_eq!(block_on(c.by_ref()).ok(), Some(1));
    assert_eq!(block_on(c.by_mut()).ok(), Some(2));
    assert_eq!(block_on(c.generic(2, vec!["a", "bb"], |s| s.len() as u32)).ok(), Some(vec![1, 2]));
    assert_eq!(block_on(c.by_value()).ok(), Some(2));
}
