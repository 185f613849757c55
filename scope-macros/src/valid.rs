//! The checks, over the parsed options and the intermediate form of each fn: options against
//! each other, identifiers an option cannot see, an `async fn` with a body, a return type
//! that can carry the scope's failures and that no handle of the scope escapes through.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Ident};

use crate::ast::ScopedFn;
use crate::options::{CountValue, Flavor, MacroKind, Options, PolicyKind};

/// Checks the options against each other.
pub(crate) fn options(opts: &Options, host: MacroKind) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    if let Some((_, span)) = &opts.worker_threads {
        if matches!(opts.flavor, Some((Flavor::CurrentThread, _)))
            || (host == MacroKind::Test && opts.flavor.is_none())
        {
            errors.push(syn::Error::new(
                *span,
                "`worker_threads` needs the multi-thread runtime: add `flavor = \"multi_thread\"`",
            ));
        }
        if let Some((CountValue::Literal { value: 0, span }, _)) = &opts.worker_threads {
            errors.push(syn::Error::new(
                *span,
                "`worker_threads` must be at least 1",
            ));
        }
    }
    if let Some((true, span)) = &opts.start_paused {
        if matches!(opts.flavor, Some((Flavor::MultiThread, _))) {
            errors.push(syn::Error::new(
                *span,
                "`start_paused` needs the current-thread runtime: remove `flavor = \"multi_thread\"` \
                 (tokio's clock can only be paused on a current-thread runtime)",
            ));
        }
    }
    errors
}

/// The handle's name is bound at the top of a scoped fn's body: a parameter of that name
/// (`params`: the fn's own) would be hidden there, and the body's uses of it would meet the
/// scope instead.
pub(crate) fn handle_hides_a_param(opts: &Options, params: &[String]) -> Option<syn::Error> {
    let (name, _) = opts.handle.as_ref()?;
    let s = crate::lint::unraw(name);
    params.contains(&s).then(|| {
        syn::Error::new(
            name.span(),
            format!(
                "`handle = {name}` would hide the parameter `{name}` in the body: give the \
                 scope's handle another name"
            ),
        )
    })
}

/// An option's value that is a lone lower-case identifier the fn cannot see: in an
/// attribute, only the fn's parameters (and items such as constants) are in scope when the
/// options are evaluated. `params` are the names every fn the options apply to binds.
///
/// `name` is the exception: a lower-case `const` or `static` is a name too, and one that is
/// not found gets rustc's own "cannot find value"; only the name of a fn the options apply to
/// (`fns`), written unquoted, is said here (see [`fn_as_name`]).
pub(crate) fn stray_idents(
    opts: &mut Options,
    params: &[String],
    fns: &[String],
) -> Vec<syn::Error> {
    let mut errors = stray_ident_errors(opts, params);
    errors.extend(fn_as_name(opts, params, fns));
    errors
}

/// An option of a block's `#[scoped]` that names a parameter some of its fns take (or `self`)
/// and this one does not: said at this fn, which rustc's "cannot find value" at the option
/// does not name. `block_params`: the parameters of the block's scoped fns (a name none of
/// them takes is told at the block, by [`stray_idents`]).
pub(crate) fn option_param_missing(
    opts: &Options,
    sig: &syn::Signature,
    block_params: &[String],
    block: &str,
) -> Option<syn::Error> {
    let own = param_names(sig);
    let has_self = own.iter().any(|p| p == "self");
    opts.value_exprs().into_iter().find_map(|(key, value)| {
        let missing = match stray_ident(value, &own) {
            Some(ident) if block_params.contains(&crate::lint::unraw(ident)) => ident.to_string(),
            None if !has_self && mentions_self(value) => "self".to_owned(),
            Some(_) | None => return None,
        };
        let name = crate::lint::unraw(&sig.ident);
        let written = quote::ToTokens::to_token_stream(value).to_string();
        Some(syn::Error::new(
            sig.ident.span(),
            format!(
                "`{name}` takes no `{missing}`, which `{key} = {written}` on the {block} uses: \
                 the options of the {block}'s `#[scoped]` apply to each async fn in it\n\
                 help: give the fns that take `{missing}` a `#[scoped({key} = ..)]` of their \
                 own (the {block}'s then leaves them to it), or mark `{name}` \
                 `#[scope::unscoped]` if it needs no scope"
            ),
        ))
    })
}

/// Whether an expression reads `self` (the value: `self::NAME`, a path, is not it).
fn mentions_self(value: &Expr) -> bool {
    fn walk(tokens: proc_macro2::TokenStream) -> bool {
        let mut tokens = tokens.into_iter().peekable();
        while let Some(t) = tokens.next() {
            match t {
                proc_macro2::TokenTree::Ident(i) if i == "self" => {
                    let path = matches!(tokens.peek(),
                        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == ':');
                    if !path {
                        return true;
                    }
                }
                proc_macro2::TokenTree::Group(g) if walk(g.stream()) => return true,
                _ => {}
            }
        }
        false
    }
    walk(quote::ToTokens::to_token_stream(value))
}

/// `name = fetch` where `fetch` is one of the fns the options apply to (`fns`), unquoted: said
/// here, and the name left out of the expansion (rustc would say that `Cow<'static, str>` has
/// no `From` for the fn item, naming some other crate's impls).
pub(crate) fn fn_as_name(
    opts: &mut Options,
    params: &[String],
    fns: &[String],
) -> Option<syn::Error> {
    let (value, _) = opts.name.as_ref()?;
    let ident = stray_ident(value, params).filter(|i| fns.contains(&crate::lint::unraw(i)))?;
    let error = syn::Error::new(
        ident.span(),
        format!(
            "`{ident}` is the fn itself, not a name: to name the scope `{plain}`, quote it, \
             `name = \"{plain}\"` (or give a constant or a parameter)",
            plain = crate::lint::unraw(ident),
        ),
    );
    opts.name = None;
    Some(error)
}

fn stray_ident_errors(opts: &Options, params: &[String]) -> Vec<syn::Error> {
    opts.value_exprs()
        .into_iter()
        .filter_map(|(key, value)| {
            let ident = stray_ident(value, params)?;
            let expected = crate::options::spec(key).map_or("", |s| s.example);
            Some(syn::Error::new(
                ident.span(),
                format!(
                    "`{ident}` is not a parameter of this fn; `{key}` expects {expected}, a \
                     constant, or a parameter"
                ),
            ))
        })
        .collect()
}

fn stray_ident<'a>(value: &'a Expr, params: &[String]) -> Option<&'a Ident> {
    let Expr::Path(p) = value else { return None };
    if p.qself.is_some() || p.path.leading_colon.is_some() {
        return None;
    }
    let ident = p.path.get_ident()?;
    let s = crate::lint::unraw(ident);
    let lower = s
        .chars()
        .next()
        .is_some_and(|c| c.is_lowercase() || c == '_');
    (lower && s != "self" && !params.contains(&s)).then_some(ident)
}

/// The names a pattern binds.
pub(crate) fn pat_names(pat: &syn::Pat, out: &mut Vec<String>) {
    match pat {
        syn::Pat::Ident(p) => {
            out.push(crate::lint::unraw(&p.ident));
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
        // Every alternative binds the same names.
        syn::Pat::Or(o) => {
            if let Some(first) = o.cases.first() {
                pat_names(first, out);
            }
        }
        _ => {}
    }
}

/// The names a fn's parameters bind (the only locals an attribute's options can use).
pub(crate) fn param_names(sig: &syn::Signature) -> Vec<String> {
    let mut out = Vec::new();
    for arg in &sig.inputs {
        match arg {
            syn::FnArg::Receiver(_) => out.push("self".to_owned()),
            syn::FnArg::Typed(t) => pat_names(&t.pat, &mut out),
        }
    }
    out
}

/// Whether a reference type is `&'static ..`.
fn is_static(r: &syn::TypeReference) -> bool {
    r.lifetime.as_ref().is_some_and(|l| l.ident == "static")
}

/// Every name a pattern in `block` binds (`let`, `if let`, `while let`, `match` arms, closure
/// inputs, `for`), at any depth, nested items aside.
pub(crate) fn names_bound_in(block: &syn::Block) -> std::collections::HashSet<String> {
    struct Names(std::collections::HashSet<String>);
    impl<'a> Visit<'a> for Names {
        fn visit_pat_ident(&mut self, p: &'a syn::PatIdent) {
            self.0.insert(crate::lint::unraw(&p.ident));
            syn::visit::visit_pat_ident(self, p);
        }
        fn visit_item(&mut self, _: &'a syn::Item) {}
    }
    let mut names = Names(std::collections::HashSet::new());
    names.visit_block(block);
    names.0
}

/// The names of `sig`'s parameters that are references: `&self`, `&mut self`, `self: &Self`,
/// and a plain name whose type is a reference (`db: &Db`).
pub(crate) fn reference_param_names(sig: &syn::Signature) -> Vec<String> {
    sig.inputs
        .iter()
        .filter_map(|arg| match arg {
            // `&'static self` (or `self: &'static Self`) may go into a child as it is.
            syn::FnArg::Receiver(r) => match &*r.ty {
                syn::Type::Reference(t) if !is_static(t) => Some("self".to_owned()),
                _ => None,
            },
            // A `&'static` one may go into a spawned child as it is.
            syn::FnArg::Typed(t) => match (&*t.pat, &*t.ty) {
                (syn::Pat::Ident(id), syn::Type::Reference(r)) if !is_static(r) => {
                    Some(crate::lint::unraw(&id.ident))
                }
                _ => None,
            },
        })
        .collect()
}

/// Everything about one fn that `#[scoped]` cannot expand as asked. The first error of the
/// signature (not async, a return type that cannot carry the scope's result, a handle that
/// would escape) says the body cannot be scoped: the expansion then leaves it out, so that
/// this is the only error.
pub(crate) struct FnProblems {
    pub(crate) errors: Vec<syn::Error>,
    /// The fn returns `()`: the scope still runs, its result is dropped.
    pub(crate) unit: bool,
    /// The body cannot run as a scope at all.
    pub(crate) fatal: bool,
}

/// Checks one fn of `#[scoped]`.
pub(crate) fn scoped_fn(f: &ScopedFn) -> FnProblems {
    let mut p = FnProblems {
        errors: Vec::new(),
        unit: false,
        fatal: false,
    };
    if f.sig.asyncness.is_none() && !f.boxed && made_by_an_entry_attribute(&f.block) {
        p.errors.push(syn::Error::new(
            f.sig.fn_token.span,
            "`#[scoped]` goes above `#[tokio::test]` and `#[tokio::main]`: attributes expand \
             from the top, and that attribute made the `async fn` a plain `fn` (with a runtime \
             in its body) before `#[scoped]` saw it\n\
             help: write `#[scoped]` on the line above it (above `#[scope::test]` too, if you \
             use that instead: a test's body is a scope only with `#[scoped]` above it), or use \
             `#[scope::main]`, whose body runs as a scope already",
        ));
        p.fatal = true;
        return p;
    }
    if let Err(e) = is_async(&f.sig, MacroKind::Scoped, f.boxed) {
        p.errors.push(e);
        p.fatal = true;
        return p;
    }
    // `#[async_trait]` wrote the signature: the return type is a boxed future, and the fn's
    // own is its `Output`, checked as a plain async fn's would be.
    let unboxed;
    let sig = if f.boxed {
        let Some(output) = crate::ast::async_trait_output(&f.sig) else {
            return p;
        };
        let mut sig = f.sig.clone();
        sig.asyncness = Some(syn::Token![async](sig.fn_token.span));
        sig.output = match output {
            syn::Type::Tuple(t) if t.elems.is_empty() => syn::ReturnType::Default,
            ty => syn::ReturnType::Type(syn::Token![->](sig.fn_token.span), Box::new(ty)),
        };
        unboxed = sig;
        &unboxed
    } else {
        &f.sig
    };
    match returns_result(sig, f.options.policy()) {
        Ok(()) => {}
        Err((e, unit)) => {
            p.errors.push(e);
            p.unit = unit;
            p.fatal = !unit;
            return p;
        }
    }
    if let Err(e) = returns_no_handle(sig) {
        p.errors.push(e);
        p.fatal = true;
        return p;
    }
    if let Err(e) = error_crosses_threads(sig, MacroKind::Scoped) {
        p.errors.push(e);
        p.fatal = true;
    }
    p
}

/// `#[scope::main]` returns nothing or `Result<T, E>` (its exit code follows from it): a type
/// that is certainly not a `Result` is told so, with what to write.
pub(crate) fn main_returns(sig: &syn::Signature) -> syn::Result<()> {
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return Ok(());
    };
    // The scope's result type is written out in the expansion (`let out: T`, `<T as ..>`),
    // where `impl Trait` cannot stand.
    if let Some(span) = impl_in(ty) {
        return Err(syn::Error::new(
            span,
            "`#[scope::main]` needs its return type written out, not `impl Trait`: the type is \
             the result of the scope its body runs as\n\
             help: name the type: `Result<std::process::ExitCode, E>` (the value's own exit code \
             is used when the program ends cleanly), or return nothing",
        ));
    }
    let not_a_result = match &**ty {
        syn::Type::Tuple(t) => !t.elems.is_empty(),
        syn::Type::Reference(_)
        | syn::Type::Array(_)
        | syn::Type::Slice(_)
        | syn::Type::Never(_)
        | syn::Type::ImplTrait(_) => true,
        syn::Type::Path(p) => {
            p.qself.is_none()
                && p.path.segments.last().is_some_and(|s| {
                    s.ident == "ExitCode" || NOT_RESULTS.contains(&s.ident.to_string().as_str())
                })
        }
        _ => false,
    };
    if !not_a_result {
        return error_crosses_threads(sig, MacroKind::Main);
    }
    if let syn::Type::Never(_) = &**ty {
        // `Result<!, E>` is not stable Rust: say what is.
        return Err(syn::Error::new(
            ty.span(),
            "`#[scope::main]` returns nothing or `Result<T, E>`, not `!`: a program that runs \
             until a signal stops it still returns, once its shutdown is over\n\
             help: return nothing (`async fn main()`), or `Result<std::convert::Infallible, E>` \
             to end the body with `?` on an error",
        ));
    }
    let written = type_text(ty);
    Err(syn::Error::new_spanned(
        ty,
        format!(
            "`#[scope::main]` returns nothing or `Result<T, E>`, not `{written}`: its exit \
             code follows from how the program ended (see the crate docs, \"Shutdown\")\n\
             help: return `Result<{written}, E>` (e.g. `Result<std::process::ExitCode, \
             scope::Interrupted>`) and end the body with `Ok(value)`: the value's own exit code \
             is used when the program ends cleanly"
        ),
    ))
}

/// The scope's error type is shared with children on other threads, so it must be `Send`: a
/// `Box<dyn Error>` without `+ Send` would get rustc's long `Send` error on the scope's run.
fn error_crosses_threads(sig: &syn::Signature, host: MacroKind) -> syn::Result<()> {
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return Ok(());
    };
    let syn::Type::Path(p) = &**ty else {
        return Ok(());
    };
    let Some(last) = p.path.segments.last().filter(|s| s.ident == "Result") else {
        return Ok(());
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return Ok(());
    };
    let Some(syn::GenericArgument::Type(error)) = args.args.iter().nth(1) else {
        return Ok(());
    };
    let Some(bounds) = boxed_dyn(error) else {
        return Ok(());
    };
    let sends = bounds.iter().any(|b| {
        matches!(b, syn::TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Send"))
    });
    if sends {
        return Ok(());
    }
    let written = type_text(error);
    Err(syn::Error::new(
        error.span(),
        format!(
            "the error type of a `{}` fn's scope must be `Send`: its children run on other \
             threads and their failures reach it there\n\
             help: write `Box<dyn std::error::Error + Send + Sync>` instead of `{written}`",
            host.macro_name()
        ),
    ))
}

/// The bounds of `Box<dyn ..>`.
fn boxed_dyn(
    ty: &syn::Type,
) -> Option<&syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>> {
    let syn::Type::Path(p) = ty else {
        return None;
    };
    let last = p.path.segments.last().filter(|s| s.ident == "Box")?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(syn::Type::TraitObject(t)) => Some(&t.bounds),
        _ => None,
    }
}

/// `#[scoped]`, `#[scope::main]`, `#[scope::test]` need an `async fn`.
/// Where `ty` has an `impl Trait`, if it has one.
fn impl_in(ty: &syn::Type) -> Option<proc_macro2::Span> {
    struct HasImpl(Option<proc_macro2::Span>);
    impl<'ast> syn::visit::Visit<'ast> for HasImpl {
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.0.get_or_insert(t.span());
        }
    }
    let mut has = HasImpl(None);
    syn::visit::Visit::visit_type(&mut has, ty);
    has.0
}

/// Whether `sig` returns a type with an `impl Trait` in it.
pub(crate) fn return_type_has_impl(sig: &syn::Signature) -> bool {
    matches!(&sig.output, syn::ReturnType::Type(_, ty) if impl_in(ty).is_some())
}

/// Whether a body builds a tokio runtime and blocks on it (by hand, or as an entry
/// attribute's expansion does).
pub(crate) fn builds_a_runtime(block: &syn::Block) -> bool {
    let found = runtime_tokens(block);
    found.builder && found.block_on
}

#[derive(Default)]
struct RuntimeTokens {
    builder: bool,
    block_on: bool,
    tokios_message: bool,
}

fn runtime_tokens(block: &syn::Block) -> RuntimeTokens {
    fn find(tokens: proc_macro2::TokenStream, found: &mut RuntimeTokens) {
        for t in tokens {
            match t {
                proc_macro2::TokenTree::Ident(i) if i == "Builder" => found.builder = true,
                proc_macro2::TokenTree::Ident(i) if i == "block_on" => found.block_on = true,
                proc_macro2::TokenTree::Literal(l)
                    if l.to_string() == "\"Failed building the Runtime\"" =>
                {
                    found.tokios_message = true;
                }
                proc_macro2::TokenTree::Group(g) => find(g.stream(), found),
                _ => {}
            }
        }
    }
    let mut found = RuntimeTokens::default();
    find(quote::ToTokens::to_token_stream(block), &mut found);
    found
}

/// Whether a sync fn's body is what an entry attribute that expanded first (`#[tokio::test]`,
/// `#[tokio::main]`) makes of an `async fn`: a runtime built and blocked on, with the message
/// tokio's expansion gives the build's failure (a `main` that builds its runtime by hand is
/// not taken for one: it is told to be an `async fn` instead).
pub(crate) fn made_by_an_entry_attribute(block: &syn::Block) -> bool {
    let found = runtime_tokens(block);
    found.builder && found.block_on && found.tokios_message
}

pub(crate) fn is_async(sig: &syn::Signature, host: MacroKind, boxed: bool) -> syn::Result<()> {
    if sig.asyncness.is_some() || boxed {
        return Ok(());
    }
    let help = match (host, future_output(&sig.output)) {
        // An `async fn` cannot also be `const`.
        _ if sig.constness.is_some() => "help: replace `const` with `async`: an `async fn` \
                                         cannot be `const`"
            .to_owned(),
        // `fn f() -> impl Future<Output = R> { async move { .. } }`: `async` in front would
        // make it a future of a future.
        (MacroKind::Scoped, Some(output)) => format!(
            "help: this fn returns `impl Future`: write it as `async fn {name}(..) -> {output}` \
             (in a trait impl, an `async fn` satisfies a `-> impl Future<Output = ..> + Send` \
             declaration when its future is `Send`), or leave `#[scoped]` out and put \
             `scope!({{ ... }}).await` inside its `async` block",
            name = sig.ident,
            output = type_text(output),
        ),
        (MacroKind::Scoped, None) => "help: add `async` to this fn, or, inside a sync fn, build \
                                      a scope with `scope!({ ... })` and await it from async code"
            .to_owned(),
        // Most often a plain `#[test]` that a glob import (`use scope::*;`) made this one.
        (MacroKind::Test, _) => "help: add `async` to this fn; for a plain (not async) test, \
                                 write `#[::core::prelude::v1::test]`, or import from `scope` \
                                 by name instead of `use scope::*;` (under which a bare \
                                 `#[test]` can name `#[scope::test]`)"
            .to_owned(),
        _ => "help: add `async` to this fn".to_owned(),
    };
    let why = match host {
        MacroKind::Test => "it runs the body on a tokio runtime",
        _ => "its body runs as a scope, which is awaited",
    };
    Err(syn::Error::new(
        sig.fn_token.span,
        format!("`{}` needs an `async fn`: {why}\n{help}", host.macro_name()),
    ))
}

/// The `R` of a return type `impl Future<Output = R> (+ ..)`.
pub(crate) fn future_output(output: &syn::ReturnType) -> Option<&syn::Type> {
    let syn::ReturnType::Type(_, ty) = output else {
        return None;
    };
    let syn::Type::ImplTrait(it) = &**ty else {
        return None;
    };
    it.bounds.iter().find_map(|b| {
        let syn::TypeParamBound::Trait(t) = b else {
            return None;
        };
        let last = t.path.segments.last().filter(|s| s.ident == "Future")?;
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            syn::GenericArgument::AssocType(at) if at.ident == "Output" => Some(&at.ty),
            _ => None,
        })
    })
}

/// Types that are certainly not a `Result`: a `#[scoped]` fn returning one is told at once,
/// rather than through the scope's bounds.
#[rustfmt::skip]
const NOT_RESULTS: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "str", "String", "Vec", "Option", "Box", "Arc", "Rc", "HashMap",
    "BTreeMap", "HashSet", "Cow", "PathBuf", "Infallible",
];

/// A `#[scoped]` fn returns the scope's result: it must be able to carry a failure. Returns
/// the error and whether the fn returns `()` (which can still run the scope).
fn returns_result(sig: &syn::Signature, policy: PolicyKind) -> Result<(), (syn::Error, bool)> {
    let (unit, wrong, span) = match &sig.output {
        syn::ReturnType::Default => (true, None, sig.ident.span()),
        syn::ReturnType::Type(arrow, ty) => {
            let span = arrow.span().join(ty.span()).unwrap_or_else(|| ty.span());
            match &**ty {
                syn::Type::Tuple(t) if t.elems.is_empty() => (true, None, span),
                syn::Type::Tuple(_)
                | syn::Type::Reference(_)
                | syn::Type::Array(_)
                | syn::Type::Slice(_)
                | syn::Type::Never(_) => {
                    (false, Some(quote::ToTokens::to_token_stream(ty)), ty.span())
                }
                syn::Type::Path(p)
                    if p.qself.is_none()
                        && p.path.segments.last().is_some_and(|s| {
                            NOT_RESULTS.contains(&s.ident.to_string().as_str())
                        }) =>
                {
                    (false, Some(quote::ToTokens::to_token_stream(ty)), ty.span())
                }
                _ => return Ok(()),
            }
        }
    };
    let shape = match policy {
        PolicyKind::FailFast => "`Result<T, E>` with `E: From<scope::Interrupted> + Display + Send + 'static`",
        PolicyKind::Supervise | PolicyKind::FirstOk => {
            "`Result<T, scope::Failures<E>>` with `E: From<scope::Interrupted> + Display + Send + 'static`"
        }
    };
    let why = "a scope can fail even when its body does not (a child failed or panicked, it \
               was cancelled, a deadline fired)";
    let message = match &wrong {
        None if matches!(sig.output, syn::ReturnType::Default) => format!(
            "a `#[scoped]` fn returns its scope's result, so it must return {shape}: {why}\n\
             help: add a return type, e.g. `-> Result<(), scope::Interrupted>`"
        ),
        None => format!(
            "a `#[scoped]` fn returns its scope's result, so it must return {shape}, not `()`: \
             {why}\n\
             help: return `Result<(), E>`, e.g. `-> Result<(), scope::Interrupted>`"
        ),
        Some(ty) => {
            let ty = type_text(ty);
            if ty == "!" {
                // `Result<!, E>` is not stable Rust: say what is.
                format!(
                    "this fn's return type is `!`, but a `#[scoped]` fn returns its scope's \
                     result, so it must return {shape}: {why}\n\
                     help: return `Result<std::convert::Infallible, E>` (e.g. \
                     `Result<std::convert::Infallible, scope::Interrupted>`): a body that runs \
                     until it fails ends with its error (`?` in the loop)"
                )
            } else {
                format!(
                    "this fn's return type is `{ty}`, but a `#[scoped]` fn returns its scope's \
                     result, so it must return {shape}: {why}\n\
                     help: return `Result<{ty}, E>` (e.g. `Result<{ty}, scope::Interrupted>`) \
                     and end the body with `Ok(value)`"
                )
            }
        }
    };
    let error = match &wrong {
        // The whole type underlined (a span's join is not stable).
        Some(ty) => syn::Error::new_spanned(ty, message),
        None => syn::Error::new(span, message),
    };
    Err((error, unit))
}

/// The scope's handles carry its lifetime: one in the return type would outlive the scope,
/// which ends when the fn returns.
fn returns_no_handle(sig: &syn::Signature) -> syn::Result<()> {
    struct Find(Option<(Ident, &'static str)>);
    impl<'ast> Visit<'ast> for Find {
        fn visit_path(&mut self, path: &'ast syn::Path) {
            if let (None, Some(last)) = (&self.0, path.segments.last()) {
                let what = match last.ident.to_string().as_str() {
                    "Child" => Some("a child's handle"),
                    "Scope" | "LocalScope" | "Race" | "LocalRace" => Some("the scope's handle"),
                    _ => None,
                };
                if let Some(what) = what.filter(|_| is_ours(path)) {
                    self.0 = Some((last.ident.clone(), what));
                }
            }
            syn::visit::visit_path(self, path);
        }
    }
    /// A handle of this crate: named through the facade (`scope::Child<..>`), or by its bare
    /// name with the shape of its arguments: `Child<'s, T>` (a lifetime and a type),
    /// `Scope<'s, 'env, E>` and the races (two lifetimes, then types). Another crate's type
    /// of the same name (`tokio::process::Child`, an interpreter's `Scope<'a>`, a tree's
    /// `Child<'a>`) is not one.
    fn is_ours(path: &syn::Path) -> bool {
        let Some(first) = path.segments.first() else {
            return false;
        };
        if path.segments.len() > 1 {
            return first.ident == "scope" || first.ident == "scope_runtime";
        }
        let syn::PathArguments::AngleBracketed(args) = &first.arguments else {
            return false;
        };
        let lifetimes = args
            .args
            .iter()
            .filter(|a| matches!(a, syn::GenericArgument::Lifetime(_)))
            .count();
        let types = args
            .args
            .iter()
            .filter(|a| matches!(a, syn::GenericArgument::Type(_)))
            .count();
        if first.ident == "Child" {
            lifetimes == 1 && types == 1
        } else {
            lifetimes == 2 && types >= 1
        }
    }
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return Ok(());
    };
    let mut find = Find(None);
    find.visit_type(ty);
    match find.0 {
        None => Ok(()),
        Some((ident, what)) => Err(syn::Error::new(
            ident.span(),
            format!(
                "a `#[scoped]` fn cannot return {what}: it belongs to the fn's own scope, which \
                 has ended (every child joined) by the time the fn returns\n\
                 help: await the child inside the fn and return its value (`Ok(child.await?)`), \
                 or make this fn take the caller's work as a future and spawn it in the caller's \
                 scope"
            ),
        )),
    }
}

/// Entry points take no arguments (`main`) or none that a test harness could pass.
pub(crate) fn no_params(sig: &syn::Signature, host: MacroKind) -> syn::Result<()> {
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("a `{}` fn takes no arguments", host.macro_name()),
        ));
    }
    // Type and const parameters (rustc's "functions used as tests can not have any
    // non-lifetime generic parameters" at the attribute, or "`main` function is not allowed
    // to have generic parameters").
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
    {
        let called = if host == MacroKind::Main {
            "`main` is called"
        } else {
            "a test is run"
        };
        return Err(syn::Error::new_spanned(
            param,
            format!(
                "a `{}` fn takes no type or const parameters: {called} with none to fill \
                 them\nhelp: write the generic code as a helper fn, and call it with each \
                 type from here (one `{}` fn per type)",
                host.macro_name(),
                host.macro_name()
            ),
        ));
    }
    Ok(())
}

/// `main` and a test are called as safe fns: rustc would say "`main` function has wrong type"
/// (or "unsafe functions cannot be used for tests") at the attribute.
pub(crate) fn not_unsafe(sig: &syn::Signature, host: MacroKind) -> syn::Result<()> {
    let Some(unsafety) = &sig.unsafety else {
        return Ok(());
    };
    let called = if host == MacroKind::Main {
        "`main`"
    } else {
        "a test"
    };
    Err(syn::Error::new_spanned(
        unsafety,
        format!(
            "a `{}` fn cannot be `unsafe`: {called} is called as a safe fn\n\
             help: remove `unsafe`, and wrap the calls that need it in `unsafe {{ .. }}` \
             blocks in the body",
            host.macro_name()
        ),
    ))
}

/// The first local (of `locals`) that a non-`move` `async` block handed to `spawn!` uses: it
/// borrows it, and a spawned child must own what it uses.
pub(crate) fn borrowed_local(
    fut: &Expr,
    locals: &std::collections::HashSet<String>,
) -> Option<Ident> {
    used_local(fut, locals, false)
}

/// The first local (of `locals`) that a non-`move` `async` block assigns to by its bare name
/// (`total += n`, `last = x`): whatever its type, the block borrows it mutably. For an in-place
/// child and a local of the scope's body, rustc's advice (`move`) compiles, and the child then
/// changes a copy of its own, which the body never sees. (Only this sure form is read: a use
/// through a reference the local holds borrows what it points to, not the local.)
pub(crate) fn assigned_local(
    fut: &Expr,
    locals: &std::collections::HashSet<String>,
) -> Option<Ident> {
    let Expr::Async(block) = fut else {
        return None;
    };
    if block.capture.is_some() {
        return None;
    }
    let mut find = Find::new(locals);
    find.visit_block(&block.block);
    find.assigned.into_iter().next()
}

/// Finds the uses of the locals of a spawned `async` block (see [`used_local`]).
struct Find<'l> {
    locals: &'l std::collections::HashSet<String>,
    declared: Vec<String>,
    /// Every use of a local, in order (the first one found is reported). Owned: a use inside
    /// another macro's arguments is read from tokens parsed here.
    found: Vec<Ident>,
    /// The locals used by value somewhere (`f(conn)`, `let x = conn;`): a block that is
    /// not `move` takes those by value, as a closure does, so it borrows none of them.
    by_value: std::collections::HashSet<String>,
    /// Inside a nested `move` closure or `async move` block, which takes what it names by
    /// value (from the block being read).
    in_move: usize,
    /// The locals assigned to by their bare names (`total += n`, `last = x`), outside nested
    /// `move` closures and blocks, in order.
    assigned: Vec<Ident>,
    /// Inside a statement, an arm or a struct literal's field under a `cfg` (or a `cfg_attr`,
    /// which may add one), which may be compiled out: a use or an assignment there is not
    /// reported (in doubt, silent), while what it moves or binds still counts (it may be
    /// compiled in).
    gated: usize,
}
impl<'l> Find<'l> {
    fn new(locals: &'l std::collections::HashSet<String>) -> Self {
        Find {
            locals,
            declared: Vec::new(),
            found: Vec::new(),
            by_value: std::collections::HashSet::new(),
            in_move: 0,
            assigned: Vec::new(),
            gated: 0,
        }
    }

    /// Notes an assignment's target, if it is a bare name of one of the locals.
    fn assigns(&mut self, target: &Expr) {
        let mut e = target;
        while let Expr::Paren(p) = e {
            e = &p.expr;
        }
        let Expr::Path(p) = e else { return };
        let (None, Some(ident)) = (&p.qself, p.path.get_ident()) else {
            return;
        };
        let name = crate::lint::unraw(ident);
        if self.in_move == 0
            && self.gated == 0
            && self.locals.contains(&name)
            && !hidden(&self.declared, &name)
        {
            self.assigned.push(ident.clone());
        }
    }

    /// Notes `e` as a value moved out, if it is a bare name, or one that `e`'s value is: a
    /// block's tail, an `if`'s or a `match`'s branches, the left operand of an operator that
    /// takes it by value (`text + "!"`), or the base of a field (`req.body`); a `match`'s or an
    /// `if let`'s scrutinee is noted as the visit reaches it. (Marked as moved, a name the
    /// block then takes by value: a
    /// `Copy` one is in fact borrowed, and rustc judges it; in doubt, silent.)
    fn moved(&mut self, e: &Expr) {
        let mut e = e;
        loop {
            match e {
                Expr::Paren(p) => e = &p.expr,
                Expr::Group(g) => e = &g.expr,
                Expr::Block(b) => match b.block.stmts.last() {
                    Some(syn::Stmt::Expr(tail, None)) => e = tail,
                    _ => return,
                },
                Expr::If(i) => {
                    if let Some((_, other)) = &i.else_branch {
                        self.moved(other);
                    }
                    match i.then_branch.stmts.last() {
                        Some(syn::Stmt::Expr(tail, None)) => e = tail,
                        _ => return,
                    }
                }
                Expr::Match(m) => {
                    for arm in &m.arms {
                        self.moved(&arm.body);
                    }
                    return;
                }
                // Moved out of a box (`match *boxed`, `let job = *boxed;`).
                Expr::Unary(syn::ExprUnary {
                    op: syn::UnOp::Deref(_),
                    expr,
                    ..
                }) => e = expr,
                // A field taken by value (`let body = req.body;`): a closure or block takes
                // that field, and borrows nothing of the rest.
                Expr::Field(f) => e = &f.base,
                Expr::Binary(b) if takes_left(&b.op) => e = &b.left,
                _ => break,
            }
        }
        if let Expr::Path(p) = e {
            if let (None, Some(ident)) = (&p.qself, p.path.get_ident()) {
                let name = crate::lint::unraw(ident);
                // A name the block bound itself may be its own, not the outer one; the
                // scopes of names are not followed, so it counts as moved all the same (in
                // doubt, the check is silent).
                self.by_value.insert(name);
            }
        }
    }
}
impl<'a> Visit<'a> for Find<'_> {
    fn visit_expr_call(&mut self, c: &'a syn::ExprCall) {
        for arg in &c.args {
            self.moved(arg);
        }
        syn::visit::visit_expr_call(self, c);
    }
    fn visit_expr_method_call(&mut self, c: &'a syn::ExprMethodCall) {
        for arg in &c.args {
            self.moved(arg);
        }
        // A method's receiver may be taken by value (`items.into_iter()`, a job's `run(self)`)
        // or reborrowed through a reference the name holds (`cfg.port()` of a `&'static
        // Config`): either way the block borrows nothing of the local, and rustc accepts it.
        // The macro cannot see the method's `self`: a receiver is read as borrowed only for
        // the methods that borrow it by convention, on the owned values a body makes
        // (`words.len()`, `map.get(k)`); any other is left to rustc (in doubt, silent; its
        // E0373 says `move` where the block does borrow it).
        if !borrows_receiver(&crate::lint::unraw(&c.method)) {
            self.moved(&c.receiver);
        }
        syn::visit::visit_expr_method_call(self, c);
    }
    fn visit_expr_closure(&mut self, c: &'a syn::ExprClosure) {
        // A nested `move` closure takes its captures by value, from this block (as a nested
        // `async move` block does).
        let moves = usize::from(c.capture.is_some());
        self.in_move += moves;
        syn::visit::visit_expr_closure(self, c);
        self.in_move -= moves;
    }
    fn visit_expr_struct(&mut self, s: &'a syn::ExprStruct) {
        for field in &s.fields {
            self.moved(&field.expr);
        }
        syn::visit::visit_expr_struct(self, s);
    }
    fn visit_expr_tuple(&mut self, t: &'a syn::ExprTuple) {
        for elem in &t.elems {
            self.moved(elem);
        }
        syn::visit::visit_expr_tuple(self, t);
    }
    fn visit_expr_array(&mut self, a: &'a syn::ExprArray) {
        for elem in &a.elems {
            self.moved(elem);
        }
        syn::visit::visit_expr_array(self, a);
    }
    fn visit_expr_match(&mut self, m: &'a syn::ExprMatch) {
        // A pattern that binds by value moves the scrutinee (in doubt, silent: one that
        // binds by reference, or nothing, borrows it).
        self.moved(&m.expr);
        syn::visit::visit_expr_match(self, m);
    }
    fn visit_expr_let(&mut self, l: &'a syn::ExprLet) {
        // `if let Some(job) = job`, `while let`: as a `match`'s scrutinee.
        self.moved(&l.expr);
        syn::visit::visit_expr_let(self, l);
    }
    fn visit_expr_await(&mut self, a: &'a syn::ExprAwait) {
        // `fut.await` takes the future by value (`IntoFuture::into_future`). An awaited
        // `send` may borrow its receiver (a bounded `mpsc` sender's, `&self`) or take it (a
        // request builder's, `self`): the macro cannot tell, so it stays silent, as for any
        // consumer's name, and rustc reports a real borrow.
        self.moved(&a.base);
        syn::visit::visit_expr_await(self, a);
    }
    fn visit_expr_try(&mut self, t: &'a syn::ExprTry) {
        // `r?` takes the result by value.
        self.moved(&t.expr);
        syn::visit::visit_expr_try(self, t);
    }
    fn visit_expr_assign(&mut self, a: &'a syn::ExprAssign) {
        self.assigns(&a.left);
        self.moved(&a.right);
        syn::visit::visit_expr_assign(self, a);
    }
    fn visit_expr_binary(&mut self, b: &'a syn::ExprBinary) {
        use syn::BinOp as B;
        if matches!(
            b.op,
            B::AddAssign(_)
                | B::SubAssign(_)
                | B::MulAssign(_)
                | B::DivAssign(_)
                | B::RemAssign(_)
                | B::BitXorAssign(_)
                | B::BitAndAssign(_)
                | B::BitOrAssign(_)
                | B::ShlAssign(_)
                | B::ShrAssign(_)
        ) {
            self.assigns(&b.left);
        }
        syn::visit::visit_expr_binary(self, b);
    }
    fn visit_expr_return(&mut self, r: &'a syn::ExprReturn) {
        if let Some(e) = &r.expr {
            self.moved(e);
        }
        syn::visit::visit_expr_return(self, r);
    }
    fn visit_expr_break(&mut self, b: &'a syn::ExprBreak) {
        if let Some(e) = &b.expr {
            self.moved(e);
        }
        syn::visit::visit_expr_break(self, b);
    }
    // A name bound by any pattern (`let`, a closure's input, `for`, a `match` arm,
    // `if let`, `while let`) is the block's own from there on: using it borrows nothing
    // from outside. The scopes of names are not followed: in doubt the check stays
    // silent, and rustc still reports a real borrow ("does not live long enough").
    fn visit_pat_ident(&mut self, p: &'a syn::PatIdent) {
        self.declared.push(crate::lint::unraw(&p.ident));
        syn::visit::visit_pat_ident(self, p);
    }
    fn visit_local(&mut self, local: &'a syn::Local) {
        // The value first: in `let x = x + 1;` the second `x` is the outer one.
        if let Some(init) = &local.init {
            self.moved(&init.expr);
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        self.visit_pat(&local.pat);
    }
    fn visit_expr_for_loop(&mut self, f: &'a syn::ExprForLoop) {
        // The iterated value first: in `for x in x` it is the outer `x` (taken by value,
        // `IntoIterator::into_iter`).
        self.moved(&f.expr);
        self.visit_expr(&f.expr);
        self.visit_pat(&f.pat);
        self.visit_block(&f.body);
    }
    fn visit_expr_async(&mut self, a: &'a syn::ExprAsync) {
        // A nested `async move` block takes its captures by value, from this block.
        let moves = usize::from(a.capture.is_some());
        self.in_move += moves;
        syn::visit::visit_expr_async(self, a);
        self.in_move -= moves;
    }
    fn visit_expr_path(&mut self, p: &'a syn::ExprPath) {
        if p.qself.is_some() {
            return;
        }
        if let Some(ident) = p.path.get_ident() {
            self.used(ident.clone());
        }
    }
    fn visit_macro(&mut self, m: &'a syn::Macro) {
        // The arguments of the standard macros known to take expressions run here too
        // (`format!("{}", name)`, a format string's `{name}`, `vec![name]`): read as such.
        // A `select!`'s branches are read as code (see `Find::select`). Any other macro's
        // are not read (in doubt, silent: its arguments may be names of another kind,
        // `offset_of!(User, name)`, or fields, `info!(user = ..)`; rustc still refuses a real
        // borrow).
        if let Some(shape) = crate::lint::select_shape(&m.path, &m.tokens) {
            self.select(&shape);
            return;
        }
        let Some(kind) = m
            .path
            .segments
            .last()
            .and_then(|s| std_macro(&s.ident.to_string()))
        else {
            return;
        };
        let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        let tokens = match kind {
            StdMacro::Futures => without_biased(&m.tokens),
            _ => m.tokens.clone(),
        };
        let Ok(args) = syn::parse::Parser::parse2(parser, tokens) else {
            return;
        };
        let mut inner = Find {
            declared: self.declared.clone(),
            in_move: self.in_move,
            gated: self.gated,
            ..Find::new(self.locals)
        };
        match kind {
            // `vec![conn]`, `dbg!(req)`: each argument is taken by value.
            StdMacro::ByValue | StdMacro::Futures => {
                for arg in &args {
                    inner.moved(arg);
                    inner.visit_expr(arg);
                }
            }
            // `matches!(value, pattern)`: only the value is an expression; the rest binds.
            StdMacro::Matches => {
                if let Some(value) = args.first() {
                    inner.visit_expr(value);
                }
            }
            StdMacro::Format { string_at, panics } => {
                let inline = !(panics && args.len() == string_at + 1);
                inner.format_args(&args, string_at, inline);
            }
        }
        self.found.extend(inner.found);
        self.by_value.extend(inner.by_value);
        self.assigned.extend(inner.assigned);
    }
    fn visit_block(&mut self, block: &'a syn::Block) {
        // An item the block declares (`fn s() -> u32`, a `const`, a `static`) is its own in
        // that block, before its declaration too: a use of that name there is the item, not
        // the outer value; after the block, the outer value again.
        let from = self.declared.len();
        self.declared.extend(block_item_names(block));
        let items = self.declared.len() - from;
        syn::visit::visit_block(self, block);
        self.declared.drain(from..from + items);
    }
    fn visit_item(&mut self, _: &'a syn::Item) {}
    fn visit_stmt(&mut self, stmt: &'a syn::Stmt) {
        let attrs = match stmt {
            syn::Stmt::Local(l) => &l.attrs,
            syn::Stmt::Macro(m) => &m.attrs,
            syn::Stmt::Expr(e, _) => expr_attrs(e),
            syn::Stmt::Item(_) => return,
        };
        let gated = usize::from(cfg_gated(attrs));
        self.gated += gated;
        syn::visit::visit_stmt(self, stmt);
        self.gated -= gated;
    }
    fn visit_field_value(&mut self, field: &'a syn::FieldValue) {
        let gated = usize::from(cfg_gated(&field.attrs));
        self.gated += gated;
        syn::visit::visit_field_value(self, field);
        self.gated -= gated;
    }
    fn visit_arm(&mut self, arm: &'a syn::Arm) {
        let gated = usize::from(cfg_gated(&arm.attrs));
        self.gated += gated;
        syn::visit::visit_arm(self, arm);
        self.gated -= gated;
    }
}

/// The attributes written on an expression (none for the kinds that take none).
fn expr_attrs(e: &Expr) -> &[syn::Attribute] {
    match e {
        Expr::Array(x) => &x.attrs,
        Expr::Assign(x) => &x.attrs,
        Expr::Async(x) => &x.attrs,
        Expr::Await(x) => &x.attrs,
        Expr::Binary(x) => &x.attrs,
        Expr::Block(x) => &x.attrs,
        Expr::Break(x) => &x.attrs,
        Expr::Call(x) => &x.attrs,
        Expr::Cast(x) => &x.attrs,
        Expr::Closure(x) => &x.attrs,
        Expr::Field(x) => &x.attrs,
        Expr::ForLoop(x) => &x.attrs,
        Expr::If(x) => &x.attrs,
        Expr::Index(x) => &x.attrs,
        Expr::Let(x) => &x.attrs,
        Expr::Loop(x) => &x.attrs,
        Expr::Macro(x) => &x.attrs,
        Expr::Match(x) => &x.attrs,
        Expr::MethodCall(x) => &x.attrs,
        Expr::Paren(x) => &x.attrs,
        Expr::Path(x) => &x.attrs,
        Expr::Reference(x) => &x.attrs,
        Expr::Return(x) => &x.attrs,
        Expr::Struct(x) => &x.attrs,
        Expr::Try(x) => &x.attrs,
        Expr::Tuple(x) => &x.attrs,
        Expr::Unary(x) => &x.attrs,
        Expr::Unsafe(x) => &x.attrs,
        Expr::While(x) => &x.attrs,
        _ => &[],
    }
}

/// The names of the items a block declares (`fn`, `const`, `static`, and what a `use` brings
/// in, `use api::fetch;` or `as fetch`; a glob's are not known, `*` stands for them): in that
/// block, before their declaration too, they hide a local of the same name from around it.
pub(crate) fn block_item_names(block: &syn::Block) -> Vec<String> {
    let mut out = Vec::new();
    for stmt in &block.stmts {
        let syn::Stmt::Item(item) = stmt else {
            continue;
        };
        match item {
            syn::Item::Fn(f) => out.push(crate::lint::unraw(&f.sig.ident)),
            syn::Item::Const(c) => out.push(crate::lint::unraw(&c.ident)),
            syn::Item::Static(st) => out.push(crate::lint::unraw(&st.ident)),
            syn::Item::Use(u) => use_names(&u.tree, &mut out),
            _ => {}
        }
    }
    out
}

/// Whether `name` is one of the `declared` names, or a glob `use` (`*`) may have brought it in.
fn hidden(declared: &[String], name: &str) -> bool {
    declared.iter().any(|d| d == name || d == "*")
}

/// The names a `use` brings into its block (a glob's are not known: `*`).
fn use_names(tree: &syn::UseTree, out: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(p) => use_names(&p.tree, out),
        syn::UseTree::Name(n) if n.ident != "self" => out.push(crate::lint::unraw(&n.ident)),
        syn::UseTree::Rename(r) => out.push(crate::lint::unraw(&r.rename)),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_names(t, out)),
        syn::UseTree::Glob(_) => out.push("*".to_owned()),
        syn::UseTree::Name(_) => {}
    }
}

impl Find<'_> {
    /// A `select!`'s branches: each future (taken by value, as tokio's `select!` takes it)
    /// and guard, then each body, where the names its branch's pattern binds are its own.
    /// (A name bound inside one of these parts is that part's own, not the next one's. A
    /// branch's value is the `select!`'s: taken by value, as a block's tail is.)
    fn select(&mut self, shape: &crate::lint::SelectShape) {
        for branch in &shape.branches {
            let from = self.declared.len();
            if let Some((_, fut)) = &branch.pat {
                self.moved(fut);
                self.visit_expr(fut);
                self.declared.truncate(from);
            }
            if let Some(guard) = &branch.guard {
                self.visit_expr(guard);
                self.declared.truncate(from);
            }
        }
        for branch in &shape.branches {
            let from = self.declared.len();
            if let Some((pat, _)) = &branch.pat {
                self.visit_pat(pat);
            }
            self.moved(&branch.body);
            self.visit_expr(&branch.body);
            self.declared.truncate(from);
        }
    }

    /// Notes a use of `ident`, if it names one of the locals looked for (and not one the block
    /// bound itself).
    fn used(&mut self, ident: Ident) {
        let name = crate::lint::unraw(&ident);
        if self.locals.contains(&name) && !hidden(&self.declared, &name) {
            if self.in_move > 0 {
                self.by_value.insert(name);
            }
            if self.gated == 0 {
                self.found.push(ident);
            }
        }
    }
}

/// Whether a binary operator takes its left operand by value (the arithmetic and bitwise
/// ones: `Add::add(self, ..)`), rather than by reference (comparisons) or not at all.
fn takes_left(op: &syn::BinOp) -> bool {
    use syn::BinOp as B;
    matches!(
        op,
        B::Add(_)
            | B::Sub(_)
            | B::Mul(_)
            | B::Div(_)
            | B::Rem(_)
            | B::BitXor(_)
            | B::BitAnd(_)
            | B::BitOr(_)
            | B::Shl(_)
            | B::Shr(_)
    )
}

/// Whether `attrs` hold a `cfg`, or a `cfg_attr` (which may add one): what they are on may be
/// compiled out (see `Find::gated`).
pub(crate) fn cfg_gated(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
}

/// A `join!`'s tokens without the `biased;` that may open them.
fn without_biased(tokens: &proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    use proc_macro2::TokenTree;
    let mut it = tokens.clone().into_iter();
    match (it.next(), it.next()) {
        (Some(TokenTree::Ident(word)), Some(TokenTree::Punct(semi)))
            if word == "biased" && semi.as_char() == ';' =>
        {
            it.collect()
        }
        _ => tokens.clone(),
    }
}

/// How the borrow checks read a standard macro's arguments (see `Find::visit_macro`).
enum StdMacro {
    /// Each argument taken by value: `vec!`, `dbg!`.
    ByValue,
    /// The futures of `join!` and `try_join!` (tokio's and futures', after a `biased;`), each
    /// taken by value.
    Futures,
    /// `matches!`: the first argument is an expression, the rest a pattern.
    Matches,
    /// A format macro, its format string at argument `string_at` (after a writer or a
    /// condition); the arguments are borrowed. `panics`: one of the panicking macros, whose
    /// message alone (no argument after it) is printed as written before the 2021 edition,
    /// which a macro cannot see: its inline arguments (`"{name}"`) are not read then.
    Format { string_at: usize, panics: bool },
}

/// The standard macros whose arguments the borrow checks read, by their last path segment.
fn std_macro(name: &str) -> Option<StdMacro> {
    let name = name.strip_prefix("r#").unwrap_or(name);
    Some(match name {
        "vec" | "dbg" => StdMacro::ByValue,
        "join" | "try_join" => StdMacro::Futures,
        "matches" => StdMacro::Matches,
        // (`todo` and `unimplemented` format their message in every edition.)
        "format" | "format_args" | "print" | "println" | "eprint" | "eprintln" | "todo"
        | "unimplemented" => StdMacro::Format {
            string_at: 0,
            panics: false,
        },
        "panic" | "unreachable" => StdMacro::Format {
            string_at: 0,
            panics: true,
        },
        "write" | "writeln" => StdMacro::Format {
            string_at: 1,
            panics: false,
        },
        "assert" | "debug_assert" => StdMacro::Format {
            string_at: 1,
            panics: true,
        },
        "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => StdMacro::Format {
            string_at: 2,
            panics: false,
        },
        _ => return None,
    })
}

impl Find<'_> {
    /// A format macro's arguments, its format string at `string_at`: the expressions are read,
    /// a named argument's value only (`name = owned` names it for the format string), and
    /// (`inline`) the format string's inline arguments (`{name}`) that no named argument
    /// defines are uses.
    fn format_args(
        &mut self,
        args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>,
        string_at: usize,
        inline: bool,
    ) {
        let mut named = Vec::new();
        let mut text = None;
        for (i, arg) in args.iter().enumerate() {
            match arg {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) if i == string_at => text = Some(lit),
                Expr::Assign(a) if i > string_at => {
                    if let Expr::Path(p) = &*a.left {
                        if let Some(name) = p.path.get_ident() {
                            named.push(crate::lint::unraw(name));
                        }
                    }
                    self.visit_expr(&a.right);
                }
                other => self.visit_expr(other),
            }
        }
        if let Some(text) = text.filter(|_| inline) {
            for inline in inline_format_args(&text.value()) {
                // What only looks like a name (`{a²}`) names nothing: rustc refuses the string.
                let parsed = syn::parse::Parser::parse_str(Ident::parse_any, &inline);
                if let (false, Ok(mut ident)) = (named.contains(&inline), parsed) {
                    ident.set_span(text.span());
                    self.used(ident);
                }
            }
        }
    }
}

/// The inline arguments of a format string (`"{name}"`, `"{name:?}"`, `"{name:>8}"`); `{{` is a
/// brace, and positions (`{0}`, `{}`) name nothing.
fn inline_format_args(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            continue;
        }
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        let arg = rest[..end].trim();
        let ident_like = arg
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && arg.chars().all(|c| c.is_alphanumeric() || c == '_')
            && arg != "_";
        if ident_like {
            out.push(arg.to_owned());
        }
        rest = &rest[end..];
    }
    out
}

/// Whether a method named `method` borrows its receiver, as far as its name says: the common
/// readers and writers of the standard collections and strings.
fn borrows_receiver(method: &str) -> bool {
    matches!(
        method,
        "len"
            | "is_empty"
            | "iter"
            | "iter_mut"
            | "clone"
            | "as_str"
            | "as_slice"
            | "to_string"
            | "to_owned"
            | "to_vec"
            | "contains"
            | "contains_key"
            | "get"
            | "get_mut"
            | "push"
            | "push_str"
            | "insert"
            | "remove"
            | "pop"
            | "first"
            | "last"
            | "keys"
            | "values"
            | "chars"
            | "bytes"
            | "lines"
            | "trim"
            | "starts_with"
            | "ends_with"
            | "extend"
            | "clear"
    )
}

/// The first local (of `locals`) that an `async` block uses (`moved`: a `move` block counts).
fn used_local(
    fut: &Expr,
    locals: &std::collections::HashSet<String>,
    moved: bool,
) -> Option<Ident> {
    let Expr::Async(block) = fut else {
        return None;
    };
    if block.capture.is_some() && !moved {
        return None;
    }
    let mut find = Find::new(locals);
    find.visit_block(&block.block);
    if let Some(syn::Stmt::Expr(tail, None)) = block.block.stmts.last() {
        // The block's value is moved out of it.
        find.moved(tail);
    }
    // A `move` block owns whatever it names; one without `move` owns what it uses by value
    // (in doubt, silent: rustc still refuses a real borrow, `Copy` values included).
    let owns = |ident: &Ident| !moved && find.by_value.contains(&crate::lint::unraw(ident));
    find.found.into_iter().find(|ident| !owns(ident))
}

/// The first of `names` that a child's future holds. An `async` block holds every name its own
/// code uses (`move` or not), where no pattern of it binds the name again. Any other
/// expression runs in the body and hands the child what it made: the child holds a name passed
/// whole to the call that makes it (`plus_one(a)`, `&a`, a tuple's or a literal's field,
/// `spawn!(a)` itself), every name an `async` block within it uses, and every name a closure
/// passed to that call uses. A name only read there is not held: awaited (`work(a.await?)`),
/// a method's receiver or a field's base (`watch(s.cx().clone())`), called (`make()`: what it
/// gives is held), formatted, or passed to a
/// call whose result is passed on (`log(describe(&a))`, `unwrap_or_else(|| s.grace())`). In
/// doubt the check is silent (a name a pattern in the expression binds again; a consuming
/// method, `a.map(..)`): rustc still refuses a real hold.
pub(crate) fn uses_any(fut: &Expr, names: &std::collections::HashSet<String>) -> Option<Ident> {
    if names.is_empty() {
        return None;
    }
    if let Expr::Async(block) = fut {
        let mut find = Find::new(names);
        find.visit_block(&block.block);
        return find.found.into_iter().next();
    }
    let mut bound = Bound(Vec::new());
    bound.visit_expr(fut);
    let names: std::collections::HashSet<String> = names
        .iter()
        .filter(|n| !bound.0.contains(n))
        .cloned()
        .collect();
    let mut held = Held {
        names: &names,
        found: None,
        calls: 0,
    };
    held.visit_expr(fut);
    held.found
}

/// The names the patterns of an expression bind (`match`, `if let`, a closure's inputs, a
/// block's `let`).
struct Bound(Vec<String>);
impl<'a> Visit<'a> for Bound {
    fn visit_pat_ident(&mut self, p: &'a syn::PatIdent) {
        self.0.push(crate::lint::unraw(&p.ident));
        syn::visit::visit_pat_ident(self, p);
    }
    fn visit_item(&mut self, _: &'a syn::Item) {}
}

/// The names a child's future built in the body holds (see [`uses_any`]).
struct Held<'n> {
    names: &'n std::collections::HashSet<String>,
    found: Option<Ident>,
    /// The calls whose arguments are being read: past the first, a call's result is passed
    /// on, and what it borrows it gave back (`describe(&a)` returns a `String`).
    calls: usize,
}
impl Held<'_> {
    fn args<'a>(&mut self, args: impl IntoIterator<Item = &'a Expr>) {
        self.calls += 1;
        for arg in args {
            self.visit_expr(arg);
        }
        self.calls -= 1;
    }

    /// Every use in `e`, code the child runs.
    fn every_use(&mut self, e: &Expr) {
        let mut find = Find::new(self.names);
        find.visit_expr(e);
        self.found = find.found.into_iter().next();
    }
}
impl<'a> Visit<'a> for Held<'_> {
    fn visit_expr(&mut self, e: &'a Expr) {
        if self.found.is_some() {
            return;
        }
        match e {
            Expr::Async(_) => self.every_use(e),
            Expr::Closure(_) if self.calls <= 1 => self.every_use(e),
            // Run in the body: what it awaited is spent there.
            Expr::Closure(_) | Expr::Await(_) => {}
            Expr::Macro(m) => {
                // `vec![..]`, `dbg!(..)`: their arguments, in place; `format!` makes a
                // `String`, and another macro's tokens are not read.
                let name = m.mac.path.segments.last().map(|s| s.ident.to_string());
                if !matches!(name.as_deref(), Some("vec" | "dbg")) {
                    return;
                }
                let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
                if let Ok(args) = syn::parse::Parser::parse2(parser, m.mac.tokens.clone()) {
                    for arg in &args {
                        self.visit_expr(arg);
                    }
                }
            }
            Expr::Call(call) => {
                // A name called runs in the body (`spawn!(make())`): the child holds what it
                // gives, not it.
                if bare_name(&call.func).is_none() {
                    self.visit_expr(&call.func);
                }
                self.args(&call.args);
            }
            Expr::MethodCall(call) => {
                if bare_name(&call.receiver).is_none() {
                    self.visit_expr(&call.receiver);
                }
                self.args(&call.args);
            }
            Expr::Path(_) | Expr::Reference(_) if self.calls > 1 => {}
            Expr::Field(field) if bare_name(&field.base).is_some() => {}
            Expr::Path(_) => {
                self.found =
                    bare_name(e).filter(|ident| self.names.contains(&crate::lint::unraw(ident)));
            }
            _ => syn::visit::visit_expr(self, e),
        }
    }
    fn visit_item(&mut self, _: &'a syn::Item) {}
}

/// The name `e` is, if it is a bare one (`a`, `(a)`).
fn bare_name(e: &Expr) -> Option<Ident> {
    let mut e = e;
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            Expr::Path(p) if p.qself.is_none() => return p.path.get_ident().cloned(),
            _ => return None,
        }
    }
}

/// The first reference parameter (of `refs`, see [`reference_param_names`]) that an `async`
/// block handed to `spawn!` uses, `move` or not: moved, a reference is still not `'static`.
pub(crate) fn used_reference(
    fut: &Expr,
    refs: &std::collections::HashSet<String>,
) -> Option<Ident> {
    used_local(fut, refs, true)
}

/// The `break`s and `continue`s of a `scope!` body that would leave it: the body is an async
/// block, so no jump reaches a loop or a labelled block outside it (rustc's own message then
/// names an `async` block the user never wrote). Each gets its error, and is replaced by
/// `unreachable!()` so that rustc does not report it again. Closures, async blocks and items in
/// the body are rustc's to check (a jump cannot leave them either), and so are other macros'
/// arguments.
pub(crate) fn jumps_out_of_scope_body(body: &mut syn::Block) -> Vec<syn::Error> {
    let mut jumps = Jumps::default();
    jumps.visit_block_mut(body);
    jumps.errors
}

/// Whether a `break` in `block` leaves it: for a loop's body, whether something breaks out of
/// the loop. A macro's tokens are not parsed (`select!` arms): a `break` anywhere in them
/// counts.
pub(crate) fn breaks_leave(block: &syn::Block) -> bool {
    let mut jumps = Jumps {
        quiet: true,
        ..Jumps::default()
    };
    jumps.visit_block_mut(&mut block.clone());
    jumps.a_break_leaves
}

#[derive(Default)]
struct Jumps {
    /// Loops of the body around the code being read.
    loops: usize,
    /// Labels of the body's loops and blocks around it.
    labels: Vec<String>,
    errors: Vec<syn::Error>,
    /// Only looking ([`breaks_leave`]): no error, nothing rewritten.
    quiet: bool,
    /// A `break` leaves the block.
    a_break_leaves: bool,
}

impl Jumps {
    fn inside(&mut self, label: Option<&syn::Label>, is_loop: bool, read: impl FnOnce(&mut Self)) {
        let labelled = label.map(|l| self.labels.push(crate::lint::unraw(&l.name.ident)));
        self.loops += usize::from(is_loop);
        read(self);
        self.loops -= usize::from(is_loop);
        if labelled.is_some() {
            self.labels.pop();
        }
    }

    /// Whether the jump leaves the body; if so, its error is recorded.
    fn leaves(&mut self, what: &str, label: Option<&syn::Lifetime>, span: Span) -> bool {
        let leaves = match label {
            Some(l) => !self.labels.contains(&crate::lint::unraw(&l.ident)),
            None => self.loops == 0,
        };
        self.a_break_leaves |= leaves && what == "break";
        if leaves && !self.quiet {
            let target = label.map_or_else(|| "a loop".to_owned(), |l| format!("`{l}`"));
            self.errors.push(syn::Error::new(
                span,
                format!(
                    "this `{what}` would leave the `scope!` body for {target} outside it: the \
                     body is an async block, which a `{what}` cannot leave\n\
                     help: end the body with a value that says what to do (a `bool`, or \
                     `std::ops::ControlFlow`), and `{what}` after the scope's `.await`"
                ),
            ));
        }
        leaves
    }
}

impl VisitMut for Jumps {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        let leaves = match e {
            Expr::Loop(l) => {
                let label = l.label.clone();
                return self.inside(label.as_ref(), true, |j| j.visit_block_mut(&mut l.body));
            }
            Expr::While(w) => {
                self.visit_expr_mut(&mut w.cond);
                let label = w.label.clone();
                return self.inside(label.as_ref(), true, |j| j.visit_block_mut(&mut w.body));
            }
            Expr::ForLoop(f) => {
                self.visit_expr_mut(&mut f.expr);
                let label = f.label.clone();
                return self.inside(label.as_ref(), true, |j| j.visit_block_mut(&mut f.body));
            }
            Expr::Block(b) => {
                let label = b.label.clone();
                return self.inside(label.as_ref(), false, |j| j.visit_block_mut(&mut b.block));
            }
            Expr::Break(b) => {
                if let Some(value) = &mut b.expr {
                    self.visit_expr_mut(value);
                }
                self.leaves("break", b.label.as_ref(), b.span())
            }
            Expr::Continue(c) => self.leaves("continue", c.label.as_ref(), c.span()),
            // Their own jumps are rustc's to check.
            Expr::Closure(_) | Expr::Async(_) => return,
            _ => return visit_mut::visit_expr_mut(self, e),
        };
        if leaves && !self.quiet {
            let span = e.span();
            *e = syn::parse_quote_spanned!(span=> ::core::unreachable!());
        }
    }

    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
        fn has_break(tokens: proc_macro2::TokenStream) -> bool {
            tokens.into_iter().any(|t| match t {
                proc_macro2::TokenTree::Ident(i) => i == "break",
                proc_macro2::TokenTree::Group(g) => has_break(g.stream()),
                _ => false,
            })
        }
        if self.quiet {
            self.a_break_leaves |= has_break(m.tokens.clone());
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// A type (or other tokens) as a user writes it, for a message: the token stream's spacing
/// taken out of paths, generics, references and lists (`std :: process :: ExitCode` reads
/// `std::process::ExitCode`).
pub(crate) fn type_text(tokens: impl quote::ToTokens) -> String {
    let text = tokens
        .to_token_stream()
        .to_string()
        .replace(", :: ", ", ::")
        .replace("< :: ", "<::")
        .replace(" :: ", "::")
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&");
    match text.strip_prefix(":: ") {
        Some(rest) => format!("::{rest}"),
        None => text,
    }
}
