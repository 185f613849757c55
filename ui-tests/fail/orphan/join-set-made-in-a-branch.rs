use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

struct Poller {
    tasks: Option<JoinSet<()>>,
}

impl Poller {
    // A set made in a branch of a `let`'s value (or taken from a field) and put back in the
    // field: its tasks outlive the scope.
    #[scoped]
    async fn start(&mut self) -> Result<(), Interrupted> {
        let mut t = match self.tasks.take() {
            Some(t) => t,
            None => JoinSet::new(),
        };
        t.spawn(async {});
        self.tasks = Some(t);
        Ok(())
    }
}

fn main() {}
