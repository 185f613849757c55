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

struct User {
    id: u64,
    name: u32,
}

// Its review's valid programs: a named format argument names its value; a literal that is not
// the format string is a value; the fields of `tracing`'s macros and the names `offset_of!`
// takes are not uses; a body local moved into `vec!` or `dbg!` is the child's own.
#[scoped]
async fn more(name: &str) -> Result<usize, Interrupted> {
    let owned = name.to_owned();
    let first = owned.clone();
    let a = spawn!(async move {
        tracing::info!(name = first.as_str(), "request");
        Ok(format!("hello {name}", name = first).len())
    });
    let template = String::from("{name}");
    let b = spawn!(async move {
        assert_eq!(template, "{name}");
        println!("{}", "{name}");
        Ok(std::mem::offset_of!(User, name))
    });
    let conn = owned;
    let c = spawn!(async {
        let all = vec![conn];
        Ok(dbg!(all).len())
    });
    let _ = User { id: 0, name: 0 }.id;
    Ok(a.await? + b.await? + c.await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let n = rt.block_on(checks("ada", &3)).unwrap();
    assert_eq!(n, "ada! {name} 3".len() + 1 + 2 + "false".len());
    let m = rt.block_on(more("ada")).unwrap();
    assert_eq!(m, "hello ada".len() + std::mem::offset_of!(User, name) + 1);
}
