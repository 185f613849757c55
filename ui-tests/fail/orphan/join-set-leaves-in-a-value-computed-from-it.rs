use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};
use tokio::task::JoinSet;

async fn poll_forever() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

// The set goes into a child, which hands it back as its value; the body returns that value.
#[scoped]
async fn via_child() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let c = spawn!(async move { Ok(set) });
    Ok(c.await?)
}

// The same with an in-place child, awaited as the body's value.
#[scoped]
async fn via_in_place_child() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    spawn_in_place!(async move { Ok(set) }).await
}

// An awaited `move` block yields it.
#[scoped]
async fn via_block() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let s2 = async move { set }.await;
    Ok(s2)
}

// A called `move` closure yields it.
#[scoped]
async fn via_closure() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let s2 = (move || set)();
    Ok(s2)
}

// A wrapper's method hands it out.
#[scoped]
async fn via_unwrap() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let s2 = Some(set).unwrap();
    Ok(s2)
}

// A tuple's field.
#[scoped]
async fn via_field() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let t = (set, 1);
    Ok(t.0)
}

// A pattern binds it.
#[scoped]
async fn via_pattern() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    match Some(set) {
        Some(s2) => Ok(s2),
        None => Ok(JoinSet::new()),
    }
}

// A nested scope's value.
#[scoped]
async fn via_nested_scope() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let s2 = scope!({ Ok::<_, Interrupted>(set) }).await?;
    Ok(s2)
}

fn main() {}
