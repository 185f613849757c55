use scope::{scoped, spawn, Interrupted};

// A constant `limit` is checked against 0 at compile time; one that is not 0 compiles, also
// as an associated constant, a const generic or behind a path.
const WIDTH: usize = 4;

mod config {
    pub(crate) const WORKERS: usize = 2;
}

#[scoped(limit = WIDTH)]
async fn module_constant() -> Result<u32, Interrupted> {
    Ok(spawn!(async { Ok(1) }).await?)
}

#[scoped(limit = config::WORKERS)]
async fn behind_a_path() -> Result<u32, Interrupted> {
    Ok(spawn!(async { Ok(2) }).await?)
}

#[scoped(limit = N)]
async fn const_generic<const N: usize>() -> Result<u32, Interrupted> {
    Ok(spawn!(async { Ok(3) }).await?)
}

struct Pool;

impl Pool {
    const WIDTH: usize = 3;

    #[scoped(limit = Self::WIDTH)]
    async fn associated(&self) -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(4) }).await?)
    }
}

struct Bounded<const CAP: usize>;

impl<const CAP: usize> Bounded<CAP> {
    // The `impl`'s const generic, which the method's attribute does not see declared.
    #[scoped(limit = CAP)]
    async fn run(&self) -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(5) }).await?)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(module_constant().await.unwrap(), 1);
    assert_eq!(behind_a_path().await.unwrap(), 2);
    assert_eq!(const_generic::<5>().await.unwrap(), 3);
    assert_eq!(Pool.associated().await.unwrap(), 4);
    assert_eq!(Bounded::<2>.run().await.unwrap(), 5);
}
