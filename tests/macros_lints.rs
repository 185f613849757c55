//! The expansions are lint-clean: this crate denies every rustc warning and clippy's `all`
//! and `pedantic` groups (CI runs clippy on all targets), and uses each macro in each form.
#![deny(warnings, clippy::all, clippy::pedantic)]

use std::time::Duration;

use scope::{scope, scoped, slot, spawn, spawn_in_place, Failures, Interrupted};

slot!(
    /// The request's id.
    pub static REQUEST_ID: String;
    /// The tenant.
    static TENANT: u32
);

const BUDGET: Duration = Duration::from_secs(5);

#[scoped(name = "fetch", limit = 4, timeout = BUDGET, grace = 10ms, slots(REQUEST_ID = id, TENANT = 7))]
async fn every_option(id: String, n: u32) -> Result<u32, Interrupted> {
    let mut children = Vec::new();
    for i in 0..n {
        children.push(spawn!(async move { Ok(i) }));
    }
    let local = spawn_in_place!(name = "local", async { Ok(TENANT.get().unwrap_or(0)) });
    let mut sum = local.await?;
    for c in children {
        sum += c.await?;
    }
    if sum > 1_000 {
        return Ok(0);
    }
    Ok(sum + u32::from(REQUEST_ID.get().is_some()))
}

#[scoped(policy = supervise, deadline = tokio::time::Instant::now() + BUDGET)]
async fn supervised() -> Result<(), Failures<Interrupted>> {
    let child = spawn!(async { Ok::<(), Interrupted>(()) });
    child.await?;
    Ok(())
}

#[scoped(policy = first_ok)]
async fn raced() -> Result<u8, Failures<Interrupted>> {
    let _candidate = spawn!(async { Ok::<u8, Interrupted>(1) });
    Ok(())
}

#[scoped(local)]
async fn local() -> Result<usize, Interrupted> {
    let rc = std::rc::Rc::new(3_usize);
    spawn_in_place!(async move { Ok(*rc) }).await
}

/// A service.
struct Service {
    base: u32,
}

#[scoped(limit = 2)]
impl Service {
    async fn call(&self, x: u32) -> Result<u32, Interrupted> {
        let base = self.base;
        spawn!(async move { Ok(base + x) }).await
    }
}

#[scoped]
mod handlers {
    use scope::{spawn, Interrupted};

    pub(crate) async fn get() -> Result<u8, Interrupted> {
        spawn!(async { Ok(5) }).await
    }
}

/// A body that is only a panic (a stub not written yet) is as lint-clean as the same plain fn.
#[scoped]
async fn not_written_yet(id: u32) -> Result<String, Interrupted> {
    panic!("fetch {id}: not written yet")
}

#[scoped(policy = supervise)]
async fn not_supervised_yet() -> Result<(), Failures<Interrupted>> {
    panic!("not written yet either")
}

#[tokio::test]
#[should_panic(expected = "fetch 1: not written yet")]
async fn a_stub_body_panics_as_written() {
    let _ = not_written_yet(1).await;
}

#[tokio::test]
#[should_panic(expected = "not written yet either")]
async fn a_supervised_stub_body_panics_as_written() {
    let _ = not_supervised_yet().await;
}

#[scope::test(start_paused = true)]
async fn scoped_fns_are_lint_clean() {
    assert_eq!(every_option("r".to_owned(), 3).await.ok(), Some(7 + 3 + 1));
    assert!(supervised().await.is_ok());
    assert_eq!(raced().await.ok(), Some(1));
    assert_eq!(local().await.ok(), Some(3));
    assert_eq!(Service { base: 1 }.call(2).await.ok(), Some(3));
    assert_eq!(handlers::get().await.ok(), Some(5));
}

#[scope::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_macro_is_lint_clean() -> Result<(), Interrupted> {
    let words = ["a", "bb"];
    let n = scope!(name = "words", timeout = 1s, {
        let a = spawn_in_place!(async { Ok(words.iter().map(|w| w.len()).sum::<usize>()) });
        let b = spawn!(async { Ok(1_usize) });
        Ok::<_, Interrupted>(a.await? + b.await?)
    })
    .await?;
    assert_eq!(n, 4);
    Ok(())
}

/// `#[scoped]` above `#[scope::test]` (as the message for a `spawn!` in a plain test body
/// says): the test's body is the scope's, its spawns the scope's children, and the no-leak
/// check runs after the scope.
#[scope::scoped]
#[scope::test]
async fn a_test_under_scoped_is_a_scope() -> Result<(), scope::Interrupted> {
    let c = scope::spawn!(async { Ok::<u8, scope::Interrupted>(2) });
    let d = scope::spawn_in_place!(async { Ok::<u8, scope::Interrupted>(3) });
    assert_eq!(c.await? + d.await?, 5);
    Ok(())
}
