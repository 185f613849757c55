//! Options: `name`, `policy`, `limit`, `timeout`, `deadline`, `grace`, `local`, `slots(..)`,
//! `crate`, and the entry points' `flavor`, `worker_threads`, `start_paused`.
//!
//! Parsing never stops at the first problem: each option is parsed on its own, a broken one
//! is skipped up to the next comma, and every problem is kept (with the narrowest span) so the
//! user sees them all at once. Each option keeps the span of its key, for the checks of
//! [`crate::valid`] and for the messages.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

/// Which macro the options belong to: each accepts its own set of keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ctx {
    /// `#[scoped(...)]`.
    Scoped,
    /// The header of `scope!(...)`.
    ScopeMacro,
    /// `#[scope::main(...)]`.
    Main,
    /// `#[scope::test(...)]`.
    Test,
}

impl Ctx {
    pub(crate) fn macro_name(self) -> &'static str {
        match self {
            Ctx::Scoped => "#[scoped]",
            Ctx::ScopeMacro => "scope!",
            Ctx::Main => "#[scope::main]",
            Ctx::Test => "#[scope::test]",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Ctx::Scoped | Ctx::ScopeMacro => &[
                "name", "policy", "limit", "timeout", "deadline", "grace", "local", "slots",
                "crate",
            ],
            Ctx::Main => &[
                "name",
                "policy",
                "limit",
                "timeout",
                "grace",
                "slots",
                "flavor",
                "worker_threads",
                "crate",
            ],
            Ctx::Test => &["flavor", "worker_threads", "start_paused", "crate"],
        }
    }

    /// Whether an unquoted lone lower-case identifier in a value is a mistake. In the
    /// attributes, only the fn's parameters are in scope when the options are evaluated; in
    /// `scope!`, any local may be.
    fn checks_idents(self) -> bool {
        !matches!(self, Ctx::ScopeMacro)
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
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) name: Option<(Expr, Span)>,
    pub(crate) policy: Option<(PolicyKind, Span)>,
    pub(crate) limit: Option<(CountValue, Span)>,
    pub(crate) timeout: Option<(DurationValue, Span)>,
    pub(crate) deadline: Option<(Expr, Span)>,
    pub(crate) grace: Option<(DurationValue, Span)>,
    pub(crate) local: Option<Span>,
    pub(crate) slots: Option<(Vec<SlotBinding>, Span)>,
    pub(crate) krate: Option<(Path, Span)>,
    pub(crate) flavor: Option<(Flavor, Span)>,
    pub(crate) worker_threads: Option<(CountValue, Span)>,
    pub(crate) start_paused: Option<(bool, Span)>,
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
}

/// In `params`: the options belong to an `impl` block or a `mod`, whose fns each have their own
/// parameters; an identifier may name any of them.
pub(crate) const ANY_PARAM: &str = "*";

/// Parses options from an attribute's arguments. `params` are the names the options may use
/// (the fn's parameters), or [`ANY_PARAM`].
pub(crate) fn parse_attr_args(
    args: TokenStream,
    ctx: Ctx,
    params: &[String],
) -> (Options, Vec<syn::Error>) {
    let mut opts = Options::default();
    let mut errors = Vec::new();
    let parser = |input: ParseStream<'_>| {
        parse_entries(input, ctx, params, &mut opts, &mut errors, false);
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    (opts, errors)
}

/// Parses `key = value, ...` entries until the input ends or, with `stop_at_brace`, until a
/// `{ ... }` block (the body of `scope!`).
pub(crate) fn parse_entries(
    input: ParseStream<'_>,
    ctx: Ctx,
    params: &[String],
    opts: &mut Options,
    errors: &mut Vec<syn::Error>,
    stop_at_brace: bool,
) {
    loop {
        if input.is_empty() || (stop_at_brace && input.peek(syn::token::Brace)) {
            return;
        }
        if let Err(e) = parse_entry(input, ctx, params, opts) {
            errors.push(e);
            skip_to_comma(input);
        }
        if input.is_empty() || (stop_at_brace && input.peek(syn::token::Brace)) {
            return;
        }
        if input.peek(Token![,]) {
            let _: Token![,] = input.parse().expect("peeked");
        } else {
            errors.push(input.error(if stop_at_brace {
                "expected `,` between options, and the body as a block: `scope!(limit = 4, { ... })`"
            } else {
                "expected `,` between options"
            }));
            skip_to_comma(input);
            if input.peek(Token![,]) {
                let _: Token![,] = input.parse().expect("peeked");
            }
        }
    }
}

/// Skips token trees up to (not including) the next top-level comma, or a block when the
/// block is what ends the header.
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

#[allow(clippy::too_many_lines)] // Reason: one arm per option, read top to bottom.
fn parse_entry(
    input: ParseStream<'_>,
    ctx: Ctx,
    params: &[String],
    opts: &mut Options,
) -> syn::Result<()> {
    let lookahead = input.lookahead1();
    if !(lookahead.peek(Ident::peek_any)) {
        return Err(syn::Error::new(
            input.span(),
            format!(
                "expected an option such as `limit = 4`; {} accepts: {}",
                ctx.macro_name(),
                list(ctx.keys())
            ),
        ));
    }
    let key = Ident::parse_any(input)?;
    let name = key.to_string();
    let span = key.span();
    if !ctx.keys().contains(&name.as_str()) {
        return Err(unknown_key(&key, ctx));
    }
    if name == "local" {
        if input.peek(Token![=]) {
            return Err(syn::Error::new(
                span,
                "`local` is a flag: write `local` alone (it makes a scope whose children need not be `Send`)",
            ));
        }
        return set(&mut opts.local, span, span, &name);
    }
    if name == "slots" {
        if !input.peek(syn::token::Paren) {
            return Err(syn::Error::new(
                span,
                "`slots` takes a list of bindings: `slots(REQUEST_ID = id, TENANT = tenant)`",
            ));
        }
        let content;
        syn::parenthesized!(content in input);
        let bindings = parse_slots(&content)?;
        return set(&mut opts.slots, (bindings, span), span, &name);
    }
    if !input.peek(Token![=]) || input.peek(Token![==]) {
        return Err(syn::Error::new(
            span,
            format!("`{name}` needs a value: {}", example(&name)),
        ));
    }
    let _: Token![=] = input.parse()?;
    let value = if matches!(ctx, Ctx::ScopeMacro) {
        Expr::parse_without_eager_brace(input)
    } else {
        input.parse::<Expr>()
    }
    .map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected a value for `{name}`: {}", example(&name)),
        )
    })?;
    let check_idents = ctx.checks_idents();
    match name.as_str() {
        "name" => {
            let v = name_value(value)?;
            set(&mut opts.name, (v, span), span, &name)
        }
        "policy" => {
            let v = policy_value(&value)?;
            set(&mut opts.policy, (v, span), span, &name)
        }
        "limit" => {
            let v = count_value(value, &name, check_idents, params)?;
            set(&mut opts.limit, (v, span), span, &name)
        }
        "worker_threads" => {
            let v = count_value(value, &name, check_idents, params)?;
            set(&mut opts.worker_threads, (v, span), span, &name)
        }
        "timeout" | "grace" => {
            let v = duration_value(value, &name, check_idents, params)?;
            let slot = if name == "timeout" {
                &mut opts.timeout
            } else {
                &mut opts.grace
            };
            set(slot, (v, span), span, &name)
        }
        "deadline" => {
            let v = deadline_value(value, check_idents, params)?;
            set(&mut opts.deadline, (v, span), span, &name)
        }
        "crate" => {
            let v = crate_value(value)?;
            set(&mut opts.krate, (v, span), span, &name)
        }
        "flavor" => {
            let v = flavor_value(&value)?;
            set(&mut opts.flavor, (v, span), span, &name)
        }
        "start_paused" => {
            let v = bool_value(&value, &name)?;
            set(&mut opts.start_paused, (v, span), span, &name)
        }
        _ => Err(unknown_key(&key, ctx)),
    }
}

fn set<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("duplicate option `{name}`: it is already set; remove one of the two"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn example(key: &str) -> &'static str {
    match key {
        "name" => "a string such as `name = \"fetch-user\"`",
        "policy" => "one of `policy = fail_fast` (the default), `policy = supervise`, `policy = first_ok`",
        "limit" => "a positive integer such as `limit = 8`",
        "worker_threads" => "a positive integer such as `worker_threads = 4`",
        "timeout" => "a duration such as `timeout = 5s`, `timeout = 250ms` or `timeout = Duration::from_secs(5)`",
        "grace" => "a duration such as `grace = 100ms`, `grace = 2s` or `grace = Duration::from_millis(100)`",
        "deadline" => "a `tokio::time::Instant` expression such as `deadline = start + budget`",
        "crate" => "a path to the `scope` crate, such as `crate = my_scope`",
        "flavor" => "`flavor = \"current_thread\"` or `flavor = \"multi_thread\"`",
        "start_paused" => "`start_paused = true` or `start_paused = false`",
        _ => "see the documentation of the option",
    }
}

/// Keys that users reach for, and what they are called here.
fn renamed(key: &str) -> Option<&'static str> {
    Some(match key {
        "concurrency" | "max_concurrency" | "parallelism" | "max_tasks" | "max_children"
        | "permits" => "limit",
        "slot" | "bind" | "bindings" | "values" => "slots",
        "mode" | "on_error" | "strategy" | "on_failure" => "policy",
        "timeout_ms" | "timeout_secs" | "within" => "timeout",
        "grace_period" | "drain" | "shutdown_grace" => "grace",
        "label" => "name",
        "threads" | "workers" => "worker_threads",
        "paused" | "pause" => "start_paused",
        "not_send" | "unsend" => "local",
        _ => return None,
    })
}

fn unknown_key(key: &Ident, ctx: Ctx) -> syn::Error {
    let name = key.to_string();
    let keys = ctx.keys();
    if let Some(new) = renamed(&name) {
        if keys.contains(&new) {
            return syn::Error::new(
                key.span(),
                format!(
                    "unknown option `{name}`: it is called `{new}` here, e.g. {}",
                    example(new)
                ),
            );
        }
    }
    let elsewhere = [Ctx::Scoped, Ctx::Main, Ctx::Test]
        .into_iter()
        .filter(|c| *c != ctx && !(ctx == Ctx::ScopeMacro && *c == Ctx::Scoped))
        .find(|c| c.keys().contains(&name.as_str()));
    if let Some(other) = elsewhere {
        return syn::Error::new(
            key.span(),
            format!(
                "`{name}` is an option of `{}`, not of `{}`; {} accepts: {}",
                other.macro_name(),
                ctx.macro_name(),
                ctx.macro_name(),
                list(keys)
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
            list(keys)
        ),
    )
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
        return Err(input
            .error("`slots(..)` is empty: bind at least one slot, e.g. `slots(REQUEST_ID = id)`"));
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
            .find(|b| path_string(&b.slot) == path_string(&slot))
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

pub(crate) fn path_string(path: &Path) -> String {
    let mut s = String::new();
    if path.leading_colon.is_some() {
        s.push_str("::");
    }
    for (i, seg) in path.segments.iter().enumerate() {
        if i > 0 {
            s.push_str("::");
        }
        s.push_str(&seg.ident.to_string());
    }
    s
}

fn literal_of(expr: &Expr) -> Option<&Lit> {
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
    match ident.to_string().as_str() {
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

/// A lone lower-case identifier that is not a parameter of the fn: in an attribute it cannot
/// name anything the option could use.
/// An error when a value is a lone identifier that cannot be in scope where options are
/// evaluated (see [`stray_ident`]).
fn check_stray_ident(
    value: &Expr,
    check: bool,
    params: &[String],
    key: &str,
    expected: &str,
) -> syn::Result<()> {
    match stray_ident(value, check, params) {
        Some(ident) => Err(syn::Error::new(
            ident.span(),
            format!(
                "`{ident}` is not a parameter of this fn; `{key}` expects {expected}, a constant, or a parameter"
            ),
        )),
        None => Ok(()),
    }
}

fn stray_ident<'a>(value: &'a Expr, check: bool, params: &[String]) -> Option<&'a Ident> {
    if !check || params.iter().any(|p| p == ANY_PARAM) {
        return None;
    }
    let Expr::Path(p) = value else { return None };
    let ident = p.path.get_ident()?;
    if p.qself.is_some() || p.path.leading_colon.is_some() {
        return None;
    }
    let s = ident.to_string();
    let lower = s
        .chars()
        .next()
        .is_some_and(|c| c.is_lowercase() || c == '_');
    if lower && s != "self" && !params.contains(&s) {
        Some(ident)
    } else {
        None
    }
}

fn count_value(
    value: Expr,
    key: &str,
    check_idents: bool,
    params: &[String],
) -> syn::Result<CountValue> {
    let expected = example(key);
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
                let why = if key == "limit" {
                    "`limit` must be at least 1: with `limit = 0` no child could ever start"
                        .to_owned()
                } else {
                    format!("`{key}` must be at least 1")
                };
                return Err(syn::Error::new(i.span(), why));
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
        None => {
            check_stray_ident(&value, check_idents, params, key, expected)?;
            Ok(CountValue::Expr(value))
        }
    }
}

/// Units of duration literals: `1ns`, `1us`, `1ms`, `1s`, `1m`/`1min`, `1h`.
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

fn duration_value(
    value: Expr,
    key: &str,
    check_idents: bool,
    params: &[String],
) -> syn::Result<DurationValue> {
    let expected = example(key);
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
                .map_err(|_| syn::Error::new(i.span(), "this duration is too large"))?;
            let nanos = n
                .checked_mul(unit)
                .filter(|n| *n <= u128::from(u64::MAX))
                .ok_or_else(|| syn::Error::new(i.span(), "this duration is too large"))?;
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
            let x: f64 = f
                .base10_parse()
                .map_err(|_| syn::Error::new(f.span(), "invalid number"))?;
            #[allow(clippy::cast_precision_loss)] // Reason: units are far below 2^52.
            let nanos_f = x * unit as f64;
            if !nanos_f.is_finite() || !(0.0..=1.8e19).contains(&nanos_f) {
                return Err(syn::Error::new(f.span(), "this duration is out of range"));
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            // Reason: checked to be in 0..=1.8e19 just above.
            let nanos = nanos_f.round() as u128;
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
        None => {
            check_stray_ident(&value, check_idents, params, key, expected)?;
            Ok(DurationValue::Expr(value))
        }
    }
}

fn deadline_value(value: Expr, check_idents: bool, params: &[String]) -> syn::Result<Expr> {
    if let Some(lit) = literal_of(&value) {
        return Err(syn::Error::new(
            lit.span(),
            "`deadline` expects a `tokio::time::Instant` expression; for a bound relative to \
             when the scope starts, write `timeout = 5s`",
        ));
    }
    if let Some(ident) = stray_ident(&value, check_idents, params) {
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "`{ident}` is not a parameter of this fn; `deadline` expects {}",
                example("deadline")
            ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors(ts: TokenStream, ctx: Ctx) -> Vec<String> {
        parse_attr_args(ts, ctx, &["budget".to_owned()])
            .1
            .into_iter()
            .flat_map(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn accepts_every_option() {
        let (opts, errs) = parse_attr_args(
            quote!(
                name = "x",
                policy = supervise,
                limit = 4,
                timeout = 5s,
                grace = 1.5s,
                deadline = start + budget,
                local,
                slots(A = 1, b::B = 2),
                crate = my_scope
            ),
            Ctx::Scoped,
            &["start".into(), "budget".into()],
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(opts.policy(), PolicyKind::Supervise);
        assert!(matches!(
            opts.grace,
            Some((
                DurationValue::Literal {
                    nanos: 1_500_000_000,
                    ..
                },
                _
            ))
        ));
        assert_eq!(opts.slots.as_ref().map(|s| s.0.len()), Some(2));
    }

    #[test]
    fn reports_independent_problems_together() {
        let errs = errors(
            quote!(
                limt = 4,
                limit = 0,
                timeout = soon,
                policy = "race",
                limit = "x"
            ),
            Ctx::Scoped,
        );
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(errs[0].contains("did you mean `limit`"));
        assert!(errs[1].contains("at least 1"));
        assert!(errs[2].contains("`soon` is not a parameter"));
        assert!(errs[3].contains("without quotes"));
        assert!(errs[4].contains("positive integer"));
    }

    #[test]
    fn duplicate_and_renamed() {
        let errs = errors(quote!(limit = 1, limit = 2, concurrency = 3), Ctx::Scoped);
        assert!(errs[0].contains("duplicate option `limit`"));
        assert!(errs[1].contains("called `limit`"));
        let errs = errors(quote!(flavor = "current_thread"), Ctx::Scoped);
        assert!(
            errs[0].contains("is an option of `#[scope::main]`"),
            "{errs:?}"
        );
    }

    #[test]
    fn durations() {
        let errs = errors(quote!(timeout = 5, grace = 3parsecs), Ctx::Scoped);
        assert!(errs[0].contains("needs a unit"), "{errs:?}");
        assert!(errs[1].contains("unknown unit"), "{errs:?}");
        assert!(errors(quote!(timeout = budget), Ctx::Scoped).is_empty());
    }
}
