//! The expansions of `#[scoped]`, `scope!`, the spawn macros, `slot!`, `Needs!` and
//! `provided!()`. Every entry point returns the item (as close to the intended expansion as
//! it can) followed by its errors as `compile_error!`s: never nothing, never a panic.
//!
//! What each expands to is kept as snapshot files, generated from these functions:
//! `scope-macros/tests/expand/*.expanded.rs` (see `snapshots.rs`).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::ast::{self, ScopeInput, ScopedFn, SlotInput, SpawnKind, Target};
use crate::lint::Aliases;
use crate::options::{self, CountValue, DurationValue, MacroKind, Options, PolicyKind};
use crate::protocol::Hidden;
use crate::rewrite::{self, Rewriter};
use crate::valid;

pub(crate) fn errors_to_tokens(errors: Vec<syn::Error>) -> TokenStream {
    errors.into_iter().map(|e| e.to_compile_error()).collect()
}

/// `Duration` tokens for a duration option.
pub(crate) fn duration(krate: &TokenStream, value: &DurationValue) -> TokenStream {
    match value {
        DurationValue::Literal { nanos, span } => {
            let d = quote_spanned!(*span=> #krate::__private::Duration);
            #[allow(clippy::cast_possible_truncation)] // Reason: checked to fit in u64 when parsed.
            let n = *nanos as u64;
            if n % 1_000_000_000 == 0 {
                let s = n / 1_000_000_000;
                quote_spanned!(*span=> #d::from_secs(#s))
            } else if n % 1_000_000 == 0 {
                let ms = n / 1_000_000;
                quote_spanned!(*span=> #d::from_millis(#ms))
            } else {
                quote_spanned!(*span=> #d::from_nanos(#n))
            }
        }
        DurationValue::Expr(e) => e.to_token_stream(),
    }
}

/// A count option's value (`limit`, `worker_threads`), as written. Only a literal is checked
/// against 0 here (when parsed, parentheses stripped); any other value, a constant included,
/// goes to the builder, which refuses a 0 when run (`ConfigError::ZeroLimit`, tokio's panic
/// for `worker_threads`). A check at compile time cannot tell a constant from a local by its
/// spelling (E0435), and a `const` item cannot name the generics around it (E0401).
pub(crate) fn count(value: &CountValue) -> TokenStream {
    match value {
        CountValue::Literal { value, span } => {
            let lit = syn::LitInt::new(&format!("{value}usize"), *span);
            lit.to_token_stream()
        }
        CountValue::Expr(e) => e.to_token_stream(),
    }
}

/// The `Config` builder chain: `Config::new().name(..).limit(..).timeout(..).bind(..)`.
/// `Config::new` is `#[track_caller]`: spanned at `site`, its location is the user's code.
pub(crate) fn config(opts: &Options, default_name: Option<&str>, site: Span) -> TokenStream {
    let krate = opts.krate();
    let mut chain = quote_spanned!(site=> #krate::__private::Config::new());
    match (&opts.name, default_name) {
        (Some((name, _)), _) => {
            let s = name.span();
            chain.extend(quote_spanned!(s=> .name(#krate::__private::scope_name(#name))));
        }
        (None, Some(name)) => chain.extend(quote!(.name(#name))),
        (None, None) => {}
    }
    if let Some((limit, span)) = &opts.limit {
        let n = count(limit);
        chain.extend(quote_spanned!(*span=> .limit(#n)));
    }
    if let Some((t, span)) = &opts.timeout {
        let d = duration(&krate, t);
        chain.extend(quote_spanned!(*span=> .timeout(#d)));
    }
    if let Some((at, span)) = &opts.deadline {
        chain.extend(quote_spanned!(*span=> .deadline(#at)));
    }
    if let Some((g, span)) = &opts.grace {
        let d = duration(&krate, g);
        chain.extend(quote_spanned!(*span=> .grace(#d)));
    }
    if let Some((g, span)) = &opts.shutdown_grace {
        let d = duration(&krate, g);
        chain.extend(quote_spanned!(*span=> .shutdown_grace(#d)));
    }
    if let Some((bindings, _)) = &opts.slots {
        for b in bindings {
            let slot = &b.slot;
            let value = &b.value;
            let span = slot.span();
            chain.extend(quote_spanned!(span=> .bind(&#slot, #value)));
        }
    }
    chain
}

/// What `provided!()` gives in a body: the proof that the slots it requires (a `Needs![..]`
/// parameter, or the enclosing body's proof) and binds (`slots(..)`) are bound, checked as it
/// is made (`Provided::extend`).
pub(crate) struct Proof {
    /// What the proof extends: the `Needs![..]` parameter of the fn, or the proof of the
    /// enclosing body (for a nested `scope!`); the empty proof otherwise.
    pub(crate) param: Option<syn::Ident>,
    /// The keys the `Needs![..]` parameter lists, in order (empty for a nested `scope!`,
    /// whose enclosing proof's list is not written out).
    pub(crate) keys: Vec<syn::Type>,
}

impl Proof {
    fn prelude(&self, opts: &Options, scope: &proc_macro2::Ident) -> TokenStream {
        let krate = opts.krate();
        let provided = rewrite::provided_ident();
        let mut chain = if let Some(p) = &self.param {
            let param = quote!(::core::clone::Clone::clone(&#p));
            match self.without_rebound(opts, &krate) {
                // A slot the fn requires and its scope binds again: the proof drops the
                // required one (the new binding shadows it), so that it lists each key once
                // (twice, `provided!()` could not tell which one a callee's requirement means).
                Some(list) => quote!(#krate::__private::Provided::narrow::<#list, _>(#param)),
                None => param,
            }
        } else {
            quote!(#krate::__private::Provided::root())
        };
        if let Some((bindings, _)) = &opts.slots {
            for b in bindings {
                let slot = &b.slot;
                // Spanned at the slot: a key of another slot's type is reported there.
                chain.extend(quote_spanned!(slot.span()=> .extend(#scope.cx(), &#slot)));
            }
        }
        quote!(let #provided = #chain;)
    }

    /// The list of the `Needs![..]` keys that `slots(..)` does not bind again, if it binds one
    /// (matched as written: a key and a binding of the same slot by two different paths are
    /// not seen, and `provided!()` then reports the ambiguity).
    fn without_rebound(&self, opts: &Options, krate: &TokenStream) -> Option<TokenStream> {
        let (bindings, _) = opts.slots.as_ref()?;
        // Compared as paths without `r#` (`r#gen` is `gen`); a key that is not a plain path,
        // as written.
        let bound: Vec<String> = bindings
            .iter()
            .map(|b| crate::options::path_key(&b.slot))
            .collect();
        let key_of = |k: &syn::Type| match k {
            syn::Type::Path(p) if p.qself.is_none() => crate::options::path_key(&p.path),
            other => other.to_token_stream().to_string(),
        };
        let kept: Vec<&syn::Type> = self
            .keys
            .iter()
            .filter(|k| !bound.contains(&key_of(k)))
            .collect();
        if kept.len() == self.keys.len() {
            return None;
        }
        let mut list = quote!(#krate::__private::Nil);
        for key in kept.iter().rev() {
            list = quote!(#krate::__private::With<#key, #list>);
        }
        Some(list)
    }
}

/// The scope around a body:
///
/// ```text
/// let scope = ::scope::__private::Scope::new(CONFIG);
/// let __scope = &scope;
/// let s = __scope;                        // with a named handle
/// let __provided = ..;                    // when the body uses `provided!()`
/// break __scope_end (__scope.run(async BODY).await);
/// ```
///
/// in a block labelled `__scope_end` (a name user code cannot reach). The run's value leaves
/// by that `break`, not as the block's tail: a crate moving to edition 2024 (`cargo fix
/// --edition`) was warned at every use that a tail's temporary (the run's future) would be
/// dropped before the scope, as it always was. Not by a `return`, which would leave the fn
/// past what another macro's expansion around the block does after it; and not by a `let`
/// and its name, which turns rustc's error for a handle that leaves with the value into one
/// at the attribute (E0515) rather than at the value (E0716).
///
/// `supervise` calls `run_all`; `first_ok` uses `Race`; `local` enters with `new_local`
/// (in-place children need not be `Send`); `error = E` states the scope's error type.
pub(crate) fn scope_body(
    opts: &Options,
    config: &TokenStream,
    body: &syn::Block,
    proof: Option<&Proof>,
    error_of: Option<(&syn::Type, Span)>,
) -> TokenStream {
    scope_body_then(opts, config, body, proof, error_of, |run, _| run)
}

/// A body said to be of type `ty`: one that never ends on its own (so that its `?` has a
/// `Result` to return into), or one with a `return` of its own (an async block's type is
/// inferred from its first `return`, so a `return Ok(value)` of the wrong type would be told
/// at the attribute). A first `return` that never runs, of a call typed `ty`, comes before
/// the user's: no code made unreachable, so no lint is allowed that a crate may forbid.
pub(crate) fn typed_async_body(
    krate: &TokenStream,
    ty: impl ToTokens,
    body: impl ToTokens,
) -> TokenStream {
    quote!({
        if false {
            return #krate::__private::body_type::<#ty>();
        }
        #body
    })
}

/// [`scope_body`] whose last expression, the awaited run, is handed to `then` with the name
/// of the scope's handle (`#[scope::main]` reads the scope's context after the run).
pub(crate) fn scope_body_then(
    opts: &Options,
    config: &TokenStream,
    body: &syn::Block,
    proof: Option<&Proof>,
    error_of: Option<(&syn::Type, Span)>,
    then: impl FnOnce(TokenStream, &proc_macro2::Ident) -> TokenStream,
) -> TokenStream {
    let krate = opts.krate();
    let scope = rewrite::scope_ident();
    let prelude = proof.map(|p| p.prelude(opts, &scope));
    let race = opts.policy() == PolicyKind::FirstOk;
    let ty = format_ident!("{}", if race { "Race" } else { "Scope" });
    let new = format_ident!("{}", if opts.is_local() { "new_local" } else { "new" });
    // Named, so that a borrow error says "`scope` does not live long enough" rather than
    // talk about a temporary the user never wrote. Both names are invisible to user code.
    let owner = proc_macro2::Ident::new("scope", Span::mixed_site());
    // The scope's error type, when known before the body: stated in the header
    // (`error = E`), or read from a fail-fast fn's return type (checked there, once).
    let error = match (&opts.error, error_of) {
        (Some((error, span)), _) => Some((header_error(error, &krate), *span)),
        (None, Some((ret, span))) if opts.policy() == PolicyKind::FailFast => Some((
            quote_spanned!(span=> <#ret as #krate::ScopeResult>::Error),
            span,
        )),
        // Supervised or a race: `Result<T, Failures<E>>`, said at the return type when it is
        // not (rather than a type mismatch at the attribute).
        (None, Some((ret, span))) => Some((
            quote_spanned!(span=> <#ret as #krate::__private::SupervisedResult>::Error),
            span,
        )),
        _ => None,
    };
    let annotation = error.map(|(error, span)| {
        let mode = if opts.is_local() {
            quote!(#krate::__private::Local)
        } else {
            quote!(#krate::__private::Sendable)
        };
        let value = race.then(|| quote!(_,));
        quote_spanned!(span=> : #krate::__private::#ty<'_, '_, #value #error, #mode>)
    });
    let handle = opts
        .handle
        .as_ref()
        .map(|(name, _)| quote!(let #name = #scope;));
    let run = if opts.policy() == PolicyKind::Supervise {
        format_ident!("run_all")
    } else {
        format_ident!("run")
    };
    // Spanned at the fn's return type: what the scope's error type lacks is reported there.
    let run_span = error_of.map_or_else(Span::call_site, |(_, s)| s);
    let body = typed_body(opts, &krate, body, error_of);
    let run_call = quote_spanned!(run_span=> #scope.#run(async #body));
    let last = then(quote!(#run_call.await), &scope);
    let end = syn::Lifetime::new("'__scope_end", Span::mixed_site());
    quote! {
        #end: {
            let #owner #annotation = #krate::__private::#ty::#new(#config);
            let #scope = &#owner;
            #handle
            #prelude
            break #end (#last);
        }
    }
}

/// The scope's body as the run's async block takes it, with its type said where the fn's
/// return type gives it and the body's syntax needs it (see [`scope_body_then`]): under
/// fail-fast the body's value is the fn's; supervised, the fn returns `Result<T, Failures<E>>`
/// and the body `Result<T, E>`. Not when that type names an `impl Trait`, which a `let`
/// cannot say.
fn typed_body(
    opts: &Options,
    krate: &TokenStream,
    body: &syn::Block,
    error_of: Option<(&syn::Type, Span)>,
) -> TokenStream {
    let Some((ret, span)) = error_of.filter(|(ret, _)| !names_impl_trait(ret)) else {
        return body.to_token_stream();
    };
    match opts.policy() {
        PolicyKind::FailFast => typed_result_body(krate, ret.to_token_stream(), body),
        PolicyKind::Supervise => typed_result_body(
            krate,
            quote_spanned!(span=> <#ret as #krate::__private::SupervisedResult>::Body),
            body,
        ),
        // A race's body that never ends (a stub not written yet, a loop) gives no value
        // either: `Ok(())`'s type is said for it, or rustc's fallback of `!` to `()` refuses
        // the fn. One with a `return` of its own is left as it is: its value leaves by the
        // `return`, and the crate's message for a race body's value says what is wrong with
        // it.
        PolicyKind::FirstOk if diverges(body) && !returns(body) => {
            typed_async_body(krate, race_body(krate, ret, span), unbraced(body))
        }
        // A race's body gives no value (the winner's is the result): `Ok(())`, or its error.
        // Said only for a tail with `?` (`Err(e)?` after starting the candidates had no type
        // to take): a tail `Ok(value)` keeps the message that says why a race's body gives
        // none.
        PolicyKind::FirstOk if ends_in_result(body) && ends_in_question_mark(body) => {
            let body_ty = race_body(krate, ret, span);
            let out = format_ident!("__out", span = Span::mixed_site());
            quote!({
                let #out: #body_ty = #body;
                #out
            })
        }
        PolicyKind::FirstOk => body.to_token_stream(),
    }
}

/// A body of type `ty` (a fail-fast fn's, a supervised fn's body's, `main`'s), with that type
/// said where its syntax needs it:
/// - one that ends in `Ok(..)` or `Err(..)` gets it through a `let`, so that a value of the
///   wrong type is told so where it is written (as in a plain fn), not where the run's result
///   meets the fn's return type (the attribute);
/// - one that never ends on its own (a server's `loop { ..? }`) has no value to infer it from
///   (its `?` would find no `Result` to return into), and one with a `return` of its own that
///   gives a value would have it taken from its first `return` (a `return Ok(value)` of the
///   wrong type told at the attribute, twice): both get it from a first `return` that never
///   runs ([`typed_async_body`]).
pub(crate) fn typed_result_body(
    krate: &TokenStream,
    ty: TokenStream,
    body: &syn::Block,
) -> TokenStream {
    let inner = if ends_in_result(body) {
        let out = format_ident!("__out", span = Span::mixed_site());
        quote!({
            let #out: #ty = #body;
            #out
        })
    } else {
        body.to_token_stream()
    };
    if diverges(body) || returns_a_value(body) {
        if ends_in_result(body) {
            typed_async_body(krate, ty, inner)
        } else {
            typed_async_body(krate, ty, unbraced(body))
        }
    } else {
        inner
    }
}

/// A body's statements without its braces, to be the rest of a block the expansion writes:
/// kept braced there, a body that is one expression (`{ loop { .. } }`) would be the block's
/// only tail, and rustc's `unused_braces` would tell the user to remove braces the fn needs.
fn unbraced(body: &syn::Block) -> TokenStream {
    let stmts = &body.stmts;
    quote!(#(#stmts)*)
}

/// The type of a race's body in a fn that returns `ret`: `Result<(), E>`, `E` the error of
/// each of the fn's `Failures<E>`.
fn race_body(krate: &TokenStream, ret: &syn::Type, span: Span) -> TokenStream {
    quote_spanned!(span=> #krate::__private::Result<
        (),
        <#ret as #krate::__private::SupervisedResult>::Error,
    >)
}

/// Whether a block's value can only be `!`: its last statement or tail (with a semicolon or
/// without) is a `loop` that nothing breaks out of, a `return` with a value, `panic!`,
/// `unreachable!`, `todo!` or `unimplemented!`, a call of `std::process::exit` or
/// `std::process::abort` written with that path, a block whose value is, a `match` whose arms
/// all are (an empty `match` too), or an `if` whose branches both are. (A bare `return;` gives
/// `()`; another fn that returns `!` cannot be told from the syntax: such a body needs its
/// `Ok(..)` type said, see docs/macros.md.)
pub(crate) fn diverges(block: &syn::Block) -> bool {
    match block.stmts.last() {
        Some(syn::Stmt::Expr(last, _)) => expr_diverges(last),
        Some(syn::Stmt::Macro(m)) => diverging_macro(&m.mac),
        _ => false,
    }
}

pub(crate) fn expr_diverges(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::Loop(l) => !valid::breaks_leave(&l.body),
        // A bare `return;` gives the body `()`, a value like any other.
        syn::Expr::Return(r) => r.expr.is_some(),
        // `std::process::exit(..)`, `std::process::abort()`, by that path (a `process` of the
        // user's own may hold an `exit` that returns): they never return.
        syn::Expr::Call(c) => match &*c.func {
            syn::Expr::Path(p) if p.qself.is_none() => matches!(
                crate::lint::segments(&p.path).as_slice(),
                [std, process, end] if std == "std" && process == "process"
                    && (end == "exit" || end == "abort")
            ),
            _ => false,
        },
        syn::Expr::Block(b) if b.label.is_none() => diverges(&b.block),
        syn::Expr::Macro(m) => diverging_macro(&m.mac),
        syn::Expr::Paren(p) => expr_diverges(&p.expr),
        // `match x {}` (a value that cannot exist) diverges too.
        syn::Expr::Match(m) => m.arms.iter().all(|a| expr_diverges(&a.body)),
        syn::Expr::If(i) => {
            diverges(&i.then_branch)
                && i.else_branch
                    .as_ref()
                    .is_some_and(|(_, other)| expr_diverges(other))
        }
        _ => false,
    }
}

/// Whether a block has a `return` of its own (not one of a closure, an async block or an item
/// in it).
fn returns(block: &syn::Block) -> bool {
    find_return(block, |_| true)
}

/// Whether a block has a `return` of its own with a value (a bare `return;` gives `()`, which
/// a scope's body may end in).
pub(crate) fn returns_a_value(block: &syn::Block) -> bool {
    find_return(block, |r| r.expr.is_some())
}

fn find_return(block: &syn::Block, wanted: fn(&syn::ExprReturn) -> bool) -> bool {
    struct Returns(bool, fn(&syn::ExprReturn) -> bool);
    impl<'ast> syn::visit::Visit<'ast> for Returns {
        fn visit_expr_return(&mut self, r: &'ast syn::ExprReturn) {
            self.0 |= (self.1)(r);
            syn::visit::visit_expr_return(self, r);
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut found = Returns(false, wanted);
    syn::visit::Visit::visit_block(&mut found, block);
    found.0
}

/// Whether a block's value is a `Result` by its syntax: its tail (no semicolon) is a call of
/// `Ok` or `Err` (by any path ending so), or a block, an `if` or a `match` whose every branch
/// ends in one or never ends, one at least in a `Result`.
pub(crate) fn ends_in_result(block: &syn::Block) -> bool {
    match block.stmts.last() {
        Some(syn::Stmt::Expr(tail, None)) => expr_is_result(tail),
        _ => false,
    }
}

fn expr_is_result(expr: &syn::Expr) -> bool {
    // Every branch a `Result` or never ending, and one a `Result`.
    fn branches<'a>(mut each: impl Iterator<Item = &'a syn::Expr>) -> bool {
        let mut result = false;
        let all = each.all(|e| {
            let is = expr_is_result(e);
            result |= is;
            is || expr_diverges(e)
        });
        all && result
    }
    match expr {
        syn::Expr::Call(c) if c.args.len() == 1 => match &*c.func {
            syn::Expr::Path(p) if p.qself.is_none() => p
                .path
                .segments
                .last()
                .is_some_and(|s| s.arguments.is_none() && (s.ident == "Ok" || s.ident == "Err")),
            _ => false,
        },
        // `x?` (`Err(e)?` to fail): a body that uses `?` gives a `Result` (the scope's body
        // gives nothing else that takes `?`), and the fn's type is what its value must be, as
        // in a plain fn; left to infer, `Err(e)?` has none (a plain async fn accepts it).
        syn::Expr::Try(_) => true,
        syn::Expr::Paren(p) => expr_is_result(&p.expr),
        // A labeled block that ends in a `Result` is one, whatever its `break`s give (they
        // must give the same type, which said here is checked at each of them).
        syn::Expr::Block(b) => ends_in_result(&b.block),
        syn::Expr::If(i) => i.else_branch.as_ref().is_some_and(|(_, other)| {
            // Both a `Result` or never ending, and one a `Result`.
            let (then, other_is) = (ends_in_result(&i.then_branch), expr_is_result(other));
            (then || (diverges(&i.then_branch) && other_is)) && (other_is || expr_diverges(other))
        }),
        syn::Expr::Match(m) => branches(m.arms.iter().map(|a| &*a.body)),
        _ => false,
    }
}

/// Whether a block's value (or one of its branches') is a `?` expression.
pub(crate) fn ends_in_question_mark(block: &syn::Block) -> bool {
    fn expr(e: &syn::Expr) -> bool {
        match e {
            syn::Expr::Try(_) => true,
            syn::Expr::Paren(p) => expr(&p.expr),
            syn::Expr::Block(b) => ends_in_question_mark(&b.block),
            syn::Expr::If(i) => {
                ends_in_question_mark(&i.then_branch)
                    || i.else_branch.as_ref().is_some_and(|(_, e)| expr(e))
            }
            syn::Expr::Match(m) => m.arms.iter().any(|a| expr(&a.body)),
            _ => false,
        }
    }
    match block.stmts.last() {
        Some(syn::Stmt::Expr(tail, None)) => expr(tail),
        _ => false,
    }
}

/// Whether a type names an `impl Trait`, which a `let` cannot be annotated with.
pub(crate) fn names_impl_trait(ty: &syn::Type) -> bool {
    fn any_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "impl",
            proc_macro2::TokenTree::Group(g) => any_impl(g.stream()),
            _ => false,
        })
    }
    any_impl(ty.to_token_stream())
}

/// `panic!`, `unreachable!`, `todo!` or `unimplemented!`.
fn diverging_macro(mac: &syn::Macro) -> bool {
    ["panic", "unreachable", "todo", "unimplemented"]
        .iter()
        .any(|name| mac.path.is_ident(name))
}

// ---------------------------------------------------------------------------------------------
// #[scoped]

/// `#[scoped(OPTIONS)]` on an async fn, an `impl` block or an inline `mod`
/// (snapshots: `tests/expand/scoped-*.rs`).
pub(crate) fn scoped(args: TokenStream, input: TokenStream) -> TokenStream {
    let target = Target::parse(input);
    let (args, opted_out) = take_hidden_opt_out(args);
    let (mut opts, mut errors) = options::parse_attr_args(args, MacroKind::Scoped);
    opts.allow_orphan = opted_out;
    errors.extend(valid::options(&opts, MacroKind::Scoped));
    // The options' expressions run at the start of the fn: the orphan lint reads them too.
    errors.extend(Rewriter::lint_exprs(opts.exprs_mut()));
    let out = match target {
        // Above `#[scope::main]`, which runs its body as a scope already: said as it is below
        // it, and the fn left to `#[scope::main]` unscoped (scoped, its `spawn!`s were told
        // they were in a scope not seen as one).
        Target::Fn(f)
            if f.attrs
                .iter()
                .any(|a| crate::ast::attr_is(a, "main") && !crate::entry::is_tokio_entry(a)) =>
        {
            errors.push(syn::Error::new(
                Span::call_site(),
                "`#[scoped]` is not needed on `#[scope::main]`: it runs its body as a scope \
                 already\nhelp: give `#[scope::main]` the options instead \
                 (`#[scope::main(limit = 4, timeout = 5s)]`); for children that are not \
                 `Send`, open `scope!(local, { .. })` in its body",
            ));
            f.into_token_stream()
        }
        Target::Fn(mut f) => {
            // Written twice: the second would find the first's expansion, and say something
            // about a nested scope it cannot see.
            if let Some(i) = f
                .attrs
                .iter()
                .position(|a| crate::ast::attr_is(a, "scoped"))
            {
                let attr = f.attrs.remove(i);
                errors.push(syn::Error::new_spanned(
                    &attr,
                    "`#[scoped]` is written twice: put every option in one `#[scoped(..)]`",
                ));
            }
            let own = [crate::lint::unraw(&f.sig.ident)];
            errors.extend(valid::stray_idents(
                &mut opts,
                &valid::param_names(&f.sig),
                &own,
            ));
            let opts = with_opt_out(&opts, &mut f.attrs);
            let (sig, block) = scoped_fn(
                ScopedFn::new(f.sig.clone(), (*f.block).clone(), opts, None),
                &mut errors,
            );
            f.sig = sig;
            *f.block = block;
            f.into_token_stream()
        }
        Target::Impl(mut imp) => {
            // (A method is not in scope by its bare name: `name = fetch` is rustc's to say.)
            errors.extend(valid::stray_idents(
                &mut opts,
                &block_params(&Target::Impl(imp.clone())),
                &[],
            ));
            errors.extend(impl_scopes_nothing(&imp));
            let opts = with_opt_out(&opts, &mut imp.attrs);
            scoped_impl(&mut imp, &opts, &Aliases::default(), &mut errors);
            imp.into_token_stream()
        }
        Target::Mod(mut m) => {
            if m.content.is_none() {
                errors.push(syn::Error::new_spanned(
                    &m,
                    "`#[scoped]` applies to an inline `mod { ... }` only: put it on the async fns \
                     (or the `impl` blocks) in that file instead",
                ));
            }
            let fns: Vec<String> = m
                .content
                .iter()
                .flat_map(|(_, items)| items)
                .filter_map(|item| match item {
                    syn::Item::Fn(f) => Some(crate::lint::unraw(&f.sig.ident)),
                    _ => None,
                })
                .collect();
            errors.extend(valid::stray_idents(
                &mut opts,
                &block_params(&Target::Mod(m.clone())),
                &fns,
            ));
            errors.extend(mod_scopes_nothing(&m));
            let opts = with_opt_out(&opts, &mut m.attrs);
            scoped_mod(&mut m, &opts, &Aliases::default(), &mut errors);
            m.into_token_stream()
        }
        Target::Trait(mut t) => {
            let mut opts = with_opt_out(&opts, &mut t.attrs);
            trait_target(t, &mut opts, &mut errors)
        }
        // A syntax error in the body: rustc's message (said by syn) is the only one.
        Target::Broken(broken) => broken.stub(&TokenStream::new()),
        Target::BrokenBlock(tokens) => tokens,
        Target::Other(tokens) => {
            errors.push(not_an_fn(&tokens));
            tokens
        }
    };
    let errors = errors_to_tokens(errors);
    quote!(#out #errors)
}

/// An `impl` block with no async fn (one written so, or boxed by `#[async_trait]`): told so.
fn impl_scopes_nothing(imp: &syn::ItemImpl) -> Option<syn::Error> {
    // (A fn with a `#[scoped]` of its own, a hand-written boxed one say, is scoped too.)
    let has_async = imp.items.iter().any(|item| {
        matches!(item, syn::ImplItem::Fn(m)
            if is_async_body(&m.sig, &m.block) || has_scoped_attr(&m.attrs))
    });
    let macros = imp
        .items
        .iter()
        .any(|item| matches!(item, syn::ImplItem::Macro(_)));
    (!has_async).then(|| scopes_nothing(imp.impl_token.span, "impl block", macros))
}

/// A module with nothing that may hold an async fn (one, or a block of its own, read when
/// expanded): told so.
fn mod_scopes_nothing(m: &syn::ItemMod) -> Option<syn::Error> {
    let (_, items) = m.content.as_ref()?;
    let may_scope = items.iter().any(|item| match item {
        syn::Item::Fn(f) => f.sig.asyncness.is_some() || has_scoped_attr(&f.attrs),
        syn::Item::Impl(_) | syn::Item::Trait(_) | syn::Item::Mod(_) => true,
        _ => false,
    });
    let macros = items.iter().any(|item| matches!(item, syn::Item::Macro(_)));
    (!may_scope).then(|| scopes_nothing(m.mod_token.span, "module", macros))
}

/// `#[scoped]` on an `impl` block or a module that has no async fn: it scopes nothing, and its
/// options would go nowhere without a word.
fn scopes_nothing(span: Span, what: &str, macros: bool) -> syn::Error {
    let hidden = if macros {
        "; a fn that a macro writes in it is not seen: write `#[scoped]` on that fn inside the \
         macro"
    } else {
        ""
    };
    syn::Error::new(
        span,
        format!(
            "`#[scoped]` on this {what} scopes nothing: it has no `async fn`{hidden}\n\
             help: remove `#[scoped]` here, or write it on the async fns it should scope"
        ),
    )
}

/// The options for a fn, with the orphan lint off in its whole body if it is marked
/// `#[scope::allow_orphan]` (the attribute is taken off: it has been read).
fn with_opt_out(opts: &Options, attrs: &mut Vec<syn::Attribute>) -> Options {
    let mut opts = opts.clone();
    let before = attrs.len();
    attrs.retain(|a| !crate::lint::is_opt_out(a));
    opts.allow_orphan |= attrs.len() != before;
    opts
}

/// `@allow_orphan` at the start of `#[scoped(..)]`'s arguments: written there by a
/// `#[scope::allow_orphan]` above the attribute (it expands first, and hands its word on).
fn take_hidden_opt_out(args: TokenStream) -> (TokenStream, bool) {
    let mut tokens = args.clone().into_iter();
    match (tokens.next(), tokens.next()) {
        (Some(proc_macro2::TokenTree::Punct(at)), Some(proc_macro2::TokenTree::Ident(word)))
            if at.as_char() == '@' && word == "allow_orphan" =>
        {
            let mut rest = tokens.peekable();
            if matches!(rest.peek(), Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == ',') {
                rest.next();
            }
            (rest.collect(), true)
        }
        _ => (args, false),
    }
}

/// A header's `error = E`, checked (and reported) at `E` as a fail-fast fn's return type is.
fn header_error(error: &syn::Type, krate: &TokenStream) -> TokenStream {
    // At `E`, but the expansion's own (a lint on paths, `clippy::absolute_paths`, is not the
    // user's to answer here).
    let span = Span::mixed_site().located_at(error.span());
    quote_spanned!(span=> <#error as #krate::__private::HeaderError>::Error)
}

/// `#[scoped]` on a trait: its async methods with a default body, or an error saying where to
/// put it if it has none.
fn trait_target(
    mut t: syn::ItemTrait,
    opts: &mut Options,
    errors: &mut Vec<syn::Error>,
) -> TokenStream {
    errors.extend(valid::stray_idents(
        opts,
        &block_params(&Target::Trait(t.clone())),
        &[],
    ));
    let with_bodies = t.items.iter().any(|item| match item {
        syn::TraitItem::Fn(m) => m.default.as_ref().is_some_and(|b| is_async_body(&m.sig, b)),
        _ => false,
    });
    if !with_bodies {
        errors.push(syn::Error::new_spanned(
            &t.ident,
            format!(
                "`#[scoped]` on a trait scopes its async methods that have a default \
                 body, and `{}` has none: put `#[scoped]` on the `impl` blocks (or on \
                 the methods in them)",
                crate::lint::unraw(&t.ident)
            ),
        ));
    }
    scoped_trait(&mut t, opts, &Aliases::default(), errors);
    t.into_token_stream()
}

/// The parameter names of every fn an `impl` block's or `mod`'s options apply to.
fn block_params(target: &Target) -> Vec<String> {
    fn walk_items(items: &[syn::Item], f: &mut dyn FnMut(&syn::Signature)) {
        for item in items {
            match item {
                syn::Item::Fn(func) => f(&func.sig),
                syn::Item::Impl(imp) => walk_impl(imp, f),
                syn::Item::Trait(t) => walk_trait(t, f),
                syn::Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        walk_items(items, f);
                    }
                }
                _ => {}
            }
        }
    }
    fn walk_impl(imp: &syn::ItemImpl, f: &mut dyn FnMut(&syn::Signature)) {
        for item in &imp.items {
            if let syn::ImplItem::Fn(m) = item {
                f(&m.sig);
            }
        }
    }
    fn walk_trait(t: &syn::ItemTrait, f: &mut dyn FnMut(&syn::Signature)) {
        for item in &t.items {
            if let syn::TraitItem::Fn(m) = item {
                if m.default.is_some() {
                    f(&m.sig);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut visit_fn = |sig: &syn::Signature| out.extend(valid::param_names(sig));
    match target {
        Target::Impl(imp) => walk_impl(imp, &mut visit_fn),
        Target::Trait(t) => walk_trait(t, &mut visit_fn),
        Target::Mod(m) => {
            if let Some((_, items)) = &m.content {
                walk_items(items, &mut visit_fn);
            }
        }
        _ => {}
    }
    out
}

fn not_an_fn(tokens: &TokenStream) -> syn::Error {
    let message = "`#[scoped]` goes on an `async fn` (free fn or method), an `impl` block, a \
                   trait or an inline `mod`";
    // A trait method without a body: say so.
    if let Ok(f) = syn::parse2::<syn::TraitItemFn>(tokens.clone()) {
        if f.default.is_none() {
            return syn::Error::new_spanned(
                &f.sig,
                "`#[scoped]` needs the fn's body: put it on the method in each `impl`, or give \
                 the trait method a default body",
            );
        }
    }
    let span = tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    syn::Error::new(span, message)
}

/// Expands one fn: its signature (a `Needs![..]` parameter rewritten) and body (run as a
/// scope).
fn scoped_fn(mut f: ScopedFn, errors: &mut Vec<syn::Error>) -> (syn::Signature, syn::Block) {
    if let Some(e) = valid::handle_hides_a_param(&f.options, &valid::param_names(&f.sig)) {
        // Said here, once per fn: the parameter stays visible, so that is its only error.
        errors.push(e);
        f.options.handle = None;
    }
    let problems = valid::scoped_fn(&f);
    match f.via_block {
        Some(block) => errors.extend(
            problems
                .errors
                .into_iter()
                .map(|e| via_block(&e, block, &f.sig.ident)),
        ),
        None => errors.extend(problems.errors),
    }
    let opts = f.options.clone();
    let krate = opts.krate();
    let needs = needs_param(&mut f.sig, &krate, errors);
    let config = config(&opts, Some(&f.name), f.sig.ident.span());
    if problems.fatal {
        // The body cannot run as this scope: leave it out (its spawns would only add errors
        // that follow from this one).
        let msg = "this fn is not expanded: see the error above";
        // (A fn returning `impl Future` is given one, or rustc adds that `()` is no future.)
        if f.sig.asyncness.is_none() && valid::future_output(&f.sig.output).is_some() {
            return (f.sig, syn::parse_quote!({ async { ::core::panic!(#msg) } }));
        }
        return (f.sig, syn::parse_quote!({ ::core::panic!(#msg) }));
    }
    let lint_sig = f.lint_sig();
    let by_async_trait = f.boxed && ast::made_by_async_trait(&f.sig);
    if let (true, Some(local)) = (f.boxed && sends(&f.sig), opts.local) {
        let msg = if by_async_trait {
            "`local` makes the scope's future `!Send`, and `#[async_trait]` boxed this fn's \
             future as `Send`\n\
             help: write `#[async_trait(?Send)]` on the trait and on its impl, or leave out \
             `local`"
        } else {
            "`local` makes the scope's future `!Send`, and this fn's boxed future is `Send`\n\
             help: drop `+ Send` from the boxed future in the return type, or leave out `local`"
        };
        errors.push(syn::Error::new(local, msg));
    }
    if f.boxed {
        // `#[async_trait]` has boxed the fn: scope the `async move` block it made.
        let Some(inner) = ast::async_trait_body_mut(&mut f.block) else {
            return (f.sig, f.block);
        };
        let mut body = inner.block.clone();
        // Only `#[async_trait]`'s own lines: in a hand-written boxed fn, leading `let`s are
        // the user's, and bind what the body drops at its end.
        let moved = if by_async_trait {
            ast::take_moved_parameters(&mut body)
        } else {
            Vec::new()
        };
        let (rewrite_errors, provided_used) =
            Rewriter::run_in(&mut body, &opts, Some(&lint_sig), &f.aliases);
        errors.extend(rewrite_errors);
        let proof = (provided_used || needs.is_some() || opts.slots.is_some()).then_some(Proof {
            param: needs.as_ref().map(|(p, _)| p.clone()),
            keys: needs.map(|(_, k)| k).unwrap_or_default(),
        });
        let scoped = scope_body(&opts, &config, &body, proof.as_ref(), None);
        inner.block = if problems.unit {
            // As for a plain fn that cannot carry the scope's result: the scope runs, and the
            // error about the return type is the only one.
            block_of(quote! {{
                #(#moved)*
                let _: #krate::__private::Result<_, #krate::__private::Interrupted> = { #scoped };
            }})
        } else {
            block_of(quote!({ #(#moved)* #scoped }))
        };
        return (f.sig, f.block);
    }
    // Before the rewrite: a copy of the proof it moves into an `async move` block wraps that
    // block in one of its own, where instrument's future is no longer found.
    ast::unmove_instrumented(&mut f.block);
    let (rewrite_errors, provided_used) =
        Rewriter::run_in(&mut f.block, &opts, Some(&lint_sig), &f.aliases);
    errors.extend(rewrite_errors);
    let proof = (provided_used || needs.is_some() || opts.slots.is_some()).then_some(Proof {
        param: needs.as_ref().map(|(p, _)| p.clone()),
        keys: needs.map(|(_, k)| k).unwrap_or_default(),
    });
    let body = if problems.unit {
        // The fn cannot carry the scope's result: run the scope (with its handle, its proof,
        // its options) and drop its result, so that the error about the return type is the
        // only one.
        let scoped = scope_body(&opts, &config, &f.block, proof.as_ref(), None);
        quote! {
            let _: #krate::__private::Result<_, #krate::__private::Interrupted> = { #scoped };
        }
    } else {
        scope_body(
            &opts,
            &config,
            &f.block,
            proof.as_ref(),
            return_type(&f.sig),
        )
    };
    let mut block = block_of(quote!({ #body }));
    // The fn's own braces: its item then spans what the user wrote, so that rustc's lints on
    // the item (`dead_code`) see the user's fn, not the macro's output.
    block.brace_token = f.block.brace_token;
    (f.sig, block)
}

/// Whether the future `#[async_trait]` boxed for `sig` must be `Send` (`dyn Future<..> +
/// Send`, unless written `#[async_trait(?Send)]`).
fn sends(sig: &syn::Signature) -> bool {
    use syn::visit::Visit;
    /// The bounds of the `dyn Future<..> + ..` object: whether one is `Send`.
    struct FutureSends(bool);
    impl<'ast> Visit<'ast> for FutureSends {
        fn visit_type_trait_object(&mut self, object: &'ast syn::TypeTraitObject) {
            let is = |bound: &syn::TypeParamBound, name: &str| {
                matches!(bound, syn::TypeParamBound::Trait(t)
                    if t.path.segments.last().is_some_and(|s| s.ident == name))
            };
            if object.bounds.iter().any(|b| is(b, "Future")) {
                self.0 |= object.bounds.iter().any(|b| is(b, "Send"));
            }
            // Not into the future's `Output`: a `dyn Error + Send` there is the value's.
        }
    }
    let mut found = FutureSends(false);
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        found.visit_type(ty);
    }
    found.0
}

/// The block made of `tokens` (a body this crate rewrote). If they do not parse, which is a bug
/// of this crate, the block is the parse error, spanned where it points, not a panic.
pub(crate) fn block_of(tokens: TokenStream) -> syn::Block {
    syn::parse2(tokens).unwrap_or_else(|e| {
        let msg = format!(
            "{e}\nnote: this is where `scope`'s rewrite of the body stopped parsing; please \
             report it with the code around this point"
        );
        let error = syn::Error::new(e.span(), msg).to_compile_error();
        syn::Block {
            brace_token: syn::token::Brace::default(),
            stmts: vec![syn::Stmt::Item(syn::Item::Verbatim(error))],
        }
    })
}

/// The fn's return type, when it can be named in the body (not an `impl Trait`).
fn return_type(sig: &syn::Signature) -> Option<(&syn::Type, Span)> {
    struct HasImpl(bool);
    impl<'ast> syn::visit::Visit<'ast> for HasImpl {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let mut has = HasImpl(false);
    syn::visit::Visit::visit_type(&mut has, ty);
    (!has.0).then(|| (&**ty, ty.span()))
}

fn has_scoped_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| ast::attr_is(a, "scoped"))
}

/// A test or an entry point (`#[test]`, `#[tokio::test]`, `#[scope::test]`, `main`s): a
/// `#[scoped]` module leaves it alone (it is no handler of the module's, and an entry
/// attribute makes it a plain `fn`).
fn is_entry(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        ast::attr_is(a, "test")
            || ast::attr_is(a, "main")
            || matches!(&a.meta, syn::Meta::List(l)
                if l.path.is_ident("cfg_attr") && names_a_test(l.tokens.clone()))
    })
}

/// Whether a `cfg_attr`'s arguments (`PRED, ATTR, ..`) name a test attribute, at any depth of
/// nested `cfg_attr`s: a test under a condition is no handler whether the condition holds or
/// not (off, the fn is dead code). A `main` under one is not read so: with the condition off,
/// the fn is a plain async fn of the module, which the module scopes.
fn names_a_test(tokens: TokenStream) -> bool {
    let parser = syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
    syn::parse::Parser::parse2(parser, tokens).is_ok_and(|list| {
        list.iter().skip(1).any(|m| match m {
            syn::Meta::List(inner) if inner.path.is_ident("cfg_attr") => {
                names_a_test(inner.tokens.clone())
            }
            m => m.path().segments.last().is_some_and(|s| s.ident == "test"),
        })
    })
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| crate::lint::unraw(&s.ident)),
        _ => None,
    }
}

/// Every async fn of an `impl` block (also after `#[async_trait]` boxed it), with the block's
/// options; a method's own `#[scoped]` takes over.
/// Whether a `#[scoped]` impl block scopes this method: an async one (or one `async_trait`
/// made) without a `#[scoped]` of its own.
pub(crate) fn impl_scopes(m: &syn::ImplItemFn) -> bool {
    is_async_body(&m.sig, &m.block) && !has_scoped_attr(&m.attrs) && !has_unscoped_attr(&m.attrs)
}

/// Whether a method with this body is an async fn: written so, or boxed by `#[async_trait]`
/// (which ran first: it was written below `#[scoped]`).
fn is_async_body(sig: &syn::Signature, block: &syn::Block) -> bool {
    sig.asyncness.is_some()
        || (ast::made_by_async_trait(sig) && ast::async_trait_body(block).is_some())
}

/// `#[scope::unscoped]`: this item is left out of the `#[scoped]` impl or mod around it.
pub(crate) fn has_unscoped_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| ast::attr_is(a, "unscoped"))
}

/// Takes `#[scope::unscoped]` off an item of a `#[scoped]` block (read there, it has no
/// expansion of its own to make); whether it was there.
fn take_unscoped(attrs: &mut Vec<syn::Attribute>, errors: &mut Vec<syn::Error>) -> bool {
    let before = attrs.len();
    attrs.retain(|a| {
        if !ast::attr_is(a, "unscoped") {
            return true;
        }
        if !matches!(a.meta, syn::Meta::Path(_)) {
            errors.push(syn::Error::new_spanned(
                a,
                "`#[scope::unscoped]` takes no arguments",
            ));
        }
        false
    });
    attrs.len() != before
}

/// Whether a `#[scoped]` module scopes this fn: an async one, neither a test nor an entry
/// point, without a `#[scoped]` of its own.
pub(crate) fn mod_scopes(f: &syn::ItemFn) -> bool {
    f.sig.asyncness.is_some()
        && !has_scoped_attr(&f.attrs)
        && !is_entry(&f.attrs)
        && !has_unscoped_attr(&f.attrs)
}

/// A signature error of a fn that a block's `#[scoped]` scopes (it has no attribute of its
/// own): it says where the scoping comes from, and how to leave the fn out.
fn via_block(e: &syn::Error, block: &str, name: &syn::Ident) -> syn::Error {
    syn::Error::new(
        e.span(),
        format!(
            "{e}\nnote: `#[scoped]` on this {block} scopes every async fn in it; if `{name}` \
             is a helper that needs no scope of its own, mark it `#[scope::unscoped]`"
        ),
    )
}

/// Scopes the async fns of an `impl` block.
/// `aliases`: those of the `#[scoped]` module that holds it, if one does.
fn scoped_impl(
    imp: &mut syn::ItemImpl,
    opts: &Options,
    aliases: &Aliases,
    errors: &mut Vec<syn::Error>,
) {
    let owner = type_name(&imp.self_ty);
    let params: Vec<String> = imp
        .items
        .iter()
        .filter_map(|item| match item {
            syn::ImplItem::Fn(m) if impl_scopes(m) => Some(valid::param_names(&m.sig)),
            _ => None,
        })
        .flatten()
        .collect();
    for item in &mut imp.items {
        // The fns a macro call writes are not seen here (it expands later): it may be marked
        // `#[scope::unscoped]`, which says so.
        if let syn::ImplItem::Macro(mac) = item {
            take_unscoped(&mut mac.attrs, errors);
        }
        if let syn::ImplItem::Fn(m) = item {
            if !impl_scopes(m) {
                take_unscoped(&mut m.attrs, errors);
                continue;
            }
            errors.extend(valid::option_param_missing(
                opts,
                &m.sig,
                &params,
                "`impl` block",
            ));
            let mut f = ScopedFn::new(
                m.sig.clone(),
                m.block.clone(),
                with_opt_out(opts, &mut m.attrs),
                owner.as_deref(),
            );
            f.via_block = Some("`impl` block");
            f.aliases = aliases.clone();
            f.impl_generics = Some(imp.generics.clone());
            let (sig, block) = scoped_fn(f, errors);
            m.sig = sig;
            m.block = block;
        }
    }
}

/// Scopes the async methods of a trait that have a default body (an `impl` that gives its
/// own body scopes it with a `#[scoped]` of its own).
/// `aliases`: those of the `#[scoped]` module that holds it, if one does.
fn scoped_trait(
    t: &mut syn::ItemTrait,
    opts: &Options,
    aliases: &Aliases,
    errors: &mut Vec<syn::Error>,
) {
    let owner = crate::lint::unraw(&t.ident);
    let params: Vec<String> = t
        .items
        .iter()
        .filter_map(|item| match item {
            syn::TraitItem::Fn(m) if m.default.is_some() => Some(valid::param_names(&m.sig)),
            _ => None,
        })
        .flatten()
        .collect();
    for item in &mut t.items {
        match item {
            syn::TraitItem::Fn(syn::TraitItemFn {
                attrs,
                sig,
                default: Some(block),
                ..
            }) if is_async_body(sig, block)
                && !has_scoped_attr(attrs)
                && !has_unscoped_attr(attrs) =>
            {
                errors.extend(valid::option_param_missing(opts, sig, &params, "trait"));
                let opts = with_opt_out(opts, attrs);
                let mut f = ScopedFn::new(sig.clone(), block.clone(), opts, Some(&owner));
                f.via_block = Some("trait");
                f.aliases = aliases.clone();
                f.impl_generics = Some(t.generics.clone());
                (*sig, *block) = scoped_fn(f, errors);
            }
            syn::TraitItem::Fn(m) => {
                take_unscoped(&mut m.attrs, errors);
            }
            syn::TraitItem::Macro(mac) => {
                take_unscoped(&mut mac.attrs, errors);
            }
            _ => {}
        }
    }
}

/// Scopes the async fns of a module (and of its `impl` blocks, traits and modules).
/// `outer`: the `use`s and `type` aliases of the `#[scoped]` module around it, if one is (its
/// own `use super::*;` brings them in; rustc does not otherwise).
fn scoped_mod(m: &mut syn::ItemMod, opts: &Options, outer: &Aliases, errors: &mut Vec<syn::Error>) {
    let Some((_, items)) = &mut m.content else {
        return;
    };
    // The module's `use`s and `type` aliases hold in its fns' bodies, as rustc reads them.
    let mut aliases = if items.iter().any(is_use_super_glob) {
        outer.clone()
    } else {
        Aliases::default()
    };
    aliases.merge(Aliases::own(items.iter()));
    let params: Vec<String> = items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Fn(f) if mod_scopes(f) => Some(valid::param_names(&f.sig)),
            _ => None,
        })
        .flatten()
        .collect();
    for item in items {
        match item {
            syn::Item::Fn(f) if mod_scopes(f) => {
                errors.extend(valid::option_param_missing(opts, &f.sig, &params, "module"));
                let opts = with_opt_out(opts, &mut f.attrs);
                let mut sf = ScopedFn::new(f.sig.clone(), (*f.block).clone(), opts, None);
                sf.via_block = Some("module");
                sf.aliases = aliases.clone();
                let (sig, block) = scoped_fn(sf, errors);
                f.sig = sig;
                *f.block = block;
            }
            syn::Item::Fn(f) => {
                take_unscoped(&mut f.attrs, errors);
            }
            // Left out whole, with everything in it.
            syn::Item::Impl(imp) if has_unscoped_attr(&imp.attrs) => {
                take_unscoped(&mut imp.attrs, errors);
            }
            syn::Item::Mod(inner) if has_unscoped_attr(&inner.attrs) => {
                take_unscoped(&mut inner.attrs, errors);
            }
            syn::Item::Impl(imp) if !has_scoped_attr(&imp.attrs) => {
                scoped_impl(imp, opts, &aliases, errors);
            }
            syn::Item::Mod(inner) if !has_scoped_attr(&inner.attrs) => {
                scoped_mod(inner, opts, &aliases, errors);
            }
            syn::Item::Trait(t) if has_unscoped_attr(&t.attrs) => {
                take_unscoped(&mut t.attrs, errors);
            }
            syn::Item::Trait(t) if !has_scoped_attr(&t.attrs) => {
                scoped_trait(t, opts, &aliases, errors);
            }
            // What a macro call writes is not seen here (it expands later).
            syn::Item::Macro(mac) => {
                take_unscoped(&mut mac.attrs, errors);
            }
            _ => {}
        }
    }
}

/// `use super::*;`: the module sees what the one around it does.
fn is_use_super_glob(item: &syn::Item) -> bool {
    matches!(item, syn::Item::Use(u) if matches!(
        &u.tree,
        syn::UseTree::Path(p) if p.ident == "super" && matches!(*p.tree, syn::UseTree::Glob(_))
    ))
}

// ---------------------------------------------------------------------------------------------
// scope!

/// `scope!(OPTIONS, { BODY })` / `scope!(OPTIONS, |s| { BODY })`: a future of the body's
/// value, every child joined (snapshots: `tests/expand/scope-macro*.rs`).
pub(crate) fn scope(input: TokenStream) -> TokenStream {
    let ScopeInput {
        mut options,
        mut errors,
        body,
        outer_proof,
        linted,
        enclosing_handles,
        enclosing_children,
    } = ScopeInput::parse(input);
    errors.extend(valid::options(&options, MacroKind::ScopeMacro));
    let Some(mut body) = body else {
        let errors = errors_to_tokens(errors);
        return quote!({ #errors });
    };
    errors.extend(valid::jumps_out_of_scope_body(&mut body));
    // The header's expressions run in the enclosing code: the orphan lint reads them too
    // (the enclosing body's pass has, with what it knows, when it linted this one).
    if !linted {
        errors.extend(Rewriter::lint_exprs(options.exprs_mut()));
    }
    let (rewrite_errors, provided_used) = Rewriter::run_nested(
        &mut body,
        &options,
        linted,
        &enclosing_handles,
        &enclosing_children,
    );
    errors.extend(rewrite_errors);
    let config = config(&options, None, Span::call_site());
    let proof = (provided_used || options.slots.is_some()).then_some(Proof {
        param: outer_proof,
        keys: Vec::new(),
    });
    let inner = scope_body(&options, &config, &body, proof.as_ref(), None);
    let errors = errors_to_tokens(errors);
    quote! {
        {
            #errors
            async { #inner }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// spawn!, spawn_in_place!, try_spawn!, try_spawn_in_place!

/// A spawn macro: bound to a scope by the rewrite of `#[scoped]`/`scope!`, or outside any
/// (its expansions show in the snapshots `tests/expand/scoped-fn.rs` and `scope-macro.rs`).
///
/// ```text
/// spawn!(@scope __scope, fut)            -> __scope.spawn(fut)
/// spawn!(@scope __scope, name = n, fut)  -> __scope.spawn_named(n, fut)
/// try_spawn!(@scope __scope, fut)        -> __scope.try_spawn(fut)
/// spawn!(fut)   (outside any scope)      -> ::core::compile_error!("..")
/// ```
#[allow(clippy::needless_pass_by_value)] // Reason: every entry point takes its input by value.
pub(crate) fn spawn(kind: SpawnKind, input: TokenStream) -> TokenStream {
    let m = kind.macro_name();
    match Hidden::parse(&input) {
        Some(Hidden::Nested) => {
            let msg = format!(
                "`{m}` inside a child: a child cannot reach its parent's scope (it runs on its \
                 own, and may not borrow the scope)\n\
                 help: to fan out from inside a child, open a nested scope there: \
                 `scope!({{ let c = {m}(...); c.await }}).await`"
            );
            quote!(::core::compile_error!(#msg))
        }
        Some(Hidden::Race) => {
            let msg = format!(
                "`{m}` in a `first_ok` scope: a race neither refuses nor holds back a candidate\n\
                 help: use `{}` (a race admits every candidate, in spawn order under a `limit`)",
                if kind.is_spawned() {
                    "spawn!"
                } else {
                    "spawn_in_place!"
                }
            );
            quote!(::core::compile_error!(#msg))
        }
        Some(Hidden::Error(msg)) => {
            quote::quote_spanned!(msg.span()=> ::core::compile_error!(#msg))
        }
        Some(Hidden::Scope { scope, args }) => {
            let args = match ast::SpawnArgs::parse(args, kind) {
                Ok(args) => args,
                Err(e) => return e.to_compile_error(),
            };
            // Spanned at the user's code, not at the macro: a bound the future does not meet
            // (`Send`, `'static`, its output) is reported at the future, and an error about the
            // whole call (a borrow it makes escape, `spawn!(count(name))` with a reference
            // parameter `name`: rustc's E0521) at the call, which runs from the `spawn!` (where
            // the body pass placed the scope's variable, which still resolves where the scope
            // declared it) to the future's last token.
            let fut = &args.fut;
            let span = fut.span();
            let end = fut
                .to_token_stream()
                .into_iter()
                .last()
                .map_or(span, |t| t.span());
            let at = span.located_at(scope.span());
            let mut receiver =
                proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, quote!(#scope));
            receiver.set_span(at);
            let method =
                proc_macro2::Ident::new(kind.method(args.name.is_some()), Span::call_site());
            let inner = if let Some(name) = &args.name {
                quote_spanned!(span=> #name, #fut)
            } else {
                quote!(#fut)
            };
            let mut call_args = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, inner);
            call_args.set_span(end);
            quote_spanned!(at=> #receiver.#method #call_args)
        }
        _ => {
            let method = kind.method(false);
            let bare = kind.macro_name().trim_end_matches('!');
            let msg = format!(
                "`{m}` can only be used inside a `#[scoped]` async fn or a `scope!` block: it \
                 starts a child of the enclosing scope, and there is none here\n\
                 help: put `#[scoped]` on the enclosing async fn (above `#[scope::test]`, on a \
                 test: the test then returns a `Result`), or wrap this code in \
                 `scope!({{ ... }}).await`\n\
                 note: inside a `#[scoped]` fn, a `{m}` written in a `macro_rules!` (or in another \
                 macro's definition) is not bound to the scope: name the scope's handle \
                 (`#[scoped(handle = s)]`) and call `s.{method}(..)` there; the scope finds \
                 its macros by name, so one renamed on import (`use scope::{bare} as go`) is not \
                 bound either: call it `{m}`; and a `#[scoped]` `impl` block, trait or `mod` \
                 does not see the fns a macro call in it writes: put `#[scoped]` on the fn in \
                 that macro"
            );
            quote!(::core::compile_error!(#msg))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Required slots: `Needs![..]` parameters and `provided!()`

/// Rewrites a `Needs![A, B]` parameter of a `#[scoped]` fn into the proof type the caller
/// must provide; returns the parameter's name and the keys it lists.
///
/// ```text
/// cx: Needs![REQUEST_ID, TENANT]
///   -> cx: Needs![@type ::scope::__private::Provided<
///          ::scope::__private::With<REQUEST_ID, ::scope::__private::With<TENANT, ::scope::__private::Nil>>>]
/// ```
///
/// The type is concrete: each caller's `provided!()` narrows its proof to it, and a missing
/// slot is reported once, there.
fn needs_param(
    sig: &mut syn::Signature,
    krate: &TokenStream,
    errors: &mut Vec<syn::Error>,
) -> Option<(syn::Ident, Vec<syn::Type>)> {
    let mut found: Option<(syn::Ident, Vec<syn::Type>)> = None;
    // The first one's type, as rewritten: given to a second one too, whose own `Needs![..]`,
    // left as written, would add an error of its own that contradicts this one.
    let mut first_ty: Option<syn::Type> = None;
    for input in &mut sig.inputs {
        let syn::FnArg::Typed(pt) = input else {
            continue;
        };
        let syn::Type::Macro(tm) = &*pt.ty.clone() else {
            // `Option<Needs![..]>`, `&Needs![..]`: the inner `Needs!`, left as written, would
            // say only that it is a parameter's type, which this is.
            if let Some(nested) = unnest_needs(&mut pt.ty) {
                // Said with the user's own names: the parameter's, the slots listed.
                let param = match &*pt.pat {
                    syn::Pat::Ident(pi) => crate::lint::unraw(&pi.ident),
                    _ => "cx".to_owned(),
                };
                let keys = nested.mac.tokens.to_string();
                let first = keys.split(',').next().map_or("", str::trim).to_owned();
                let msg = format!(
                    "`Needs![..]` is the whole type of its parameter and cannot be nested in \
                     another type: write `{param}: Needs![{keys}]`\n\
                     help: to read a slot that may be unbound, leave it out of `Needs![..]` \
                     and read it in the body with `{first}.get()`, which gives an `Option`"
                );
                errors.push(syn::Error::new_spanned(&nested, msg));
            }
            continue;
        };
        if tm
            .mac
            .path
            .segments
            .last()
            .is_none_or(|s| s.ident != "Needs")
        {
            continue;
        }
        if found.is_some() {
            errors.push(syn::Error::new_spanned(
                &pt.ty,
                "a `#[scoped]` fn takes at most one `Needs![..]` parameter: list every required \
                 slot in it, `Needs![A, B]`",
            ));
            if let Some(ty) = &first_ty {
                *pt.ty = ty.clone();
            }
            continue;
        }
        // A `crate = path;` written in it (as outside a fn's parameters) is left for the
        // fn's own path (`#[scoped(crate = ..)]`).
        let (_, tokens, prefix_errors) = split_crate_prefix(tm.mac.tokens.clone());
        errors.extend(prefix_errors);
        let keys = needs_keys(tokens, &pt.ty, errors);
        if !matches!(&*pt.pat, syn::Pat::Ident(_)) {
            errors.push(syn::Error::new_spanned(
                &pt.pat,
                "name the `Needs![..]` parameter with an identifier (`cx: Needs![..]`): \
                 `provided!()` and the slot reads go through it",
            ));
            // The rest expands as if it were named, so that this is the only error (the fn
            // does require its slots: `provided!()` in it must not be told otherwise).
            let name = format_ident!("__needs", span = Span::call_site());
            *pt.pat = syn::parse_quote!(#name);
        }
        let syn::Pat::Ident(pi) = &*pt.pat else {
            continue;
        };
        found = Some((pi.ident.clone(), keys.clone()));
        let list = needs_list(&keys, krate);
        let span = pt.ty.span();
        // Through the user's own path to `Needs!`, so their import of it stays used.
        let needs_path = tm.mac.path.clone();
        let hidden = Hidden::Type(quote!(#krate::__private::Provided<#list>)).to_tokens();
        *pt.ty = syn::parse_quote_spanned!(span=> #needs_path![#hidden]);
        first_ty = Some((*pt.ty).clone());
    }
    found
}

/// The slots a `Needs![..]` lists (its tokens), each once; a list that is empty, does not
/// parse, or names a slot twice is told so (at `whole`, or at the key).
fn needs_keys(
    tokens: TokenStream,
    whole: &dyn quote::ToTokens,
    errors: &mut Vec<syn::Error>,
) -> Vec<syn::Type> {
    let parser = syn::punctuated::Punctuated::<syn::Type, syn::Token![,]>::parse_terminated;
    let keys: Vec<syn::Type> = match syn::parse::Parser::parse2(parser, tokens) {
        Ok(list) if !list.is_empty() => list.into_iter().collect(),
        Ok(_) => {
            errors.push(syn::Error::new_spanned(
                whole,
                "`Needs![]` is empty: name the slots this fn requires, e.g. `Needs![REQUEST_ID]`",
            ));
            Vec::new()
        }
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                "`Needs![..]` lists slots declared with `slot!`, separated by commas: \
                 `Needs![REQUEST_ID, TENANT]`",
            ));
            Vec::new()
        }
    };
    // A slot listed twice makes its reads ambiguous (two proofs of one key): rustc said
    // "type annotations needed" at each read, far from the list. Said here, at the second,
    // and listed once. (As written: two paths to one slot are left to rustc, since `a::X`
    // and `b::X` may be two slots.)
    let mut seen: Vec<String> = Vec::new();
    let mut unique: Vec<syn::Type> = Vec::new();
    for key in keys {
        let written = quote::ToTokens::to_token_stream(&key)
            .to_string()
            .replace(' ', "");
        if seen.contains(&written) {
            errors.push(syn::Error::new_spanned(
                &key,
                format!("`{written}` is listed twice in `Needs![..]`: list each slot once"),
            ));
        } else {
            seen.push(written);
            unique.push(key);
        }
    }
    unique
}

/// The type-level list of `keys`: `With<A, With<B, Nil>>`.
fn needs_list(keys: &[syn::Type], krate: &TokenStream) -> TokenStream {
    let mut list = quote!(#krate::__private::Nil);
    for key in keys.iter().rev() {
        // Spanned at the key: "`Has<KEY, _>` is not implemented" points at it.
        list = quote_spanned!(key.span()=> #krate::__private::With<#key, #list>);
    }
    list
}

/// A `Needs![..]` written inside a parameter's type (`Option<Needs![A]>`), not as the type:
/// replaced by `()` (told once, by the caller), and returned as written.
fn unnest_needs(ty: &mut syn::Type) -> Option<syn::TypeMacro> {
    struct Unnest(Option<syn::TypeMacro>);
    impl syn::visit_mut::VisitMut for Unnest {
        fn visit_type_mut(&mut self, ty: &mut syn::Type) {
            if let syn::Type::Macro(tm) = ty {
                if tm
                    .mac
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Needs")
                {
                    let span = tm.span();
                    self.0.get_or_insert_with(|| tm.clone());
                    // Through the user's own path to `Needs!`, so their import of it stays
                    // used.
                    let needs_path = tm.mac.path.clone();
                    let hidden = Hidden::Type(quote!(())).to_tokens();
                    *ty = syn::parse_quote_spanned!(span=> #needs_path![#hidden]);
                    return;
                }
            }
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
    let mut unnest = Unnest(None);
    syn::visit_mut::VisitMut::visit_type_mut(&mut unnest, ty);
    unnest.0
}

/// `provided!()`: bound by the rewrite to the body's proof, or outside any scope.
///
/// ```text
/// provided!(@proof __provided)  -> ::scope::__private::Provided::narrow(::core::clone::Clone::clone(&__provided))
/// ```
///
/// `narrow` takes the callee's parameter type: a slot it requires and this proof lacks is
/// reported here, once.
pub(crate) fn provided(input: TokenStream) -> TokenStream {
    if let Some(Hidden::Proof { var }) = Hidden::parse(&input) {
        // At the user's `provided!()`: a slot the callee requires and this proof lacks is
        // reported there.
        let site = Span::call_site();
        let narrow = proc_macro2::Ident::new("narrow", site);
        return quote_spanned!(site=> ::core::clone::Clone::clone(&#var).#narrow());
    }
    let span = input
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    syn::Error::new(
        span,
        "`provided!()` can only be used inside a `#[scoped]` async fn or a `scope!` block: it is \
         the proof that the slots bound there (and required by the fn) are bound\n\
         help: put `#[scoped]` on the enclosing async fn",
    )
    .to_compile_error()
}

/// `Needs![A, B]` outside a `#[scoped]` fn's parameters; `Needs![@type T]` (from the
/// rewrite of a parameter) is `T`.
pub(crate) fn needs_outside(input: TokenStream) -> TokenStream {
    if let Some(Hidden::Type(ty)) = Hidden::parse(&input) {
        return ty;
    }
    // Outside a `#[scoped]` fn's parameters (a trait's method declared without a body, whose
    // impls are `#[scoped]`; a type alias): the type it stands for, through the facade.
    // `Needs![crate = path; A]`: through a facade renamed in `Cargo.toml`, as `slot!` has it.
    let (krate, input, mut errors) = split_crate_prefix(input);
    let whole = input.clone();
    let keys = needs_keys(input, &whole, &mut errors);
    if let Some(first) = errors.into_iter().next() {
        // One error: a type macro expands to one type, here one `compile_error!`.
        return first.to_compile_error();
    }
    let list = needs_list(&keys, &krate);
    quote!(#krate::__private::Provided<#list>)
}

// ---------------------------------------------------------------------------------------------
// slot!

/// `slot!(pub static NAME: Type);`: the static, and its key type of the same name
/// (snapshots: `tests/expand/slots-and-needs.rs`). A leading `crate = path;` overrides the
/// path of the facade.
pub(crate) fn slot(input: TokenStream) -> TokenStream {
    let (krate, rest, mut errors) = split_crate_prefix(input);
    match syn::parse2::<SlotInput>(rest) {
        Ok(SlotInput {
            decls,
            errors: parse_errors,
        }) => {
            errors.extend(parse_errors);
            let mut out = TokenStream::new();
            for d in decls {
                let attrs = &d.attrs;
                let vis = &d.vis;
                let st = &d.static_token;
                let name = &d.name;
                // A static may leave its type's lifetimes out (`&str` is `&'static str`
                // there); the key's associated type and fn may not: they get `'static`.
                let ty = &static_lifetimes(&d.ty);
                let name_str = name.to_string();
                let ty_span = ty.span();
                let slot_ty = quote_spanned!(ty_span=> #krate::__private::Slot<#ty, #name>);
                // The slot's name, as its events and errors say it: without an `r#`.
                let plain = crate::lint::unraw(name);
                let init = quote_spanned!(ty_span=> #krate::__private::Slot::new(#plain));
                let key_doc = format!(
                    "The key of the slot [`{name_str}`](static@{name_str}), in the type namespace: \
                     what `Needs![{name_str}]` names."
                );
                // The key exists exactly when the static does.
                let cfgs = attrs.iter().filter(|a| a.path().is_ident("cfg"));
                let cfgs = quote!(#(#cfgs)*);
                out.extend(quote! {
                    #(#attrs)* #vis #st #name: #slot_ty = #init;
                    #[doc = #key_doc]
                    #cfgs
                    #[allow(non_camel_case_types, dead_code, clippy::exhaustive_enums)]
                    #vis enum #name {}
                    #cfgs
                    #[allow(deprecated)]
                    impl #krate::__private::Key for #name {
                        type Value = #ty;
                        fn slot() -> &'static #krate::__private::Slot<#ty, Self> {
                            &#name
                        }
                    }
                });
            }
            out.extend(errors_to_tokens(errors));
            out
        }
        Err(e) => {
            errors.push(e);
            errors_to_tokens(errors)
        }
    }
}

/// `ty` with its elided and anonymous lifetimes (`&str`, `Foo<'_>`) made `'static`, as they
/// are in a `static`'s type: a slot's value is `'static` anyway.
fn static_lifetimes(ty: &syn::Type) -> syn::Type {
    struct Fill;
    impl syn::visit_mut::VisitMut for Fill {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            if r.lifetime.is_none() {
                r.lifetime = Some(syn::Lifetime::new("'static", r.and_token.span));
            }
            syn::visit_mut::visit_type_reference_mut(self, r);
        }
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            if l.ident == "_" {
                *l = syn::Lifetime::new("'static", l.span());
            }
        }
        // A fn pointer's or a trait object's bounds keep their own lifetimes (`fn(&str)`,
        // `dyn Fn(&str)`): elided there, they are the signature's, not the static's.
        fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}
        fn visit_parenthesized_generic_arguments_mut(
            &mut self,
            _: &mut syn::ParenthesizedGenericArguments,
        ) {
        }
    }
    let mut ty = ty.clone();
    syn::visit_mut::VisitMut::visit_type_mut(&mut Fill, &mut ty);
    ty
}

/// Splits an optional `crate = path;` from the front of `slot!`'s input.
fn split_crate_prefix(input: TokenStream) -> (TokenStream, TokenStream, Vec<syn::Error>) {
    let mut trees: Vec<proc_macro2::TokenTree> = input.clone().into_iter().collect();
    let starts = matches!(trees.first(), Some(proc_macro2::TokenTree::Ident(i)) if i == "crate")
        && matches!(trees.get(1), Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '=');
    if !starts {
        return (quote!(::scope), input, Vec::new());
    }
    let semi = trees
        .iter()
        .position(|t| matches!(t, proc_macro2::TokenTree::Punct(p) if p.as_char() == ';'));
    let Some(semi) = semi else {
        let e = syn::Error::new(
            trees[0].span(),
            "expected `;` after `crate = path`, as in `slot!(crate = path; static NAME: Type)` \
             or `Needs![crate = path; NAME]`",
        );
        return (quote!(::scope), TokenStream::new(), vec![e]);
    };
    let rest: TokenStream = trees.split_off(semi + 1).into_iter().collect();
    let path_tokens: TokenStream = trees[2..semi].iter().cloned().collect();
    match syn::parse2::<syn::Path>(path_tokens) {
        Ok(p) => (p.into_token_stream(), rest, Vec::new()),
        Err(e) => (
            quote!(::scope),
            rest,
            vec![syn::Error::new(
                e.span(),
                "`crate` expects a path to the `scope` crate, such as `crate = my_scope`",
            )],
        ),
    }
}

/// `#[scope::unscoped]` left standing: a `#[scoped]` impl, trait or mod takes it off the items it
/// leaves out, so here there is none around it.
pub(crate) fn unscoped(args: TokenStream, input: &TokenStream) -> TokenStream {
    let e = if let (true, Some(kind)) = (args.is_empty(), never_scoped(input)) {
        syn::Error::new(
            Span::call_site(),
            format!(
                "`#[scope::unscoped]` leaves an async fn, an `impl` block, a trait or a module \
                 out of the `#[scoped]` one around it; {kind} is never scoped\n\
                 help: remove it"
            ),
        )
    } else if args.is_empty() {
        syn::Error::new(
            Span::call_site(),
            "`#[scope::unscoped]` leaves an item out of the `#[scoped]` impl block, trait or \
             module around it, and there is none here\n\
             help: remove it (a fn without `#[scoped]` is not scoped anyway), or put `#[scoped]` \
             on the `impl` block, trait or `mod` it is in",
        )
    } else {
        syn::Error::new_spanned(args, "`#[scope::unscoped]` takes no arguments")
    };
    let e = e.to_compile_error();
    quote!(#input #e)
}

/// What an item that no `#[scoped]` block scopes is (a `const`, a `struct`, a `use`..), for
/// a message: `None` for a fn, an `impl` block, a trait or a module (what may be left out),
/// and for what does not parse as an item (free, or of an impl or a trait).
fn never_scoped(input: &TokenStream) -> Option<&'static str> {
    let free = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(item) => match item {
            syn::Item::Const(_) => Some("a `const`"),
            syn::Item::Static(_) => Some("a `static`"),
            syn::Item::Struct(_) => Some("a `struct`"),
            syn::Item::Enum(_) => Some("an `enum`"),
            syn::Item::Union(_) => Some("a `union`"),
            syn::Item::Type(_) => Some("a `type`"),
            syn::Item::Use(_) => Some("a `use`"),
            syn::Item::ExternCrate(_) => Some("an `extern crate`"),
            syn::Item::ForeignMod(_) => Some("an `extern` block"),
            _ => None,
        },
        Err(_) => None,
    };
    if free.is_some() {
        return free;
    }
    // An associated item without a value (`const N: u32;`, `type T;` in a trait; a free
    // item's parse keeps them as tokens).
    match syn::parse2::<syn::TraitItem>(input.clone()).ok()? {
        syn::TraitItem::Const(_) => Some("a `const`"),
        syn::TraitItem::Type(_) => Some("a `type`"),
        _ => None,
    }
}

/// `#[scope::allow_orphan]` outside a scope's body: nothing to allow; the item is kept.
pub(crate) fn allow_orphan(args: TokenStream, input: TokenStream) -> TokenStream {
    if args.is_empty() {
        return opt_out_above_scoped(input);
    }
    let e = syn::Error::new_spanned(args, "`#[scope::allow_orphan]` takes no arguments");
    let e = e.to_compile_error();
    quote!(#input #e)
}

/// `#[scope::allow_orphan]` above `#[scoped]` (on a fn, an `impl` block, a module, a trait):
/// it expands first, so it hands its word to the `#[scoped]` below it, as `@allow_orphan` at
/// the start of its arguments (written below `#[scoped]`, the attribute is read by
/// `#[scoped]` itself). On anything else it does nothing.
fn opt_out_above_scoped(input: TokenStream) -> TokenStream {
    let Ok(mut item) = syn::parse2::<syn::Item>(input.clone()) else {
        return input;
    };
    let attrs = match &mut item {
        syn::Item::Fn(f) => &mut f.attrs,
        syn::Item::Impl(i) => &mut i.attrs,
        syn::Item::Mod(m) => &mut m.attrs,
        syn::Item::Trait(t) => &mut t.attrs,
        _ => return input,
    };
    let Some(attr) = attrs.iter_mut().find(|a| crate::ast::attr_is(a, "scoped")) else {
        // Above `#[scope::main]` or `#[scope::test]`, where it does nothing: told so.
        let entry = attrs.iter().find_map(|a| {
            let path: Vec<String> = a
                .path()
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            match path
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["scope", "test"] => Some(MacroKind::Test),
                ["scope", "main"] => Some(MacroKind::Main),
                _ => None,
            }
        });
        if let (Some(host), syn::Item::Fn(_)) = (entry, &item) {
            let e = syn::Error::new(Span::call_site(), crate::entry::allow_orphan_on_entry(host));
            let e = e.to_compile_error();
            return quote!(#input #e);
        }
        return input;
    };
    match &mut attr.meta {
        syn::Meta::Path(path) => {
            let path = path.clone();
            attr.meta = syn::parse_quote!(#path(@allow_orphan));
        }
        syn::Meta::List(list) => {
            let args = &list.tokens;
            list.tokens = quote!(@allow_orphan, #args);
        }
        syn::Meta::NameValue(_) => return input,
    }
    item.into_token_stream()
}
