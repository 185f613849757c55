use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// A collection the body writes around a runtime handle holds runtime handles: spawning on an
// element, by index, in a loop or through an iterator, starts a task the scope does not own.
#[scoped]
async fn fan() -> Result<(), Interrupted> {
    let arr = [Handle::current()];
    arr[0].spawn(async {});
    for h in &arr {
        h.spawn(async {});
    }
    let listed = vec![Handle::current()];
    listed[0].spawn(async {});
    let repeated = vec![Handle::current(); 2];
    repeated[1].spawn(async {});
    [Handle::current()].iter().for_each(|h| {
        h.spawn(async {});
    });
    // A collection of other things spawns nothing.
    let numbers = [1, 2];
    let _ = numbers[0];
    Ok(())
}

fn main() {}
