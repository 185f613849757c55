//! Options: `name`, `policy`, `limit`, `timeout`, `deadline`, `grace`, `local`, `slots(..)`,
//! `handle`, `error`, `crate`, and the entry points' `flavor`, `worker_threads`,
//! `start_paused`: one table ([`OPTIONS`]) says which macro takes which key, what a value
//! looks like, what users call it elsewhere, and how it is parsed.
//!
//! Parsing never stops at the first problem: each option is parsed on its own, a broken one
//! is skipped up to the next comma, and every problem is kept (with the narrowest span) so the
//! user sees them all at once. Each option keeps the span of its key, for the checks of
//! [`crate::valid`] and for the messages.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token, Type};

/// Which macro the options belong to: each accepts its own set of keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MacroKind {
    /// `#[scoped(...)]`.
    Scoped,
    /// The header of `scope!(...)`.
    ScopeMacro,
    /// `#[scope::main(...)]`.
    Main,
    /// `#[scope::test(...)]`.
    Test,
}

impl MacroKind {
    pub(crate) fn macro_name(self) -> &'static str {
        match self {
            MacroKind::Scoped => "#[scoped]",
            MacroKind::ScopeMacro => "scope!",
            MacroKind::Main => "#[scope::main]",
            MacroKind::Test => "#[scope::test]",
        }
    }

    /// The keys this macro accepts, in the table's order.
    pub(crate) fn keys(self) -> Vec<&'static str> {
        OPTIONS
            .iter()
            .filter(|s| s.hosts.contains(&self))
            .map(|s| s.key)
            .collect()
    }
}

/// The scope's failure policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PolicyKind {
    FailFast,
    Supervise,
    FirstOk,
}

/// The runtime flavor of the entry points.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

/// A signal that starts `#[scope::main]`'s shutdown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MainSignal {
    Interrupt,
    Terminate,
    Hangup,
}

/// A duration option's value.
#[derive(Clone)]
pub(crate) enum DurationValue {
    /// A literal with a unit, such as `250ms`, resolved to nanoseconds at compile time.
    Literal { nanos: u128, span: Span },
    /// Any other expression of type `Duration`.
    Expr(Expr),
}

/// A number option's value (`limit`, `worker_threads`).
#[derive(Clone)]
pub(crate) enum CountValue {
    Literal { value: usize, span: Span },
    Expr(Expr),
}

/// One slot binding: `NAME = expr`.
#[derive(Clone)]
pub(crate) struct SlotBinding {
    pub(crate) slot: Path,
    pub(crate) value: Expr,
}

/// The options as written, each with the span of its key.
#[derive(Default, Clone)]
pub(crate) struct Options {
    /// The fn (or every fn of the block) is marked `#[scope::allow_orphan]`: the orphan lint
    /// is off in its whole body. Not an option the user writes: the attribute on the fn (or
    /// the item), read by the expansion.
    pub(crate) allow_orphan: bool,
    pub(crate) name: Option<(Expr, Span)>,
    pub(crate) policy: Option<(PolicyKind, Span)>,
    pub(crate) limit: Option<(CountValue, Span)>,
    pub(crate) timeout: Option<(DurationValue, Span)>,
    pub(crate) deadline: Option<(Expr, Span)>,
    pub(crate) grace: Option<(DurationValue, Span)>,
    /// `shutdown_grace = ..`: a scope's grace when the application's shutdown cancels it (a
    /// scope's only: `#[scope::main]`'s `grace` is that already).
    pub(crate) shutdown_grace: Option<(DurationValue, Span)>,
    pub(crate) local: Option<Span>,
    pub(crate) slots: Option<(Vec<SlotBinding>, Span)>,
    /// `handle = s`: the name the body gives the scope's handle.
    pub(crate) handle: Option<(Ident, Span)>,
    /// `error = E`: the scope's error type (`scope!` only; a fn says it in its return type).
    pub(crate) error: Option<(Type, Span)>,
    pub(crate) krate: Option<(Path, Span)>,
    pub(crate) flavor: Option<(Flavor, Span)>,
    pub(crate) worker_threads: Option<(CountValue, Span)>,
    pub(crate) start_paused: Option<(bool, Span)>,
    /// `signals = [..]`: what starts `#[scope::main]`'s shutdown.
    pub(crate) signals: Option<(Vec<MainSignal>, Span)>,
}

impl Options {
    pub(crate) fn policy(&self) -> PolicyKind {
        self.policy.map_or(PolicyKind::FailFast, |(p, _)| p)
    }

    pub(crate) fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The path of the facade: `::scope` unless `crate = path` says otherwise.
    pub(crate) fn krate(&self) -> TokenStream {
        if let Some((path, _)) = &self.krate {
            quote::quote!(#path)
        } else {
            quote::quote!(::scope)
        }
    }

    /// The expressions of the options whose values the fn evaluates (for the check of stray
    /// identifiers), with their keys.
    pub(crate) fn value_exprs(&self) -> Vec<(&'static str, &Expr)> {
        fn count(v: &CountValue) -> Option<&Expr> {
            match v {
                CountValue::Expr(e) => Some(e),
                CountValue::Literal { .. } => None,
            }
        }
        fn duration(v: &DurationValue) -> Option<&Expr> {
            match v {
                DurationValue::Expr(e) => Some(e),
                DurationValue::Literal { .. } => None,
            }
        }
        let mut out = Vec::new();
        if let Some(e) = self.limit.as_ref().and_then(|(v, _)| count(v)) {
            out.push(("limit", e));
        }
        if let Some(e) = self.worker_threads.as_ref().and_then(|(v, _)| count(v)) {
            out.push(("worker_threads", e));
        }
        if let Some(e) = self.timeout.as_ref().and_then(|(v, _)| duration(v)) {
            out.push(("timeout", e));
        }
        if let Some(e) = self.grace.as_ref().and_then(|(v, _)| duration(v)) {
            out.push(("grace", e));
        }
        if let Some(e) = self.shutdown_grace.as_ref().and_then(|(v, _)| duration(v)) {
            out.push(("shutdown_grace", e));
        }
        if let Some((e, _)) = &self.deadline {
            out.push(("deadline", e));
        }
        out
    }

    /// Every expression the options hold (for the orphan lint: they run in the fn too).
    pub(crate) fn exprs_mut(&mut self) -> Vec<&mut Expr> {
        let mut out = Vec::new();
        if let Some((e, _)) = &mut self.name {
            out.push(e);
        }
        for v in [&mut self.limit, &mut self.worker_threads]
            .into_iter()
            .flatten()
        {
            if let CountValue::Expr(e) = &mut v.0 {
                out.push(e);
            }
        }
        for v in [&mut self.timeout, &mut self.grace, &mut self.shutdown_grace]
            .into_iter()
            .flatten()
        {
            if let DurationValue::Expr(e) = &mut v.0 {
                out.push(e);
            }
        }
        if let Some((e, _)) = &mut self.deadline {
            out.push(e);
        }
        if let Some((bindings, _)) = &mut self.slots {
            out.extend(bindings.iter_mut().map(|b| &mut b.value));
        }
        out
    }
}

/// How an option is written after its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `local`: the key alone.
    Flag,
    /// `slots(A = a, ..)`: a parenthesized list.
    List,
    /// `key = expression`.
    Expr,
    /// `key = Type`.
    Type,
}

/// What an option's value is, parsed.
enum Value {
    None,
    List(TokenStream),
    Expr(Expr),
    Type(Type),
}

/// One row of the table.
pub(crate) struct Spec {
    pub(crate) key: &'static str,
    hosts: &'static [MacroKind],
    form: Form,
    /// What a value looks like, for the messages.
    pub(crate) example: &'static str,
    /// What users call this option elsewhere.
    aliases: &'static [&'static str],
    /// Stores the parsed value in the options.
    set: fn(&mut Options, Value, Span) -> syn::Result<()>,
}

const ALL: &[MacroKind] = &[MacroKind::Scoped, MacroKind::ScopeMacro, MacroKind::Main];
const SCOPES: &[MacroKind] = &[MacroKind::Scoped, MacroKind::ScopeMacro];
const ENTRIES: &[MacroKind] = &[MacroKind::Main, MacroKind::Test];

/// Every option of every macro.
pub(crate) const OPTIONS: &[Spec] = &[
    Spec {
        key: "name",
        hosts: ALL,
        form: Form::Expr,
        example: "a string such as `name = \"fetch-user\"`",
        aliases: &["label"],
        set: |o, v, span| put(&mut o.name, name_value(expr(v))?, span, "name"),
    },
    Spec {
        key: "policy",
        hosts: SCOPES,
        form: Form::Expr,
        example: "one of `policy = fail_fast` (the default), `policy = supervise`, `policy = first_ok`",
        aliases: &["mode", "on_error", "strategy", "on_failure"],
        set: |o, v, span| put(&mut o.policy, policy_value(&expr(v))?, span, "policy"),
    },
    Spec {
        key: "limit",
        hosts: ALL,
        form: Form::Expr,
        example: "a positive integer such as `limit = 8`",
        aliases: &[
            "concurrency",
            "max_concurrency",
            "parallelism",
            "max_tasks",
            "max_children",
            "permits",
        ],
        set: |o, v, span| put(&mut o.limit, count_value(expr(v), "limit")?, span, "limit"),
    },
    Spec {
        key: "timeout",
        hosts: ALL,
        form: Form::Expr,
        example: "a duration such as `timeout = 5s`, `timeout = 250ms` or `timeout = Duration::from_secs(5)`",
        aliases: &["timeout_ms", "timeout_secs", "within"],
        set: |o, v, span| {
            put(&mut o.timeout, duration_value(expr(v), "timeout")?, span, "timeout")
        },
    },
    Spec {
        key: "deadline",
        hosts: SCOPES,
        form: Form::Expr,
        example: "a `tokio::time::Instant` expression such as `deadline = start + budget`",
        aliases: &["until"],
        set: |o, v, span| put(&mut o.deadline, deadline_value(expr(v))?, span, "deadline"),
    },
    Spec {
        key: "grace",
        hosts: ALL,
        form: Form::Expr,
        example: "a duration such as `grace = 100ms`, `grace = 2s` or `grace = Duration::from_millis(100)`",
        aliases: &["grace_period", "drain", "shutdown_grace"],
        set: |o, v, span| put(&mut o.grace, duration_value(expr(v), "grace")?, span, "grace"),
    },
    Spec {
        key: "shutdown_grace",
        hosts: SCOPES,
        form: Form::Expr,
        example: "a duration such as `shutdown_grace = 5s` or `shutdown_grace = Duration::from_secs(5)` (the grace when the application's shutdown cancels the scope)",
        aliases: &["drain_grace", "shutdown_timeout"],
        set: |o, v, span| {
            let value = duration_value(expr(v), "shutdown_grace")?;
            put(&mut o.shutdown_grace, value, span, "shutdown_grace")
        },
    },
    Spec {
        key: "local",
        hosts: SCOPES,
        form: Form::Flag,
        example: "`local` alone (it makes a scope whose children need not be `Send`)",
        aliases: &["not_send", "unsend"],
        set: |o, _, span| {
            if o.local.is_some() {
                return Err(syn::Error::new(
                    span,
                    "duplicate option `local`: it is already set; remove one of the two",
                ));
            }
            o.local = Some(span);
            Ok(())
        },
    },
    Spec {
        key: "slots",
        hosts: ALL,
        form: Form::List,
        example: "a list of bindings such as `slots(REQUEST_ID = id, TENANT = tenant)`",
        aliases: &["slot", "bind", "bindings", "values"],
        set: |o, v, span| {
            let Value::List(tokens) = v else {
                return unreachable_value();
            };
            put(&mut o.slots, parse_slots.parse2(tokens)?, span, "slots")
        },
    },
    Spec {
        key: "handle",
        hosts: &[MacroKind::Scoped],
        form: Form::Expr,
        example: "a name for the scope's handle, such as `handle = s` (then `s.cancel(..)`, `s.is_closed()`, `s.cx()` in the body)",
        aliases: &["scope", "as", "bind_scope"],
        set: |o, v, span| put(&mut o.handle, handle_value(&expr(v))?, span, "handle"),
    },
    Spec {
        key: "error",
        hosts: &[MacroKind::ScopeMacro],
        form: Form::Type,
        example: "the scope's error type, such as `error = AppError`",
        aliases: &["err", "error_type", "output"],
        set: |o, v, span| {
            let Value::Type(ty) = v else {
                return unreachable_value();
            };
            if matches!(ty, syn::Type::Infer(_)) {
                return Err(syn::Error::new_spanned(
                    ty,
                    "`error = _` names no type: name the scope's error type, such as \
                     `error = AppError`, or leave `error` out to take it from the body's `Result`",
                ));
            }
            put(&mut o.error, ty, span, "error")
        },
    },
    Spec {
        key: "crate",
        hosts: &[
            MacroKind::Scoped,
            MacroKind::ScopeMacro,
            MacroKind::Main,
            MacroKind::Test,
        ],
        form: Form::Expr,
        example: "a path to the `scope` crate, such as `crate = my_scope`",
        aliases: &["krate", "scope_crate"],
        set: |o, v, span| put(&mut o.krate, crate_value(expr(v))?, span, "crate"),
    },
    Spec {
        key: "flavor",
        hosts: ENTRIES,
        form: Form::Expr,
        example: "`flavor = \"current_thread\"` or `flavor = \"multi_thread\"`",
        aliases: &["runtime", "rt"],
        set: |o, v, span| put(&mut o.flavor, flavor_value(&expr(v))?, span, "flavor"),
    },
    Spec {
        key: "worker_threads",
        hosts: ENTRIES,
        form: Form::Expr,
        example: "a positive integer such as `worker_threads = 4`",
        aliases: &["threads", "workers"],
        set: |o, v, span| {
            let n = count_value(expr(v), "worker_threads")?;
            put(&mut o.worker_threads, n, span, "worker_threads")
        },
    },
    Spec {
        key: "signals",
        hosts: &[MacroKind::Main],
        form: Form::Expr,
        example: "a list of `interrupt` (SIGINT, Ctrl-C), `terminate` (SIGTERM) and `hangup` (SIGHUP), such as `signals = [interrupt, terminate]` (the default)",
        aliases: &["signal", "shutdown_signals", "on_signals", "stop_signals"],
        set: |o, v, span| put(&mut o.signals, signals_value(&expr(v))?, span, "signals"),
    },
    Spec {
        key: "start_paused",
        hosts: &[MacroKind::Test],
        form: Form::Expr,
        example: "`start_paused = true` or `start_paused = false`",
        aliases: &["paused", "pause"],
        set: |o, v, span| {
            let b = bool_value(&expr(v), "start_paused")?;
            put(&mut o.start_paused, b, span, "start_paused")
        },
    },
];

/// The row of `key`.
pub(crate) fn spec(key: &str) -> Option<&'static Spec> {
    OPTIONS.iter().find(|s| s.key == key)
}

fn expr(v: Value) -> Expr {
    match v {
        Value::Expr(e) => e,
        Value::Type(t) => Expr::Verbatim(quote::ToTokens::into_token_stream(t)),
        Value::List(tokens) => Expr::Verbatim(tokens),
        Value::None => Expr::Verbatim(TokenStream::new()),
    }
}

fn unreachable_value<T>() -> syn::Result<T> {
    Err(syn::Error::new(
        Span::call_site(),
        "internal: an option's value does not match its form",
    ))
}

fn put<T>(slot: &mut Option<(T, Span)>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("duplicate option `{name}`: it is already set; remove one of the two"),
        ));
    }
    *slot = Some((value, span));
    Ok(())
}

/// Parses options from an attribute's arguments.
pub(crate) fn parse_attr_args(args: TokenStream, host: MacroKind) -> (Options, Vec<syn::Error>) {
    let mut opts = Options::default();
    let mut errors = Vec::new();
    let parser = |input: ParseStream<'_>| {
        parse_entries(input, host, &mut opts, &mut errors, false);
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    (opts, errors)
}

/// Parses `key = value, ...` entries until the input ends or, with `stop_at_body`, until the
/// body of `scope!` (a `{ ... }` block or a `|s| { ... }` closure).
pub(crate) fn parse_entries(
    input: ParseStream<'_>,
    host: MacroKind,
    opts: &mut Options,
    errors: &mut Vec<syn::Error>,
    stop_at_body: bool,
) {
    let at_end = |input: ParseStream<'_>| {
        input.is_empty()
            || (stop_at_body
                && (input.peek(syn::token::Brace)
                    || input.peek(Token![|])
                    // `async { .. }`, `move |s| ..`: a body written as a closure or block would
                    // be (told apart by `scope!` itself).
                    || input.peek(Token![async])
                    || input.peek(Token![move])
                    || body_prefix(input)))
    };
    loop {
        if at_end(input) {
            return;
        }
        if let Err(e) = parse_entry(input, host, opts, stop_at_body) {
            errors.push(e);
            skip_to_comma(input);
        }
        if at_end(input) {
            return;
        }
        if input.peek(Token![,]) {
            let _: syn::Result<Token![,]> = input.parse();
        } else {
            errors.push(input.error(if stop_at_body {
                "expected `,` between options, and the body as a block: `scope!(limit = 4, { ... })`"
            } else {
                "expected `,` between options"
            }));
            skip_to_comma(input);
            if input.peek(Token![,]) {
                let _: syn::Result<Token![,]> = input.parse();
            }
        }
    }
}

/// Whether `input` starts a block that is not a plain one, as a body would be written
/// (`unsafe { .. }`, `const { .. }`, `'label: { .. }`, `#[attr] { .. }`): `scope!` says where
/// that block goes.
pub(crate) fn body_prefix(input: ParseStream<'_>) -> bool {
    (input.peek(Token![unsafe]) || input.peek(Token![const])) && input.peek2(syn::token::Brace)
        || input.peek(syn::Lifetime) && input.peek2(Token![:])
        || input.peek(Token![#]) && input.peek2(syn::token::Bracket)
}

/// Skips token trees up to (not including) the next top-level comma.
fn skip_to_comma(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt {
                if p.as_char() == ',' {
                    return Ok(((), rest));
                }
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn parse_entry(
    input: ParseStream<'_>,
    host: MacroKind,
    opts: &mut Options,
    in_expr: bool,
) -> syn::Result<()> {
    let lookahead = input.lookahead1();
    if !(lookahead.peek(Ident::peek_any)) {
        return Err(syn::Error::new(
            input.span(),
            format!(
                "expected an option such as `limit = 4`; {} accepts: {}",
                host.macro_name(),
                list(&host.keys())
            ),
        ));
    }
    let key = Ident::parse_any(input)?;
    let name = key.to_string();
    let span = key.span();
    let Some(spec) = spec(&name).filter(|s| s.hosts.contains(&host)) else {
        // Skip a value, so that the next option is read as one.
        return Err(unknown_key(&key, host));
    };
    let value = match spec.form {
        Form::Flag => {
            if input.peek(Token![=]) {
                return Err(syn::Error::new(
                    span,
                    format!("`{name}` is a flag: write {}", spec.example),
                ));
            }
            Value::None
        }
        Form::List => {
            if !input.peek(syn::token::Paren) {
                return Err(syn::Error::new(
                    span,
                    format!("`{name}` takes {}", spec.example),
                ));
            }
            let content;
            syn::parenthesized!(content in input);
            Value::List(content.parse()?)
        }
        Form::Expr | Form::Type => {
            if !input.peek(Token![=]) || input.peek(Token![==]) {
                return Err(syn::Error::new(
                    span,
                    format!("`{name}` needs a value: {}", spec.example),
                ));
            }
            let _: Token![=] = input.parse()?;
            let expected = |e: syn::Error| {
                syn::Error::new(
                    e.span(),
                    format!("expected a value for `{name}`: {}", spec.example),
                )
            };
            if spec.form == Form::Type {
                Value::Type(input.parse::<Type>().map_err(expected)?)
            } else if in_expr {
                Value::Expr(Expr::parse_without_eager_brace(input).map_err(expected)?)
            } else {
                Value::Expr(input.parse::<Expr>().map_err(expected)?)
            }
        }
    };
    (spec.set)(opts, value, span)
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_key(key: &Ident, host: MacroKind) -> syn::Error {
    let name = key.to_string();
    let keys = host.keys();
    let renamed = OPTIONS
        .iter()
        .find(|s| s.aliases.contains(&name.as_str()) && s.hosts.contains(&host));
    if let Some(new) = renamed {
        return syn::Error::new(
            key.span(),
            format!(
                "unknown option `{name}`: it is called `{}` here, e.g. {}",
                new.key, new.example
            ),
        );
    }
    // Said differently here: what to write instead.
    let instead = match (name.as_str(), host) {
        ("handle", MacroKind::ScopeMacro) => Some(
            "`scope!` names its handle with a closure: `scope!(|s| { .. })`, or `scope!(OPTIONS, |s| { .. })`",
        ),
        ("error", MacroKind::Scoped) => Some(
            "a `#[scoped]` fn's return type sets its error type: `-> Result<T, AppError>`",
        ),
        ("policy", MacroKind::Main) => Some(
            "the program's scope is fail-fast; open a scope with another policy inside `main`: `scope!(policy = supervise, { .. }).await`",
        ),
        ("local", MacroKind::Main) => Some(
            "the program's scope is a default one, whose children are `Send`; for children that are not, open a local scope inside `main`: `scope!(local, { .. }).await`, and start them there with `spawn_in_place!`",
        ),
        _ => None,
    };
    if let Some(instead) = instead {
        return syn::Error::new(
            key.span(),
            format!(
                "`{name}` is not an option of `{}`: {instead}",
                host.macro_name()
            ),
        );
    }
    if let Some(other) = spec(&name) {
        let owners = other
            .hosts
            .iter()
            .map(|h| format!("`{}`", h.macro_name()))
            .collect::<Vec<_>>()
            .join(" and ");
        return syn::Error::new(
            key.span(),
            format!(
                "`{name}` is an option of {owners}, not of `{}`; {} accepts: {}",
                host.macro_name(),
                host.macro_name(),
                list(&keys)
            ),
        );
    }
    let hint = keys
        .iter()
        .filter(|k| edit_distance(k, &name) <= 2)
        .min_by_key(|k| edit_distance(k, &name))
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    syn::Error::new(
        key.span(),
        format!(
            "unknown option `{name}`{hint}; expected one of: {}",
            list(&keys)
        ),
    )
}

fn handle_value(value: &Expr) -> syn::Result<Ident> {
    match value {
        // A path keyword binds nothing (`let self = ..` is not Rust).
        Expr::Path(p)
            if p.qself.is_none()
                && p.path.get_ident().is_some_and(|i| {
                    i == "self" || i == "Self" || i == "super" || i == "crate"
                }) =>
        {
            Err(syn::Error::new_spanned(
                value,
                format!(
                    "`handle = {}`: a keyword cannot name the scope's handle; give it a name, \
                     such as `handle = s`",
                    quote::ToTokens::to_token_stream(value)
                ),
            ))
        }
        Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            p.path.get_ident().cloned().ok_or_else(|| {
                syn::Error::new_spanned(value, "`handle` expects a name, such as `handle = s`")
            })
        }
        other => Err(syn::Error::new_spanned(
            other,
            "`handle` expects a name for the scope's handle, such as `handle = s`",
        )),
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn parse_slots(input: ParseStream<'_>) -> syn::Result<Vec<SlotBinding>> {
    let mut bindings: Vec<SlotBinding> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    if input.is_empty() {
        // (Not `input.error`, which begins "unexpected end of input".)
        return Err(syn::Error::new(
            input.span(),
            "`slots(..)` is empty: bind at least one slot, e.g. `slots(REQUEST_ID = id)`",
        ));
    }
    while !input.is_empty() {
        let slot: Path = input.call(Path::parse_mod_style).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a slot binding `NAME = value`, where `NAME` is a slot declared with `slot!`",
            )
        })?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new_spanned(
                &slot,
                format!(
                    "expected `=` and a value after the slot: `{} = value`",
                    path_string(&slot)
                ),
            ));
        }
        let _: Token![=] = input.parse()?;
        let value: Expr = input.parse()?;
        if let Some(previous) = bindings
            .iter()
            .find(|b| path_key(&b.slot) == path_key(&slot))
        {
            let e = syn::Error::new_spanned(
                &slot,
                format!(
                    "slot `{}` is bound twice; bind each slot once per scope",
                    path_string(&previous.slot)
                ),
            );
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        } else {
            bindings.push(SlotBinding { slot, value });
        }
        if input.is_empty() {
            break;
        }
        let _: Token![,] = input.parse()?;
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(bindings),
    }
}

/// A path as written (`r#type` keeps its `r#`), for messages.
pub(crate) fn path_string(path: &Path) -> String {
    path_with(path, syn::Ident::to_string)
}

/// A path as it is compared: each segment without its `r#` (`r#gen` is `gen`).
pub(crate) fn path_key(path: &Path) -> String {
    path_with(path, crate::lint::unraw)
}

fn path_with(path: &Path, segment: impl Fn(&syn::Ident) -> String) -> String {
    let mut s = String::new();
    if path.leading_colon.is_some() {
        s.push_str("::");
    }
    for (i, seg) in path.segments.iter().enumerate() {
        if i > 0 {
            s.push_str("::");
        }
        s.push_str(&segment(&seg.ident));
    }
    s
}

pub(crate) fn literal_of(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Group(g) => literal_of(&g.expr),
        _ => None,
    }
}

fn name_value(value: Expr) -> syn::Result<Expr> {
    match literal_of(&value) {
        Some(Lit::Str(_)) | None => Ok(value),
        Some(other) => Err(syn::Error::new(
            other.span(),
            "`name` expects a string, such as `name = \"fetch-user\"`",
        )),
    }
}

/// What users may call a policy, and its name here.
fn policy_alias(written: &str) -> Option<&'static str> {
    Some(match written {
        "fail_fast" | "FailFast" | "failfast" | "fail_first" => "fail_fast",
        "supervise" | "Supervise" | "supervised" | "all_settled" | "collect" | "settle" => {
            "supervise"
        }
        "first_ok" | "FirstOk" | "firstok" | "race" | "first_success" | "any" => "first_ok",
        _ => return None,
    })
}

fn policy_value(value: &Expr) -> syn::Result<PolicyKind> {
    const EXPECTED: &str =
        "expected one of: `fail_fast` (the default: the first failure cancels the siblings), \
`supervise` (failures do not cancel siblings; all are collected), \
`first_ok` (the first success wins; the rest are cancelled)";
    if let Some(Lit::Str(s)) = literal_of(value) {
        let written = s.value();
        let fixed = policy_alias(&written).unwrap_or(&written);
        return Err(syn::Error::new(
            s.span(),
            format!("write the policy without quotes: `policy = {fixed}`"),
        ));
    }
    let Expr::Path(p) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!("invalid policy; {EXPECTED}"),
        ));
    };
    let Some(ident) = p.path.get_ident() else {
        return Err(syn::Error::new_spanned(
            value,
            format!("invalid policy; {EXPECTED}"),
        ));
    };
    match crate::lint::unraw(ident).as_str() {
        "fail_fast" => Ok(PolicyKind::FailFast),
        "supervise" => Ok(PolicyKind::Supervise),
        "first_ok" => Ok(PolicyKind::FirstOk),
        other => {
            let suggestion = policy_alias(other);
            let msg = match suggestion {
                Some(s) => format!("unknown policy `{other}`: write `policy = {s}`"),
                None => format!("unknown policy `{other}`; {EXPECTED}"),
            };
            Err(syn::Error::new(ident.span(), msg))
        }
    }
}

/// What a count option written as a literal 0 is told.
fn at_least_one(key: &str) -> String {
    if key == "limit" {
        "`limit` must be at least 1: with `limit = 0` no child could ever start".to_owned()
    } else {
        format!("`{key}` must be at least 1")
    }
}

fn count_value(value: Expr, key: &str) -> syn::Result<CountValue> {
    let expected = spec(key).map_or("", |s| s.example);
    // `(0)` is `0`.
    let mut value = value;
    while let Expr::Paren(p) = value {
        value = *p.expr;
    }
    if let Expr::Unary(u) = &value {
        if matches!(u.op, syn::UnOp::Neg(_)) && literal_of(&u.expr).is_some() {
            return Err(syn::Error::new_spanned(
                &value,
                format!("`{key}` must be at least 1; expected {expected}"),
            ));
        }
    }
    match literal_of(&value) {
        Some(Lit::Int(i)) => {
            if !matches!(i.suffix(), "" | "usize") {
                return Err(syn::Error::new(
                    i.span(),
                    format!("`{key}` is a `usize`: drop the `{}` suffix", i.suffix()),
                ));
            }
            let n: usize = i.base10_parse().map_err(|_| {
                syn::Error::new(
                    i.span(),
                    format!("`{key}` is too large; expected {expected}"),
                )
            })?;
            if n == 0 {
                return Err(syn::Error::new(i.span(), at_least_one(key)));
            }
            Ok(CountValue::Literal {
                value: n,
                span: i.span(),
            })
        }
        Some(other) => Err(syn::Error::new(
            other.span(),
            format!("`{key}` expects {expected}"),
        )),
        None => Ok(CountValue::Expr(value)),
    }
}

/// Units of duration literals: `1ns`, `1us`/`1µs`, `1ms`, `1s`/`1sec`/`1secs`,
/// `1m`/`1min`/`1mins`, `1h`.
fn unit_nanos(suffix: &str) -> Option<u128> {
    Some(match suffix {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" | "sec" | "secs" => 1_000_000_000,
        "m" | "min" | "mins" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

const UNITS: &str = "`ns`, `us`, `ms`, `s`, `min`, `h`";

/// The nanoseconds a decimal literal's digits (`1.5`, `2e-3`, as rustc hands them over)
/// times `unit` make, exactly: `Err` when that is not a whole number (`0.4ns`), `None` when
/// it is too large to count.
fn exact_nanos(digits: &str, unit: u128) -> Option<Result<u128, ()>> {
    let (mantissa, exp) = digits.split_once(['e', 'E']).unwrap_or((digits, "0"));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The significant digits, without the zeros that do not count (`0.50`, `1.000..0`); a
    // whole number's own trailing zeros go to the exponent (`1000..0e-40`).
    let fraction = fraction.trim_end_matches('0');
    let (whole, shift) = if fraction.is_empty() {
        let kept = whole.trim_end_matches('0');
        (kept, whole.len() - kept.len())
    } else {
        (whole, 0)
    };
    let significant = format!("{whole}{fraction}");
    let significant = significant.trim_start_matches('0');
    if significant.is_empty() {
        return Some(Ok(0));
    }
    let Ok(exp) = exp.parse::<i64>() else {
        // An exponent past any count: a value too small to be a nanosecond, or too large.
        return if exp.starts_with('-') {
            Some(Err(()))
        } else {
            None
        };
    };
    let Ok(scaled) = significant.parse::<u128>() else {
        // More significant digits than a count holds: under 10^20 units (whose last digit is
        // then below a nanosecond, for every unit) a fraction of a nanosecond; past it, more
        // nanoseconds than a `Duration` literal takes.
        let whole_digits = i64::try_from(whole.trim_start_matches('0').len() + shift).ok()?;
        return if whole_digits.checked_add(exp)? <= 20 {
            Some(Err(()))
        } else {
            None
        };
    };
    let total = scaled.checked_mul(unit)?;
    let exp = exp
        .checked_sub(i64::try_from(fraction.len()).ok()?)?
        .checked_add(i64::try_from(shift).ok()?)?;
    if exp >= 0 {
        let power = 10u128.checked_pow(u32::try_from(exp).ok()?)?;
        return Some(Ok(total.checked_mul(power)?));
    }
    // Past 10^38 the divisor is larger than any total: a fraction.
    let Some(power) = u32::try_from(exp.unsigned_abs())
        .ok()
        .and_then(|e| 10u128.checked_pow(e))
    else {
        return Some(Err(()));
    };
    Some(if total % power == 0 {
        Ok(total / power)
    } else {
        Err(())
    })
}

/// A literal with a unit (`500ms`) somewhere inside `expr`, which is not a literal itself: rustc
/// would only say "invalid suffix".
fn unit_literal_inside(expr: &Expr) -> Option<Span> {
    struct Find(Option<Span>);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_lit(&mut self, lit: &'ast Lit) {
            let suffix = match lit {
                Lit::Int(i) => i.suffix(),
                Lit::Float(f) => f.suffix(),
                _ => "",
            };
            if self.0.is_none() && unit_nanos(suffix).is_some() {
                self.0 = Some(lit.span());
            }
        }
    }
    let mut find = Find(None);
    syn::visit::Visit::visit_expr(&mut find, expr);
    find.0
}

fn duration_value(value: Expr, key: &str) -> syn::Result<DurationValue> {
    let expected = spec(key).map_or("", |s| s.example);
    // `(5s)` is `5s`.
    let mut value = value;
    while let Expr::Paren(p) = value {
        value = *p.expr;
    }
    if let Expr::Unary(u) = &value {
        if matches!(u.op, syn::UnOp::Neg(_)) && literal_of(&u.expr).is_some() {
            return Err(syn::Error::new_spanned(
                &value,
                format!("a duration cannot be negative; expected {expected}"),
            ));
        }
    }
    if let Some(e) = unit_after_a_dot(&value, key) {
        return Err(e);
    }
    if literal_of(&value).is_none() {
        if let Some(span) = unit_literal_inside(&value) {
            return Err(syn::Error::new(
                span,
                format!(
                    "a duration with a unit is a value of its own, not part of an expression: \
                     write `{key} = 1s`, or an expression of type `Duration` \
                     (`{key} = Duration::from_millis(2 * 500)`)"
                ),
            ));
        }
    }
    match literal_of(&value) {
        Some(Lit::Int(i)) => {
            let Some(unit) = unit_nanos(i.suffix()) else {
                let msg = if i.suffix().is_empty() {
                    format!(
                        "a duration needs a unit: write `{key} = {d}s` or `{key} = {d}ms` (units: {UNITS})",
                        d = i.base10_digits()
                    )
                } else {
                    format!("unknown unit `{}`; use one of {UNITS}", i.suffix())
                };
                return Err(syn::Error::new(i.span(), msg));
            };
            let n: u128 = i
                .base10_parse()
                .map_err(|_| syn::Error::new(i.span(), too_large(key)))?;
            let nanos = n
                .checked_mul(unit)
                .filter(|n| *n <= u128::from(u64::MAX))
                .ok_or_else(|| syn::Error::new(i.span(), too_large(key)))?;
            Ok(DurationValue::Literal {
                nanos,
                span: i.span(),
            })
        }
        Some(Lit::Float(f)) => {
            let Some(unit) = unit_nanos(f.suffix()) else {
                return Err(syn::Error::new(
                    f.span(),
                    format!("a duration needs a unit: write e.g. `{key} = 1.5s` (units: {UNITS})"),
                ));
            };
            let nanos = match exact_nanos(f.base10_digits(), unit) {
                Some(Ok(nanos)) if nanos <= u128::from(u64::MAX) => nanos,
                Some(Ok(_)) | None => {
                    return Err(syn::Error::new(f.span(), too_large(key)));
                }
                Some(Err(())) => {
                    return Err(syn::Error::new(
                        f.span(),
                        format!(
                            "this duration is not a whole number of nanoseconds (the \
                             smallest unit a `Duration` counts): round it (`{key} = 1ns` at \
                             least, or `0s`)"
                        ),
                    ));
                }
            };
            Ok(DurationValue::Literal {
                nanos,
                span: f.span(),
            })
        }
        Some(Lit::Str(s)) => Err(syn::Error::new(
            s.span(),
            format!(
                "write the duration without quotes: `{key} = {}`; expected {expected}",
                s.value()
            ),
        )),
        Some(other) => Err(syn::Error::new(
            other.span(),
            format!("`{key}` expects {expected}"),
        )),
        None => Ok(DurationValue::Expr(value)),
    }
}

/// A literal duration past what the expansion's `Duration::from_nanos` takes.
fn too_large(key: &str) -> String {
    format!(
        "this duration is too large for a literal, which counts at most 2^64 - 1 nanoseconds \
         (about 584 years): for a longer one, write an expression of type `Duration` \
         (`{key} = Duration::from_secs(..)`), or `{key} = Duration::MAX` for no limit at all"
    )
}

/// `5.s`: a number, then a field named like a unit.
fn unit_after_a_dot(value: &Expr, key: &str) -> Option<syn::Error> {
    let Expr::Field(f) = value else {
        return None;
    };
    let (Some(Lit::Int(_) | Lit::Float(_)), syn::Member::Named(unit)) =
        (literal_of(&f.base), &f.member)
    else {
        return None;
    };
    unit_nanos(&unit.to_string())?;
    let number = quote::ToTokens::to_token_stream(&f.base).to_string();
    Some(syn::Error::new_spanned(
        value,
        format!(
            "write the number and its unit together, with no dot between them: \
             `{key} = {number}{unit}`"
        ),
    ))
}

fn deadline_value(value: Expr) -> syn::Result<Expr> {
    if let Some(lit) = literal_of(&value) {
        return Err(syn::Error::new(
            lit.span(),
            "`deadline` expects a `tokio::time::Instant` expression; for a bound relative to \
             when the scope starts, write `timeout = 5s`",
        ));
    }
    Ok(value)
}

fn crate_value(value: Expr) -> syn::Result<Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() => Ok(p.path),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => parse_str_path(&s),
        other => Err(syn::Error::new_spanned(
            other,
            "`crate` expects a path to the `scope` crate, such as `crate = my_scope`",
        )),
    }
}

fn parse_str_path(s: &LitStr) -> syn::Result<Path> {
    s.parse_with(Path::parse_mod_style).map_err(|_| {
        syn::Error::new(
            s.span(),
            "`crate` expects a path to the `scope` crate, such as `crate = my_scope`",
        )
    })
}

fn flavor_value(value: &Expr) -> syn::Result<Flavor> {
    let text = match (literal_of(value), value) {
        (Some(Lit::Str(s)), _) => s.value(),
        (None, Expr::Path(p)) if p.path.get_ident().is_some() => p
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default(),
        _ => String::new(),
    };
    match text.as_str() {
        "current_thread" => Ok(Flavor::CurrentThread),
        "multi_thread" => Ok(Flavor::MultiThread),
        _ => Err(syn::Error::new_spanned(
            value,
            "unknown flavor; expected `flavor = \"current_thread\"` or `flavor = \"multi_thread\"`",
        )),
    }
}

fn bool_value(value: &Expr, key: &str) -> syn::Result<bool> {
    match literal_of(value) {
        Some(Lit::Bool(b)) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` expects `true` or `false`"),
        )),
    }
}

/// What users may call a signal, and its name here.
fn signal_alias(written: &str) -> Option<(MainSignal, &'static str)> {
    Some(match written.to_ascii_lowercase().as_str() {
        "interrupt" | "sigint" | "int" | "ctrl_c" | "ctrlc" => (MainSignal::Interrupt, "interrupt"),
        "terminate" | "sigterm" | "term" => (MainSignal::Terminate, "terminate"),
        "hangup" | "sighup" | "hup" => (MainSignal::Hangup, "hangup"),
        _ => return None,
    })
}

fn signals_value(value: &Expr) -> syn::Result<Vec<MainSignal>> {
    const EXPECTED: &str =
        "expected a list of `interrupt` (SIGINT, Ctrl-C), `terminate` (SIGTERM) \
and `hangup` (SIGHUP), such as `signals = [interrupt, terminate]`";
    let Expr::Array(list) = value else {
        return Err(syn::Error::new_spanned(
            value,
            format!("`signals` takes a list in brackets; {EXPECTED}"),
        ));
    };
    if list.elems.is_empty() {
        return Err(syn::Error::new_spanned(
            value,
            "`signals` is empty: name at least one, such as `signals = [terminate]` \
(without any, only the program's own `App::request_shutdown` could start the shutdown)",
        ));
    }
    let mut out: Vec<MainSignal> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for elem in &list.elems {
        let written = match (literal_of(elem), elem) {
            (Some(Lit::Str(s)), _) => Err(s.value()),
            (None, Expr::Path(p)) if p.path.get_ident().is_some() => Ok(p
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default()),
            _ => Err(String::new()),
        };
        let e = match written {
            Ok(name) => match signal_alias(&name) {
                Some((signal, canonical)) if canonical == name => {
                    if out.contains(&signal) {
                        Some(syn::Error::new_spanned(
                            elem,
                            format!("`{name}` is listed twice; list each signal once"),
                        ))
                    } else {
                        out.push(signal);
                        None
                    }
                }
                Some((_, canonical)) => Some(syn::Error::new_spanned(
                    elem,
                    format!("unknown signal `{name}`: write `{canonical}`"),
                )),
                None => Some(syn::Error::new_spanned(
                    elem,
                    format!("unknown signal `{name}`; {EXPECTED}"),
                )),
            },
            Err(text) => Some(syn::Error::new_spanned(
                elem,
                match signal_alias(&text) {
                    Some((_, canonical)) => {
                        format!("write the signal without quotes: `{canonical}`")
                    }
                    None => format!("invalid signal; {EXPECTED}"),
                },
            )),
        };
        if let Some(e) = e {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
