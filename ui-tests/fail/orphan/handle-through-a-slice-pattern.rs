use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

// A slice pattern with an array's value: each name is what its element is, as with a tuple.
#[scoped]
async fn arrayed() -> Result<(), Interrupted> {
    let [rt] = [tokio::runtime::Handle::current()];
    rt.spawn(async {});
    Ok(())
}

struct Pools {
    kept: Option<JoinSet<()>>,
}

impl Pools {
    #[scoped]
    async fn start(&mut self) -> Result<(), Interrupted> {
        let [mut kept, _other]: [JoinSet<()>; 2] = [JoinSet::new(), JoinSet::new()];
        kept.spawn(async {});
        self.kept = Some(kept);
        Ok(())
    }
}

fn main() {}
