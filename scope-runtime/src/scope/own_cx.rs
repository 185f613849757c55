//! Children's own contexts, created on demand.
//!
//! A child runs with its scope's context until something needs one of its own (see
//! `cx::ambient`): the child itself ([`Cx::current`](crate::Cx::current) in it) or its handle
//! ([`Child::cx`](crate::Child::cx), a cancel of that child alone). Whoever is first creates
//! it here, keyed by the child's id, and every later asker gets the same node. The registry
//! holds the nodes weakly: a node lives as long as the child, the handle or anyone else keeps
//! it, and dead entries are swept as new ones arrive (so the table stays proportional to the
//! live nodes).
//!
//! A node created by the handle must reach the child's task: the registry's epoch counts
//! those, and a child that has no node of its own looks it up only when the epoch moved since
//! it last looked (one atomic load per poll otherwise).

use crate::cx::{Cx, WeakCx};
use crate::info::{ById, TaskId};
use crate::sync::{AtomicUsize, Mutex, Ordering};

#[derive(Default)]
pub(crate) struct OwnCxs {
    table: Mutex<Table>,
    /// Bumped (after the insert) each time a handle creates a child's context.
    epoch: AtomicUsize,
}

#[derive(Default)]
struct Table {
    nodes: ById<TaskId, WeakCx>,
    /// The table's size after the last sweep: the next one comes when it has doubled.
    swept: usize,
}

impl OwnCxs {
    /// Child `id`'s own context: the one in the table, or a new child of `parent`. `by_handle`:
    /// the asker is not the child's task, which must be told.
    pub(crate) fn get_or_create(&self, id: TaskId, parent: &Cx, by_handle: bool) -> Cx {
        let (cx, created) = {
            let mut table = self.table.lock();
            if let Some(cx) = table.nodes.get(&id).and_then(WeakCx::upgrade) {
                (cx, false)
            } else {
                // Creating a node runs no user code (no waiter or callback is involved).
                let cx = parent.child();
                if table.nodes.len() >= 2 * table.swept + 16 {
                    // Dropping a dead weak reference frees memory only.
                    table.nodes.retain(|_, node| !node.is_dead());
                    table.swept = table.nodes.len();
                }
                table.nodes.insert(id, cx.downgrade());
                (cx, true)
            }
        };
        if created {
            if by_handle {
                // Release: a child that sees the new epoch (Acquire) finds the entry.
                self.epoch.fetch_add(1, Ordering::Release);
            }
            crate::observe::own_cx_created(id, &cx);
        }
        cx
    }

    /// The registry's epoch: a lazy child looks itself up when it moved. (Its low bits: a
    /// child keeps them next to its flags, and only a change matters.)
    #[allow(clippy::cast_possible_truncation)] // Reason: only the low bits are kept, on purpose.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch.load(Ordering::Acquire) as u32
    }

    /// Child `id`'s own context, if someone created it and it is alive.
    pub(crate) fn find(&self, id: TaskId) -> Option<Cx> {
        // A context whose last other holder lets go meanwhile is dropped by the caller, after
        // the lock.
        self.table.lock().nodes.get(&id).and_then(WeakCx::upgrade)
    }
}
