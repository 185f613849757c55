//! The entry points, `#[scope::main]` and `#[scope::test]`: one build step each for the
//! runtime and for the fn, shared (snapshots: `tests/expand/entry-*.rs`).
//!
//! ```text
//! #[scope::main(grace = 5s)] async fn main() -> Result<T, E> { BODY }
//!   -> fn main() -> Result<T, E> {
//!          let __rt = <runtime>;
//!          Ok(::scope::__private::main_entry(__rt, MainConfig::new().grace(<grace>), async {
//!              let __body_error = BodyError::new();
//!              <a scope: `let __scope = ..; let out = __scope.run(async {
//!                  __body_error.run(async BODY, |e| <e on one line>).await }).await`>
//!              MainOutcome::of_scope(out, __scope, |e| <e on one line>).with_body_error(__body_error)
//!          }))
//!      }
//! #[scope::test] async fn t() { BODY }
//!   -> #[::core::prelude::v1::test] fn t() {
//!          let __rt = <runtime>;
//!          __rt.block_on(async { <leak check around BODY> })
//!      }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::Target;
use crate::expand::{config, count, duration, errors_to_tokens, scope_body_then, Proof};
use crate::options::{self, Flavor, MacroKind, MainSignal, Options};
use crate::rewrite::Rewriter;
use crate::valid;

/// An entry point's fn, parsed and checked, with its options; what both macros share.
struct Entry {
    f: syn::ItemFn,
    opts: Options,
    errors: Vec<syn::Error>,
    runtime: TokenStream,
}

/// The shared build step: parse the options and the fn, check both, and build the runtime.
/// `Err` holds the finished output when there is no async fn to build on.
fn build(
    args: TokenStream,
    input: TokenStream,
    host: MacroKind,
    default: Flavor,
) -> Result<Entry, TokenStream> {
    let (mut opts, mut errors) = options::parse_attr_args(args, host);
    errors.extend(valid::options(&opts, host));
    let mut f = match Target::parse(input) {
        Target::Fn(f) => {
            // `name = main`, unquoted: the fn item is no name.
            let own = [crate::lint::unraw(&f.sig.ident)];
            errors.extend(valid::fn_as_name(
                &mut opts,
                &valid::param_names(&f.sig),
                &own,
            ));
            f
        }
        Target::Broken(mut broken) => {
            // A syntax error in the body: rustc's message (said by syn) is the only one, on a
            // plain fn (an `async fn main` would add "`main` is not allowed to be `async`").
            broken.sig.asyncness = None;
            let test_attr = (host == MacroKind::Test).then(|| quote!(#[::core::prelude::v1::test]));
            let stub = broken.stub(&quote!(#test_attr));
            let errors = errors_to_tokens(errors);
            return Err(quote!(#stub #errors));
        }
        target => {
            let input = target.into_tokens();
            let what = match host {
                MacroKind::Test => "`#[scope::test]` goes on an `async fn` test",
                _ => "`#[scope::main]` goes on `async fn main()`",
            };
            errors.push(syn::Error::new(Span::call_site(), what));
            let errors = errors_to_tokens(errors);
            return Err(quote!(#input #errors));
        }
    };
    stray_attributes(&mut f, host, &mut errors);
    no_tokio_entry(&mut f, host, &mut errors)?;
    // A second test attribute would register the test twice.
    if host == MacroKind::Test {
        if let Some(i) = f.attrs.iter().position(|a| crate::ast::attr_is(a, "test")) {
            let attr = f.attrs.remove(i);
            errors.push(syn::Error::new_spanned(
                &attr,
                "a second test attribute: `#[scope::test]` registers the test already; \
                 remove this one",
            ));
        }
    }
    let test_attr = (host == MacroKind::Test).then(|| quote!(#[::core::prelude::v1::test]));
    let name_of_host = host.macro_name();
    if let Err(e) = valid::is_async(&f.sig, host, false) {
        // A body that builds a runtime and blocks on it (the step before the attribute): the
        // attribute builds one, so that goes too.
        let e = if valid::builds_a_runtime(&f.block) {
            syn::Error::new(
                e.span(),
                format!(
                    "{e}\nhelp: and drop the runtime this body builds: `{name_of_host}` \
                     builds one, and runs the body on it (`rt.block_on(serve())` becomes \
                     `serve().await`)"
                ),
            )
        } else {
            e
        };
        errors.push(e);
        // Without its body: the error above is the only one (a `spawn!` there would say to
        // put `#[scoped]` on it, an `.await` that it is not async).
        *f.block = crate::expand::block_of(quote!({
            ::core::unreachable!("`{}` refused this fn", #name_of_host)
        }));
        let errors = errors_to_tokens(errors);
        return Err(quote!(#test_attr #f #errors));
    }
    if let Err(e) = valid::no_params(&f.sig, host).and_then(|()| valid::not_unsafe(&f.sig, host)) {
        errors.push(e);
        // The fn without them (or `unsafe`), and without its body: the error above is the only
        // one (rustc's "`main` function has wrong type" or "functions used as tests can not
        // have any arguments" would follow it).
        f.sig.inputs.clear();
        f.sig.generics = syn::Generics::default();
        f.sig.unsafety = None;
        f.sig.asyncness = None;
        *f.block = crate::expand::block_of(quote!({
            ::core::unreachable!("`{}` refused this fn", #name_of_host)
        }));
        let errors = errors_to_tokens(errors);
        return Err(quote!(#test_attr #f #errors));
    }
    if host == MacroKind::Main {
        if let Err(e) = valid::main_returns(&f.sig) {
            errors.push(e);
            // The fn as a plain `main` (of the same type, unless it is an `impl Trait` that
            // the stub would leave to infer): the error above is the only one.
            if valid::return_type_has_impl(&f.sig) {
                f.sig.output = syn::ReturnType::Default;
            }
            f.sig.asyncness = None;
            *f.block = crate::expand::block_of(quote!({
                ::core::unreachable!("`#[scope::main]` refused this fn")
            }));
            let errors = errors_to_tokens(errors);
            return Err(quote!(#f #errors));
        }
    }
    let runtime = runtime(&opts, default);
    Ok(Entry {
        f,
        opts,
        errors,
        runtime,
    })
}

/// Attributes on the fn that this one makes pointless: `#[scoped]` below it (it would see the
/// plain `fn` made here), and this attribute written twice.
fn stray_attributes(f: &mut syn::ItemFn, host: MacroKind, errors: &mut Vec<syn::Error>) {
    // The opt-out on the fn itself, which it does nothing on.
    if let Some(i) = f
        .attrs
        .iter()
        .position(|a| crate::ast::attr_is(a, "allow_orphan"))
    {
        let attr = f.attrs.remove(i);
        errors.push(syn::Error::new_spanned(&attr, allow_orphan_on_entry(host)));
    }
    // `#[scoped]` below this attribute would see the plain `fn` made here.
    if let Some(i) = f
        .attrs
        .iter()
        .position(|a| crate::ast::attr_is(a, "scoped"))
    {
        let attr = f.attrs.remove(i);
        let name = host.macro_name();
        let help = if host == MacroKind::Main {
            format!(
                "help: `{name}` runs its body as a scope already: give it the options instead \
                 (`{}(limit = 4, timeout = 5s)]`)",
                name.trim_end_matches(']')
            )
        } else {
            format!("help: write `#[scoped]` on the line above `{name}`")
        };
        let headline = if host == MacroKind::Main {
            format!("`#[scoped]` is not needed on `{name}`, and cannot go below it")
        } else {
            format!("`#[scoped]` goes above `{name}`")
        };
        errors.push(syn::Error::new_spanned(
            &attr,
            format!(
                "{headline}: attributes expand from the top, and `{name}` makes the `async fn` \
                 a plain `fn` before `#[scoped]` would see it\n{help}"
            ),
        ));
    }
    // Written twice: the second would see the plain `fn` the first made.
    if host == MacroKind::Main {
        if let Some(i) = f
            .attrs
            .iter()
            .position(|a| crate::ast::attr_is(a, "main") && !is_tokio_entry(a))
        {
            let attr = f.attrs.remove(i);
            errors.push(syn::Error::new_spanned(
                &attr,
                "`#[scope::main]` is written twice: remove this one",
            ));
        }
    }
}

/// `Builder::new_*().worker_threads(..).start_paused(..).enable_all().build()`.
fn runtime(opts: &Options, default: Flavor) -> TokenStream {
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

/// `#[scope::main]`: a tokio runtime, an application with a root scope, the configured
/// signals as a shutdown cause with the grace, then the exit code the end calls for. With no
/// return type, the body is run as `async { BODY }.await; Ok(())`.
/// The application's configuration: its grace and the signals that start its shutdown.
fn main_config(krate: &TokenStream, opts: &Options) -> TokenStream {
    let mut main_config = quote!(#krate::__private::MainConfig::new());
    if let Some((g, span)) = &opts.grace {
        let g = duration(krate, g);
        main_config.extend(quote_spanned!(*span=> .grace(#g)));
    }
    if let Some((signals, span)) = &opts.signals {
        let signals = signals.iter().map(|s| {
            let variant = format_ident!(
                "{}",
                match s {
                    MainSignal::Interrupt => "Interrupt",
                    MainSignal::Terminate => "Terminate",
                    MainSignal::Hangup => "Hangup",
                }
            );
            quote!(#krate::__private::Signal::#variant)
        });
        main_config.extend(quote_spanned!(*span=> .signals(&[#(#signals),*])));
    }
    main_config
}

/// The main scope's body: the fn's, run by `kept` (a `scope::entry::BodyError`) when the fn
/// returns a value, which keeps the line `line` makes of the error the body returns (`err`
/// names it).
fn main_body(
    krate: &TokenStream,
    body: &syn::Block,
    ret: Option<&syn::Type>,
    kept: &proc_macro2::Ident,
    err: &proc_macro2::Ident,
    line: &TokenStream,
) -> syn::Block {
    let Some(ty) = ret else {
        return crate::expand::block_of(quote!({
            async #body.await;
            #krate::__private::Result::Ok::<(), #krate::__private::Interrupted>(())
        }));
    };
    // The call is placed on the body (a body of the wrong type is told so there), its holder
    // in parentheses placed there too (it resolves where it was declared), and borrowed: the
    // inherent `run` is then found before a trait's `run(self)` that the user's module may
    // implement for every type.
    let at = body.span();
    let mut holder = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, quote!(&#kept));
    holder.set_span(at);
    // The fn's return type is said for the body where its syntax needs it, as a scope's is
    // (not a type that names an `impl Trait`: a `let` cannot).
    let inner = if crate::expand::names_impl_trait(ty) {
        quote!(#body)
    } else {
        crate::expand::typed_result_body(krate, quote!(#ty), body)
    };
    crate::expand::block_of(quote_spanned!(at=> {
        #holder
            .run::<_, <#ty as #krate::ScopeResult>::Error>(async #inner, |#err| #line)
            .await
    }))
}

pub(crate) fn main(args: TokenStream, input: TokenStream) -> TokenStream {
    let Entry {
        mut f,
        mut opts,
        mut errors,
        runtime,
    } = match build(args, input, MacroKind::Main, Flavor::MultiThread) {
        Ok(entry) => entry,
        Err(out) => return out,
    };
    // The options' expressions run inside the application's scope: the orphan lint reads them.
    errors.extend(Rewriter::lint_exprs(opts.exprs_mut()));
    let (rewrite_errors, provided_used) = Rewriter::run(&mut f.block, &opts, Some(&f.sig));
    errors.extend(rewrite_errors);
    let proof = (provided_used || opts.slots.is_some()).then_some(Proof {
        param: None,
        keys: Vec::new(),
    });
    let krate = opts.krate();
    let name = crate::lint::unraw(&f.sig.ident);
    // The grace serves the application and the main scope: an expression is evaluated once,
    // before the runtime runs anything, and both read its value.
    let grace = format_ident!("__grace", span = Span::mixed_site());
    let grace_once = match &mut opts.grace {
        Some((crate::options::DurationValue::Expr(e), _)) => {
            let once = std::mem::replace(e, syn::parse_quote!(#grace));
            Some(quote!(let #grace = #once;))
        }
        _ => None,
    };
    // The main scope's body and children drain within the program's grace after a signal
    // (its shutdown grace); any other cancel (a failure, a panic, its deadline) gives the
    // grace of any scope, zero: a crash does not wait for the drain budget.
    let given_grace = opts.grace.take();
    let mut config = config(&opts, Some(&name), f.sig.ident.span());
    match &given_grace {
        Some((g, span)) => {
            let g = duration(&krate, g);
            config.extend(quote_spanned!(*span=> .shutdown_grace(#g)));
        }
        None => config.extend(quote!(.shutdown_grace(#krate::__private::DEFAULT_MAIN_GRACE))),
    }
    opts.grace = given_grace;
    let main_config = main_config(&krate, &opts);
    let unit = match &f.sig.output {
        syn::ReturnType::Default => true,
        syn::ReturnType::Type(_, t) => matches!(&**t, syn::Type::Tuple(t) if t.elems.is_empty()),
    };
    let body = &f.block;
    let rt = format_ident!("__rt", span = Span::mixed_site());
    let err = format_ident!("__error", span = Span::mixed_site());
    let kept = format_ident!("__body_error", span = Span::mixed_site());
    // An error as one line (with its `source()` chain when it implements `Error`).
    let line = quote! {{
        #[allow(unused_imports)]
        use #krate::__private::{ViaBoxedError as _, ViaDisplay as _, ViaError as _};
        (&#krate::__private::ErrorLine(#err)).line()
    }};
    // The main scope's outcome, read with the scope's context after the run (was its error
    // the shutdown's interruption?), its error as one line, and the error its body returned
    // (which the scope drops when it reads it as the interruption).
    let outcome = |run: TokenStream, scope: &proc_macro2::Ident| {
        quote! {
            #krate::__private::MainOutcome::of_scope(#run, #scope, |#err| #line)
                .with_body_error(#kept)
        }
    };
    // The scope's error type is read from the fn's return type (the run's output is not
    // the fn's value any more, so nothing else pins it).
    let ret = match &f.sig.output {
        syn::ReturnType::Type(_, t) if !unit => Some(((**t).clone(), t.span())),
        _ => None,
    };
    let block = main_body(
        &krate,
        body,
        ret.as_ref().map(|(t, _)| t),
        &kept,
        &err,
        &line,
    );
    let error_of = ret.as_ref().map(|(t, span)| (t, *span));
    let inner = scope_body_then(&opts, &config, &block, proof.as_ref(), error_of, outcome);
    let entry = quote!(#krate::__private::main_entry(#rt, #main_config, async {
        let #kept = #krate::__private::BodyError::new();
        #inner
    }));
    let value = if unit {
        entry
    } else {
        quote!(#krate::__private::Result::Ok(#entry))
    };
    f.sig.asyncness = None;
    *f.block = crate::expand::block_of(quote!({
        let #rt = #runtime;
        #grace_once
        #value
    }));
    let errors = errors_to_tokens(errors);
    quote!(#f #errors)
}

/// `#[scope::test]`: tokio's test runtime plus the no-leak check after the body.
pub(crate) fn test(args: TokenStream, input: TokenStream) -> TokenStream {
    let Entry {
        mut f,
        opts,
        mut errors,
        runtime,
    } = match build(args, input, MacroKind::Test, Flavor::CurrentThread) {
        Ok(entry) => entry,
        Err(out) => return out,
    };
    // A test's body is not a scope's: the orphan lint does not read it, and rustc would refuse
    // the opt-out on a statement with a message that does not name the rule.
    // Under a statement's `cfg`, the error holds only where the statement is compiled in.
    let mut cfg_errors = TokenStream::new();
    for (attr, cfgs) in crate::rewrite::take_unread_opt_outs(&mut f.block) {
        let e = syn::Error::new_spanned(&attr, ALLOW_ORPHAN_IN_TEST);
        if cfgs.is_empty() {
            errors.push(e);
        } else {
            let e = e.to_compile_error();
            cfg_errors.extend(quote!(#(#cfgs)* #e));
        }
    }
    let krate = opts.krate();
    let body = &f.block;
    let rt = format_ident!("__rt", span = Span::mixed_site());
    let leaks = format_ident!("__leaks", span = Span::mixed_site());
    let out = format_ident!("__out", span = Span::mixed_site());
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
    quote!(#[::core::prelude::v1::test] #f #errors #cfg_errors)
}

/// `#[tokio::main]` / `#[tokio::test]` with an entry attribute of ours, which builds the
/// runtime itself: below it, the attribute is taken off with an error; above it, it made the
/// fn a plain one, which is handed back with the error.
fn no_tokio_entry(
    f: &mut syn::ItemFn,
    host: MacroKind,
    errors: &mut Vec<syn::Error>,
) -> Result<(), TokenStream> {
    // tokio's own entry attribute below this one: this one builds the runtime already.
    if let Some(i) = f.attrs.iter().position(is_tokio_entry) {
        let attr = f.attrs.remove(i);
        errors.push(syn::Error::new_spanned(
            &attr,
            format!(
                "`{}` builds its own tokio runtime: remove this attribute\n\
                 help: choose the runtime with the options instead (`flavor = \"current_thread\"`, \
                 `worker_threads = 2`{})",
                host.macro_name(),
                if host == MacroKind::Test {
                    ", `start_paused = true`"
                } else {
                    ""
                }
            ),
        ));
    }
    // ...or above it: it made the `async fn` a plain `fn` blocking on its runtime.
    if f.sig.asyncness.is_none() && valid::made_by_an_entry_attribute(&f.block) {
        let name = host.macro_name();
        errors.push(syn::Error::new(
            f.sig.fn_token.span,
            format!(
                "`{name}` builds its own tokio runtime, and an entry attribute above it \
                 (`#[tokio::main]`, `#[tokio::test]`) has already made this `async fn` a plain \
                 `fn` blocking on another\n\
                 help: remove that attribute: `{name}` runs the body on a runtime, as a scope"
            ),
        ));
        let errors = errors_to_tokens(std::mem::take(errors));
        return Err(quote!(#f #errors));
    }
    Ok(())
}

/// `#[tokio::main]` or `#[tokio::test]` (spelled with its crate).
pub(crate) fn is_tokio_entry(a: &syn::Attribute) -> bool {
    let segments = &a.path().segments;
    segments.len() == 2
        && segments[0].ident == "tokio"
        && (segments[1].ident == "main" || segments[1].ident == "test")
}

/// What `#[scope::allow_orphan]` on a statement of a `#[scope::test]`'s body is told.
const ALLOW_ORPHAN_IN_TEST: &str = "`#[scope::allow_orphan]` does nothing in `#[scope::test]`'s \
     body: the orphan lint reads the bodies of scopes (`scope!`, `#[scoped]`, `#[scope::main]`), \
     and a test's body is not one, so a task started here is not refused; the test's check that \
     no task outlives it runs after the test, with no opt-out\n\
     help: remove the attribute, and join or cancel the task before the test returns (start it \
     in a `scope!`), or make a test that leaves tasks running a `#[tokio::test]`";

/// What `#[scope::allow_orphan]` on `#[scope::main]` or `#[scope::test]`'s fn is told (it does
/// nothing there).
pub(crate) fn allow_orphan_on_entry(host: MacroKind) -> String {
    let name = host.macro_name();
    if host == MacroKind::Test {
        format!(
            "`#[scope::allow_orphan]` does nothing on `{name}`'s fn: it opts one statement of a \
             scope's body out of the orphan lint, and the test's check that no task outlives \
             it runs after the test, with no opt-out\n\
             help: join or cancel what the test starts before it returns (start it in a \
             `scope!`), or make a test that leaves tasks running a `#[tokio::test]`"
        )
    } else {
        format!(
            "`#[scope::allow_orphan]` does nothing on `{name}`'s fn: it opts one statement of a \
             scope's body out of the orphan lint\n\
             help: mark the statement that starts the task instead"
        )
    }
}
