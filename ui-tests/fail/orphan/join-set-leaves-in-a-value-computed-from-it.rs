use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};
use std::time::Duration;
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

// A child's handle kept in a list, its set taken out of the handle popped from it.
#[scoped]
async fn via_a_list_of_handles() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let mut handles = Vec::new();
    handles.push(spawn!(async move { Ok(set) }));
    match handles.pop() {
        Some(h) => Ok(h.await?),
        None => Ok(JoinSet::new()),
    }
}

// What `join!` and `select!` give.
#[scoped]
async fn via_join() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let (s2, _n) = tokio::join!(async move { set }, async { 1 });
    Ok(s2)
}

#[scoped]
async fn via_select() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let c = spawn!(async move { Ok(set) });
    let s2 = tokio::select! {
        r = c => r?,
        _ = tokio::time::sleep(Duration::from_secs(60)) => JoinSet::new(),
    };
    Ok(s2)
}

// The set's name taken again after the set went into the child.
#[scoped]
async fn via_a_child_then_shadowed() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let keeper = spawn!(async move { Ok(set) });
    let set = 0u8;
    let _ = set;
    Ok(keeper.await?)
}

// A set made in a block and handed out as its value; one a child returns early.
#[scoped]
async fn made_in_a_block() -> Result<JoinSet<()>, Interrupted> {
    let s2 = {
        let mut s = JoinSet::new();
        s.spawn(poll_forever());
        s
    };
    Ok(s2)
}

#[scoped]
async fn returned_early_by_a_child(skip: bool) -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let c = spawn!(async move {
        if skip {
            return Ok(set);
        }
        Ok(JoinSet::new())
    });
    Ok(c.await?)
}

// A loop's value given by a `break` in a `select!` branch; an async closure's value.
#[scoped]
async fn broken_out_of_a_select_loop() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let left = loop {
        tokio::select! {
            () = std::future::ready(()) => { break set; }
        }
    };
    Ok(left)
}

#[scoped]
async fn via_an_async_closure() -> Result<JoinSet<()>, Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(poll_forever());
    let f = async move || set;
    Ok(f().await)
}

fn main() {}
