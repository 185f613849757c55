// What `#[scoped]` leaves alone: a hand-written method returning a boxed future in a
// `#[scoped] impl` (not an async fn), the user's own types named like the scope's handles,
// and the tests of a `#[scoped] mod`.
use std::future::Future;
use std::pin::Pin;

use scope::{scoped, Interrupted};

struct Ticker;

#[scoped]
impl Ticker {
    async fn run(&self) -> Result<u32, Interrupted> {
        Ok(self.tick().await)
    }

    // Not async: left as it is.
    fn tick(&self) -> Pin<Box<dyn Future<Output = u32> + Send + '_>> {
        Box::pin(async move { 7 })
    }
}

/// An interpreter's lexical scope, and a tree's child: not `scope::Scope` or `scope::Child`.
pub struct Scope<'a> {
    pub names: Vec<&'a str>,
}

pub struct Child<'a>(pub &'a str);

#[scoped]
async fn parse<'a>(src: &'a str) -> Result<(Scope<'a>, Child<'a>), Interrupted> {
    Ok((Scope { names: src.split(' ').collect() }, Child(src)))
}

#[scoped]
mod handlers {
    pub async fn get() -> Result<u8, scope::Interrupted> {
        Ok(5)
    }

    #[cfg(test)]
    mod tests {
        #[scope::test]
        async fn get_works() {
            assert_eq!(super::get().await.ok(), Some(5));
        }
    }
}

// A duration in parentheses is the same duration.
#[scoped(timeout = (5s), grace = (100ms))]
async fn bounded() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(Ticker.run()).unwrap(), 7);
    let (scope, child) = rt.block_on(parse("a b")).unwrap();
    assert_eq!((scope.names.len(), child.0), (2, "a b"));
    assert_eq!(rt.block_on(handlers::get()).unwrap(), 5);
    rt.block_on(bounded()).unwrap();
}
