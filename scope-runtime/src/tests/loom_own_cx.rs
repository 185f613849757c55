//! Loom models of children's own contexts created on demand (`crate::scope::own_cx`): the
//! child and its handle racing to create it, and a context created by the handle reaching the
//! child that looks for it through the registry's epoch.

use loom::thread;

use crate::scope::own_cx::OwnCxs;
use crate::{Cause, Cx, TaskId};

#[test]
fn loom_child_and_handle_racing_to_create_get_one_context() {
    loom::model(|| {
        let registry = std::sync::Arc::new(OwnCxs::default());
        let parent = Cx::root();
        let id = TaskId::next();
        let handle = {
            let (registry, parent) = (registry.clone(), parent.clone());
            thread::spawn(move || registry.get_or_create(id, &parent, true))
        };
        let by_child = registry.get_or_create(id, &parent, false);
        let by_handle = handle.join().unwrap();
        assert!(by_child.same_as(&by_handle));
        assert!(!by_child.same_as(&parent));
    });
}

#[test]
fn loom_a_context_created_and_cancelled_by_the_handle_reaches_the_child() {
    loom::model(|| {
        let registry = std::sync::Arc::new(OwnCxs::default());
        let parent = Cx::root();
        let id = TaskId::next();
        let seen = registry.epoch();
        let handle = {
            let (registry, parent) = (registry.clone(), parent.clone());
            thread::spawn(move || {
                let own = registry.get_or_create(id, &parent, true);
                own.cancel("only this child");
                own // kept alive, as the handle keeps it
            })
        };
        // The child's poll: it looks only when the epoch moved.
        let adopted = (registry.epoch() != seen)
            .then(|| registry.find(id))
            .flatten();
        let own = handle.join().unwrap();
        if let Some(found) = adopted {
            // Whoever it found is the handle's context.
            assert!(found.same_as(&own));
        } else {
            // Not yet: a later poll finds it, since the epoch moved for good.
            assert_ne!(registry.epoch(), seen);
            let found = registry
                .find(id)
                .expect("the handle's context is registered");
            assert!(found.same_as(&own));
            assert_eq!(found.cause(), Some(Cause::explicit("only this child")));
        }
    });
}
