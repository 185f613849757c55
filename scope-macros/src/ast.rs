//! The inputs of the macros, parsed: what `#[scoped]` is attached to and the fns it scopes
//! (an intermediate form per fn, [`ScopedFn`]), the header and body of `scope!`, the arguments
//! of the spawn macros and the declarations of `slot!`. Each keeps the original syn nodes, so
//! every message can point at the user's tokens. The checks are in [`crate::valid`].

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Block, Expr, Ident, Token, Type, Visibility};

use crate::options::{self, MacroKind, Options};
use crate::protocol::Hidden;

/// What `#[scoped]`, `#[scope::main]` or `#[scope::test]` is attached to.
pub(crate) enum Target {
    /// A fn with a body (free fn, method, trait method with a default body).
    Fn(syn::ItemFn),
    /// An `impl` block: every `async fn` in it becomes scoped.
    Impl(syn::ItemImpl),
    /// An inline `mod`: every `async fn` in it (and in its impl blocks and traits) becomes
    /// scoped.
    Mod(syn::ItemMod),
    /// A trait: every `async fn` with a default body in it becomes scoped.
    Trait(syn::ItemTrait),
    /// A fn whose body does not parse (a syntax error, often a half-typed edit): the error,
    /// and what the macro emits in its place (see [`BrokenFn`]).
    Broken(BrokenFn),
    /// An `impl` block or an inline `mod` with a syntax error inside: re-emitted as written,
    /// so that rustc reports the error; the macro adds none of its own.
    BrokenBlock(TokenStream),
    /// Anything else, kept as written (for the error message and to be re-emitted).
    Other(TokenStream),
}

/// A fn whose body does not parse. The macro emits syn's error at its span (rustc says the same
/// in its own words: syn's is kept in case rustc accepts what syn does not) and the fn with the
/// body `unreachable!()`, so that the syntax error is the only error: not the macro's "goes on
/// an `async fn`", not a `spawn!` outside any scope, not a caller's missing fn.
pub(crate) struct BrokenFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: syn::Signature,
    pub(crate) error: syn::Error,
}

impl BrokenFn {
    /// The fn with the stand-in body, and the syntax error.
    pub(crate) fn stub(&self, extra_attrs: &TokenStream) -> TokenStream {
        use quote::ToTokens;
        let BrokenFn {
            attrs, vis, sig, ..
        } = self;
        let error = self.error.to_compile_error();
        let mut out = quote::quote! {
            #(#attrs)*
            #extra_attrs
            #[allow(unused_variables, unreachable_code, clippy::diverging_sub_expression)]
            #vis #sig { ::core::unreachable!() }
        };
        error.to_tokens(&mut out);
        out
    }
}

/// `attrs vis sig { tokens }`: a fn whose body is kept as tokens.
struct FnShape {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: syn::Signature,
    body: proc_macro2::Group,
}

impl Parse for FnShape {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: proc_macro2::Group = input.parse()?;
        if body.delimiter() != proc_macro2::Delimiter::Brace || !input.is_empty() {
            return Err(input.error("not a fn with a body"));
        }
        Ok(FnShape {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// Whether the tokens start (after attributes and visibility) like an `impl` block, a trait or
/// a `mod`.
fn starts_like_a_block(tokens: TokenStream) -> bool {
    let parser = |input: ParseStream<'_>| {
        input.call(Attribute::parse_outer)?;
        let _: Visibility = input.parse()?;
        let block = input.peek(Token![impl])
            || input.peek(Token![mod])
            || input.peek(Token![trait])
            || (input.peek(Token![unsafe])
                && (input.peek2(Token![impl]) || input.peek2(Token![trait])));
        // The rest is not looked at.
        input.parse::<TokenStream>()?;
        Ok(block)
    };
    parser.parse2(tokens).unwrap_or(false)
}

impl Target {
    pub(crate) fn into_tokens(self) -> TokenStream {
        use quote::ToTokens;
        match self {
            Target::Fn(f) => f.into_token_stream(),
            Target::Impl(i) => i.into_token_stream(),
            Target::Mod(m) => m.into_token_stream(),
            Target::Trait(t) => t.into_token_stream(),
            Target::Broken(b) => b.stub(&TokenStream::new()),
            Target::BrokenBlock(tokens) | Target::Other(tokens) => tokens,
        }
    }

    pub(crate) fn parse(input: TokenStream) -> Target {
        match syn::parse2::<syn::Item>(input.clone()) {
            Ok(syn::Item::Fn(f)) => Target::Fn(f),
            Ok(syn::Item::Impl(i)) => Target::Impl(i),
            Ok(syn::Item::Mod(m)) => Target::Mod(m),
            Ok(syn::Item::Trait(t)) => Target::Trait(t),
            Ok(_) => Target::Other(input),
            Err(_) => Self::broken(input),
        }
    }

    /// Input that does not parse as an item: a fn or a block with a syntax error inside, or
    /// something else.
    fn broken(input: TokenStream) -> Target {
        if let Ok(shape) = syn::parse2::<FnShape>(input.clone()) {
            if let Err(error) = syn::parse2::<Block>(quote::ToTokens::to_token_stream(&shape.body))
            {
                return Target::Broken(BrokenFn {
                    attrs: shape.attrs,
                    vis: shape.vis,
                    sig: shape.sig,
                    error,
                });
            }
        }
        if starts_like_a_block(input.clone()) {
            return Target::BrokenBlock(input);
        }
        Target::Other(input)
    }
}

/// One async fn that `#[scoped]` turns into a scope, whether written alone or found in an
/// `impl` block or inline `mod`: the parts the expansion rewrites, and what it needs to know.
pub(crate) struct ScopedFn {
    pub(crate) sig: syn::Signature,
    pub(crate) block: Block,
    /// The options that apply to it (the block's, or its own).
    pub(crate) options: Options,
    /// The default name of the scope: the fn's name, `Type::method` in an `impl` block.
    pub(crate) name: String,
    /// Whether this is the shape `#[async_trait]` leaves (a fn returning a boxed future, whose
    /// body is `Box::pin(async move { .. })`): the scope goes inside that async block.
    pub(crate) boxed: bool,
    /// The block whose `#[scoped]` scopes it (`"impl"`, `"module"`), when it has none of its
    /// own: its signature's errors say how to leave it out.
    pub(crate) via_block: Option<&'static str>,
    /// The `use`s and `type` aliases of the `#[scoped]` module that holds it: they name what
    /// its body calls, for the orphan lint.
    pub(crate) aliases: crate::lint::Aliases,
    /// The generics of the `#[scoped]` `impl` block that holds it: a spawner is known by its
    /// bound there too (`impl<S: Spawn>`), for the orphan lint.
    pub(crate) impl_generics: Option<syn::Generics>,
}

impl ScopedFn {
    /// The signature the orphan lint reads: the fn's, with the generics of its `impl` block
    /// (`impl<S: Spawn>`) added to its own, as they are in scope in its body.
    pub(crate) fn lint_sig(&self) -> syn::Signature {
        let mut sig = self.sig.clone();
        if let Some(outer) = &self.impl_generics {
            sig.generics = crate::lint::with_outer_generics(&sig.generics, outer);
        }
        sig
    }

    pub(crate) fn new(
        sig: syn::Signature,
        block: Block,
        options: Options,
        owner: Option<&str>,
    ) -> ScopedFn {
        let fn_name = crate::lint::unraw(&sig.ident);
        let name = match owner {
            Some(ty) => format!("{ty}::{fn_name}"),
            None => fn_name,
        };
        let boxed = sig.asyncness.is_none() && async_trait_body(&block).is_some();
        ScopedFn {
            sig,
            block,
            options,
            name,
            boxed,
            via_block: None,
            aliases: crate::lint::Aliases::default(),
            impl_generics: None,
        }
    }
}

/// Whether attribute `a`'s path ends in `name` (`#[scoped]`, `#[scope::scoped]`).
pub(crate) fn attr_is(a: &syn::Attribute, name: &str) -> bool {
    a.path().segments.last().is_some_and(|s| s.ident == name)
}

/// Whether `sig` is what `#[async_trait]` made of an `async fn`: its boxed future carries the
/// lifetime `'async_trait`. (A hand-written `fn .. -> Pin<Box<..>> { Box::pin(async move ..) }`
/// does not: it is not an async fn, and an `impl` block's `#[scoped]` leaves it alone.)
pub(crate) fn made_by_async_trait(sig: &syn::Signature) -> bool {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => names(quote::ToTokens::to_token_stream(ty), "async_trait"),
        syn::ReturnType::Default => false,
    }
}

/// Whether `tokens` hold the identifier `name`, at any depth: how the macros recognise what
/// another attribute wrote (its lifetime, its hidden bindings).
fn names(tokens: TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == name,
        proc_macro2::TokenTree::Group(g) => names(g.stream(), name),
        _ => false,
    })
}

/// The second type argument of `segment` (a map's value type: `HashMap<K, V>`'s `V`).
pub(crate) fn second_type_arg(segment: &syn::PathSegment) -> Option<&Type> {
    type_args(segment).nth(1)
}

/// The first type argument of a path's last segment (`T` of `Arc<T>`, `State<T>`).
pub(crate) fn first_type_arg(segment: &syn::PathSegment) -> Option<&Type> {
    type_args(segment).next()
}

/// The type arguments of `segment`, in order (lifetimes and constants left out).
fn type_args(segment: &syn::PathSegment) -> impl Iterator<Item = &Type> {
    let args = match &segment.arguments {
        syn::PathArguments::AngleBracketed(a) => Some(&a.args),
        _ => None,
    };
    args.into_iter().flatten().filter_map(|g| match g {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// The fn's own return type under `#[async_trait]`: the `Output` of the boxed future it
/// returns (`Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>`).
pub(crate) fn async_trait_output(sig: &syn::Signature) -> Option<Type> {
    fn arg<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
        let Type::Path(p) = ty else { return None };
        let last = p.path.segments.last()?;
        (last.ident == wrapper)
            .then(|| first_type_arg(last))
            .flatten()
    }
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let boxed = arg(arg(ty, "Pin")?, "Box")?;
    let Type::TraitObject(object) = boxed else {
        return None;
    };
    object.bounds.iter().find_map(|b| {
        let syn::TypeParamBound::Trait(t) = b else {
            return None;
        };
        let last = t.path.segments.last()?;
        let syn::PathArguments::AngleBracketed(a) = &last.arguments else {
            return None;
        };
        a.args.iter().find_map(|g| match g {
            syn::GenericArgument::AssocType(at) if at.ident == "Output" => Some(at.ty.clone()),
            _ => None,
        })
    })
}

/// The `async move { .. }` block inside `Box::pin(..)`, when that call is all the body is.
pub(crate) fn async_trait_body(block: &Block) -> Option<&syn::ExprAsync> {
    let [syn::Stmt::Expr(Expr::Call(call), None)] = block.stmts.as_slice() else {
        return None;
    };
    let Expr::Path(f) = &*call.func else {
        return None;
    };
    let segs: Vec<String> = f
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !segs.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    match &call.args[0] {
        Expr::Async(a) if a.capture.is_some() => Some(a),
        _ => None,
    }
}

/// `#[tracing::instrument]` above `#[scoped]` has expanded first: it moved the fn's body into
/// `let __tracing_instrument_future = async move { .. };` (through one more `async move` with
/// `err` or `ret`), which then runs inside the scope. Its parameters would be moved into that
/// future, inside the scope, so in-place children could no longer borrow them, as they can
/// from a plain `#[scoped]` fn. The future is awaited right there, so its own blocks need not
/// be `move`: they borrow what they use, as the scope's body does. The fn's own block, which
/// starts with instrument's `__tracing_attr_fake_return` edge, is left as written.
pub(crate) fn unmove_instrumented(block: &mut Block) {
    use syn::visit_mut::{self, VisitMut};
    struct Unmove;
    impl VisitMut for Unmove {
        fn visit_expr_async_mut(&mut self, a: &mut syn::ExprAsync) {
            a.capture = None;
            if !starts_with_fake_return(&a.block) {
                visit_mut::visit_expr_async_mut(self, a);
            }
        }
        // Not into closures or items: only instrument's own chain of blocks.
        fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
    }
    fn starts_with_fake_return(block: &Block) -> bool {
        // The edge is an `if false { .. }` of its own (a glue block's first statement holds
        // the fn's block further in, edge and all).
        matches!(
            block.stmts.first(),
            Some(syn::Stmt::Expr(Expr::If(edge), _))
                if names(quote::ToTokens::to_token_stream(edge), "__tracing_attr_fake_return")
        )
    }
    for stmt in &mut block.stmts {
        if let syn::Stmt::Local(local) = stmt {
            let named = matches!(&local.pat, syn::Pat::Ident(p) if p.ident == "__tracing_instrument_future");
            if let (true, Some(init)) = (named, &mut local.init) {
                Unmove.visit_expr_mut(&mut init.expr);
            }
        }
    }
}

/// `#[async_trait]` starts the block it boxed by moving the fn's parameters into it (`let x =
/// x;`, `let __self = self;`, `let PAT = { let __arg1 = __arg1; __arg1 };`), after the edge
/// that names its return type (`if let Some(__ret) = None::<R> { return __ret; }`). Takes those
/// moves out of `block`, so that the scope's body starts after them: its in-place children
/// then borrow the parameters, which live outside the body, as a plain `#[scoped]` fn's do
/// (and, as those, they are dropped after the scope has ended, its children joined). Called
/// only on a block `#[async_trait]` made: in a hand-written one, the lines are the user's.
pub(crate) fn take_moved_parameters(block: &mut Block) -> Vec<syn::Stmt> {
    fn a_name(expr: &Expr) -> Option<&proc_macro2::Ident> {
        match expr {
            Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
            _ => None,
        }
    }
    fn moves_a_parameter(stmt: &syn::Stmt) -> bool {
        let syn::Stmt::Local(local) = stmt else {
            return false;
        };
        let Some(init) = &local.init else {
            return false;
        };
        // Its own lets have no type: `let __ret: R = { BODY };` and `let _: () = { BODY };`
        // hold the fn's body.
        if init.diverge.is_some() || matches!(local.pat, syn::Pat::Type(_)) {
            return false;
        }
        match &*init.expr {
            Expr::Path(_) => a_name(&init.expr).is_some(),
            Expr::Block(b) => match b.block.stmts.as_slice() {
                [syn::Stmt::Local(inner), syn::Stmt::Expr(last, None)] => {
                    let named = match &inner.pat {
                        syn::Pat::Ident(p) => Some(&p.ident),
                        _ => None,
                    };
                    let from = inner.init.as_ref().and_then(|i| a_name(&i.expr));
                    named.is_some() && named == from && named == a_name(last)
                }
                _ => false,
            },
            _ => false,
        }
    }
    let start = usize::from(matches!(
        block.stmts.first(),
        Some(syn::Stmt::Expr(Expr::If(edge), _)) if matches!(&*edge.cond, Expr::Let(_))
    ));
    let mut moved = Vec::new();
    while block.stmts.get(start).is_some_and(moves_a_parameter) {
        moved.push(block.stmts.remove(start));
    }
    moved
}

/// The same, mutably.
pub(crate) fn async_trait_body_mut(block: &mut Block) -> Option<&mut syn::ExprAsync> {
    async_trait_body(block)?;
    match block.stmts.first_mut() {
        Some(syn::Stmt::Expr(Expr::Call(call), None)) => match call.args.first_mut() {
            Some(Expr::Async(a)) => Some(a),
            _ => None,
        },
        _ => None,
    }
}

/// `scope!(OPTIONS, { BODY })` or `scope!(OPTIONS, |s| { BODY })`: the header's options, the
/// name given to the scope's handle, and the body.
pub(crate) struct ScopeInput {
    pub(crate) options: Options,
    pub(crate) errors: Vec<syn::Error>,
    pub(crate) body: Option<Block>,
    /// The enclosing body's proof variable (written by the rewrite of an enclosing
    /// `#[scoped]` fn or `scope!`), so a nested scope's proof extends it.
    pub(crate) outer_proof: Option<proc_macro2::Ident>,
    /// The enclosing pass linted the body already (`@linted`): its own pass lints nothing.
    pub(crate) linted: bool,
    /// The names that hold the handles of the scopes around this one (from `@linted`).
    pub(crate) enclosing_handles: Vec<proc_macro2::Ident>,
    /// The names that hold the handles of those scopes' children (from `@linted`).
    pub(crate) enclosing_children: Vec<proc_macro2::Ident>,
}

impl ScopeInput {
    /// Parses the input of `scope!`; never fails: problems are collected in `errors`.
    pub(crate) fn parse(input: TokenStream) -> ScopeInput {
        let (outer_proof, input) = match Hidden::parse(&input) {
            Some(Hidden::Outer { proof, rest }) => (Some(proof), rest),
            _ => (None, input),
        };
        let (linted, enclosing_handles, enclosing_children, input) = match Hidden::parse(&input) {
            Some(Hidden::Linted {
                handles,
                children,
                rest,
            }) => (true, handles, children, rest),
            _ => (false, Vec::new(), Vec::new(), input),
        };
        let mut options = Options::default();
        let mut errors = Vec::new();
        let mut body = None;
        // No block anywhere in the input, and what is there is not options (no `=` in it:
        // `scope!(spawn!(work()).await)`): a body not written as one, and only that is said.
        let no_block = !has_brace_group(&input);
        let whole = input.clone();
        let parser = |stream: ParseStream<'_>| -> syn::Result<()> {
            options::parse_entries(
                stream,
                MacroKind::ScopeMacro,
                &mut options,
                &mut errors,
                true,
            );
            if stream.is_empty() {
                errors.push(syn::Error::new(
                    Span::call_site(),
                    "`scope!` needs a body: write `scope!({ ... })`, or with options `scope!(limit = 4, { ... })`",
                ));
                return Ok(());
            }
            written_async(stream, &mut errors)?;
            let inner = prefixed_body(stream, &mut errors)?;
            if stream.peek(Token![|]) {
                let bar: Token![|] = stream.parse()?;
                let handle: Ident = stream.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "name the scope's handle between the bars: `scope!(|s| { ... })`",
                    )
                })?;
                let close: Token![|] = stream.parse().map_err(|e| {
                    syn::Error::new(e.span(), "the handle is one name: `scope!(|s| { ... })`")
                })?;
                let span = bar.span.join(close.span).unwrap_or(bar.span);
                if options.handle.is_some() {
                    errors.push(syn::Error::new(span, "the scope's handle is named twice"));
                }
                options.handle = Some((handle, span));
            }
            // (After the handle too: `scope!(|s| unsafe { .. })`.)
            let inner = match inner {
                Some(block) => Some(block),
                None => prefixed_body(stream, &mut errors)?,
            };
            let block: Block = match inner {
                Some(block) => block,
                // `scope!(|s| Ok(()))`: the body after the handle is not a block.
                None if options.handle.is_some() && !stream.peek(syn::token::Brace) => {
                    return Err(stream.error(
                        "`scope!` needs a body block after the handle: write `scope!(|s| { ... })` \
                         around what the scope runs",
                    ));
                }
                None => stream.parse()?,
            };
            body = Some(block);
            if !stream.is_empty() {
                let _: Option<Token![,]> = stream.parse()?;
            }
            if !stream.is_empty() {
                errors.push(stream.error(
                    "unexpected tokens after the body of `scope!`: the body block comes last",
                ));
                let _: TokenStream = stream.parse()?;
            }
            Ok(())
        };
        if let Err(e) = parser.parse2(input) {
            errors.push(e);
        }
        // (Options gone wrong, `scope!(limt = 4)`, keep their own messages.)
        let options_written = whole
            .clone()
            .into_iter()
            .any(|t| matches!(&t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '='));
        if no_block && errors.len() > 1 && !options_written {
            errors = vec![syn::Error::new_spanned(
                whole,
                "`scope!` needs a body block: write `scope!({ ... })` around what the scope \
                 runs, or with options `scope!(limit = 4, { ... })`",
            )];
        }
        ScopeInput {
            options,
            errors,
            body,
            outer_proof,
            linted,
            enclosing_handles,
            enclosing_children,
        }
    }
}

/// `async` or `move` in front of the body (`scope!(async move { .. })`): said once, in
/// `errors`, and skipped, so that the body is read as it would be without them.
fn written_async(stream: ParseStream<'_>, errors: &mut Vec<syn::Error>) -> syn::Result<()> {
    if stream.peek(Token![async]) || stream.peek(Token![move]) {
        // The body is an async block already: `async`/`move` in front of it are
        // reported once, and the body is read as it would be without them.
        let first = stream.span();
        let _: Option<Token![async]> = stream.parse()?;
        let _: Option<Token![move]> = stream.parse()?;
        errors.push(syn::Error::new(
            first,
            "`scope!` makes its body an async block already: write `scope!({ ... })` \
             (or `scope!(|s| { ... })`) without `async` or `move`\n\
             help: the body may borrow from the caller; to have the scope own what it \
             uses (a scope returned from a fn or a closure, which rustc says may \
             outlive what it borrows), write `async move { scope!({ ... }).await }`; \
             a child that must own what it uses takes it with \
             `spawn!(async move { .. })`",
        ));
    }
    Ok(())
}

/// A body written as a labeled, `unsafe` or `const` block, or with an attribute (`scope!(unsafe
/// { .. })`): said once, in `errors`. The block is kept whole in the body it is read as (so that
/// what it holds, a `break` to its label, still means what it did); an attribute is left out.
fn prefixed_body(
    stream: ParseStream<'_>,
    errors: &mut Vec<syn::Error>,
) -> syn::Result<Option<Block>> {
    if !options::body_prefix(stream) {
        return Ok(None);
    }
    let first = stream.span();
    let mut inner = None;
    let what = if stream.peek(Token![#]) {
        let _ = stream.call(syn::Attribute::parse_outer)?;
        "an attribute on the body"
    } else {
        let what = if stream.peek(syn::Lifetime) {
            "a label on the body"
        } else if stream.peek(Token![unsafe]) {
            "an `unsafe` block as the body"
        } else {
            "a `const` block as the body"
        };
        let block: Expr = stream.parse()?;
        inner = Some(Block {
            brace_token: syn::token::Brace(block.span()),
            stmts: vec![syn::Stmt::Expr(block, None)],
        });
        what
    };
    errors.push(syn::Error::new(
        first,
        format!(
            "`scope!` cannot take {what}: its body is a plain block, which it makes an async \
             block\n\
             help: write the block inside the body: `scope!({{ unsafe {{ .. }} }})`, \
             `scope!({{ 'a: {{ .. }} }})`; an attribute goes on a statement inside it, or on \
             the fn around the scope"
        ),
    ));
    Ok(inner)
}

/// Whether `tokens` hold a `{ .. }` group at their top level (or in an invisible group, as a
/// `macro_rules!` fragment is passed on).
fn has_brace_group(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|t| match &t {
        proc_macro2::TokenTree::Group(g) => match g.delimiter() {
            proc_macro2::Delimiter::Brace => true,
            proc_macro2::Delimiter::None => has_brace_group(&g.stream()),
            _ => false,
        },
        _ => false,
    })
}

/// The kind of child a spawn macro starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SpawnKind {
    /// `spawn!`: runs on the tokio runtime, in parallel; `Send + 'static`.
    Spawn,
    /// `spawn_in_place!`: polled by the scope's own future; may borrow, need not be `Send`.
    InPlace,
    /// `try_spawn!`: `spawn!` that returns `Err(SpawnError)` when the scope is closed or full.
    TrySpawn,
    /// `try_spawn_in_place!`: the same for `spawn_in_place!`.
    TryInPlace,
    /// `spawn_when_free!`: a future that waits for a free slot of the scope's limit, then
    /// starts the child (errgroup's blocking `Go`).
    WhenFree,
    /// `spawn_in_place_when_free!`: the same for `spawn_in_place!`.
    InPlaceWhenFree,
}

impl SpawnKind {
    pub(crate) const ALL: [SpawnKind; 6] = [
        SpawnKind::Spawn,
        SpawnKind::InPlace,
        SpawnKind::TrySpawn,
        SpawnKind::TryInPlace,
        SpawnKind::WhenFree,
        SpawnKind::InPlaceWhenFree,
    ];

    pub(crate) fn from_name(name: &str) -> Option<SpawnKind> {
        SpawnKind::ALL
            .into_iter()
            .find(|k| k.macro_name().trim_end_matches('!') == name)
    }

    pub(crate) fn macro_name(self) -> &'static str {
        match self {
            SpawnKind::Spawn => "spawn!",
            SpawnKind::InPlace => "spawn_in_place!",
            SpawnKind::TrySpawn => "try_spawn!",
            SpawnKind::TryInPlace => "try_spawn_in_place!",
            SpawnKind::WhenFree => "spawn_when_free!",
            SpawnKind::InPlaceWhenFree => "spawn_in_place_when_free!",
        }
    }

    /// The method of the scope it calls, with or without a name.
    pub(crate) fn method(self, named: bool) -> &'static str {
        match (self, named) {
            (SpawnKind::Spawn, false) => "spawn",
            (SpawnKind::Spawn, true) => "spawn_named",
            (SpawnKind::InPlace, false) => "spawn_in_place",
            (SpawnKind::InPlace, true) => "spawn_in_place_named",
            (SpawnKind::TrySpawn, _) => "try_spawn",
            (SpawnKind::TryInPlace, _) => "try_spawn_in_place",
            (SpawnKind::WhenFree, _) => "spawn_when_free",
            (SpawnKind::InPlaceWhenFree, _) => "spawn_in_place_when_free",
        }
    }

    /// Whether the child runs on the runtime (so it must be `Send + 'static`).
    pub(crate) fn is_spawned(self) -> bool {
        matches!(
            self,
            SpawnKind::Spawn | SpawnKind::TrySpawn | SpawnKind::WhenFree
        )
    }

    /// Whether it is `spawn!` or `spawn_in_place!` (the others take no name, and a race has
    /// neither refusal nor waiting admission).
    pub(crate) fn is_plain(self) -> bool {
        matches!(self, SpawnKind::Spawn | SpawnKind::InPlace)
    }

    /// The in-place form of the same macro (for a hint about borrowing).
    pub(crate) fn in_place(self) -> SpawnKind {
        match self {
            SpawnKind::Spawn => SpawnKind::InPlace,
            SpawnKind::TrySpawn => SpawnKind::TryInPlace,
            SpawnKind::WhenFree => SpawnKind::InPlaceWhenFree,
            other => other,
        }
    }
}

/// `name: "x"` (a struct literal's or a named argument's habit) for `name = "x"`: told so.
fn name_with_a_colon(input: ParseStream<'_>, m: &str) -> syn::Result<()> {
    if input.peek(Ident) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
        let key: Ident = input.fork().parse()?;
        if key == "name" {
            return Err(syn::Error::new(
                key.span(),
                format!("a child's name is given with `=`: `{m}(name = \"..\", fut)`"),
            ));
        }
    }
    Ok(())
}

/// `name = 5`: a literal that is not a string would meet rustc's trait error about
/// `Cow<str>`; told here what a name takes.
fn name_is_a_string(value: &Expr, m: &str) -> syn::Result<()> {
    // Through parentheses, a macro fragment's invisible group and a sign: `(5)`, `$n`, `-1`.
    let mut value = value;
    while let Expr::Paren(syn::ExprParen { expr, .. })
    | Expr::Group(syn::ExprGroup { expr, .. })
    | Expr::Unary(syn::ExprUnary {
        op: syn::UnOp::Neg(_),
        expr,
        ..
    }) = value
    {
        value = expr;
    }
    match value {
        Expr::Lit(syn::ExprLit { lit, .. }) if !matches!(lit, syn::Lit::Str(_)) => {
            Err(syn::Error::new(
                lit.span(),
                format!(
                    "a child's name is a string (a `&'static str`, a `String`, or a \
                     `Cow<'static, str>`), such as `{m}(name = \"fetch\", fut)`"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// A closure where a future is meant: never a future (rustc's help would call it where it
/// is written). Told at the closure's head what to write.
fn closure_for_a_future(fut: &Expr, m: &str) -> syn::Result<()> {
    let Expr::Closure(c) = fut else {
        return Ok(());
    };
    let written = if c.asyncness.is_some() {
        "an async closure: write the block without its `||`"
    } else {
        "a closure: write the work as a block"
    };
    let (a, capture, or1, inputs, or2) = (
        &c.asyncness,
        &c.capture,
        &c.or1_token,
        &c.inputs,
        &c.or2_token,
    );
    Err(syn::Error::new_spanned(
        quote::quote!(#a #capture #or1 #inputs #or2),
        format!(
            "`{m}` takes a future, not {written}, `{m}(async move {{ ... }})` (or call a closure bound to a name: `{m}(work())`)"
        ),
    ))
}

/// `spawn!([name = EXPR,] FUTURE)`.
pub(crate) struct SpawnArgs {
    pub(crate) name: Option<Expr>,
    pub(crate) fut: Expr,
}

impl SpawnArgs {
    pub(crate) fn parse(input: TokenStream, kind: SpawnKind) -> syn::Result<SpawnArgs> {
        let m = kind.macro_name();
        let parser = |input: ParseStream<'_>| -> syn::Result<SpawnArgs> {
            if input.is_empty() {
                return Err(syn::Error::new(
                    Span::call_site(),
                    format!("`{m}` expects a future, such as `{m}(async move {{ ... }})`"),
                ));
            }
            let mut name = None;
            name_with_a_colon(input, m)?;
            if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let fork = input.fork();
                let key: Ident = fork.parse()?;
                if key == "name" && !kind.is_plain() {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "`{m}` takes no name: write `{m}(fut)` (to name a child, use `{}`)",
                            if kind.is_spawned() {
                                "spawn!(name = \"..\", fut)"
                            } else {
                                "spawn_in_place!(name = \"..\", fut)"
                            }
                        ),
                    ));
                }
                if key == "name" {
                    let _: Ident = input.parse()?;
                    let _: Token![=] = input.parse()?;
                    let value = input.parse::<Expr>()?;
                    name_is_a_string(&value, m)?;
                    name = Some(value);
                    if !input.peek(Token![,]) {
                        return Err(input.error(format!(
                            "expected `,` and the future after the name: `{m}(name = \"fetch\", async move {{ ... }})`"
                        )));
                    }
                    let _: Token![,] = input.parse()?;
                    if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                        let again: Ident = input.fork().parse()?;
                        if again == "name" {
                            return Err(syn::Error::new(
                                again.span(),
                                format!("the name is given twice: give it once, `{m}(name = \"..\", fut)`"),
                            ));
                        }
                    }
                } else {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown option `{key}` for `{m}`; the only option is `name`, as in `{m}(name = \"fetch\", fut)`"),
                    ));
                }
            }
            if input.is_empty() {
                return Err(input.error(format!(
                    "`{m}` expects a future after the name, such as `{m}(name = \"fetch\", async move {{ ... }})`"
                )));
            }
            let fut: Expr = input.parse()?;
            closure_for_a_future(&fut, m)?;
            if let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) = &fut
            {
                if kind.is_plain() {
                    return Err(syn::Error::new(
                        text.span(),
                        format!(
                            "a child's name is given as `name = ..`, before the future: `{m}(name = {}, fut)`",
                            quote::ToTokens::to_token_stream(text)
                        ),
                    ));
                }
            }
            if input.peek(Token![,]) {
                let _: Token![,] = input.parse()?;
            }
            if !input.is_empty() {
                if kind.is_plain() && input.peek(Ident) && input.peek2(Token![=]) {
                    let key: Ident = input.fork().parse()?;
                    if key == "name" {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("the name goes first: `{m}(name = \"..\", fut)`"),
                        ));
                    }
                }
                return Err(input.error(format!(
                    "`{m}` takes one future; to start several children, call `{m}` once for each"
                )));
            }
            Ok(SpawnArgs { name, fut })
        };
        parser.parse2(input)
    }
}

/// One `[attrs] [pub] static NAME: TYPE;` of `slot!`.
pub(crate) struct SlotDecl {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) static_token: Token![static],
    pub(crate) name: Ident,
    pub(crate) ty: Type,
}

/// The input of `slot!`: one or more declarations separated by `;`.
pub(crate) struct SlotInput {
    pub(crate) decls: Vec<SlotDecl>,
    /// What is wrong with the declarations, each said once. A mistake the intent is clear
    /// through (`mut`, an initial value, `const` or `let` for `static`) still declares the
    /// slot as if written right, and so does every good declaration next to a bad one: their
    /// uses add no errors of their own.
    pub(crate) errors: Vec<syn::Error>,
}

impl Parse for SlotInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut decls = Vec::new();
        let mut errors = Vec::new();
        if input.is_empty() {
            // (Not `input.error`, which begins "unexpected end of input".)
            return Err(syn::Error::new(
                input.span(),
                "`slot!` declares typed slots: write `slot!(pub static REQUEST_ID: String);`",
            ));
        }
        while !input.is_empty() {
            match SlotDecl::parse_one(input, &mut errors) {
                Ok(decl) => decls.push(decl),
                // Not a declaration: said, and skipped to the next one.
                Err(e) => {
                    errors.push(e);
                    while !input.is_empty() && !input.peek(Token![;]) {
                        let _: proc_macro2::TokenTree = input.parse()?;
                    }
                }
            }
            if input.is_empty() {
                break;
            }
            let _: Token![;] = input.parse()?;
        }
        Ok(SlotInput { decls, errors })
    }
}

impl SlotDecl {
    /// One declaration, up to its `;`; the mistakes it can be read through go to `errors`.
    fn parse_one(input: ParseStream<'_>, errors: &mut Vec<syn::Error>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let static_token = if input.peek(Token![const]) || input.peek(Token![let]) {
            errors.push(input.error("a slot is a `static`: write `slot!(pub static NAME: Type);`"));
            let written: proc_macro2::TokenTree = input.parse()?;
            Token![static](written.span())
        } else {
            input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `static`: write `slot!(pub static NAME: Type);`",
                )
            })?
        };
        if input.peek(Token![mut]) {
            errors.push(input.error(
                "a slot cannot be `mut`: its values are bound per scope and immutable once bound",
            ));
            let _: Token![mut] = input.parse()?;
        }
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected the slot's name: `static NAME: Type`")
        })?;
        if !input.peek(Token![:]) {
            return Err(syn::Error::new(
                name.span(),
                format!("a slot needs a type: `static {name}: Type`"),
            ));
        }
        let _: Token![:] = input.parse()?;
        let ty: Type = input.parse()?;
        if input.peek(Token![=]) {
            errors.push(input.error(
                "a slot has no initial value: bind one for a scope with `slots(NAME = value)`, \
                 or use `Option` lookups for the optional case",
            ));
            while !input.is_empty() && !input.peek(Token![;]) {
                let _: proc_macro2::TokenTree = input.parse()?;
            }
        }
        if !input.is_empty() && !input.peek(Token![;]) {
            return Err(input.error("expected `;` after the slot's type"));
        }
        Ok(SlotDecl {
            attrs,
            vis,
            static_token,
            name,
            ty,
        })
    }
}

/// The pattern inside `Ok(..)` or `Some(..)` (by the last segment of the path: `Result::Ok(h)`
/// too), if `pat` is one of those with one element.
pub(crate) fn ok_or_some(pat: &syn::Pat) -> Option<&syn::Pat> {
    match pat {
        syn::Pat::TupleStruct(ts)
            if ts.elems.len() == 1
                && ts
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Ok" || s.ident == "Some") =>
        {
            Some(&ts.elems[0])
        }
        _ => None,
    }
}
