//! The inputs of the macros, parsed: what `#[scoped]` is attached to, the header and body of
//! `scope!`, the arguments of the spawn macros and the declarations of `slot!`. Each keeps the
//! original syn nodes, so every message can point at the user's tokens.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Attribute, Block, Expr, Ident, Token, Type, Visibility};

use crate::attr::{self, Ctx, Options};

/// What `#[scoped]`, `#[scope::main]` or `#[scope::test]` is attached to.
pub(crate) enum Target {
    /// A fn with a body (free fn, method, trait method with a default body).
    Fn(syn::ItemFn),
    /// An `impl` block: every `async fn` in it becomes scoped.
    Impl(syn::ItemImpl),
    /// An inline `mod`: every `async fn` in it (and in its impl blocks) becomes scoped.
    Mod(syn::ItemMod),
    /// Anything else, kept as written (for the error message and to be re-emitted).
    Other(TokenStream),
}

impl Target {
    pub(crate) fn into_tokens(self) -> TokenStream {
        use quote::ToTokens;
        match self {
            Target::Fn(f) => f.into_token_stream(),
            Target::Impl(i) => i.into_token_stream(),
            Target::Mod(m) => m.into_token_stream(),
            Target::Other(tokens) => tokens,
        }
    }

    pub(crate) fn parse(input: TokenStream) -> Target {
        match syn::parse2::<syn::Item>(input.clone()) {
            Ok(syn::Item::Fn(f)) => Target::Fn(f),
            Ok(syn::Item::Impl(i)) => Target::Impl(i),
            Ok(syn::Item::Mod(m)) => Target::Mod(m),
            _ => Target::Other(input),
        }
    }
}

/// The names a fn's parameters bind (the only locals an attribute's options can use).
pub(crate) fn param_names(sig: &syn::Signature) -> Vec<String> {
    fn pat_names(pat: &syn::Pat, out: &mut Vec<String>) {
        match pat {
            syn::Pat::Ident(p) => {
                out.push(p.ident.to_string());
                if let Some((_, sub)) = &p.subpat {
                    pat_names(sub, out);
                }
            }
            syn::Pat::Tuple(t) => t.elems.iter().for_each(|p| pat_names(p, out)),
            syn::Pat::TupleStruct(t) => t.elems.iter().for_each(|p| pat_names(p, out)),
            syn::Pat::Struct(s) => s.fields.iter().for_each(|f| pat_names(&f.pat, out)),
            syn::Pat::Reference(r) => pat_names(&r.pat, out),
            syn::Pat::Type(t) => pat_names(&t.pat, out),
            syn::Pat::Slice(s) => s.elems.iter().for_each(|p| pat_names(p, out)),
            syn::Pat::Paren(p) => pat_names(&p.pat, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for arg in &sig.inputs {
        match arg {
            syn::FnArg::Receiver(_) => out.push("self".to_owned()),
            syn::FnArg::Typed(t) => pat_names(&t.pat, &mut out),
        }
    }
    out
}

/// `scope!(OPTIONS, { BODY })`: the header's options and the body.
pub(crate) struct ScopeInput {
    pub(crate) options: Options,
    pub(crate) errors: Vec<syn::Error>,
    pub(crate) body: Option<Block>,
    /// The enclosing body's proof variable (`@provided IDENT;`, written by the rewrite of an
    /// enclosing `#[scoped]` fn or `scope!`), so a nested scope's proof extends it.
    pub(crate) outer_proof: Option<proc_macro2::Ident>,
}

impl ScopeInput {
    /// Parses the input of `scope!`; never fails: problems are collected in `errors`.
    pub(crate) fn parse(input: TokenStream) -> ScopeInput {
        let (outer_proof, input) = split_outer_proof(input);
        let mut options = Options::default();
        let mut errors = Vec::new();
        let mut body = None;
        let parser = |stream: ParseStream<'_>| -> syn::Result<()> {
            attr::parse_entries(
                stream,
                Ctx::ScopeMacro,
                &[],
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
            let block: Block = stream.parse()?;
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
        ScopeInput {
            options,
            errors,
            body,
            outer_proof,
        }
    }
}

/// Splits `@provided IDENT;` from the front of `scope!`'s input.
fn split_outer_proof(input: TokenStream) -> (Option<proc_macro2::Ident>, TokenStream) {
    use proc_macro2::TokenTree;
    let trees: Vec<TokenTree> = input.clone().into_iter().collect();
    match trees.as_slice() {
        [TokenTree::Punct(at), TokenTree::Ident(kw), TokenTree::Ident(var), TokenTree::Punct(semi), rest @ ..]
            if at.as_char() == '@' && kw == "provided" && semi.as_char() == ';' =>
        {
            (Some(var.clone()), rest.iter().cloned().collect())
        }
        _ => (None, input),
    }
}

/// The kind of child a spawn macro starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SpawnKind {
    /// `spawn!`: runs on the tokio runtime, in parallel; `Send + 'static`.
    Spawn,
    /// `spawn_in_place!`: polled by the scope's own future; may borrow, need not be `Send`.
    InPlace,
}

impl SpawnKind {
    pub(crate) fn from_name(name: &str) -> Option<SpawnKind> {
        match name {
            "spawn" => Some(SpawnKind::Spawn),
            "spawn_in_place" => Some(SpawnKind::InPlace),
            _ => None,
        }
    }

    pub(crate) fn macro_name(self) -> &'static str {
        match self {
            SpawnKind::Spawn => "spawn!",
            SpawnKind::InPlace => "spawn_in_place!",
        }
    }
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
            if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let fork = input.fork();
                let key: Ident = fork.parse()?;
                if key == "name" {
                    let _: Ident = input.parse()?;
                    let _: Token![=] = input.parse()?;
                    name = Some(input.parse::<Expr>()?);
                    if !input.peek(Token![,]) {
                        return Err(input.error(format!(
                            "expected `,` and the future after the name: `{m}(name = \"fetch\", async move {{ ... }})`"
                        )));
                    }
                    let _: Token![,] = input.parse()?;
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
            if input.peek(Token![,]) {
                let _: Token![,] = input.parse()?;
            }
            if !input.is_empty() {
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
}

impl Parse for SlotInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut decls = Vec::new();
        if input.is_empty() {
            return Err(input.error(
                "`slot!` declares typed slots: write `slot!(pub static REQUEST_ID: String);`",
            ));
        }
        while !input.is_empty() {
            let attrs = input.call(Attribute::parse_outer)?;
            let vis: Visibility = input.parse()?;
            if input.peek(Token![const]) || input.peek(Token![let]) {
                return Err(
                    input.error("a slot is a `static`: write `slot!(pub static NAME: Type);`")
                );
            }
            let static_token: Token![static] = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `static`: write `slot!(pub static NAME: Type);`",
                )
            })?;
            if input.peek(Token![mut]) {
                return Err(input.error(
                    "a slot cannot be `mut`: its values are bound per scope and immutable once bound",
                ));
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
                return Err(input.error(
                    "a slot has no initial value: bind one for a scope with `slots(NAME = value)`, \
                     or use `Option` lookups for the optional case",
                ));
            }
            decls.push(SlotDecl {
                attrs,
                vis,
                static_token,
                name,
                ty,
            });
            if input.is_empty() {
                break;
            }
            let _: Token![;] = input.parse()?;
        }
        Ok(SlotInput { decls })
    }
}
