use scope::{scoped, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn drain(mut set: JoinSet<()>) -> usize {
    let mut n = 0;
    while set.join_next().await.is_some() {
        n += 1;
    }
    n
}

struct Pool {
    workers: JoinSet<()>,
}

impl Pool {
    // The new set goes into a field through `mem::replace` inside an awaited call: the old
    // one is drained, the new one stays in `self` after the scope.
    #[scoped]
    async fn rotate(&mut self) -> Result<usize, Interrupted> {
        let mut set = JoinSet::new();
        set.spawn(poll_forever());
        Ok(drain(std::mem::replace(&mut self.workers, set)).await)
    }

    // Swapped with a local that is not a set, which then goes into the field.
    #[scoped]
    async fn swap_through_a_local(&mut self) -> Result<usize, Interrupted> {
        let mut set = JoinSet::new();
        set.spawn(poll_forever());
        let mut current = std::mem::take(&mut self.workers);
        std::mem::swap(&mut current, &mut set);
        let n = drain(set).await;
        self.workers = current;
        Ok(n)
    }
}

// A loop's body binds the set to a local and `break`s with it.
#[scoped]
async fn broken_out_under_another_name(go: bool) -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let rest = loop {
        if go {
            let pending = set;
            break pending;
        }
    };
    Ok(rest)
}

// The second of two loops in one value gives it.
#[scoped]
async fn the_second_of_two_loops(fresh: bool) -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    Ok(if fresh {
        loop {
            break JoinSet::new();
        }
    } else {
        loop {
            break set;
        }
    })
}

// A closure bound in a branch returns a future that yields it.
#[scoped]
async fn a_closure_bound_in_a_branch(early: bool) -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    if early {
        let f = move || async move { set };
        let s = f().await;
        return Ok(s);
    }
    Ok(JoinSet::new())
}

// Put by `mem::replace` into a block's local, which is the block's value.
#[scoped]
async fn replaced_into_a_blocks_local() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let out = {
        let mut slot = JoinSet::new();
        drop(std::mem::replace(&mut slot, set));
        slot
    };
    Ok(out)
}

fn main() {}
