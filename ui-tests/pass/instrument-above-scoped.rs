use scope::{scoped, spawn, spawn_in_place, Interrupted};

// `#[tracing::instrument]` written above `#[scoped]` expands first and wraps the body in its
// own future: in-place children still borrow the fn's parameters, as without it, with
// `err` and `ret` too, and in methods.
#[tracing::instrument(skip_all)]
#[scoped]
async fn total(words: Vec<String>) -> Result<usize, Interrupted> {
    let child = spawn_in_place!(async { Ok(words.iter().map(String::len).sum::<usize>()) });
    child.await
}

#[tracing::instrument(skip_all, err, ret)]
#[scoped]
async fn longest(words: Vec<String>, floor: usize) -> Result<usize, Interrupted> {
    let child = spawn_in_place!(async { Ok(words.iter().map(String::len).max().unwrap_or(0)) });
    let spawned = spawn!(async move { Ok(floor) });
    Ok(child.await?.max(spawned.await?))
}

struct Index {
    words: Vec<String>,
}

impl Index {
    #[tracing::instrument(skip_all, err)]
    #[scoped]
    async fn count(&self, extra: Vec<String>) -> Result<usize, Interrupted> {
        let own = spawn_in_place!(async { Ok(self.words.len()) });
        let more = spawn_in_place!(async { Ok(extra.len()) });
        Ok(own.await? + more.await? + self.words.len() - 1)
    }
}

// With the body's proof of its slots in use (`provided!()`) too, in the future and in a child
// (the proof's copies did hide instrument's future from the rewrite that lets it borrow).
scope::slot!(static TENANT: String);

#[scoped]
async fn tenant_len(cx: scope::Needs![TENANT]) -> Result<usize, Interrupted> {
    Ok(cx.get(&TENANT).len())
}

#[tracing::instrument(skip_all)]
#[scoped(slots(TENANT = tenant))]
async fn with_tenant(tenant: String, words: Vec<String>) -> Result<usize, Interrupted> {
    let own = tenant_len(scope::provided!()).await?;
    let child = spawn_in_place!(async { Ok(words.len()) });
    let spawned = spawn!(async move { tenant_len(scope::provided!()).await });
    Ok(own + child.await? + spawned.await? + words.len())
}

#[tracing::instrument(skip_all, err)]
#[scoped]
async fn passes_it_on(cx: scope::Needs![TENANT], words: Vec<String>) -> Result<usize, Interrupted> {
    let child = spawn_in_place!(async { Ok(words.len() + cx.get(&TENANT).len()) });
    Ok(tenant_len(scope::provided!()).await? + child.await?)
}

#[scoped(slots(TENANT = tenant))]
async fn through(tenant: String, words: Vec<String>) -> Result<usize, Interrupted> {
    passes_it_on(scope::provided!(), words).await
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    let words = vec!["a".to_owned(), "bcd".to_owned()];
    assert_eq!(block_on(total(words.clone())).unwrap(), 4);
    assert_eq!(block_on(longest(words.clone(), 5)).unwrap(), 5);
    assert_eq!(block_on(with_tenant("acme".to_owned(), words.clone())).unwrap(), 12);
    assert_eq!(block_on(through("ab".to_owned(), words.clone())).unwrap(), 6);
    let index = Index { words };
    assert_eq!(block_on(index.count(vec!["x".to_owned()])).unwrap(), 4);
}
