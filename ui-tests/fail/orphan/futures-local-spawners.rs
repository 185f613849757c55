use scope::{scoped, Interrupted};

// A stand-in with the `futures` local executor's method names: the lint reads names, before
// resolution. Its tasks are local (`!Send`): the help and the note name a `local` scope.
struct LocalSpawner;
impl LocalSpawner {
    fn spawn_local_obj<F>(&self, _: F) {}
    fn spawn_local_with_handle<F>(&self, _: F) {}
}

#[scoped]
async fn handler(spawner: &LocalSpawner) -> Result<(), Interrupted> {
    spawner.spawn_local_obj(async {});
    spawner.spawn_local_with_handle(async {});
    Ok(())
}

fn main() {}
