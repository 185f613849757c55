use scope::{scoped, Interrupted};
use tokio::runtime::Handle;

// An element reached through an iterator's combinator or an access method is an element, as
// `rts[i]` is.
#[scoped]
async fn sharded(rts: &[Handle], i: usize) -> Result<(), Interrupted> {
    rts.iter().for_each(|h| {
        h.spawn(async {});
    });
    rts.first().unwrap().spawn(async {});
    if let Some(h) = rts.get(i) {
        h.spawn(async {});
    }
    Ok(())
}

#[scoped]
async fn popped(mut rts: Vec<Handle>) -> Result<(), Interrupted> {
    while let Some(h) = rts.pop() {
        h.spawn(async {});
    }
    Ok(())
}

fn main() {}
