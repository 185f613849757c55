// An option of a block's `#[scoped]` that names a parameter (or `self`) which one of its fns
// does not take: told at that fn, with where the option comes from and what to do (rustc alone
// says "cannot find value `budget`" at the option, naming no fn).
use std::time::Duration;

use scope::{scoped, Interrupted};

struct Client {
    budget: Duration,
}

#[scoped(timeout = budget)]
impl Client {
    async fn fetch(&self, budget: Duration) -> Result<(), Interrupted> {
        let _ = budget;
        Ok(())
    }

    async fn ping(&self) -> Result<(), Interrupted> {
        Ok(())
    }
}

struct Pool {
    budget: Duration,
}

#[scoped(timeout = self.budget)]
impl Pool {
    async fn get(&self) -> Result<(), Interrupted> {
        Ok(())
    }

    async fn open() -> Result<(), Interrupted> {
        Ok(())
    }
}

fn main() {}
