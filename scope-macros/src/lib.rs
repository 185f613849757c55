//! Procedural macros of `scope`. Use them through the `scope` crate, which re-exports them.
//!
//! Each entry point is a thin line onto a function on `proc_macro2` tokens, so every stage can
//! be tested without a compiler run. The stages: `options` (the options of every macro, from
//! one table), `ast` (the inputs, and an intermediate form per scoped fn), `valid` (the
//! checks), `protocol` (the hidden `@..` forms the body pass hands to the inner macros),
//! `rewrite` (the spawn macros and the orphan lint, over a body), `lint` (what counts as an
//! orphan task), `expand` (`#[scoped]`, `scope!`, the spawn and slot macros), `entry`
//! (`#[scope::main]`, `#[scope::test]`). The expansions are kept as snapshot files in
//! `tests/expand/`, generated from these functions.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod ast;
mod depth;
mod entry;
mod expand;
mod lint;
mod options;
mod protocol;
mod rewrite;
mod valid;

#[cfg(test)]
mod snapshots;
#[cfg(test)]
mod tests;

/// Runs an `async fn`'s body as a scope (or every async fn of an `impl` block or inline
/// `mod`).
#[proc_macro_attribute]
pub fn scoped(args: TokenStream, input: TokenStream) -> TokenStream {
    guarded("`#[scoped]`", input.into(), true, |input| {
        expand::scoped(args.into(), input)
    })
}

/// A scope in expression position: `scope!(OPTIONS, { BODY })` is a future of the body's
/// value, with every child joined.
#[proc_macro]
pub fn scope(input: TokenStream) -> TokenStream {
    guarded("`scope!`", input.into(), false, |input| {
        expand::scope(input)
    })
}

/// Starts a child of the enclosing scope on the tokio runtime. Only inside a `#[scoped]` fn or
/// a `scope!` block.
#[proc_macro]
pub fn spawn(input: TokenStream) -> TokenStream {
    guarded("`spawn!`", input.into(), false, |input| {
        expand::spawn(ast::SpawnKind::Spawn, input)
    })
}

/// Starts a child of the enclosing scope, polled in place by the scope's own future. Only
/// inside a `#[scoped]` fn or a `scope!` block.
#[proc_macro]
pub fn spawn_in_place(input: TokenStream) -> TokenStream {
    guarded("`spawn_in_place!`", input.into(), false, |input| {
        expand::spawn(ast::SpawnKind::InPlace, input)
    })
}

/// `spawn!` that returns `Err(SpawnError)` when the scope is closed or at its limit, instead
/// of handing back a child that never starts (`Interrupted::NotStarted`), or queueing it.
#[proc_macro]
pub fn try_spawn(input: TokenStream) -> TokenStream {
    guarded("`try_spawn!`", input.into(), false, |input| {
        expand::spawn(ast::SpawnKind::TrySpawn, input)
    })
}

/// `spawn_in_place!` that returns `Err(SpawnError)` when the scope is closed or at its limit.
#[proc_macro]
pub fn try_spawn_in_place(input: TokenStream) -> TokenStream {
    guarded("`try_spawn_in_place!`", input.into(), false, |input| {
        expand::spawn(ast::SpawnKind::TryInPlace, input)
    })
}

/// Waits for a free slot of the enclosing scope's limit, then starts a child on the tokio
/// runtime: `spawn_when_free!(fut).await?` (errgroup's blocking `Go`).
#[proc_macro]
pub fn spawn_when_free(input: TokenStream) -> TokenStream {
    guarded("`spawn_when_free!`", input.into(), false, |input| {
        expand::spawn(ast::SpawnKind::WhenFree, input)
    })
}

/// `spawn_when_free!` for an in-place child.
#[proc_macro]
pub fn spawn_in_place_when_free(input: TokenStream) -> TokenStream {
    guarded(
        "`spawn_in_place_when_free!`",
        input.into(),
        false,
        |input| expand::spawn(ast::SpawnKind::InPlaceWhenFree, input),
    )
}

/// Declares typed slots: `slot!(pub static REQUEST_ID: String);`.
#[proc_macro]
pub fn slot(input: TokenStream) -> TokenStream {
    expand::slot(input.into()).into()
}

/// The program's entry point: a tokio runtime, a root scope, and SIGINT/SIGTERM turned into a
/// shutdown cause.
#[proc_macro_attribute]
pub fn main(args: TokenStream, input: TokenStream) -> TokenStream {
    guarded("`#[scope::main]`", input.into(), true, |input| {
        entry::main(args.into(), input)
    })
}

/// An async test on a tokio runtime, followed by the no-leak check.
#[proc_macro_attribute]
pub fn test(args: TokenStream, input: TokenStream) -> TokenStream {
    guarded("`#[scope::test]`", input.into(), true, |input| {
        entry::test(args.into(), input)
    })
}

/// The proof that the slots required (`Needs![..]`) and bound (`slots(..)`) by the enclosing
/// `#[scoped]` fn or `scope!` block are bound: pass it to a fn that requires them.
#[proc_macro]
pub fn provided(input: TokenStream) -> TokenStream {
    expand::provided(input.into()).into()
}

/// The type of a `#[scoped]` fn's parameter that requires slots: `cx: Needs![REQUEST_ID]`.
/// `#[scoped]` rewrites it; elsewhere (a trait's method declared without a body) it is the type
/// it stands for, `Provided<With<REQUEST_ID, Nil>>`.
#[allow(non_snake_case)] // Reason: it names a type, so it reads as one.
#[proc_macro]
pub fn Needs(input: TokenStream) -> TokenStream {
    expand::needs_outside(input.into()).into()
}

/// Leaves one item out of the `#[scoped]` impl block or module around it: an async fn that is
/// no handler (a helper, a constructor), or a whole inner `impl` or `mod`. The block's
/// expansion reads and removes it; anywhere else it is an error.
#[proc_macro_attribute]
pub fn unscoped(args: TokenStream, input: TokenStream) -> TokenStream {
    guarded("`#[scope::unscoped]`", input.into(), true, |input| {
        expand::unscoped(args.into(), &input)
    })
}

/// The orphan lint's opt-out, `#[scope::allow_orphan]`, on a statement in a scope's body. The
/// scope macros read and remove it. Above a `#[scoped]` attribute it hands itself on to it
/// (the lint is then off in the whole body). On an item elsewhere it does nothing; on a
/// statement outside a scope's body rustc refuses it (attribute macros on statements are
/// unstable).
#[proc_macro_attribute]
pub fn allow_orphan(args: TokenStream, input: TokenStream) -> TokenStream {
    guarded("`#[scope::allow_orphan]`", input.into(), true, |input| {
        expand::allow_orphan(args.into(), input)
    })
}

/// Expands `input` with `expand`, unless it is nested deeper than the macros read (see
/// `depth`): then the error that says so, with the attribute's item unchanged beside it
/// (`keep`), so that nothing it declares goes missing.
fn guarded(
    what: &str,
    input: proc_macro2::TokenStream,
    keep: bool,
    expand: impl FnOnce(proc_macro2::TokenStream) -> proc_macro2::TokenStream,
) -> TokenStream {
    match depth::too_deep(&input) {
        None => expand(input).into(),
        Some(span) => {
            let mut out = depth::refused(span, what);
            if keep {
                out.extend(input);
            }
            out.into()
        }
    }
}
