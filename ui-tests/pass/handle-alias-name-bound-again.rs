use scope::{scoped, spawn, Interrupted};

// `let outer = s;` makes `outer` the scope's handle under another name; a name bound again
// elsewhere in the body (here by the loop) may be another value where a child uses it, so the
// macro leaves it to rustc: these children own their `outer`, a `String`.
#[scoped(handle = s)]
async fn lengths(names: Vec<String>) -> Result<usize, Interrupted> {
    let outer = s;
    assert!(!outer.is_closed());
    let mut children = Vec::new();
    for outer in names {
        children.push(spawn!(async move { Ok::<_, Interrupted>(outer.len()) }));
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
