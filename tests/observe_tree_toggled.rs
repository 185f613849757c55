//! The task tree while tracking is turned off and on again with work alive. Each test here
//! must be the only holder of a tracking guard while it runs (a guard held by another test
//! would hide what it checks), so this binary holds its tests to one at a time.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use scope::observe::{self, TaskNode, TaskTree};
use scope::{Config, Cx, Interrupted, Scope};
use tokio::sync::oneshot;

/// Held by each test for its whole run.
static ALONE: Mutex<()> = Mutex::new(());

/// Runs `test` on a runtime of its own, with no other test of this binary running.
fn alone(test: impl std::future::Future<Output = ()>) {
    let _alone = ALONE.lock().unwrap_or_else(PoisonError::into_inner);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

fn node<'t>(tree: &'t TaskTree, name: &str) -> &'t TaskNode {
    let found: Vec<_> = tree.iter().filter(|n| n.name() == Some(name)).collect();
    assert_eq!(found.len(), 1, "nodes named {name} in\n{tree}");
    found[0]
}

/// A child recorded while tracking was on makes its own context while it is off (here by
/// asking for it); tracking comes back on and the child enters a scope: that scope hangs under
/// the child whose code entered it, not beside it.
#[test]
fn a_childs_context_made_while_tracking_is_off_still_places_the_scopes_it_enters() {
    alone(child_context_made_while_off());
}

async fn child_context_made_while_off() {
    let tracking = observe::track();
    let s = &Scope::new(Config::new().name("toggled_outer"));
    let (off_tx, off_rx) = oneshot::channel::<()>();
    let (on_tx, on_rx) = oneshot::channel::<()>();
    let (made_tx, made_rx) = oneshot::channel::<()>();
    let (tree_tx, tree_rx) = oneshot::channel::<TaskTree>();
    let toggle = async {
        off_rx.await.unwrap();
        drop(tracking);
        on_tx.send(()).unwrap();
        made_rx.await.unwrap();
        observe::track()
    };
    let (out, _tracking) = tokio::join!(
        s.run(async {
            let child = s.spawn_named("toggled_child", async move {
                off_tx.send(()).unwrap();
                on_rx.await.unwrap();
                // Made now, with tracking off.
                let _cx = Cx::current();
                made_tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
                let inner = &Scope::new(Config::new().name("toggled_inner"));
                inner
                    .run(async {
                        tree_tx.send(observe::snapshot()).unwrap();
                        Ok::<_, Interrupted>(())
                    })
                    .await
            });
            child.await
        }),
        toggle
    );
    out.unwrap();
    let tree = tree_rx.await.unwrap();
    let child = node(&tree, "toggled_child");
    let inner = node(&tree, "toggled_inner");
    assert_eq!(child.parent(), Some(s.info().id()), "{tree}");
    assert_eq!(inner.parent(), Some(child.id()), "{tree}");
}

/// Tracking turned on inside a scope made while it was off: the scope has no node, and its
/// children, which do, are roots of the tree (no parent, no owner), as `TaskNode::parent`
/// says; every link in the tree names a node in it.
#[test]
fn the_children_of_a_scope_made_while_tracking_was_off_are_roots() {
    alone(children_of_an_untracked_scope());
}

async fn children_of_an_untracked_scope() {
    let s = &Scope::new(Config::new().name("untracked_outer"));
    s.run(async {
        let _tracking = observe::track();
        let child = s.spawn_named("untracked_outer_child", async {
            scope::cancelled().await;
        });
        tokio::task::yield_now().await;
        let tree = observe::snapshot();
        assert!(tree.get(s.info().id()).is_none(), "{tree}");
        let n = tree.get(child.info().id()).expect("the child is recorded");
        assert_eq!((n.parent(), n.owner()), (None, None), "{tree}");
        child.cancel("seen");
        let _ = child.await;
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
}
