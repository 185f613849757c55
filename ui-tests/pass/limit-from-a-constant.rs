use scope::{scope, scoped, spawn, ConfigError, Interrupted};

// A `limit` may be a constant, an associated constant, a const generic or behind a path, also
// one reached through a type parameter: the value goes to `.limit(..)` as written, and one that
// is 0 returns `ConfigError::ZeroLimit` when the fn runs (only a literal `0`, also in
// parentheses, is refused at compile time). A parameter or a local named in capitals is a
// value like any other.
const WIDTH: usize = 4;
const NO_CHILDREN: usize = 0;

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

#[scoped(limit = NO_CHILDREN)]
async fn zero_constant() -> Result<u32, Interrupted> {
    Ok(spawn!(async { Ok(0) }).await?)
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

    // The same in an associated fn without `self`.
    #[scoped(limit = CAP)]
    async fn build() -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(6) }).await?)
    }

    // In `scope!` in a method.
    async fn go(&self) -> Result<u32, Interrupted> {
        scope!(limit = CAP, error = Interrupted, { Ok(spawn!(async { Ok(7) }).await?) }).await
    }
}

// The option on the `impl` block, which sees `<const CAP: usize>`: in a method and in an
// associated fn without `self`.
struct Ring<const CAP: usize>;

#[scoped(limit = CAP)]
impl<const CAP: usize> Ring<CAP> {
    async fn run(&self) -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(8) }).await?)
    }

    async fn build() -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(9) }).await?)
    }
}

// An associated constant reached through a type parameter.
trait Policy {
    const MAX_CONN: usize;
}

struct Strict;

impl Policy for Strict {
    const MAX_CONN: usize = 2;
}

struct Server<P>(std::marker::PhantomData<P>);

impl<P: Policy> Server<P> {
    #[scoped(limit = P::MAX_CONN)]
    async fn serve(&self) -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(10) }).await?)
    }
}

#[scoped(limit = P::MAX_CONN)]
async fn serve_with<P: Policy>() -> Result<u32, Interrupted> {
    Ok(spawn!(async { Ok(11) }).await?)
}

// A const generic in `scope!`.
async fn batch<const N: usize>() -> Result<u32, Interrupted> {
    scope!(limit = N, error = Interrupted, { Ok(spawn!(async { Ok(12) }).await?) }).await
}

// A path whose text has braces.
struct Grid<const W: usize>;

impl<const W: usize> Grid<W> {
    const CELLS: usize = W * W;
}

#[scoped(limit = Grid::<{ 1 + 1 }>::CELLS)]
async fn braced_path() -> Result<u32, Interrupted> {
    Ok(spawn!(async { Ok(13) }).await?)
}

// A parameter and a local named in capitals.
#[allow(non_snake_case)]
#[scoped(limit = N)]
async fn fan_out(N: usize) -> Result<u32, Interrupted> {
    Ok(spawn!(async { Ok(14) }).await?)
}

#[allow(non_snake_case)]
async fn solve(items: Vec<u32>) -> Result<u32, Interrupted> {
    let K = items.len().max(1);
    scope!(limit = K, error = Interrupted, { Ok(spawn!(async { Ok(15) }).await?) }).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(module_constant().await.unwrap(), 1);
    assert_eq!(behind_a_path().await.unwrap(), 2);
    assert_eq!(const_generic::<5>().await.unwrap(), 3);
    assert!(matches!(
        zero_constant().await,
        Err(Interrupted::Config(ConfigError::ZeroLimit))
    ));
    assert_eq!(Pool.associated().await.unwrap(), 4);
    assert_eq!(Bounded::<2>.run().await.unwrap(), 5);
    assert_eq!(Bounded::<2>::build().await.unwrap(), 6);
    assert_eq!(Bounded::<2>.go().await.unwrap(), 7);
    assert_eq!(Ring::<2>.run().await.unwrap(), 8);
    assert_eq!(Ring::<2>::build().await.unwrap(), 9);
    assert_eq!(Server::<Strict>(std::marker::PhantomData).serve().await.unwrap(), 10);
    assert_eq!(serve_with::<Strict>().await.unwrap(), 11);
    assert_eq!(batch::<3>().await.unwrap(), 12);
    assert_eq!(braced_path().await.unwrap(), 13);
    assert_eq!(fan_out(2).await.unwrap(), 14);
    assert!(matches!(
        fan_out(0).await,
        Err(Interrupted::Config(ConfigError::ZeroLimit))
    ));
    assert_eq!(solve(vec![1, 2]).await.unwrap(), 15);
}
