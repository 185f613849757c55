use scope::{scoped, spawn, Interrupted};

// In the loop `s` is a name of the body's, not the scope's handle: the children own it.
#[scoped(handle = s)]
async fn lengths(names: Vec<String>) -> Result<usize, Interrupted> {
    assert!(!s.is_closed());
    let mut children = Vec::new();
    for s in names {
        children.push(spawn!(async move { Ok::<_, Interrupted>(s.len()) }));
    }
    let mut total = 0;
    for c in children {
        total += c.await?;
    }
    Ok(total)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(lengths(vec!["a".into(), "bc".into()])).unwrap(),
        3
    );
}
