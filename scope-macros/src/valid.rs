//! Checks that need more than one option, or the item: an `async fn` with a body, a return
//! type that can carry the scope's failures, entry-point flavors.

use syn::spanned::Spanned;

use crate::attr::{CountValue, Ctx, Flavor, Options, PolicyKind};

/// Checks the options against each other.
pub(crate) fn options(opts: &Options, ctx: Ctx) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    if let Some((_, span)) = &opts.worker_threads {
        if matches!(opts.flavor, Some((Flavor::CurrentThread, _)))
            || (ctx == Ctx::Test && opts.flavor.is_none())
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

/// `#[scoped]`, `#[scope::main]`, `#[scope::test]` need an `async fn`.
pub(crate) fn is_async(sig: &syn::Signature, ctx: Ctx) -> syn::Result<()> {
    if sig.asyncness.is_some() {
        return Ok(());
    }
    let help = match ctx {
        Ctx::Scoped => {
            "help: add `async` to this fn, or, inside a sync fn, build a scope with \
             `scope!({ ... })` and await it from async code"
        }
        _ => "help: add `async` to this fn",
    };
    let why = match ctx {
        Ctx::Test => "it runs the body on a tokio runtime",
        _ => "its body runs as a scope, which is awaited",
    };
    Err(syn::Error::new(
        sig.fn_token.span,
        format!("`{}` needs an `async fn`: {why}\n{help}", ctx.macro_name()),
    ))
}

/// A `#[scoped]` fn returns the scope's result: it must be able to carry a failure.
pub(crate) fn returns_result(sig: &syn::Signature, policy: PolicyKind) -> syn::Result<()> {
    let unit = match &sig.output {
        syn::ReturnType::Default => true,
        syn::ReturnType::Type(_, ty) => matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty()),
    };
    if !unit {
        return Ok(());
    }
    let shape = match policy {
        PolicyKind::FailFast => "`Result<T, E>` with `E: From<scope::Interrupted>`",
        PolicyKind::Supervise | PolicyKind::FirstOk => {
            "`Result<T, scope::Failures<E>>` with `E: From<scope::Interrupted>`"
        }
    };
    let span = match &sig.output {
        syn::ReturnType::Default => sig.ident.span(),
        syn::ReturnType::Type(arrow, ty) => arrow.span().join(ty.span()).unwrap_or(arrow.span()),
    };
    Err(syn::Error::new(
        span,
        format!(
            "a `#[scoped]` fn returns its scope's result, so it must return {shape}: a scope can \
             fail even when its body does not (a child failed or panicked, it was cancelled, a \
             deadline fired)\nhelp: add a return type, e.g. `-> Result<(), scope::Interrupted>`"
        ),
    ))
}

/// Entry points take no arguments (`main`) or none that a test harness could pass.
pub(crate) fn no_params(sig: &syn::Signature, ctx: Ctx) -> syn::Result<()> {
    if sig.inputs.is_empty() {
        return Ok(());
    }
    Err(syn::Error::new_spanned(
        &sig.inputs,
        format!("a `{}` fn takes no arguments", ctx.macro_name()),
    ))
}
