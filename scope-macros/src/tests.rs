//! Unit tests of the expansions, on `proc_macro2` tokens, and the no-panic property test.

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::quote;

use crate::ast::SpawnKind;
use crate::{entry, expand};

fn norm(ts: &TokenStream) -> String {
    ts.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn scope_expansion_shape() {
    let out = norm(&expand::scope(quote!(limit = 2, {
        let a = spawn!(work());
        a.await
    })));
    assert!(out.contains(
        "async { '__scope_end : { let scope = :: scope :: __private :: Scope :: new (:: scope :: __private :: Config :: new () . limit (2usize)) ; let __scope = & scope ;"
    ), "{out}");
    assert!(out.contains("spawn ! (@ scope __scope , work ())"), "{out}");
    assert!(out.contains("__scope . run (async {"), "{out}");
}

#[test]
fn scoped_expansion_shape() {
    let out = norm(&expand::scoped(
        quote!(policy = supervise, timeout = 250ms, slots(ID = id)),
        quote!(
            async fn f(id: String) -> Result<(), Failures<E>> {
                spawn_in_place!(name = "x", g());
                Ok(())
            }
        ),
    ));
    assert!(out.contains(". name (\"f\")"), "{out}");
    assert!(
        !out.contains("policy"),
        "the method alone chooses the policy: {out}"
    );
    assert!(
        out.contains(". timeout (:: scope :: __private :: Duration :: from_millis (250u64))"),
        "{out}"
    );
    assert!(out.contains(". bind (& ID , id)"), "{out}");
    assert!(out.contains("__scope . run_all (async {"), "{out}");
    assert!(
        out.contains("spawn_in_place ! (@ scope __scope , name = \"x\" , g ())"),
        "{out}"
    );
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn bound_spawn_expands_to_method_calls() {
    let scope = crate::rewrite::scope_ident();
    let out = norm(&expand::spawn(SpawnKind::Spawn, quote!(@scope #scope, fut)));
    assert_eq!(out, "(__scope) . spawn (fut)");
    let out = norm(&expand::spawn(
        SpawnKind::InPlace,
        quote!(@scope #scope, name = "n", fut),
    ));
    assert_eq!(out, "(__scope) . spawn_in_place_named (\"n\" , fut)");
    let out = norm(&expand::spawn(
        SpawnKind::TrySpawn,
        quote!(@scope #scope, fut),
    ));
    assert_eq!(out, "(__scope) . try_spawn (fut)");
    let out = norm(&expand::spawn(
        SpawnKind::TrySpawn,
        quote!(@scope #scope, name = "n", fut),
    ));
    assert!(out.contains("takes no name"), "{out}");
    let out = norm(&expand::spawn(SpawnKind::Spawn, quote!(fut)));
    assert!(out.starts_with(":: core :: compile_error !"), "{out}");
}

#[test]
fn rewrite_stops_at_nested_scope_and_items() {
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> R {
                let inner = scope!({ spawn!(a()) });
                fn helper() {
                    spawn!(b());
                }
                Ok(())
            }
        ),
    ));
    // The nested scope keeps its body (it rewrites its own; linted here) and gets the outer
    // proof.
    assert!(
        out.contains("scope ! (@ outer __provided ; @ linted [] { spawn ! (a ()) })"),
        "{out}"
    );
    assert!(out.contains("fn helper () { spawn ! (b ()) ; }"), "{out}");
}

#[test]
fn rewrite_reaches_other_macros() {
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> R {
                let v = vec![spawn!(a()), spawn!(b())];
                tokio::select! { x = spawn!(c()) => {} }
                Ok(())
            }
        ),
    ));
    assert!(
        out.contains("vec ! [spawn ! (@ scope __scope , a ())"),
        "{out}"
    );
    assert!(
        out.contains("x = spawn ! (@ scope __scope , c ())"),
        "{out}"
    );
}

#[test]
fn lint_finds_orphans_and_respects_the_opt_out() {
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> R {
                tokio::spawn(a());
                #[scope::allow_orphan]
                tokio::spawn(b());
                tokio::select! { _ = c() => { std::thread::spawn(|| ()); } }
                Ok(())
            }
        ),
    ));
    assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    assert!(!out.contains("# [scope :: allow_orphan]"), "{out}");
}

/// The number of orphan errors the expansion of `#[scoped]` on `f` carries.
fn orphans_in(f: TokenStream) -> usize {
    let out = norm(&expand::scoped(quote!(), f));
    out.matches("starts a task that this scope does not own")
        .count()
}

#[test]
fn a_name_a_pattern_binds_in_a_closure_or_a_loop_shadows_the_parameter() {
    // Each binds `set` (or `h`) to a value of the user's own type: not the parameter (an
    // outside tester's report: each was flagged as spawning on the outer set).
    let forms = [
        quote!(vec![(1, Pool)].into_iter().for_each(|(_, mut set)| set.spawn(1));),
        quote!(for (i, mut set) in vec![(1, Pool)] {
            set.spawn(i);
        }),
        quote!(vec![W { set: Pool }].into_iter().for_each(|W { mut set }: W| set.spawn(1));),
        quote!(let f = async |(_, mut set): (u8, Pool)| set.spawn(1);),
        quote!(let mut v = vec![Pool]; v.iter_mut().for_each(|set| set.spawn(1));),
        quote!(vec![(1, H)].into_iter().for_each(|(_, h)| h.spawn(1));),
        // A `select!` branch's pattern binds names in its block only.
        quote!(tokio::select! { (_, mut set) = pair() => { set.spawn(1); } }),
        quote!(tokio::select! { biased; Some(h) = next(), if ready => { h.spawn(1); } else => {} }),
        quote!(let n = tokio::select! { W { set, .. } = w() => { set.spawn(1); 1 }, _ = t() => 0 };),
        quote!(futures::select_biased! { (_, set) = pair() => { set.spawn(1); } default => {} }),
        quote!(tokio::select! { Ok(set) | Err(set) = pair() => { set.spawn(1); } }),
        // A block body with no `,` before a branch whose pattern starts with `(`.
        quote!(tokio::select! { _ = t() => { 0 } (mut set, _) = pair() => { set.spawn(1); 1 } }),
        // With a struct literal in another branch's future.
        quote!(tokio::select! { set = t() => { set.spawn(1); } v = Ready { v: 2 } => {} }),
        // A body that is not a block, read as an expression.
        quote!(tokio::select! { Ok(set) | Err(set) = pair() => set.spawn(1), _ = t() => 0 }),
    ];
    for form in forms {
        let n = orphans_in(quote!(
            async fn f(set: &mut JoinSet<()>, h: Handle) -> R {
                #form
                Ok(())
            }
        ));
        assert_eq!(n, 0, "{form}");
    }
    // The parameter itself, in a closure or a loop, still is; and so is an element of a
    // collection parameter taken apart from its index (a review's finding: the shadowing
    // above hid these, which were caught only as the outer `set`).
    for form in [
        quote!(vec![1].into_iter().for_each(|i| { set.spawn(a(i)); });),
        quote!(for i in 0..2 {
            h.spawn(a(i));
        }),
        quote!(for (i, set) in sets.iter_mut().enumerate() {
            set.spawn(a(i));
        }),
        quote!(sets.iter_mut().enumerate().for_each(|(i, set)| { set.spawn(a(i)); });),
        quote!(for (i, h) in rts.iter().enumerate() {
            h.spawn(a(i));
        }),
        quote!(sets.iter_mut().for_each(|s: &mut JoinSet<()>| { s.spawn(a(1)); });),
        // In a `select!`: a branch whose pattern binds other names, a branch after one that
        // binds the name, and `else`.
        quote!(tokio::select! { x = next() => { set.spawn(a(x)); } }),
        quote!(
            tokio::select! { (_, set) = pair() => { drop(set); } _ = t() => { set.spawn(a(1)); } }
        ),
        quote!(tokio::select! { Some(h) = next() => { drop(h); } else => { h.spawn(a(1)); } }),
        quote!(futures::select! { h = next() => { drop(h); } complete => { h.spawn(a(1)); } }),
        // After a branch whose body is not a block, the parameter again (an outside tester's
        // report: the branch's names were hidden for the rest of the block); a spawn in such
        // a body, on the parameter (it was read as tokens, and not seen).
        quote!(let n = tokio::select! { x = pair() => x.len(), _ = t() => 0 }; set.spawn(a(n));),
        quote!(let n = tokio::select! { (_, set) = pair() => set.len(), _ = t() => 0 };
            set.spawn(a(n));),
        quote!(tokio::select! { _ = t() => set.spawn(a(1)), }),
        quote!(tokio::select! { _ = t() => {} (_a, _b) = pair() => drop(set.spawn(a(1))), }),
        // A task started as a branch's future (it outlives the scope when another wins).
        quote!(let n = tokio::select! { r = h.spawn(a(1)) => 1, _ = t() => 0 };),
        quote!(let n = tokio::select! { r = t(), if h.spawn(a(1)).is_finished() => 1, else => 0 };),
        // A struct literal in a future or a guard (the whole select! was read as tokens).
        quote!(let n = tokio::select! { _ = W { j: h.spawn(a(1)) }.j => 1, else => 0 };),
        quote!(let n = tokio::select! { _ = h.spawn(a(1)) => 1, _ = t(), if x == W { j: 1 }.j => 0 };),
        // A macro of the crate's own named `select`, under its module's path: not tokio's.
        quote!(my::select! { set = pair() => { set.spawn(a(1)); } }),
    ] {
        let n = orphans_in(quote!(
            async fn f(
                set: &mut JoinSet<()>,
                h: Handle,
                sets: &mut [JoinSet<()>],
                rts: Vec<Handle>,
            ) -> R {
                #form
                Ok(())
            }
        ));
        assert_eq!(n, 1, "{form}");
    }
}

/// The expansion of `#[scoped(opts)]` on `async fn f() -> Result<u32, E>` with `body`.
fn body_of_f(opts: TokenStream, body: &TokenStream) -> String {
    norm(&expand::scoped(
        opts,
        quote!(async fn f() -> Result<u32, E> #body),
    ))
}

/// The expansion of a `#[scoped]` fn `f` whose second child runs `child`, with `a` bound to
/// the first child's handle.
fn child_after_a(child: &TokenStream) -> String {
    body_of_f(
        TokenStream::new(),
        &quote!({
            let a = spawn!(x());
            spawn!(async move { #child; Ok(()) });
            Ok(1)
        }),
    )
}

/// The number of errors the expansion of `#[scoped(handle = s)]` on `f` carries that say a
/// child uses the scope's handle, or a reference.
fn handle_uses_in(f: TokenStream) -> usize {
    let out = norm(&expand::scoped(quote!(handle = s), f));
    out.matches("the handle of the scope it is a child of")
        .count()
        + out.matches("a reference, but a child").count()
}

#[test]
fn the_handle_under_another_name_is_the_handle_where_that_name_holds_it() {
    // Each child uses the handle under another name: told so (rustc says E0716 at the
    // attribute, naming neither).
    // The reference parameter after a branch that bound its name, to that branch's `,`.
    let n = handle_uses_in(quote!(
        async fn f(db: &String, rx: Receiver<String>) -> R {
            let n = tokio::select! {
                Some(db) = rx.recv() => spawn!(async move { Ok::<usize, Interrupted>(db.len()) }),
                else => spawn!(async move { Ok::<usize, Interrupted>(db.len()) }),
            };
            Ok(())
        }
    ));
    assert_eq!(n, 1);
    for form in [
        quote!(let outer = s; let again = &outer;),
        quote!(let again: &_ = s;),
        quote!(let again = (s);),
        quote!(let again = &*s;),
        quote!(let again = s.clone();),
        quote!(let (again, n) = (s, 1);),
        quote!(let again = if ready { s } else { &s };),
    ] {
        let n = handle_uses_in(quote!(
            async fn f() -> R {
                #form
                let _ = spawn_in_place!(async { Ok::<bool, Interrupted>(again.is_closed()) });
                Ok(())
            }
        ));
        assert_eq!(n, 1, "{form}");
    }
    // Where the name holds something else, it is not the handle (an outside tester's report:
    // each of these valid programs was refused).
    for body in [
        // A `select!` branch's pattern, a `let` in a branch's block, a `let` in a `join!`'s
        // block: bindings inside another macro's tokens.
        quote!(let again = s; tokio::select! { Some(again) = rx.recv() => {
            let c = spawn!(async move { Ok::<usize, Interrupted>(again.len()) }); } else => {} }),
        quote!(let again = s; tokio::select! { Some(x) = rx.recv() => { let again = x;
            let c = spawn!(async move { Ok::<usize, Interrupted>(again.len()) }); } else => {} }),
        quote!(let again = s; let (a, _) = tokio::join!(async { let again = String::new();
            spawn!(async move { Ok::<usize, Interrupted>(again.len()) }).await }, async { 1 });),
        // Out of the block that made the alias: the parameter, or a fn of that name.
        quote!({ let again = s; } let c = spawn!(async move { Ok::<usize, Interrupted>(again.len()) });),
        quote!({ let again = s; } let c = spawn!(async move { Ok::<usize, Interrupted>(outer()) });),
        // A closure's parameter in a branch's body that is not a block.
        quote!(let again = s; tokio::select! { _ = t() => items.into_iter().for_each(|again| {
            let _ = spawn!(async move { Ok::<u8, Interrupted>(again) }); }), }),
        // A `let` of a value the handle gave, not the handle.
        quote!(let again = s.is_closed(); let c = spawn!(async move { Ok::<bool, Interrupted>(again) });),
        // The handle's own name bound by a branch's pattern; a reference parameter's too.
        quote!(tokio::select! { Some(s) = rx.recv() => {
        let c = spawn!(async move { Ok::<usize, Interrupted>(s.len()) }); } else => {} }),
        quote!(tokio::select! { Some(db) = rx.recv() => {
        let c = spawn!(async move { Ok::<usize, Interrupted>(db.len()) }); } else => {} }),
        // A branch whose body is not a block: to its `,`.
        quote!(let n = tokio::select! {
            Some(db) = rx.recv() => spawn!(async move { Ok::<usize, Interrupted>(db.len()) }),
            else => spawn!(async move { Ok::<usize, Interrupted>(0) }),
        };),
    ] {
        let n = handle_uses_in(quote!(
            async fn f(again: String, db: &String, rx: Receiver<String>) -> R {
                #body
                Ok(())
            }
        ));
        assert_eq!(n, 0, "{body}");
    }
}

#[test]
fn a_set_or_a_handle_in_a_map_parameter_is_from_outside() {
    // Per-key task groups handed in (an outside tester's report: none was flagged).
    for form in [
        quote!(sets.entry(1).or_default().spawn(a());),
        quote!(if let Some(s) = sets.get_mut(&1) {
            s.spawn(a());
        }),
        quote!(rts[&1].spawn(a());),
        quote!(rts.get(&1).unwrap().spawn(a());),
        quote!(for s in sets.values_mut() {
            s.spawn(a());
        }),
        quote!(rts.values().for_each(|h| { h.spawn(a()); });),
    ] {
        let n = orphans_in(quote!(
            async fn f(
                sets: &mut HashMap<u32, JoinSet<()>>,
                rts: &BTreeMap<u32, tokio::runtime::Handle>,
            ) -> R {
                #form
                Ok(())
            }
        ));
        assert_eq!(n, 1, "{form}");
    }
    // The map's own methods spawn nothing.
    let n = orphans_in(quote!(
        async fn f(sets: &mut HashMap<u32, JoinSet<()>>) -> R {
            sets.insert(1, JoinSet::new());
            let n = sets.len();
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn the_arguments_of_a_macro_that_never_runs_them_are_not_code() {
    // `stringify!` makes a string, `concat!` and `cfg!` read tokens: no task starts there (an
    // outside tester's report: each was flagged as an orphan).
    let n = orphans_in(quote!(
        async fn f() -> R {
            let s = stringify!(tokio::spawn(async {}));
            let t = concat!("tokio::spawn", stringify!(std::thread::spawn(|| ())));
            let c = core::stringify! { let mut set = JoinSet::new(); set.spawn(a()); };
            println!("{}", stringify!(Handle::current().spawn(a())));
            Ok(())
        }
    ));
    assert_eq!(n, 0);
    // A look-alike of the user's own keeps being read as code, one named like a standard
    // one in a module of its own too (a review's finding: the name alone hid it).
    let n = orphans_in(quote!(
        async fn f() -> R {
            my_macro!(tokio::spawn(async {}));
            println!("{:?}", tokio::spawn(async {}));
            m::stringify!(tokio::spawn(async {}));
            crate::m::env!(tokio::spawn(async {}));
            let s = std::stringify!(tokio::spawn(async {}));
            Ok(())
        }
    ));
    assert_eq!(n, 4);
}

#[test]
fn a_handle_bound_from_a_match_or_an_if_is_still_a_handle() {
    // The handle taken out in a `let` (the usual idiom), as the lint already reads it inside
    // the arm.
    let n = orphans_in(quote!(
        async fn f() -> R {
            let rt = match Handle::try_current() {
                Ok(rt) => rt,
                Err(_) => return Ok(()),
            };
            rt.spawn(a());
            let h = if let Ok(h) = Handle::try_current() {
                h
            } else {
                return Ok(());
            };
            h.spawn(b());
            let t = if reuse {
                Handle::current()
            } else {
                return Ok(());
            };
            t.spawn(c());
            let u = match pick {
                0 => Handle::current(),
                _ => unreachable!(),
            };
            u.spawn(d());
            Ok(())
        }
    ));
    assert_eq!(n, 4);
}

#[test]
fn a_handle_copied_or_wrapped_where_it_is_spawned_on_is_still_a_handle() {
    // `probe220`: a copy or a wrapper written inline as the receiver, or a copy in path form
    // bound by a `let`, let each task outlive the scope unflagged.
    let n = orphans_in(quote!(
        async fn f(h: Handle) -> R {
            let a = Arc::new(Handle::current());
            Arc::clone(&a).spawn(x());
            let h2 = Handle::clone(&h);
            h2.spawn(x());
            Clone::clone(&h).spawn(x());
            Some(Handle::current()).unwrap().spawn(x());
            let h3 = ToOwned::to_owned(&h);
            h3.spawn(x());
            let h4 = Arc::from(h.clone());
            h4.spawn(x());
            Some(h.clone()).unwrap().spawn(x());
            Some(&h).cloned().unwrap().spawn(x());
            Rc::clone(&Rc::new(Handle::current())).spawn(y());
            Ok(())
        }
    ));
    assert_eq!(n, 9);
    // Through `Box` and `Option` too (`probe224`: lost when the rule was narrowed).
    let n = orphans_in(quote!(
        async fn f(b: Box<Handle>, o: Option<Handle>) -> R {
            Box::clone(&b).spawn(x());
            let c = Box::clone(&b);
            c.spawn(x());
            Option::clone(&o).unwrap().spawn(x());
            Ok(())
        }
    ));
    assert_eq!(n, 3);
    // What a wrapper's content is made into, or a value of the user's, is not a handle.
    let n = orphans_in(quote!(
        async fn f(h: Handle, pool: Pool) -> R {
            Some(h.clone()).map(Exec::new).unwrap().spawn(x());
            Arc::clone(&Arc::new(pool)).spawn(x());
            Pool::clone(&pool).spawn(x());
            Some(Vec::clone(&vec![h])).unwrap().spawn(x());
            // A fn of the user's named `clone` makes what it makes (`probe223`: flagged).
            let p = Pool::clone(&h);
            p.spawn(x());
            Pool::to_owned(&h).spawn(x());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
    // An `if` or a `match` written as the receiver is read as its branches (`probe223`).
    let n = orphans_in(quote!(
        async fn f(h: Handle, b: bool) -> R {
            if b {
                Handle::current()
            } else {
                Handle::current()
            }
            .spawn(x());
            match b {
                true => h.clone(),
                false => Handle::current(),
            }
            .spawn(x());
            (if b { Pool } else { Pool }).spawn(x());
            Ok(())
        }
    ));
    assert_eq!(n, 2);
}

#[test]
fn a_typed_parameter_taken_apart_as_a_tuple_is_read_by_its_elements() {
    // `probe220`: `(h, _n): (Handle, u32)`, in the fn, a closure or a fn of the body, was not
    // read as a handle.
    let n = orphans_in(quote!(
        async fn f((h, _n): (Handle, u32), (.., j): &(u8, u8, Handle)) -> R {
            h.spawn(x());
            j.spawn(x());
            let go = |(k, _m): (Handle, u8)| {
                k.spawn(x());
            };
            fn run((_, (rt, _)): (u8, (Runtime, u8))) {
                rt.spawn(x());
            }
            Ok(())
        }
    ));
    assert_eq!(n, 4);
    // An element of the user's type, or a pattern that does not fit its tuple, is not one.
    let n = orphans_in(quote!(
        async fn f((h, _n): (Pool, Handle), (a, b): Pair) -> R {
            h.spawn(x());
            a.spawn(x());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_handle_behind_a_cow_or_a_deref_bound_is_still_a_handle() {
    // `probe220`: `h: Cow<'static, Handle>` and `h: impl Deref<Target = Handle>` were not
    // followed.
    let n = orphans_in(quote!(
        async fn f<D: AsRef<Runtime>>(
            a: Cow<'static, Handle>,
            b: impl Deref<Target = Handle>,
            c: &dyn Borrow<Handle>,
            d: D,
            e: ManuallyDrop<Handle>,
        ) -> R {
            a.spawn(x());
            b.spawn(x());
            c.borrow().spawn(x());
            d.as_ref().spawn(x());
            e.spawn(x());
            Ok(())
        }
    ));
    assert_eq!(n, 5);
    // A `Deref` to something of the user's is not a handle.
    let n = orphans_in(quote!(
        async fn f(b: impl Deref<Target = Pool>, c: impl AsRef<str>) -> R {
            b.spawn(x());
            c.spawn(x());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_method_of_an_impl_for_a_handle_declared_in_the_body_spawns_on_self() {
    // `probe220`: `impl Fire for Handle { fn fire(&self) { self.spawn(..) } }` in the body
    // was not flagged. A set's `self` is read as a body fn's set parameter is (a documented
    // limit); another type's `self` is not a handle.
    let n = orphans_in(quote!(
        async fn f() -> R {
            trait Fire {
                fn fire(&self);
            }
            impl Fire for tokio::runtime::Handle {
                fn fire(&self) {
                    self.spawn(x());
                }
            }
            impl Fire for Pool {
                fn fire(&self) {
                    self.spawn(x());
                }
            }
            impl Fire for JoinSet<()> {
                fn fire(&self) {
                    self.spawn(x());
                }
            }
            Handle::current().fire();
            Ok(())
        }
    ));
    assert_eq!(n, 1);
}

#[test]
fn a_handle_bound_from_an_if_with_a_let_chain_or_a_tuple_with_a_rest_is_still_a_handle() {
    // (An outside tester's finds: a let chain in the `if`, a `..` in the tuple, each let the
    // task outlive the scope.)
    let n = orphans_in(quote!(
        async fn f(c: bool, outer: &mut Option<JoinSet<()>>) -> R {
            let h = if let Ok(h) = Handle::try_current() && c {
                h
            } else {
                return Ok(());
            };
            h.spawn(a());
            let k = if c && let Ok(k) = Handle::try_current() && let Some(_) = other {
                k
            } else {
                return Ok(());
            };
            k.spawn(b());
            let s = if let Some(s) = outer.as_mut() && c {
                s
            } else {
                return Ok(());
            };
            s.spawn(c());
            let (t, ..) = (Handle::current(), 1, 2);
            t.spawn(d());
            let (.., u) = (1, 2, Handle::current());
            u.spawn(e());
            let (_, v, ..) = (1, Handle::current(), 2, 3);
            v.spawn(g());
            Ok(())
        }
    ));
    assert_eq!(n, 6);
    // A name of the chain that is not the handle, and a later let of the chain that binds
    // the name again, are not the handle.
    let n = orphans_in(quote!(
        async fn f(c: bool) -> R {
            let h = if let Ok(h) = Handle::try_current() && let Some(h) = pick(c) {
                h
            } else {
                return Ok(());
            };
            h.spawn(a());
            let (n, ..) = (1, Handle::current(), 2);
            n.spawn(b());
            // A later let of the chain reads the names the earlier ones bind, not the ones
            // outside the `if`.
            let rt = Handle::current();
            let p = if let Some(rt) = Some(Pool) && let Some(q) = Some(rt) && c {
                q
            } else {
                return Ok(());
            };
            p.spawn(c());
            // A block that binds the name again (a scrutinee of the chain, a branch) gives its
            // own value, not the chain's (a reviewer's finds: refused as an orphan).
            let q = if let Ok(rt) = Handle::try_current() && let Some(k) = { let rt = Pool; Some(rt) } && c {
                drop(rt);
                k
            } else {
                return Ok(());
            };
            q.spawn(d());
            let r = if let Ok(rt) = Handle::try_current() && c {
                drop(rt);
                let rt = Pool;
                rt
            } else {
                return Ok(());
            };
            r.spawn(e());
            let t = match Handle::try_current() {
                Ok(rt) => {
                    drop(rt);
                    let rt = Pool;
                    rt
                }
                Err(_) => return Ok(()),
            };
            t.spawn(g());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_handle_taken_out_through_a_let_chain_or_a_branchs_own_let_is_still_a_handle() {
    // A handle a chain's earlier `let` takes out, and one a branch's own `let` takes again.
    let n = orphans_in(quote!(
        async fn f(c: bool) -> R {
            let h = if let Ok(rt) = Handle::try_current() && let Some(k) = Some(rt) && c {
                k
            } else {
                return Ok(());
            };
            h.spawn(a());
            let j = if let Ok(rt) = Handle::try_current() && c {
                let rt = rt.clone();
                rt
            } else {
                return Ok(());
            };
            j.spawn(b());
            let k = match Handle::try_current() {
                Ok(rt) => {
                    let rt = Handle::current();
                    rt
                }
                Err(_) => return Ok(()),
            };
            k.spawn(c());
            // Through the branch's statements before that `let` too.
            let m = if let Ok(rt) = Handle::try_current() && c {
                drop(rt);
                let a = Handle::current();
                let rt = a;
                rt
            } else {
                return Ok(());
            };
            m.spawn(d());
            Ok(())
        }
    ));
    assert_eq!(n, 4);
    // ... and a value the branch makes there that is not a handle is not one.
    let n = orphans_in(quote!(
        async fn f(c: bool) -> R {
            let m = if let Ok(rt) = Handle::try_current() && c {
                let a = Pool;
                let rt = a;
                rt
            } else {
                return Ok(());
            };
            m.spawn(d());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_handle_a_branch_binds_again_another_way_is_still_a_handle() {
    // (A reviewer's finds: a branch's block that binds the pattern's name again with a
    // pattern, a `let else`, a subpattern or in a block of its own was read as no handle.)
    let n = orphans_in(quote!(
        async fn f(c: bool) -> R {
            let a = match Handle::try_current() {
                Ok(rt) => {
                    let (rt, _) = (rt, 1);
                    rt
                }
                Err(_) => return Ok(()),
            };
            a.spawn(a());
            let b = if let Ok(rt) = Handle::try_current() {
                let (rt, _) = (rt, 1);
                rt
            } else {
                return Ok(());
            };
            b.spawn(b());
            let d = match Handle::try_current() {
                Ok(rt) => {
                    let Some(rt) = Some(rt) else { return Ok(()) };
                    rt
                }
                Err(_) => return Ok(()),
            };
            d.spawn(d());
            let e = match Handle::try_current() {
                Ok(rt) => {
                    let rt @ _ = rt;
                    rt
                }
                Err(_) => return Ok(()),
            };
            e.spawn(e());
            let g = match Handle::try_current() {
                Ok(rt) => {
                    {
                        let rt = rt;
                        rt
                    }
                }
                Err(_) => return Ok(()),
            };
            g.spawn(g());
            let h = match Handle::try_current() {
                Ok(rt) if let true = c => {
                    let (rt, _) = (rt, 1);
                    rt
                }
                _ => return Ok(()),
            };
            h.spawn(h());
            let i = if let Ok(rt) = Handle::try_current() && let Some(h) = { let (rt, _) = (rt, 1); Some(rt) } {
                h
            } else {
                return Ok(());
            };
            i.spawn(i());
            Ok(())
        }
    ));
    assert_eq!(n, 7);
}

#[test]
fn a_handle_a_blocks_own_let_gives_is_still_a_handle() {
    // (A reviewer's finds: the block's value read as a name of the body, which it is not.)
    let n = orphans_in(quote!(
        async fn f(c: bool) -> R {
            let a = {
                let b = Handle::current();
                b
            };
            a.spawn(a());
            let d = if c {
                return Ok(());
            } else {
                let rt = Handle::current();
                rt
            };
            d.spawn(b());
            if let Some(h) = {
                let a = Handle::current();
                Some(a)
            } {
                h.spawn(c());
            }
            Ok(())
        }
    ));
    assert_eq!(n, 3);
}

#[test]
fn a_handle_bound_by_a_match_arms_let_guard_is_still_a_handle() {
    // (A reviewer's finds: the guard's lets were not read, so the first was missed and the
    // others read the name as the one outside the `match`.)
    let n = orphans_in(quote!(
        async fn f(c: bool) -> R {
            let h = match c {
                true if let Ok(rt) = Handle::try_current() => rt,
                _ => return Ok(()),
            };
            h.spawn(a());
            let k = match Handle::try_current() {
                Ok(rt)
                    if let Some(k) = Some(rt)
                        && c =>
                {
                    k
                }
                _ => return Ok(()),
            };
            k.spawn(b());
            Ok(())
        }
    ));
    assert_eq!(n, 2);
    let n = orphans_in(quote!(
        async fn f(c: bool) -> R {
            let rt = Handle::current();
            let p = match c {
                true if let Some(rt) = Some(Pool) => rt,
                _ => return Ok(()),
            };
            p.spawn(a());
            let q = match Handle::try_current() {
                Ok(rt) if let Some(rt) = Some(Pool) => rt,
                _ => return Ok(()),
            };
            q.spawn(b());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_handle_yielded_by_an_awaited_block_or_a_called_closure_is_still_a_handle() {
    let n = orphans_in(quote!(
        async fn f() -> R {
            let h = async { Handle::current() }.await;
            h.spawn(a());
            async move { Handle::current() }.await.spawn(b());
            let g = (|| Handle::current())();
            g.spawn(c());
            (move || Handle::current())().spawn(d());
            Ok(())
        }
    ));
    assert_eq!(n, 4);
}

#[test]
fn a_handle_wrapped_at_the_end_of_a_chain_or_yielded_by_a_labeled_block_is_still_a_handle() {
    let n = orphans_in(quote!(
        async fn f() -> R {
            if let Some(h) = async { Some(Handle::current()) }.await {
                h.spawn(a());
            }
            let Some(g) = async { Some(Handle::current()) }.await else {
                return Ok(());
            };
            g.spawn(b());
            let u = Some(Handle::current()).unwrap();
            u.spawn(c());
            let l = 'a: {
                break 'a Handle::current();
            };
            l.spawn(d());
            let t = 'b: {
                if go {
                    break 'b Handle::current();
                }
                Handle::current()
            };
            t.spawn(e());
            Ok(())
        }
    ));
    assert_eq!(n, 5);
}

#[test]
fn elements_and_values_followed_through_map_are_still_spawners() {
    // The second review of the wrapper rule (probe144): cutting every chain at a `map` let
    // these through, which the lint caught before.
    let n = orphans_in(quote!(
        async fn f(rts: &[Handle], given: Option<Handle>) -> R {
            rts.iter().map(|h| h.clone()).for_each(|h| {
                h.spawn(a());
            });
            for h in rts.iter().map(|h| h.clone()) {
                h.spawn(b());
            }
            rts.iter().map(|h| h.clone()).next().unwrap().spawn(c());
            let rt = Runtime::new().map(Arc::new).unwrap();
            rt.spawn(d());
            let h = given.map_or_else(Handle::current, |h| h);
            h.spawn(e());
            Ok(())
        }
    ));
    assert_eq!(n, 5);
}

#[test]
fn a_labeled_block_or_a_wrapper_of_something_else_is_not_a_handle() {
    let n = orphans_in(quote!(
        async fn f() -> R {
            // What `map` makes of a handle is a value of its own (probe143), in a block too,
            // and so is what its kin make (probe145).
            let ex = Some(Handle::current()).map(Exec::new).unwrap();
            ex.spawn(c());
            let e1 = async { Some(Handle::current()).map(Exec::new) }
                .await
                .unwrap();
            e1.spawn(f());
            let e2 = { Some(Handle::current()).map(Exec::new) }.unwrap();
            e2.spawn(g());
            let e3 = Some(Handle::current())
                .into_iter()
                .find_map(|h| Some(Exec::new(h)))
                .unwrap();
            e3.spawn(h());
            let e4 = Some(Handle::current()).and(Some(Exec::default())).unwrap();
            e4.spawn(i());
            let ez = async { Some(Handle::current()) }
                .await
                .map(|_| pool())
                .unwrap();
            ez.spawn(e());
            let l = 'a: {
                let _rt = Handle::current();
                break 'a make();
            };
            l.spawn(a());
            let w = Some(pool()).unwrap();
            w.spawn(b());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_value_from_a_match_or_an_if_that_is_not_a_spawner_is_not_flagged() {
    // An arm's name that the pattern does not bind whole, or an outer name an arm's pattern
    // hides, is not taken for the scrutinee's handle.
    let n = orphans_in(quote!(
        async fn f() -> R {
            let rt = Handle::current();
            let pool = match make() {
                Ok(rt) => rt,
                Err(_) => return Ok(()),
            };
            pool.spawn(a());
            let n = match Handle::try_current() {
                Ok(_) => count,
                Err(_) => 0,
            };
            n.spawn(b());
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_set_taken_by_value_into_a_kept_closure_without_move_leaves_with_it() {
    let n = orphans_in(quote!(
        async fn start(&mut self) -> R {
            let mut workers = JoinSet::new();
            workers.spawn(a());
            self.stop = Some(Box::new(|| drop(workers)));
            let mut more = JoinSet::new();
            more.spawn(b());
            self.take = Some(Box::new(|| more));
            let mut last = JoinSet::new();
            last.spawn(c());
            self.later = Some(Box::pin(async { finish(last).await }));
            Ok(())
        }
    ));
    assert_eq!(n, 3);
}

#[test]
fn a_set_consumed_by_a_let_bound_closure_called_in_the_body_stays() {
    let n = orphans_in(quote!(
        async fn start(&mut self) -> R {
            let mut workers = JoinSet::new();
            workers.spawn(a());
            let stop = || workers.join_all();
            stop().await;
            let mut more = JoinSet::new();
            more.spawn(b());
            let drain = async || {
                let _ = more.join_all().await;
            };
            drain().await;
            // Handed to a runner that calls it, kept in a struct or an array and called
            // (probe145: refused while such a closure held the set).
            let mut last = JoinSet::new();
            last.spawn(c());
            let all = || last.join_all();
            let v = Runner.run(all).await;
            let mut more = JoinSet::new();
            more.spawn(d());
            let each = || more.join_all();
            let job = Job { run: each };
            (job.run)().await;
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_set_a_closure_only_borrows_or_the_body_drops_stays() {
    let n = orphans_in(quote!(
        async fn start(&mut self) -> R {
            let mut workers = JoinSet::new();
            workers.spawn(a());
            let count = || workers.len();
            let _ = count();
            let stop = || drop(workers);
            stop();
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_set_in_a_let_bound_block_without_move_or_a_closures_own_parameter_stays() {
    // A block without `move` bound by a `let` and handed to a list drained in the body, and a
    // kept callback whose parameter has the body's set's name: the body's set stays.
    let n = orphans_in(quote!(
        async fn start(&mut self) -> R {
            let mut workers = JoinSet::new();
            workers.spawn(a());
            let d = async { drain(workers).await };
            pending.push(d);
            while let Some(x) = pending.pop() {
                x.await;
            }
            let mut set = JoinSet::new();
            set.spawn(b());
            self.on_done = Some(Box::new(|set: JoinSet<()>| finish(set)));
            set.join_all().await;
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_set_made_in_a_branch_of_a_let_is_followed_out_of_the_body() {
    let n = orphans_in(quote!(
        async fn start(&mut self) -> R {
            let mut t = match self.tasks.take() {
                Some(t) => t,
                None => JoinSet::new(),
            };
            t.spawn(a());
            self.tasks = Some(t);
            Ok(())
        }
    ));
    assert_eq!(n, 1);
}

#[test]
fn sets_bound_by_a_tuple_pattern_are_followed_out_of_the_body() {
    let n = orphans_in(quote!(
        async fn start(&mut self) -> R {
            let (mut fast, mut slow) = (JoinSet::new(), JoinSet::new());
            fast.spawn(a());
            slow.spawn(b());
            self.fast = Some(fast);
            self.slow = Some(slow);
            let (kept, n): (JoinSet<()>, usize) = (JoinSet::new(), 1);
            kept.spawn(c());
            self.kept = Some(kept);
            let (first, ..) = (JoinSet::new(), 1, 2);
            first.spawn(d());
            self.first = Some(first);
            let (.., last): (usize, usize, JoinSet<()>) = (1, 2, JoinSet::new());
            last.spawn(e());
            self.last = Some(last);
            Ok(())
        }
    ));
    assert_eq!(n, 5);
}

/// The orphan errors of a `#[scoped]` body that makes a set, spawns on it, then runs `form`.
fn orphans_after_a_set(form: &TokenStream) -> usize {
    orphans_in(quote!(
        async fn f() -> R {
            let mut set = JoinSet::new();
            set.spawn(a());
            #form
        }
    ))
}

/// Asserts that each form, after a body-made set, has its one orphan error (`leaves`) or none,
/// listing the forms that do not.
fn assert_each_flagged(forms: &[TokenStream], leaves: bool) {
    let expected = usize::from(leaves);
    let wrong: Vec<String> = forms
        .iter()
        .filter(|form| orphans_after_a_set(form) != expected)
        .map(ToString::to_string)
        .collect();
    let what = if leaves { "not flagged" } else { "flagged" };
    assert!(wrong.is_empty(), "{what}: {wrong:#?}");
}

#[test]
fn a_set_in_a_value_computed_from_it_leaves_with_that_value() {
    // Each form hands the body-made set out as (part of) the body's value: through a child's
    // or an awaited block's value, a called closure, a wrapper's method, a tuple's field, a
    // pattern, a nested scope's value.
    let forms = [
        quote!(let c = spawn!(async move { Ok(set) }); Ok(c.await?)),
        quote!(spawn!(async move { Ok(set) }).await),
        quote!(let c = spawn_in_place!(async move { Ok(set) }); Ok(c.await?)),
        quote!(let c = s.spawn(async move { Ok(set) }); Ok(c.await?)),
        quote!(let s2 = async move { set }.await; Ok(s2)),
        quote!(Ok(async move { set }.await)),
        quote!(let fut = async move { set }; let s2 = fut.await; Ok(s2)),
        quote!(let s2 = Box::pin(async move { set }).await; Ok(s2)),
        quote!(let s2 = tokio::time::timeout(d, async move { set }).await?; Ok(s2)),
        quote!(let s2 = (move || set)(); Ok(s2)),
        quote!(let f = move || set; Ok(f())),
        quote!(let s2 = Some(set).unwrap(); Ok(s2)),
        quote!(let o = Some(set); Ok(o.expect("there"))),
        quote!(let mut o = Some(set); let s2 = o.take(); Ok(s2)),
        quote!(let t = (set, 1); Ok(t.0)),
        quote!(let t = (1, (set, 2)); Ok(t.1 .0)),
        quote!(let (s2, _n) = async move { (set, 1) }.await; Ok(s2)),
        quote!(let Some(s2) = Some(set) else { return Ok(JoinSet::new()) }; Ok(s2)),
        quote!(if let Some(s2) = Some(set) { return Ok(s2); } Ok(JoinSet::new())),
        quote!(match Some(set) {
            Some(s2) => Ok(s2),
            None => Ok(JoinSet::new()),
        }),
        quote!(let s2 = { let h = spawn!(async move { Ok(set) }); h.await? }; Ok(s2)),
        quote!(let s2 = scope!({ Ok(set) }).await?; Ok(s2)),
        quote!(let s2 = async move { set }.await; self.kept = Some(s2); Ok(())),
        quote!(let s2 = Some(set).unwrap(); keep(s2); Ok(())),
        quote!(keep(Some(set).unwrap()); Ok(())),
        quote!(let s2 = async move { set }.await; std::mem::forget(s2); Ok(())),
        // The set's name taken again after the set went into what leaves.
        quote!(let keeper = spawn!(async move { Ok(set) }); let set = 0u8; Ok(keeper.await?)),
        quote!(let t = (set, 1); let set = (); Ok(t.0)),
        quote!(let f = move || set; let set = (); Ok(f())),
        quote!(let fut = async move { set }; let set = (); Ok(fut.await)),
        // A child's handle kept in a list, an `Option`, a pattern.
        quote!(let handles = vec![spawn!(async move { Ok(set) })]; let mut out = None;
            for h in handles { out = Some(h.await?); } Ok(out.unwrap())),
        quote!(let mut handles = Vec::new(); handles.push(spawn!(async move { Ok(set) }));
            while let Some(h) = handles.pop() { return Ok(h.await?); } Ok(JoinSet::new())),
        quote!(let c = Some(spawn!(async move { Ok(set) })); Ok(c.unwrap().await?)),
        quote!(let c = spawn!(async move { Ok(set) });
            if let Some(h) = Some(c) { return Ok(h.await?); } Ok(JoinSet::new())),
        quote!(let pair = (spawn!(async move { Ok(set) }), 1); let (h, _) = pair; Ok(h.await?)),
        // tokio's joining macros.
        quote!(let c = spawn!(async move { Ok(set) }); let (s2, _n) = tokio::join!(c, async { 1 }); Ok(s2?)),
        quote!(let (s2, _n) = tokio::join!(async move { set }, async { 1 }); Ok(s2)),
        quote!(let c = spawn!(async move { Ok(set) });
            let s2 = tokio::select! { r = c => r?, _ = sleep(d) => JoinSet::new() }; Ok(s2)),
        quote!(let c = spawn!(async move { Ok(set) });
            let s2 = tokio::select! { biased; Ok(s) = c, if ready => { s } else => JoinSet::new(), }; Ok(s2)),
        quote!(let c = spawn!(async move { Ok(set) });
            let (s2, _) = tokio::try_join!(c, async { Ok(1) })?; Ok(s2)),
        // A box dereferenced; a closure that returns a future or a handle; a block or an
        // `if` whose value is a handle, awaited on the spot; a `for` over an `Option`; a
        // ready future.
        quote!(let b = Box::new(set); Ok(*b)),
        quote!(let f = move || async move { set }; Ok(f().await)),
        quote!(let c = spawn!(async move { Ok(set) }); let get = move || c; Ok(get().await?)),
        quote!(let s2 = { let c = spawn!(async move { Ok(set) }); c }.await?; Ok(s2)),
        quote!(let c1 = spawn!(async move { Ok(set) }); let c2 = spawn!(async { Ok(JoinSet::new()) });
            let s2 = if fast { c1 } else { c2 }.await?; Ok(s2)),
        quote!(let slot = Some(set); for s in slot { return Ok(s); } Ok(JoinSet::new())),
        quote!(let s2 = std::future::ready(set).await; Ok(s2)),
        quote!(let c = spawn!(std::future::ready(Ok(set))); Ok(c.await?)),
        // A set made in a block, a branch or a child, handed out as its value.
        quote!(let s2 = { let mut s = JoinSet::new(); s.spawn(b()); s }; set.join_all().await; Ok(s2)),
        quote!(let s2 = if fast { let mut s = JoinSet::new(); s.spawn(b()); s } else { JoinSet::new() };
            set.join_all().await; Ok(s2)),
        quote!(let c = spawn!(async move { let mut s = JoinSet::new(); s.spawn(b()); Ok(s) });
            set.join_all().await; Ok(c.await?)),
        // Assigned from a pattern's name; returned early from a child; a loop's or a labeled
        // block's `break` value.
        quote!(let mut out = JoinSet::new(); match Some(set) { Some(s) => out = s, None => {} } Ok(out)),
        quote!(let c = spawn!(async move { if skip { return Ok(set); } Ok(JoinSet::new()) }); Ok(c.await?)),
        quote!(let s2 = loop { break set; }; Ok(s2)),
        quote!(let s2 = 'b: { if n > 0 { break 'b set; } JoinSet::new() }; Ok(s2)),
        quote!(let s2 = { let mut s = JoinSet::new(); s.spawn(b()); s }; set.join_all().await;
            let (tx, rx) = channel(); tokio::select! { _ = stop => tx.send(s2).unwrap(), } Ok(())),
        // A `break` or a `return` in a `select!` branch.
        quote!(let left = 'l: loop { tokio::select! { _ = ready(()) => { break 'l set; } } }; Ok(left)),
        quote!(let left = loop { tokio::select! { _ = ready(()) => { break set; } } }; Ok(left)),
        quote!(let c = spawn!(async move { loop { tokio::select! { _ = ready(()) => { return Ok(set); } } } });
            Ok(c.await?)),
        // A local of a child or a block does not hide the set after it.
        quote!(if ok { let c = spawn!(async move { let set = 1u32; Ok(set) }); c.await?; return Ok(set); }
            Ok(JoinSet::new())),
        quote!(if ok { { let set = vec![1]; report(set); } keep(set); } Ok(())),
        quote!(let c = spawn!(async move { Ok(set) }); { let c = 1u8; report(c); } Ok(c.await?)),
        // An async closure; a call in a nested scope's block; a set taken out with `mem::take`.
        quote!(let f = async move || set; Ok(f().await)),
        quote!(scope!(error = Interrupted, { keep(set); Ok(()) }).await?; Ok(())),
        quote!(let s2 = std::mem::take(&mut set); Ok(s2)),
        quote!(tx.send(std::mem::take(&mut set)).await; Ok(())),
        quote!(std::mem::swap(&mut self.workers, &mut set); Ok(())),
    ];
    assert_each_flagged(&forms, true);
}

#[test]
fn a_set_taken_by_a_match_arms_if_let_guard_leaves_with_it() {
    // An arm's guard binds names for the arm's body as an `if let` does (an outside tester's
    // find: only the `if let` form was flagged).
    let forms = [
        quote!(if let Some(s) = Some(set) { out.push(s) } Ok(())),
        quote!(match 0 { _ if let Some(s) = Some(set) => out.push(s), _ => {} } Ok(())),
        quote!(match ready { true if let Some(s) = Some(set) && ready => out.push(s), _ => {} }
            Ok(())),
        quote!(match cmd { Some(n) if let Some(s) = Some(set) && n > 1 => { out.push(s); } _ => {} }
            Ok(())),
        quote!(let v = match 0 { _ if let Some(s) = Some(set) => s, _ => return Ok(None) };
            Ok(Some(v))),
    ];
    assert_each_flagged(&forms, true);
    // Joined in the arm: it stays.
    let forms = [
        quote!(match 0 { _ if let Some(s) = Some(set) => { s.join_all().await; } _ => {} }
        Ok(())),
    ];
    assert_each_flagged(&forms, false);
}

#[test]
fn a_set_handed_on_by_a_swap_a_loop_or_a_blocks_local_leaves_with_it() {
    // `mem::replace`/`mem::swap` wherever they are called, two loops in one value, a
    // `break` or `return` of a name its block binds, a closure or a tuple bound in a block.
    let forms = [
        // `mem::replace`/`mem::swap` into a field inside an awaited call's or a macro's
        // arguments; a swap with a local that is not a set, which then leaves.
        quote!(let n = drain(std::mem::replace(&mut self.workers, set)).await; Ok(n)),
        quote!(println!("{}", std::mem::replace(&mut self.workers, set).len()); Ok(())),
        quote!(let (n, _) = tokio::join!(drain(std::mem::replace(&mut self.workers, set)), ready(1)); Ok(n)),
        quote!(let mut current = std::mem::take(&mut self.workers); std::mem::swap(&mut current, &mut set);
            drain(set).await; self.workers = current; Ok(())),
        quote!(let mut spare = Default::default(); std::mem::swap(&mut set, &mut spare);
            set.join_all().await; Ok(spare)),
        // Two loops read in one value.
        quote!(Ok(if fresh {
            loop {
                break JoinSet::new();
            }
        } else {
            loop {
                break set;
            }
        })),
        quote!(let out = { let n = loop { break 3u32; }; report(n); loop { break set; } }; Ok(out)),
        quote!(let out = { let n = 'a: { break 'a 3u32; }; report(n); 'b: { break 'b set; } }; Ok(out)),
        // A `break` or a `return` of a name bound in the loop's or block's body.
        quote!(let rest = loop { let pending = set; break pending; }; Ok(rest)),
        quote!(let rest = loop { if go { let p = set; break p; } }; Ok(rest)),
        quote!(let rest = 'b: { if go { let p = set; break 'b p; } JoinSet::new() }; Ok(rest)),
        quote!(let rest = loop { match Some(set) { Some(p) => break p, None => {} } }; Ok(rest)),
        quote!(let rest = loop { if let Some(p) = Some(set) { break p; } }; Ok(rest)),
        quote!(let rest = loop { let mut s = JoinSet::new(); s.spawn(b()); break s; };
            set.join_all().await; Ok(rest)),
        quote!(let c = spawn!(async move { if go { let p = set; return Ok(p); } Ok(JoinSet::new()) });
            Ok(c.await?)),
        quote!(let f = move || { if go { let p = set; return p; } JoinSet::new() }; Ok(f())),
        // A closure or a future bound in a block, called or awaited there.
        quote!(if c { let f = move || async move { set }; let s = f().await; return Ok(s); }
            Ok(JoinSet::new())),
        quote!(if c { let f = move || set; return Ok(f()); } Ok(JoinSet::new())),
        quote!(if c { let t = (set, 1); return Ok(t.0); } Ok(JoinSet::new())),
        quote!(let s2 = { let f = async move || set; f().await }; Ok(s2)),
        // A set put by `mem::replace`/`mem::swap` into a local a block, a loop, an arm, a
        // branch, a closure or a child binds, which then leaves as its value.
        quote!(let out = { let mut slot = JoinSet::new(); drop(std::mem::replace(&mut slot, set)); slot };
            Ok(out)),
        quote!(let out = loop { let mut slot = JoinSet::new(); drop(std::mem::replace(&mut slot, set)); break slot; };
            Ok(out)),
        quote!(let out = 'b: { let mut slot = JoinSet::new(); drop(std::mem::replace(&mut slot, set));
            if c { break 'b slot; } JoinSet::new() }; Ok(out)),
        quote!(let f = move || { let mut slot = JoinSet::new(); drop(std::mem::replace(&mut slot, set)); slot };
            Ok(f())),
        quote!(match Some(JoinSet::new()) {
            Some(mut slot) => {
                drop(std::mem::replace(&mut slot, set));
                Ok(slot)
            }
            None => Ok(JoinSet::new()),
        }),
        quote!(let out = if let Some(mut slot) = Some(JoinSet::new()) { drop(std::mem::replace(&mut slot, set)); slot }
            else { JoinSet::new() }; Ok(out)),
        quote!(let out = 'done: loop { tokio::select! { _ = sleep(d) => {
            let mut slot = JoinSet::new(); drop(std::mem::replace(&mut slot, set)); break 'done slot; } } };
            Ok(out)),
        quote!(let out = { let mut slot = JoinSet::new();
            let n = tokio::time::timeout(d, async { std::mem::replace(&mut slot, set).len() }).await; drop(n); slot };
            Ok(out)),
        quote!(let out = { let mut b = JoinSet::new(); let mut c = JoinSet::new();
            std::mem::swap(&mut set, &mut b); std::mem::swap(&mut b, &mut c); c }; drop(set); Ok(out)),
        quote!(let out = { let mut inner = JoinSet::new(); inner.spawn(b());
            let mut slot = JoinSet::new(); std::mem::swap(&mut slot, &mut inner); slot };
            set.join_all().await; Ok(out)),
        quote!(let c = spawn!(async move { let mut inner = JoinSet::new(); inner.spawn(b());
            let mut slot = JoinSet::new(); std::mem::swap(&mut slot, &mut inner); Ok::<_, Interrupted>(slot) });
            set.join_all().await; Ok(c.await?)),
        quote!(let out = { let mut slot = spare(); std::mem::swap(&mut slot, &mut set); slot }; Ok(out)),
        // A `for` pattern at a child's exit.
        quote!(let c = spawn!(async move { for s in Some(set) { return Ok::<_, Interrupted>(s); }
            Ok(JoinSet::new()) }); Ok(c.await?)),
        // Put in an `Option` of the body that then leaves.
        quote!(let mut slot = None; slot.replace(set); Ok(slot)),
    ];
    assert_each_flagged(&forms, true);
}

#[test]
fn a_blocks_local_named_like_the_set_or_a_swap_of_other_values_is_not_the_set() {
    let forms = [
        // A loop's or a labeled block's local named like the set, given by its `break`.
        quote!(let v = loop { let set = 1u32; break set; }; set.join_all().await; Ok(v)),
        quote!(let v = loop { if go { let set = vec![1]; break set; } }; set.join_all().await; Ok(v)),
        quote!(let v = 'b: { if go { let set = 2u8; break 'b set; } 0 }; set.join_all().await; Ok(v)),
        quote!(let v = loop { if let Some(set) = names.pop() { break set; } }; set.join_all().await; Ok(v)),
        // Two loops, neither of which gives the set.
        quote!(let out = { let n = loop { break set.len(); }; report(n); loop { break 3u32; } };
            set.join_all().await; Ok(out)),
        // A closure bound in a block that returns something else.
        quote!(if c { let f = move || async move { 1u32 }; let n = f().await; set.join_all().await;
            return Ok(n); } Ok(0)),
        // A swap of two values that are not the set.
        quote!(let mut a = 1u8; let mut b2 = 2u8; std::mem::swap(&mut a, &mut b2); set.join_all().await;
            Ok(a)),
        quote!(let n = drain(std::mem::replace(&mut self.count, 0)).await; set.join_all().await; Ok(n)),
        // Put in an `Option` of the body, taken out and joined there.
        quote!(let mut slot: Option<JoinSet<u32>> = None; slot.replace(set);
            if let Some(s) = slot.take() { s.join_all().await; } Ok(())),
        // A double buffer in a block: the set put in a local there is joined there.
        quote!({ let mut next = JoinSet::new(); drop(std::mem::replace(&mut next, set)); next.join_all().await; }
            Ok(())),
    ];
    assert_each_flagged(&forms, false);
}

#[test]
fn a_value_computed_from_a_set_that_does_not_hold_it_stays() {
    // What a set's join yields, its length, another element of the tuple it is in, a child
    // that joins it: none of these is the set.
    let forms = [
        quote!(let s2 = async move { set }.await; s2.join_all().await; Ok(())),
        quote!(let n = async move { set.join_all().await }.await; Ok(n)),
        quote!(let h = spawn!(async move { let r = set.join_all().await; Ok(r) }); Ok(h.await?)),
        quote!(let r = set.join_next().await.expect("one"); Ok(r)),
        quote!(let r = set.join_all().await; Ok(r)),
        quote!(let n = Some(set.len()).unwrap(); Ok(n)),
        quote!(let t = (set, 1); t.0.join_all().await; Ok(t.1)),
        quote!(let s2 = Some(set).unwrap(); s2.join_all().await; Ok(())),
        quote!(while let Some(r) = set.join_next().await { r?; } Ok(())),
        quote!(match set.try_join_next() {
            Some(r) => Ok(r?),
            None => Ok(()),
        }),
        quote!(let v = (move || set.len())(); Ok(v)),
        quote!(let s2 = scope!({ set.join_all().await; Ok(1) }).await?; Ok(s2)),
        // A child's result matched by hand: the error is not the set.
        quote!(let c = spawn!(async move { Ok(set) });
            match c.await { Ok(s) => Ok(s.join_all().await), Err(e) => return Err(e) }),
        quote!(let c = spawn!(async move { Ok(set) }); let mut errs = Vec::new();
            match c.await { Ok(s) => { s.join_all().await; } Err(e) => errs.push(e) } Ok(errs)),
        // A tuple's other element, through a pattern or a rename.
        quote!(let pair = (set, label); let (s, label) = pair; s.join_all().await;
            log.push(label); Ok(())),
        quote!(let mut slot = Some((set, label));
            if let Some((s, label)) = slot.take() { s.join_all().await; log.push(label); } Ok(())),
        quote!(let t = (set, 7u32); let u = t; let n = u.1; let s = u.0; s.join_all().await;
            v.push(n); Ok(())),
        // A name a pattern bound from the set, used again for something else after it.
        quote!(let mut slot = Some(set); if let Some(s) = slot.take() { s.join_all().await; }
            for s in names { out.push(s); } Ok(())),
        quote!(let mut pending = Some(set); if let Some(w) = pending.take() { w.join_all().await; }
            match msg { Some(w) => log.push(w), None => {} } Ok(())),
        // A local of a child, a block or a closure named like the body's set.
        quote!(let c = spawn!(async move { let set = vec!["a"]; Ok(set) }); let list = c.await?;
            set.join_all().await; Ok(list)),
        quote!(let joined = set.join_all().await;
            let out = async { let set: Vec<u32> = joined.iter().map(|x| x + 1).collect(); set }.await;
            Ok(out)),
        quote!(let dedup = |v: Vec<u32>| { let mut set = HashSet::new(); for x in v { set.insert(x); } set };
            let got = set.join_all().await; let uniq = dedup(got); Ok(uniq)),
        // A pattern that binds the set's own name to something else.
        quote!(let names = set.join_all().await;
            let Some(set) = names.into_iter().next() else { return Ok(String::new()) }; Ok(set)),
        quote!(set.join_all().await; if let Some(set) = label { out.push(set) } Ok(())),
        quote!(let n = tokio::select! { r = set.join_next() => r.is_some(), _ = stop => false };
            set.shutdown().await; Ok(n)),
        quote!(let c = spawn!(async move { Ok(set) });
            let n = tokio::select! { r = c => r?.len(), _ = sleep(d) => 0 }; Ok(n)),
        quote!(set.join_all().await; match cmd { Cmd::Store(set) => saved.push(set), _ => {} } Ok(())),
        quote!(let c = spawn!(async move { Ok(set) }); let s = c.await?; s.join_all().await;
            for set in more { keep(set); } Ok(())),
        // A `return` or a `break` inside a child, a closure, a block or a loop is theirs.
        quote!(let c = spawn!(async move { if skip { return Ok(set); } Ok(set) });
            Ok(c.await?.join_all().await.len())),
        quote!(let pick = move |fast: bool| { if fast { return set; } set };
            pick(fast).join_all().await; Ok(())),
        quote!(async move { if fast { return set; } set }.await.join_all().await; Ok(())),
        quote!(let chosen = 'pick: { if n > 0 { break 'pick set; } JoinSet::new() };
            chosen.join_all().await; Ok(())),
        quote!(let s = loop { if tries > 1 { break set; } tries += 1; }; s.join_all().await; Ok(())),
        // A `select!` branch's pattern, an or-pattern, a plain rebinding: the set's name for
        // something else.
        quote!(tokio::select! { Some(set) = rx.recv() => { names.push(set); } _ = sleep(d) => {} }
            set.join_all().await; Ok(())),
        quote!(set.join_all().await;
            match cmd { Cmd::A(set) | Cmd::B(set) => out.push(set), _ => {} } Ok(())),
        quote!(let names = set.join_all().await; let set = names; Ok(set)),
        // A kept block's own set; a `for` over a list written out.
        quote!(futs.push(Box::pin(async move { let mut set = JoinSet::new(); set.spawn(b());
            set.join_all().await }));
            futures::future::join_all(futs).await; Ok(())),
        quote!(for s in [set] { s.join_all().await; } Ok(())),
        quote!(let mut out = Vec::new(); { let set = names; out.extend(set); }
            set.join_all().await; Ok(out)),
        quote!(let mut out = Vec::new();
            { let Some(set) = label else { return Ok(Vec::new()) }; out.push(set); }
            set.join_all().await; Ok(out)),
        quote!(let job = ((set, 1u8), "batch"); let n = job.0 .0.join_all().await.len(); Ok((n, job.1))),
        quote!(tokio::select! { Some(Ok(set) | Err(set)) = rx.recv() => { out.push(set); } else => {} }
            set.join_all().await; Ok(out)),
        // Joined after a `mem::take`, `mem::replace` or `mem::swap` into a local.
        quote!(let full = std::mem::take(&mut set); full.join_all().await; Ok(())),
        quote!(let old = std::mem::replace(&mut set, JoinSet::new()); old.join_all().await;
            set.join_all().await; Ok(())),
        quote!(drain(std::mem::take(&mut set)).await; Ok(())),
        quote!(let mut next = JoinSet::new(); std::mem::swap(&mut set, &mut next);
            next.join_all().await; set.join_all().await; Ok(())),
        // A `return` in a nested scope's block is the nested scope's.
        quote!(let set = scope!(error = Interrupted, { if quick { return Ok(set); } Ok(set) }).await?;
            Ok(set.join_all().await.len())),
        // A local named like the set, returned early by a nested scope or a closure.
        quote!(let n = scope!(error = Interrupted, { let set: Vec<u32> = vec![1]; if quick { return Ok(set); } Ok(set) }).await?;
            set.join_all().await; Ok(n)),
        quote!(let f = move |xs: Vec<u32>| { let set = xs; if quick { return set; } set };
            let v = f(vec![1]); set.join_all().await; Ok(v)),
        // A block's local does not stay bound after the block.
        quote!(let s = String::from("x"); if ok { { let s = set; s.join_all().await; } names.push(s); }
            Ok(())),
    ];
    assert_each_flagged(&forms, false);
}

#[test]
fn a_name_moved_before_a_set_of_that_name_is_made_is_not_the_set() {
    // A parameter named like the set, passed on before the set is made.
    let n = orphans_in(quote!(
        async fn pool(workers: usize, tasks: Vec<u32>) -> R {
            let (tx, rx) = mpsc::channel(workers);
            let plan = Summary { tasks };
            let mut workers = JoinSet::new();
            workers.spawn(a());
            let mut tasks = JoinSet::new();
            tasks.spawn(b());
            workers.join_all().await;
            tasks.join_all().await;
            Ok(())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn a_set_collected_into_a_written_type_is_the_bodys() {
    let n = orphans_in(quote!(
        async fn f(xs: Vec<u32>) -> R {
            let mut set: JoinSet<u32> = xs.iter().map(|&x| fetch(x)).collect();
            set.spawn(fetch(1));
            set.extend(xs.iter().map(|&x| fetch(x)));
            Ok(set.join_all().await.len())
        }
    ));
    assert_eq!(n, 0);
}

#[test]
fn deep_nesting_is_read_in_time() {
    // Each level a `let` whose value is a block with a `let` of its own: read once per level,
    // not twice (which doubled the time with each level).
    let mut value = quote!(set);
    for _ in 0..18 {
        value = quote!({ let v = #value; v });
    }
    let started = std::time::Instant::now();
    let n = orphans_in(quote!(
        async fn f() -> R {
            let mut set = JoinSet::new();
            set.spawn(a());
            let s2 = #value;
            Ok(s2)
        }
    ));
    assert_eq!(n, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn deep_nesting_of_exits_is_read_in_time() {
    // Each level a loop or a labeled block whose `let` or `match` holds the level below, left
    // by one or more `break`s: each level read once per reading, not once per exit above it
    // (which multiplied the time by the exits' number with each level).
    let shapes: [fn(TokenStream, usize) -> TokenStream; 3] = [
        |inner, k| {
            let label = syn::Lifetime::new(&format!("'l{k}"), proc_macro2::Span::call_site());
            quote!(#label: { let a = #inner; break #label a; })
        },
        |inner, _| quote!(loop { let a = #inner; if c { break a; } break a; }),
        |inner, _| quote!(loop { match Some(#inner) { Some(a) => break a, None if c => break JoinSet::new(), None => break JoinSet::new() } }),
    ];
    for shape in shapes {
        let mut value = quote!(set);
        for k in 0..20 {
            value = shape(value, k);
        }
        let started = std::time::Instant::now();
        let n = orphans_in(quote!(
            async fn f() -> R {
                let mut set = JoinSet::new();
                set.spawn(a());
                let s2 = #value;
                Ok(s2)
            }
        ));
        assert_eq!(n, 1, "{value}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?} for {value}",
            started.elapsed()
        );
    }
}

#[test]
fn a_spawner_bound_in_the_fns_where_clause_or_on_its_impl_is_known() {
    let n = orphans_in(quote!(
        async fn run(&self, ex: S) -> R
        where
            S: Spawn,
        {
            ex.spawn(a()).unwrap();
            Ok(())
        }
    ));
    assert_eq!(n, 1);
    // A where clause on a type that is no spawner leaves a real spawner as it is.
    let n = orphans_in(quote!(
        async fn run(&self, rt: Handle) -> R
        where
            Handle: Clone,
        {
            rt.spawn(a());
            Ok(())
        }
    ));
    assert_eq!(n, 1);
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            impl<S: Spawn> Pool<S> {
                async fn go(&self, ex: S) -> R {
                    ex.spawn(a()).unwrap();
                    Ok(())
                }
            }
        ),
    ));
    assert_eq!(
        out.matches("starts a task that this scope does not own")
            .count(),
        1,
        "{out}"
    );
}

#[test]
fn a_spawner_bound_on_an_impl_declared_in_the_body_is_known() {
    let n = orphans_in(quote!(
        async fn f() -> R {
            struct Pool<S>(S);
            impl<S: Spawn> Pool<S> {
                fn go(&self, ex: S) {
                    ex.spawn(a()).unwrap();
                }
            }
            Ok(())
        }
    ));
    assert_eq!(n, 1);
}

#[test]
fn slot_expansion_shape() {
    let out = norm(&expand::slot(
        quote!(pub static REQUEST_ID: String; static N: u32),
    ));
    assert!(out.contains(
        "pub static REQUEST_ID : :: scope :: __private :: Slot < String , REQUEST_ID > = :: scope :: __private :: Slot :: new (\"REQUEST_ID\") ;"
    ), "{out}");
    assert!(
        out.contains("pub enum REQUEST_ID { }"),
        "the key type: {out}"
    );
    assert!(out.contains("static N :"), "{out}");
}

#[test]
fn slot_with_a_bad_declaration_still_declares_each_slot() {
    let out = norm(&expand::slot(quote!(
        pub static A: String;
        pub static B: String = String::new();
        static mut C: u32;
        const D: u8;
        static E String;
        pub static F: u64
    )));
    // `=`, `mut`, `const` and the missing `:`.
    assert_eq!(out.matches("compile_error").count(), 4, "{out}");
    for name in ["A", "B", "C", "D", "F"] {
        assert!(out.contains(&format!("enum {name} {{ }}")), "{name}: {out}");
    }
    assert!(!out.contains("enum E"), "{out}");
    assert!(!out.contains("static mut"), "{out}");
}

#[test]
fn a_zero_in_parentheses_is_refused_at_compile_time() {
    let out = norm(&expand::scoped(
        quote!(limit = (0)),
        quote!(
            async fn f() -> R {
                Ok(())
            }
        ),
    ));
    assert!(out.contains("`limit` must be at least 1"), "{out}");
    let out = norm(&entry::main(
        quote!(flavor = "multi_thread", worker_threads = (0)),
        quote!(
            async fn main() {}
        ),
    ));
    assert!(out.contains("`worker_threads` must be at least 1"), "{out}");
}

/// A decimal duration is read exactly: one that is not a whole number of nanoseconds is
/// refused (an outside tester's find: `0.4ns` and `1e-12s` rounded to a zero timeout).
#[test]
fn a_decimal_duration_is_exact_or_refused() {
    let expand = |opts: TokenStream| {
        norm(&expand::scoped(
            opts,
            quote!(
                async fn f() -> R {
                    Ok(())
                }
            ),
        ))
    };
    for (opts, nanos) in [
        (quote!(timeout = 1.5s), "from_millis (1500u64)"),
        (quote!(timeout = 0.3s), "from_millis (300u64)"),
        (quote!(grace = 2.5e3ms), "from_millis (2500u64)"),
        (quote!(grace = 1e-9s), "from_nanos (1u64)"),
        (quote!(grace = 1.000000001s), "from_nanos (1000000001u64)"),
        (quote!(timeout = 0.0s), "from_secs (0u64)"),
        (quote!(timeout = 0e400s), "from_secs (0u64)"),
        (quote!(timeout = 0e-99999999999s), "from_secs (0u64)"),
        (
            quote!(timeout = 0.5000000000000000000000000000000000000000s),
            "from_millis (500u64)",
        ),
        (
            quote!(timeout = 1.0000000000000000000000000000000000000000s),
            "from_secs (1u64)",
        ),
        (
            quote!(timeout = 18446744073.709551615s),
            "from_nanos (18446744073709551615u64)",
        ),
        (
            quote!(timeout = 1000000000000000000000000000000000000000000e-40s),
            "from_secs (100u64)",
        ),
    ] {
        let out = expand(opts.clone());
        assert!(!out.contains("compile_error"), "{opts}: {out}");
        assert!(out.contains(nanos), "{opts}: {out}");
    }
    for opts in [
        quote!(timeout = 0.4ns),
        quote!(timeout = 1e-12s),
        quote!(grace = 1.0000000001s),
    ] {
        let out = expand(opts.clone());
        assert!(
            out.contains("not a whole number of nanoseconds"),
            "{opts}: {out}"
        );
    }
    for opts in [
        quote!(timeout = 1e400s),
        quote!(timeout = 18446744073.709551616s),
        quote!(timeout = 18446744074s),
        quote!(grace = 1.8e19s),
        quote!(timeout = 340282366920938463463374607431768211456ns),
    ] {
        let out = expand(opts.clone());
        assert!(out.contains("too large for a literal"), "{opts}: {out}");
        assert!(out.contains("Duration::MAX"), "{opts}: {out}");
    }
    let out = expand(quote!(timeout = 1e-99999999999s));
    assert!(out.contains("not a whole number"), "{out}");
    // More significant digits than a count holds (`probe202`: said "too large").
    for opts in [
        quote!(timeout = 1.000000000000000000000000000000000000000001s),
        quote!(timeout = 0.0000000000000000000000000000000000000000011h),
        quote!(timeout = 12345678901234567890.123456789012345678901ns),
        quote!(timeout = 1000000000000000000000000000000000000000001e-30s),
    ] {
        let out = expand(opts.clone());
        assert!(out.contains("not a whole number"), "{opts}: {out}");
    }
    for opts in [
        quote!(timeout = 123456789012345678901.23456789012345678901ns),
        quote!(timeout = 1.000000000000000000000000000000000000000001e30s),
    ] {
        let out = expand(opts.clone());
        assert!(out.contains("too large for a literal"), "{opts}: {out}");
    }
}

/// A constant, generic or not, and a name in capitals are values like any other: they go to
/// `.limit(..)` as written, and one that is 0 is `ConfigError::ZeroLimit` at run time. (A
/// check at compile time cannot tell a constant from a local by its spelling, and a `const`
/// item cannot name the generics around it: it broke valid code, E0401 and E0435.)
#[test]
fn a_constant_limit_goes_to_the_config_as_written() {
    let fns = [
        ("MAX", "async fn f() -> R { Ok(()) }"),
        ("config::MAX", "async fn f() -> R { Ok(()) }"),
        ("N", "async fn f<const N: usize>() -> R { Ok(()) }"),
        ("Self::WIDTH", "async fn f(&self) -> R { Ok(()) }"),
        ("CAP", "async fn f(&self) -> R { Ok(()) }"),
        ("CAP", "async fn f() -> R { Ok(()) }"),
        ("P::MAX_CONN", "async fn f<P: Policy>() -> R { Ok(()) }"),
        ("N", "async fn f(N: usize) -> R { Ok(()) }"),
        ("Grid::<{ N }>::CELLS", "async fn f() -> R { Ok(()) }"),
    ];
    for (limit, item) in fns {
        let limit: TokenStream = limit.parse().unwrap();
        let item: TokenStream = item.parse().unwrap();
        let out = norm(&expand::scoped(quote!(limit = #limit), item));
        let bare = |s: &str| s.replace(' ', "");
        let value = bare(&limit.to_string());
        assert!(
            bare(&out).contains(&format!(".limit({value})")),
            "{limit}: {out}"
        );
        assert!(!out.contains("assert"), "{limit}: {out}");
        assert!(!out.contains("compile_error"), "{limit}: {out}");
    }
    for limit in [quote!(N), quote!(K), quote!(P::MAX_CONN)] {
        let out = norm(&expand::scope(quote!(limit = #limit, { Ok(()) })));
        assert!(!out.contains("assert"), "{limit}: {out}");
        assert!(!out.contains("compile_error"), "{limit}: {out}");
    }
    let out = norm(&entry::main(
        quote!(flavor = "multi_thread", worker_threads = THREADS),
        quote!(
            async fn main() {}
        ),
    ));
    assert!(out.contains(". worker_threads (THREADS)"), "{out}");
    assert!(!out.contains("assert"), "{out}");
}

#[test]
fn a_fn_returning_impl_future_is_told_to_be_an_async_fn() {
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            fn get() -> impl Future<Output = Result<u32, Interrupted>> + Send {
                async move { Ok(1) }
            }
        ),
    ));
    assert!(
        out.contains("write it as `async fn get(..) -> Result<u32, Interrupted>`"),
        "{out}"
    );
    assert!(!out.contains("add `async`"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// The property test: no entry point panics or expands to nothing, on any input.

/// xorshift64*: a tiny deterministic PRNG, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        #[allow(clippy::cast_possible_truncation)] // Reason: n is small; the modulo fits.
        let r = (self.next() % n as u64) as usize;
        r
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const IDENTS: &[&str] = &[
    "async",
    "fn",
    "move",
    "static",
    "pub",
    "mut",
    "crate",
    "self",
    "Self",
    "impl",
    "mod",
    "for",
    "in",
    "loop",
    "let",
    "return",
    "await",
    "name",
    "policy",
    "limit",
    "timeout",
    "deadline",
    "grace",
    "shutdown_grace",
    "local",
    "slots",
    "flavor",
    "worker_threads",
    "start_paused",
    "supervise",
    "first_ok",
    "fail_fast",
    "spawn",
    "spawn_in_place",
    "scope",
    "tokio",
    "std",
    "thread",
    "task",
    "Builder",
    "new",
    "spawn_blocking",
    "spawn_local",
    "use",
    "as",
    "Result",
    "Ok",
    "x",
    "REQUEST_ID",
    "String",
    "main",
    "test",
    "allow_orphan",
    "where",
    "trait",
    "struct",
];
const PUNCTS: &[&str] = &[
    "=", ",", ";", ":", "::", "#", "!", ".", "->", "=>", "&", "?", "<", ">", "@", "*", "|", "-",
    "+", "'",
];
const LITERALS: &[&str] = &[
    "0",
    "1",
    "4",
    "5s",
    "250ms",
    "1.5s",
    "3parsecs",
    "18446744073709551616",
    "\"x\"",
    "\"5s\"",
    "\"current_thread\"",
    "\"multi_thread\"",
    "true",
    "false",
    "-1",
    "0usize",
    "1e400s",
    "'c'",
];

fn random_tree(rng: &mut Rng, depth: usize) -> TokenTree {
    match rng.below(if depth > 3 { 3 } else { 4 }) {
        0 => TokenTree::Ident(Ident::new(rng.pick(IDENTS), Span::call_site())),
        1 => {
            let p = rng.pick(PUNCTS);
            let mut chars = p.chars().peekable();
            let c = chars.next().unwrap_or('=');
            let spacing = if chars.peek().is_some() {
                Spacing::Joint
            } else {
                Spacing::Alone
            };
            TokenTree::Punct(Punct::new(c, spacing))
        }
        2 => {
            let text = rng.pick(LITERALS);
            match text.parse::<TokenStream>() {
                Ok(ts) => ts
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| TokenTree::Literal(Literal::u8_unsuffixed(1))),
                Err(_) => TokenTree::Literal(Literal::u8_unsuffixed(1)),
            }
        }
        _ => {
            let delim = match rng.below(4) {
                0 => Delimiter::Parenthesis,
                1 => Delimiter::Brace,
                2 => Delimiter::Bracket,
                _ => Delimiter::None,
            };
            let len = rng.below(6);
            let inner: TokenStream = (0..len).map(|_| random_tree(rng, depth + 1)).collect();
            TokenTree::Group(Group::new(delim, inner))
        }
    }
}

fn random_stream(rng: &mut Rng) -> TokenStream {
    let len = rng.below(12);
    (0..len).map(|_| random_tree(rng, 0)).collect()
}

/// Flattens a stream into a list of (depth-first) token trees, mutates it, and rebuilds it.
fn mutate(rng: &mut Rng, ts: &TokenStream) -> TokenStream {
    let mut trees: Vec<TokenTree> = ts.clone().into_iter().collect();
    let edits = 1 + rng.below(3);
    for _ in 0..edits {
        let op = rng.below(5);
        if trees.is_empty() {
            trees.push(random_tree(rng, 0));
            continue;
        }
        let i = rng.below(trees.len());
        match op {
            0 => {
                trees.remove(i);
            }
            1 => trees.insert(i, random_tree(rng, 1)),
            2 => {
                let j = rng.below(trees.len());
                trees.swap(i, j);
            }
            3 => trees[i] = random_tree(rng, 1),
            _ => {
                // Mutate inside a group.
                if let TokenTree::Group(g) = &trees[i] {
                    let inner = mutate(rng, &g.stream());
                    trees[i] = TokenTree::Group(Group::new(g.delimiter(), inner));
                } else {
                    trees.truncate(i);
                }
            }
        }
    }
    trees.into_iter().collect()
}

/// Valid inputs to start mutations from: (attribute args, item) pairs and macro inputs.
fn seeds() -> Vec<(TokenStream, TokenStream)> {
    vec![
        (
            quote!(
                name = "x",
                limit = 4,
                timeout = 5s,
                policy = supervise,
                slots(A = a)
            ),
            quote!(
                async fn f(a: u32) -> Result<u32, E> {
                    let c = spawn!(name = "c", async move { Ok(a) });
                    use tokio::spawn as go;
                    go(async {});
                    for i in 0..3 {
                        let _ = spawn_in_place!(async { Ok(i) });
                    }
                    let v = vec![spawn!(x()), tokio::spawn(y())];
                    tokio::select! { r = c => {} }
                    scope!(limit = 1, { spawn!(z()) }).await;
                    Ok(c.await?)
                }
            ),
        ),
        (
            quote!(local, grace = 1.5s, crate = my::scope),
            quote!(impl S { async fn m(&self) -> Result<(), E> { std::thread::Builder::new().spawn(|| ()); Ok(()) } fn n() {} }),
        ),
        (
            quote!(deadline = at, policy = first_ok),
            quote!(
                mod m {
                    pub async fn a(at: Instant) -> Result<u8, F> {
                        #[scope::allow_orphan]
                        tokio::task::spawn_blocking(|| ());
                        Ok(1)
                    }
                }
            ),
        ),
        (
            quote!(
                flavor = "multi_thread",
                worker_threads = 2,
                start_paused = false
            ),
            quote!(
                async fn main() -> Result<(), E> {
                    spawn!(async {});
                    Ok(())
                }
            ),
        ),
        (
            quote!(),
            quote!(limit = 2, timeout = budget, {
                let a = spawn!(work());
                a.await
            }),
        ),
        (
            quote!(),
            quote!(pub static REQUEST_ID: String; #[doc = "x"] static N: u32),
        ),
        (
            quote!(),
            quote!(@scope __scope, name = "x", async move { 1 }),
        ),
    ]
}

fn check(what: &str, out: &TokenStream, input: &TokenStream) {
    assert!(
        !out.is_empty(),
        "{what} expanded to nothing on input: {input}"
    );
}

#[test]
fn no_entry_point_panics_or_expands_to_nothing() {
    const RUNS: usize = 10_000;
    let seeds = seeds();
    let mut rng = Rng(0x5C0B_E5EE_D000_0001);
    for run in 0..RUNS {
        let (seed_args, seed_item) = &seeds[run % seeds.len()];
        // Half the inputs are random; half are mutations of valid inputs.
        let (args, item) = if run % 2 == 0 {
            (random_stream(&mut rng), random_stream(&mut rng))
        } else {
            (mutate(&mut rng, seed_args), mutate(&mut rng, seed_item))
        };
        let result = std::panic::catch_unwind(|| {
            check(
                "#[scoped]",
                &expand::scoped(args.clone(), item.clone()),
                &item,
            );
            check("scope!", &expand::scope(item.clone()), &item);
            for kind in SpawnKind::ALL {
                check(kind.macro_name(), &expand::spawn(kind, item.clone()), &item);
            }
            check("slot!", &expand::slot(item.clone()), &item);
            check("provided!", &expand::provided(item.clone()), &item);
            check("Needs!", &expand::needs_outside(item.clone()), &item);
            check(
                "#[scope::main]",
                &entry::main(args.clone(), item.clone()),
                &item,
            );
            check(
                "#[scope::test]",
                &entry::test(args.clone(), item.clone()),
                &item,
            );
            // `#[scope::allow_orphan]` passes its item through: empty in, empty out.
            if !item.is_empty() {
                check(
                    "#[scope::allow_orphan]",
                    &expand::allow_orphan(args.clone(), item.clone()),
                    &item,
                );
            }
        });
        assert!(
            result.is_ok(),
            "run {run} panicked on args `{args}` and input `{item}`"
        );
    }
}

#[test]
fn needs_parameter_becomes_a_proof_with_one_bound_per_slot() {
    let out = norm(&expand::scoped(
        quote!(slots(TENANT = t)),
        quote!(
            async fn f(cx: Needs![REQUEST_ID, TENANT], t: String) -> R {
                g(provided!()).await
            }
        ),
    ));
    assert!(!out.contains("compile_error"), "{out}");
    assert!(
        out.contains("Needs ! [@ type :: scope :: __private :: Provided < :: scope :: __private :: With < REQUEST_ID , :: scope :: __private :: With < TENANT , :: scope :: __private :: Nil > > >]"),
        "{out}"
    );
    // TENANT is required and bound again: the proof drops the required one before the
    // scope's binding extends it, so that it lists each key once.
    assert!(
        out.contains("let __provided = :: scope :: __private :: Provided :: narrow :: < :: scope :: __private :: With < REQUEST_ID , :: scope :: __private :: Nil > , _ > (:: core :: clone :: Clone :: clone (& cx)) . extend (__scope . cx () , & TENANT) ;"),
        "{out}"
    );
    assert!(out.contains("provided ! (@ proof __provided)"), "{out}");
    // A binding of a slot the fn does not require extends the proof as it is.
    let out = norm(&expand::scoped(
        quote!(slots(TENANT = t)),
        quote!(
            async fn f(cx: Needs![REQUEST_ID], t: String) -> R {
                g(provided!()).await
            }
        ),
    ));
    assert!(
        out.contains("let __provided = :: core :: clone :: Clone :: clone (& cx) . extend (__scope . cx () , & TENANT) ;"),
        "{out}"
    );
}

#[test]
fn needs_errors_say_what_to_write() {
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f(cx: Needs![], d: Needs![A]) -> R {
                Ok(())
            }
        ),
    ));
    assert!(out.contains("`Needs![]` is empty"), "{out}");
    assert!(out.contains("at most one `Needs![..]` parameter"), "{out}");
    let out = norm(&expand::provided(quote!()));
    assert!(
        out.contains("can only be used inside a `#[scoped]` async fn"),
        "{out}"
    );
    // Elsewhere (a trait's method declared without a body), the type it stands for.
    let out = norm(&expand::needs_outside(quote!(A, B)));
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("Provided"), "{out}");
    assert!(
        out.find("With < A").unwrap() < out.find("With < B").unwrap(),
        "{out}"
    );
    let out = norm(&expand::needs_outside(quote!()));
    assert!(out.contains("`Needs![]` is empty"), "{out}");
}

#[test]
fn block_options_may_name_each_fns_parameters() {
    let out = norm(&expand::scoped(
        quote!(limit = n),
        quote!(impl S { async fn a(&self, n: usize) -> R { Ok(()) } }),
    ));
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains(". limit (n)"), "{out}");
}

#[test]
fn lint_closes_the_holes_of_the_issue() {
    let holes = [
        quote!(tokio::r#spawn(a());),
        quote!(tokio::runtime::Handle::current().r#spawn(a());),
        quote!(<tokio::runtime::Handle>::current().spawn(a());),
        quote!(<Handle>::spawn(&h, a());),
        quote!({ tokio::runtime::Handle::current() }.spawn(a());),
        quote!(type H = tokio::runtime::Handle; H::current().spawn(a());),
        quote!(
            fn helper() {
                tokio::spawn(a());
            }
        ),
        quote!(struct S; impl S { fn go(&self) { tokio::spawn(a()); } }),
        quote!(
            macro_rules! go {
                () => {
                    tokio::spawn(a())
                };
            }
        ),
        quote!(futures::task::SpawnExt::spawn(&pool, a());),
        quote!(let pool = futures::executor::ThreadPool::new().unwrap(); pool.spawn(a());),
        quote!(tokio_util::task::TaskTracker::spawn(&t, a());),
        quote!(let t = TaskTracker::new(); t.spawn(a());),
        quote!(set.spawn(a());),
        // Found since: spawns inside `select!` arms, handles reached through `if let`, a
        // copy, a smart pointer or a dereference, the call form on an outer set, and a set
        // made here whose tasks are let go.
        quote!(let handle = tokio::runtime::Handle::current();
            tokio::select! { Some(job) = rx.recv() => { handle.spawn(run(job)); } }),
        quote!(tokio::select! { _ = tick() => { tokio::runtime::Handle::current().spawn(a()); } }),
        quote!(
            tokio::select! { _ = tick() => { std::thread::Builder::new().spawn(|| ()).unwrap(); } }
        ),
        quote!(if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(a());
        }),
        quote!(let h1 = tokio::runtime::Handle::current(); let h2 = h1.clone(); h2.spawn(a());),
        quote!(rt.spawn(a());),
        quote!((*set).spawn(a());),
        quote!(tokio::task::JoinSet::spawn(set, a());),
        quote!(let mut own = tokio::task::JoinSet::new(); own.spawn(a()); own.detach_all();),
        // Found since: a set's `Extend` and `FromIterator` spawn (a set from outside extended,
        // a set made by collecting futures that leaves), tokio-util's `JoinQueue`, a name
        // bound by a let chain that outlived its `if`, a raw metavariable name (the macro
        // panicked).
        quote!(set.extend([a(), a()]);),
        quote!(let own: tokio::task::JoinSet<()> = futs.into_iter().collect(); held.push(own);),
        quote!(let own = futs.into_iter().collect::<tokio::task::JoinSet<()>>(); held.push(own);),
        quote!(let own = tokio::task::JoinSet::from_iter(futs); held.push(own);),
        quote!(let mut q = tokio_util::task::JoinQueue::new(); q.spawn(a()); q.detach_all();),
        quote!(let mut q = tokio_util::task::JoinQueue::new(); q.spawn(a()); held.push(q);),
        quote!(if let Some(set) = spare && ready { let _ = set; } set.spawn(a());),
        // A set shared behind `Arc<Mutex<..>>` and its handle shared out.
        quote!(let tasks = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
            tasks.lock().await.spawn(a()); held.push(std::sync::Arc::clone(&tasks));),
        quote!(let tasks = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
            tasks.lock().await.spawn(a()); self.tasks = tasks.clone();),
        // A set consumed into a future that is kept (its drain stored for later).
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a()); held.push(Box::pin(w.join_all()));),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            held.push(Box::pin(async { w.join_all().await }));),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a()); let d = w.join_all(); held.push(d);),
        // A fn that takes the set in a braced block of a macro's tokens (a `select!` arm, a
        // block macro), in an `async` block (also one a closure of an awaited call makes), or
        // in a closure that is kept.
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::select! { _ = stop => { keep(w); } }),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a()); defer! { keep(w); }),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::select! { _ = Box::pin(async { keep(w) }) => {} }),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            futures::future::join_all(ids.iter().map(|_| async { keep(w) })).await;),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a()); let f = || keep(w); f();),
    ];
    for hole in holes {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(async fn f(set: &mut tokio::task::JoinSet<()>, rt: std::sync::Arc<tokio::runtime::Runtime>) -> R { #hole Ok(()) }),
        ));
        assert_eq!(out.matches("does not own").count(), 1, "{hole}: {out}");
    }
    let out = norm(&expand::scoped(
        quote!(
            name = {
                let _ = tokio::spawn(async {});
                "work"
            }
        ),
        quote!(
            async fn f() -> R {
                Ok(())
            }
        ),
    ));
    assert_eq!(out.matches("does not own").count(), 1, "{out}");
    let out = norm(&expand::scope(quote!(
        name = {
            tokio::spawn(async {});
            "w"
        },
        { Ok(()) }
    )));
    assert_eq!(out.matches("does not own").count(), 1, "{out}");
}

#[test]
fn a_raw_metavariable_name_does_not_panic_the_macro() {
    // The attribute panicked ("`__metavar_r#fn` is not a valid identifier"). Parsed from text:
    // `quote!` reads `#fn` as an interpolation.
    let rules: TokenStream =
        "macro_rules! fire { ($r#fn:expr) => { tokio::runtime::Handle::current().spawn($r#fn) }; }"
            .parse()
            .unwrap();
    let out = norm(&expand::scoped(
        quote!(),
        quote!(async fn f() -> R { #rules Ok(()) }),
    ));
    assert_eq!(out.matches("does not own").count(), 1, "{out}");
}

#[test]
fn a_nested_scope_is_linted_with_what_the_body_knows() {
    // A nested `scope!` was linted from nothing: the body's parameters, locals and `use`s
    // were unknown there, so a spawn on an outer set or runtime passed; and an opt-out on the
    // statement holding it did not reach in (its note asked for what was there).
    let body = quote!(
        async fn f(
            set: &mut tokio::task::JoinSet<()>,
            rt: std::sync::Arc<tokio::runtime::Runtime>,
        ) -> R {
            use tokio::spawn as go;
            let h = tokio::runtime::Handle::current();
            scope!(timeout = 1s, {
                set.spawn(a());
                rt.spawn(a());
                h.spawn(a());
                go(a());
                Ok(())
            })
            .await
        }
    );
    let out = norm(&expand::scoped(quote!(), body));
    assert_eq!(out.matches("does not own").count(), 4, "{out}");
    // Its own pass lints nothing again.
    let nested = norm(&expand::scope(
        quote!(@linted { tokio::spawn(a()); Ok(()) }),
    ));
    assert!(!nested.contains("does not own"), "{nested}");
    let opted_out = quote!(
        async fn f() -> R {
            #[scope::allow_orphan]
            let r = scope!({
                tokio::spawn(a());
                Ok(())
            })
            .await;
            r
        }
    );
    let out = norm(&expand::scoped(quote!(), opted_out));
    assert!(!out.contains("does not own"), "{out}");
    // The nested scope's handle is its own, whatever an outer name of it was.
    let handle = quote!(
        async fn f(s: &mut tokio::task::JoinSet<()>) -> R {
            scope!(|s| {
                s.spawn(a());
                Ok(())
            })
            .await
        }
    );
    let out = norm(&expand::scoped(quote!(), handle));
    assert!(!out.contains("does not own"), "{out}");
    // A set made in the nested body is the nested body's: an outer set of the same name that
    // leaves the outer body does not make it leave (a review found that false positive).
    let same_name = quote!(
        async fn f(held: &mut Vec<tokio::task::JoinSet<()>>) -> R {
            scope!({
                let mut set = tokio::task::JoinSet::new();
                set.spawn(a());
                set.join_all().await;
                Ok(())
            })
            .await?;
            let set = tokio::task::JoinSet::new();
            held.push(set);
            Ok(())
        }
    );
    let out = norm(&expand::scoped(quote!(), same_name));
    assert!(!out.contains("does not own"), "{out}");
    // A `scope!` in a `macro_rules!` body is linted where the macro expands (its own pass),
    // not also here on a copy that is thrown away.
    let in_rules = quote!(
        async fn f() -> R {
            macro_rules! run {
                () => {
                    scope!({
                        tokio::spawn(a());
                        Ok(())
                    })
                };
            }
            Ok(())
        }
    );
    let out = norm(&expand::scoped(quote!(), in_rules));
    assert!(!out.contains("does not own"), "{out}");
}

#[test]
fn lint_leaves_look_alikes_alone() {
    let alikes = [
        quote!(spawn(a());),
        quote!(my::spawn(a());),
        quote!(worker.spawn(a());),
        quote!(std::thread::scope(|s| { s.spawn(|| ()); });),
        quote!(tokio::process::Command::new("ls").spawn();),
        quote!(let mut set = tokio::task::JoinSet::new(); set.spawn(a()); set.join_all().await;),
        quote!(let v: Vec<u8> = bytes.into_iter().collect(); held.push(v);),
        quote!(let own: tokio::task::JoinSet<()> = futs.into_iter().collect(); own.join_all().await;),
        quote!(let mut v = Vec::new(); v.extend([1, 2]); held.push(v);),
        quote!(let mut own = tokio::task::JoinSet::new(); own.extend([a()]); own.join_all().await;),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a()); let d = w.join_all(); d.await;),
        quote!(let tasks = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
            tasks.lock().await.spawn(a()); let t = tasks.clone(); t.lock().await.shutdown().await;),
        quote!(let names = vec![1]; held.push(names.clone());),
        // A block without `move` that only borrows the set, kept in a local list.
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            jobs.push(Box::pin(async { while w.join_next().await.is_some() {} }));
            futures::future::join_all(jobs).await;),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a()); let d = Box::pin(w.join_all()); d.await;),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::time::timeout(d, w.join_all()).await;),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            let d = async { w.join_all().await }; d.await;),
        // A fn given the set in an awaited call, also inside a block or a `select!` arm: it
        // runs within the body.
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            async { drain(w).await }.await;),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::select! { _ = stop => { drain(w).await; } }),
        // A `select!` branch's future wrapped in a one-argument call: awaited by `select!`,
        // as it is without the wrapper.
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::select! { _ = &mut stop => {} _ = Box::pin(drain(w)) => {} }),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::select! { _ = &mut stop => {} _ = std::pin::pin!(drain(w)) => {} }),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::select! { _ = &mut stop => {} _ = AssertUnwindSafe(drain(w)).catch_unwind() => {} }),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::select! { biased; _ = &mut stop => {} _ = tokio::task::unconstrained(drain(w)) => {} }),
        // A closure an awaited call runs in place: the futures it makes are awaited there.
        quote!(let tasks = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
            tasks.lock().await.spawn(a());
            futures::future::join_all(ids.iter().map(|i| feed(*i, tasks.clone()))).await;
            while tasks.lock().await.join_next().await.is_some() {}),
        quote!(let tasks = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
            tasks.lock().await.spawn(a());
            stream.for_each_concurrent(None, |x| feed(x, std::sync::Arc::clone(&tasks))).await;),
        quote!(let mut w = tokio::task::JoinSet::new(); w.spawn(a());
            tokio::time::sleep(d).then(|_| drain(w)).await;),
        // A handle's own methods named like a collection's are not an element's.
        quote!(let t = tokio_util::task::TaskTracker::new(); t.get().len(); t.wait().await;),
        quote!(let v = vec![1, 2]; v.iter().for_each(|x| x.spawn());),
    ];
    for alike in alikes {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(async fn f() -> R { #alike Ok(()) }),
        ));
        assert!(!out.contains("does not own"), "{alike}: {out}");
    }
}

#[test]
fn named_handle_and_error_header() {
    let out = norm(&expand::scope(quote!(error = AppError, |s| {
        s.cancel("x");
        Ok(())
    })));
    assert!(out.contains("let scope : :: scope :: __private :: Scope < '_ , '_ , < AppError as :: scope :: __private :: HeaderError > :: Error , :: scope :: __private :: Sendable >"), "{out}");
    assert!(out.contains("let s = __scope ;"), "{out}");
    assert!(!out.contains("compile_error"), "{out}");
    let out = norm(&expand::scoped(
        quote!(handle = s),
        quote!(
            async fn f() -> Result<(), E> {
                s.cancel("x");
                Ok(())
            }
        ),
    ));
    assert!(out.contains("let s = __scope ;"), "{out}");
    assert!(
        out.contains("< Result < () , E > as :: scope :: ScopeResult > :: Error"),
        "{out}"
    );
}

#[test]
fn try_spawn_in_a_race_is_an_error() {
    let out = norm(&expand::scoped(
        quote!(policy = first_ok),
        quote!(
            async fn f() -> Result<u8, Failures<E>> {
                let _ = try_spawn!(a());
                Ok(())
            }
        ),
    ));
    assert!(out.contains("try_spawn ! (@ race)"), "{out}");
    let out = norm(&expand::spawn(SpawnKind::TrySpawn, quote!(@race)));
    assert!(
        out.contains("a race neither refuses nor holds back a candidate"),
        "{out}"
    );
    let out = norm(&expand::spawn(SpawnKind::WhenFree, quote!(@race)));
    assert!(
        out.contains("`spawn_when_free!` in a `first_ok` scope"),
        "{out}"
    );
}

#[test]
fn spawn_when_free_waits_for_a_slot_and_takes_no_name() {
    let out = norm(&expand::spawn(
        SpawnKind::WhenFree,
        quote!(@scope __scope, fut),
    ));
    assert_eq!(out, "(__scope) . spawn_when_free (fut)");
    let out = norm(&expand::spawn(
        SpawnKind::InPlaceWhenFree,
        quote!(@scope __scope, fut),
    ));
    assert_eq!(out, "(__scope) . spawn_in_place_when_free (fut)");
    let out = norm(&expand::spawn(
        SpawnKind::WhenFree,
        quote!(@scope __scope, name = "x", fut),
    ));
    assert!(out.contains("`spawn_when_free!` takes no name"), "{out}");
}

#[test]
fn signature_checks_say_what_is_wrong() {
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> u32 {
                1
            }
        ),
    ));
    assert!(out.contains("this fn's return type is `u32`"), "{out}");
    assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> Result<Child<'static, u8>, E> {
                Ok(spawn!(a()))
            }
        ),
    ));
    assert!(out.contains("cannot return a child's handle"), "{out}");
    assert_eq!(out.matches("compile_error").count(), 1, "{out}");
}

#[test]
fn a_block_fns_signature_error_says_how_to_leave_it_out() {
    // A helper in a `#[scoped]` impl was told "a `#[scoped]` fn returns .." with no word of
    // the block's attribute or of `#[scope::unscoped]`.
    let out = norm(&expand::scoped(
        quote!(),
        quote!(impl Store {
            async fn get(&self) -> Result<u32, E> {
                Ok(self.len().await)
            }
            async fn len(&self) -> u32 {
                2
            }
        }),
    ));
    assert!(out.contains("this fn's return type is `u32`"), "{out}");
    assert!(
        out.contains("`#[scoped]` on this `impl` block scopes every async fn in it; if `len`"),
        "{out}"
    );
    assert!(out.contains("#[scope::unscoped]"), "{out}");
    // The fn's own `#[scoped]`: no such note.
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn len() -> u32 {
                2
            }
        ),
    ));
    assert!(!out.contains("scopes every async fn"), "{out}");
}

#[test]
fn a_method_called_on_a_name_in_a_spawned_block_is_left_to_rustc() {
    // A review's find: a receiver taken by value (`job.run()`, `run(self)`) or reborrowed
    // through a `'static` reference the name holds (`cfg.port()`) borrows nothing of the
    // local, and rustc accepts the block; each was refused as a borrow (the pattern-bound
    // names since they became the body's locals, a `let`'s before).
    for body in [
        quote!({
            for job in jobs {
                spawn!(async { job.run().await });
            }
            Ok(())
        }),
        quote!({
            while let Some(job) = rx.recv().await {
                spawn!(async { job.run().await });
            }
            Ok(())
        }),
        quote!({
            match next {
                Some(job) => {
                    spawn!(async { job.run().await });
                }
                None => {}
            }
            Ok(())
        }),
        quote!({
            if let Some(cfg) = CONFIG.get() {
                spawn!(async { Ok(cfg.port()) });
            }
            Ok(())
        }),
        quote!({
            for s in NAMES.iter() {
                spawn!(async { Ok(s.len()) });
            }
            Ok(())
        }),
        quote!({
            let job = take();
            spawn!(async { job.run().await });
            Ok(())
        }),
        // A pattern's name that shadows a `let`'s of the body is the pattern's.
        quote!({
            let x = String::new();
            if let Some(x) = Some("static") {
                spawn!(async { Ok(x.len()) });
            }
            Ok(())
        }),
        quote!({
            let s = String::new();
            for s in NAMES.iter().copied() {
                spawn!(async { Ok(s.len()) });
            }
            Ok(())
        }),
    ] {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(async fn f(jobs: Vec<Job>, rx: Rx, next: Option<Job>) -> R #body),
        ));
        assert!(
            !out.contains("compile_error") && !out.contains("@ error"),
            "{body}: {out}"
        );
    }
}

#[test]
fn a_spawned_async_block_that_borrows_a_local_is_told_about_move_and_in_place() {
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f(words: Vec<String>) -> R {
                let n = 1;
                let a = spawn!(async { Ok(format!("{:?}", words).len() + n) });
                let b = spawn!(async move { Ok(words.len()) });
                let c = spawn_in_place!(async { Ok(words.len()) });
                let d = spawn!(async {
                    let words = 2;
                    Ok(words)
                });
                Ok(())
            }
        ),
    ));
    assert_eq!(out.matches("borrows `words`").count(), 1, "{out}");
    assert!(out.contains("spawn_in_place!(..)"), "{out}");
}

#[test]
fn main_signals_are_checked_and_each_problem_says_what_to_write() {
    let out = norm(&entry::main(
        quote!(signals = [sigterm, terminate, terminate, bogus, "int"]),
        quote!(
            async fn main() {}
        ),
    ));
    for expected in [
        "unknown signal `sigterm`: write `terminate`",
        "`terminate` is listed twice; list each signal once",
        "unknown signal `bogus`; expected a list of `interrupt` (SIGINT, Ctrl-C)",
        "write the signal without quotes: `interrupt`",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from {out}");
    }
    let empty = norm(&entry::main(
        quote!(signals = []),
        quote!(
            async fn main() {}
        ),
    ));
    assert!(empty.contains("`signals` is empty"), "{empty}");
    let ok = norm(&entry::main(
        quote!(signals = [hangup, interrupt]),
        quote!(
            async fn main() {}
        ),
    ));
    assert!(!ok.contains("compile_error"), "{ok}");
    assert!(
        ok.contains(
            ". signals (& [:: scope :: __private :: Signal :: Hangup , :: scope :: __private :: Signal :: Interrupt])"
        ),
        "{ok}"
    );
}

#[test]
fn only_the_scopes_own_handles_are_refused_in_a_return_type() {
    // Other crates' types that share a name with a scope's handle are not handles.
    for ret in [
        quote!(Result<tokio::process::Child, E>),
        quote!(Result<std::process::Child, E>),
        quote!(Result<oauth2::Scope, E>),
        quote!(Result<Vec<Race>, E>),
    ] {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(
                async fn f() -> #ret {
                    todo()
                }
            ),
        ));
        assert!(!out.contains("compile_error"), "{ret}: {out}");
    }
    // The scope's own, written either way, are.
    for ret in [
        quote!(Result<Child<'static, u8>, E>),
        quote!(Result<scope::Child<'static, u8>, E>),
        quote!(Result<Scope<'static, 'static, E>, E>),
        quote!(Result<scope::Race<'static, 'static, u8, E>, E>),
    ] {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(
                async fn f() -> #ret {
                    todo()
                }
            ),
        ));
        assert!(out.contains("cannot return"), "{ret}: {out}");
    }
}

#[test]
fn a_spawn_written_with_braces_as_a_statement_expands_without_panicking() {
    for body in [
        quote!({
            spawn! { async { Ok(()) } }
            Ok(())
        }),
        quote!({
            spawn_in_place! { async { Ok(()) } }
            Ok(())
        }),
        quote!({
            let n = 1;
            spawn! { async move { Ok(n) } }
            spawn!(async { Ok(()) });
            Ok(())
        }),
    ] {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(
                async fn f() -> Result<(), E> #body
            ),
        ));
        assert!(out.contains("spawn"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        let out = norm(&expand::scope(body.clone()));
        assert!(out.contains("spawn"), "{out}");
    }
}

#[test]
fn a_nested_scope_inherits_the_crate_path_unless_it_names_its_own() {
    let out = norm(&expand::scoped(
        quote!(crate = my_scope),
        quote!(
            async fn f() -> Result<(), Interrupted> {
                scope!({ Ok(()) }).await?;
                scope!(crate = other, { Ok(()) }).await
            }
        ),
    ));
    assert!(
        out.contains("; @ linted [] crate = my_scope , { Ok (()) })"),
        "{out}"
    );
    assert!(
        out.contains("; @ linted [] crate = other , { Ok (()) })"),
        "{out}"
    );
    assert!(!out.contains("crate = my_scope , crate = other"), "{out}");
}

#[test]
fn a_move_block_that_uses_the_proof_moves_a_copy() {
    let out = norm(&expand::scoped(
        quote!(slots(ID = 1)),
        quote!(
            async fn f() -> Result<(), Interrupted> {
                let a = async move { g(provided!()).await };
                let b = move || h(provided!());
                let c = async move { 1 };
                Ok(())
            }
        ),
    ));
    let copies = out
        .matches("let __provided = :: core :: clone :: Clone :: clone (& __provided) ;")
        .count();
    assert_eq!(
        copies, 2,
        "one copy for each block that uses the proof: {out}"
    );
}

#[test]
fn a_use_inside_another_macros_arguments_is_a_use() {
    // A reference parameter reaches the child through the macro's arguments (an outside
    // tester's report: rustc's E0521 at the attribute, naming no child); a name the child
    // binds itself, a `matches!` pattern's, a brace written twice or a position are not.
    for (child, uses) in [
        (quote!(format!("{}", name)), 1),
        (quote!(format!("{name:?}")), 1),
        (quote!(format!("{ name }")), 1),
        (quote!(vec![name].len()), 1),
        (quote!(format!("{{{name}}}")), 1),
        (quote!(write!(out, "{name}")), 1),
        (quote!(assert_eq!(a, b, "{name}")), 1),
        (quote!(format!("{{name}}")), 0),
        // Its review (probe80): a named argument names its value; a literal that is not the
        // format string is a value; the fields of a macro the checks do not know, and names
        // of another kind, are not read.
        (quote!(format!("{name}", name = owned)), 0),
        (quote!(println!("{}", "{name}")), 0),
        (quote!(assert_eq!(t, "{name}")), 0),
        (quote!(assert!(t == "{name}")), 0),
        (quote!(tracing::info!(name = owned.as_str(), "request")), 0),
        (quote!(tracing::info!(name.id = id, "{name}")), 0),
        (quote!(std::mem::offset_of!(User, name)), 0),
        (quote!(format!("{0} {}", 1, 2)), 0),
        (
            quote!(usize::from(matches!(Some(1), Some(name) if name > 0))),
            0,
        ),
        (
            quote!({
                let name = 1;
                format!("{name}")
            }),
            0,
        ),
        (
            quote!({
                fn name() -> u8 {
                    1
                }
                format!("{}", name())
            }),
            0,
        ),
        // An item of an inner block is that block's (its review, probe81).
        (
            quote!({
                {
                    fn name() {}
                }
                name.len()
            }),
            1,
        ),
    ] {
        let found = handle_uses_in(quote!(
            async fn f(name: &str) -> R {
                let c = spawn!(async move { Ok::<_, Interrupted>(#child) });
                Ok(())
            }
        ));
        assert_eq!(found, uses, "{child}");
    }
    // A body local moved into a standard macro that takes its arguments by value is owned
    // by the block that is not `move` (probe80: `vec![conn]`, `dbg!(req)` were refused).
    for (child, borrows) in [
        (quote!(vec![conn].len()), 0),
        (quote!(dbg!(conn).len()), 0),
        (quote!(format!("{}", conn).len()), 1),
        (quote!(format!("{conn}").len()), 1),
    ] {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(
                async fn f() -> R {
                    let conn = String::new();
                    let c = spawn!(async { Ok::<_, Interrupted>(#child) });
                    Ok(())
                }
            ),
        ));
        assert_eq!(
            out.matches("block borrows `conn`").count(),
            borrows,
            "{child}"
        );
    }
}

#[test]
fn a_nested_scope_is_told_the_childrens_handles_around_it_except_from_inside_a_child() {
    // In the body: `a` holds a child's handle, which the nested scope's spawned children
    // cannot borrow (its pass says so).
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> R {
                let a = spawn!(async { Ok(1) });
                scope!({ Ok(()) }).await
            }
        ),
    ));
    assert!(out.contains("@ linted [; a]"), "{out}");
    // Inside a child, `a` is a sibling's handle, which that child cannot hold at all: the
    // nested scope is not told it as one of a scope around it (whose advice, an in-place
    // child, would not do there).
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> R {
                let a = spawn!(async { Ok(1) });
                let b = spawn!(async move { scope!({ Ok(()) }).await });
                Ok(())
            }
        ),
    ));
    assert!(out.contains("@ linted [] {"), "{out}");
}

#[test]
fn a_spawned_child_of_a_nested_scope_cannot_use_an_enclosing_handle() {
    // The enclosing pass hands the names that hold a handle down to the nested scope.
    let out = norm(&expand::scoped(
        quote!(handle = s),
        quote!(
            async fn f() -> R {
                let held = &s;
                scope!({ Ok(()) }).await
            }
        ),
    ));
    assert!(out.contains("@ linted [held , s]"), "{out}");
    // The nested scope's own pass: a spawned child that uses one is told so, at the use.
    let around = |body: TokenStream| {
        let out = norm(&expand::scope(quote!(@linted [s] #body)));
        (
            out.matches("the handle of a scope around").count(),
            out.matches("the handle of the scope it is a child of")
                .count(),
        )
    };
    let spawned = quote!({
        let c = spawn!(async move { Ok(s.is_closed()) });
        Ok(())
    });
    assert_eq!(around(spawned), (1, 0));
    let alias = quote!({
        let o = &s;
        let c = spawn!(async move { Ok(o.is_closed()) });
        Ok(())
    });
    assert_eq!(around(alias), (1, 0));
    // An in-place child may borrow it; a name bound again is something else; a handle the
    // nested scope names the same is its own.
    let in_place = quote!({
        let c = spawn_in_place!(async { Ok(s.is_closed()) });
        Ok(())
    });
    assert_eq!(around(in_place), (0, 0));
    let rebound = quote!({
        let s = 1;
        let c = spawn!(async move { Ok(s) });
        Ok(())
    });
    assert_eq!(around(rebound), (0, 0));
    let own = quote!(|s| {
        let c = spawn!(async move { Ok(s.is_closed()) });
        Ok(())
    });
    assert_eq!(around(own), (0, 1));
}

#[test]
fn a_race_body_is_typed_only_for_a_question_mark_tail() {
    // A race's body is typed only for a `?` tail (a tail `Ok(value)` keeps the message that
    // says why a race's body gives no value).
    let question = |body: TokenStream| {
        let block: syn::Block = syn::parse2(body).expect("a block");
        expand::ends_in_question_mark(&block)
    };
    assert!(question(quote!({ Err(e)? })));
    assert!(question(quote!({
        if a {
            Err(e)?
        } else {
            Ok(())
        }
    })));
    assert!(!question(quote!({ Ok(999) })));
    assert!(!question(quote!({
        Err(e)?;
    })));
}

#[test]
fn a_body_ending_in_a_labeled_block_that_ends_in_ok_gets_the_fns_type() {
    // Its `break`s then have the type said for them, and a wrong one is told at its value.
    let block: syn::Block = syn::parse2(quote!({
        'a: {
            if a {
                break 'a Err(e);
            }
            Ok(1)
        }
    }))
    .expect("a block");
    assert!(expand::ends_in_result(&block));
}

#[test]
fn a_body_ending_in_ok_or_err_gets_the_fns_type() {
    // A value of the wrong type is told where it is written (an outside tester's report: the
    // mismatch was told at the attribute); a body whose value may be `()` is left to infer.
    let typed = |body: TokenStream| {
        let block: syn::Block = syn::parse2(body).expect("a block");
        expand::ends_in_result(&block)
    };
    for body in [
        quote!({ Ok(n) }),
        quote!({
            let x = 1;
            Err(x.into())
        }),
        quote!({ std::result::Result::Ok(1) }),
        quote!({ (Ok(1)) }),
        quote!({
            if a {
                Ok(1)
            } else {
                Err(e)
            }
        }),
        quote!({
            if a {
                Ok(1)
            } else if b {
                return Err(e);
            } else {
                Ok(2)
            }
        }),
        quote!({
            if a {
                panic!()
            } else {
                Ok(2)
            }
        }),
        quote!({
            match n {
                0 => Ok(0),
                1 => return Err(e),
                _ => Ok(2),
            }
        }),
        quote!({
            {
                Ok(3)
            }
        }),
        // A `?` tail: the body gives a `Result` (an outside tester's report: `Err(e)?` alone
        // had no type, and was refused at the attribute).
        quote!({ Err(AppError::Bad)? }),
        quote!({ c.await? }),
        quote!({
            if a {
                Ok(1)
            } else {
                Err(e)?
            }
        }),
    ] {
        assert!(typed(body.clone()), "{body}");
    }
    for body in [
        quote!({
            Ok(n);
        }),
        quote!({ work().await }),
        quote!({
            if a {
                Ok(1)
            }
        }),
        quote!({
            if a {
                Ok(1)
            } else {
                work()
            }
        }),
        quote!({
            match n {
                0 => Ok(0),
                _ => other(),
            }
        }),
        quote!({
            match n {
                _ => panic!(),
            }
        }),
        quote!({ Ok::<_, E>(1, 2) }),
    ] {
        assert!(!typed(body.clone()), "{body}");
    }
    let ty: syn::Type = syn::parse_quote!(Result<impl std::fmt::Display, E>);
    assert!(expand::names_impl_trait(&ty));
    let ty: syn::Type = syn::parse_quote!(Result<Vec<Box<dyn Error>>, E>);
    assert!(!expand::names_impl_trait(&ty));
}

#[test]
fn a_sibling_handle_in_a_child_is_refused_at_the_use() {
    // The pipeline habit: a child that awaits a sibling's handle (rustc's E0716 at the
    // attribute, naming neither); the name is the handle's until it is bound again.
    let out = |body: TokenStream| body_of_f(TokenStream::new(), &body);
    for (body, name) in [
        (
            quote!({
                let a = spawn!(x());
                let b = spawn!(async move { a.await });
                Ok(b.await?)
            }),
            "a",
        ),
        (
            quote!({
                let a = spawn_in_place!(x());
                let c = a;
                spawn_in_place!(async { c.await });
                Ok(1)
            }),
            "c",
        ),
        (
            quote!({
                let t = try_spawn!(x())?;
                spawn!(async move { t.await });
                Ok(1)
            }),
            "t",
        ),
        (
            quote!({
                let w = spawn_when_free!(x()).await?;
                spawn!(async move { w.await });
                Ok(1)
            }),
            "w",
        ),
    ] {
        let o = out(body.clone());
        assert!(
            o.contains(&format!(
                "this child uses `{name}`, the handle of another child"
            )),
            "{body}: {o}"
        );
    }
    for body in [
        quote!({
            let a = spawn!(x());
            let a = a.await?;
            spawn!(async move { a });
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(async move {
                let a = 1;
                a
            });
            Ok(a.await?)
        }),
        quote!({
            let a = x();
            spawn!(async move { a.await });
            Ok(1)
        }),
        quote!({
            let a = spawn!(x()).await;
            spawn!(async move { a });
            Ok(1)
        }),
    ] {
        let o = out(body.clone());
        assert!(!o.contains("another child"), "{body}: {o}");
    }
}

#[test]
fn a_sibling_handle_from_a_let_chain_or_a_guarded_arm_is_refused_at_the_use() {
    let out = |body: TokenStream| body_of_f(TokenStream::new(), &body);
    // A let guard that binds the arm's name again gives that value, not the handle.
    for body in [
        quote!({
            let g = match try_spawn!(x()) {
                Ok(g) if let Some(g) = c => g,
                _ => return Ok(0),
            };
            spawn!(async move { Ok(g + 1) });
            Ok(1)
        }),
        quote!({
            let h = match try_spawn!(x()) {
                Ok(h)
                    if let Some(h) = c
                        && h > 0 =>
                {
                    h
                }
                _ => return Ok(0),
            };
            spawn!(async move { Ok(h + 1) });
            Ok(1)
        }),
    ] {
        let o = out(body.clone());
        assert!(!o.contains("another child"), "{body}: {o}");
    }
    for (body, name) in [
        // (An outside tester's finds: only rustc's E0716 at the attribute.)
        (
            quote!({
                let f = if let Ok(f) = try_spawn!(x()) && c { f } else { return Ok(0) };
                spawn!(async move { f.await });
                Ok(1)
            }),
            "f",
        ),
        (
            quote!({
                let g = match try_spawn!(x()) {
                    Ok(g) if c => g,
                    _ => return Ok(0),
                };
                spawn!(async move { g.await });
                Ok(1)
            }),
            "g",
        ),
        (
            quote!({
                let l = match c {
                    true if let Ok(l) = try_spawn!(x()) => l,
                    _ => return Ok(0),
                };
                spawn!(async move { l.await });
                Ok(1)
            }),
            "l",
        ),
    ] {
        let o = out(body.clone());
        assert!(
            o.contains(&format!(
                "this child uses `{name}`, the handle of another child"
            )),
            "{body}: {o}"
        );
    }
}

#[test]
fn a_handle_passed_to_a_child_future_built_in_the_body_is_held_by_it() {
    // An outside tester's report (probe91): `spawn!(plus_one(a))` got rustc's E0716 at the
    // macro, naming neither. A future built in the body holds what it is passed whole, and
    // what a closure or an `async` block in it uses; a name only read there is not held.
    let out = |body: TokenStream| body_of_f(quote!(handle = s), &body);
    for (body, says) in [
        (
            quote!({
                let a = spawn!(x());
                let b = spawn_in_place!(plus_one(a));
                Ok(b.await?)
            }),
            "this child uses `a`, the handle of another child",
        ),
        (
            quote!({
                let a = spawn!(x());
                spawn!(wait_for(&a, 2));
                Ok(1)
            }),
            "this child uses `a`, the handle of another child",
        ),
        (
            quote!({
                let a = spawn!(x());
                spawn_in_place!(a);
                Ok(1)
            }),
            "this child uses `a`, the handle of another child",
        ),
        (
            quote!({
                let a = spawn!(x());
                spawn!(timeout(d, async move { a.await }));
                Ok(1)
            }),
            "this child uses `a`, the handle of another child",
        ),
        (
            quote!({
                let a = spawn!(x());
                spawn!(retry(|| (a.cx().clone(), 1)));
                Ok(1)
            }),
            "this child uses `a`, the handle of another child",
        ),
        (
            quote!({
                spawn_in_place!(work(Job { owner: s, n: 1 }));
                Ok(1)
            }),
            "this child uses `s`, the handle of the scope it is a child of",
        ),
        (
            quote!({
                spawn!(async move {
                    s.cx().cancelled().await;
                    Ok(())
                }
                .boxed());
                Ok(1)
            }),
            "this child uses `s`, the handle of the scope it is a child of",
        ),
    ] {
        let o = out(body.clone());
        assert!(o.contains(says), "{body}: {o}");
    }
    for body in [
        quote!({
            spawn!(watch(s.cx().clone()));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(watch(a.cx().clone(), a.id));
            Ok(a.await?)
        }),
        quote!({
            let a = spawn!(x());
            let a = 2;
            spawn!(plus_one(a));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x()).await?;
            spawn!(plus_one(a));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(log(describe(&a), 1));
            Ok(a.await?)
        }),
    ] {
        let o = out(body.clone());
        assert!(!o.contains("this child uses"), "{body}: {o}");
    }
}

#[test]
fn a_closure_or_block_that_borrows_the_scope_is_named_when_a_child_holds_it() {
    // An outside tester's report (probe141): a closure that uses the handle, or that starts
    // children with `spawn!`, moved into a child got rustc's E0716 at the attribute.
    let out = |body: TokenStream| body_of_f(quote!(handle = s), &body);
    for (body, says) in [
        (
            quote!({
                let stop = || s.cancel("done");
                let c = spawn!(async move {
                    stop();
                    Ok(())
                });
                c.await
            }),
            "this child uses `stop`, which uses the handle of the scope",
        ),
        (
            quote!({
                let stop = || s.cancel("done");
                let again = move || stop();
                let c = spawn_in_place!(async move {
                    again();
                    Ok(())
                });
                c.await
            }),
            "this child uses `again`, which uses the handle of the scope",
        ),
        (
            quote!({
                let start = async || spawn!(async { Ok(1u8) });
                let outer = spawn!(async move { start().await.await });
                outer.await
            }),
            "this child uses `start`, which starts children of the scope",
        ),
        (
            quote!({
                let watch = Box::pin(async {
                    s.cx().cancelled().await;
                    Ok(())
                });
                spawn!(watch).await
            }),
            "this child uses `watch`, which uses the handle of the scope",
        ),
        // Kept whole in a wrapper, it is still it (probe144).
        (
            quote!({
                let stop = || s.cancel("x");
                let b = Box::new(stop);
                spawn!(async move {
                    b();
                    Ok(())
                })
                .await
            }),
            "this child uses `b`, which uses the handle of the scope",
        ),
        (
            quote!({
                let stop = || s.cancel("x");
                let o = Some(stop);
                spawn!(async move {
                    o.unwrap()();
                    Ok(())
                })
                .await
            }),
            "this child uses `o`, which uses the handle of the scope",
        ),
    ] {
        let o = out(body.clone());
        assert!(o.contains(says), "{body}: {o}");
    }
}

#[test]
fn a_closure_or_block_that_borrows_the_scope_called_in_the_body_or_shadowed_is_no_childs() {
    let out = |body: TokenStream| body_of_f(quote!(handle = s), &body);
    for body in [
        // Called in the body, or shadowed before the child, it is no child's.
        quote!({
            let stop = || s.cancel("done");
            stop();
            let start = || spawn!(async { Ok(1u8) });
            let c = start();
            let start = || 2;
            spawn!(async move { Ok(start()) });
            c.await
        }),
        // A child of a nested scope may use it (in place, it borrows what outlives that scope).
        quote!({
            let stop = || s.cancel("done");
            scope!({
                spawn_in_place!(async {
                    stop();
                    Ok(())
                })
                .await
            })
            .await
        }),
        // What awaiting or calling it gives is a value of its own (probe143).
        quote!({
            let get = async { s.cx().clone() };
            let cx = get.await;
            let c = spawn!(async move { Ok(cx.is_cancelled()) });
            Ok(c.await?)
        }),
        quote!({
            let f = async { spawn!(async { Ok(1u8) }).await };
            let n = f.await?;
            let w = Box::pin(async { Some(s.cx().is_cancelled()) });
            let w2 = w;
            let b = w2.await.unwrap();
            spawn!(async move { Ok((n, b)) }).await
        }),
        // Called in the spawn's argument, in the body: the child holds what it gives.
        quote!({
            let make = || watch(s.cx().clone());
            let c = spawn!(make());
            let d = spawn!(wrap(make()));
            Ok(c.await? && d.await?)
        }),
    ] {
        let o = out(body.clone());
        assert!(!o.contains("this child uses"), "{body}: {o}");
    }
}

#[test]
fn a_handle_only_read_where_a_child_future_is_built_is_not_held() {
    let out = |body: TokenStream| body_of_f(quote!(handle = s), &body);
    for body in [
        // The review of the check (probe94): a handle awaited, read by a closure that runs in the body,
        // formatted, or bound again by a pattern of the expression is not held.
        quote!({
            let a = spawn!(x());
            spawn!(work(a.await? as u64));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            let b = spawn!(x());
            spawn_in_place!(two(a.await?, b.await?));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(work(a.await.unwrap_or(0)));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            try_spawn!(work(a.await?))?;
            Ok(1)
        }),
        quote!({
            spawn!(wait(opt.unwrap_or_else(|| s.grace())));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(work(ids.iter().filter(|i| **i != a.id()).count()));
            Ok(a.await?)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(work(compute(|| a.id())));
            Ok(a.await?)
        }),
        quote!({
            let a = spawn!(x());
            let b = spawn!(x());
            spawn!(all(vec![a.cx().clone(), b.cx().clone()]));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(report(format!("{:?}", a.id())));
            Ok(a.await?)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(report(dbg!(a.id())));
            Ok(a.await?)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(work(match opt {
                Some(a) => a,
                None => 0,
            }));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!(work(if let Some(a) = opt { a } else { 0 }));
            Ok(1)
        }),
        quote!({
            let a = spawn!(x());
            spawn!({
                let a = a.cx().clone();
                async move {
                    a.cancelled().await;
                    Ok(0u32)
                }
            });
            Ok(1)
        }),
        quote!({
            spawn!(work(name_len(s)));
            Ok(1)
        }),
    ] {
        let o = out(body.clone());
        assert!(!o.contains("this child uses"), "{body}: {o}");
    }
}

#[test]
fn a_handle_joined_inside_a_child_is_a_use() {
    // An outside tester's report (probe91): a sibling's handle in a child's `tokio::join!`
    // got rustc's E0716 at the macro. `join!` and `try_join!` take their futures by value.
    let out = |child: TokenStream| {
        norm(&expand::scoped(
            TokenStream::new(),
            quote!(
                async fn f() -> Result<u32, E> {
                    let a = spawn!(x());
                    let b = spawn!(x());
                    spawn!(async move { #child; Ok(()) });
                    Ok(1)
                }
            ),
        ))
    };
    for child in [
        quote!(tokio::join!(a, other())),
        quote!(let _ = futures::try_join!(other(), b)),
        quote!(join!(async { a.await }, other())),
        quote!(tokio::join!(biased; a, other())),
    ] {
        assert!(out(child.clone()).contains("another child"), "{child}");
    }
    for child in [
        quote!(tokio::join!(other(), again())),
        quote!(tokio::join!(biased; other(), again())),
        quote!(let biased = 1; let v = vec![biased; 3]),
    ] {
        assert!(!out(child.clone()).contains("another child"), "{child}");
    }
}

#[test]
fn a_handle_selected_inside_a_child_is_a_use() {
    // A sibling's handle raced in a child's `select!` (its future, a guard or a branch's body)
    // got rustc's E0716 at the macro. A branch's pattern binds its names for its own body.
    let out = |child: TokenStream| child_after_a(&child);
    for child in [
        quote!(tokio::select! { v = a => v?, _ = other() => 0 }),
        quote!(tokio::select! { biased; _ = other() => {} v = &mut a => { v?; } }),
        quote!(select! { _ = other() => { a.cancel(); } else => {} }),
        quote!(tokio::select! { _ = other(), if a.is_finished() => {} }),
        quote!(futures::select_biased! { v = b => {}, complete => { drop(a) } }),
        quote!(tokio::select! { a = other() => {}, _ = again() => { drop(a) } }),
    ] {
        assert!(out(child.clone()).contains("another child"), "{child}");
    }
    for child in [
        quote!(tokio::select! { a = other() => { a.len() }, _ = again() => 0 }),
        quote!(tokio::select! { Some(a) = other() => a, else => 0 }),
        quote!(tokio::select! { _ = other() => {}, else => {} }),
        quote!(other_crate::select! { v = a => v }),
    ] {
        assert!(!out(child.clone()).contains("another child"), "{child}");
    }
}

#[test]
fn a_value_moved_out_through_a_branch_or_a_tail_is_owned_and_cfg_gated_code_is_not_read() {
    // Its review (probe98): a body local that a `select!` branch, a block's tail, an `if`'s
    // or a `match`'s branch, or an operator (`text + "!"`) hands on is taken by value by a
    // block without `move`, which rustc accepts: it was refused as a borrow.
    for (child, borrows) in [
        (
            quote!(tokio::select! { _ = sleep() => conn, else => String::new() }),
            0,
        ),
        (
            quote!(tokio::select! { _ = sleep() => { conn } else => String::new() }),
            0,
        ),
        (quote!(if 1 > 0 { conn } else { String::new() }), 0),
        (
            quote!(match 1 > 0 {
                true => conn,
                false => String::new(),
            }),
            0,
        ),
        (quote!({ conn + "!" }), 0),
        (
            quote!({
                let t = conn + "!";
                t
            }),
            0,
        ),
        (
            quote!(tokio::select! { _ = sleep() => format!("{}", conn), else => String::new() }),
            1,
        ),
        (
            quote!(if 1 > 0 {
                format!("{}", conn)
            } else {
                String::new()
            }),
            1,
        ),
    ] {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(
                async fn f() -> R {
                    let conn = String::new();
                    let c = spawn!(async {
                        let r = #child;
                        Ok::<_, Interrupted>(r.len())
                    });
                    Ok(())
                }
            ),
        ));
        assert_eq!(
            out.matches("block borrows `conn`").count(),
            borrows,
            "{child}"
        );
    }
    // A statement or an arm under a `cfg` may be compiled out: not read (probe98: a
    // sibling's handle used in a `#[cfg(any())]` statement was refused).
    let out = |child: TokenStream| child_after_a(&child);
    for child in [
        quote!(
            #[cfg(any())]
            drop(a)
        ),
        quote!(#[cfg(feature = "x")] let _b = a),
        quote!(match 1 {
            #[cfg(any())]
            1 => drop(a),
            _ => {}
        }),
        quote!(tokio::select! { _ = other() => { #[cfg(any())] drop(a); } }),
        quote!(#[cfg(unix)] let a = 1; #[cfg(not(unix))] let a = 2; work(a)),
        quote!(let s = S { #[cfg(any())] h: { let _ = &a; 1 }, x: 1 }),
        quote!(
            #[cfg_attr(all(), cfg(any()))]
            drop(a)
        ),
    ] {
        assert!(!out(child.clone()).contains("another child"), "{child}");
    }
    // A handle's `let` that a `cfg_attr` may leave out does not make the name a handle.
    let body = quote!({
        let a = 1u32;
        #[cfg_attr(all(), cfg(any()))]
        let a = spawn!(x());
        spawn!(async move { Ok(a + 1) });
        Ok(1)
    });
    assert!(!body_of_f(TokenStream::new(), &body).contains("another child"));
    // A name bound inside one branch's future is not bound in the others.
    assert!(out(quote!(tokio::select! {
        v = async { let a = 1u32; a } => v,
        _ = other() => a.await?,
    }))
    .contains("another child"));
}

#[test]
fn what_a_childs_block_moves_under_a_cfg_or_through_a_scrutinee_or_a_field_is_owned() {
    // The review of 3952604 (probe99): a block without `move` that moves a body local under
    // a `cfg` (which may be compiled in), through a `match`'s or an `if let`'s scrutinee (a
    // pattern binding by value), or as a field (`req.body`) takes it by value, which rustc
    // accepts: each was refused as a borrow (some outside a `select!` before too).
    for (child, borrows) in [
        (
            quote!(let n = conn.len(); #[cfg(not(windows))] drop(conn); Ok(n)),
            0,
        ),
        (quote!(#[cfg(unix)] let _owned = conn; Ok(1)), 0),
        (
            quote!(match 1 { #[cfg(unix)] 0 => drop(conn), _ => {} } Ok(1)),
            0,
        ),
        (
            quote!(let n = match msg { Some(s) => s.len(), None => 0 }; Ok(n + format!("{}", conn).len())),
            1,
        ),
        (
            quote!(
                tokio::select! { _ = sleep() => match msg { Some(s) => Ok(s.len()), None => Ok(0) } }
            ),
            0,
        ),
        (
            quote!(
                tokio::select! { _ = sleep() => { if let Some(j) = msg { Ok(j.len()) } else { Ok(0) } } }
            ),
            0,
        ),
        (quote!(let b = req.body; Ok(b.len())), 0),
        (quote!(Ok(format!("{}", conn).len())), 1),
        // A method not known to borrow its receiver may take it by value or reborrow
        // through it: left to rustc.
        (quote!(Ok(conn.port())), 0),
        (quote!(#[cfg(unix)] let n = conn.len(); Ok(1)), 0),
        // Its review (probe100): a name bound again inside the block (a closure's input, an
        // arm's pattern), then the outer one moved; a move out of a box; code that a
        // `cfg_attr` or a `cfg` on a struct literal's field may leave out.
        (
            quote!(let t: usize = conn.chars().map(|conn| conn.len_utf8()).sum(); Ok(t + conn.into_bytes().len())),
            0,
        ),
        (
            quote!(match *boxed {
                Req { body } => Ok(body.len()),
            }),
            0,
        ),
        (
            quote!(#[cfg_attr(all(), cfg(any()))] println!("{}", conn.len()); Ok(1)),
            0,
        ),
        (
            quote!(let s = S { #[cfg(any())] h: conn.clone(), x: 1 }; Ok(s.x)),
            0,
        ),
    ] {
        let out = norm(&expand::scoped(
            quote!(),
            quote!(
                async fn f() -> R {
                    let conn = String::new();
                    let msg: Option<String> = None;
                    let req = Req {
                        body: String::new(),
                    };
                    let boxed = Box::new(Req {
                        body: String::new(),
                    });
                    let c = spawn!(async { #child });
                    Ok(())
                }
            ),
        ));
        assert_eq!(
            out.matches("block borrows").count(),
            borrows,
            "{child}: {out}"
        );
    }
}

#[test]
fn a_panics_lone_message_is_not_read_for_inline_arguments() {
    // Before the 2021 edition, which a macro cannot see, `panic!("{a}")` prints its text as
    // written: a name in it is no use (its review, probe86: refused a valid 2018 program).
    // With an argument after it, the message is a format string in every edition.
    let out = |child: TokenStream| {
        body_of_f(
            TokenStream::new(),
            &quote!({
                let a = spawn!(x());
                spawn!(async move { #child; Ok(()) });
                Ok(a.await?)
            }),
        )
    };
    for child in [
        quote!(panic!("{a} is not valid")),
        quote!(assert!(ok, "{a}")),
        quote!(unreachable!("{a}")),
    ] {
        assert!(!out(child.clone()).contains("another child"), "{child}");
    }
    for child in [
        quote!(panic!("{a} {}", 1)),
        quote!(println!("{a}")),
        quote!(assert!(ok, "{a} {}", 2)),
    ] {
        assert!(out(child.clone()).contains("another child"), "{child}");
    }
}

#[test]
fn a_name_hidden_or_left_out_is_not_a_siblings_handle() {
    let out = |body: TokenStream| body_of_f(TokenStream::new(), &body);
    for body in [
        // Its review (probe86): a `use` in the child hides the name in its block, a spawn a
        // `cfg` may leave out does not make the name a handle, and `spawn_when_free!(..)
        // .await` without `?` is a `Result` (whose message would not fit).
        quote!({
            let fetch = spawn!(x());
            spawn!(async move {
                use api::fetch;
                fetch(2).await
            });
            Ok(fetch.await?)
        }),
        quote!({
            let f = spawn!(x());
            spawn!(async move {
                use api::get as f;
                f().await
            });
            Ok(f.await?)
        }),
        quote!({
            let a = 5u32;
            #[cfg(feature = "off")]
            let a = spawn!(x());
            spawn!(async move { Ok(a) });
            Ok(1)
        }),
        quote!({
            let w = spawn_when_free!(x()).await;
            spawn!(async move { w?.await });
            Ok(1)
        }),
        // An alias a `cfg` may leave out: the name may hold its value from before.
        quote!({
            let a = spawn!(x());
            let b = 5u32;
            #[cfg(feature = "off")]
            let b = a;
            spawn!(async move { Ok(b) });
            Ok(a.await?)
        }),
    ] {
        let o = out(body.clone());
        assert!(!o.contains("another child"), "{body}: {o}");
    }
}

#[test]
fn a_scope_body_not_written_as_a_block_is_said_once() {
    // An outside tester's report (probe85): the first error was "unknown option `spawn`".
    let out = norm(&expand::scope(quote!(spawn!(work()).await)));
    assert!(out.contains("needs a body block"), "{out}");
    assert!(!out.contains("unknown option"), "{out}");
    // Options alone keep their own message; a block anywhere is a body.
    let out = norm(&expand::scope(quote!(limit = 2)));
    assert!(out.contains("`scope!` needs a body:"), "{out}");
    let out = norm(&expand::scope(quote!(limit = 2, { Ok(1) })));
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn a_scope_body_written_as_an_unsafe_const_labeled_or_attributed_block_is_said_once() {
    // An outside tester's report (probe141): "expected an option" and "needs a body" both.
    for (input, says) in [
        (
            quote!(error = E, unsafe { Ok(()) }),
            "an `unsafe` block as the body",
        ),
        (quote!(const { Ok(()) }), "a `const` block as the body"),
        (
            quote!(error = E, 'l: { break 'l Ok(()) }),
            "a label on the body",
        ),
        (
            quote!(
                #[allow(unused)]
                {
                    Ok(())
                }
            ),
            "an attribute on the body",
        ),
        // After the handle (probe143).
        (
            quote!(|s| unsafe { Ok(()) }),
            "an `unsafe` block as the body",
        ),
        (quote!(|s| 'a: { Ok(()) }), "a label on the body"),
    ] {
        let out = norm(&expand::scope(input.clone()));
        assert_eq!(out.matches("compile_error").count(), 1, "{input}: {out}");
        assert!(out.contains(says), "{input}: {out}");
    }
}

#[test]
fn items_hide_names_in_their_block_for_every_child_check() {
    // The review of the child checks (probe87): an item or a `use` in a block of the body, a
    // glob `use` in the child, and an item in the child hide the local of that name there;
    // a `let` a `cfg` may leave out leaves a parameter a parameter.
    let out = |sig: TokenStream, body: TokenStream| {
        norm(&expand::scoped(
            TokenStream::new(),
            quote!(async fn f #sig -> Result<u32, E> #body),
        ))
    };
    for (sig, body) in [
        (
            quote!(()),
            quote!({
                let a = spawn!(x());
                let v = {
                    use helpers::a;
                    spawn!(async move { Ok(a()) })
                };
                Ok(a.await? + v.await?)
            }),
        ),
        (
            quote!(()),
            quote!({
                let a = spawn!(x());
                let v = spawn!(async move {
                    use helpers::*;
                    Ok(a())
                });
                Ok(a.await? + v.await?)
            }),
        ),
        (
            quote!(()),
            quote!({
                let total = 0;
                let h = spawn_in_place!(async {
                    static mut total: u32 = 0;
                    total += 1;
                    Ok(())
                });
                h.await?;
                Ok(total)
            }),
        ),
        (
            quote!((mut total: u32)),
            quote!({
                #[cfg(feature = "off")]
                let total = 0;
                let h = spawn_in_place!(async {
                    total += 1;
                    Ok(())
                });
                h.await?;
                Ok(1)
            }),
        ),
    ] {
        let o = out(sig, body.clone());
        assert!(!o.contains("compile_error"), "{body}: {o}");
    }
    // `todo!` formats its message in every edition: a name there is a use. (The macro's name
    // is spliced in, so that this input is not read as a stub left in the code.)
    let stub = quote::format_ident!("todo");
    let o = out(
        quote!(()),
        quote!({
            let a = spawn!(x());
            spawn!(async move { #stub!("{a:?}") });
            Ok(a.await?)
        }),
    );
    assert!(o.contains("another child"), "{o}");
}

#[test]
fn a_glob_or_a_cfg_silences_no_more_than_it_must() {
    // Its review (probe88): a glob `use` switched the orphan lint off in its block and took a
    // move there for a borrow; a counter declared under `cfg` lost the assignment check; a
    // misspelled option with no body lost its own message.
    let scoped = |body: TokenStream| {
        norm(&expand::scoped(
            TokenStream::new(),
            quote!(async fn f(set: &mut tokio::task::JoinSet<()>) -> Result<u32, E> #body),
        ))
    };
    let o = scoped(quote!({
        use std::sync::atomic::*;
        set.spawn(work());
        Ok(1)
    }));
    assert!(o.contains("does not own"), "{o}");
    let o = scoped(quote!({
        let kept = vec![1];
        spawn!(async {
            let n = kept.len();
            {
                use helpers::*;
                consume(kept);
            }
            Ok(n)
        });
        Ok(1)
    }));
    assert!(!o.contains("compile_error"), "{o}");
    let o = scoped(quote!({
        #[cfg(debug_assertions)]
        let mut hits = 0;
        spawn_in_place!(async {
            hits += 1;
            Ok(())
        });
        Ok(1)
    }));
    assert!(o.contains("assigns to `hits`"), "{o}");
    let o = norm(&expand::scope(quote!(limt = 4)));
    assert!(o.contains("unknown option `limt`"), "{o}");
}

#[test]
fn a_child_that_assigns_to_a_name_a_pattern_binds_in_the_body_is_told_so() {
    // An outside tester's find: only a `let`'s name got the macro's message; one bound by an
    // `if let`, a let chain, a `match` arm or a `for` got rustc's "use `move`", which compiles
    // and leaves the body's value unchanged.
    let scoped = |body: TokenStream| {
        norm(&expand::scoped(
            quote!(),
            quote!(async fn f(x: Option<u32>, go: bool, xs: Vec<u32>) -> R #body),
        ))
    };
    let bodies = [
        quote!({
            if let Some(mut t) = x {
                spawn_in_place!(async {
                    t += 1;
                    Ok(())
                });
            }
            Ok(1)
        }),
        quote!({ if let Some(mut t) = x && go { spawn_in_place!(async { t += 1; Ok(()) }); } Ok(1) }),
        quote!({
            match x {
                Some(mut t) => {
                    spawn_in_place!(async {
                        t += 1;
                        Ok(())
                    });
                }
                None => {}
            }
            Ok(1)
        }),
        quote!({
            match x {
                _ if let Some(mut t) = x => {
                    spawn_in_place!(async {
                        t += 1;
                        Ok(())
                    });
                }
                _ => {}
            }
            Ok(1)
        }),
        quote!({
            while let Some(mut t) = x {
                spawn_in_place!(async {
                    t += 1;
                    Ok(())
                });
                break;
            }
            Ok(1)
        }),
        quote!({
            for mut t in xs {
                spawn_in_place!(async {
                    t += 1;
                    Ok(())
                });
            }
            Ok(1)
        }),
    ];
    for body in bodies {
        let o = scoped(body.clone());
        assert!(o.contains("assigns to `t`"), "{body}: {o}");
    }
    // Their reach ends with the arm or the block: the parameter after it is not the body's.
    let o = scoped(quote!({
        if let Some(x) = x {
            drop(x);
        }
        let mut total = 0u32;
        let _ = &mut total;
        spawn_in_place!(async {
            let _ = x;
            Ok(())
        });
        Ok(1)
    }));
    assert!(!o.contains("compile_error"), "{o}");
    // A capitalised name in a pattern is a variant or a constant, not a local: a spawned
    // child that names it is not told it borrows a local.
    let o = scoped(quote!({
        match x {
            None => {
                spawn!(async {
                    let n: Option<u32> = None;
                    Ok(n)
                });
            }
            Some(_) => {}
        }
        Ok(1)
    }));
    assert!(!o.contains("compile_error"), "{o}");
}

/// A case of a check: the attribute's options and the item, made with a name.
type Case = fn(&Ident) -> (TokenStream, TokenStream);

/// The expansion of `#[scoped(opts)]` on `f`, each made with `name` for the name a user wrote
/// as `gen` or `r#gen` (edition 2024 reserves `gen`: `cargo fix --edition` renames each to
/// `r#gen`), the second with its `r#`s taken out: the two must be the same.
fn with_each_spelling(f: impl Fn(&Ident) -> (TokenStream, TokenStream)) -> [String; 2] {
    [
        Ident::new("gen", Span::call_site()),
        Ident::new_raw("gen", Span::call_site()),
    ]
    .map(|name| {
        let (opts, item) = f(&name);
        norm(&expand::scoped(opts, item)).replace("r#", "")
    })
}

#[test]
fn a_raw_name_is_the_same_name_to_every_check() {
    // An outside tester's report (probe116): under its raw spelling a name escaped the
    // borrow checks (rustc's E0597 or E0521 at the attribute instead), was "the handle under
    // another name", and gave the scope the name `r#gen`; its review (probe118) found a slot
    // bound again under the other spelling than its `Needs!` key, and a raw label.
    let borrowed = "must own what it uses";
    let reference = "a reference, but a child";
    let cases: [(&str, Case); 6] = [
        (borrowed, |n| {
            (
                TokenStream::new(),
                quote!(async fn f(#n: Vec<u32>) -> R {
                    let c = spawn!(async { Ok::<usize, Interrupted>(format!("{:?}", #n).len()) });
                    Ok(())
                }),
            )
        }),
        (borrowed, |n| {
            (
                TokenStream::new(),
                quote!(async fn f() -> R {
                    let #n = vec![1u32];
                    let c = spawn!(async { Ok::<usize, Interrupted>(format!("{:?}", #n).len()) });
                    Ok(())
                }),
            )
        }),
        (reference, |n| {
            (
                TokenStream::new(),
                quote!(async fn f(#n: &str) -> R {
                    let c = spawn!(async move { Ok::<usize, Interrupted>(#n.len()) });
                    Ok(())
                }),
            )
        }),
        ("the handle of the scope it is a child of,", |n| {
            (
                quote!(handle = #n),
                quote!(
                    async fn f() -> R {
                        let c = spawn!(async move { Ok::<bool, Interrupted>(#n.is_closed()) });
                        Ok(())
                    }
                ),
            )
        }),
        ("would hide the parameter `gen`", |n| {
            (
                quote!(handle = #n),
                quote!(async fn f(#n: u8) -> R {
                    Ok(())
                }),
            )
        }),
        (
            "is the fn itself, not a name: to name the scope `gen`",
            |n| {
                (
                    quote!(name = #n),
                    quote!(async fn #n() -> R {
                        Ok(())
                    }),
                )
            },
        ),
    ];
    for (message, case) in cases {
        let [plain, raw] = with_each_spelling(case);
        assert_eq!(plain.matches(message).count(), 1, "{plain}");
        assert_eq!(raw, plain);
    }
}

#[test]
fn a_raw_name_is_said_as_written_and_read_without_its_r() {
    // A message says a name as it is written in the code, and a string without the `r#`.
    let raw_case = |opts, item| norm(&expand::scoped(opts, item));
    let gen = Ident::new_raw("gen", Span::call_site());
    let out = raw_case(
        quote!(handle = #gen),
        quote!(async fn f(#gen: u8) -> R { Ok(()) }),
    );
    assert!(
        out.contains("`handle = r#gen` would hide the parameter `r#gen`"),
        "{out}"
    );
    let out = raw_case(quote!(name = #gen), quote!(async fn #gen() -> R { Ok(()) }));
    assert!(out.contains("`r#gen` is the fn itself, not a name: to name the scope `gen`, quote it, `name = \\\"gen\\\"`"), "{out}");
    // The scope's name is the fn's, without the `r#`; a slot required under one spelling and
    // bound again under the other is one slot (the proof lists it once).
    let out = norm(&expand::scoped(
        TokenStream::new(),
        quote!(async fn #gen() -> R { Ok(()) }),
    ));
    assert!(out.contains(". name (\"gen\")"), "{out}");
    let out = norm(&expand::scoped(
        quote!(slots(#gen = t)),
        quote!(
            async fn f(cx: Needs![REQUEST_ID, gen], t: String) -> R {
                g(provided!()).await
            }
        ),
    ));
    assert!(
        out.contains("Provided :: narrow :: < :: scope :: __private :: With < REQUEST_ID , :: scope :: __private :: Nil > , _ >"),
        "{out}"
    );
    // A raw label is the label: a `break` to it stays in the `scope!` body.
    let body: TokenStream = "{ 'r#gen: loop { break 'gen; } Ok::<(), Interrupted>(()) }"
        .parse()
        .unwrap();
    let out = norm(&expand::scope(body));
    assert!(!out.contains("would leave the `scope!` body"), "{out}");
}

/// The `return`s of a block that leave the fn it is in (not those of an async block, a closure
/// or an item inside it).
fn returns_out_of(block: &syn::Block) -> usize {
    struct Returns(usize);
    impl<'a> syn::visit::Visit<'a> for Returns {
        fn visit_expr_return(&mut self, r: &'a syn::ExprReturn) {
            self.0 += 1;
            syn::visit::visit_expr_return(self, r);
        }
        fn visit_expr_async(&mut self, _: &'a syn::ExprAsync) {}
        fn visit_expr_closure(&mut self, _: &'a syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'a syn::Item) {}
    }
    let mut returns = Returns(0);
    syn::visit::Visit::visit_block(&mut returns, block);
    returns.0
}

#[test]
fn a_scoped_fns_body_ends_as_a_value_that_another_macro_may_wrap() {
    // An outside tester's report (probe119): the body ended with `return ..;`, so an
    // attribute that expands after `#[scoped]` (below it, or on a method of a `#[scoped]`
    // `impl` or `mod`) and wraps the body as a value (`let r = BODY; commit(&r); r`) never
    // ran its step after the body. The scope's value leaves its own labelled block instead.
    for (opts, item) in [
        (
            TokenStream::new(),
            quote!(
                async fn f(id: u32) -> Result<u32, E> {
                    let c = spawn!(g(id));
                    Ok(c.await?)
                }
            ),
        ),
        (
            quote!(policy = supervise),
            quote!(
                async fn f() -> Result<u32, Failures<E>> {
                    Ok(1)
                }
            ),
        ),
        (
            quote!(policy = first_ok),
            quote!(
                async fn f() -> Result<u32, Failures<E>> {
                    spawn!(g(1));
                    Ok(())
                }
            ),
        ),
        // A body that never ends, whose type the macro says for it (its own `return` is
        // inside the body's async block).
        (
            TokenStream::new(),
            quote!(
                async fn f() -> Result<(), E> {
                    loop {
                        scope::check()?;
                    }
                }
            ),
        ),
    ] {
        let out = expand::scoped(opts, item);
        let f: syn::ItemFn = syn::parse2(out.clone()).unwrap();
        assert_eq!(returns_out_of(&f.block), 0, "{out}");
        assert!(norm(&out).contains("break '__scope_end"), "{out}");
    }
    let out = entry::main(
        TokenStream::new(),
        quote!(
            async fn main() -> Result<(), E> {
                Ok(())
            }
        ),
    );
    let f: syn::ItemFn = syn::parse2(out.clone()).unwrap();
    assert_eq!(returns_out_of(&f.block), 0, "{out}");
}

#[test]
fn a_slot_is_said_as_written_in_messages() {
    // The review of the raw names (probe119): a slot's messages dropped its `r#`, and said a
    // name that cannot be written (`type = value`).
    let ty = Ident::new_raw("type", Span::call_site());
    let out = norm(&expand::scoped(
        quote!(slots(#ty)),
        quote!(
            async fn f() -> R {
                Ok(())
            }
        ),
    ));
    assert!(out.contains("`r#type = value`"), "{out}");
    let out = norm(&expand::scoped(
        quote!(slots(#ty = 1, r#type = 2)),
        quote!(
            async fn f() -> R {
                Ok(())
            }
        ),
    ));
    assert!(out.contains("slot `r#type` is bound twice"), "{out}");
}

#[test]
fn a_policy_written_raw_is_that_policy() {
    let plain = norm(&expand::scoped(
        quote!(policy = supervise),
        quote!(
            async fn f() -> Result<(), Failures<E>> {
                Ok(())
            }
        ),
    ));
    let raw = norm(&expand::scoped(
        quote!(policy = r#supervise),
        quote!(
            async fn f() -> Result<(), Failures<E>> {
                Ok(())
            }
        ),
    ));
    assert!(!raw.contains("unknown policy"), "{raw}");
    assert_eq!(plain, raw);
}

/// Each body spawns once on a set it made, then the forms say where the set goes.
fn orphans_in_body(body: &TokenStream) -> usize {
    orphans_in(quote!(
        async fn f(&mut self) -> Result<(), E> {
            #body
        }
    ))
}

#[test]
fn a_set_made_inside_a_literal_that_leaves_leaves_with_it() {
    // `probe196`: a set made in a struct literal, a `vec![..]`, an array, a tuple, or put into
    // a map by a method of it, spawned on through that, then moved out of the body: its task
    // outlives the scope, as one of a set made alone and moved out does.
    let leaving = [
        quote!(
            let mut w = Workers { set: JoinSet::new() };
            w.set.spawn(a());
            self.w = Some(w);
            Ok(())
        ),
        quote!(
            let mut w = Workers { inner: Inner { set: JoinSet::new() }, id: 1 };
            w.inner.set.spawn(a());
            Ok(w)
        ),
        quote!(
            let mut shards = vec![JoinSet::new()];
            shards[0].spawn(a());
            self.shards = shards;
            Ok(())
        ),
        quote!(
            let mut shards = vec![JoinSet::new()];
            shards[0].spawn(a());
            Ok(shards)
        ),
        quote!(
            let mut shards = [JoinSet::new()];
            shards[0].spawn(a());
            std::mem::forget(shards);
            Ok(())
        ),
        quote!(
            let mut pair = (JoinSet::new(), 1);
            pair.0.spawn(a());
            self.pair = pair;
            Ok(())
        ),
        quote!(
            let mut by_key = HashMap::new();
            by_key.entry(1).or_insert_with(JoinSet::new).spawn(a());
            self.by_key = by_key;
            Ok(())
        ),
        quote!(
            let mut shards = Vec::new();
            shards.push(JoinSet::new());
            shards[0].spawn(a());
            self.shards = shards;
            Ok(())
        ),
        // `probe198`: a set a method of an `Option` makes, and one taken along by a struct
        // update.
        quote!(
            let mut o = None;
            o.get_or_insert_with(JoinSet::new).spawn(a());
            Ok(o)
        ),
        quote!(
            let mut w = Workers { set: JoinSet::new(), id: 1 };
            w.set.spawn(a());
            let v = Workers { id: 2, ..w };
            Ok(v)
        ),
        // `probe199`: the set spawned on after the update, through the new name.
        quote!(
            let w = Workers { id: 1, set: JoinSet::new() };
            let mut w2 = Workers { id: 2, ..w };
            w2.set.spawn(a());
            Ok(w2)
        ),
    ];
    assert_each_body_has(&leaving, 1);
}

/// Asserts that each body has `n` orphan errors, listing those that do not.
fn assert_each_body_has(bodies: &[TokenStream], n: usize) {
    let wrong: Vec<String> = bodies
        .iter()
        .filter(|body| orphans_in_body(body) != n)
        .map(ToString::to_string)
        .collect();
    assert!(wrong.is_empty(), "not {n} orphan errors: {wrong:#?}");
}

#[test]
fn a_set_made_inside_a_literal_that_stays_is_the_bodys() {
    // The same literals kept in the body (joined there, or dropped with it): nothing leaves,
    // a field read out of them included.
    let staying = [
        quote!(
            let mut w = Workers { set: JoinSet::new(), id: 1 };
            w.set.spawn(a());
            w.set.join_all().await;
            Ok(())
        ),
        quote!(
            let mut shards = vec![JoinSet::new()];
            shards[0].spawn(a());
            for set in shards {
                set.join_all().await;
            }
            Ok(())
        ),
        quote!(
            let mut pair = (JoinSet::new(), 1);
            pair.0.spawn(a());
            Ok(())
        ),
        quote!(
            let mut by_key = HashMap::new();
            by_key.entry(1).or_insert_with(JoinSet::new).spawn(a());
            Ok(())
        ),
        quote!(
            let mut w = Workers { set: JoinSet::new(), id: 1 };
            w.set.spawn(a());
            w.set.join_all().await;
            Ok(w.id)
        ),
        quote!(
            let mut shards = Vec::new();
            shards.push(JoinSet::new());
            shards[0].spawn(a());
            for set in shards {
                set.join_all().await;
            }
            Ok(())
        ),
        quote!(
            let mut pool = Pool { workers: MyWorkers::new() };
            pool.workers.spawn(a());
            self.pool = pool;
            Ok(())
        ),
    ];
    assert_each_body_has(&staying, 0);
}
/// A body of `shape` nested `n` deep.
fn deep_body(shape: &str, n: usize) -> TokenStream {
    let x = quote!(x);
    let mut e = x.clone();
    match shape {
        "sum" => {
            let terms = vec![x; n];
            return quote!(let y = #(#terms)+*; Ok(y));
        }
        "else if" => {
            let arms: Vec<TokenStream> = (0..n).map(|i| quote!(if x == #i { 1 } else)).collect();
            return quote!(let y = #(#arms)* { 0 }; Ok(y));
        }
        "method chain" => (0..n).for_each(|_| e = quote!(#e.wrapping_add(1))),
        "parens" => (0..n).for_each(|_| e = quote!((#e + 1))),
        "blocks" => (0..n).for_each(|_| e = quote!({ #e })),
        "closures" => (0..n).for_each(|_| e = quote!((|| #e)())),
        "returns" => (0..n).for_each(|_| e = quote!(return #e)),
        types => {
            let mut t = quote!(u8);
            for _ in 0..n {
                t = match types {
                    "pointer types" => quote!(*const #t),
                    "reference types" => quote!(&#t),
                    "generic types" => quote!(Vec<#t>),
                    "tuple types" => quote!((#t,)),
                    "array types" => quote!([#t; 1]),
                    "generic types with a comma" => quote!(Result<u8, #t>),
                    "fn pointer types" => quote!(fn() -> #t),
                    _ => unreachable!("{shape}"),
                };
            }
            return quote!(let _: Option<#t> = None; Ok(x));
        }
    }
    quote!(let y = #e; Ok(y))
}

fn deep_fn(shape: &str, n: usize) -> TokenStream {
    let body = deep_body(shape, n);
    quote!(async fn f(x: u64) -> Result<u64, E> { #body })
}

#[test]
fn inputs_at_the_depth_budget_expand_within_the_compilers_stack_and_deeper_ones_are_refused() {
    // `probe196`: a sum of 3,000 terms crashed rustc (SIGSEGV: the macro overflowed its
    // stack) where the plain fn compiles; 500 nested blocks did too, and (`probe198`) 400
    // nested pointer types and 200 nested generic types; and (`probe199`) 200 nested
    // `Result<u8, ..>`, 280 nested `fn() -> ..` and 970 `return`s in a row. The guard takes inputs up
    // to its budget, and each shape at the most it takes expands on a thread with 6 MiB of
    // stack, three quarters of the compiler's main thread (an overflow here aborts the test
    // binary: a failure). One step deeper is refused, with an error that says what to do.
    for shape in [
        "sum",
        "else if",
        "method chain",
        "parens",
        "blocks",
        "closures",
        "pointer types",
        "reference types",
        "generic types",
        "tuple types",
        "array types",
        "generic types with a comma",
        "fn pointer types",
        "returns",
    ] {
        let (mut ok, mut past) = (1, 4 * crate::depth::BUDGET);
        while past - ok > 1 {
            let mid = usize::midpoint(ok, past);
            if crate::depth::too_deep(&deep_fn(shape, mid)).is_none() {
                ok = mid;
            } else {
                past = mid;
            }
        }
        let expanded = std::thread::Builder::new()
            .stack_size(6 << 20)
            .spawn(move || norm(&expand::scoped(quote!(), deep_fn(shape, ok))))
            .unwrap()
            .join()
            .unwrap();
        assert!(!expanded.contains("compile_error"), "{shape} at {ok}");
        assert!(crate::depth::too_deep(&deep_fn(shape, past)).is_some());
        // Not refused for less than a tenth of what crashed (a sum of 3,000, 480 blocks,
        // 350 closures).
        let crashed = match shape {
            "blocks" => 480,
            "closures" => 350,
            "parens" => 780,
            "pointer types" | "reference types" => 345,
            "generic types" => 205,
            "tuple types" | "array types" => 360,
            "generic types with a comma" => 200,
            "fn pointer types" => 280,
            "returns" => 970,
            _ => 2_400,
        };
        assert!(ok * 10 > crashed, "{shape}: only {ok} taken");
    }
    let refused = crate::depth::refused(proc_macro2::Span::call_site(), "`#[scoped]`").to_string();
    assert!(
        refused.contains("nested too deep for `#[scoped]`"),
        "{refused}"
    );
    assert!(
        refused.contains("split the expression with `let`s"),
        "{refused}"
    );
}

#[test]
fn wide_inputs_are_not_deep() {
    // Many statements, arms or arguments side by side are as deep as the deepest of them.
    let lets: Vec<TokenStream> = (0..5_000).map(|i| quote!(let _ = x + #i;)).collect();
    let arms: Vec<TokenStream> = (0..5_000).map(|i| quote!(#i => { x + 1 })).collect();
    let args = vec![quote!(x + 1); 5_000];
    let ifs: Vec<TokenStream> = (0..5_000)
        .map(|i| quote!(if x == #i { return Ok(x); }))
        .collect();
    // `probe199`: an impl of documented methods was refused at 43 (their signatures piled
    // into one part, an attribute after a method's body not ending it).
    let methods: Vec<TokenStream> = (0..500_u32)
        .map(|i| {
            let name = quote::format_ident!("get_{}", i);
            quote!(
                /// Finds it.
                #[inline]
                async fn #name<T: From<String> + Send>(&self, id: &str) -> Result<Vec<Option<T>>, E> {
                    Ok(Vec::new())
                }
            )
        })
        .collect();
    let imp = quote!(impl Repo { #(#methods)* });
    assert!(crate::depth::too_deep(&imp).is_none());
    let f = quote!(
        async fn f(x: u64) -> Result<u64, E> {
            #(#lets)*
            #(#ifs)*
            let _ = [#(#args),*];
            Ok(match x { #(#arms)* _ => 0 })
        }
    );
    assert!(crate::depth::too_deep(&f).is_none());
}

#[test]
fn a_type_of_the_crates_own_named_like_a_spawner_is_told_how_to_opt_out() {
    // `probe196`: `db::Handle::current().spawn(..)`, a type of the user's own, is flagged as
    // tokio's (the lint reads paths before name resolution); the message says how to mark it.
    // A path of the crate is no way out (`probe198`): a module may re-export tokio's type, and
    // `self::Handle` names the one a `use tokio::runtime::Handle;` brought in.
    for path in [
        quote!(crate::rt::Handle::current().spawn(a())),
        quote!(self::Handle::current().spawn(a())),
        quote!({
            use crate::rt::Handle;
            Handle::current().spawn(a())
        }),
    ] {
        let f = quote!(async fn f() -> Result<(), E> { let _ = #path; Ok(()) });
        assert_eq!(orphans_in(f), 1, "{path}");
    }
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> Result<(), E> {
                let _ = db::Handle::current().spawn("q");
                Ok(())
            }
        ),
    ));
    assert!(
        out.contains("starts a task that this scope does not own"),
        "{out}"
    );
    assert!(
        out.contains("if `db::Handle` is a type of your own"),
        "{out}"
    );
    assert!(out.contains("the opt-out below says so"), "{out}");
    // Tokio's, by its own path, has no such note.
    let out = norm(&expand::scoped(
        quote!(),
        quote!(
            async fn f() -> Result<(), E> {
                tokio::runtime::Handle::current().spawn(a());
                Ok(())
            }
        ),
    ));
    assert!(
        out.contains("starts a task that this scope does not own"),
        "{out}"
    );
    assert!(!out.contains("a type of your own"), "{out}");
}

#[test]
fn the_opt_out_on_an_entry_fn_is_told_it_does_nothing() {
    // `probe196`: `#[scope::allow_orphan]` on a `#[scope::test]` fn was silently ignored (the
    // test then failed its no-leak check at run time); above it or below it, it is refused.
    let test_fn = quote!(
        async fn leaves() {
            tokio::spawn(async {});
        }
    );
    let above = norm(&expand::allow_orphan(
        quote!(),
        quote!(#[scope::test] #test_fn),
    ));
    let below = norm(&entry::test(
        quote!(),
        quote!(#[scope::allow_orphan] #test_fn),
    ));
    for out in [above, below] {
        assert!(
            out.contains("`#[scope::allow_orphan]` does nothing on `#[scope::test]`'s fn"),
            "{out}"
        );
        assert!(
            out.contains("make a test that leaves tasks running a `#[tokio::test]`"),
            "{out}"
        );
    }
    let main = norm(&entry::main(
        quote!(),
        quote!(
            #[scope::allow_orphan]
            async fn main() {}
        ),
    ));
    assert!(
        main.contains("does nothing on `#[scope::main]`'s fn"),
        "{main}"
    );
    // Above a plain test, or another attribute, it stays silent, as before.
    let plain = norm(&expand::allow_orphan(
        quote!(),
        quote!(#[tokio::test] #test_fn),
    ));
    assert!(!plain.contains("compile_error"), "{plain}");
}

#[test]
fn a_list_of_empty_sets_collected_spawns_nothing_at_the_collect() {
    // `probe196`: a list of sets made empty and collected (`(0..4).map(|_| JoinSet::new())
    // .collect()`) that leaves was flagged at the `collect()` too, as if collecting had
    // spawned: only the spawn on one of its sets is an orphan's start.
    let body = quote!(
        let mut shards: Vec<JoinSet<()>> = (0..4).map(|_| JoinSet::new()).collect();
        shards[0].spawn(a());
        self.shards = shards;
        Ok(())
    );
    assert_eq!(orphans_in_body(&body), 1, "{body}");
    // A set collected from futures has spawned them: flagged at the collect when it leaves.
    let body = quote!(
        let set: JoinSet<()> = futs.into_iter().collect();
        self.set = set;
        Ok(())
    );
    assert_eq!(orphans_in_body(&body), 1, "{body}");
}

#[test]
fn a_childs_name_written_with_a_colon_is_told_to_use_equals() {
    // `probe196`: `spawn!(name: "x", fut)` was told "`spawn!` takes one future".
    let out = norm(&expand::spawn(
        SpawnKind::Spawn,
        quote!(@scope __scope, name: "x", async { Ok(()) }),
    ));
    assert!(out.contains("a child's name is given with `=`"), "{out}");
}

#[test]
fn a_scope_body_after_the_handle_that_is_not_a_block_is_told_so() {
    // `probe196`: `scope!(|s| Ok(()))` was told only "expected curly braces".
    let out = norm(&expand::scope(quote!(|s| Ok(()))));
    assert!(
        out.contains("`scope!` needs a body block after the handle"),
        "{out}"
    );
}

#[test]
fn unscoped_on_an_item_no_block_scopes_says_it_is_never_scoped() {
    // `probe196`: on an associated `const` in a `#[scoped]` impl it was told there is no
    // `#[scoped]` block around it.
    for (item, kind) in [
        (
            quote!(
                const N: u32 = 3;
            ),
            "a `const`",
        ),
        (
            quote!(
                const N: u32;
            ),
            "a `const`",
        ),
        (
            quote!(
                type T;
            ),
            "a `type`",
        ),
        (
            quote!(
                struct S;
            ),
            "a `struct`",
        ),
        (
            quote!(
                static S: u8 = 0;
            ),
            "a `static`",
        ),
        (
            quote!(
                use std::mem;
            ),
            "a `use`",
        ),
    ] {
        let out = norm(&expand::unscoped(TokenStream::new(), &item));
        assert!(
            out.contains(&format!("{kind} is never scoped")),
            "{item}: {out}"
        );
        assert!(out.contains("help: remove it"), "{item}: {out}");
    }
    // A fn, an impl, a trait or a module may be left out: without a block around, the
    // message says there is none.
    for item in [
        quote!(
            async fn f() {}
        ),
        quote!(impl S {}),
        quote!(
            trait T {}
        ),
        quote!(
            mod m {}
        ),
    ] {
        let out = norm(&expand::unscoped(TokenStream::new(), &item));
        assert!(out.contains("there is none here"), "{item}: {out}");
    }
}

#[test]
fn an_entry_fn_with_type_or_const_parameters_is_told_so_at_them() {
    // `probe204`: `#[scope::test] async fn t<T>() {}` got rustc's message at the attribute.
    for item in [
        quote!(
            async fn t<T: Default>() {}
        ),
        quote!(
            async fn t<const N: usize>() {}
        ),
    ] {
        let out = norm(&entry::test(TokenStream::new(), item.clone()));
        assert!(
            out.contains("takes no type or const parameters: a test is run with none"),
            "{item}: {out}"
        );
        assert!(
            out.contains("fn t ()"),
            "the fn is left without them: {out}"
        );
    }
    let out = norm(&entry::main(
        TokenStream::new(),
        quote!(
            async fn main<T>() {}
        ),
    ));
    assert!(out.contains("`main` is called with none"), "{out}");
    // A lifetime parameter is no reason to refuse (rustc allows it on a test).
    let out = norm(&entry::test(
        TokenStream::new(),
        quote!(
            async fn t<'a>() {}
        ),
    ));
    assert!(!out.contains("type or const parameters"), "{out}");
}
