//! The expansions. Every entry point returns the item (as close to the intended expansion as
//! it can) followed by its errors as `compile_error!`s: never nothing, never a panic.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

use crate::ast::{self, ScopeInput, SlotInput, SpawnKind, Target};
use crate::attr::{self, CountValue, Ctx, DurationValue, Flavor, Options, PolicyKind};
use crate::rewrite::{self, Rewriter};
use crate::valid;

fn errors_to_tokens(errors: Vec<syn::Error>) -> TokenStream {
    errors.into_iter().map(|e| e.to_compile_error()).collect()
}

/// `Duration` tokens for a duration option.
fn duration(krate: &TokenStream, value: &DurationValue) -> TokenStream {
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

fn count(value: &CountValue) -> TokenStream {
    match value {
        CountValue::Literal { value, span } => {
            let lit = syn::LitInt::new(&format!("{value}usize"), *span);
            lit.to_token_stream()
        }
        CountValue::Expr(e) => e.to_token_stream(),
    }
}

/// The `Config` builder chain.
///
/// ```text
/// // Input: #[scoped(limit = 4, timeout = 2s, slots(TENANT = t))] async fn fetch(..)
/// // Output:
/// ::scope::__private::Config::new()
///     .name("fetch")
///     .limit(4usize)
///     .timeout(::scope::__private::Duration::from_secs(2u64))
///     .bind(&TENANT, t)
/// ```
fn config(opts: &Options, default_name: Option<&str>, site: Span) -> TokenStream {
    let krate = opts.krate();
    // `Config::new` is `#[track_caller]`: spanned at the user's code, its location is theirs.
    let mut chain = quote_spanned!(site=> #krate::__private::Config::new());
    match (&opts.name, default_name) {
        (Some((name, _)), _) => {
            let s = name.span();
            chain.extend(quote_spanned!(s=> .name(#name)));
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
/// parameter) and binds (`slots(..)`) are bound.
///
/// ```text
/// // Input: #[scoped(slots(TENANT = t))] async fn f(cx: Needs![REQUEST_ID]) { .. provided!() .. }
/// // Output, after `let __scope = &scope;`:
/// let __provided = cx.clone().bind(__scope.cx(), &TENANT);
/// // ... and `provided!()` is `__provided.clone()`.
/// ```
pub(crate) struct Proof {
    /// What the proof extends: the `Needs![..]` parameter of the fn, or the proof of the
    /// enclosing body (for a nested `scope!`); the empty proof otherwise.
    pub(crate) param: Option<syn::Ident>,
}

impl Proof {
    fn prelude(&self, opts: &Options, scope: &proc_macro2::Ident) -> TokenStream {
        let krate = opts.krate();
        let provided = rewrite::provided_ident();
        let mut chain = if let Some(p) = &self.param {
            quote!(::core::clone::Clone::clone(&#p))
        } else {
            quote!(#krate::__private::Provided::root())
        };
        if let Some((bindings, _)) = &opts.slots {
            for b in bindings {
                let slot = &b.slot;
                chain.extend(quote!(.bind(#scope.cx(), &#slot)));
            }
        }
        quote!(let #provided = #chain;)
    }
}

/// The scope around a body.
///
/// ```text
/// // Input: BODY (already rewritten), policy fail_fast
/// // Output:
/// let __scope = &::scope::__private::Scope::new(CONFIG);
/// __scope.run(async BODY).await
/// ```
///
/// `supervise` calls `run_all`; `first_ok` uses `Race`; `local` enters with `new_local`
/// (`LocalScope`/`LocalRace`: in-place children need not be `Send`).
fn scoped_body(
    opts: &Options,
    config: &TokenStream,
    body: &syn::Block,
    proof: Option<&Proof>,
) -> TokenStream {
    let krate = opts.krate();
    let scope = rewrite::scope_ident();
    let prelude = proof.map(|p| p.prelude(opts, &scope));
    let ty = match opts.policy() {
        PolicyKind::FailFast | PolicyKind::Supervise => "Scope",
        PolicyKind::FirstOk => "Race",
    };
    let run = match opts.policy() {
        PolicyKind::Supervise => "run_all",
        PolicyKind::FailFast | PolicyKind::FirstOk => "run",
    };
    let new = if opts.is_local() { "new_local" } else { "new" };
    let ty = format_ident!("{}", ty);
    let run = format_ident!("{}", run);
    let new = format_ident!("{}", new);
    // Named, so that a borrow error says "`scope` does not live long enough" rather than
    // talk about a temporary the user never wrote. Both names are invisible to user code.
    let owner = proc_macro2::Ident::new("scope", Span::mixed_site());
    quote! {
        let #owner = #krate::__private::#ty::#new(#config);
        let #scope = &#owner;
        #prelude
        #scope.#run(async #body).await
    }
}

// ---------------------------------------------------------------------------------------------
// #[scoped]

/// `#[scoped(OPTIONS)]` on an async fn, an `impl` block or an inline `mod`.
///
/// ```text
/// // Input:
/// #[scoped(limit = 4)]
/// async fn fetch_all(ids: Vec<u32>) -> Result<Vec<User>, Error> {
///     let a = spawn!(fetch(ids[0]));
///     Ok(vec![a.await?])
/// }
/// // Output:
/// async fn fetch_all(ids: Vec<u32>) -> Result<Vec<User>, Error> {
///     let __scope = &::scope::__private::Scope::new(
///         ::scope::__private::Config::new().name("fetch_all").limit(4usize));
///     __scope.run(async {
///         let a = __scope.spawn(fetch(ids[0]));
///         Ok(vec![a.await?])
///     }).await
/// }
/// ```
pub(crate) fn scoped(args: TokenStream, input: TokenStream) -> TokenStream {
    let target = Target::parse(input);
    let mut errors = Vec::new();
    let out = match target {
        Target::Fn(mut f) => {
            let params = ast::param_names(&f.sig);
            let (opts, errs) = attr::parse_attr_args(args, Ctx::Scoped, &params);
            errors.extend(errs);
            errors.extend(valid::options(&opts, Ctx::Scoped));
            scoped_fn(&mut f, &opts, None, &mut errors);
            f.into_token_stream()
        }
        Target::Impl(mut imp) => {
            let any = [attr::ANY_PARAM.to_owned()];
            let (opts, errs) = attr::parse_attr_args(args.clone(), Ctx::Scoped, &any);
            errors.extend(errs);
            errors.extend(valid::options(&opts, Ctx::Scoped));
            scoped_impl(&mut imp, &args, &mut errors);
            imp.into_token_stream()
        }
        Target::Mod(mut m) => {
            let any = [attr::ANY_PARAM.to_owned()];
            let (opts, errs) = attr::parse_attr_args(args.clone(), Ctx::Scoped, &any);
            errors.extend(errs);
            errors.extend(valid::options(&opts, Ctx::Scoped));
            if m.content.is_none() {
                errors.push(syn::Error::new_spanned(
                    &m,
                    "`#[scoped]` applies to an inline `mod { ... }` only: put it on the async fns \
                     (or the `impl` blocks) in that file instead",
                ));
            }
            scoped_mod(&mut m, &args, &mut errors);
            m.into_token_stream()
        }
        Target::Other(tokens) => {
            let (_, errs) = attr::parse_attr_args(args, Ctx::Scoped, &[]);
            errors.extend(errs);
            errors.push(not_an_fn(&tokens));
            tokens
        }
    };
    let errors = errors_to_tokens(errors);
    quote!(#out #errors)
}

fn not_an_fn(tokens: &TokenStream) -> syn::Error {
    let message = "`#[scoped]` goes on an `async fn` (free fn or method), an `impl` block or an \
                   inline `mod`";
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

/// Rewrites one async fn; `owner` is the type of its `impl` block, for the default name.
fn scoped_fn(
    f: &mut syn::ItemFn,
    opts: &Options,
    owner: Option<&str>,
    errors: &mut Vec<syn::Error>,
) {
    if let Err(e) = valid::is_async(&f.sig, Ctx::Scoped) {
        errors.push(e);
        return;
    }
    let returns = valid::returns_result(&f.sig, opts.policy());
    let needs = needs_param(&mut f.sig, &opts.krate(), errors);
    let (rewrite_errors, provided_used) = Rewriter::run_with_provided(&mut f.block);
    errors.extend(rewrite_errors);
    let proof = (provided_used || needs.is_some() || opts.slots.is_some())
        .then_some(Proof { param: needs });
    let fn_name = f.sig.ident.to_string();
    let name = match owner {
        Some(ty) => format!("{ty}::{fn_name}"),
        None => fn_name,
    };
    let config = config(opts, Some(&name), f.sig.ident.span());
    let body = match returns {
        Ok(()) => scoped_body(opts, &config, &f.block, proof.as_ref()),
        Err(e) => {
            // The fn cannot carry the scope's result: run the scope and drop its result, so
            // that this error is the only one.
            errors.push(e);
            let krate = opts.krate();
            let scope = rewrite::scope_ident();
            let block = &f.block;
            quote! {
                let #scope = &#krate::__private::Scope::new(#config);
                let _: #krate::__private::Result<_, #krate::__private::Interrupted> =
                    #scope.run(async #block).await;
            }
        }
    };
    *f.block = syn::parse_quote!({ #body });
}

fn has_scoped_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "scoped")
    })
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// Every async fn of an `impl` block, with the block's options (a method's own `#[scoped]`
/// takes over).
fn scoped_impl(imp: &mut syn::ItemImpl, args: &TokenStream, errors: &mut Vec<syn::Error>) {
    let owner = type_name(&imp.self_ty);
    for item in &mut imp.items {
        if let syn::ImplItem::Fn(m) = item {
            if m.sig.asyncness.is_none() || has_scoped_attr(&m.attrs) {
                continue;
            }
            let mut f = syn::ItemFn {
                attrs: std::mem::take(&mut m.attrs),
                vis: m.vis.clone(),
                sig: m.sig.clone(),
                block: Box::new(m.block.clone()),
            };
            let params = ast::param_names(&f.sig);
            // Errors in the options were reported once for the block; parse again only to
            // resolve the parameters each option may name.
            let (opts, _) = attr::parse_attr_args(args.clone(), Ctx::Scoped, &params);
            scoped_fn(&mut f, &opts, owner.as_deref(), errors);
            m.attrs = f.attrs;
            m.block = *f.block;
        }
    }
}

fn scoped_mod(m: &mut syn::ItemMod, args: &TokenStream, errors: &mut Vec<syn::Error>) {
    let Some((_, items)) = &mut m.content else {
        return;
    };
    for item in items {
        match item {
            syn::Item::Fn(f) if f.sig.asyncness.is_some() && !has_scoped_attr(&f.attrs) => {
                let params = ast::param_names(&f.sig);
                let (opts, _) = attr::parse_attr_args(args.clone(), Ctx::Scoped, &params);
                scoped_fn(f, &opts, None, errors);
            }
            syn::Item::Impl(imp) if !has_scoped_attr(&imp.attrs) => scoped_impl(imp, args, errors),
            syn::Item::Mod(inner) if !has_scoped_attr(&inner.attrs) => {
                scoped_mod(inner, args, errors);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// scope!

/// `scope!(OPTIONS, { BODY })`: a future of the body's value, every child joined.
///
/// ```text
/// // Input:
/// scope!(limit = 2, { let a = spawn!(work(1)); a.await })
/// // Output:
/// async {
///     let __scope = &::scope::__private::Scope::new(
///         ::scope::__private::Config::new().limit(2usize));
///     __scope.run(async { let a = __scope.spawn(work(1)); a.await }).await
/// }
/// ```
pub(crate) fn scope(input: TokenStream) -> TokenStream {
    let ScopeInput {
        options,
        mut errors,
        body,
        outer_proof,
    } = ScopeInput::parse(input);
    errors.extend(valid::options(&options, Ctx::ScopeMacro));
    let Some(mut body) = body else {
        let errors = errors_to_tokens(errors);
        return quote!({ #errors });
    };
    let (rewrite_errors, provided_used) = Rewriter::run_with_provided(&mut body);
    errors.extend(rewrite_errors);
    let config = config(&options, None, Span::call_site());
    let proof = (provided_used || options.slots.is_some()).then_some(Proof { param: outer_proof });
    let inner = scoped_body(&options, &config, &body, proof.as_ref());
    let errors = errors_to_tokens(errors);
    quote! {
        {
            #errors
            async { #inner }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// spawn!, spawn_in_place! outside any scope

/// A spawn macro: bound to a scope by the rewrite of `#[scoped]`/`scope!`, or outside any.
///
/// ```text
/// // Input (from the rewrite): spawn!(@scope __scope, fut)
/// // Output: __scope.spawn(fut)
/// // Input (outside a scope): spawn!(fut)
/// // Output: ::core::compile_error!("`spawn!` can only be used inside ...")
/// ```
pub(crate) fn spawn(kind: SpawnKind, input: TokenStream) -> TokenStream {
    let m = kind.macro_name();
    if is_nested(&input) {
        let msg = format!(
            "`{m}` inside a child: a child cannot reach its parent's scope (it runs on its own, \
             and may not borrow the scope)\n\
             help: to fan out from inside a child, open a nested scope there: \
             `scope!({{ let c = {m}(...); c.await }}).await`"
        );
        return quote!(::core::compile_error!(#msg));
    }
    if let Some((scope, rest)) = bound_scope(input) {
        let args = match ast::SpawnArgs::parse(rest, kind) {
            Ok(args) => args,
            Err(e) => return e.to_compile_error(),
        };
        let method = match (kind, args.name.is_some()) {
            (SpawnKind::Spawn, false) => "spawn",
            (SpawnKind::Spawn, true) => "spawn_named",
            (SpawnKind::InPlace, false) => "spawn_in_place",
            (SpawnKind::InPlace, true) => "spawn_in_place_named",
        };
        let method = proc_macro2::Ident::new(method, Span::call_site());
        let fut = &args.fut;
        return if let Some(name) = &args.name {
            quote!(#scope.#method(#name, #fut))
        } else {
            quote!(#scope.#method(#fut))
        };
    }
    let msg = format!(
        "`{m}` can only be used inside a `#[scoped]` async fn or a `scope!` block: it starts a \
         child of the enclosing scope, and there is none here\n\
         help: put `#[scoped]` on the enclosing async fn, or wrap this code in `scope!({{ ... }}).await`"
    );
    quote!(::core::compile_error!(#msg))
}

/// `@nested`: the body rewrite found this spawn macro inside a child's future.
fn is_nested(input: &TokenStream) -> bool {
    use proc_macro2::TokenTree;
    let mut iter = input.clone().into_iter();
    matches!(
        (iter.next(), iter.next(), iter.next()),
        (Some(TokenTree::Punct(at)), Some(TokenTree::Ident(kw)), None)
            if at.as_char() == '@' && kw == "nested"
    )
}

/// `@scope IDENT, REST`: the form the body rewrite hands to the spawn macros.
fn bound_scope(input: TokenStream) -> Option<(proc_macro2::Ident, TokenStream)> {
    use proc_macro2::TokenTree;
    let mut iter = input.into_iter();
    match (iter.next(), iter.next(), iter.next(), iter.next()) {
        (
            Some(TokenTree::Punct(at)),
            Some(TokenTree::Ident(kw)),
            Some(TokenTree::Ident(scope)),
            Some(TokenTree::Punct(comma)),
        ) if at.as_char() == '@' && kw == "scope" && comma.as_char() == ',' => {
            Some((scope, iter.collect()))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Required slots: `Needs![..]` parameters and `provided!()`

/// Rewrites a `Needs![A, B]` parameter of a `#[scoped]` fn into a proof the compiler checks;
/// returns the parameter's name.
///
/// ```text
/// // Input:  async fn handler(cx: Needs![REQUEST_ID, TENANT], req: Request) -> R
/// // Output: async fn handler<__P: 'static, __I0: 'static, __I1: 'static>(
/// //             cx: ::scope::__private::Provided<__P>, req: Request) -> R
/// //         where __P: ::scope::__private::Has<REQUEST_ID, __I0>
/// //                  + ::scope::__private::Has<TENANT, __I1>
/// ```
fn needs_param(
    sig: &mut syn::Signature,
    krate: &TokenStream,
    errors: &mut Vec<syn::Error>,
) -> Option<syn::Ident> {
    let mut found: Option<syn::Ident> = None;
    let mut keys: Vec<syn::Type> = Vec::new();
    for input in &mut sig.inputs {
        let syn::FnArg::Typed(pt) = input else {
            continue;
        };
        let syn::Type::Macro(tm) = &*pt.ty.clone() else {
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
            continue;
        }
        let parser = syn::punctuated::Punctuated::<syn::Type, syn::Token![,]>::parse_terminated;
        match syn::parse::Parser::parse2(parser, tm.mac.tokens.clone()) {
            Ok(list) if !list.is_empty() => keys.extend(list),
            Ok(_) => errors.push(syn::Error::new_spanned(
                &pt.ty,
                "`Needs![]` is empty: name the slots this fn requires, e.g. `Needs![REQUEST_ID]`",
            )),
            Err(e) => errors.push(syn::Error::new(
                e.span(),
                "`Needs![..]` lists slots declared with `slot!`, separated by commas: \
                 `Needs![REQUEST_ID, TENANT]`",
            )),
        }
        let syn::Pat::Ident(pi) = &*pt.pat else {
            errors.push(syn::Error::new_spanned(
                &pt.pat,
                "name the `Needs![..]` parameter with an identifier (`cx: Needs![..]`): \
                 `provided!()` and the slot reads go through it",
            ));
            continue;
        };
        found = Some(pi.ident.clone());
        let list = proc_macro2::Ident::new("__P", Span::mixed_site());
        let span = pt.ty.span();
        // Through the user's own path to `Needs!`, so their import of it stays used.
        let needs_path = tm.mac.path.clone();
        *pt.ty = syn::parse_quote_spanned!(span=> #needs_path![@type #krate::__private::Provided<#list>]);
        // `'static`: the proof is a plain value, passed into spawned children too.
        sig.generics.params.push(syn::parse_quote!(#list: 'static));
        let where_clause = sig.generics.make_where_clause();
        for (i, key) in keys.iter().enumerate() {
            // Located at the key, so "required by this bound" points at it.
            let kspan = key.span();
            let at_key = Span::mixed_site().located_at(kspan);
            let list = proc_macro2::Ident::new("__P", at_key);
            let index = proc_macro2::Ident::new(&format!("__I{i}"), at_key);
            let krate = respan(krate.clone(), kspan);
            where_clause.predicates.push(
                syn::parse_quote_spanned!(kspan=> #list: #krate::__private::Has<#key, #index>),
            );
        }
        for i in 0..keys.len() {
            let index = proc_macro2::Ident::new(&format!("__I{i}"), Span::mixed_site());
            sig.generics.params.push(syn::parse_quote!(#index: 'static));
        }
    }
    found
}

/// `tokens` with every span moved to `span` (for a diagnostic that should point there).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    use proc_macro2::TokenTree;
    tokens
        .into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut ng = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                t = TokenTree::Group(ng);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// `provided!()`: bound by the rewrite to the body's proof, or outside any scope.
///
/// ```text
/// // Input (from the rewrite): provided!(@provided __provided)
/// // Output: ::core::clone::Clone::clone(&__provided)
/// ```
pub(crate) fn provided(input: TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    let mut iter = input.clone().into_iter();
    if let (
        Some(TokenTree::Punct(at)),
        Some(TokenTree::Ident(kw)),
        Some(TokenTree::Ident(var)),
        None,
    ) = (iter.next(), iter.next(), iter.next(), iter.next())
    {
        if at.as_char() == '@' && kw == "provided" {
            return quote!(::core::clone::Clone::clone(&#var));
        }
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
    use proc_macro2::TokenTree;
    let mut iter = input.clone().into_iter();
    if let (Some(TokenTree::Punct(at)), Some(TokenTree::Ident(kw))) = (iter.next(), iter.next()) {
        let ty: TokenStream = iter.collect();
        if at.as_char() == '@' && kw == "type" && !ty.is_empty() {
            return ty;
        }
    }
    let span = input
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    syn::Error::new(
        span,
        "`Needs![..]` is the type of a parameter of a `#[scoped]` async fn: \
         `#[scoped] async fn handler(cx: Needs![REQUEST_ID], ..)`",
    )
    .to_compile_error()
}

// ---------------------------------------------------------------------------------------------
// slot!

/// `slot!(pub static NAME: Type);`
///
/// ```text
/// // Input:  slot!(pub static REQUEST_ID: String);
/// // Output: pub static REQUEST_ID: ::scope::__private::Slot<String> =
/// //             ::scope::__private::Slot::new("REQUEST_ID");
/// ```
///
/// A leading `crate = path;` overrides the path of the facade.
pub(crate) fn slot(input: TokenStream) -> TokenStream {
    let (krate, rest, mut errors) = split_crate_prefix(input);
    match syn::parse2::<SlotInput>(rest) {
        Ok(SlotInput { decls }) => {
            let mut out = TokenStream::new();
            for d in decls {
                let attrs = &d.attrs;
                let vis = &d.vis;
                let st = &d.static_token;
                let name = &d.name;
                let ty = &d.ty;
                let name_str = name.to_string();
                let ty_span = ty.span();
                let slot_ty = quote_spanned!(ty_span=> #krate::__private::Slot<#ty, #name>);
                let init = quote_spanned!(ty_span=> #krate::__private::Slot::new(#name_str));
                let key_doc = format!(
                    "The key of the slot [`{name_str}`](static@{name_str}), in the type namespace: \
                     what `Needs![{name_str}]` names."
                );
                out.extend(quote! {
                    #(#attrs)* #vis #st #name: #slot_ty = #init;
                    #[doc = #key_doc]
                    #[allow(non_camel_case_types, dead_code)]
                    #vis enum #name {}
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
            "expected `;` after `crate = path` in `slot!(crate = path; static NAME: Type)`",
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

// ---------------------------------------------------------------------------------------------
// #[scope::main], #[scope::test]

fn runtime_builder(opts: &Options, default: Flavor) -> TokenStream {
    let krate = opts.krate();
    let flavor = opts.flavor.map_or(default, |(f, _)| f);
    let mut b = match flavor {
        Flavor::CurrentThread => {
            quote!(#krate::__private::tokio::runtime::Builder::new_current_thread())
        }
        Flavor::MultiThread => {
            quote!(#krate::__private::tokio::runtime::Builder::new_multi_thread())
        }
    };
    if let Some((n, span)) = &opts.worker_threads {
        let n = count(n);
        b.extend(quote_spanned!(*span=> .worker_threads(#n)));
    }
    if let Some((paused, span)) = &opts.start_paused {
        b.extend(quote_spanned!(*span=> .start_paused(#paused)));
    }
    quote! {
        #b.enable_all().build().expect("failed to build the tokio runtime")
    }
}

/// `#[scope::main]`: a tokio runtime, a root scope, SIGINT/SIGTERM as a shutdown cause, the
/// grace, then exit.
///
/// ```text
/// // Input:
/// #[scope::main(grace = 5s)]
/// async fn main() -> Result<(), AppError> { BODY }
/// // Output:
/// fn main() -> Result<(), AppError> {
///     let __rt = ::scope::__private::tokio::runtime::Builder::new_multi_thread()
///         .enable_all().build().expect("failed to build the tokio runtime");
///     ::scope::__private::main_entry(__rt, ::scope::__private::Duration::from_secs(5u64), async {
///         let __scope = &::scope::__private::Scope::new(
///             ::scope::__private::Config::new().name("main").grace(..));
///         __scope.run(async { BODY }).await
///     })
/// }
/// ```
///
/// With no return type, the body is run as `async { BODY }.await; Ok(())` and a scope
/// failure is printed to stderr and exits with status 1.
/// The fn an entry-point attribute is on; otherwise the input back with the option errors and
/// `message`.
fn entry_fn(
    args: TokenStream,
    input: TokenStream,
    ctx: Ctx,
    message: &str,
) -> Result<syn::ItemFn, TokenStream> {
    match Target::parse(input) {
        Target::Fn(f) => Ok(f),
        target => {
            let input = target.into_tokens();
            let (_, mut errors) = attr::parse_attr_args(args, ctx, &[]);
            errors.push(syn::Error::new(Span::call_site(), message));
            let errors = errors_to_tokens(errors);
            Err(quote!(#input #errors))
        }
    }
}

pub(crate) fn main(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut f = match entry_fn(
        args.clone(),
        input,
        Ctx::Main,
        "`#[scope::main]` goes on `async fn main()`",
    ) {
        Ok(f) => f,
        Err(tokens) => return tokens,
    };
    let (opts, mut errors) = attr::parse_attr_args(args, Ctx::Main, &[]);
    errors.extend(valid::options(&opts, Ctx::Main));
    if let Err(e) = valid::is_async(&f.sig, Ctx::Main) {
        errors.push(e);
        let errors = errors_to_tokens(errors);
        return quote!(#f #errors);
    }
    if let Err(e) = valid::no_params(&f.sig, Ctx::Main) {
        errors.push(e);
    }
    let (rewrite_errors, provided_used) = Rewriter::run_with_provided(&mut f.block);
    errors.extend(rewrite_errors);
    let proof = (provided_used || opts.slots.is_some()).then_some(Proof { param: None });
    let krate = opts.krate();
    let name = f.sig.ident.to_string();
    let config = config(&opts, Some(&name), f.sig.ident.span());
    let grace = opts.grace.as_ref().map_or_else(
        || quote!(#krate::__private::DEFAULT_MAIN_GRACE),
        |(g, _)| duration(&krate, g),
    );
    let unit = matches!(f.sig.output, syn::ReturnType::Default)
        || matches!(&f.sig.output, syn::ReturnType::Type(_, t) if matches!(&**t, syn::Type::Tuple(t) if t.elems.is_empty()));
    let body = &f.block;
    let rt = format_ident!("__rt", span = Span::mixed_site());
    let err = format_ident!("__error", span = Span::mixed_site());
    let runtime = runtime_builder(&opts, Flavor::MultiThread);
    let policy_scope = scoped_body(
        &opts,
        &config,
        &syn::parse_quote!({ #body }),
        proof.as_ref(),
    );
    let future = if unit {
        let wrapped: syn::Block = syn::parse_quote!({
            async #body.await;
            #krate::__private::Result::Ok::<(), #krate::__private::Interrupted>(())
        });
        let inner = scoped_body(&opts, &config, &wrapped, proof.as_ref());
        quote! {
            async {
                if let #krate::__private::Result::Err(#err) = async { #inner }.await {
                    ::std::eprintln!("error: {}", #err);
                    ::std::process::exit(1);
                }
            }
        }
    } else {
        quote!(async { #policy_scope })
    };
    f.sig.asyncness = None;
    *f.block = syn::parse_quote!({
        let #rt = #runtime;
        #krate::__private::main_entry(#rt, #grace, #future)
    });
    let errors = errors_to_tokens(errors);
    quote!(#f #errors)
}

/// `#[scope::test]`: tokio's test runtime plus the no-leak check after the body.
///
/// ```text
/// // Input:
/// #[scope::test(start_paused = true)]
/// async fn t() { BODY }
/// // Output:
/// #[::core::prelude::v1::test]
/// fn t() {
///     let __rt = ::scope::__private::tokio::runtime::Builder::new_current_thread()
///         .start_paused(true).enable_all().build().expect("failed to build the tokio runtime");
///     __rt.block_on(async {
///         let __leaks = ::scope::__private::LeakCheck::new();
///         let __out = async { BODY }.await;
///         __leaks.assert_clean().await;
///         __out
///     })
/// }
/// ```
pub(crate) fn test(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut f = match entry_fn(
        args.clone(),
        input,
        Ctx::Test,
        "`#[scope::test]` goes on an `async fn` test",
    ) {
        Ok(f) => f,
        Err(tokens) => return tokens,
    };
    let (opts, mut errors) = attr::parse_attr_args(args, Ctx::Test, &[]);
    errors.extend(valid::options(&opts, Ctx::Test));
    let krate = opts.krate();
    if let Err(e) = valid::is_async(&f.sig, Ctx::Test) {
        errors.push(e);
        let errors = errors_to_tokens(errors);
        return quote!(#[::core::prelude::v1::test] #f #errors);
    }
    if let Err(e) = valid::no_params(&f.sig, Ctx::Test) {
        errors.push(e);
    }
    let body = &f.block;
    let rt = format_ident!("__rt", span = Span::mixed_site());
    let leaks = format_ident!("__leaks", span = Span::mixed_site());
    let out = format_ident!("__out", span = Span::mixed_site());
    let runtime = runtime_builder(&opts, Flavor::CurrentThread);
    f.sig.asyncness = None;
    *f.block = syn::parse_quote!({
        let #rt = #runtime;
        #rt.block_on(async {
            let #leaks = #krate::__private::LeakCheck::new();
            let #out = async #body.await;
            #leaks.assert_clean().await;
            #out
        })
    });
    let errors = errors_to_tokens(errors);
    quote!(#[::core::prelude::v1::test] #f #errors)
}

/// `#[scope::allow_orphan]` outside a scope's body: nothing to allow; the item is kept.
pub(crate) fn allow_orphan(args: TokenStream, input: TokenStream) -> TokenStream {
    if args.is_empty() {
        return input;
    }
    let e = syn::Error::new_spanned(args, "`#[scope::allow_orphan]` takes no arguments");
    let e = e.to_compile_error();
    quote!(#input #e)
}
