// A `&'static` parameter may go into a spawned child as it is; a reference parameter
// shadowed by an owned `let` is the `let`'s.
use scope::{scoped, spawn, Interrupted};

static NAMES: [&str; 2] = ["a", "bb"];

#[scoped]
async fn total(names: &'static [&'static str]) -> Result<usize, Interrupted> {
    let n = spawn!(async move { Ok(names.iter().map(|n| n.len()).sum::<usize>()) });
    Ok(n.await?)
}

#[scoped]
async fn first(names: &[&str]) -> Result<usize, Interrupted> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let n = spawn!(async move { Ok(names.len()) });
    Ok(n.await?)
}

#[tokio::main]
async fn main() {
    assert_eq!(total(&NAMES).await.unwrap(), 3);
    assert_eq!(first(&NAMES).await.unwrap(), 2);
}
