use scope::{scoped, spawn, Interrupted};

// `let outer = s;` makes `outer` the scope's handle under another name, until the second `let`
// shadows it: from there `outer` is a `String`, which the child owns.
#[scoped(handle = s)]
async fn shout(name: String) -> Result<String, Interrupted> {
    let outer = s;
    assert!(!outer.is_closed());
    let outer = name.to_uppercase();
    let c = spawn!(async move { Ok::<_, Interrupted>(outer + "!") });
    c.await
}

// A fn item the child declares with the handle's name is that fn in the child's whole block
// (before its declaration too), not the handle.
#[scoped(handle = s)]
async fn counted() -> Result<u32, Interrupted> {
    assert!(!s.is_closed());
    let c = spawn!(async move {
        let first = s();
        fn s() -> u32 {
            4
        }
        Ok::<_, Interrupted>(first + s())
    });
    c.await
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(shout("hi".into())).unwrap(), "HI!");
    assert_eq!(rt.block_on(counted()).unwrap(), 8);
}
