use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

// What a child names inside other macros' arguments is read as code: its own locals, names a
// `matches!` pattern binds, and a reference parameter copied into a local first are no
// borrows; an in-place child of a nested scope may use an outer scope's handle; a format
// string's text that is not an inline argument names nothing.
#[scoped(handle = s)]
async fn checks(name: &str, limit: &u32) -> Result<usize, Interrupted> {
    let owned = name.to_owned();
    let a = spawn!(async move {
        let name = owned;
        Ok(format!("{name}! {{name}} {0}", name.len()).len())
    });
    let b = spawn!(async move { Ok(usize::from(matches!(Some(3u32), Some(limit) if limit > 2))) });
    let copied = *limit;
    let c = spawn!(async move {
        let limit = copied;
        assert!(limit < 10, "{limit} is small");
        Ok(vec![limit; 2].len())
    });
    let n = scope!(error = Interrupted, {
        let d = spawn_in_place!(async { Ok::<_, Interrupted>(format!("{}", s.is_closed()).len()) });
        d.await
    })
    .await?;
    Ok(a.await? + b.await? + c.await? + n)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let n = rt.block_on(checks("ada", &3)).unwrap();
    assert_eq!(n, "ada! {name} 3".len() + 1 + 2 + "false".len());
}
