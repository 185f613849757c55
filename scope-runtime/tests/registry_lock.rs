//! No user code runs under the scope's registry lock: the handles of finished tasks the scope
//! lets go of can hold the last reference to a runtime dropped meanwhile, whose callbacks (and
//! what they captured) are the user's (`probe173`).
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scope_runtime::{Config, Interrupted, Scope};

type Leaked = Scope<'static, 'static, Interrupted>;

/// The scope the canary's destructor spawns into (one per case), and the runtime it runs on.
static SCOPE: Mutex<Option<&'static Leaked>> = Mutex::new(None);
static RUNTIME: Mutex<Option<tokio::runtime::Handle>> = Mutex::new(None);

/// 0: not dropped; 1: its spawn from another thread went through; 2: it waited past 2 s.
static CANARY: AtomicU8 = AtomicU8::new(0);

/// Captured by a runtime's callbacks: dropped with that runtime's last handle.
struct Canary;

impl Drop for Canary {
    fn drop(&mut self) {
        // A spawn from another thread takes the scope's registry lock: if this destructor ran
        // under it, the spawn waits for it to return.
        let (done, spawned) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let s = SCOPE.lock().unwrap().expect("the scope is set");
            let runtime = RUNTIME.lock().unwrap().clone().expect("the runtime is set");
            let _on_it = runtime.enter();
            drop(s.spawn(async { Ok::<_, Interrupted>(()) }));
            let _ = done.send(());
        });
        let in_time = spawned.recv_timeout(Duration::from_secs(2)).is_ok();
        CANARY.store(if in_time { 1 } else { 2 }, Ordering::SeqCst);
    }
}

/// Where the scope lets go of the finished tasks' handles.
#[derive(Clone, Copy, Debug)]
enum LetGoAt {
    /// When its count returns to zero.
    Zero,
    /// At a registration past the bound (its count above zero).
    Registration,
}

#[test]
fn a_runtime_dropped_with_the_last_handle_of_a_finished_task_is_dropped_outside_the_lock() {
    for at in [LetGoAt::Zero, LetGoAt::Registration] {
        CANARY.store(0, Ordering::SeqCst);
        assert_eq!(let_go(at), 1, "at {at:?}: the runtime's callbacks were dropped under the scope's lock (2), or not at all (0)");
    }
}

/// The canary's state once a scope has let go, at `at`, of the handles of 100 finished tasks
/// that ran on a runtime dropped meanwhile (the last references to it).
fn let_go(at: LetGoAt) -> u8 {
    let canary = Arc::new(Canary);
    let (on_park, on_stop) = (Arc::clone(&canary), Arc::clone(&canary));
    drop(canary);
    let other = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_park(move || drop(Arc::clone(&on_park)))
        .on_thread_stop(move || drop(Arc::clone(&on_stop)))
        .enable_all()
        .build()
        .unwrap();
    let on_other = other.handle().clone();
    let mut other = Some(other);
    let s: &'static Leaked = Box::leak(Box::new(Scope::new(Config::new())));
    *SCOPE.lock().unwrap() = Some(s);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            *RUNTIME.lock().unwrap() = Some(tokio::runtime::Handle::current());
            s.run(async {
                // The first task, on this runtime, holds the count above zero.
                let (end_long, ends) = tokio::sync::oneshot::channel::<()>();
                let mut end_long = Some(end_long);
                let long = s.spawn(async move {
                    let _ = ends.await;
                    Ok::<_, Interrupted>(())
                });
                // 100 tasks on the other runtime, all finished: their handles are kept (none
                // ends before the last is spawned, so no spawn lets go of one).
                let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
                let (go, wait) = tokio::sync::watch::channel(false);
                {
                    let _on_other = on_other.enter();
                    for _ in 0..100 {
                        let (done, mut wait) = (done.clone(), wait.clone());
                        drop(s.spawn(async move {
                            let _ = wait.wait_for(|go| *go).await;
                            let _ = done.send(());
                            Ok::<_, Interrupted>(())
                        }));
                    }
                }
                go.send(true).unwrap();
                for _ in 0..100 {
                    finished.recv().await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(on_other);
                let other = other.take().unwrap();
                std::thread::spawn(move || drop(other)).join().unwrap();
                assert_eq!(CANARY.load(Ordering::SeqCst), 0, "dropped too early");
                match at {
                    // The count returns to zero with 101 handles kept.
                    LetGoAt::Zero => end_long.take().unwrap().send(()).unwrap(),
                    // A spawn finds 101 handles kept, over twice the count: the finished go.
                    LetGoAt::Registration => drop(s.spawn(async { Ok::<_, Interrupted>(()) })),
                }
                for _ in 0..300 {
                    if CANARY.load(Ordering::SeqCst) != 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let seen = CANARY.load(Ordering::SeqCst);
                if let Some(end_long) = end_long {
                    end_long.send(()).unwrap();
                }
                let _ = long.await;
                Ok::<_, Interrupted>(seen)
            })
            .await
            .unwrap()
        })
}
