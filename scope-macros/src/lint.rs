//! The orphan-task lint: in a scope's body, a call that starts a task the scope does not own
//! is a compile error at the call, with a help line naming the scoped form.
//!
//! The lint works on tokens, before name resolution. It recognises, after resolving the `use`
//! declarations and `type` aliases written inside the body (including `use ... as alias`,
//! globs and raw identifiers):
//!
//! - paths ending in `tokio::spawn`, `task::spawn`, `thread::spawn`, `smol::spawn`,
//!   `rayon::spawn`, `rayon::spawn_fifo`, or in `Builder::spawn*` (`spawn_unchecked` too),
//!   `Handle::spawn*`, `Runtime::spawn*`, `TaskTracker::spawn*`,
//!   `LocalPoolHandle::spawn_pinned*`, the `futures` executors' `SpawnExt::spawn*`,
//!   `ThreadPool::spawn*` (called or used as a value, also through a qualified self:
//!   `<Handle>::spawn`);
//! - any path ending in `spawn_blocking` or `spawn_local` (not `Scope::spawn_blocking`, the
//!   scope's own);
//! - `.spawn*(..)` on a chain that starts at a constructor of one of those types
//!   (`Builder::new()`, `Handle::current()`, `ThreadPool::new()`, `TaskTracker::new()`, also
//!   inside a block: `{ Handle::current() }.spawn(..)`), or on a variable the body made so
//!   (`let pool = ThreadPool::new()?; pool.spawn(..)`), or on a parameter of such a type
//!   (including a `JoinSet` received from outside, whose tasks outlive the scope);
//! - the `futures` executors' `.spawn_ok`, `.spawn_obj`, `.spawn_local_obj`,
//!   `.spawn_with_handle`, `.spawn_local_with_handle`, on any receiver;
//! - `.detach_all()` on a `JoinSet` (its tasks run on after it), and the call form
//!   `JoinSet::spawn(set, ..)` on a set from outside.
//!
//! A variable's origin is followed through `let`, `if let` / `while let` with `Ok(..)` /
//! `Some(..)`, copies (`let h2 = h1.clone()`), `Arc` / `Rc` / `Box` around a parameter's type,
//! and dereferences; the `{ .. }` arms of other macros (`tokio::select!`) are read as code.
//!
//! What it cannot see (a `use` outside the body, a handle that comes from a field or a helper,
//! a helper fn that spawns) is what clippy's `disallowed-methods` covers crate-wide;
//! docs/macros.md has the configuration.

use std::collections::HashMap;

use syn::visit::Visit;
use syn::{Expr, Path, UseTree};

/// The kinds of orphan, for the help line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Orphan {
    /// A tokio (or async-std, smol) task.
    Task,
    /// A `!Send` task on a `LocalSet`.
    Local,
    /// A blocking-pool thread.
    Blocking,
    /// An OS thread.
    Thread,
    /// A `futures` executor's task.
    Executor,
    /// A `tokio_util` `TaskTracker`'s task: counted, but nobody cancels or joins it here.
    Tracker,
    /// A task of a `JoinSet` (or `LocalSet`, `JoinMap`) that came from outside the scope (a
    /// parameter): it outlives it.
    OuterJoinSet,
    /// The tasks of a `JoinSet` let go (`detach_all`): they run on after the set and the scope.
    Detached,
    /// A task of a `JoinSet` (or `LocalSet`, `JoinMap`) the body made but moves out (assigns
    /// to a field, passes on, returns): the set, and its tasks, outlive the scope.
    LeavingJoinSet,
}

impl Orphan {
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Orphan::Detached => "lets go of",
            _ => "starts",
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            Orphan::Task
            | Orphan::Executor
            | Orphan::Tracker
            | Orphan::OuterJoinSet
            | Orphan::LeavingJoinSet => "a task",
            Orphan::Detached => "tasks",
            Orphan::Local => "a local task",
            Orphan::Blocking => "a blocking task",
            Orphan::Thread => "a thread",
        }
    }

    pub(crate) fn help(self) -> &'static str {
        match self {
            Orphan::Task => {
                "help: use `spawn!(future)` to start it as a child of this scope (or \
                 `spawn_in_place!(future)` if it borrows; if it is not `Send`, in a `local` \
                 scope)"
            }
            Orphan::Local => {
                "help: use `spawn_in_place!(future)` in a `local` scope (`#[scoped(local)]`, \
                 `scope!(local, ..)`), whose in-place children need not be `Send`: the scope \
                 waits for it"
            }
            Orphan::Blocking => {
                "help: run it as a blocking child of this scope, which waits for it: \
                 `s.spawn_blocking(|cx| work(cx))`, with the scope's handle named by \
                 `#[scoped(handle = s)]` or `scope!(|s| ..)`"
            }
            Orphan::Thread => {
                "help: use `std::thread::scope` for threads that must finish with this scope, or \
                 `spawn!` for async work"
            }
            Orphan::Executor => {
                "help: use `spawn!(future)` to start it as a child of this scope instead of on a \
                 separate executor"
            }
            Orphan::Tracker => {
                "help: a `TaskTracker` counts its tasks but nobody cancels or joins them here; use \
                 `spawn!(future)`, and the scope joins and cancels the child"
            }
            Orphan::Detached => {
                "help: `detach_all` lets the set's tasks run on after the set is dropped, past the \
                 end of this scope; join them (`set.join_all().await`), or start them with \
                 `spawn!(future)` and the scope joins and cancels them"
            }
            Orphan::LeavingJoinSet => {
                "help: this set leaves the scope's body (it is moved out: assigned, passed on, \
                 returned, or taken by a closure or block that is), so its tasks \
                 outlive the scope; join it before the body ends (`set.join_all().await`), or \
                 start the task with `spawn!(future)`"
            }
            Orphan::OuterJoinSet => {
                "help: this set comes from outside the scope, so its tasks outlive it; use \
                 `spawn!(future)` (`spawn_in_place!` in a `local` scope for a `!Send` one), or a \
                 `JoinSet` made and joined inside the body"
            }
        }
    }
}

/// The `use` declarations and `type` aliases of a body: alias -> full path, and glob prefixes.
#[derive(Default, Clone)]
pub(crate) struct Aliases {
    map: HashMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
}

impl Aliases {
    /// Collects every `use`, `extern crate .. as` and `type` alias in `block`, at any depth
    /// (nested blocks, closures, async blocks, and the items in the body).
    /// Adds `other`'s aliases (a nested block's) to these.
    pub(crate) fn merge(&mut self, other: Aliases) {
        self.map.extend(other.map);
        self.globs.extend(other.globs);
    }

    /// The `use`s, `extern crate .. as` and `type` aliases among `items` themselves (a block's
    /// or a module's own: they hold in it, not around it).
    pub(crate) fn own<'a>(items: impl IntoIterator<Item = &'a syn::Item>) -> Aliases {
        let mut own = Aliases::default();
        for item in items {
            match item {
                syn::Item::Use(u) => own.add_tree(&mut Vec::new(), &u.tree),
                syn::Item::ExternCrate(e) => {
                    if let Some((_, rename)) = &e.rename {
                        own.map.insert(unraw(rename), vec![unraw(&e.ident)]);
                    }
                }
                syn::Item::Type(t) => {
                    if let syn::Type::Path(p) = &*t.ty {
                        if p.qself.is_none() {
                            own.map.insert(unraw(&t.ident), segments(&p.path));
                        }
                    }
                }
                _ => {}
            }
        }
        own
    }

    /// [`own`](Aliases::own) for a block's statements.
    pub(crate) fn of_block(block: &syn::Block) -> Aliases {
        Aliases::own(block.stmts.iter().filter_map(|stmt| match stmt {
            syn::Stmt::Item(item) => Some(item),
            _ => None,
        }))
    }

    pub(crate) fn collect(block: &syn::Block) -> Aliases {
        struct Collector(Aliases);
        impl<'ast> Visit<'ast> for Collector {
            fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
                let mut prefix = Vec::new();
                self.0.add_tree(&mut prefix, &u.tree);
            }
            fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
                // `extern crate tokio as rt;`: `rt::spawn` is tokio's.
                if let Some((_, rename)) = &e.rename {
                    self.0.map.insert(unraw(rename), vec![unraw(&e.ident)]);
                }
            }
            fn visit_item_type(&mut self, t: &'ast syn::ItemType) {
                if let syn::Type::Path(p) = &*t.ty {
                    if p.qself.is_none() {
                        self.0.map.insert(unraw(&t.ident), segments(&p.path));
                    }
                }
            }
        }
        let mut c = Collector(Aliases::default());
        c.visit_block(block);
        c.0
    }

    fn add_tree(&mut self, prefix: &mut Vec<String>, tree: &UseTree) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(unraw(&p.ident));
                self.add_tree(prefix, &p.tree);
                prefix.pop();
            }
            UseTree::Name(n) => {
                let name = unraw(&n.ident);
                if name == "self" {
                    if let Some(last) = prefix.last().cloned() {
                        self.map.insert(last, prefix.clone());
                    }
                } else {
                    let mut full = prefix.clone();
                    full.push(name.clone());
                    self.map.insert(name, full);
                }
            }
            UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(unraw(&r.ident));
                }
                self.map.insert(unraw(&r.rename), full);
            }
            UseTree::Glob(_) => self.globs.push(prefix.clone()),
            UseTree::Group(g) => {
                for t in &g.items {
                    self.add_tree(prefix, t);
                }
            }
        }
    }

    /// The path's segments, with its first segment expanded through the body's `use`s and
    /// aliases.
    pub(crate) fn resolve(&self, segments: &[String]) -> Vec<String> {
        self.resolve_at(segments, 0)
    }

    fn resolve_at(&self, segments: &[String], depth: usize) -> Vec<String> {
        let Some(first) = segments.first() else {
            return Vec::new();
        };
        if let Some(full) = self.map.get(first) {
            // An alias of an alias (`use tokio::task as t; use t::spawn as go;`), a few
            // levels deep; a cycle stops there.
            if depth < 8 && (full.first() != Some(first) || full.len() > 1) {
                let mut out = self.resolve_at(full, depth + 1);
                out.extend(segments[1..].iter().cloned());
                return out;
            }
        }
        if segments.len() == 1 {
            for glob in &self.globs {
                let mut candidate = glob.clone();
                candidate.push(first.clone());
                if classify(&candidate).is_some() {
                    return candidate;
                }
            }
        }
        segments.to_vec()
    }
}

/// An identifier without its `r#`.
pub(crate) fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

pub(crate) fn segments(path: &Path) -> Vec<String> {
    path.segments.iter().map(|s| unraw(&s.ident)).collect()
}

/// The segments of a path expression, including a qualified self: `<Handle>::current` is
/// `Handle::current`, `<ThreadPool as SpawnExt>::spawn` is `SpawnExt::spawn` (and the self
/// type is returned second, to be classified too).
pub(crate) fn expr_path_segments(
    qself: Option<&syn::QSelf>,
    path: &Path,
) -> (Vec<String>, Option<Vec<String>>) {
    let Some(q) = qself else {
        return (segments(path), None);
    };
    let self_ty = match &*q.ty {
        syn::Type::Path(tp) if tp.qself.is_none() => Some(segments(&tp.path)),
        _ => None,
    };
    let all = segments(path);
    if q.position == 0 {
        // `<T>::rest`
        let mut out = self_ty.clone().unwrap_or_default();
        out.extend(all);
        (out, None)
    } else {
        // `<T as Trait>::rest`: the trait's path, and the type's.
        let mut through_type = self_ty.clone().unwrap_or_default();
        through_type.extend(all[q.position..].iter().cloned());
        (all, self_ty.map(|_| through_type))
    }
}

fn ends_with(segs: &[String], tail: &[&str]) -> bool {
    segs.len() >= tail.len()
        && segs[segs.len() - tail.len()..]
            .iter()
            .zip(tail)
            .all(|(a, b)| a == b)
}

/// Methods that start a task on what they are called on.
pub(crate) const SPAWN_METHODS: &[&str] = &[
    "spawn",
    "spawn_on",
    "spawn_local",
    "spawn_local_on",
    "spawn_blocking",
    "spawn_blocking_on",
    "spawn_ok",
    "spawn_obj",
    "spawn_local_obj",
    "spawn_with_handle",
    "spawn_local_with_handle",
    "spawn_unchecked",
    "spawn_pinned",
    "spawn_pinned_by_idx",
    "spawn_fifo",
];

/// Methods that only the `futures` executors have: flagged on any receiver.
pub(crate) const EXECUTOR_METHODS: &[&str] = &[
    "spawn_ok",
    "spawn_obj",
    "spawn_local_obj",
    "spawn_with_handle",
    "spawn_local_with_handle",
];

/// Classifies a resolved path to a fn (called or used as a value).
pub(crate) fn classify(segs: &[String]) -> Option<Orphan> {
    let last = segs.last()?.as_str();
    let is_thread = segs.iter().any(|s| s == "thread");
    // A scope's own method by its path (`Scope::spawn_blocking(s, ..)`): a child of that
    // scope, as `s.spawn_blocking(..)` is.
    if segs.len() >= 2 && matches!(segs[segs.len() - 2].as_str(), "Scope" | "LocalScope") {
        return None;
    }
    match last {
        "spawn_blocking" | "spawn_blocking_on" => return Some(Orphan::Blocking),
        "spawn_local" | "spawn_local_on" => return Some(Orphan::Local),
        _ => {}
    }
    if !last.starts_with("spawn") {
        return None;
    }
    if last == "spawn"
        && (ends_with(segs, &["tokio", "spawn"])
            || ends_with(segs, &["task", "spawn"])
            || ends_with(segs, &["smol", "spawn"]))
    {
        return Some(Orphan::Task);
    }
    if last == "spawn" && ends_with(segs, &["thread", "spawn"]) {
        return Some(Orphan::Thread);
    }
    // rayon's global pool: the closure runs on an OS thread that no scope joins.
    if ends_with(segs, &["rayon", "spawn"]) || ends_with(segs, &["rayon", "spawn_fifo"]) {
        return Some(Orphan::Thread);
    }
    if segs.len() >= 2 {
        return owner_kind(&segs[segs.len() - 2], last, is_thread, Place::Body);
    }
    None
}

/// Whether a value of the type `path` names starts tasks that outlive any scope wherever the
/// value was made (a runtime's `Handle`, a `TaskTracker`, an executor), as sets from outside
/// do not.
pub(crate) fn spawns_anywhere(path: &[String]) -> bool {
    let is_thread = path.iter().any(|s| s == "thread");
    path.last()
        .is_some_and(|owner| owner_kind(owner, "spawn", is_thread, Place::Body).is_some())
}

/// The kind of orphan that `method` starts on a value of the type (or made by the
/// constructor) named `owner`; `origin` says where the value was made and whether it stays.
fn owner_kind(owner: &str, method: &str, is_thread: bool, origin: Place) -> Option<Orphan> {
    if !SPAWN_METHODS.contains(&method) {
        return None;
    }
    let by_method = |task: Orphan| match method {
        "spawn_local" | "spawn_local_on" => Orphan::Local,
        "spawn_blocking" | "spawn_blocking_on" => Orphan::Blocking,
        _ => task,
    };
    Some(match owner {
        "Builder" if is_thread => Orphan::Thread,
        "Builder" | "Handle" | "Runtime" => by_method(Orphan::Task),
        "ThreadPool" | "LocalPool" | "LocalSpawner" | "SpawnExt" | "LocalSpawnExt" | "Spawn"
        | "LocalSpawn" => Orphan::Executor,
        "TaskTracker" => Orphan::Tracker,
        // tokio-util's pool of single-threaded runtimes.
        "LocalPoolHandle" => Orphan::Task,
        // A blocking task cannot be aborted once it runs: dropping the set does not end it.
        "JoinSet" | "JoinMap" | "JoinQueue" if by_method(Orphan::Task) == Orphan::Blocking => {
            Orphan::Blocking
        }
        owner if SETS.contains(&owner) && origin == Place::Outside => Orphan::OuterJoinSet,
        owner if SETS.contains(&owner) && origin == Place::Leaves => Orphan::LeavingJoinSet,
        _ => return None,
    })
}

/// Where a local variable's value came from, as far as the body shows: the path of its type
/// (a typed parameter or `let`) or of the call that made it (`ThreadPool::new()`).
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) path: Vec<String>,
    /// Made in the body, made outside (a parameter of the fn), or made in the body and moved
    /// out of it.
    pub(crate) place: Place,
}

/// Where a value lives relative to the scope's body.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Place {
    /// Made in the body and kept there.
    Body,
    /// Made outside the scope: a parameter of the fn.
    Outside,
    /// Made in the body, then moved out of it (assigned, passed on, returned, or captured by
    /// a `move` closure or block that is).
    Leaves,
}

/// The path a type names, through references, the pointers and locks that hand out their
/// content, the collections whose elements are used one by one (`&[Handle]`, `Vec<Handle>`:
/// `handles[i].spawn(..)`, `for h in handles`), and to a trait object's trait: `&mut
/// JoinSet<()>`, `Arc<Mutex<JoinSet<()>>>` are `JoinSet`, `&dyn Spawn` is `Spawn`.
pub(crate) fn type_path(ty: &syn::Type) -> Option<Vec<String>> {
    match ty {
        // Through the pointers that hand out their content: `Arc<Runtime>` is `Runtime`.
        syn::Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if matches!(
                last.ident.to_string().as_str(),
                "Arc"
                    | "Rc"
                    | "Box"
                    | "Option"
                    | "Weak"
                    | "Pin"
                    | "Mutex"
                    | "RwLock"
                    | "RefCell"
                    | "Cow"
                    | "ManuallyDrop"
            ) {
                if let Some(inner) = crate::ast::first_type_arg(last) {
                    return type_path(inner);
                }
            }
            if matches!(last.ident.to_string().as_str(), "Vec" | "VecDeque") {
                return crate::ast::first_type_arg(last)
                    .and_then(type_path)
                    .map(elements_of);
            }
            // A map's elements are its values (`sets[&k]`, `sets.get_mut(&k)`,
            // `sets.entry(k).or_default()`).
            if matches!(
                last.ident.to_string().as_str(),
                "HashMap" | "BTreeMap" | "IndexMap"
            ) {
                return crate::ast::second_type_arg(last)
                    .and_then(type_path)
                    .map(elements_of);
            }
            Some(segments(&p.path))
        }
        syn::Type::Reference(r) => type_path(&r.elem),
        syn::Type::Slice(s) => type_path(&s.elem).map(elements_of),
        syn::Type::Array(a) => type_path(&a.elem).map(elements_of),
        syn::Type::Paren(p) => type_path(&p.elem),
        syn::Type::Group(g) => type_path(&g.elem),
        // `&dyn Spawn`, `impl Spawn`: the trait names what it spawns on.
        syn::Type::TraitObject(t) => bound_path(&t.bounds),
        syn::Type::ImplTrait(t) => bound_path(&t.bounds),
        _ => None,
    }
}

/// The first segment of a collection's path: `&[Handle]` and `Vec<Handle>` are `[] Handle`,
/// whose own methods (`push`, `extend`, `iter`) spawn nothing, while an element
/// (`handles[i]`, `for h in handles`) is a `Handle`.
const ELEMENTS: &str = "[]";

pub(crate) fn elements_of(mut element: Vec<String>) -> Vec<String> {
    element.insert(0, ELEMENTS.to_owned());
    element
}

/// The path of what a value whose type is `path` gives when indexed `indexed` times: a
/// collection's element (`None` if it is not that deep a collection); `path` itself when not
/// indexed.
pub(crate) fn element_path(path: &[String], indexed: usize) -> Option<&[String]> {
    let mut path = path;
    for _ in 0..indexed {
        path = path.strip_prefix(&[ELEMENTS.to_owned()])?;
    }
    Some(path)
}

/// Whether `path` is a collection's (its own methods spawn nothing).
pub(crate) fn is_collection(path: &[String]) -> bool {
    path.first().is_some_and(|first| first == ELEMENTS)
}

/// The traits that spawn (see [`owner_kind`]): among several bounds, the one a value is
/// known by.
const SPAWN_TRAITS: &[&str] = &["Spawn", "LocalSpawn", "SpawnExt", "LocalSpawnExt"];

/// The path of the trait among `bounds` that spawns, if one does (`impl Clone + Spawn`), else
/// of the first trait.
fn bound_path<'a>(
    bounds: impl IntoIterator<Item = &'a syn::TypeParamBound>,
) -> Option<Vec<String>> {
    let traits: Vec<Vec<String>> = bounds
        .into_iter()
        .filter_map(|b| match b {
            syn::TypeParamBound::Trait(t) => {
                Some(pointed_to(&t.path).unwrap_or_else(|| segments(&t.path)))
            }
            _ => None,
        })
        .collect();
    let spawns = traits.iter().position(|t| is_spawn_trait(t));
    traits.into_iter().nth(spawns.unwrap_or(0))
}

/// What a bound of a pointer-like trait hands out: `Deref<Target = Handle>`,
/// `AsRef<Handle>`, `Borrow<Handle>` are `Handle`.
fn pointed_to(path: &Path) -> Option<Vec<String>> {
    let last = path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let target = match last.ident.to_string().as_str() {
        "Deref" | "DerefMut" => args.args.iter().find_map(|a| match a {
            syn::GenericArgument::AssocType(t) if t.ident == "Target" => Some(&t.ty),
            _ => None,
        }),
        "AsRef" | "AsMut" | "Borrow" | "BorrowMut" => crate::ast::first_type_arg(last),
        _ => None,
    }?;
    type_path(target)
}

/// Whether a trait's path names one that spawns (see [`SPAWN_TRAITS`]).
fn is_spawn_trait(path: &[String]) -> bool {
    path.last()
        .is_some_and(|last| SPAWN_TRAITS.contains(&last.as_str()))
}

/// `generics` with the type parameters and `where` predicates of `outer` (an `impl` block's)
/// added: what is in scope in a method's body.
pub(crate) fn with_outer_generics(
    generics: &syn::Generics,
    outer: &syn::Generics,
) -> syn::Generics {
    let mut all = generics.clone();
    for param in outer.type_params() {
        all.params.push(syn::GenericParam::Type(param.clone()));
    }
    if let Some(w) = &outer.where_clause {
        all.make_where_clause()
            .predicates
            .extend(w.predicates.iter().cloned());
    }
    all
}

/// The type parameters of `generics` that a trait bound names (in the list or in the `where`
/// clause), each with the path [`bound_path`] takes from its bounds: `fn f<S: Spawn>(ex: S)`
/// gives `ex` the type `Spawn`, as `ex: impl Spawn` does (an `impl` block's generics, when
/// known, are merged in first: see [`with_outer_generics`]). A name the `where` clause bounds
/// that the list does not declare (a method's `where S: Spawn` on its `impl`'s `S`, which a
/// method's own attribute does not see) is known by a bound that spawns only: `where Handle:
/// Clone` leaves a `Handle` what it is.
pub(crate) fn generic_bounds(generics: &syn::Generics) -> HashMap<String, Vec<String>> {
    let mut bounds: HashMap<String, Vec<&syn::TypeParamBound>> = HashMap::new();
    let mut undeclared: HashMap<String, Vec<&syn::TypeParamBound>> = HashMap::new();
    for param in generics.type_params() {
        bounds
            .entry(unraw(&param.ident))
            .or_default()
            .extend(&param.bounds);
    }
    for predicate in generics.where_clause.iter().flat_map(|w| &w.predicates) {
        if let syn::WherePredicate::Type(p) = predicate {
            if let syn::Type::Path(tp) = &p.bounded_ty {
                if let Some(ident) = tp.path.get_ident().filter(|_| tp.qself.is_none()) {
                    let name = unraw(ident);
                    match bounds.get_mut(&name) {
                        Some(list) => list.extend(&p.bounds),
                        None => undeclared.entry(name).or_default().extend(&p.bounds),
                    }
                }
            }
        }
    }
    let spawns = |list: &Vec<&syn::TypeParamBound>| {
        list.iter().any(|b| match b {
            syn::TypeParamBound::Trait(t) => is_spawn_trait(&segments(&t.path)),
            _ => false,
        })
    };
    bounds
        .into_iter()
        .chain(undeclared.into_iter().filter(|(_, list)| spawns(list)))
        .filter_map(|(name, list)| Some((name, bound_path(list)?)))
        .collect()
}

/// `x` inside the wrappers that hand it out: `Arc::new(x)`, `Rc::new(x)`, `Box::new(x)`,
/// `Some(x)`, `Ok(x)`.
pub(crate) fn unwrapped(mut expr: &Expr) -> &Expr {
    while let Expr::Call(c) = expr {
        let Expr::Path(p) = &*c.func else { break };
        let segs: Vec<String> = p.path.segments.iter().map(|s| unraw(&s.ident)).collect();
        let wraps = matches!(
            segs.as_slice(),
            [.., w, n] if matches!(w.as_str(), "Arc" | "Rc" | "Box" | "Mutex" | "RwLock" | "RefCell") && n == "new"
        ) || matches!(segs.as_slice(), [w] if w == "Some" || w == "Ok")
            // A copy: `Arc::clone(&handle)`, `Clone::clone(&handle)`, `Handle::clone(&h)`,
            // `ToOwned::to_owned(&h)` (through the traits, the pointers and `Option`, or a type
            // the lint knows to spawn: a fn of the user's named `clone` makes what it makes); or the
            // value moved into a pointer, `Arc::from(h)`.
            || matches!(
                segs.as_slice(),
                [.., w, n] if (n == "clone" || n == "to_owned")
                    && (matches!(
                        w.as_str(),
                        "Arc" | "Rc" | "Box" | "Option" | "Clone" | "ToOwned"
                    )
                        || spawns_anywhere(std::slice::from_ref(w)))
            )
            || matches!(
                segs.as_slice(),
                [.., w, n] if matches!(w.as_str(), "Arc" | "Rc" | "Box") && n == "from"
            );
        match (wraps, c.args.len()) {
            (true, 1) => expr = &c.args[0],
            _ => break,
        }
    }
    expr
}

/// The start of a call chain, `Builder::new().name("x").spawn(..)` -> `Builder::new`, through
/// method calls, `?`, `.await`, parentheses, references and blocks (`{ Handle::current() }`).
pub(crate) fn chain_root(expr: &Expr) -> Option<&Expr> {
    indexed_chain_root(expr).map(|(root, _)| root)
}

/// The methods that take one element out of what holds several (`rts.first()`,
/// `rts.get(i)`, `rts.pop()`, `rts.iter().next()`): the chain goes on from an element, as
/// after an index.
const ELEMENT_METHODS: &[&str] = &[
    "first",
    "first_mut",
    "last",
    "last_mut",
    "get",
    "get_mut",
    "get_unchecked",
    "front",
    "front_mut",
    "back",
    "back_mut",
    "pop",
    "pop_front",
    "pop_back",
    "swap_remove",
    "remove",
    "next",
    "next_back",
    "nth",
    // A map's entry, filled (`entry(k)` itself is not an element).
    "or_default",
    "or_insert",
    "or_insert_with",
    "or_insert_with_key",
];

/// The methods that give what their closure or fn argument makes of the value (an `Option`'s,
/// a `Result`'s): see [`Reach::mapped`].
const TRANSFORMING_METHODS: &[&str] = &[
    "map",
    "and_then",
    "and",
    "map_or",
    "map_or_else",
    "flat_map",
    "filter_map",
    "find_map",
    "map_while",
    "fold",
    "try_fold",
    "scan",
    "zip",
    "then",
];

/// The methods that make an iterator over a collection's elements: a combinator after them
/// hands its closure an element (`rts.iter().for_each(|h| ..)`).
const ITERATING_METHODS: &[&str] = &[
    "iter",
    "iter_mut",
    "into_iter",
    "drain",
    "values",
    "values_mut",
    "into_values",
];

/// Whether the chain of `expr` goes through a method that iterates over a collection.
pub(crate) fn iterates(mut expr: &Expr) -> bool {
    loop {
        match expr {
            Expr::MethodCall(m) if ITERATING_METHODS.contains(&unraw(&m.method).as_str()) => {
                return true;
            }
            Expr::MethodCall(m) => expr = &m.receiver,
            Expr::Paren(p) => expr = &p.expr,
            Expr::Reference(r) => expr = &r.expr,
            _ => return false,
        }
    }
}

/// How a chain reaches into what it starts at: `indexed`, by `[i]`; `accessed`, by a method
/// that takes an element out (see [`ELEMENT_METHODS`]), which is an element only when what
/// it is called on holds several (`h.get()` on a handle is the handle's own method).
#[derive(Clone, Copy, Default)]
pub(crate) struct Reach {
    pub(crate) indexed: usize,
    pub(crate) accessed: usize,
    /// The chain goes through a method that gives what a closure or fn makes of its value
    /// (see [`TRANSFORMING_METHODS`]): what a wrapper at its start holds is not what it gives
    /// (`Some(rt).map(Exec::new).unwrap()`). (A collection's elements or a constructor's value
    /// are followed through these as through any method.)
    pub(crate) mapped: bool,
}

/// The path of what a chain that reaches `reach` into a value of `path` ends at: one of its
/// elements per index; per access method, one of them if it holds several.
pub(crate) fn reached_path(path: &[String], reach: Reach) -> Option<&[String]> {
    let mut path = element_path(path, reach.indexed)?;
    for _ in 0..reach.accessed {
        match element_path(path, 1) {
            Some(inner) if is_collection(path) => path = inner,
            _ => break,
        }
    }
    Some(path)
}

/// [`chain_root`], with how the chain reaches into what it starts at (`handles[i].spawn(..)`:
/// one index; `handles.first().unwrap().spawn(..)`: one access).
pub(crate) fn indexed_chain_root(expr: &Expr) -> Option<(&Expr, Reach)> {
    let mut root = expr;
    let mut reach = Reach::default();
    loop {
        match root {
            Expr::MethodCall(m) => {
                let method = unraw(&m.method);
                if ELEMENT_METHODS.contains(&method.as_str()) {
                    reach.accessed += 1;
                }
                reach.mapped |= TRANSFORMING_METHODS.contains(&method.as_str());
                root = &m.receiver;
            }
            Expr::Try(t) => root = &t.expr,
            Expr::Await(a) => root = &a.base,
            Expr::Paren(p) => root = &p.expr,
            Expr::Group(g) => root = &g.expr,
            Expr::Reference(r) => root = &r.expr,
            // `handles[i].spawn(..)`: one of what `handles` holds.
            Expr::Index(i) => {
                root = &i.expr;
                reach.indexed += 1;
            }
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => root = &u.expr,
            // A field of what a name holds (`workers.set`, `pair.0`): read as what the name
            // holds, a set made in a literal's field included (see [`new_set_in`]).
            Expr::Field(f) => root = &f.base,
            Expr::Block(b) => root = trailing_expr(&b.block)?,
            Expr::Unsafe(u) => root = trailing_expr(&u.block)?,
            // What an awaited block yields (`async { Handle::current() }.await`).
            Expr::Async(a) => root = trailing_expr(&a.block)?,
            // What a closure called on the spot returns (`(|| Handle::current())()`).
            Expr::Call(c) if c.args.is_empty() && called_closure(&c.func).is_some() => {
                root = called_closure(&c.func)?;
            }
            // A call, a name, or a collection written in place (`[Handle::current()].iter()`:
            // see [`collection_elements`]).
            Expr::Call(_) | Expr::Path(_) | Expr::Array(_) | Expr::Repeat(_) => {
                return Some((root, reach));
            }
            Expr::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "vec") => {
                return Some((root, reach));
            }
            _ => return None,
        }
    }
}

/// The body of the closure `func` is, through parentheses (`(move || x)` called as `(..)()`).
fn called_closure(mut func: &Expr) -> Option<&Expr> {
    loop {
        match func {
            Expr::Paren(p) => func = &p.expr,
            Expr::Group(g) => func = &g.expr,
            Expr::Closure(c) => return Some(&c.body),
            _ => return None,
        }
    }
}

pub(crate) fn trailing_expr(block: &syn::Block) -> Option<&Expr> {
    match block.stmts.last() {
        Some(syn::Stmt::Expr(e, None)) => Some(e),
        _ => None,
    }
}

/// The value `expr` yields, through parentheses and blocks (`{ ..; value }`); `None` for a
/// block without a tail value.
pub(crate) fn yielded_value(mut expr: &Expr) -> Option<&Expr> {
    loop {
        match expr {
            Expr::Paren(p) => expr = &p.expr,
            Expr::Block(b) => expr = trailing_expr(&b.block)?,
            other => return Some(other),
        }
    }
}

/// The values a labeled block yields: its tail's and those of the `break`s that name its label
/// (not counting the closures, `async` blocks and items inside it): `'a: { break 'a rt; }`.
pub(crate) fn labeled_block_values(block: &syn::ExprBlock) -> Vec<&Expr> {
    struct Breaks<'a> {
        label: &'a syn::Lifetime,
        out: Vec<&'a Expr>,
    }
    impl<'a> Visit<'a> for Breaks<'a> {
        fn visit_expr_break(&mut self, e: &'a syn::ExprBreak) {
            if let (Some(named), Some(v)) = (&e.label, &e.expr) {
                if named.ident == self.label.ident {
                    self.out.push(v);
                }
            }
            syn::visit::visit_expr_break(self, e);
        }
        fn visit_expr_closure(&mut self, _: &'a syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'a syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'a syn::Item) {}
    }
    let Some(label) = &block.label else {
        return Vec::new();
    };
    let mut breaks = Breaks {
        label: &label.name,
        out: trailing_expr(&block.block).into_iter().collect(),
    };
    breaks.visit_block(&block.block);
    breaks.out
}

/// Classifies `.method(..)` on `receiver`; `locals` are the origins of the body's variables.
/// Returns the kind and the path the receiver's chain starts at (for the message).
pub(crate) fn classify_method(
    method: &str,
    receiver: &Expr,
    aliases: &Aliases,
    locals: &HashMap<String, Origin>,
) -> Option<(Orphan, Vec<String>)> {
    if !SPAWN_METHODS.contains(&method) && method != "detach_all" && method != "extend" {
        return None;
    }
    let (root, reach) = indexed_chain_root(receiver).unzip();
    let reach = reach.unwrap_or_default();
    // `by_key.entry(k).or_insert_with(JoinSet::new).spawn(..)`: the set made on the way, held
    // where the chain starts (by `self`, from outside; by a local, where that local goes).
    let put = set_put_into(receiver, aliases).map(|(name, path)| {
        let place = match locals.get(&name) {
            Some(origin) => origin.place,
            None if name == "self" => Place::Outside,
            None => Place::Body,
        };
        (path, place)
    });
    let (path, place) = match (put, root) {
        (Some(put), _) => put,
        (None, root) => match root {
            Some(Expr::Call(c)) => match &*c.func {
                Expr::Path(p) => (
                    aliases.resolve(&expr_path_segments(p.qself.as_ref(), &p.path).0),
                    Place::Body,
                ),
                _ => (Vec::new(), Place::Body),
            },
            Some(Expr::Path(p)) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let name = p.path.get_ident().map(unraw).unwrap_or_default();
                // A collection's element, if indexed; a collection itself spawns nothing.
                match locals
                    .get(&name)
                    .and_then(|o| Some((reached_path(&o.path, reach)?, o.place)))
                {
                    Some((path, _)) if is_collection(path) => (Vec::new(), Place::Body),
                    Some((path, place)) => (aliases.resolve(path), place),
                    None => (Vec::new(), Place::Body),
                }
            }
            _ => (Vec::new(), Place::Body),
        },
    };
    if EXECUTOR_METHODS.contains(&method) {
        return Some((Orphan::Executor, Vec::new()));
    }
    classify_on(method, path, place)
}

/// The kind of orphan that `method` (a spawn method, `detach_all` or `extend`) starts on a
/// value of the type, or made by the call, named `path` (resolved), made at `place`.
pub(crate) fn classify_on(
    method: &str,
    path: Vec<String>,
    place: Place,
) -> Option<(Orphan, Vec<String>)> {
    if path.is_empty() {
        return None;
    }
    let is_thread = path.iter().any(|s| s == "thread");
    // The owner: the type before a constructor (`Handle::current` -> `Handle`), or the type.
    let owner = match path.as_slice() {
        [.., owner, ctor]
            if matches!(
                ctor.as_str(),
                "new"
                    | "default"
                    | "current"
                    | "try_current"
                    | "builder"
                    | "create"
                    | "spawner"
                    | "new_multi_thread"
                    | "new_current_thread"
                    | "handle"
                    | "from_iter"
            ) =>
        {
            owner.clone()
        }
        [.., ty] => ty.clone(),
        [] => return None,
    };
    if method == "detach_all" {
        return SPAWNING_SETS
            .contains(&owner.as_str())
            .then_some((Orphan::Detached, path));
    }
    // A set's `Extend` spawns each future, as its `spawn` does.
    if method == "extend" {
        let kind = match place {
            _ if !SPAWNING_SETS.contains(&owner.as_str()) => return None,
            Place::Outside => Orphan::OuterJoinSet,
            Place::Leaves => Orphan::LeavingJoinSet,
            Place::Body => return None,
        };
        return Some((kind, path));
    }
    let kind = owner_kind(&owner, method, is_thread, place)?;
    Some((kind, path))
}

/// The sets a body makes (`JoinSet`, `JoinMap`, `LocalSet`, by a constructor or a typed
/// `let`) and moves out of itself: as the value of an assignment, an argument of a call or a
/// method (but `drop(set)`), a field of a struct, an element of an array, tuple or `vec![..]`,
/// what a `return` or `break` carries, or the body's own value (its tail, through the
/// branches of an `if`, a `match` or a block). Such a set's tasks leave the scope with it:
/// spawning on it is an orphan, as on a set from outside. A set only borrowed (`&set`,
/// `set.spawn(..)`, `set.join_next()`) stays. Names renamed (`let s2 = set`, `let s2 = if c {
/// set } else { .. }`) go together. What a macro's arguments do is read as code where they
/// parse as such (a `select!` arm's block included). A name a `let` binds to something else
/// is not the set's to the end of that `let`'s block.
pub(crate) fn leaving_sets(
    block: &syn::Block,
    aliases: &Aliases,
) -> std::collections::HashSet<String> {
    let mut find = SetMoves {
        aliases,
        sets: Vec::new(),
        renames: Vec::new(),
        within: 0,
        moved: Vec::new(),
        shadowed: std::collections::HashSet::new(),
        yields: HashMap::new(),
        call_yields: HashMap::new(),
        elements: HashMap::new(),
        frames: std::cell::RefCell::new(Vec::new()),
        fn_depth: 0,
        memo: std::cell::RefCell::new(HashMap::new()),
        parsed: std::cell::RefCell::new(HashMap::new()),
        handoffs: HashMap::new(),
        reading: std::cell::Cell::new(0),
        set_fields: HashMap::new(),
    };
    // The body's own statements (not `visit_block`, which scopes the names shadowed inside
    // it: the tail below reads those of the body).
    for stmt in &block.stmts {
        find.visit_stmt(stmt);
    }
    // The body's value leaves it, as what a `return` carries.
    if let Some(syn::Stmt::Expr(tail, None)) = block.stmts.last() {
        find.moves_name(tail);
        for value in tails(tail) {
            for name in captures(stored(value), false).unwrap_or_default() {
                find.moved_name(&name);
            }
        }
    }
    // A rename joins the two names: the set leaves if any of its names does.
    let sets = spread(find.sets.into_iter().collect(), &find.renames, |_, _| false);
    let moved = find
        .moved
        .into_iter()
        .filter(|name| sets.contains(name))
        .collect();
    spread(moved, &find.renames, |(new, old), leaving| {
        leaving.contains(new) && sets.contains(old)
    })
}

/// Adds to `names` each rename's new name whose old one is there, and each old name when `back`
/// says so for its rename, until nothing more is added.
fn spread(
    mut names: std::collections::HashSet<String>,
    renames: &[(String, String)],
    back: impl Fn((&String, &String), &std::collections::HashSet<String>) -> bool,
) -> std::collections::HashSet<String> {
    loop {
        let before = names.len();
        for (new, old) in renames {
            if names.contains(old) {
                names.insert(new.clone());
            }
            if back((new, old), &names) {
                names.insert(old.clone());
            }
        }
        if names.len() == before {
            return names;
        }
    }
}

/// The types whose tasks end when the value is dropped.
const SETS: &[&str] = &["JoinSet", "JoinMap", "JoinQueue", "LocalSet"];

/// The sets that spawn their tasks on the runtime (which `detach_all` can let go of, and whose
/// `Extend` and `FromIterator` spawn).
pub(crate) const SPAWNING_SETS: &[&str] = &["JoinSet", "JoinMap", "JoinQueue"];

/// Whether `path` (resolved) names a set type, or a set's constructor.
pub(crate) fn is_set_path(path: &[String]) -> bool {
    let owner = match path {
        [.., owner, ctor] if matches!(ctor.as_str(), "new" | "default" | "from_iter") => owner,
        [.., ty] => ty,
        [] => return false,
    };
    SETS.contains(&owner.as_str())
}

/// The path (resolved) of the set `expr` makes: a set's constructor, called or as a value
/// (`JoinSet::new()`, `or_insert_with(JoinSet::new)`, `|| JoinSet::new()`), or a literal (a
/// struct's, a tuple's, an array's, `vec![..]`, a wrapper's) with one among its parts, at
/// any depth (`Workers { set: JoinSet::new() }`): what holds it holds a set made here.
pub(crate) fn new_set_in(expr: &Expr, aliases: &Aliases) -> Option<Vec<String>> {
    let ctor = |path: &syn::ExprPath| {
        let path = aliases.resolve(&expr_path_segments(path.qself.as_ref(), &path.path).0);
        let made =
            matches!(path.as_slice(), [.., _, ctor] if matches!(ctor.as_str(), "new" | "default"));
        (made && is_set_path(&path)).then_some(path)
    };
    match unwrapped(unparen(expr)) {
        Expr::Struct(s) => s.fields.iter().find_map(|f| new_set_in(&f.expr, aliases)),
        Expr::Tuple(t) => t.elems.iter().find_map(|e| new_set_in(e, aliases)),
        Expr::Closure(c) => new_set_in(&c.body, aliases),
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => ctor(p),
            _ => None,
        },
        Expr::Path(p) => ctor(p),
        other => collection_elements(other)?
            .iter()
            .find_map(|e| new_set_in(e, aliases))
            .map(elements_of),
    }
}

/// The name a method chain starts at, and the set a method on the way is given to make
/// (`by_key.entry(k).or_insert_with(JoinSet::new)`, `shards.push(JoinSet::new())`): what that
/// name holds from then on holds a set made here.
pub(crate) fn set_put_into(expr: &Expr, aliases: &Aliases) -> Option<(String, Vec<String>)> {
    set_put_along(expr, None, aliases)
}

/// [`set_put_into`] for the method call `call`.
pub(crate) fn set_put_by(
    call: &syn::ExprMethodCall,
    aliases: &Aliases,
) -> Option<(String, Vec<String>)> {
    let made = call.args.iter().find_map(|a| new_set_in(a, aliases));
    set_put_along(&call.receiver, made, aliases)
}

fn set_put_along(
    mut at: &Expr,
    mut made: Option<Vec<String>>,
    aliases: &Aliases,
) -> Option<(String, Vec<String>)> {
    loop {
        match at {
            Expr::MethodCall(m) => {
                made = made.or_else(|| m.args.iter().find_map(|a| new_set_in(a, aliases)));
                at = &m.receiver;
            }
            Expr::Try(t) => at = &t.expr,
            Expr::Paren(p) => at = &p.expr,
            Expr::Reference(r) => at = &r.expr,
            Expr::Field(f) => at = &f.base,
            Expr::Index(i) => at = &i.expr,
            Expr::Path(p) if p.qself.is_none() => {
                let name = p.path.get_ident().map(unraw)?;
                return made.map(|path| (name, path));
            }
            _ => return None,
        }
    }
}

/// `expr` collects into a value (`iter.collect()`, `collect::<T>()`, `T::from_iter(..)`),
/// through the wrappers that keep what they are given: the path of `T` when written (empty
/// when not). A set made so has spawned every future it was given.
pub(crate) fn collected_type(expr: &Expr) -> Option<Vec<String>> {
    collected(expr).map(|(path, _)| path)
}

/// [`collected_type`], with how the call is written (for a message).
pub(crate) fn collected(expr: &Expr) -> Option<(Vec<String>, String)> {
    match stored(expr) {
        Expr::MethodCall(m) if unraw(&m.method) == "collect" => {
            let ty = m.turbofish.as_ref().and_then(|t| match t.args.first() {
                Some(syn::GenericArgument::Type(ty)) => type_path(ty),
                _ => None,
            });
            Some((ty.unwrap_or_default(), ".collect()".to_owned()))
        }
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => {
                let (segs, _) = expr_path_segments(p.qself.as_ref(), &p.path);
                match segs.as_slice() {
                    [ty @ .., last] if last == "from_iter" => Some((ty.to_vec(), segs.join("::"))),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}

/// What `leaving_sets` gathers in one pass over the body.
struct SetMoves<'a> {
    aliases: &'a Aliases,
    sets: Vec<String>,
    /// `(new, old)` of each `let new = old;`.
    renames: Vec<(String, String)>,
    /// Inside what runs within the body (an awaited expression, a child's future): a fn's
    /// arguments there are not moves out of it.
    within: usize,
    moved: Vec<String>,
    /// Names whose latest `let` binds something else than a set (`let tasks =
    /// tasks.join_all().await;`): a move of one from there on is not the set's, to the end
    /// of the block that `let` is in.
    shadowed: std::collections::HashSet<String>,
    /// What a name bound to a future, a child's handle or a closure yields when awaited or
    /// called (`let c = spawn!(async move { Ok(set) });`: `c` yields `set`).
    yields: HashMap<String, Vec<String>>,
    /// What awaiting what a closure bound by a name returns yields (`let f = move || async
    /// move { set };`: `f().await` yields `set`).
    call_yields: HashMap<String, Vec<String>>,
    /// What each element of a tuple bound by a name holds (`let t = (set, 1);`: `t.0` is
    /// `set`, `t.1` nothing).
    elements: HashMap<String, Vec<Held>>,
    /// The names bound where the pass is (a `match` arm's pattern, an `if let`'s, a `for`
    /// loop's, a block's `let`s while its value is read), innermost last: they hide the
    /// body's names of the same spelling there, and only there.
    frames: std::cell::RefCell<Vec<HashMap<String, Held>>>,
    /// Closures and `async` blocks entered: a `return` there is theirs.
    fn_depth: usize,
    /// What `carried` and `yielded_by` found in the reading under way (see `memo`).
    memo: std::cell::RefCell<HashMap<(usize, u8), Vec<String>>>,
    /// What a reading parsed of macros' tokens (a `select!`'s branches, a macro's arguments
    /// or statements), by the macro's address and what was parsed: kept as long as the memo
    /// that is keyed on the addresses of what it reads (so that no later parse takes an
    /// address the memo knows), and parsed once per reading (so that the memo knows them when
    /// they are read again).
    parsed: std::cell::RefCell<HashMap<(usize, u8), std::rc::Rc<dyn std::any::Any>>>,
    /// What `mem::replace`/`mem::swap` (or `Option::replace`) put into each local: the
    /// body's names whose set it may hold since (a block's local too, whose `let` alone does
    /// not say so when its block's value is read).
    handoffs: HashMap<String, Vec<String>>,
    /// The depth of that reading: 0 between readings.
    reading: std::cell::Cell<usize>,
    /// The fields that hold a set, of each local bound to a struct literal made with one
    /// (`let w = Workers { set: JoinSet::new(), id: 1 };`): reading another field (`w.id`)
    /// moves no set.
    set_fields: HashMap<String, Vec<syn::Member>>,
}
impl SetMoves<'_> {
    /// The local `name` holds what the body's names `olds` held, too (a swap or a replace
    /// put it there): in the frame that binds it, if one does, else for the rest of the
    /// body.
    fn gives(&mut self, name: &str, olds: Vec<String>) {
        if olds.is_empty() {
            return;
        }
        self.handoffs
            .entry(name.to_owned())
            .or_default()
            .extend(olds.iter().cloned());
        let in_frame = {
            let mut frames = self.frames.borrow_mut();
            match frames.iter_mut().rev().find_map(|f| f.get_mut(name)) {
                Some(held) => {
                    held.holds.extend(olds.iter().cloned());
                    true
                }
                None => false,
            }
        };
        if !in_frame && olds.iter().any(|old| self.may_be_set(old)) {
            self.shadowed.remove(name);
        }
        self.renames
            .extend(olds.into_iter().map(|old| (name.to_owned(), old)));
    }
    /// Notes as moved out the sets the name `name` may hold here (see [`holds_of`](Self::holds_of)).
    fn moved_name(&mut self, name: &str) {
        let names = self.holds_of(name);
        self.note_moved(names);
    }
    /// Notes `names` (the body's, resolved) as moved out: those that may be sets by now (a
    /// name passed on before a set of that name is made, a parameter `workers: usize` before
    /// `let mut workers = JoinSet::new()`, is not that set).
    fn note_moved(&mut self, names: Vec<String>) {
        for name in names {
            if self.may_be_set(&name) {
                self.moved.push(name);
            }
        }
    }
    fn is_set(&self, path: &[String]) -> bool {
        is_set_path(&self.aliases.resolve(path))
    }
    fn moves(&mut self, expr: &Expr) {
        let names = self.carried(expr);
        self.note_moved(names);
        // Packed to be kept (`Box::new(move || ..)`, `Some(Box::pin(async move { .. }))`): what
        // the closure or block captures leaves with it.
        if !std::ptr::eq(stored(expr), expr) {
            self.stores(expr);
        }
    }
    /// `expr` is kept where the body does not run it (a field, a struct, what is returned): a
    /// set it names leaves, and so does a set a `move` closure or `async move` block there
    /// captures.
    fn stores(&mut self, expr: &Expr) {
        self.moves_name(expr);
        if let Some(names) = captures(stored(expr), false) {
            for name in names {
                self.moved_name(&name);
            }
        }
    }
    fn moves_name(&mut self, expr: &Expr) {
        let names = self.carried(stored(expr));
        self.note_moved(names);
    }
    /// A `let` binds `name` to `held` (`made`: to a set made there, which holds itself): in
    /// the innermost frame when the pass is in one (an arm, a branch, a loop), else for the
    /// rest of the body (its renames, what it yields, its elements; a name bound to no set
    /// is the set's no more).
    fn bind(
        &mut self,
        name: String,
        mut held: Held,
        made: bool,
        elements: Option<Vec<Held>>,
        call_yields: Option<Vec<String>>,
    ) {
        if let Some(top) = self.frames.borrow_mut().last_mut() {
            if made {
                held.holds.push(name.clone());
            }
            held.elements = elements;
            held.calls = call_yields.unwrap_or_default();
            top.insert(name, held);
            return;
        }
        match elements {
            Some(elements) => self.elements.insert(name.clone(), elements),
            None => self.elements.remove(&name),
        };
        match call_yields {
            Some(yields) => self.call_yields.insert(name.clone(), yields),
            None => self.call_yields.remove(&name),
        };
        if held.yields.is_empty() {
            self.yields.remove(&name);
        } else {
            self.yields
                .insert(name.clone(), std::mem::take(&mut held.yields));
        }
        // Only what may be a set makes the name one (`let set = names;` rebinds the set's
        // name to something else).
        held.holds.retain(|old| self.may_be_set(old));
        if made || !held.holds.is_empty() {
            self.shadowed.remove(&name);
        } else {
            self.shadowed.insert(name.clone());
        }
        self.renames
            .extend(held.holds.into_iter().map(|old| (name.clone(), old)));
    }
    /// Whether the body's name `name` may hold a set here: one made under it, or a name it
    /// was given from that may.
    /// A method of the local `name` gave it a set made here: the name holds a set from now
    /// on, whatever its `let` bound it to.
    fn holds_a_set_now(&mut self, name: String) {
        {
            let mut frames = self.frames.borrow_mut();
            if let Some(held) = frames.iter_mut().rev().find_map(|f| f.get_mut(&name)) {
                if !held.holds.contains(&name) {
                    held.holds.push(name.clone());
                }
            } else {
                self.shadowed.remove(&name);
            }
        }
        if !self.sets.contains(&name) {
            self.sets.push(name);
        }
    }
    fn may_be_set(&self, name: &str) -> bool {
        let mut seen = vec![name];
        let mut i = 0;
        while let Some(&at) = seen.get(i) {
            if self.sets.iter().any(|s| s == at) {
                return true;
            }
            for (new, old) in &self.renames {
                if new == at && !seen.contains(&old.as_str()) {
                    seen.push(old);
                }
            }
            i += 1;
        }
        false
    }
    /// Whether `local` makes a set: typed as one, its value (or a branch's) made by a set's
    /// constructor, or collected into one.
    fn makes_set(&self, local: &syn::Local) -> bool {
        let ty = match &local.pat {
            syn::Pat::Type(pt) => Some(&*pt.ty),
            _ => None,
        };
        let typed = ty.and_then(type_path).is_some_and(|p| self.is_set(&p));
        let init = local.init.as_ref().map(|i| unwrapped(&i.expr));
        let made = init.into_iter().flat_map(tails).any(|value| {
            chain_root(unwrapped(value)).is_some_and(|root| match root {
                Expr::Call(c) => match &*c.func {
                    Expr::Path(p) => self.is_set(&expr_path_segments(p.qself.as_ref(), &p.path).0),
                    _ => false,
                },
                _ => false,
            })
        });
        let collected = local
            .init
            .as_ref()
            .and_then(|i| collected_type(&i.expr))
            .is_some_and(|p| self.is_set(&p));
        // Made in a literal the name holds (`Workers { set: JoinSet::new() }`, `vec![..]`).
        let held = init
            .into_iter()
            .flat_map(tails)
            .any(|value| new_set_in(value, self.aliases).is_some());
        typed || made || collected || held
    }
    /// What a pattern or a `let` of a block around here bound `name` to, innermost first.
    fn bound(&self, name: &str) -> Option<Held> {
        let frames = self.frames.borrow();
        frames.iter().rev().find_map(|f| f.get(name).cloned())
    }
    /// The body's names whose set the name `name` may hold here: what a pattern or a block's
    /// `let` around here bound it to, else itself (none if a later `let` rebound it).
    fn holds_of(&self, name: &str) -> Vec<String> {
        match self.bound(name) {
            // A block's local, and what a swap or a replace put into a local of that name
            // (read again from its `let` when its block's value is read).
            Some(mut held) => {
                held.holds
                    .extend(self.handoffs.get(name).into_iter().flatten().cloned());
                held.holds
            }
            None if self.shadowed.contains(name) => Vec::new(),
            None => vec![name.to_owned()],
        }
    }
    /// What awaiting (or calling) the value of the name `name` may give.
    fn yields_of(&self, name: &str) -> Vec<String> {
        match self.bound(name) {
            Some(held) => held.yields,
            None => self.yields.get(name).cloned().unwrap_or_default(),
        }
    }
    /// What each element of the tuple bound by the name `name` holds, where known.
    fn elements_named(&self, name: &str) -> Option<Vec<Held>> {
        match self.bound(name) {
            Some(held) => held.elements,
            None => self.elements.get(name).cloned(),
        }
    }
    /// What awaiting what calling the closure bound by the name `name` returns yields.
    fn calls_named(&self, name: &str) -> Vec<String> {
        match self.bound(name) {
            Some(held) => held.calls,
            None => self.call_yields.get(name).cloned().unwrap_or_default(),
        }
    }
    /// What `expr`'s value may hold and yield.
    fn held(&self, expr: &Expr) -> Held {
        Held {
            holds: self.carried(expr),
            yields: self.yielded_by(expr),
            ..Held::default()
        }
    }
    /// Evaluates `f` with `frame`'s names bound (a pattern's, a closure's parameters).
    fn with_frame<T>(&self, frame: HashMap<String, Held>, f: impl FnOnce(&Self) -> T) -> T {
        self.frames.borrow_mut().push(frame);
        let out = f(self);
        self.frames.borrow_mut().pop();
        out
    }
    /// Evaluates `f` on `block`'s tail, with the names its `let`s bind bound as they are
    /// there (`{ let c = spawn!(..); c }`; a local of the block named like a set of the body
    /// is not that set). Nothing for a block without a tail.
    fn in_block(&self, block: &syn::Block, f: impl Fn(&Self, &Expr) -> Vec<String>) -> Vec<String> {
        self.in_block_with(block, None, f)
    }
    /// [`in_block`](Self::in_block), with the values the block's exits of kind `exit` give
    /// (its `return`s, or the `break`s that leave it) evaluated too, each where it is (see
    /// [`exit_values`](Self::exit_values)).
    fn in_block_with(
        &self,
        block: &syn::Block,
        exit: Option<Exit<'_>>,
        f: impl Fn(&Self, &Expr) -> Vec<String>,
    ) -> Vec<String> {
        let mut out = self.with_frame(HashMap::new(), |me| {
            for stmt in &block.stmts {
                if let syn::Stmt::Local(local) = stmt {
                    let bound = me.local_frame(local);
                    if let Some(top) = me.frames.borrow_mut().last_mut() {
                        top.extend(bound);
                    }
                }
            }
            trailing_expr(block)
                .map(|tail| f(me, tail))
                .unwrap_or_default()
        });
        if let Some(exit) = exit {
            out.extend(self.exit_values(ExitRoot::Block(block), exit, &f));
        }
        out
    }
    /// The names a `let` binds, as they are after it: a set it makes is itself (`{ let mut
    /// s = JoinSet::new(); .. s }`).
    fn local_frame(&self, local: &syn::Local) -> HashMap<String, Held> {
        let mut bound = match &local.init {
            Some(init) => self.pattern_frame(&local.pat, &init.expr),
            None => unbound(&local.pat),
        };
        if let (syn::Pat::Ident(pi), true) = (pat_inner(&local.pat), self.makes_set(local)) {
            if let Some(held) = bound.get_mut(&unraw(&pi.ident)) {
                held.holds.push(unraw(&pi.ident));
            }
        }
        bound
    }
    /// `f` on the value of each exit of kind `exit` in `root` (not counting those of the
    /// closures and `async` blocks inside it, theirs, nor the unlabeled `break`s of its inner
    /// loops), evaluated where the exit is: with the names bound there (the `let`s before it
    /// in the blocks around it, the patterns of the arms, branches and loops it is in) bound
    /// as they are there. Read in place, on the code itself: each `let` and pattern is read
    /// once per reading, however many exits it is around.
    fn exit_values(
        &self,
        root: ExitRoot<'_>,
        exit: Exit<'_>,
        f: impl Fn(&Self, &Expr) -> Vec<String>,
    ) -> Vec<String> {
        let depth = self.frames.borrow().len();
        let mut reader = ExitReader {
            me: self,
            exit,
            loops: 0,
            f,
            out: Vec::new(),
        };
        match root {
            ExitRoot::Block(b) => reader.visit_block(b),
            ExitRoot::Expr(e) => reader.visit_expr(e),
        }
        self.frames.borrow_mut().truncate(depth);
        reader.out
    }
    /// What `parse` makes of `mac`'s tokens, parsed once per reading (the memo is keyed on
    /// the addresses of what it reads, and a copy parsed again would have others, or take one
    /// the memo knows).
    fn parsed<T: 'static>(
        &self,
        mac: &syn::Macro,
        kind: u8,
        parse: impl FnOnce(&syn::Macro) -> T,
    ) -> std::rc::Rc<T> {
        let key = (std::ptr::from_ref(mac) as usize, kind);
        let known = self.parsed.borrow().get(&key).cloned();
        if let Some(known) = known.and_then(|k| k.downcast::<T>().ok()) {
            return known;
        }
        let made = std::rc::Rc::new(parse(mac));
        self.parsed.borrow_mut().insert(key, made.clone());
        made
    }
    /// [`select_branches`] of `mac`, parsed once per reading.
    fn select_of(&self, mac: &syn::Macro) -> std::rc::Rc<Option<Vec<BranchShape>>> {
        self.parsed(mac, 0, select_branches)
    }
    /// [`macro_args`] of `mac`, parsed once per reading.
    fn args_of(&self, mac: &syn::Macro) -> std::rc::Rc<Option<Vec<Expr>>> {
        self.parsed(mac, 1, macro_args)
    }
    /// `mac`'s tokens as statements, parsed once per reading.
    fn stmts_of(&self, mac: &syn::Macro) -> std::rc::Rc<Option<Vec<syn::Stmt>>> {
        self.parsed(mac, 2, |mac| {
            if never_runs(&mac.path) {
                return None;
            }
            syn::parse::Parser::parse2(syn::Block::parse_within, mac.tokens.clone()).ok()
        })
    }
    /// The names `pat` binds, matched against `value`: a name bound whole (`s`, `Some(s)`,
    /// `Ok(s)`, `s @ ..`) holds and yields what the value does, one in a tuple pattern what
    /// its element does where the value's elements are known (a tuple, a tuple's name, what
    /// `join!` gives); any other name (`Err(e)`, a field, a `ref`, an element of a value not
    /// known) holds nothing.
    fn pattern_frame(&self, pat: &syn::Pat, value: &Expr) -> HashMap<String, Held> {
        let mut held = self.held(value);
        if let Expr::Closure(c) = unparen(value) {
            held.calls = self.closure_future_yields(c);
        }
        pattern_binds(pat, held, self.elements_of(value))
    }
    /// The value of a `select!`: each branch's, with its pattern bound to what its future
    /// yields (`r = c => r?`).
    fn selected(&self, mac: &syn::Macro) -> Vec<String> {
        let branches = self.select_of(mac);
        let Some(branches) = &*branches else {
            return Vec::new();
        };
        branches
            .iter()
            .flat_map(|b| {
                let frame = match &b.pat {
                    Some((pat, fut)) => pattern_binds(
                        pat,
                        Held {
                            holds: self.yielded_by(fut),
                            ..Held::default()
                        },
                        None,
                    ),
                    None => HashMap::new(),
                };
                self.with_frame(frame, |me| me.carried(&b.body))
            })
            .collect()
    }
}

/// A `select!`'s branches, if `mac` is one that parses.
fn select_branches(mac: &syn::Macro) -> Option<Vec<BranchShape>> {
    select_shape(&mac.path, &mac.tokens).map(|shape| shape.branches)
}

/// A `select!` as written: its branches parsed, and how many token trees each part is, for
/// the rewrite to find each part where it is (see [`select_shape`]).
pub(crate) struct SelectShape {
    /// The trees before the first branch (`biased;`: 2, else 0).
    pub(crate) head: usize,
    pub(crate) branches: Vec<BranchShape>,
}

/// One branch of a [`SelectShape`]: `pat = fut (, if guard)? => body ,?`, or `else => body ,?`
/// (`complete`, `default`).
pub(crate) struct BranchShape {
    /// The pattern and the future, if the branch has them.
    pub(crate) pat: Option<(syn::Pat, Expr)>,
    /// The guard, if any.
    pub(crate) guard: Option<Expr>,
    /// The body (a block is an `Expr::Block`).
    pub(crate) body: Expr,
    /// The trees of the pattern (or of `else`).
    pub(crate) pat_len: usize,
    /// The trees of the future after the `=` (0 without one).
    pub(crate) fut_len: usize,
    /// The trees of the guard after `, if` (0 without one).
    pub(crate) guard_len: usize,
    /// The trees of the body after the `=>` (a block is one).
    pub(crate) body_len: usize,
    /// Whether a `,` follows the body.
    pub(crate) comma: bool,
}

/// The shape of a `select!` (see [`SelectShape`]), if `path` names one whose `tokens` parse.
pub(crate) fn select_shape(path: &Path, tokens: &proc_macro2::TokenStream) -> Option<SelectShape> {
    if !is_select(path) {
        return None;
    }
    syn::parse::Parser::parse2(parse_select, tokens.clone()).ok()
}

/// How many token trees lie between `from` and where `to` is now.
fn trees_between(
    from: &syn::parse::ParseBuffer<'_>,
    to: syn::parse::ParseStream<'_>,
) -> syn::Result<usize> {
    let mut n = 0;
    while from.cursor() != to.cursor() {
        from.parse::<proc_macro2::TokenTree>()?;
        n += 1;
    }
    Ok(n)
}

/// Parses a `select!`'s branches (after an optional `biased;`), counting the trees of each part.
fn parse_select(input: syn::parse::ParseStream<'_>) -> syn::Result<SelectShape> {
    let mut head = 0;
    if input.peek(syn::Ident) && input.peek2(syn::Token![;]) {
        input.parse::<syn::Ident>()?;
        input.parse::<syn::Token![;]>()?;
        head = 2;
    }
    let mut branches = Vec::new();
    while !input.is_empty() {
        let start = input.fork();
        let (pat, guard, fut_len, guard_len) = if input.peek(syn::Token![else])
            || input.peek(syn::Ident) && input.peek2(syn::Token![=>])
        {
            // `else`, and `futures::select!`'s `complete` and `default`.
            input.parse::<proc_macro2::TokenTree>()?;
            (None, None, 0, 0)
        } else {
            // (A branch may take an or-pattern whole, as a `let` may: `Ok(x) | Err(x) = ..`.)
            let pat = syn::Pat::parse_multi_with_leading_vert(input)?;
            input.parse::<syn::Token![=]>()?;
            // The future and the guard are whole expressions (a struct literal included): the
            // `, if` or the `=>` after them ends them.
            let at = input.fork();
            let fut: Expr = input.parse()?;
            let fut_len = trees_between(&at, input)?;
            let (guard, guard_len) = if input.peek(syn::Token![,]) && input.peek2(syn::Token![if]) {
                input.parse::<syn::Token![,]>()?;
                input.parse::<syn::Token![if]>()?;
                let at = input.fork();
                let guard: Expr = input.parse()?;
                (Some(guard), trees_between(&at, input)?)
            } else {
                (None, 0)
            };
            (Some((pat, fut)), guard, fut_len, guard_len)
        };
        let pat_len = {
            let fut = if pat.is_some() { 1 + fut_len } else { 0 };
            let guard = if guard.is_some() { 2 + guard_len } else { 0 };
            trees_between(&start, input)? - fut - guard
        };
        input.parse::<syn::Token![=>]>()?;
        // A block is the body whole, whatever follows it (tokio's `=> $body:block` branch
        // needs no `,`, and the next branch's pattern may start with `(`, `[`, `&` or `|`).
        let block = input.peek(syn::token::Brace);
        let at = input.fork();
        let body = if block {
            Expr::Block(syn::ExprBlock {
                attrs: Vec::new(),
                label: None,
                block: input.parse()?,
            })
        } else {
            input.parse()?
        };
        let body_len = trees_between(&at, input)?;
        let comma = input.peek(syn::Token![,]);
        if comma {
            input.parse::<syn::Token![,]>()?;
        } else if !input.is_empty() && !block {
            return Err(input.error("expected `,` after a branch's expression"));
        }
        branches.push(BranchShape {
            pat,
            guard,
            body,
            pat_len,
            fut_len,
            guard_len,
            body_len,
            comma,
        });
    }
    Ok(SelectShape { head, branches })
}

/// Whether `path` names a `select!` (tokio's or `futures`'s, `select_biased!` included):
/// written alone (imported), or under one of those crates' paths.
fn is_select(path: &Path) -> bool {
    let named = path
        .segments
        .last()
        .is_some_and(|s| s.ident == "select" || s.ident == "select_biased");
    let from = path.segments.len() == 1
        || path.segments.first().is_some_and(|s| {
            matches!(
                unraw(&s.ident).as_str(),
                "tokio" | "futures" | "futures_util"
            )
        });
    named && from
}

/// The names `pat` binds, matched against a value that holds and yields `held` (with its
/// elements, where known): see [`SetMoves::pattern_frame`].
fn pattern_binds(pat: &syn::Pat, held: Held, elements: Option<Vec<Held>>) -> HashMap<String, Held> {
    fn walk(
        pat: &syn::Pat,
        held: Held,
        elements: Option<Vec<Held>>,
        out: &mut HashMap<String, Held>,
    ) {
        // `Some(h)`, `Ok(h)`: the name holds what the value holds.
        if let Some(inner) = crate::ast::ok_or_some(pat) {
            walk(inner, held, None, out);
            return;
        }
        match pat {
            syn::Pat::Ident(pi) => {
                let held = if pi.by_ref.is_some() {
                    Held::default()
                } else {
                    Held {
                        elements: held.elements.or(elements),
                        ..held
                    }
                };
                out.insert(unraw(&pi.ident), held);
                if let Some((_, sub)) = &pi.subpat {
                    out.extend(unbound(sub));
                }
            }
            syn::Pat::Type(t) => walk(&t.pat, held, elements, out),
            syn::Pat::Paren(p) => walk(&p.pat, held, elements, out),
            // A name holds what it holds in any alternative.
            syn::Pat::Or(o) => {
                for case in &o.cases {
                    let mut one = HashMap::new();
                    walk(case, held.clone(), elements.clone(), &mut one);
                    for (name, h) in one {
                        let entry: &mut Held = out.entry(name).or_default();
                        entry.holds.extend(h.holds);
                        entry.yields.extend(h.yields);
                    }
                }
            }
            syn::Pat::Tuple(t) => match elements {
                Some(elements)
                    if elements.len() == t.elems.len()
                        && !t.elems.iter().any(|p| matches!(p, syn::Pat::Rest(_))) =>
                {
                    for (p, e) in t.elems.iter().zip(elements) {
                        let inner = e.elements.clone();
                        walk(p, e, inner, out);
                    }
                }
                _ => out.extend(unbound(pat)),
            },
            other => out.extend(unbound(other)),
        }
    }
    let mut out = HashMap::new();
    walk(pat, held, elements, &mut out);
    out
}

impl SetMoves<'_> {
    /// What each element of `value` holds and yields, where it is a tuple the lint can see:
    /// written out, bound to a name, or what `join!` / `try_join!` (with `?`) gives.
    fn elements_of(&self, value: &Expr) -> Option<Vec<Held>> {
        match value {
            Expr::Paren(p) => self.elements_of(&p.expr),
            Expr::Group(g) => self.elements_of(&g.expr),
            Expr::Try(t) => self.elements_of(&t.expr),
            Expr::Tuple(t) => Some(t.elems.iter().map(|e| self.held(e)).collect()),
            Expr::Path(p) => {
                let name = p.path.get_ident().filter(|_| p.qself.is_none())?;
                self.elements_named(&unraw(name))
            }
            Expr::Macro(m) if is_joining_macro(&m.mac) => Some(
                self.args_of(&m.mac)
                    .as_ref()
                    .as_ref()?
                    .iter()
                    .map(|a| Held {
                        holds: self.yielded_by(a),
                        ..Held::default()
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
    /// [`carried_uncached`](Self::carried_uncached), read once per expression in one
    /// reading of a value (a value nested in blocks with `let`s of their own is read for
    /// what it holds and what it yields at each level: without this, twice per level).
    fn carried(&self, expr: &Expr) -> Vec<String> {
        self.memo(expr, 0, Self::carried_uncached)
    }
    /// [`yielded_by_uncached`](Self::yielded_by_uncached), read once per expression in one
    /// reading of a value (see [`carried`](Self::carried)).
    fn yielded_by(&self, expr: &Expr) -> Vec<String> {
        self.memo(expr, 1, Self::yielded_by_uncached)
    }
    fn memo(&self, expr: &Expr, kind: u8, f: fn(&Self, &Expr) -> Vec<String>) -> Vec<String> {
        let key = (std::ptr::from_ref(expr) as usize, kind);
        // A new reading (from the pass itself): what the pass learnt since may change it.
        if self.reading.get() == 0 {
            self.memo.borrow_mut().clear();
            self.parsed.borrow_mut().clear();
        }
        if let Some(known) = self.memo.borrow().get(&key) {
            return known.clone();
        }
        self.reading.set(self.reading.get() + 1);
        let mut out = f(self, expr);
        self.reading.set(self.reading.get() - 1);
        // Each name once: a value that gives a name by two ways (two `break`s of one
        // loop) must not give it twice, which would double the list with each level of
        // such values.
        if out.len() > 1 {
            let mut seen = std::collections::HashSet::new();
            out.retain(|name| seen.insert(name.clone()));
        }
        self.memo.borrow_mut().insert(key, out.clone());
        out
    }
    /// The names whose set may be in `expr`'s value: the set itself or a future that
    /// consumes it ([`named_or_consumed`]), and what hands a value on: a branch's value (with
    /// the names its pattern or its block's `let`s bind), a wrapper (`Some(set)`) and its
    /// unwrapping methods (`.unwrap()`, `.take()`), `?`, a dereference, a tuple or an array
    /// and their elements (`t.0`), what an awaited future or a called closure yields (`async
    /// move { set }.await`, `spawn!(async move { Ok(set) }).await`, `(move || set)()`), what
    /// `join!` gives. Names are the body's, as bound where `expr` is.
    fn carried_uncached(&self, expr: &Expr) -> Vec<String> {
        match expr {
            Expr::Paren(p) => self.carried(&p.expr),
            Expr::Group(g) => self.carried(&g.expr),
            Expr::Block(b) => match &b.label {
                Some(label) => self.in_block_with(
                    &b.block,
                    Some(Exit::Break(Some(&label.name))),
                    Self::carried,
                ),
                None => self.in_block(&b.block, Self::carried),
            },
            // A loop's value is what its `break`s give.
            Expr::Loop(l) => {
                let label = l.label.as_ref().map(|l| &l.name);
                self.exit_values(ExitRoot::Block(&l.body), Exit::Break(label), Self::carried)
            }
            Expr::Unsafe(u) => self.in_block(&u.block, Self::carried),
            Expr::If(i) => self.branches(i, Self::carried),
            Expr::Match(m) => m
                .arms
                .iter()
                .flat_map(|arm| {
                    let frame = self.arm_frame(arm, &m.expr);
                    self.with_frame(frame, |me| me.carried(&arm.body))
                })
                .collect(),
            Expr::Try(t) => self.carried(&t.expr),
            Expr::Await(a) => self.yielded_by(&a.base),
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => self.carried(&u.expr),
            Expr::MethodCall(m) if UNWRAPS.contains(&unraw(&m.method).as_str()) => {
                self.carried(&m.receiver)
            }
            Expr::Call(c) if c.args.len() == 1 && wraps(&c.func) => self.carried(&c.args[0]),
            // `mem::take(&mut set)`, `mem::replace(&mut set, ..)`: what was in the place.
            Expr::Call(c) if taken_place(c).is_some() => taken_place(c)
                .map(|place| self.carried(place))
                .unwrap_or_default(),
            // `Arc::clone(&set)`; `(move || set)()`, `f()` for `let f = move || set;`.
            Expr::Call(c) => {
                let mut out = self.consumed(expr);
                out.extend(self.yielded_by(&c.func));
                out
            }
            Expr::Tuple(t) => t.elems.iter().flat_map(|e| self.carried(e)).collect(),
            Expr::Array(a) => a.elems.iter().flat_map(|e| self.carried(e)).collect(),
            Expr::Field(f) => {
                let element = match (&*f.base, &f.member) {
                    (Expr::Path(p), syn::Member::Unnamed(i)) => p
                        .path
                        .get_ident()
                        .and_then(|t| self.elements_named(&unraw(t)))
                        .and_then(|elements| elements.get(i.index as usize).cloned())
                        .map(|e| e.holds),
                    // A field of a struct literal's local that holds no set (`w.id`).
                    (Expr::Path(p), member) => p
                        .path
                        .get_ident()
                        .and_then(|t| self.set_fields.get(&unraw(t)))
                        .filter(|fields| !fields.contains(member))
                        .map(|_| Vec::new()),
                    _ => None,
                };
                element.unwrap_or_else(|| self.carried(&f.base))
            }
            Expr::Macro(m) if is_joining_macro(&m.mac) => self
                .args_of(&m.mac)
                .iter()
                .flatten()
                .flat_map(|a| self.yielded_by(a))
                .collect(),
            Expr::Macro(m) if is_select(&m.mac.path) => self.selected(&m.mac),
            other => self.consumed(other),
        }
    }
    /// The set `expr` is, or the one a by-value method of it takes (see [`named_or_consumed`]),
    /// as bound here.
    fn consumed(&self, expr: &Expr) -> Vec<String> {
        named_or_consumed(expr)
            .or_else(|| named_or_consumed(unwrapped(expr)))
            .map(|name| self.holds_of(&name))
            .unwrap_or_default()
    }
    /// `f` on the value of each branch of `i` (the names an `if let` binds bound in its
    /// block).
    fn branches(
        &self,
        i: &syn::ExprIf,
        f: impl Fn(&Self, &Expr) -> Vec<String> + Copy,
    ) -> Vec<String> {
        let frame = self.condition_frame(&i.cond);
        let mut out = self.with_frame(frame, |me| me.in_block(&i.then_branch, f));
        if let Some((_, other)) = &i.else_branch {
            out.extend(f(self, other));
        }
        out
    }
    /// The names a `match` arm binds for its body: its pattern's, and those its guard's
    /// `let`s bind (`_ if let Some(s) = Some(set) => ..`), read with the pattern's bound.
    fn arm_frame(&self, arm: &syn::Arm, scrutinee: &Expr) -> HashMap<String, Held> {
        let mut frame = self.pattern_frame(&arm.pat, scrutinee);
        if let Some((_, guard)) = &arm.guard {
            let lets = self.with_frame(frame.clone(), |me| me.condition_frame(guard));
            frame.extend(lets);
        }
        frame
    }
    /// The names the `let`s of a condition bind (`if let Some(s) = x && ..`).
    fn condition_frame(&self, cond: &Expr) -> HashMap<String, Held> {
        match cond {
            Expr::Let(l) => self.pattern_frame(&l.pat, &l.expr),
            Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
                let mut frame = self.condition_frame(&b.left);
                frame.extend(self.condition_frame(&b.right));
                frame
            }
            Expr::Paren(p) => self.condition_frame(&p.expr),
            _ => HashMap::new(),
        }
    }
    /// What awaiting the value of the call `c` yields: a ready future's argument, the futures
    /// it wraps, what a closure called on the spot or bound to a name returns.
    /// The value a closure's or a nested scope's `body` gives: its own, or what a `return` in
    /// it gives, read with the names the body's block binds.
    fn returned(&self, body: &Expr) -> Vec<String> {
        match unparen(body) {
            Expr::Block(b) if b.label.is_none() => {
                self.in_block_with(&b.block, Some(Exit::Return), Self::carried)
            }
            other => {
                let mut out = self.carried(other);
                out.extend(self.exit_values(ExitRoot::Expr(other), Exit::Return, Self::carried));
                out
            }
        }
    }
    /// What awaiting what the closure `c` returns yields: for `move || async move { set }`,
    /// the block's value; for an `async` closure (`async move || set`), its body's.
    fn closure_future_yields(&self, c: &syn::ExprClosure) -> Vec<String> {
        let params = unbound_all(c.inputs.iter());
        self.with_frame(params, |me| {
            if c.asyncness.is_some() {
                me.returned(&c.body)
            } else {
                me.yielded_by(&c.body)
            }
        })
    }
    fn call_yields_of(&self, c: &syn::ExprCall) -> Vec<String> {
        // A ready future yields what it is given.
        let ready = matches!(&*c.func, Expr::Path(p)
            if p.path.segments.last().is_some_and(|s| s.ident == "ready" || s.ident == "ok"));
        let mut out: Vec<String> = if ready {
            c.args.iter().flat_map(|a| self.carried(a)).collect()
        } else {
            c.args.iter().flat_map(|a| self.yielded_by(a)).collect()
        };
        // Awaiting what a closure returns: `(move || async move { set })().await`.
        match unparen(&c.func) {
            Expr::Closure(cl) => out.extend(self.closure_future_yields(cl)),
            _ => {
                if let Expr::Path(p) = &*c.func {
                    if let Some(name) = p.path.get_ident().filter(|_| p.qself.is_none()) {
                        out.extend(self.calls_named(&unraw(name)));
                    }
                }
            }
        }
        out
    }
    /// The names whose set may be in what `expr` yields when it is awaited or called: an
    /// `async` block's or a closure's value, a child's or a nested scope's (`spawn!(..)`,
    /// `s.spawn(..)`, `scope!(..)`), a ready future's (`std::future::ready(set)`), a future a
    /// call wraps (`Box::pin(..)`, `timeout(d, ..)`), a name bound to one of these, a block's
    /// or a branch's value that is one, an element taken out of a list of them.
    fn yielded_by_uncached(&self, expr: &Expr) -> Vec<String> {
        match expr {
            Expr::Paren(p) => self.yielded_by(&p.expr),
            Expr::Group(g) => self.yielded_by(&g.expr),
            Expr::Try(t) => self.yielded_by(&t.expr),
            Expr::Await(a) => self.yielded_by(&a.base),
            Expr::Reference(r) => self.yielded_by(&r.expr),
            Expr::Async(a) => self.in_block_with(&a.block, Some(Exit::Return), Self::carried),
            Expr::Block(b) => self.in_block(&b.block, Self::yielded_by),
            Expr::If(i) => self.branches(i, Self::yielded_by),
            Expr::Closure(c) => {
                let frame = unbound_all(c.inputs.iter());
                self.with_frame(frame, |me| me.returned(&c.body))
            }
            Expr::Path(p) => match (&p.qself, p.path.get_ident()) {
                (None, Some(name)) => self.yields_of(&unraw(name)),
                _ => Vec::new(),
            },
            Expr::MethodCall(m) if unraw(&m.method).starts_with("spawn") => m
                .args
                .last()
                .map(|f| self.yielded_by(f))
                .unwrap_or_default(),
            // An element taken out of a list of handles, or out of a wrapper.
            Expr::MethodCall(m)
                if UNWRAPS.contains(&unraw(&m.method).as_str())
                    || TAKES_AN_ELEMENT.contains(&unraw(&m.method).as_str()) =>
            {
                self.yielded_by(&m.receiver)
            }
            Expr::Call(c) => self.call_yields_of(c),
            Expr::Array(a) => a.elems.iter().flat_map(|e| self.yielded_by(e)).collect(),
            Expr::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "vec") => self
                .args_of(&m.mac)
                .iter()
                .flatten()
                .flat_map(|e| self.yielded_by(e))
                .collect(),
            Expr::Macro(m)
                if m.mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "scope") =>
            {
                // A nested scope's value is its body's (a block, or a closure's body).
                let args = self.args_of(&m.mac);
                let body = match args.as_ref().as_ref().and_then(|a| a.last()) {
                    Some(Expr::Closure(c)) => &*c.body,
                    Some(body) => body,
                    None => return Vec::new(),
                };
                self.returned(body)
            }
            Expr::Macro(m)
                if m.mac.path.segments.last().is_some_and(|s| {
                    let name = s.ident.to_string();
                    name.starts_with("spawn") || name.starts_with("try_spawn")
                }) =>
            {
                self.args_of(&m.mac)
                    .as_ref()
                    .as_ref()
                    .and_then(|args| args.last())
                    .map(|f| self.yielded_by(f))
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

/// Which exits [`SetMoves::exit_values`] reads: a fn-like block's `return`s, or the `break`s
/// that leave a loop or a labeled block (`Some` label: those naming it; for a loop, also the
/// unlabeled ones outside any inner loop).
#[derive(Clone, Copy)]
enum Exit<'a> {
    Return,
    Break(Option<&'a syn::Lifetime>),
}

/// Where [`SetMoves::exit_values`] looks for exits: a block, or a closure's body.
#[derive(Clone, Copy)]
enum ExitRoot<'a> {
    Block(&'a syn::Block),
    Expr(&'a Expr),
}

/// Walks code for [`SetMoves::exit_values`]: binds the names its `let`s and patterns bind as
/// it goes (in frames of the lint's own, popped on the way out), and reads each exit's value
/// where it is.
struct ExitReader<'r, 's, 'e, F> {
    me: &'r SetMoves<'s>,
    exit: Exit<'e>,
    /// Inner loops entered: an unlabeled `break` there is theirs.
    loops: usize,
    f: F,
    out: Vec<String>,
}

impl<'s, F: Fn(&SetMoves<'s>, &Expr) -> Vec<String>> ExitReader<'_, 's, '_, F> {
    fn found(&mut self, value: &Expr) {
        let names = (self.f)(self.me, value);
        self.out.extend(names);
    }
    /// Visits `visit` with `frame`'s names bound.
    fn bound(&mut self, frame: HashMap<String, Held>, visit: impl FnOnce(&mut Self)) {
        self.me.frames.borrow_mut().push(frame);
        visit(self);
        self.me.frames.borrow_mut().pop();
    }
    /// Visits statements in order, each `let` binding its names for the statements after it.
    fn visit_stmts(&mut self, stmts: &[syn::Stmt]) {
        self.bound(HashMap::new(), |me| {
            for stmt in stmts {
                me.visit_stmt(stmt);
                if let syn::Stmt::Local(local) = stmt {
                    let bound = me.me.local_frame(local);
                    if let Some(top) = me.me.frames.borrow_mut().last_mut() {
                        top.extend(bound);
                    }
                }
            }
        });
    }
}

impl<'ast, 's, F: Fn(&SetMoves<'s>, &Expr) -> Vec<String>> Visit<'ast>
    for ExitReader<'_, 's, '_, F>
{
    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.visit_stmts(&b.stmts);
    }
    fn visit_expr_if(&mut self, e: &'ast syn::ExprIf) {
        self.visit_expr(&e.cond);
        let frame = self.me.condition_frame(&e.cond);
        self.bound(frame, |me| me.visit_block(&e.then_branch));
        if let Some((_, other)) = &e.else_branch {
            self.visit_expr(other);
        }
    }
    fn visit_expr_match(&mut self, e: &'ast syn::ExprMatch) {
        self.visit_expr(&e.expr);
        for arm in &e.arms {
            let frame = self.me.arm_frame(arm, &e.expr);
            self.bound(frame, |me| {
                if let Some((_, guard)) = &arm.guard {
                    me.visit_expr(guard);
                }
                me.visit_expr(&arm.body);
            });
        }
    }
    fn visit_expr_return(&mut self, e: &'ast syn::ExprReturn) {
        if let (Exit::Return, Some(v)) = (self.exit, &e.expr) {
            self.found(v);
        }
        syn::visit::visit_expr_return(self, e);
    }
    fn visit_expr_break(&mut self, e: &'ast syn::ExprBreak) {
        if let (Exit::Break(label), Some(v)) = (self.exit, &e.expr) {
            let ours = match (&e.label, label) {
                (Some(named), Some(label)) => named.ident == label.ident,
                (None, _) => self.loops == 0,
                (Some(_), None) => false,
            };
            if ours {
                self.found(v);
            }
        }
        syn::visit::visit_expr_break(self, e);
    }
    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        self.loops += 1;
        syn::visit::visit_expr_loop(self, l);
        self.loops -= 1;
    }
    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        self.visit_expr(&w.cond);
        self.loops += 1;
        let frame = self.me.condition_frame(&w.cond);
        self.bound(frame, |me| me.visit_block(&w.body));
        self.loops -= 1;
    }
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        self.loops += 1;
        let frame = self.me.pattern_frame(&f.pat, &f.expr);
        self.bound(frame, |me| me.visit_block(&f.body));
        self.loops -= 1;
    }
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
    // A macro's code, where it parses as such: a `select!`'s branches (a `break` or a
    // `return` there is this block's), a macro's arguments, its statements.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let me = self.me;
        if let Some(branches) = &*me.select_of(mac) {
            for branch in branches {
                match &branch.pat {
                    Some((pat, fut)) => {
                        self.visit_expr(fut);
                        let held = Held {
                            holds: me.yielded_by(fut),
                            ..Held::default()
                        };
                        self.bound(pattern_binds(pat, held, None), |r| {
                            r.visit_expr(&branch.body);
                        });
                    }
                    None => self.visit_expr(&branch.body),
                }
            }
            return;
        }
        if let Some(args) = &*me.args_of(mac) {
            for a in args {
                self.visit_expr(a);
            }
        } else if let Some(stmts) = &*me.stmts_of(mac) {
            self.visit_stmts(stmts);
        }
    }
}

/// The place `mem::take(&mut place)` or `mem::replace(&mut place, ..)` takes its value out
/// of.
fn taken_place(c: &syn::ExprCall) -> Option<&Expr> {
    let Expr::Path(p) = &*c.func else { return None };
    let last = p.path.segments.last()?;
    let arity = match last.ident.to_string().as_str() {
        "take" => 1,
        "replace" => 2,
        _ => return None,
    };
    if c.args.len() != arity {
        return None;
    }
    match c.args.first()? {
        Expr::Reference(r) if r.mutability.is_some() => Some(&r.expr),
        _ => None,
    }
}

/// The name `expr` is, when it is a plain one (a local).
fn local_name(expr: &Expr) -> Option<String> {
    match unparen(expr) {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(unraw),
        _ => None,
    }
}

/// The two locals `mem::swap(&mut a, &mut b)` exchanges, when both are plain names.
fn swapped_locals(c: &syn::ExprCall) -> Option<(String, String)> {
    let name = |e: &Expr| match e {
        Expr::Reference(r) if r.mutability.is_some() => local_name(&r.expr),
        _ => None,
    };
    match c.args.iter().collect::<Vec<_>>().as_slice() {
        [a, b] => Some((name(a)?, name(b)?)),
        _ => None,
    }
}

/// A pattern without its type (`s: JoinSet<()>`), for the name it binds.
fn pat_inner(pat: &syn::Pat) -> &syn::Pat {
    match pat {
        syn::Pat::Type(pt) => &pt.pat,
        other => other,
    }
}

/// What a name bound by a pattern or a block's `let` holds (the body's names whose set may be
/// in its value) and yields (when awaited, or called).
#[derive(Clone, Debug, Default)]
struct Held {
    holds: Vec<String>,
    yields: Vec<String>,
    /// What awaiting what calling it returns yields (`move || async move { set }`).
    calls: Vec<String>,
    /// What each of its elements holds and yields, where it is a tuple the lint can see.
    elements: Option<Vec<Held>>,
}

/// Each name `pat` binds, bound to nothing the body made.
fn unbound(pat: &syn::Pat) -> HashMap<String, Held> {
    let mut names = Vec::new();
    crate::valid::pat_names(pat, &mut names);
    names
        .into_iter()
        .map(|n| (n.trim_start_matches("r#").to_owned(), Held::default()))
        .collect()
}

/// [`unbound`] for each of `pats` (a closure's parameters).
fn unbound_all<'a>(pats: impl Iterator<Item = &'a syn::Pat>) -> HashMap<String, Held> {
    pats.flat_map(unbound).collect()
}

/// `expr` through parentheses.
fn unparen(mut expr: &Expr) -> &Expr {
    loop {
        match expr {
            Expr::Paren(p) => expr = &p.expr,
            Expr::Group(g) => expr = &g.expr,
            other => return other,
        }
    }
}

/// The standard macros whose arguments are never run: text (`stringify!`, `concat!`), the
/// compiler's own (`cfg!`, `env!`, `include_str!`, `compile_error!`, ..). What they are given
/// is not the body's code: the lint does not read it (`stringify!(tokio::spawn(..))` is a
/// string, not a task).
pub(crate) fn never_runs(path: &syn::Path) -> bool {
    const TEXT: &[&str] = &[
        "stringify",
        "concat",
        "concat_idents",
        "include",
        "include_str",
        "include_bytes",
        "env",
        "option_env",
        "compile_error",
        "cfg",
        "file",
        "line",
        "column",
        "module_path",
    ];
    // The standard ones only: by their bare name or through `std::`/`core::` (a macro of the
    // user's own named so, in a module, may run its arguments).
    let mut segments = path.segments.iter().map(|s| &s.ident);
    let name = match (segments.next(), segments.next(), segments.next()) {
        (Some(name), None, _) => name,
        (Some(krate), Some(name), None) if krate == "std" || krate == "core" => name,
        _ => return false,
    };
    TEXT.iter().any(|t| name == t)
}

/// A macro's arguments, where they parse as expressions separated by commas (none for a
/// macro that [never runs](never_runs) them).
fn macro_args(mac: &syn::Macro) -> Option<Vec<Expr>> {
    if never_runs(&mac.path) {
        return None;
    }
    let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
    syn::parse::Parser::parse2(parser, mac.tokens.clone())
        .ok()
        .map(|args| args.into_iter().collect())
}

/// `join!` / `try_join!` (tokio's, or the `futures` ones): a tuple of what each future gives.
fn is_joining_macro(mac: &syn::Macro) -> bool {
    mac.path
        .segments
        .last()
        .is_some_and(|s| s.ident == "join" || s.ident == "try_join")
}

/// The methods that hand out what their receiver holds (`Some(set).unwrap()`,
/// `cell.into_inner()`, `slot.take()`).
const UNWRAPS: &[&str] = &[
    "unwrap",
    "expect",
    "unwrap_or",
    "unwrap_or_else",
    "unwrap_or_default",
    "unwrap_unchecked",
    "into_inner",
    "take",
];

/// The methods that take an element out of a list (of child handles: `handles.pop()`).
const TAKES_AN_ELEMENT: &[&str] = &[
    "pop",
    "pop_front",
    "pop_back",
    "remove",
    "swap_remove",
    "next",
    "into_iter",
    "drain",
];

/// The expressions whose value `expr` is: itself, or the values of its branches (an `if`, a
/// `match`, a block's tail), through parentheses and the wrappers that keep what they are
/// given (`Ok(if c { a } else { b })`).
fn tails(expr: &Expr) -> Vec<&Expr> {
    fn block_tail(block: &syn::Block) -> Option<&Expr> {
        match block.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => Some(e),
            _ => None,
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![expr];
    while let Some(e) = todo.pop() {
        match e {
            Expr::Paren(p) => todo.push(&p.expr),
            Expr::Group(g) => todo.push(&g.expr),
            Expr::Block(b) => todo.extend(block_tail(&b.block)),
            Expr::Unsafe(u) => todo.extend(block_tail(&u.block)),
            Expr::If(i) => {
                todo.extend(block_tail(&i.then_branch));
                if let Some((_, other)) = &i.else_branch {
                    todo.push(other);
                }
            }
            Expr::Match(m) => todo.extend(m.arms.iter().map(|a| &*a.body)),
            Expr::Call(c) if c.args.len() == 1 && wraps(&c.func) => {
                let inner = &c.args[0];
                if matches!(
                    inner,
                    Expr::If(_) | Expr::Match(_) | Expr::Block(_) | Expr::Unsafe(_)
                ) {
                    todo.push(inner);
                } else {
                    out.push(e);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The elements of an array, a tuple or a `vec![..]` (a list that keeps what it is given).
fn listed(expr: &Expr) -> Option<Vec<Expr>> {
    match expr {
        Expr::Array(a) => Some(a.elems.iter().cloned().collect()),
        Expr::Tuple(t) => Some(t.elems.iter().cloned().collect()),
        Expr::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "vec") => {
            let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
            syn::parse::Parser::parse2(parser, m.mac.tokens.clone())
                .ok()
                .map(|elems| elems.into_iter().collect())
        }
        _ => None,
    }
}

/// The elements of a collection written in place: an array (`[a, b]`, `[a; n]`) or a
/// `vec![..]` (`vec![a, b]`, `vec![a; n]`).
pub(crate) fn collection_elements(expr: &Expr) -> Option<Vec<Expr>> {
    match expr {
        Expr::Array(a) => Some(a.elems.iter().cloned().collect()),
        Expr::Repeat(r) => Some(vec![(*r.expr).clone()]),
        Expr::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "vec") => {
            let listed = |input: syn::parse::ParseStream<'_>| {
                let first: Expr = input.parse()?;
                if input.peek(syn::Token![;]) {
                    let _: syn::Token![;] = input.parse()?;
                    let _: Expr = input.parse()?;
                    return Ok(vec![first]);
                }
                let mut elems = vec![first];
                while input.parse::<Option<syn::Token![,]>>()?.is_some() && !input.is_empty() {
                    elems.push(input.parse()?);
                }
                Ok(elems)
            };
            syn::parse::Parser::parse2(listed, m.mac.tokens.clone()).ok()
        }
        _ => None,
    }
}

/// Whether a call of `func` wraps its one argument into what it returns (`Box::pin`,
/// `Box::new`, `Arc::new`, `Rc::new`, `Mutex::new`, `Some`, `Ok`, ..).
fn wraps(func: &Expr) -> bool {
    let Expr::Path(p) = func else { return false };
    match segments(&p.path).as_slice() {
        [.., w, n] if w == "Box" => n == "pin" || n == "new",
        [.., w, n] => {
            n == "new" && matches!(w.as_str(), "Arc" | "Rc" | "Mutex" | "RwLock" | "RefCell")
        }
        [w] => w == "Some" || w == "Ok",
        [] => false,
    }
}

/// `expr` without the wrappers that keep what they are given: `Box::new`, `Box::pin`,
/// `Arc::new`, `Rc::new`, `Some`, `Ok`, and parentheses.
fn stored(mut expr: &Expr) -> &Expr {
    loop {
        expr = unwrapped(expr);
        match expr {
            Expr::Paren(p) => expr = &p.expr,
            Expr::Call(c) if c.args.len() == 1 => {
                let Expr::Path(p) = &*c.func else { return expr };
                let segs: Vec<String> = p.path.segments.iter().map(|s| unraw(&s.ident)).collect();
                if matches!(segs.as_slice(), [.., w, n] if w == "Box" && n == "pin") {
                    expr = &c.args[0];
                } else {
                    return expr;
                }
            }
            _ => return expr,
        }
    }
}

/// The name `expr` is (`set`), or the name whose value a by-value method of a set takes into
/// what it returns (`set.join_all()`: the set goes with that future).
fn named_or_consumed(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(p) => match (&p.qself, p.path.get_ident()) {
            (None, Some(ident)) => Some(unraw(ident)),
            _ => None,
        },
        // A shared set's handle shared out (`tasks.clone()`, `Arc::clone(&tasks)`): the set goes
        // with it.
        Expr::MethodCall(m) if matches!(unraw(&m.method).as_str(), "join_all" | "clone") => {
            named_or_consumed(&m.receiver)
        }
        Expr::Call(c) if c.args.len() == 1 => match &*c.func {
            Expr::Path(p)
                if matches!(
                    segments(&p.path).as_slice(),
                    [.., w, n] if matches!(w.as_str(), "Arc" | "Rc") && n == "clone"
                ) =>
            {
                match &c.args[0] {
                    Expr::Reference(r) => named_or_consumed(&r.expr),
                    other => named_or_consumed(other),
                }
            }
            _ => None,
        },
        Expr::Paren(p) => named_or_consumed(&p.expr),
        _ => None,
    }
}

/// The names a `move` closure or an `async move` block mentions (what it may capture), and
/// those a closure or an `async` block without `move` takes by value: a set it consumes (`async
/// { set.join_all().await }`), passes to a call (`|| drop(set)`: the call runs when the closure
/// does, not in the body) or yields (`|| set`). One that only borrows the set (`async {
/// set.join_next().await }`, `|| set.len()`) does not take it. `None` for any other expression.
/// `in_let`: the closure or block is bound by a `let` (what happens to it next is followed
/// under its new name, and a call it is handed to may run it in the body): without `move`, only
/// what an `async` block consumes with `join_all` counts then, and a closure takes nothing (a
/// limit: one kept in a field carries the set out unseen; the way it is handed on, to a runner
/// that calls it or to a field, looks the same as for a set, which leaves either way).
/// The names a closure binds itself (its parameters) are not the body's.
fn captures(expr: &Expr, in_let: bool) -> Option<Vec<String>> {
    struct Names {
        found: Vec<String>,
        consumed_only: bool,
        calls: bool,
        /// The names the closure or block binds itself (its `let`s, patterns, inner closures'
        /// parameters): not the body's.
        own: Vec<String>,
    }
    impl Names {
        fn yielded(&mut self, value: &Expr) {
            for tail in tails(value) {
                self.found.extend(named_or_consumed(unwrapped(tail)));
            }
        }
    }
    impl<'ast> Visit<'ast> for Names {
        fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
            if self.consumed_only {
                return;
            }
            if let (None, Some(ident)) = (&p.qself, p.path.get_ident()) {
                self.found.push(unraw(ident));
            }
        }
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            if self.consumed_only && unraw(&m.method) == "join_all" {
                self.found.extend(named_or_consumed(&m.receiver));
            }
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            if self.consumed_only && self.calls {
                for arg in &c.args {
                    self.found.extend(named_or_consumed(arg));
                }
            }
            syn::visit::visit_expr_call(self, c);
        }
        fn visit_local(&mut self, local: &'ast syn::Local) {
            crate::valid::pat_names(&local.pat, &mut self.own);
            syn::visit::visit_local(self, local);
        }
        fn visit_pat(&mut self, pat: &'ast syn::Pat) {
            crate::valid::pat_names(pat, &mut self.own);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut names = Names {
        found: Vec::new(),
        consumed_only: false,
        calls: !in_let,
        own: Vec::new(),
    };
    match expr {
        Expr::Closure(c) if c.capture.is_none() && in_let => return None,
        Expr::Closure(c) => {
            names.consumed_only = c.capture.is_none();
            names.visit_expr(&c.body);
            if names.consumed_only {
                names.yielded(&c.body);
            }
            let own = closure_params(c);
            names.found.retain(|n| !own.contains(n));
        }
        Expr::Async(a) => {
            names.consumed_only = a.capture.is_none();
            names.visit_block(&a.block);
            let tail = trailing_expr(&a.block).filter(|_| names.calls);
            if let (true, Some(tail)) = (names.consumed_only, tail) {
                names.yielded(tail);
            }
        }
        _ => return None,
    }
    let own: Vec<String> = names
        .own
        .iter()
        .map(|n| n.trim_start_matches("r#").to_owned())
        .collect();
    names.found.retain(|n| !own.contains(n));
    Some(names.found)
}
/// The names a closure's parameters bind (unraw).
fn closure_params(c: &syn::ExprClosure) -> Vec<String> {
    let mut own = Vec::new();
    for input in &c.inputs {
        crate::valid::pat_names(input, &mut own);
    }
    own.iter()
        .map(|n| n.trim_start_matches("r#").to_owned())
        .collect()
}

/// A `let` of a tuple pattern with a tuple value (`let (fast, slow) = (JoinSet::new(),
/// JoinSet::new());`, typed or not), or of a slice pattern with an array's value (`let [set] =
/// [JoinSet::new()];`), as one `let` per element, in order.
/// Whether `pat` is `rest @ ..`: a name for a part of a slice.
pub(crate) fn binds_rest(pat: &syn::Pat) -> bool {
    matches!(pat, syn::Pat::Ident(pi) if matches!(
        pi.subpat.as_ref().map(|(_, p)| &**p),
        Some(syn::Pat::Rest(_))
    ))
}

/// The elements of an array written out that each of a slice pattern's elements matches:
/// in order before a rest pattern (`..`, `rest @ ..`), from the end after it; `None` for a
/// `rest @ ..` (it stands for a part of the array), and `None` overall when the lengths
/// cannot match. The rest pattern itself is left out unless it binds a name.
pub(crate) fn slice_pairs<'a>(
    pats: &'a syn::punctuated::Punctuated<syn::Pat, syn::Token![,]>,
    values: &'a syn::punctuated::Punctuated<Expr, syn::Token![,]>,
) -> Option<Vec<(&'a syn::Pat, Option<&'a Expr>)>> {
    let is_rest = |p: &syn::Pat| matches!(p, syn::Pat::Rest(_)) || binds_rest(p);
    let rests = pats.iter().filter(|p| is_rest(p)).count();
    match rests {
        0 if pats.len() == values.len() => Some(pats.iter().zip(values.iter().map(Some)).collect()),
        1 if pats.len() - 1 <= values.len() => {
            let at = pats.iter().position(is_rest)?;
            let after = pats.len() - at - 1;
            let mut pairs: Vec<_> = pats.iter().take(at).zip(values.iter().map(Some)).collect();
            if let syn::Pat::Ident(_) = &pats[at] {
                pairs.push((&pats[at], None));
            }
            pairs.extend(
                pats.iter()
                    .skip(at + 1)
                    .zip(values.iter().skip(values.len() - after).map(Some)),
            );
            Some(pairs)
        }
        _ => None,
    }
}

fn tuple_lets(local: &syn::Local) -> Option<Vec<syn::Local>> {
    let (pat, ty) = match &local.pat {
        syn::Pat::Type(pt) => (&*pt.pat, Some(&*pt.ty)),
        other => (other, None),
    };
    let init = local.init.as_ref().filter(|i| i.diverge.is_none())?;
    let mut value = &*init.expr;
    while let Expr::Paren(p) = value {
        value = &p.expr;
    }
    let (pairs, types): (Vec<(&syn::Pat, &Expr)>, _) = match (pat, value) {
        // (`(first, ..)`, `(.., last)` too: a tuple's rest binds no name.)
        (syn::Pat::Tuple(pats), Expr::Tuple(values)) => {
            let pairs: Vec<(&syn::Pat, &Expr)> = slice_pairs(&pats.elems, &values.elems)?
                .into_iter()
                .filter_map(|(p, v)| Some((p, v?)))
                .collect();
            // Each pair's type is its value's element of the written tuple type.
            let types: Option<Vec<&syn::Type>> = match ty {
                Some(syn::Type::Tuple(t)) if t.elems.len() == values.elems.len() => pairs
                    .iter()
                    .map(|(_, v)| {
                        let at = values.elems.iter().position(|e| std::ptr::eq(e, *v))?;
                        t.elems.iter().nth(at)
                    })
                    .collect(),
                _ => None,
            };
            (pairs, types)
        }
        // (`[first, ..]`, `[.., last]` too; not `rest @ ..`, a part of the array.)
        (syn::Pat::Slice(pats), Expr::Array(values)) => {
            let pairs: Option<Vec<_>> = slice_pairs(&pats.elems, &values.elems)?
                .into_iter()
                .map(|(p, v)| Some((p, v?)))
                .collect();
            let pairs = pairs?;
            let types = match ty {
                Some(syn::Type::Array(a)) => Some(vec![&*a.elem; pairs.len()]),
                _ => None,
            };
            (pairs, types)
        }
        _ => return None,
    };
    let lets = pairs.into_iter().enumerate();
    Some(
        lets.map(|(i, (pat, value))| {
            let pat = match &types {
                Some(types) => syn::Pat::Type(syn::PatType {
                    attrs: Vec::new(),
                    pat: Box::new(pat.clone()),
                    colon_token: syn::Token![:](proc_macro2::Span::call_site()),
                    ty: Box::new(types[i].clone()),
                }),
                None => pat.clone(),
            };
            syn::Local {
                attrs: Vec::new(),
                let_token: local.let_token,
                pat,
                init: Some(syn::LocalInit {
                    eq_token: init.eq_token,
                    expr: Box::new(value.clone()),
                    diverge: None,
                }),
                semi_token: local.semi_token,
            }
        })
        .collect(),
    )
}

impl<'ast> Visit<'ast> for SetMoves<'_> {
    fn visit_local(&mut self, local: &'ast syn::Local) {
        // Each name of a tuple pattern is what its element is, as the origins read it.
        if let Some(lets) = tuple_lets(local) {
            for one in &lets {
                self.visit_local(one);
            }
            return;
        }
        if let syn::Pat::Ident(pi) = pat_inner(&local.pat) {
            let name = unraw(&pi.ident);
            let init = local.init.as_ref().map(|i| unwrapped(&i.expr));
            // Made here (typed as a set, or its value or a branch's made by a set's
            // constructor, `match self.tasks.take() { Some(t) => t, None => JoinSet::new() }`,
            // or collected into one, `futs.collect::<JoinSet<_>>()`), as the origins read it.
            let made_here = self.makes_set(local);
            // The value's own code first (what a block there binds is known below).
            let listed = init.and_then(listed);
            match &listed {
                // Its elements are kept under the new name, not moved out.
                Some(elements) => {
                    for element in elements {
                        self.visit_kept(element);
                    }
                }
                None => syn::visit::visit_local(self, local),
            }
            // `let s2 = set;`, `let drain = set.join_all();`, `let s2 = if c { set } else {
            // .. };`, `let all = vec![a, b];`: the set goes where the new name goes.
            let mut held = Held::default();
            if let Some(init) = &local.init {
                held = self.held(&init.expr);
            }
            for element in listed.iter().flatten() {
                held.holds.extend(self.carried(element));
            }
            // `let w2 = Workers { id: 2, ..w };`: the new value holds what `w` did.
            if let Some(Expr::Struct(st)) = init.map(unparen) {
                if let Some(rest) = &st.rest {
                    held.holds.extend(self.carried(rest));
                }
            }
            // `let fut = async move { .. set .. };`: the set goes where `fut` goes.
            let captured = init.map(stored).and_then(|e| captures(e, true));
            for name in captured.unwrap_or_default() {
                held.holds.extend(self.holds_of(&name));
            }
            // What each element of a tuple holds; what awaiting what a closure returns yields.
            let elements = init.and_then(|e| self.elements_of(e));
            let call_yields = init.map(unparen).and_then(|e| match e {
                Expr::Closure(c) => Some(self.closure_future_yields(c)),
                _ => None,
            });
            if made_here {
                self.sets.push(name.clone());
            }
            // `let w = Workers { set: JoinSet::new(), id: 1 };`: which fields hold the set.
            match init.map(unparen) {
                Some(Expr::Struct(literal)) => {
                    let fields = literal
                        .fields
                        .iter()
                        .filter(|f| new_set_in(&f.expr, self.aliases).is_some())
                        .map(|f| f.member.clone())
                        .collect();
                    self.set_fields.insert(name.clone(), fields);
                }
                _ => {
                    self.set_fields.remove(&name);
                }
            }
            self.bind(name, held, made_here, elements, call_yields);
            return;
        }
        // Any other pattern (`let Some(s) = Some(set) else { .. };`, `let (s, n) = pair;`):
        // each name it binds holds what its part of the value does.
        syn::visit::visit_local(self, local);
        let frame = match &local.init {
            Some(init) => self.pattern_frame(&local.pat, &init.expr),
            None => unbound(&local.pat),
        };
        for (name, held) in frame {
            self.bind(name, held, false, None, None);
        }
    }
    // A `match` arm's, an `if let`'s, a `while let`'s and a `for` loop's names are bound in
    // the arm, the branch or the loop's body only.
    fn visit_expr_match(&mut self, m: &'ast syn::ExprMatch) {
        self.visit_expr(&m.expr);
        for arm in &m.arms {
            let frame = self.arm_frame(arm, &m.expr);
            self.frames.borrow_mut().push(frame);
            if let Some((_, guard)) = &arm.guard {
                self.visit_expr(guard);
            }
            self.visit_expr(&arm.body);
            self.frames.borrow_mut().pop();
        }
    }
    fn visit_expr_if(&mut self, i: &'ast syn::ExprIf) {
        let frame = self.condition_frame(&i.cond);
        self.frames.borrow_mut().push(frame);
        self.visit_expr(&i.cond);
        self.visit_block(&i.then_branch);
        self.frames.borrow_mut().pop();
        if let Some((_, other)) = &i.else_branch {
            self.visit_expr(other);
        }
    }
    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        let frame = self.condition_frame(&w.cond);
        self.frames.borrow_mut().push(frame);
        self.visit_expr(&w.cond);
        self.visit_block(&w.body);
        self.frames.borrow_mut().pop();
    }
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        // A list written out to be iterated over here (`for s in [a, b]`) keeps its elements
        // in the body.
        self.visit_kept(&f.expr);
        // Each element of what it iterates over, read as the whole (`for h in handles`).
        let frame = self.pattern_frame(&f.pat, &f.expr);
        self.frames.borrow_mut().push(frame);
        self.visit_block(&f.body);
        self.frames.borrow_mut().pop();
    }
    fn visit_expr_assign(&mut self, e: &'ast syn::ExprAssign) {
        match (&*e.left, &*e.right) {
            // Into another local (`level = next;`): a rename, as `let` is.
            (Expr::Path(l), Expr::Path(r)) if l.qself.is_none() && r.qself.is_none() => {
                match (l.path.get_ident(), r.path.get_ident()) {
                    (Some(new), Some(old)) => {
                        let new = unraw(new);
                        for old in self.holds_of(&unraw(old)) {
                            self.renames.push((new.clone(), old));
                        }
                    }
                    _ => self.stores(&e.right),
                }
            }
            _ => self.stores(&e.right),
        }
        syn::visit::visit_expr_assign(self, e);
    }
    fn visit_expr_await(&mut self, e: &'ast syn::ExprAwait) {
        // A fn called in what is awaited here (`drain(set).await`, `timeout(d,
        // drain(set)).await`, `Box::pin(drain(set)).await`): its future runs within the body,
        // and the set passed to it ends there (joined or dropped), as in the body itself. (A
        // method's argument still leaves: `tx.send(set).await` hands it on.)
        self.within += 1;
        self.visit_expr(&e.base);
        self.within -= 1;
    }
    fn visit_expr_call(&mut self, e: &'ast syn::ExprCall) {
        let name = match &*e.func {
            Expr::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        let forgets = match &*e.func {
            Expr::Path(p) => {
                matches!(
                    segments(&p.path).as_slice(),
                    [.., n] if n == "forget" || n == "leak"
                ) || matches!(
                    segments(&p.path).as_slice(),
                    [.., w, n] if w == "ManuallyDrop" && n == "new"
                )
            }
            _ => false,
        };
        match name.as_deref() {
            Some("drop") => {}
            // `mem::forget(set)`, `Box::leak(Box::new(set))`, `ManuallyDrop::new(set)`: its
            // tasks are never aborted, wherever the call runs.
            _ if forgets => e.args.iter().for_each(|a| self.stores(a)),
            // `mem::swap(&mut self.workers, &mut set)`: each goes where the other place is.
            // `mem::replace(&mut self.workers, set)`: the new value goes there. (What
            // `mem::take` and `mem::replace` return goes where their value goes: see
            // `carried`.)
            // Two locals of the body (`mem::swap(&mut set, &mut next)`): each is the other's
            // now, both still in the body.
            Some("swap") if swapped_locals(e).is_some() => {
                if let Some((a, b)) = swapped_locals(e) {
                    let (of_a, of_b) = (self.holds_of(&a), self.holds_of(&b));
                    self.gives(&a, of_b);
                    self.gives(&b, of_a);
                }
            }
            // Wherever the call is (an awaited call's argument too): the value goes to the
            // other place, which keeps it in the body if it is a local of the body, and
            // takes it out of the body's reach if it is anything else.
            Some("swap" | "replace") if e.args.len() == 2 => {
                let place = |a: &Expr| match a {
                    Expr::Reference(r) if r.mutability.is_some() => Some(local_name(&r.expr)),
                    _ => None,
                };
                let values: Vec<(&Expr, Option<Option<String>>)> =
                    if name.as_deref() == Some("swap") {
                        vec![
                            (&e.args[0], place(&e.args[1])),
                            (&e.args[1], place(&e.args[0])),
                        ]
                    } else {
                        vec![(&e.args[1], place(&e.args[0]))]
                    };
                for (value, to) in values {
                    let value = match value {
                        Expr::Reference(r) => &*r.expr,
                        other => other,
                    };
                    match to {
                        Some(Some(local)) => {
                            let held = self.carried(value);
                            self.gives(&local, held);
                        }
                        _ => self.moves(value),
                    }
                }
            }
            Some("swap" | "replace" | "take") => {}
            // Run within the body (see `visit_expr_await`).
            _ if self.within > 0 => {}
            // A wrapper (`Box::pin(set.join_all())`, `Some(set)`): what it makes goes where
            // the set goes, and its own place decides (a `let`'s rename, a store).
            _ if wraps(&e.func) => {}
            _ => e.args.iter().for_each(|a| self.moves(a)),
        }
        syn::visit::visit_expr_call(self, e);
    }
    fn visit_expr_method_call(&mut self, e: &'ast syn::ExprMethodCall) {
        // A set made into a local of the body by a method of it (`shards.push(JoinSet::new())`,
        // `by_key.entry(k).or_insert_with(JoinSet::new)`): the local holds a set.
        if let Some((name, _)) = set_put_by(e, self.aliases) {
            self.holds_a_set_now(name);
        }
        // A child's handle put in a list of the body (`handles.push(spawn!(..))`): what the
        // list's elements yield.
        if matches!(
            unraw(&e.method).as_str(),
            "push" | "push_back" | "push_front" | "insert" | "extend"
        ) {
            if let Expr::Path(p) = unparen(&e.receiver) {
                if let Some(list) = p.path.get_ident().filter(|_| p.qself.is_none()) {
                    let yields: Vec<String> =
                        e.args.iter().flat_map(|a| self.yielded_by(a)).collect();
                    if !yields.is_empty() {
                        self.yields.entry(unraw(list)).or_default().extend(yields);
                    }
                }
            }
        }
        if e.method.to_string().starts_with("spawn") {
            // A child's future (`s.spawn(drain(set))`): the scope joins it, with what it
            // took. (A spawn that is itself an orphan is flagged as one.)
            self.visit_expr(&e.receiver);
            self.within += 1;
            e.args.iter().for_each(|a| self.visit_expr(a));
            self.within -= 1;
            return;
        }
        // `slot.replace(set)`, `slot.insert(set)`, `slot.get_or_insert(set)` on a local of
        // the body (an `Option`, a cell): the value goes on under the local's name.
        if let ("replace" | "insert" | "get_or_insert", [value], Some(local)) = (
            unraw(&e.method).as_str(),
            e.args.iter().collect::<Vec<_>>().as_slice(),
            local_name(&e.receiver),
        ) {
            let held = self.carried(value);
            self.gives(&local, held);
            syn::visit::visit_expr_method_call(self, e);
            return;
        }
        for a in &e.args {
            self.moves(a);
            // A `vec![..]` given to a method is handed on with its elements, as an array or
            // a tuple is, awaited or not (`tx.send(vec![set]).await`).
            if matches!(a, Expr::Macro(_)) {
                listed(a).iter().flatten().for_each(|el| self.stores(el));
            }
        }
        syn::visit::visit_expr_method_call(self, e);
    }
    // A name a `let` shadows in a block (or a closure's body) is shadowed there only: the
    // set is the name's again after it.
    fn visit_block(&mut self, b: &'ast syn::Block) {
        let outer = self.shadowed.clone();
        // Its `let`s are its own: bound in a frame of its own, gone after it.
        self.frames.borrow_mut().push(HashMap::new());
        syn::visit::visit_block(self, b);
        self.frames.borrow_mut().pop();
        self.shadowed = outer;
    }
    // A closure keeps `within`: one given to an awaited call (`join_all(ids.iter().map(|i|
    // feed(*i, tasks.clone()))).await`, `.then(|_| drain(set)).await`) is run in place by
    // it, and the futures it makes are awaited there. (Outside an awaited call, `within` is
    // 0 anyway; a `move` closure kept or handed on moves what it captures, see `captures`.)
    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        let outer = self.shadowed.clone();
        // Its parameters are its own, not the body's sets of the same names.
        self.shadowed.extend(closure_params(c));
        self.frames.borrow_mut().push(unbound_all(c.inputs.iter()));
        self.fn_depth += 1;
        syn::visit::visit_expr_closure(self, c);
        self.fn_depth -= 1;
        self.frames.borrow_mut().pop();
        self.shadowed = outer;
    }
    // An `async` block's statements are ordinary code, also when the block is awaited or run
    // as a child (`async { keep(set) }.await`, `join!(async { keep(set) })`, `spawn!(async
    // move { adopt(set); .. })`): a fn that takes the set there takes it out of the body.
    fn visit_expr_async(&mut self, a: &'ast syn::ExprAsync) {
        let within = std::mem::take(&mut self.within);
        self.fn_depth += 1;
        syn::visit::visit_expr_async(self, a);
        self.fn_depth -= 1;
        self.within = within;
    }
    fn visit_expr_struct(&mut self, e: &'ast syn::ExprStruct) {
        e.fields.iter().for_each(|f| self.stores(&f.expr));
        // `Workers { id: 2, ..w }`: what `w` holds goes into the new value.
        e.rest.iter().for_each(|rest| self.stores(rest));
        syn::visit::visit_expr_struct(self, e);
    }
    fn visit_expr_array(&mut self, e: &'ast syn::ExprArray) {
        e.elems.iter().for_each(|a| self.stores(a));
        syn::visit::visit_expr_array(self, e);
    }
    fn visit_expr_tuple(&mut self, e: &'ast syn::ExprTuple) {
        e.elems.iter().for_each(|a| self.stores(a));
        syn::visit::visit_expr_tuple(self, e);
    }
    // A `return` of the body's own code leaves the body; one inside a closure or an `async`
    // block gives that one's value (followed where it goes, see `yielded_by`), and a `break`
    // gives its loop's or block's value (see `carried`).
    fn visit_expr_return(&mut self, e: &'ast syn::ExprReturn) {
        if let (Some(v), 0) = (&e.expr, self.fn_depth) {
            self.stores(v);
        }
        syn::visit::visit_expr_return(self, e);
    }
    // The body's items are not the body.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
    // A macro's arguments, read as code where they parse as such: expressions (a `vec![..]`'s
    // elements are kept in what it makes), statements, or the blocks among its tokens (a
    // `select!`'s arms). What its calls take runs within the body (`join!(drain(set))`);
    // an assignment, a method's argument or a `return` there moves a set out as anywhere.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        use syn::punctuated::Punctuated;
        // A `select!`: each branch's future is awaited by it (within the body), and its
        // block is the body's code, with the names its pattern binds bound there only.
        if let Some(branches) = select_branches(mac) {
            for branch in &branches {
                let frame = match &branch.pat {
                    Some((pat, fut)) => {
                        self.within += 1;
                        self.visit_expr(fut);
                        self.within -= 1;
                        let held = Held {
                            holds: self.yielded_by(fut),
                            ..Held::default()
                        };
                        pattern_binds(pat, held, None)
                    }
                    None => HashMap::new(),
                };
                self.frames.borrow_mut().push(frame);
                let within = std::mem::take(&mut self.within);
                self.visit_expr(&branch.body);
                self.within = within;
                self.frames.borrow_mut().pop();
            }
            return;
        }
        // A nested `scope!`'s body is code of this body (a call there takes what it is
        // given out of it), and a `return` there ends that scope's body, not this one.
        if mac.path.segments.last().is_some_and(|s| s.ident == "scope") {
            if let Some(args) = macro_args(mac) {
                let within = std::mem::take(&mut self.within);
                self.fn_depth += 1;
                for a in &args {
                    self.visit_expr(a);
                }
                self.fn_depth -= 1;
                self.within = within;
                return;
            }
        }
        if never_runs(&mac.path) {
            return;
        }
        let kept = self.within == 0 && mac.path.segments.last().is_some_and(|s| s.ident == "vec");
        self.within += 1;
        let parser = Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        if let Ok(exprs) = syn::parse::Parser::parse2(parser, mac.tokens.clone()) {
            // (Given to a call run within the body, `join_all(vec![..]).await`, it is not.)
            if kept {
                exprs.iter().for_each(|e| self.stores(e));
            }
            exprs.iter().for_each(|e| self.visit_expr(e));
        } else {
            // (`defer! { .. }`'s statements are a block; `m!(..)`'s are its arguments.)
            let braced = matches!(mac.delimiter, syn::MacroDelimiter::Brace(_));
            self.visit_tokens(mac.tokens.clone(), braced);
        }
        self.within -= 1;
    }
}

impl SetMoves<'_> {
    /// An element of a list kept in the body (a `let`'s tuple, what a `for` iterates over):
    /// a list inside it keeps its elements too (`((set, 1), "batch")`).
    fn visit_kept(&mut self, element: &Expr) {
        match listed(unparen(element)) {
            Some(inner) => inner.iter().for_each(|e| self.visit_kept(e)),
            None => self.visit_expr(element),
        }
    }
    /// Tokens that do not parse as expressions: as statements if they do, else each group
    /// among them. `braced`: the tokens are a `{ .. }` group's.
    fn visit_tokens(&mut self, tokens: proc_macro2::TokenStream, braced: bool) {
        let stmts = syn::parse::Parser::parse2(syn::Block::parse_within, tokens.clone());
        if let Ok(stmts) = stmts {
            // A braced block of statements (a `select!` arm's) is code of the body, not an
            // argument of an awaited call: a fn that takes the set there takes it out. A
            // parenthesised group is an argument list (`Box::pin(drain(set))` as a `select!`
            // branch's future, which `select!` awaits): it keeps `within`.
            let within = if braced {
                std::mem::take(&mut self.within)
            } else {
                self.within
            };
            for stmt in &stmts {
                self.visit_stmt(stmt);
            }
            self.within = within;
            return;
        }
        for tree in tokens {
            if let proc_macro2::TokenTree::Group(g) = tree {
                let braced = g.delimiter() == proc_macro2::Delimiter::Brace;
                self.visit_tokens(g.stream(), braced);
            }
        }
    }
}

/// Whether `attrs` hold the opt-out, `#[scope::allow_orphan]` (raw or not:
/// `#[scope::r#allow_orphan]`).
pub(crate) fn is_opt_out(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| unraw(&s.ident) == "allow_orphan")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: &str) -> Vec<String> {
        p.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn classifies_paths() {
        assert_eq!(classify(&s("tokio::spawn")), Some(Orphan::Task));
        assert_eq!(classify(&s("tokio::task::spawn")), Some(Orphan::Task));
        assert_eq!(classify(&s("task::spawn_blocking")), Some(Orphan::Blocking));
        // The scope's own methods, called by their path, start its children.
        assert_eq!(classify(&s("Scope::spawn_blocking")), None);
        assert_eq!(classify(&s("scope::LocalScope::spawn_blocking")), None);
        assert_eq!(classify(&s("spawn_local")), Some(Orphan::Local));
        assert_eq!(classify(&s("std::thread::spawn")), Some(Orphan::Thread));
        assert_eq!(classify(&s("thread::Builder::spawn")), Some(Orphan::Thread));
        assert_eq!(classify(&s("spawn")), None);
        assert_eq!(classify(&s("my::spawn")), None);
        assert_eq!(classify(&s("tokio::join")), None);
    }

    #[test]
    fn resolves_aliases() {
        let block: syn::Block = syn::parse_quote!({
            use std::thread::{self, Builder};
            use tokio::spawn as go;
            use tokio::task::*;
        });
        let a = Aliases::collect(&block);
        assert_eq!(a.resolve(&s("go")), s("tokio::spawn"));
        assert_eq!(a.resolve(&s("thread::spawn")), s("std::thread::spawn"));
        assert_eq!(
            a.resolve(&s("Builder::new")),
            s("std::thread::Builder::new")
        );
        assert_eq!(a.resolve(&s("spawn")), s("tokio::task::spawn"));
    }

    #[test]
    fn resolves_type_aliases_and_raw_identifiers() {
        let block: syn::Block = syn::parse_quote!({
            type H = tokio::runtime::Handle;
            use tokio::r#task as t;
        });
        let a = Aliases::collect(&block);
        assert_eq!(
            a.resolve(&s("H::current")),
            s("tokio::runtime::Handle::current")
        );
        assert_eq!(a.resolve(&s("t::spawn")), s("tokio::task::spawn"));
        let path: syn::Path = syn::parse_quote!(tokio::r#spawn);
        assert_eq!(classify(&segments(&path)), Some(Orphan::Task));
    }

    #[test]
    fn classifies_methods_by_what_the_receiver_is() {
        let none = HashMap::new();
        let a = Aliases::default();
        let recv: Expr = syn::parse_quote!({ tokio::runtime::Handle::current() });
        assert_eq!(
            classify_method("spawn", &recv, &a, &none).map(|k| k.0),
            Some(Orphan::Task)
        );
        let recv: Expr = syn::parse_quote!(tokio::process::Command::new("ls"));
        assert_eq!(classify_method("spawn", &recv, &a, &none), None);
        let recv: Expr = syn::parse_quote!(JoinSet::new());
        assert_eq!(classify_method("spawn", &recv, &a, &none), None);
        let mut locals = HashMap::new();
        locals.insert(
            "set".to_owned(),
            Origin {
                path: s("JoinSet"),
                place: Place::Outside,
            },
        );
        locals.insert(
            "pool".to_owned(),
            Origin {
                path: s("ThreadPool::new"),
                place: Place::Body,
            },
        );
        let recv: Expr = syn::parse_quote!(set);
        assert_eq!(
            classify_method("spawn", &recv, &a, &locals).map(|k| k.0),
            Some(Orphan::OuterJoinSet)
        );
        let recv: Expr = syn::parse_quote!(pool);
        assert_eq!(
            classify_method("spawn", &recv, &a, &locals).map(|k| k.0),
            Some(Orphan::Executor)
        );
        let recv: Expr = syn::parse_quote!(other);
        assert_eq!(classify_method("spawn", &recv, &a, &locals), None);
    }
}
