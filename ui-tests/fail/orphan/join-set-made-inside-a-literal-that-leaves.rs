use std::collections::HashMap;

use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

struct Workers {
    set: JoinSet<()>,
    id: u32,
}

struct Poller {
    workers: Option<Workers>,
    shards: Vec<JoinSet<()>>,
    pair: (JoinSet<()>, u32),
    by_key: HashMap<u32, JoinSet<()>>,
}

impl Poller {
    // A set made inside a literal (a struct's, `vec![..]`, a tuple's) or put into a local by a
    // method of it goes where that local goes: moved out, it takes its tasks past the scope.
    #[scoped]
    async fn start(&mut self) -> Result<(), Interrupted> {
        let mut w = Workers { set: JoinSet::new(), id: 1 };
        w.set.spawn(poll_forever());
        self.workers = Some(w);

        let mut shards = vec![JoinSet::new()];
        shards[0].spawn(poll_forever());
        self.shards = shards;

        let mut pair = (JoinSet::new(), 2);
        pair.0.spawn(poll_forever());
        self.pair = pair;

        let mut by_key = HashMap::new();
        by_key.entry(1).or_insert_with(JoinSet::new).spawn(poll_forever());
        self.by_key = by_key;
        Ok(())
    }
}

// Returned as the body's value, inside the literal.
#[scoped]
async fn handed_back() -> Result<Workers, Interrupted> {
    let mut w = Workers { set: JoinSet::new(), id: 3 };
    w.set.spawn(poll_forever());
    Ok(w)
}

fn main() {}
