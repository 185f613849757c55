use futures::task::{Spawn, SpawnExt};
use scope::{scoped, Interrupted};

struct Pool<S>(std::marker::PhantomData<S>);

// A spawner known by a bound that is not in the fn's own list: its `where` clause on the
// `impl`'s parameter, or the `impl` block's list (with `#[scoped]` on the block).
impl<S> Pool<S> {
    #[scoped]
    async fn run(&self, ex: S) -> Result<(), Interrupted>
    where
        S: Spawn,
    {
        ex.spawn(async {}).unwrap();
        Ok(())
    }
}

struct Other<S>(std::marker::PhantomData<S>);

#[scoped]
impl<S: Spawn> Other<S> {
    async fn go(&self, ex: S) -> Result<(), Interrupted> {
        ex.spawn(async {}).unwrap();
        Ok(())
    }
}

fn main() {}
