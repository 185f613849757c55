//! The orphan-task lint: in a scope's body, a call that starts a task the scope does not own
//! is a compile error at the call, with a help line naming the scoped form.
//!
//! The lint works on tokens, before name resolution. It recognises, after resolving the `use`
//! declarations written inside the body (including `use ... as alias` and globs):
//!
//! - paths ending in `tokio::spawn`, `task::spawn`, `thread::spawn`, `smol::spawn`, or in
//!   `Builder::spawn*`, `Handle::spawn*` (called or used as a value);
//! - any path ending in `spawn_blocking` or `spawn_local`;
//! - `.spawn*(..)` on a chain that starts at `Builder::new()` (tokio's task builder and std's
//!   thread builder) or `Handle::current()`;
//! - the `futures` executors' `.spawn_ok`, `.spawn_obj`, `.spawn_local_obj`,
//!   `.spawn_with_handle`, `.spawn_local_with_handle`.
//!
//! What it cannot see (a `use` outside the body, a handle stored in a variable, a helper fn
//! that spawns) is what clippy's `disallowed-methods` covers crate-wide; docs/macros.md has the
//! configuration.

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
}

impl Orphan {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Orphan::Task | Orphan::Executor => "a task",
            Orphan::Local => "a local task",
            Orphan::Blocking => "a blocking task",
            Orphan::Thread => "a thread",
        }
    }

    pub(crate) fn help(self) -> &'static str {
        match self {
            Orphan::Task => {
                "help: use `spawn!(future)` to start it as a child of this scope (or \
                 `spawn_in_place!(future)` if it borrows or is not `Send`)"
            }
            Orphan::Local => {
                "help: use `spawn_in_place!(future)`: an in-place child need not be `Send`, and \
                 the scope waits for it"
            }
            Orphan::Blocking => {
                "help: blocking work cannot be cancelled; run it in a child of this scope, e.g. \
                 `spawn!(async move { tokio::task::block_in_place(|| work()) })`"
            }
            Orphan::Thread => {
                "help: use `std::thread::scope` for threads that must finish with this scope, or \
                 `spawn!` for async work"
            }
            Orphan::Executor => {
                "help: use `spawn!(future)` to start it as a child of this scope instead of on a \
                 separate executor"
            }
        }
    }
}

/// The `use` declarations of a body: alias -> full path, and glob prefixes.
#[derive(Default, Clone)]
pub(crate) struct Aliases {
    map: HashMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
}

impl Aliases {
    /// Collects every `use` in `block`, at any depth (nested blocks, closures, async blocks).
    pub(crate) fn collect(block: &syn::Block) -> Aliases {
        struct Collector(Aliases);
        impl<'ast> Visit<'ast> for Collector {
            fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
                let mut prefix = Vec::new();
                self.0.add_tree(&mut prefix, &u.tree);
            }
            // Items other than `use` are not part of the body.
            fn visit_item_fn(&mut self, _: &'ast syn::ItemFn) {}
            fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}
            fn visit_item_impl(&mut self, _: &'ast syn::ItemImpl) {}
            fn visit_item_trait(&mut self, _: &'ast syn::ItemTrait) {}
        }
        let mut c = Collector(Aliases::default());
        c.visit_block(block);
        c.0
    }

    fn add_tree(&mut self, prefix: &mut Vec<String>, tree: &UseTree) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.add_tree(prefix, &p.tree);
                prefix.pop();
            }
            UseTree::Name(n) => {
                let name = n.ident.to_string();
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
                    full.push(r.ident.to_string());
                }
                self.map.insert(r.rename.to_string(), full);
            }
            UseTree::Glob(_) => self.globs.push(prefix.clone()),
            UseTree::Group(g) => {
                for t in &g.items {
                    self.add_tree(prefix, t);
                }
            }
        }
    }

    /// The path's segments, with its first segment expanded through the body's `use`s.
    pub(crate) fn resolve(&self, segments: &[String]) -> Vec<String> {
        let Some(first) = segments.first() else {
            return Vec::new();
        };
        if let Some(full) = self.map.get(first) {
            let mut out = full.clone();
            out.extend(segments[1..].iter().cloned());
            return out;
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

pub(crate) fn segments(path: &Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

fn ends_with(segs: &[String], tail: &[&str]) -> bool {
    segs.len() >= tail.len()
        && segs[segs.len() - tail.len()..]
            .iter()
            .zip(tail)
            .all(|(a, b)| a == b)
}

/// Classifies a resolved path to a fn (called or used as a value).
pub(crate) fn classify(segs: &[String]) -> Option<Orphan> {
    let last = segs.last()?.as_str();
    let is_thread = segs.iter().any(|s| s == "thread");
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
    if segs.len() >= 2 {
        let owner = segs[segs.len() - 2].as_str();
        if owner == "Builder" {
            return Some(if is_thread {
                Orphan::Thread
            } else {
                Orphan::Task
            });
        }
        if owner == "Handle" || owner == "Runtime" {
            return Some(Orphan::Task);
        }
    }
    None
}

/// Classifies `.method(..)` on `receiver`.
pub(crate) fn classify_method(
    method: &str,
    receiver: &Expr,
    aliases: &Aliases,
) -> Option<(Orphan, Vec<String>)> {
    match method {
        "spawn_ok"
        | "spawn_obj"
        | "spawn_local_obj"
        | "spawn_with_handle"
        | "spawn_local_with_handle" => return Some((Orphan::Executor, Vec::new())),
        "spawn" | "spawn_on" | "spawn_local" | "spawn_local_on" | "spawn_blocking"
        | "spawn_blocking_on" => {}
        _ => return None,
    }
    // Walk to the start of the chain: `Builder::new().name("x").spawn(..)`.
    let mut root = receiver;
    let root_path = loop {
        match root {
            Expr::MethodCall(m) => root = &m.receiver,
            Expr::Try(t) => root = &t.expr,
            Expr::Paren(p) => root = &p.expr,
            Expr::Group(g) => root = &g.expr,
            Expr::Reference(r) => root = &r.expr,
            Expr::Call(c) => match &*c.func {
                Expr::Path(p) => break aliases.resolve(&segments(&p.path)),
                _ => return None,
            },
            _ => return None,
        }
    };
    let is_thread = root_path.iter().any(|s| s == "thread");
    if ends_with(&root_path, &["Builder", "new"]) || ends_with(&root_path, &["Builder", "default"])
    {
        let kind = match method {
            "spawn_local" | "spawn_local_on" => Orphan::Local,
            "spawn_blocking" | "spawn_blocking_on" => Orphan::Blocking,
            _ if is_thread => Orphan::Thread,
            _ => Orphan::Task,
        };
        return Some((kind, root_path));
    }
    if ends_with(&root_path, &["Handle", "current"])
        || ends_with(&root_path, &["Handle", "try_current"])
    {
        let kind = match method {
            "spawn_blocking" => Orphan::Blocking,
            _ => Orphan::Task,
        };
        return Some((kind, root_path));
    }
    None
}

/// Whether `attrs` hold the opt-out, `#[scope::allow_orphan]`.
pub(crate) fn is_opt_out(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "allow_orphan")
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
}
