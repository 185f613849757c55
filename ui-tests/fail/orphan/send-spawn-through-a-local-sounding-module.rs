// Only a local spawn (`spawn_local`, on any receiver) is sent to a `local` scope: a `Send`
// spawn reached through a module whose name says `spawn_local` is told of a service.
use scope::{scoped, Interrupted};

mod spawn_local_rt {
    pub use tokio::runtime::Runtime;
}

#[scoped]
async fn send_spawn(rt: &spawn_local_rt::Runtime) -> Result<(), Interrupted> {
    let _ = rt.spawn(async {});
    Ok(())
}

fn main() {}
