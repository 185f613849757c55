//! The leak check names what leaked: a child of ours by name, scope and call site; a task that
//! is not ours by count, with a hint.

use futures_util::FutureExt;
use scope::testing::LeakCheck;
use scope::{Config, Interrupted, Scope};

/// Leaks a scope with its run half-done: its spawned child is never joined nor aborted.
/// Returns the line of the spawn.
fn leak_a_child(scope_name: &'static str, child_name: &'static str) -> u32 {
    let s: &'static Scope<'static, 'static, Interrupted> =
        Box::leak(Box::new(Scope::new(Config::new().name(scope_name))));
    let line = line!() + 2;
    let mut run = Box::pin(s.run(async {
        s.spawn_named(child_name, std::future::pending::<()>());
        std::future::pending::<Result<(), Interrupted>>().await
    }));
    assert!((&mut run).now_or_never().is_none());
    std::mem::forget(run);
    line
}

#[tokio::test]
async fn the_leak_check_names_a_leaked_child_of_ours_and_counts_the_others() {
    let check = LeakCheck::new();
    let line = leak_a_child("leaky_scope", "stuck_worker");
    let plain = tokio::spawn(std::future::pending::<()>());

    let leaked = check.check().await.unwrap_err();
    assert_eq!(leaked.alive, 2);
    assert_eq!(leaked.ours.len(), 1);
    assert_eq!(leaked.ours[0].task.name(), Some("stuck_worker"));
    assert_eq!(leaked.ours[0].task.location().line(), line);
    let message = leaked.to_string();
    let expected = format!(
        "2 task(s) started during the test are still alive: spawned `stuck_worker` of scope \
         `leaky_scope` started at {}:{line}:",
        file!()
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(
        message.contains("; and 1 not started by a scope or a service (a plain `tokio::spawn`"),
        "{message}"
    );
    plain.abort();
}

// `#[scope::test]` applies the same check to every test: its failure names the child.
#[scope::test]
#[should_panic(
    expected = "spawned `stuck_in_test` of scope `leaky_test_scope` started at tests/observe_leaks.rs:"
)]
async fn scope_test_names_the_leaked_child() {
    leak_a_child("leaky_test_scope", "stuck_in_test");
}

// An older task that ends during the test cannot hide a leak of ours from the count.
#[tokio::test]
async fn an_older_task_ending_does_not_hide_a_leaked_child_of_ours() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let older = tokio::spawn(async move {
        let _ = rx.await;
    });
    let check = LeakCheck::new();
    tx.send(()).unwrap();
    older.await.unwrap();
    leak_a_child("leaky_masked", "stuck_masked");
    let leaked = check
        .check()
        .await
        .expect_err("the leaked child is still alive");
    assert_eq!(leaked.ours.len(), 1, "{leaked}");
    assert_eq!(leaked.ours[0].task.name(), Some("stuck_masked"));
    assert!(leaked.alive >= 1, "{leaked}");
}

/// Leaks a scope with its run half-done and its blocking child running, until the returned
/// sender sends (or is dropped). Returns the line of the spawn.
async fn leak_a_running_blocking_child(
    scope_name: &'static str,
) -> (u32, std::sync::mpsc::Sender<()>) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let s: &'static Scope<'static, 'static, Interrupted> =
        Box::leak(Box::new(Scope::new(Config::new().name(scope_name))));
    let line = line!() + 2;
    let mut run = Box::pin(s.run(async move {
        s.spawn_blocking(move |_| {
            let _ = started_tx.send(());
            let _ = wait.recv();
            Ok::<_, Interrupted>(())
        });
        std::future::pending::<Result<(), Interrupted>>().await
    }));
    assert!((&mut run).now_or_never().is_none());
    std::mem::forget(run);
    started.await.unwrap();
    (line, release)
}

// A blocking child of ours that is still running is a leak too, named as one: tokio does not
// count blocking threads among its alive tasks, so only the tree can tell.
#[tokio::test]
async fn the_leak_check_sees_a_blocking_child_still_running() {
    let check = LeakCheck::new();
    let (line, release) = leak_a_running_blocking_child("leaky_blocking").await;

    let leaked = check
        .check()
        .await
        .expect_err("the blocking child is running");
    assert_eq!(leaked.ours.len(), 1, "{leaked}");
    assert_eq!(
        leaked.ours[0].task.kind(),
        scope::observe::TaskKind::Blocking
    );
    assert_eq!(leaked.ours[0].task.location().line(), line);
    assert!(leaked.alive >= 1, "{leaked}");
    let message = leaked.to_string();
    assert!(
        message.contains("blocking (unnamed) of scope `leaky_blocking` started at"),
        "{message}"
    );
    // A plain task leaked beside it is counted too: tokio does not count blocking children,
    // so the two are added, not the larger one taken.
    let plain = tokio::spawn(std::future::pending::<()>());
    let leaked = check.check().await.expect_err("two leaks");
    assert_eq!(leaked.alive, 2, "{leaked}");
    assert!(
        leaked.to_string().contains("and 1 not started by a scope"),
        "{leaked}"
    );
    plain.abort();
    let _ = plain.await;
    release.send(()).unwrap();
}

// A blocking child handed to the runtime but still waiting for a blocking thread will run:
// it is a leak, though it has not started (a child queued in a scope that never runs is not).
#[test]
fn the_leak_check_sees_a_blocking_child_waiting_for_a_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let (free, hold) = std::sync::mpsc::channel::<()>();
        let (taken_tx, taken) = tokio::sync::oneshot::channel::<()>();
        // The only blocking thread, busy until the end of the test.
        let hog = tokio::task::spawn_blocking(move || {
            let _ = taken_tx.send(());
            let _ = hold.recv();
        });
        taken.await.unwrap();
        let check = LeakCheck::new();
        let s: &'static Scope<'static, 'static, Interrupted> = Box::leak(Box::new(Scope::new(
            Config::new().name("leaky_queued_blocking"),
        )));
        let mut run = Box::pin(s.run(async {
            s.spawn_blocking(|_| Ok::<_, Interrupted>(()));
            std::future::pending::<Result<(), Interrupted>>().await
        }));
        assert!((&mut run).now_or_never().is_none());
        std::mem::forget(run);
        let out = check.check().await;
        free.send(()).unwrap();
        hog.await.unwrap();
        let leaked = out.expect_err("the blocking child will run after the test");
        assert_eq!(leaked.ours.len(), 1, "{leaked}");
        assert_eq!(
            leaked.ours[0].task.kind(),
            scope::observe::TaskKind::Blocking
        );
    });
}

// A scope whose run is dropped mid-body gives its children its grace, on a task of its own:
// judged the same on the paused clock as on the real one (the grace runs out during the check).
#[tokio::test(start_paused = true)]
async fn a_scope_dropped_in_its_grace_is_judged_as_on_the_real_clock() {
    let check = LeakCheck::new();
    let s = &Scope::new(Config::new().grace(std::time::Duration::from_millis(100)));
    let run = s.run(async {
        s.spawn(std::future::pending::<()>());
        std::future::pending::<Result<(), Interrupted>>().await
    });
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(10), run)
            .await
            .is_err()
    );
    let out = check.check().await;
    assert_eq!(out, Ok(()), "{}", out.as_ref().unwrap_err());
}

// On the paused clock the check lets virtual time run during its pauses; a blocking task keeps
// tokio from advancing it, and a pause must still end (in real time) with the verdict.
#[tokio::test(start_paused = true)]
async fn the_leak_check_on_the_paused_clock_ends_with_a_blocking_child_running() {
    let check = LeakCheck::new();
    let (_, release) = leak_a_running_blocking_child("leaky_blocking_paused").await;
    // Frees the child after 5 s of real time, so that the test ends either way.
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(5));
        let _ = release.send(());
    });
    let real = std::time::Instant::now();
    let out = check.check().await;
    // The check's pauses take about 1 s of real time; one waiting for the blocking child's
    // release would take 5 s.
    assert!(
        real.elapsed() < std::time::Duration::from_secs(3),
        "waited {:?}",
        real.elapsed()
    );
    assert!(out.is_err(), "the blocking child was running");
}

/// A spawned child of a scope that never ran is a future the scope keeps, not a task: it is
/// not a leak, and still not one once the scope's context is cancelled (it then shows as
/// cancelling, and was reported as "1 task(s) still alive" though no task existed).
#[tokio::test]
async fn a_queued_child_of_a_cancelled_scope_never_run_is_not_a_leak() {
    let check = LeakCheck::new();
    let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().name("kept"));
    let _queued = s.spawn_named("never-runs", std::future::pending::<()>());
    assert_eq!(check.check().await, Ok(()));
    s.cancel("abandoned");
    assert_eq!(check.check().await, Ok(()));
}

/// Bytes allocated and not yet freed by each thread (its allocations less its frees), to see
/// what a thread-local keeps.
mod per_thread {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub(crate) struct Counting;

    thread_local! {
        static NET: Cell<isize> = const { Cell::new(0) };
    }

    fn add(bytes: usize, sign: isize) {
        let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
        let _ = NET.try_with(|n| n.set(n.get() + sign * bytes));
    }

    // SAFETY: every call is passed on to the system allocator unchanged; the count is a
    // thread-local `Cell` with a const initialiser and no destructor, which allocates nothing.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            add(layout.size(), 1);
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            add(layout.size(), -1);
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    pub(crate) fn net() -> isize {
        NET.with(Cell::get)
    }
}

#[global_allocator]
static ALLOC: per_thread::Counting = per_thread::Counting;

/// With the `metrics` feature on and no recorder installed, each distinct scope name left a
/// cache entry on its thread for the thread's life (probe110: 372 B per name, 1.45 MB after
/// 4,000 names, never freed). The cache now holds at most 1,024 labels per thread.
#[test]
fn scopes_named_per_job_do_not_grow_a_threads_metrics_cache_for_good() {
    let grown = std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut next = 0;
            let mut jobs = |n: usize| {
                for _ in 0..n {
                    next += 1;
                    let s: Scope<'_, '_, Interrupted> =
                        Scope::new(Config::new().name(format!("job-{next}")));
                    let out = s.run(async { Ok::<_, Interrupted>(()) }).now_or_never();
                    assert!(matches!(out, Some(Ok(()))));
                }
            };
            jobs(2_000);
            let before = per_thread::net();
            jobs(4_000);
            per_thread::net() - before
        })
    })
    .join()
    .unwrap();
    // 4,000 names more kept about 1.5 MB; a cache that starts over keeps at most its 1,024
    // labels (about 380 KB) whatever the count.
    assert!(
        grown < 512 * 1024,
        "4,000 more scope names kept {grown} bytes on their thread"
    );
}
