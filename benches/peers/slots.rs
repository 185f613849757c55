//! Slot lookup at tree depth 1, 8 and 32: ours against a chain of `Arc` nodes keyed by
//! `TypeId` (how Go's `context.Value` finds a value) and against `tokio::task_local!`.

use std::any::{Any, TypeId};
use std::hint::black_box;
use std::sync::Arc;

use futures_util::FutureExt;
use scope::{Cx, Slot};

use crate::harness::{interleave, per_op, Plan, Row, Rt, Stats, Target};

/// Lookups per sample.
const LOOKUPS: u32 = 400_000;
const DEPTHS: [usize; 3] = [1, 8, 32];

static REQUEST: Slot<u64> = Slot::new("REQUEST");
/// One unrelated slot bound at each level between the binding and the lookup.
static LEVELS: [Slot<u64>; 32] = [const { Slot::new("LEVEL") }; 32];

tokio::task_local! {
    static TASK_REQUEST: u64;
}

/// The key type of the looked-up value in the chain.
struct RequestKey;
/// The key type of the values bound at the levels in between.
struct LevelKey;

/// One node of a `context.Value`-style chain: a key, a value, and the parent.
struct Node {
    key: TypeId,
    value: Box<dyn Any + Send + Sync>,
    parent: Option<Arc<Node>>,
}

impl Node {
    fn lookup<T: 'static>(&self, key: TypeId) -> Option<&T> {
        let mut node = self;
        loop {
            if node.key == key {
                return node.value.downcast_ref();
            }
            node = node.parent.as_deref()?;
        }
    }
}

/// The value bound at the root, then `depth` levels each binding an unrelated value.
fn chain(depth: usize) -> Arc<Node> {
    let mut node = Arc::new(Node {
        key: TypeId::of::<RequestKey>(),
        value: Box::new(7u64),
        parent: None,
    });
    for level in 0..depth {
        node = Arc::new(Node {
            key: TypeId::of::<LevelKey>(),
            value: Box::new(level as u64),
            parent: Some(node),
        });
    }
    node
}

/// The same shape as [`chain`], in contexts.
fn context(depth: usize) -> Cx {
    let mut cx = Cx::root().with_slot(&REQUEST, 7);
    for (level, slot) in LEVELS.iter().enumerate().take(depth) {
        cx = cx.with_slot(slot, level as u64);
    }
    cx
}

/// Runs `f` with `TASK_REQUEST` bound in `depth` nested scopes (the innermost is found).
fn nested<R>(depth: usize, f: &mut dyn FnMut() -> R) -> R {
    if depth == 0 {
        f()
    } else {
        TASK_REQUEST.sync_scope(depth as u64, || nested(depth - 1, f))
    }
}

#[allow(clippy::redundant_closure_for_method_calls)] // Reason: `Slot::with` needs a higher-ranked closure; the path is not one.
pub(crate) fn lookup(plan: Plan, rows: &mut Vec<Row>) {
    let mut at_depth: Vec<(usize, Stats, Stats)> = Vec::new();
    for depth in DEPTHS {
        let cx = context(depth);
        let node = chain(depth);
        assert_eq!(cx.get(&REQUEST), Some(&7));
        assert_eq!(node.lookup::<u64>(TypeId::of::<RequestKey>()), Some(&7));
        let [get, with, walk, task_local] = interleave(
            plan,
            [
                &mut || per_op(LOOKUPS, || black_box(&cx).get(black_box(&REQUEST)).copied()),
                &mut || {
                    cx.clone()
                        .run(async { per_op(LOOKUPS, || black_box(&REQUEST).with(|v| v.copied())) })
                        .now_or_never()
                        .expect("the loop does not wait")
                },
                &mut || {
                    per_op(LOOKUPS, || {
                        black_box(&*node)
                            .lookup::<u64>(TypeId::of::<RequestKey>())
                            .copied()
                    })
                },
                &mut || {
                    nested(depth, &mut || {
                        per_op(LOOKUPS, || black_box(&TASK_REQUEST).with(|v| *v))
                    })
                },
            ],
        );
        rows.push(
            Row::new(
                format!("slot.get.d{depth}"),
                Rt::None,
                get,
                "Arc chain walk by TypeId",
                walk,
                Target::Info,
            )
            .note("Cx::get on an explicit context; the chain walks depth+1 nodes"),
        );
        rows.push(
            Row::new(
                format!("slot.with.d{depth}"),
                Rt::None,
                with,
                "tokio::task_local!",
                task_local,
                Target::Ratio(1.0),
            )
            .note("Slot::with on the ambient context vs LocalKey::with"),
        );
        at_depth.push((depth, get, with));
    }
    let (_, get1, with1) = at_depth[0];
    let (_, get32, with32) = at_depth[DEPTHS.len() - 1];
    rows.push(
        Row::new(
            "slot.get.d32/d1",
            Rt::None,
            get32,
            "ours at depth 1",
            get1,
            Target::Ratio(1.2),
        )
        .note("O(1) in depth: Cx::get at depth 32 over depth 1"),
    );
    rows.push(
        Row::new(
            "slot.with.d32/d1",
            Rt::None,
            with32,
            "ours at depth 1",
            with1,
            Target::Ratio(1.2),
        )
        .note("O(1) in depth: Slot::with at depth 32 over depth 1"),
    );
}
