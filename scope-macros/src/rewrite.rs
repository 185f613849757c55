//! The body pass: rewrites the spawn macros onto the hidden scope variable and runs the
//! orphan-task lint, in one walk.
//!
//! ```text
//! // Input (in a #[scoped] body)          // Output
//! spawn!(fut)                             __scope.spawn(fut)
//! spawn!(name = "x", fut)                 __scope.spawn_named("x", fut)
//! spawn_in_place!(fut)                    __scope.spawn_in_place(fut)
//! spawn_in_place!(name = "x", fut)        __scope.spawn_in_place_named("x", fut)
//! ```
//!
//! in two steps: this pass turns `spawn!(fut)` into `spawn!(@scope __scope, fut)` (keeping
//! the user's path to the macro, so their import of it is used), and the spawn macro turns
//! that into the method call. `__scope` carries `Span::mixed_site()`: user code can neither
//! name nor shadow it.
//!
//! The walk descends into closures, loops, async blocks and the arguments of other macros
//! (parsed as expressions when they are, scanned as tokens otherwise). It stops at a nested
//! `scope!` (which rewrites its own body, so a spawn binds to the innermost scope) and at
//! nested items (a nested `fn` cannot reach the scope; a spawn macro there is the "outside any
//! scope" error).

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Stmt, Token};

use crate::ast::{SpawnArgs, SpawnKind};
use crate::lint::{self, Aliases, Orphan};

/// The name of the hidden scope variable, invisible to user code.
pub(crate) fn scope_ident() -> Ident {
    Ident::new("__scope", Span::mixed_site())
}

/// The name of the hidden proof variable (`provided!()`), invisible to user code.
pub(crate) fn provided_ident() -> Ident {
    Ident::new("__provided", Span::mixed_site())
}

/// The span of a macro's name (the last segment of its path), where its errors point.
fn name_span(mac: &syn::Macro) -> Span {
    mac.path
        .segments
        .last()
        .map_or_else(Span::call_site, |s| s.ident.span())
}

fn is_provided_macro(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| s.ident == "provided")
}

pub(crate) struct Rewriter {
    scope: Ident,
    aliases: Aliases,
    /// Problems found; each is spanned at the user's tokens.
    pub(crate) errors: Vec<syn::Error>,
    /// Inside a statement or expression marked `#[scope::allow_orphan]`.
    allowed: usize,
    /// Inside the future of a child (which cannot reach the scope: a spawned child is
    /// `'static`, an in-place one outlives nothing of the body's).
    in_child: usize,
    /// How many spawn macros were rewritten (to know whether a macro's tokens changed).
    rewrites: usize,
    /// Whether the body uses `provided!()`.
    provided: bool,
}

impl Rewriter {
    pub(crate) fn new(block: &syn::Block) -> Rewriter {
        Rewriter {
            scope: scope_ident(),
            aliases: Aliases::collect(block),
            errors: Vec::new(),
            allowed: 0,
            in_child: 0,
            rewrites: 0,
            provided: false,
        }
    }

    /// Rewrites and lints `block` in place; also says whether it uses `provided!()`.
    pub(crate) fn run_with_provided(block: &mut syn::Block) -> (Vec<syn::Error>, bool) {
        let mut rw = Rewriter::new(block);
        rw.visit_block_mut(block);
        (rw.errors, rw.provided)
    }

    /// A nested `scope!` gets this body's proof (`@provided __provided;` in front), so its own
    /// proof extends it: a slot bound (or required) out here stays proven in there.
    fn with_outer_proof(&mut self, tokens: TokenStream) -> TokenStream {
        if self.in_child > 0 {
            // Inside a child's future the proof would be moved into it; the child's nested
            // scope starts from the empty proof (pass `provided!()` in as a value instead).
            return tokens;
        }
        self.provided = true;
        let var = provided_ident();
        quote!(@provided #var; #tokens)
    }

    /// `provided!()` -> `provided!(@provided __provided)`: the proof of the body, also inside
    /// a child's future (it is a value, cloned where it is written).
    fn rewrite_provided(&mut self, mac: &syn::Macro) -> TokenStream {
        let span = name_span(mac);
        let path = &mac.path;
        if !mac.tokens.is_empty() {
            let msg = "`provided!()` takes no arguments";
            return quote_spanned!(span=> ::core::compile_error!(#msg));
        }
        self.provided = true;
        self.rewrites += 1;
        let var = provided_ident();
        quote_spanned!(span=> #path!(@provided #var))
    }

    fn orphan(&mut self, span_of: &dyn ToTokens, written: &str, resolved: &[String], kind: Orphan) {
        if self.allowed > 0 {
            return;
        }
        let full = resolved.join("::");
        let what = if full == written.trim_start_matches("::") || full.is_empty() {
            format!("`{written}`")
        } else {
            format!("`{written}` (`{full}`)")
        };
        let msg = format!(
            "{what} starts {} that this scope does not own: it could outlive the scope\n\
             {}\n\
             note: if it really must outlive the scope, mark the statement `#[scope::allow_orphan]`",
            kind.noun(),
            kind.help()
        );
        self.errors.push(syn::Error::new_spanned(span_of, msg));
    }

    fn check_path(&mut self, path: &syn::Path) {
        let segs = lint::segments(path);
        let resolved = self.aliases.resolve(&segs);
        if let Some(kind) = lint::classify(&resolved) {
            let written = crate::attr::path_string(path);
            self.orphan(path, &written, &resolved, kind);
        }
    }

    fn check_method(&mut self, call: &syn::ExprMethodCall) {
        let method = call.method.to_string();
        if let Some((kind, mut root)) =
            lint::classify_method(&method, &call.receiver, &self.aliases)
        {
            // `Builder::new().name(..).spawn(..)` reads as `Builder::spawn`.
            let written = if root.len() >= 2 {
                root.pop();
                root.push(method);
                root.join("::")
            } else {
                format!(".{method}(..)")
            };
            self.orphan(&call.method, &written, &[], kind);
        }
    }

    /// `spawn!(..)` -> `__scope.spawn(..)`; an error expression when misused.
    fn rewrite_spawn(&mut self, kind: SpawnKind, mac: &syn::Macro) -> TokenStream {
        let span = name_span(mac);
        let path = &mac.path;
        // The output keeps the user's macro path (so their `use scope::spawn` is used); the
        // spawn macro then expands to the method call, or reports the problem at its call site.
        if self.in_child > 0 {
            return quote_spanned!(span=> #path!(@nested));
        }
        let scope = self.scope.clone();
        let Ok(mut args) = SpawnArgs::parse(mac.tokens.clone(), kind) else {
            // Unparsable arguments: let the spawn macro report them, spanned at the user's code.
            let tokens = &mac.tokens;
            return quote_spanned!(span=> #path!(@scope #scope, #tokens));
        };
        self.in_child += 1;
        self.visit_expr_mut(&mut args.fut);
        if let Some(name) = &mut args.name {
            self.visit_expr_mut(name);
        }
        self.in_child -= 1;
        self.rewrites += 1;
        let fut = &args.fut;
        let name = args.name.as_ref().map(|n| quote!(name = #n,));
        quote_spanned!(span=> #path!(@scope #scope, #name #fut))
    }

    /// The arguments of another macro (`vec![..]`, `println!(..)`, `tokio::join!(..)`,
    /// `tokio::select! {..}`): rewritten as expressions when they parse as a comma-separated
    /// list, as tokens otherwise.
    fn rewrite_macro(&mut self, mac: &mut syn::Macro) {
        let before = (self.rewrites, self.errors.len());
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        if let Ok(mut exprs) = syn::parse::Parser::parse2(parser, mac.tokens.clone()) {
            for e in &mut exprs {
                self.visit_expr_mut(e);
            }
            if self.rewrites != before.0 {
                mac.tokens = exprs.into_token_stream();
            }
            return;
        }
        let tokens = self.rewrite_tokens(mac.tokens.clone());
        if self.rewrites != before.0 {
            mac.tokens = tokens;
        }
    }

    /// The token-level pass, for macro arguments that are not expressions.
    fn rewrite_tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out = TokenStream::new();
        let mut i = 0;
        while i < trees.len() {
            let after_dot =
                i > 0 && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == '.');
            if !after_dot {
                if let Some((end, path)) = match_path(&trees, i) {
                    let last = path.segments.last().map(|s| s.ident.to_string());
                    let bang =
                        matches!(trees.get(end), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                    if bang {
                        if let Some(TokenTree::Group(g)) = trees.get(end + 1) {
                            let mac = syn::Macro {
                                path: path.clone(),
                                bang_token: Token![!](Span::call_site()),
                                delimiter: match g.delimiter() {
                                    Delimiter::Brace => syn::MacroDelimiter::Brace(
                                        syn::token::Brace(g.delim_span()),
                                    ),
                                    Delimiter::Bracket => syn::MacroDelimiter::Bracket(
                                        syn::token::Bracket(g.delim_span()),
                                    ),
                                    _ => syn::MacroDelimiter::Paren(syn::token::Paren(
                                        g.delim_span(),
                                    )),
                                },
                                tokens: g.stream(),
                            };
                            if let Some(kind) = last.as_deref().and_then(SpawnKind::from_name) {
                                out.extend(self.rewrite_spawn(kind, &mac));
                            } else if last.as_deref() == Some("provided") {
                                out.extend(self.rewrite_provided(&mac));
                            } else {
                                // A nested `scope!` keeps its tokens; other macros are scanned.
                                for t in &trees[i..=end] {
                                    out.extend(std::iter::once(t.clone()));
                                }
                                if last.as_deref() == Some("scope") {
                                    let inner = self.with_outer_proof(g.stream());
                                    let mut ng = Group::new(g.delimiter(), inner);
                                    ng.set_span(g.span());
                                    out.extend(std::iter::once(TokenTree::Group(ng)));
                                } else {
                                    let inner = self.rewrite_tokens(g.stream());
                                    let mut ng = Group::new(g.delimiter(), inner);
                                    ng.set_span(g.span());
                                    out.extend(std::iter::once(TokenTree::Group(ng)));
                                }
                            }
                            i = end + 2;
                            continue;
                        }
                    }
                    if let Some(TokenTree::Group(g)) = trees.get(end) {
                        if g.delimiter() == Delimiter::Parenthesis {
                            self.check_path(&path);
                        }
                    }
                    for t in &trees[i..end] {
                        out.extend(std::iter::once(t.clone()));
                    }
                    i = end;
                    continue;
                }
            } else if let TokenTree::Ident(method) = &trees[i] {
                let m = method.to_string();
                if matches!(
                    m.as_str(),
                    "spawn_ok"
                        | "spawn_obj"
                        | "spawn_local_obj"
                        | "spawn_with_handle"
                        | "spawn_local_with_handle"
                ) && matches!(trees.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
                {
                    self.orphan(method, &format!(".{m}(..)"), &[], Orphan::Executor);
                }
            }
            match &trees[i] {
                TokenTree::Group(g) => {
                    let inner = self.rewrite_tokens(g.stream());
                    let mut ng = Group::new(g.delimiter(), inner);
                    ng.set_span(g.span());
                    out.extend(std::iter::once(TokenTree::Group(ng)));
                }
                other => out.extend(std::iter::once(other.clone())),
            }
            i += 1;
        }
        out
    }
}

/// Matches `[::] ident (:: ident)*` at `trees[start..]`; returns the index after it.
fn match_path(trees: &[TokenTree], start: usize) -> Option<(usize, syn::Path)> {
    let is_colons = |i: usize| {
        matches!((trees.get(i), trees.get(i + 1)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && b.as_char() == ':' && a.spacing() == proc_macro2::Spacing::Joint)
    };
    let mut i = start;
    let mut tokens = TokenStream::new();
    if is_colons(i) {
        tokens.extend(trees[i..i + 2].iter().cloned());
        i += 2;
    }
    let mut any = false;
    while let Some(TokenTree::Ident(id)) = trees.get(i) {
        tokens.extend(std::iter::once(TokenTree::Ident(id.clone())));
        i += 1;
        any = true;
        if is_colons(i) && matches!(trees.get(i + 2), Some(TokenTree::Ident(_))) {
            tokens.extend(trees[i..i + 2].iter().cloned());
            i += 2;
        } else {
            break;
        }
    }
    if !any {
        return None;
    }
    let path = syn::parse2::<syn::Path>(tokens).ok()?;
    Some((i, path))
}

fn spawn_kind(path: &syn::Path) -> Option<SpawnKind> {
    path.segments
        .last()
        .and_then(|s| SpawnKind::from_name(&s.ident.to_string()))
}

fn is_scope_macro(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| s.ident == "scope")
}

/// Removes `#[scope::allow_orphan]` from `attrs`; whether it was there.
fn take_opt_out(attrs: &mut Vec<syn::Attribute>) -> bool {
    let before = attrs.len();
    attrs.retain(|a| !lint::is_opt_out(a));
    attrs.len() != before
}

fn expr_attrs(expr: &mut Expr) -> Option<&mut Vec<syn::Attribute>> {
    Some(match expr {
        Expr::Array(e) => &mut e.attrs,
        Expr::Assign(e) => &mut e.attrs,
        Expr::Async(e) => &mut e.attrs,
        Expr::Await(e) => &mut e.attrs,
        Expr::Binary(e) => &mut e.attrs,
        Expr::Block(e) => &mut e.attrs,
        Expr::Call(e) => &mut e.attrs,
        Expr::Closure(e) => &mut e.attrs,
        Expr::ForLoop(e) => &mut e.attrs,
        Expr::If(e) => &mut e.attrs,
        Expr::Let(e) => &mut e.attrs,
        Expr::Loop(e) => &mut e.attrs,
        Expr::Macro(e) => &mut e.attrs,
        Expr::Match(e) => &mut e.attrs,
        Expr::MethodCall(e) => &mut e.attrs,
        Expr::Paren(e) => &mut e.attrs,
        Expr::Path(e) => &mut e.attrs,
        Expr::Reference(e) => &mut e.attrs,
        Expr::Return(e) => &mut e.attrs,
        Expr::Try(e) => &mut e.attrs,
        Expr::Tuple(e) => &mut e.attrs,
        Expr::Unsafe(e) => &mut e.attrs,
        Expr::While(e) => &mut e.attrs,
        Expr::Field(e) => &mut e.attrs,
        Expr::Index(e) => &mut e.attrs,
        Expr::Cast(e) => &mut e.attrs,
        Expr::Unary(e) => &mut e.attrs,
        _ => return None,
    })
}

impl VisitMut for Rewriter {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        match stmt {
            // Nested items are not part of the scope's body.
            Stmt::Item(_) => {}
            Stmt::Local(local) => {
                let allow = take_opt_out(&mut local.attrs);
                self.allowed += usize::from(allow);
                visit_mut::visit_local_mut(self, local);
                self.allowed -= usize::from(allow);
            }
            Stmt::Macro(sm) => {
                let allow = take_opt_out(&mut sm.attrs);
                self.allowed += usize::from(allow);
                if spawn_kind(&sm.mac.path).is_some() {
                    let expr = Expr::Macro(syn::ExprMacro {
                        attrs: std::mem::take(&mut sm.attrs),
                        mac: sm.mac.clone(),
                    });
                    let semi = sm.semi_token;
                    *stmt = Stmt::Expr(expr, semi);
                    if let Stmt::Expr(e, _) = stmt {
                        self.visit_expr_mut(e);
                    }
                } else if is_scope_macro(&sm.mac.path) {
                    sm.mac.tokens = self.with_outer_proof(sm.mac.tokens.clone());
                } else {
                    self.rewrite_macro(&mut sm.mac);
                }
                self.allowed -= usize::from(allow);
            }
            Stmt::Expr(e, _) => self.visit_expr_mut(e),
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let allow = expr_attrs(expr).is_some_and(take_opt_out);
        self.allowed += usize::from(allow);
        match expr {
            Expr::Macro(m) if is_provided_macro(&m.mac.path) => {
                let tokens = self.rewrite_provided(&m.mac);
                *expr = Expr::Verbatim(tokens);
            }
            Expr::Macro(m) => {
                if let Some(kind) = spawn_kind(&m.mac.path) {
                    let tokens = self.rewrite_spawn(kind, &m.mac);
                    let attrs = std::mem::take(&mut m.attrs);
                    *expr = if attrs.is_empty() {
                        Expr::Verbatim(tokens)
                    } else {
                        Expr::Verbatim(quote!(#(#attrs)* #tokens))
                    };
                } else if is_scope_macro(&m.mac.path) {
                    m.mac.tokens = self.with_outer_proof(m.mac.tokens.clone());
                } else {
                    self.rewrite_macro(&mut m.mac);
                }
            }
            Expr::Path(p) => {
                if p.qself.is_none() {
                    self.check_path(&p.path);
                }
            }
            Expr::MethodCall(call) => {
                self.check_method(call);
                visit_mut::visit_expr_method_call_mut(self, call);
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
        self.allowed -= usize::from(allow);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
