use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

struct Pools {
    fast: Option<JoinSet<()>>,
    slow: Option<JoinSet<()>>,
    kept: Option<JoinSet<()>>,
}

impl Pools {
    // Sets bound together by a tuple pattern are each followed, as two `let`s are.
    #[scoped]
    async fn start(&mut self) -> Result<(), Interrupted> {
        let (mut fast, mut slow) = (JoinSet::new(), JoinSet::new());
        fast.spawn(async {});
        slow.spawn(async {});
        self.fast = Some(fast);
        self.slow = Some(slow);
        let (mut kept, _n): (JoinSet<()>, usize) = (JoinSet::new(), 1);
        kept.spawn(async {});
        self.kept = Some(kept);
        Ok(())
    }
}

fn main() {}
