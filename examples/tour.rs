//! A tour of `scope`, runnable: `cargo run --example tour`.
//!
//! Each step shows one idea of structured concurrency and asserts what it claims, so the
//! tour is also a test (`cargo test --example tour`, part of `cargo test --workspace`).
//! Ctrl-C ends it at the step under way, with the shutdown's exit code (130).

use std::time::{Duration, Instant};

use scope::{scoped, slot, spawn, spawn_in_place, Interrupted};

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("fetch of {0} failed")]
    Fetch(&'static str),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

async fn fetch(url: &'static str, ms: u64) -> Result<usize, AppError> {
    // A stand-in for I/O that answers a cancel at once, as real I/O under a scope does.
    scope::run_until_cancelled(tokio::time::sleep(Duration::from_millis(ms))).await?;
    if url.contains("broken") {
        return Err(AppError::Fetch(url));
    }
    Ok(url.len())
}

/// 1. Children are bound to the scope: the function returns only when all have finished.
#[scoped]
async fn total_size(urls: &[&'static str]) -> Result<usize, AppError> {
    let mut handles = Vec::new();
    for url in urls.iter().copied() {
        handles.push(spawn!(fetch(url, 20)));
    }
    let mut total = 0;
    for h in handles {
        total += h.await?;
    }
    Ok(total)
}

/// 2. Fail fast: the first error cancels the siblings and is what the scope returns.
#[scoped]
async fn fail_fast() -> Result<(), AppError> {
    spawn!(fetch("https://slow.example", 5_000));
    spawn!(fetch("https://broken.example", 50));
    Ok(())
}

/// 3. In-place children borrow from the caller and run while the body waits.
#[scoped]
async fn word_lengths(words: &[String]) -> Result<usize, AppError> {
    let longest = spawn_in_place!(async { Ok(words.iter().map(String::len).max().unwrap_or(0)) });
    Ok(longest.await?)
}

slot!(static REQUEST_ID: String);

/// 4. Typed slots: bound for a scope, read back as their type in every descendant.
#[scoped(slots(REQUEST_ID = "req-42".to_owned()))]
async fn handle() -> Result<String, AppError> {
    let child = spawn!(async { Ok(REQUEST_ID.get().unwrap_or_default()) });
    Ok(child.await?)
}

/// 5. Deadlines: a scope's timeout cancels its children with a typed cause.
#[scoped(name = "tight", timeout = Duration::from_millis(30))]
async fn too_slow() -> Result<usize, AppError> {
    Ok(spawn!(fetch("https://slow.example", 1_000)).await?)
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    let start = Instant::now();
    let n = total_size(&["https://a.example", "https://bb.example"]).await?;
    println!(
        "1. total size {n}, both fetches joined in {:?}",
        start.elapsed()
    );
    assert_eq!(n, 35);

    let start = Instant::now();
    let out = fail_fast().await;
    // Ctrl-C cancels `main` and cuts the step under way short: stop with the interruption
    // (exit 130) rather than check the claims of a step that did not run to its end.
    scope::check()?;
    let err = out.unwrap_err();
    println!(
        "2. fail-fast: {err} after {:?} (the 5 s sibling was cancelled)",
        start.elapsed()
    );
    assert!(matches!(err, AppError::Fetch(_)));
    assert!(start.elapsed() < Duration::from_secs(2));

    let words = vec!["structured".to_owned(), "concurrency".to_owned()];
    let longest = word_lengths(&words).await?;
    println!("3. longest word: {longest} letters, borrowed by an in-place child");
    assert_eq!(longest, 11);

    let id = handle().await?;
    println!("4. the child read REQUEST_ID = {id}");
    assert_eq!(id, "req-42");

    let out = too_slow().await;
    scope::check()?;
    let err = out.unwrap_err();
    println!("5. {err}");
    assert!(matches!(
        err,
        AppError::Interrupted(Interrupted::DeadlineExceeded(_))
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tour_runs_and_its_claims_hold() {
        super::main().unwrap();
    }
}
