//! The live task tree: a snapshot taken during a slow child shows the child, its scope, its
//! state and age (and, with the `serde` feature, JSON with the parent and owner links); after
//! the scope ends, they are gone.

use std::time::Duration;

use scope::observe::{self, TaskKind, TaskState, TaskTree};
use scope::{scoped, spawn, spawn_in_place, Interrupted, Service, ServiceConfig};
use tokio::sync::oneshot;

/// A scope with a slow spawned child that opens a nested scope with an in-place child; it
/// reports the tree from inside, while the child waits.
#[scoped(name = "tree_outer")]
async fn outer(seen: oneshot::Sender<TaskTree>) -> Result<(), Interrupted> {
    let slow = spawn!(async move {
        inner(seen).await?;
        Ok::<_, Interrupted>(())
    });
    slow.await
}

#[scoped(name = "tree_inner")]
async fn inner(seen: oneshot::Sender<TaskTree>) -> Result<(), Interrupted> {
    let _waiting = spawn_in_place!(async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, Interrupted>(())
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let _ = seen.send(observe::snapshot());
    // The tree is read: cancelling the scope stops the waiting child; the body's own value
    // stands.
    scope::Cx::current().cancel("seen");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_shows_the_live_tree_and_forgets_it_after() {
    let _tracking = observe::track();
    let (tx, rx) = oneshot::channel();
    let run = tokio::spawn(outer(tx));
    let tree = rx.await.expect("the tree is reported");

    let outer_scope = tree
        .iter()
        .find(|n| n.name() == Some("tree_outer"))
        .expect("outer scope");
    assert_eq!(outer_scope.kind(), TaskKind::Scope);
    assert_eq!(outer_scope.state(), TaskState::Running);
    assert!(
        outer_scope.elapsed() >= Duration::from_millis(30),
        "{outer_scope:?}"
    );
    assert_eq!(outer_scope.parent(), None);

    // The slow child: spawned, running, under the outer scope, at its spawn line.
    let slow: Vec<_> = tree.children(outer_scope.id()).collect();
    assert_eq!(slow.len(), 1, "{tree}");
    let slow = slow[0];
    assert_eq!(slow.kind(), TaskKind::Spawned);
    assert_eq!(slow.state(), TaskState::Running);
    assert_eq!(slow.owner(), Some(outer_scope.id()));
    assert!(slow.elapsed() >= Duration::from_millis(30));
    assert_eq!(slow.location().file(), file!());

    // The nested scope hangs under the child whose code entered it, owned by the outer scope.
    let inner_scope = tree
        .iter()
        .find(|n| n.name() == Some("tree_inner"))
        .expect("inner scope");
    assert_eq!(inner_scope.parent(), Some(slow.id()));
    assert_eq!(inner_scope.owner(), Some(outer_scope.id()));
    let waiting: Vec<_> = tree.children(inner_scope.id()).collect();
    assert_eq!(waiting.len(), 1, "{tree}");
    assert_eq!(waiting[0].kind(), TaskKind::InPlace);
    assert_eq!(waiting[0].state(), TaskState::Running);
    assert_eq!(waiting[0].owner(), Some(inner_scope.id()));

    // The text form is an indented tree.
    let text = tree.to_string();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in\n{text}"))
    };
    assert!(
        at("scope tree_outer") < at("\n  spawned (unnamed)"),
        "{text}"
    );
    assert!(
        at("\n    scope tree_inner") < at("\n      in-place (unnamed)"),
        "{text}"
    );

    #[cfg(feature = "serde")]
    {
        let json: serde_json::Value = serde_json::to_value(&tree).unwrap();
        let tasks = json["tasks"].as_array().unwrap();
        let by_id = |id: &serde_json::Value| tasks.iter().find(|t| &t["id"] == id).unwrap();
        let inner_json = tasks.iter().find(|t| t["name"] == "tree_inner").unwrap();
        let parent = by_id(&inner_json["parent"]);
        assert_eq!(parent["kind"], "spawned");
        assert_eq!(parent["state"], "running");
        assert!(parent["elapsed_secs"].as_f64().unwrap() >= 0.03);
        assert!(parent["location"].as_str().unwrap().starts_with(file!()));
        assert_eq!(by_id(&inner_json["owner"])["name"], "tree_outer");
        assert_eq!(by_id(&parent["parent"])["name"], "tree_outer");
        // Parsed back from text, the same.
        let text = serde_json::to_string(&tree).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, json);
    }

    run.await.unwrap().unwrap();
    let after = observe::snapshot();
    for name in ["tree_outer", "tree_inner"] {
        assert!(
            after.iter().all(|n| n.name() != Some(name)),
            "{name} gone:\n{after}"
        );
    }
    for gone in [
        outer_scope.id(),
        slow.id(),
        inner_scope.id(),
        waiting[0].id(),
    ] {
        assert!(after.get(gone).is_none(), "{gone} gone:\n{after}");
    }
}

#[tokio::test]
async fn a_cancelled_scope_shows_as_cancelling_with_its_cause() {
    let _tracking = observe::track();
    let s = &scope::Scope::new(
        scope::Config::new()
            .name("tree_cancelling")
            .grace(Duration::from_secs(3600)),
    );
    s.run(async {
        let child = s.spawn_named("tree_stubborn", async {
            scope::cancelled().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Interrupted>(())
        });
        tokio::task::yield_now().await;
        s.cancel("operator said stop");
        tokio::task::yield_now().await;
        let tree = observe::snapshot();
        let me = tree.get(s.info().id()).unwrap();
        assert_eq!(me.state(), TaskState::Cancelling);
        assert_eq!(me.cause(), Some("operator said stop"));
        let child_node = tree.get(child.info().id()).unwrap();
        assert_eq!(child_node.state(), TaskState::Cancelling);
        assert_eq!(
            child_node.cause(),
            Some("parent cancelled: operator said stop")
        );
        child.await
    })
    .await
    .unwrap();
    assert_eq!(
        observe::snapshot().get(s.info().id()).unwrap().state(),
        TaskState::Finished
    );
}

#[tokio::test]
async fn a_scope_whose_run_was_dropped_shows_as_finished() {
    let _tracking = observe::track();
    let s = scope::Scope::new(scope::Config::new().name("tree_dropped_run"));
    let run = s.run(std::future::pending::<Result<(), Interrupted>>());
    let timed_out = tokio::time::timeout(Duration::from_millis(10), run).await;
    assert!(timed_out.is_err(), "the run is dropped by the timeout");
    let tree = observe::snapshot();
    let me = tree.get(s.info().id()).expect("the scope value lives");
    assert_eq!(
        me.state(),
        TaskState::Finished,
        "a dropped run has ended: {tree}"
    );
}

#[tokio::test]
async fn a_scope_entered_in_a_service_task_hangs_under_the_task() {
    let _tracking = observe::track();
    let svc = Service::new(ServiceConfig::new("tree_svc_scope"));
    let (tx, rx) = oneshot::channel();
    svc.spawn_named("tree_job", async move {
        let s = &scope::Scope::new(scope::Config::new().name("tree_in_job"));
        s.run(async {
            let _ = tx.send(observe::snapshot());
            Ok::<_, Interrupted>(())
        })
        .await
    })
    .unwrap()
    .detach();
    let tree = rx.await.unwrap();
    let job = tree.iter().find(|n| n.name() == Some("tree_job")).unwrap();
    let inner = tree
        .iter()
        .find(|n| n.name() == Some("tree_in_job"))
        .unwrap();
    assert_eq!(inner.parent(), Some(job.id()), "{tree}");
    let _ = svc.stop().await; // (clean-up)
}

/// A scope entered under a context derived in a child's code (`Cx::child().run`,
/// `with_slot(..).run`, a supervisor's incarnation) hangs under that child, and its owner is the
/// child's scope: the nearest tracked context up its chain, not only an exact match.
#[tokio::test]
async fn a_scope_entered_under_a_derived_context_hangs_under_the_child_that_made_it() {
    let _tracking = observe::track();
    let (tx, rx) = oneshot::channel();
    let outer = &scope::Scope::new(scope::Config::new().name("derived_outer"));
    outer
        .run(async {
            outer
                .spawn_named("derived_req", async move {
                    scope::Cx::current()
                        .child()
                        .run(async move {
                            let s = &scope::Scope::new(scope::Config::new().name("derived_inner"));
                            s.run(async {
                                let _ = tx.send(observe::snapshot());
                                Ok::<_, Interrupted>(())
                            })
                            .await
                        })
                        .await
                })
                .await
        })
        .await
        .unwrap();
    let tree = rx.await.unwrap();
    let find = |name| tree.iter().find(|n| n.name() == Some(name)).unwrap();
    let (inner, req, outer) = (
        find("derived_inner"),
        find("derived_req"),
        find("derived_outer"),
    );
    assert_eq!(inner.parent(), Some(req.id()), "{tree}");
    assert_eq!(inner.owner(), Some(outer.id()), "{tree}");
}

/// The same for a scope entered in a supervised child's code: each incarnation runs under a
/// context of its own, made from the child's.
#[tokio::test]
async fn a_scope_entered_in_a_supervised_child_hangs_under_that_child() {
    use scope::{Config, Restart, Scope, Supervisor};
    use std::sync::{Arc, Mutex};
    let _tracking = observe::track();
    let seen: Arc<Mutex<Option<TaskTree>>> = Arc::default();
    let out = Arc::clone(&seen);
    Supervisor::<Interrupted>::new(Config::new().name("sup_tree"))
        .child("sup_worker", Restart::Temporary, move || {
            let out = Arc::clone(&out);
            async move {
                let s = &Scope::new(Config::new().name("sup_inner"));
                s.run(async {
                    *out.lock().unwrap() = Some(observe::snapshot());
                    Ok::<_, Interrupted>(())
                })
                .await
            }
        })
        .run()
        .await
        .unwrap();
    let tree = seen.lock().unwrap().take().unwrap();
    let find = |name| tree.iter().find(|n| n.name() == Some(name)).unwrap();
    let (inner, worker) = (find("sup_inner"), find("sup_worker"));
    assert_eq!(inner.parent(), Some(worker.id()), "{tree}");
    assert!(inner.owner().is_some(), "{tree}");
}

#[tokio::test]
async fn services_and_their_tasks_are_in_the_tree() {
    let _tracking = observe::track();
    let svc = Service::new(ServiceConfig::new("tree_mailer"));
    let (tx, rx) = oneshot::channel::<()>();
    let line = line!() + 1;
    svc.spawn(async move {
        let _ = rx.await;
    })
    .unwrap()
    .detach();
    let tree = observe::snapshot();
    let me = tree.get(svc.info().id()).unwrap();
    assert_eq!(me.kind(), TaskKind::Service);
    let tasks: Vec<_> = tree.children(me.id()).collect();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].kind(), TaskKind::ServiceTask);
    assert_eq!(tasks[0].location().line(), line);
    tx.send(()).unwrap();
    svc.drain(Duration::from_secs(5)).await.unwrap();
    assert!(observe::snapshot().get(tasks[0].id()).is_none());
    // A drained service is over: it stays in the tree (its value lives) as finished.
    let tree = observe::snapshot();
    assert_eq!(
        tree.get(svc.info().id()).unwrap().state(),
        TaskState::Finished
    );
}

// A stopped service shows as finished, not as cancelling for as long as its value lives.
#[tokio::test]
async fn a_stopped_service_shows_as_finished() {
    let _tracking = observe::track();
    let svc = Service::new(ServiceConfig::new("tree_stopped"));
    let _report = svc.stop().await;
    let tree = observe::snapshot();
    let me = tree.get(svc.info().id()).unwrap();
    assert_eq!(me.state(), TaskState::Finished, "{tree}");
    // A second stop reports nothing new.
    let _report = svc.stop().await;
    assert_eq!(
        observe::snapshot().get(svc.info().id()).unwrap().state(),
        TaskState::Finished
    );
}

/// Children share their scope's context until they need their own: a scope entered in the
/// body still hangs under the scope (not under a sibling child), a child cancelled through its
/// handle shows its own cause until it leaves the tree, and a blocking child has its kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_children_and_blocking_children_have_their_place() {
    let _tracking = observe::track();
    // A grace long enough that the stopped child winds down while the tree is read: it
    // answers its cancel only once the body has looked.
    let (tree, stopped_id) = scope::scope!(name = "lazy_outer", grace = 3600s, |s| {
        let _idle = spawn!(async {
            scope::cancelled().await;
            Ok::<_, Interrupted>(())
        });
        let (looked, has_looked) = tokio::sync::oneshot::channel::<()>();
        let (up, is_up) = tokio::sync::oneshot::channel::<()>();
        let stopped = spawn!(async move {
            let _ = up.send(()); // it runs (one cancelled before its first poll never does)
            scope::cancelled().await;
            let _ = has_looked.await;
            Ok::<_, Interrupted>(())
        });
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let blocking = s.spawn_blocking(move |_cx: &scope::Cx| {
            let _ = wait.recv();
            Ok::<_, Interrupted>(())
        });
        let _ = is_up.await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        stopped.cancel("not needed");
        let stopped_id = stopped.info().id();
        // Its own context, made by the handle, is what the tree reads: until its task drops it,
        // it shows as cancelling, with its own cause.
        let during = observe::snapshot();
        let node = during
            .get(stopped_id)
            .unwrap_or_else(|| panic!("in the tree while it winds down: {during}"));
        assert_eq!(node.state(), TaskState::Cancelling, "{during}");
        assert!(
            node.cause().is_some_and(|c| c.contains("not needed")),
            "{during}"
        );
        let _ = looked.send(());
        assert!(stopped.await.is_ok(), "it answered its cancel");
        let tree = scope::scope!(name = "lazy_nested", {
            Ok::<_, Interrupted>(observe::snapshot())
        })
        .await?;
        let _ = go.send(());
        blocking.await?;
        scope::Cx::current().cancel("seen");
        Ok::<_, Interrupted>((tree, stopped_id))
    })
    .await
    .expect("the body's value stands");

    let outer = tree
        .iter()
        .find(|n| n.name() == Some("lazy_outer"))
        .unwrap();
    let nested = tree
        .iter()
        .find(|n| n.name() == Some("lazy_nested"))
        .unwrap();
    assert_eq!(nested.parent(), Some(outer.id()), "{tree}");
    // The idle child, the blocking one and the nested scope; the child cancelled through its
    // handle (its own context, made then) has ended.
    let kids: Vec<_> = tree.children(outer.id()).collect();
    assert_eq!(kids.len(), 3, "{tree}");
    assert!(tree.get(stopped_id).is_none(), "{tree}");
    assert_eq!(
        kids.iter()
            .filter(|n| n.kind() == TaskKind::Spawned)
            .count(),
        1,
        "{tree}"
    );
    assert_eq!(
        kids.iter()
            .filter(|n| n.kind() == TaskKind::Blocking)
            .count(),
        1,
        "{tree}"
    );
}

/// Taking a snapshot only reads: it does not act on what it reads. A scope's deadline is a time
/// on its own runtime's clock (here tokio's paused clock, which has not moved), so a snapshot
/// taken from another thread, whose clock has moved on, must neither fire that deadline nor run
/// the scope's cancel callbacks there.
#[test]
fn a_snapshot_from_another_clock_does_not_fire_a_deadline() {
    let _tracking = observe::track();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let fired_on = std::sync::Arc::new(std::sync::Mutex::new(None));
    let out = rt.block_on(async {
        let s = &scope::Scope::new(
            scope::Config::new()
                .name("tree_paused_deadline")
                .timeout(Duration::from_millis(1)),
        );
        let fired = std::sync::Arc::clone(&fired_on);
        let _watch = s.cx().on_cancel(move |_| {
            *fired.lock().unwrap() = Some(std::thread::current().id());
        });
        s.run(async {
            // Real time passes; the paused clock stays where it is.
            std::thread::sleep(Duration::from_millis(5));
            let tree = std::thread::spawn(observe::snapshot).join().unwrap();
            let me = tree.get(s.info().id()).unwrap();
            assert_eq!(me.state(), TaskState::Running, "{tree}");
            assert_eq!(me.cause(), None);
            assert!(
                !scope::Cx::current().is_cancelled(),
                "the snapshot fired the deadline"
            );
            assert_eq!(*fired_on.lock().unwrap(), None);
            // The deadline fires on the scope's own clock, on the scope's own thread.
            scope::cancelled().await;
            Ok::<_, Interrupted>(std::thread::current().id())
        })
        .await
    });
    let here = out.unwrap();
    assert_eq!(*fired_on.lock().unwrap(), Some(here));
}

#[tokio::test]
async fn a_large_tree_is_shown_in_time_linear_in_its_size() {
    // 20,000 live children of one scope: `get` for each and the whole tree's display take
    // time proportional to the tree (they were quadratic: seconds at this size).
    let _tracking = observe::track();
    let s = &scope::Scope::new(scope::Config::new().name("tree_large"));
    s.run(async {
        for _ in 0..20_000 {
            s.spawn_in_place(std::future::pending::<()>());
        }
        tokio::task::yield_now().await;
        let tree = observe::snapshot();
        assert!(tree.len() > 20_000);
        let start = std::time::Instant::now();
        let shown = tree.to_string();
        let found = tree.iter().filter(|n| tree.get(n.id()).is_some()).count();
        let children = tree.children(s.info().id()).count();
        let took = start.elapsed();
        assert_eq!(shown.lines().count(), tree.len());
        assert_eq!(found, tree.len());
        assert_eq!(children, 20_000);
        assert!(took < Duration::from_secs(2), "took {took:?}");
        s.cancel("done");
        Ok::<_, Interrupted>(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn children_left_in_their_grace_by_a_dropped_scope_keep_their_owner() {
    let _tracking = observe::track();
    let (started, running) = oneshot::channel::<()>();
    let run = Box::pin(async {
        let s = &scope::Scope::new(
            scope::Config::new()
                .name("tree_gone")
                .grace(Duration::from_secs(60)),
        );
        s.run(async {
            s.spawn_named("tree_stubborn_child", async move {
                let _ = started.send(());
                std::future::pending::<()>().await;
            });
            std::future::pending::<Result<(), Interrupted>>().await
        })
        .await
    });
    let dropped = tokio::time::timeout(Duration::from_millis(50), async {
        let mut run = run;
        tokio::select! {
            _ = &mut run => unreachable!("the run never ends on its own"),
            _ = running => {}
        }
        // The scope (its value and its run) goes here; the child is in its grace.
    })
    .await;
    assert!(dropped.is_ok());
    let tree = observe::snapshot();
    let child = tree
        .iter()
        .find(|n| n.name() == Some("tree_stubborn_child"))
        .expect("the child is in its grace");
    let owner = child.owner().and_then(|o| tree.get(o));
    assert_eq!(
        owner.and_then(|o| o.name()),
        Some("tree_gone"),
        "the child's scope is still named: {tree}"
    );
}

/// A service whose first stop was cut short (a `timeout` around it) still shows its end once a
/// later stop finishes the job.
#[tokio::test(start_paused = true)]
async fn a_service_whose_first_stop_was_cut_short_still_ends_in_the_tree() {
    let _tracking = observe::track();
    let svc =
        Service::new(ServiceConfig::new("tree_stop_cut_short").grace(Duration::from_secs(10)));
    let _task = svc.spawn(std::future::pending::<()>()).unwrap(); // ignores its cancel
    tokio::task::yield_now().await;
    assert!(tokio::time::timeout(Duration::from_secs(1), svc.stop())
        .await
        .is_err());
    let _ = svc.stop().await; // finishes the job: the task is aborted
    assert_eq!(svc.active(), 0);
    let tree = observe::snapshot();
    assert_eq!(
        tree.get(svc.info().id()).unwrap().state(),
        TaskState::Finished
    );
}

/// A run refused for its configuration has returned: its scope shows as finished, not as
/// still winding down.
#[tokio::test]
async fn a_scope_whose_run_was_refused_shows_as_finished() {
    let _tracking = observe::track();
    let s = &scope::Scope::new(scope::Config::new().name("tree_refused").limit(0));
    let out = s.run(async { Ok::<_, Interrupted>(()) }).await;
    assert!(matches!(
        out,
        Err(Interrupted::Config(scope::ConfigError::ZeroLimit))
    ));
    let tree = observe::snapshot();
    assert_eq!(
        tree.get(s.info().id()).unwrap().state(),
        TaskState::Finished
    );
}

/// A scope entered in a child's code that outlives the child (the child dropped the scope's
/// run and returned; the scope's own children wind down in their grace) shows, finished,
/// under the nearest node still in the tree: the child's scope (the child has left it); once
/// the last of it has ended, it leaves too (see `TaskNode::parent`). (An abort of the child
/// no longer leaves it so: the work below an aborted child goes with it.)
#[tokio::test(start_paused = true)]
async fn a_scope_entered_in_a_child_that_ended_shows_under_the_nearest_node_left() {
    let _tracking = observe::track();
    let s = &scope::Scope::new(scope::Config::new().name("tree_host_scope"));
    let (started, running) = oneshot::channel::<()>();
    let tree = s
        .run(async {
            let host = s.spawn_named("tree_host", async move {
                let inner = &scope::Scope::new(
                    scope::Config::new()
                        .name("tree_hosted")
                        .grace(Duration::from_secs(60)),
                );
                let run = inner.run(async move {
                    inner.spawn_named("tree_hosted_child", async move {
                        let _ = started.send(());
                        std::future::pending::<()>().await; // ignores its cancel
                    });
                    std::future::pending::<Result<(), Interrupted>>().await
                });
                // The run is dropped once its child runs, and the host returns.
                tokio::select! {
                    _ = run => unreachable!("the hosted scope never returns"),
                    _ = running => Ok::<_, Interrupted>(()),
                }
            });
            host.await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, Interrupted>(observe::snapshot())
        })
        .await
        .unwrap();
    let named = |name: &str| tree.iter().find(|n| n.name() == Some(name)).cloned();
    assert!(named("tree_host").is_none(), "the host has left: {tree}");
    let hosted =
        named("tree_hosted").unwrap_or_else(|| panic!("the hosted scope winds down: {tree}"));
    let child = named("tree_hosted_child")
        .unwrap_or_else(|| panic!("the hosted child is in its grace: {tree}"));
    assert_eq!(hosted.state(), TaskState::Finished, "{tree}");
    assert_eq!(hosted.parent(), Some(s.info().id()), "{tree}");
    assert_eq!(child.parent(), Some(hosted.id()), "{tree}");
    // The run has returned: its grace ran out, and everything below it ended.
    let after = observe::snapshot();
    for id in [hosted.id(), child.id()] {
        assert!(after.get(id).is_none(), "{after}");
    }
}

/// A scope whose run future was forgotten part-way is named in the tree, as finished, for as
/// long as that future's memory holds its state (a leak the tree shows, as the leak check
/// does); the children its value's drop aborted are gone (an outside tester's question,
/// probe165).
#[tokio::test]
async fn a_scope_whose_run_was_forgotten_stays_in_the_tree_as_finished_without_children() {
    let _tracking = observe::track();
    let id = {
        let s = &scope::Scope::<Interrupted>::new(
            scope::Config::new()
                .name("tree_forgotten")
                .grace(Duration::from_millis(5)),
        );
        let mut run = Box::pin(s.run(async {
            let _child = s.spawn(std::future::pending::<()>());
            std::future::pending::<()>().await;
            Ok::<_, Interrupted>(())
        }));
        let _ = tokio::time::timeout(Duration::from_millis(10), &mut run).await;
        let tree = observe::snapshot();
        let me = tree.get(s.info().id()).expect("the scope runs");
        assert_eq!(me.state(), TaskState::Running, "{tree}");
        assert_eq!(tree.children(s.info().id()).count(), 1, "{tree}");
        std::mem::forget(run);
        s.info().id()
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let tree = observe::snapshot();
    let me = tree.get(id).expect("the forgotten run holds the scope");
    assert_eq!(me.state(), TaskState::Finished, "{tree}");
    assert_eq!(tree.children(id).count(), 0, "{tree}");
}
