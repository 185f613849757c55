//! Nested in-place scopes: the stack one level of nesting takes while the chain is polled,
//! against plain nested async fns (DESIGN §9: at most 4x), the time to cancel through a
//! chain of 250 and of 1,000 levels (linear: about 4x from one to the other), and a spawn's
//! cost in a scope nested 100 levels deep against one at the top.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};
use scope::{Config, Interrupted, Scope};

use crate::harness::{interleave, nanos, Plan, Row, Rt, Stats, Target, Unit};
use crate::rt::current_thread;

/// Levels of the chain whose stack is measured.
const LEVELS: usize = 200;

/// Where the leaf of the chain found the stack pointer.
static LEAF: AtomicUsize = AtomicUsize::new(0);

/// An address on the current stack frame.
#[inline(never)]
fn stack_here() -> usize {
    let marker = 0u8;
    std::ptr::from_ref(black_box(&marker)) as usize
}

type Level<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A chain of nested in-place scopes whose leaf records the stack depth and waits.
fn scopes(depth: usize, leaf: Option<Arc<AtomicBool>>) -> Level<Result<(), Interrupted>> {
    Box::pin(async move {
        let s = &Scope::new(Config::new());
        s.run(async {
            if depth == 0 {
                LEAF.store(stack_here(), Ordering::SeqCst);
                if let Some(leaf) = &leaf {
                    leaf.store(true, Ordering::SeqCst);
                }
                std::future::pending::<()>().await;
                Ok(())
            } else {
                s.spawn_in_place(scopes(depth - 1, leaf.clone())).await?;
                Ok(())
            }
        })
        .await
    })
}

/// The same chain of plain async fns.
fn plain(depth: usize) -> Level<()> {
    Box::pin(async move {
        if depth == 0 {
            LEAF.store(stack_here(), Ordering::SeqCst);
            std::future::pending::<()>().await;
        } else {
            plain(depth - 1).await;
        }
    })
}

/// The same chain where each level polls its next one in place through a set of its own (a
/// `FuturesUnordered` of boxed futures): the floor of any design whose levels join their
/// children in place, before a context, a grace or a report.
fn sets(depth: usize) -> Level<()> {
    Box::pin(async move {
        if depth == 0 {
            LEAF.store(stack_here(), Ordering::SeqCst);
            std::future::pending::<()>().await;
        } else {
            let mut set: FuturesUnordered<Level<()>> = FuturesUnordered::new();
            set.push(sets(depth - 1));
            while set.next().await.is_some() {}
        }
    })
}

/// Bytes of stack per level: polls the chain once, from a known stack depth.
fn per_level<T>(chain: impl FnOnce() -> Level<T>) -> f64 {
    let rt = current_thread();
    let _in_rt = rt.enter();
    let mut chain = chain();
    let waker = Waker::noop();
    let top = stack_here();
    let _ = black_box(chain.as_mut().poll(&mut Context::from_waker(waker)));
    let leaf = LEAF.load(Ordering::SeqCst);
    (top - leaf) as f64 / LEVELS as f64
}

/// Nanoseconds from a cancel of the root (which has a grace, so its body sees the chain end)
/// to the chain's end, through `depth` in-place levels.
fn cancel_time(depth: usize) -> f64 {
    let rt = current_thread();
    rt.block_on(async {
        let leaf = Arc::new(AtomicBool::new(false));
        let root = &Scope::new(Config::new().grace(std::time::Duration::from_secs(3600)));
        let out = root
            .run(async {
                let chain = root.spawn_in_place(scopes(depth, Some(leaf.clone())));
                while !leaf.load(Ordering::SeqCst) {
                    tokio::task::yield_now().await;
                }
                let start = Instant::now();
                root.cancel("bench");
                let _ = chain.await;
                Ok::<_, Interrupted>(nanos(start.elapsed()))
            })
            .await;
        out.unwrap_or(f64::NAN)
    })
}

/// Children spawned and joined per sample of [`spawn_at_depth`].
const SPAWNED: usize = 1_000;

/// Nanoseconds per child to spawn [`SPAWNED`] children and join them, in a scope at the
/// bottom of a chain of `depth` nested scopes (timed inside that scope only): each level a
/// spawned child of the one above (`spawned`), or an in-place one.
fn spawn_at_depth(depth: usize, spawned: bool) -> f64 {
    fn level(depth: usize, spawned: bool) -> Level<Result<f64, Interrupted>> {
        Box::pin(async move {
            let s = &Scope::new(Config::new());
            s.run(async {
                if depth > 0 {
                    let next = level(depth - 1, spawned);
                    return if spawned {
                        s.spawn(next).await
                    } else {
                        s.spawn_in_place(next).await
                    };
                }
                let start = Instant::now();
                let children: Vec<_> = (0..SPAWNED).map(|_| s.spawn(async {})).collect();
                for child in children {
                    child.await?;
                }
                Ok(nanos(start.elapsed()) / SPAWNED as f64)
            })
            .await
        })
    }
    current_thread()
        .block_on(level(depth, spawned))
        .unwrap_or(f64::NAN)
}

pub(crate) fn stack_and_cancel(plan: Plan, rows: &mut Vec<Row>) {
    // A big stack, so that neither chain can overflow while it is measured.
    let measured = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let ours = per_level(|| scopes(LEVELS, None));
            let theirs = per_level(|| plain(LEVELS));
            let floor = per_level(|| sets(LEVELS));
            let [small, large] =
                interleave(plan, [&mut || cancel_time(250), &mut || cancel_time(1_000)]);
            (ours, theirs, floor, small, large)
        })
        .expect("a thread for the nesting rows")
        .join();
    let Ok((ours, theirs, floor, small, large)) = measured else {
        rows.push(Row::unavailable(
            "nesting.stack_per_level",
            Rt::Current,
            "plain nested async fns",
            Target::Ratio(4.0),
            "the measuring thread panicked",
        ));
        return;
    };
    let exact = |v| Stats {
        median: v,
        min: v,
        max: v,
    };
    rows.push(
        Row::new(
            "nesting.stack_per_level",
            Rt::Current,
            exact(ours),
            "plain nested async fns",
            exact(theirs),
            Target::Ratio(4.0),
        )
        .unit(Unit::Bytes)
        .note(format!("bytes of stack per level, over {LEVELS} levels")),
    );
    rows.push(
        Row::new(
            "nesting.stack_per_level.floor",
            Rt::Current,
            exact(ours),
            "nested FuturesUnordered, one per level",
            exact(floor),
            Target::Info,
        )
        .unit(Unit::Bytes)
        .note("each level joins its next in place through a set of boxed futures of its own"),
    );
    rows.push(
        Row::new(
            "nesting.cancel_1000_vs_250",
            Rt::Current,
            large,
            "the same at 250 levels",
            small,
            Target::Info,
        )
        .note("cancel of the root to the chain's end; linear work is 4x (counted in tests/contract.rs); time also pays the caches"),
    );
    let [spawned, in_place, top] = interleave(
        plan,
        [
            &mut || spawn_at_depth(100, true),
            &mut || spawn_at_depth(100, false),
            &mut || spawn_at_depth(0, true),
        ],
    );
    rows.push(
        Row::new(
            "nesting.spawn_at_depth_100",
            Rt::Current,
            spawned,
            "the same in a scope at the top",
            top,
            Target::Ratio(1.25),
        )
        .note(format!(
            "{SPAWNED} children spawned and joined, per child, in a scope 100 spawned levels down"
        )),
    );
    rows.push(
        Row::new(
            "nesting.spawn_at_depth_100.in_place",
            Rt::Current,
            in_place,
            "the same in a scope at the top",
            top,
            Target::Info,
        )
        .note("100 in-place levels down: the joins spend tokio's budget, and each turn of the task polls the chain from its root again"),
    );
}
