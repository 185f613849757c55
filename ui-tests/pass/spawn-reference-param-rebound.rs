use scope::{scoped, spawn, Interrupted};

// A reference parameter rebound, owned, by an `if let`, a `match` arm, a closure's input or a
// `for` is that binding's: an `async move` child owns it.
#[scoped]
async fn by_if_let(word: &str) -> Result<usize, Interrupted> {
    let n = if let Some(word) = Some(word.to_owned()) {
        spawn!(async move { Ok(word.len()) }).await?
    } else {
        0
    };
    Ok(n)
}

#[scoped]
async fn by_match(word: &str) -> Result<usize, Interrupted> {
    match word.parse::<u32>() {
        Ok(word) => Ok(spawn!(async move { Ok(word as usize) }).await?),
        Err(_) => Ok(0),
    }
}

#[scoped]
async fn by_closure(word: &str, words: Vec<String>) -> Result<usize, Interrupted> {
    let handles: Vec<_> = words
        .into_iter()
        .map(|word| spawn!(async move { Ok(word.len()) }))
        .collect();
    let mut total = word.len();
    for h in handles {
        total += h.await?;
    }
    Ok(total)
}

#[scoped]
async fn by_for(word: &str, words: Vec<String>) -> Result<usize, Interrupted> {
    let mut handles = Vec::new();
    for word in words {
        handles.push(spawn!(async move { Ok(word.len()) }));
    }
    let mut total = word.len();
    for h in handles {
        total += h.await?;
    }
    Ok(total)
}

struct Registry {
    n: usize,
}
static REGISTRY: Registry = Registry { n: 3 };

impl Registry {
    // F2: a `&'static self` goes into a spawned child as it is.
    #[scoped]
    async fn count(&'static self) -> Result<usize, Interrupted> {
        Ok(spawn!(async move { Ok(self.n) }).await?)
    }
}

#[tokio::main]
async fn main() {
    assert_eq!(by_if_let("abc").await.unwrap(), 3);
    assert_eq!(by_match("7").await.unwrap(), 7);
    assert_eq!(by_closure("a", vec!["bb".into(), "ccc".into()]).await.unwrap(), 6);
    assert_eq!(by_for("a", vec!["bb".into()]).await.unwrap(), 3);
    assert_eq!(REGISTRY.count().await.unwrap(), 3);
}
