use scope::{scope, scoped, spawn, Interrupted};
use tokio::task::JoinSet;

// A set that comes back from a child, a block, a closure or a wrapper and is joined in the
// body stays the body's; what its join yields, its length, or another element of the tuple
// it is in is not the set, and may leave.
#[scoped]
async fn joined() -> Result<(u32, usize), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 1u32 });
    let c = spawn!(async move { Ok(set) });
    let back = c.await?;
    let ones = back.join_all().await;
    let mut other = JoinSet::new();
    other.spawn(async { 2u32 });
    let twos = async move { other.join_all().await }.await;
    let mut third = JoinSet::new();
    third.spawn(async { 3u32 });
    let t = (third, 3usize);
    let threes = t.0.join_all().await;
    let mut fourth = JoinSet::new();
    fourth.spawn(async { 4u32 });
    let s4 = Some(fourth).unwrap();
    let len = s4.len();
    let fours = s4.join_all().await;
    let mut fifth = JoinSet::new();
    fifth.spawn(async { 5u32 });
    let fives = scope!({ Ok::<_, Interrupted>(fifth.join_all().await) }).await?;
    let n = ones.iter().chain(&twos).chain(&threes).chain(&fours).chain(&fives).sum();
    Ok((n, len + t.1))
}


// A child's result matched by hand, a tuple's other element through a pattern, a pattern's
// name used again for something else, a local named like the set: none of these is the set.
#[scoped]
async fn by_hand(labels: Vec<String>) -> Result<(Vec<u32>, Vec<String>), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 6u32 });
    let c = spawn!(async move { Ok(set) });
    let sixes = match c.await {
        Ok(s) => s.join_all().await,
        Err(e) => return Err(e),
    };
    let mut log = Vec::new();
    let mut other = JoinSet::new();
    other.spawn(async { 7u32 });
    let mut slot = Some((other, "batch".to_string()));
    let mut sevens = Vec::new();
    if let Some((s, label)) = slot.take() {
        sevens = s.join_all().await;
        log.push(label);
    }
    for s in labels {
        log.push(s);
    }
    let set: Vec<u32> = sixes.iter().chain(&sevens).copied().collect();
    Ok((set, log))
}

// A child that returns the set early, a `select!` branch whose pattern binds the set's name
// to a message, an or-pattern, a `for` over sets written out: each set is joined here.
#[scoped]
async fn early_and_rebound(skip: bool) -> Result<(usize, Vec<String>), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 8u32 });
    let c = spawn!(async move {
        if skip {
            return Ok(set);
        }
        Ok(set)
    });
    let mut n = c.await?.join_all().await.len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<String, String>>(1);
    tx.send(Err("late".into())).await.unwrap();
    let mut log = Vec::new();
    let mut set = JoinSet::new();
    set.spawn(async { 9u32 });
    tokio::select! {
        Some(Ok(set) | Err(set)) = rx.recv() => { log.push(set); }
        else => {}
    }
    n += set.join_all().await.len();
    let mut a = JoinSet::new();
    a.spawn(async { 10u32 });
    let mut b = JoinSet::new();
    b.spawn(async { 11u32 });
    for s in [a, b] {
        n += s.join_all().await.len();
    }
    Ok((n, log))
}

// A parameter named like a set made later, a set collected into a written type, sets taken
// out with `mem::take` and exchanged with `mem::swap` into locals joined here.
#[scoped]
async fn taken_and_swapped(workers: usize, xs: Vec<u32>) -> Result<usize, Interrupted> {
    let permits = tokio::sync::Semaphore::new(workers);
    let mut workers = JoinSet::new();
    workers.spawn(async { 12u32 });
    let mut collected: JoinSet<u32> = xs.into_iter().map(|x| async move { x }).collect();
    collected.spawn(async { 13u32 });
    let full = std::mem::take(&mut workers);
    let mut n = full.join_all().await.len();
    let mut next = JoinSet::new();
    std::mem::swap(&mut collected, &mut next);
    n += next.join_all().await.len() + collected.join_all().await.len();
    Ok(n + permits.available_permits())
}

// A loop's local named like the set, given by its `break`, is not the set; a set put in a
// local by a `mem::replace` inside an awaited call, or in an `Option` by its `replace`, is
// joined there; a swap of two values that are not sets hands no set on.
#[scoped]
async fn loops_and_swaps(go: bool) -> Result<(u32, usize, u8), Interrupted> {
    let mut set = JoinSet::new();
    set.spawn(async { 8u32 });
    let v = loop {
        if go {
            let set = 9u32;
            break set;
        }
    };
    let eights: u32 = set.join_all().await.iter().sum();
    let mut next = JoinSet::new();
    let mut fresh = JoinSet::new();
    fresh.spawn(async { 10u32 });
    let none = std::future::ready(std::mem::replace(&mut next, fresh).len()).await;
    let tens: u32 = next.join_all().await.iter().sum();
    let (mut a, mut b) = (1u8, 2u8);
    std::mem::swap(&mut a, &mut b);
    let mut kept: Option<JoinSet<u32>> = None;
    let mut sixth = JoinSet::new();
    sixth.spawn(async { 6u32 });
    kept.replace(sixth);
    let mut sixes = 0;
    if let Some(s) = kept.take() {
        sixes = s.join_all().await.iter().sum();
    }
    Ok((v + eights + tens + sixes, none, a))
}

#[tokio::main]
async fn main() {
    assert_eq!(joined().await.unwrap(), (15, 4));
    let (values, log) = by_hand(vec!["x".into()]).await.unwrap();
    assert_eq!(values, vec![6, 7]);
    assert_eq!(log, vec!["batch".to_string(), "x".to_string()]);
    assert_eq!(early_and_rebound(true).await.unwrap(), (4, vec!["late".to_string()]));
    assert_eq!(taken_and_swapped(2, vec![1, 2]).await.unwrap(), 1 + 3 + 2);
    assert_eq!(loops_and_swaps(true).await.unwrap(), (9 + 8 + 10 + 6, 0, 2));
}
