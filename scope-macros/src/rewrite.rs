//! The body pass: rewrites the spawn macros onto the hidden scope variable and runs the
//! orphan-task lint, in one walk.
//!
//! ```text
//! // Input (in a #[scoped] body)          // Output
//! spawn!(fut)                             __scope.spawn(fut)
//! spawn!(name = "x", fut)                 __scope.spawn_named("x", fut)
//! spawn_in_place!(fut)                    __scope.spawn_in_place(fut)
//! try_spawn!(fut)                         __scope.try_spawn(fut)
//! ```
//!
//! in two steps: this pass turns `spawn!(fut)` into `spawn!(@scope __scope, fut)` (keeping
//! the user's path to the macro, so their import of it is used; the forms are in
//! [`crate::protocol`]), and the spawn macro turns that into the method call. `__scope`
//! carries `Span::mixed_site()`: user code can neither name nor shadow it.
//!
//! The walk descends into closures, loops, async blocks and the arguments of other macros
//! (parsed as expressions when they are, scanned as tokens otherwise). It stops rewriting at a
//! nested `scope!` (which rewrites its own body, so a spawn binds to the innermost scope) and
//! at nested items (a nested `fn` cannot reach the scope; a spawn macro there is the "outside
//! any scope" error), but the lint goes on into nested items and `macro_rules!` bodies.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Stmt, Token};

use crate::ast::{SpawnArgs, SpawnKind};
use crate::lint::{self, Aliases, Origin, Orphan, Place};
use crate::options::{Options, PolicyKind};
use crate::protocol::Hidden;

/// A `spawn!` an enclosing scope's pass bound to itself inside a macro call it did not know for
/// a scope.
const NESTED_UNSEEN: &str = "this `spawn!` is inside a scope that the enclosing `#[scoped]` \
     or `scope!` did not see as one, and was read as part of the enclosing body instead\n\
     help: the scope finds its macros by name: call the nested scope `scope!` (not renamed on \
     import, as in `use scope::scope as nursery`, and not from inside another macro), or name \
     its handle (`nursery!(|s| { .. })`) and call `s.spawn(..)`";

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

fn last_segment(path: &syn::Path) -> Option<String> {
    path.segments.last().map(|s| lint::unraw(&s.ident))
}

fn is_provided_macro(path: &syn::Path) -> bool {
    last_segment(path).as_deref() == Some("provided")
}

pub(crate) struct Rewriter {
    scope: Ident,
    aliases: Aliases,
    /// Where the body's variables came from, for `.spawn(..)` on them.
    locals: HashMap<String, Origin>,
    /// The body's sets (`JoinSet`, ..) that the body moves out (see `lint::leaving_sets`).
    leaving: HashSet<String>,
    /// The names of the fn's parameters and the body's `let`s seen so far: an `async` block
    /// (not `move`) that uses one borrows it.
    bound: HashSet<String>,
    /// The names a pattern of the body binds where they reach (an `if let`'s, a `match`
    /// arm's, a `for`'s): locals of the body for the in-place child's assignment check. Not
    /// in `bound`: such a name often holds a reference (`for s in names.iter()`), through
    /// which a spawned block's use reborrows rather than borrows the local, and rustc judges
    /// it.
    pattern_bound: HashSet<String>,
    /// The names of `bound` declared outside the innermost scope's body (the fn's parameters;
    /// for a nested `scope!`, the enclosing body's locals too) and not shadowed since: an
    /// in-place child may borrow those, not the body's own.
    outside: HashSet<String>,
    /// The parameters that are references (`&self`, `db: &Db`) and no `let` has shadowed:
    /// moved into a spawned child, they are still not `'static`.
    refs: HashSet<String>,
    /// Problems found; each is spanned at the user's tokens.
    pub(crate) errors: Vec<syn::Error>,
    /// Inside a statement or expression marked `#[scope::allow_orphan]`.
    allowed: usize,
    /// Inside the future of a child (which cannot reach the scope: a spawned child is
    /// `'static`, an in-place one outlives nothing of the body's).
    in_child: usize,
    /// The future of the child being visited is an `async` block: one that uses the body's
    /// proof takes its own copy (see `rewrite_spawn`). Any other shape (`Box::pin(..)`, a
    /// `timeout(..)`) does not, and a scope nested in it starts from the empty proof.
    child_is_block: bool,
    /// Inside an item of the body, a `macro_rules!` or an option's value: lint only.
    lint_only: usize,
    /// Inside a `macro_rules!` body, read from a copy that is thrown away: a nested `scope!`
    /// there is linted where the macro expands, not here.
    discarded: usize,
    /// Whether the scope is a race (`first_ok`), which cannot refuse a child.
    race: bool,
    /// How many edits the pass made (a spawn macro or `provided!()` rewritten, a nested
    /// `scope!` given the proof or the crate, a proof copied into a block, an opt-out taken
    /// off): a macro's arguments are written back when it moved.
    edits: usize,
    /// Whether the body uses `provided!()`.
    provided: bool,
    /// The `crate = path` of the scope's options, if one was given: a nested `scope!` without
    /// one of its own inherits it.
    krate: Option<syn::Path>,
    /// How many references to the body's proof were written (`provided!()`, and nested
    /// `scope!`s given it): an `async move` block or `move` closure that gets one would move
    /// the proof into itself.
    proof_refs: usize,
    /// The name the body gives the scope's handle (`handle = s`), if the body binds that name
    /// nowhere else: a child that uses it is told what to write instead.
    handle: Option<String>,
    /// What the receiver of a combinator holds (see [`HANDING_COMBINATORS`]), for the
    /// untyped first parameter of the closure given to it; and whether it is enumerated (the
    /// parameter is `(index, element)`).
    closure_origin: Option<(Origin, bool)>,
    /// The generics of the `impl` block declared in the body whose methods are being read.
    impl_generics: Option<syn::Generics>,
    /// That block's type (what a method's `self` is).
    impl_self: Option<syn::Type>,
}

/// What a `select!` branch's pattern hides for its body (see `Rewriter::bind_in_arm`): the
/// body's locals, reference parameters, outside names and bound names.
/// What a pattern's names hide, restored after their reach: the reference parameters, the
/// outside names and the body's locals.
type NamesSaved = (
    HashSet<String>,
    HashSet<String>,
    HashSet<String>,
    HashSet<String>,
);
// (the reference parameters, the outside names, the body's locals, the pattern-bound names)

type ArmSaved = (
    HashMap<String, Origin>,
    HashSet<String>,
    HashSet<String>,
    HashSet<String>,
);

/// What the lint records as the origin of the scope's handle and of a name that holds it:
/// a path no type has.
const HANDLE_ORIGIN: &str = "<the scope's handle>";

/// The origin of the handle of a scope around this one (a nested `scope!`'s body knows them
/// from its enclosing pass, `@linted [..]`), and of a name that holds it.
const ENCLOSING_HANDLE_ORIGIN: &str = "<an enclosing scope's handle>";

/// The origin of a child's handle (`let a = spawn!(..)`) and of a name that holds it.
const CHILD_HANDLE_ORIGIN: &str = "<a child's handle>";

/// The origin of the handle of a child of a scope around this one (from the enclosing pass,
/// `@linted [..; ..]`), and of a name that holds it.
const ENCLOSING_CHILD_HANDLE_ORIGIN: &str = "<a child's handle of an enclosing scope>";

/// The origin of a closure or an `async` block of the body that borrows the scope: it uses the
/// scope's handle (or such a closure), and of a name that holds it.
const HANDLE_USER_ORIGIN: &str = "<a closure that uses the scope's handle>";

/// The origin of a closure or an `async` block of the body that starts children of the scope
/// (`spawn!` in it), and of a name that holds it.
const CHILD_STARTER_ORIGIN: &str = "<a closure that starts children of the scope>";

/// The origin `mark` (one of those above).
fn marked_origin(mark: &str) -> Origin {
    Origin {
        path: vec![mark.to_owned()],
        place: lint::Place::Body,
    }
}

fn is_marked(origin: &Origin, mark: &str) -> bool {
    matches!(origin.path.as_slice(), [only] if only == mark)
}

fn handle_origin() -> Origin {
    marked_origin(HANDLE_ORIGIN)
}

fn is_handle_origin(origin: &Origin) -> bool {
    is_marked(origin, HANDLE_ORIGIN)
}

fn enclosing_handle_origin() -> Origin {
    marked_origin(ENCLOSING_HANDLE_ORIGIN)
}

fn is_enclosing_handle_origin(origin: &Origin) -> bool {
    is_marked(origin, ENCLOSING_HANDLE_ORIGIN)
}

fn is_child_handle_origin(origin: &Origin) -> bool {
    is_marked(origin, CHILD_HANDLE_ORIGIN)
}

fn is_enclosing_child_handle_origin(origin: &Origin) -> bool {
    is_marked(origin, ENCLOSING_CHILD_HANDLE_ORIGIN)
}

/// Whether `origin` is a child's handle, of this scope or of one around it.
fn is_any_child_handle_origin(origin: &Origin) -> bool {
    is_child_handle_origin(origin) || is_enclosing_child_handle_origin(origin)
}

/// Whether `expr` starts a child of this scope and gives its handle: `spawn!(..)`,
/// `spawn_in_place!(..)`, `try_spawn!(..)?` and its in-place form, `spawn_when_free!(..).await?`
/// and its in-place form (or any of the fallible ones with `.unwrap()` or `.expect(..)`).
fn makes_child_handle(expr: &Expr) -> bool {
    let kind = |e: &Expr| match strip_parens(e) {
        Expr::Macro(m) => spawn_kind(&m.mac.path),
        _ => None,
    };
    match strip_parens(expr) {
        Expr::Try(t) => makes_child_result(&t.expr) || ok_of_child_result(&t.expr),
        // `try_spawn!(..).unwrap()`, `.expect("..")`, `try_spawn!(..).ok().unwrap()`.
        Expr::MethodCall(m) if m.method == "unwrap" || m.method == "expect" => {
            makes_child_result(&m.receiver) || ok_of_child_result(&m.receiver)
        }
        // `match try_spawn!(..) { Ok(h) => h, Err(_) => return .. }` (an arm's guard too:
        // `Ok(h) if ready => h`; or a let guard, `true if let Ok(h) = try_spawn!(..) => h`).
        Expr::Match(m) => {
            let scrutinee = makes_child_result(&m.expr) || ok_of_child_result(&m.expr);
            let mut gives = false;
            let each = m.arms.iter().all(|arm| {
                let guarded = arm.guard.as_ref().map(|(_, g)| chain_lets(g));
                // (A let guard that binds the arm's name again gives that value instead.)
                let rebinds = guarded
                    .as_ref()
                    .is_some_and(|lets| lets.iter().any(|l| binds_again(&arm.pat, &l.pat)));
                let it = (scrutinee && !rebinds && yields_its_ok(&arm.pat, &arm.body))
                    || guarded.is_some_and(|lets| chain_gives_handle(&lets, &arm.body));
                gives |= it;
                it || leaves(&arm.body)
            });
            each && gives
        }
        // `if let Ok(h) = try_spawn!(..) { h } else { return .. }` (in a let chain too).
        Expr::If(i) => match &i.else_branch {
            Some((_, other)) => {
                let then = lint::trailing_expr(&i.then_branch);
                then.is_some_and(|then| chain_gives_handle(&chain_lets(&i.cond), then))
                    && leaves(other)
            }
            None => false,
        },
        // (`spawn_when_free!(..).await` without `?` is a `Result`, not the handle.)
        other => matches!(kind(other), Some(SpawnKind::Spawn | SpawnKind::InPlace)),
    }
}

/// Whether `value` is the child's handle that one of `lets` (an `if`'s let chain, an arm's
/// let guard) takes out of a `try_spawn!(..)`, with no later one binding its name again.
fn chain_gives_handle(lets: &[&syn::ExprLet], value: &Expr) -> bool {
    let Some(at) = lets.iter().rposition(|l| yields_its_ok(&l.pat, value)) else {
        return false;
    };
    let l = lets[at];
    let made = makes_child_result(&l.expr) || ok_of_child_result(&l.expr);
    let rebound = lets[at + 1..]
        .iter()
        .any(|later| binds_again(&l.pat, &later.pat));
    made && !rebound
}

/// Whether `pat` binds `name` (raw or not).
fn pat_binds(pat: &syn::Pat, name: &str) -> bool {
    let mut bound = Vec::new();
    crate::valid::pat_names(pat, &mut bound);
    bound.iter().any(|b| b.trim_start_matches("r#") == name)
}

/// Whether `later` binds again a name `first` binds.
fn binds_again(first: &syn::Pat, later: &syn::Pat) -> bool {
    let mut names = Vec::new();
    crate::valid::pat_names(first, &mut names);
    names
        .iter()
        .any(|n| pat_binds(later, n.trim_start_matches("r#")))
}

/// `try_spawn!(..).ok()`: an `Option` of the child's handle.
fn ok_of_child_result(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::MethodCall(m) if m.method == "ok" && m.args.is_empty() => {
            makes_child_result(&m.receiver)
        }
        _ => false,
    }
}

/// Where the block `body` (a branch, a scrutinee written as a block) binds `name` again
/// before its value: the last such `let`'s value, read after the block's statements before it
/// (`{ let a = Handle::current(); let rt = a; rt }` gives `{ let a = Handle::current(); a }`),
/// or a binding the lint does not follow (a pattern, a `let` without a value, a block in its
/// tail); `None` if it does not.
fn rebinding_in_its_block(body: &Expr, name: &str) -> Option<Rebinding> {
    match strip_parens(body) {
        Expr::Block(b) if b.label.is_none() => block_rebinding(&b.block, name),
        _ => None,
    }
}

/// [`rebinding_in_its_block`] for a block.
fn block_rebinding(block: &syn::Block, name: &str) -> Option<Rebinding> {
    let stmts = &block.stmts;
    stmts
        .iter()
        .enumerate()
        .rev()
        .find_map(|(at, stmt)| match stmt {
            Stmt::Local(local) => {
                if !pat_binds(&local.pat, name) {
                    return None;
                }
                let simple = match &local.pat {
                    syn::Pat::Ident(pi) => pi.subpat.is_none(),
                    syn::Pat::Type(pt) => {
                        matches!(&*pt.pat, syn::Pat::Ident(pi) if pi.subpat.is_none())
                    }
                    _ => false,
                };
                let init = local
                    .init
                    .as_ref()
                    .filter(|i| i.diverge.is_none() && simple);
                Some(init.map_or(Rebinding::Unfollowed, |i| {
                    Rebinding::Value(after(block, at, &i.expr))
                }))
            }
            // A block in the tail (`{ drop(a); { let rt = Pool; rt } }`): its own rebinding,
            // read after this block's statements before it.
            Stmt::Expr(tail, None) => rebinding_in_its_block(tail, name).map(|again| match again {
                Rebinding::Value(v) => Rebinding::Value(after(block, at, &v)),
                Rebinding::Unfollowed => Rebinding::Unfollowed,
            }),
            _ => None,
        })
}

/// `value` read after the statements of `block` before the one at `at`: itself when there
/// are none, else a block of those statements with `value` as its tail.
fn after(block: &syn::Block, at: usize, value: &Expr) -> Expr {
    if at == 0 {
        return value.clone();
    }
    let mut before = syn::Block {
        brace_token: block.brace_token,
        stmts: block.stmts[..at].to_vec(),
    };
    before.stmts.push(Stmt::Expr(value.clone(), None));
    Expr::Block(syn::ExprBlock {
        attrs: Vec::new(),
        label: None,
        block: before,
    })
}

/// A name bound again in a block (see [`rebinding_in_its_block`]).
enum Rebinding {
    /// By `let name = value;`: that value, after the statements before it.
    Value(Expr),
    /// Some other way (`let (rt, _) = (rt, 1);`, `let Some(rt) = x else { .. };`): the lint
    /// reads the name as if the block did not bind it, as the name it was (a handle it held
    /// is still flagged).
    Unfollowed,
}

impl Rebinding {
    /// The value, if the lint follows it.
    fn followed(self) -> Option<Expr> {
        match self {
            Rebinding::Value(v) => Some(v),
            Rebinding::Unfollowed => None,
        }
    }
}

/// The name whose value `body` gives (`rt`, `Some(rt)`, `rt.clone()`), if it is one.
fn value_name(body: &Expr) -> Option<String> {
    let value = lint::yielded_value(body)?;
    match lint::indexed_chain_root(lint::unwrapped(value))? {
        (Expr::Path(p), _) if p.qself.is_none() => p.path.get_ident().map(lint::unraw),
        _ => None,
    }
}

/// The `let`s of a condition: itself, or each of a let chain's (`let a = x && c && let b =
/// y`), in order; none for a condition without one.
fn chain_lets(cond: &Expr) -> Vec<&syn::ExprLet> {
    match cond {
        Expr::Let(l) => vec![l],
        Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => {
            let mut lets = chain_lets(&b.left);
            lets.extend(chain_lets(&b.right));
            lets
        }
        Expr::Paren(p) => chain_lets(&p.expr),
        Expr::Group(g) => chain_lets(&g.expr),
        _ => Vec::new(),
    }
}

/// Whether `value` is the name `pat` binds as its `Ok(..)` or `Some(..)`: `Ok(h) => h`.
fn yields_its_ok(pat: &syn::Pat, value: &Expr) -> bool {
    let Some(syn::Pat::Ident(pi)) = ok_pattern(pat) else {
        return false;
    };
    // (A block with statements of its own may bind the name again: not followed.)
    let value = match strip_parens(value) {
        Expr::Block(b) if b.label.is_none() && b.block.stmts.len() == 1 => {
            match lint::trailing_expr(&b.block) {
                Some(tail) => tail,
                None => return false,
            }
        }
        other => other,
    };
    matches!(strip_parens(value), Expr::Path(p) if p.qself.is_none()
        && p.path.get_ident().is_some_and(|n| lint::unraw(n) == lint::unraw(&pi.ident)))
}

/// Whether `expr` never gives a value where it is: it returns, breaks, continues, panics or
/// exits (a block whose last statement does too).
fn leaves(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::Return(_) | Expr::Break(_) | Expr::Continue(_) => true,
        Expr::Block(b) if b.label.is_none() => match b.block.stmts.last() {
            Some(syn::Stmt::Expr(last, _)) => leaves(last),
            _ => crate::expand::diverges(&b.block),
        },
        other => crate::expand::expr_diverges(other),
    }
}

/// Whether `expr` is a `Result` whose `Ok` is a child's handle, as written: `try_spawn!(..)`,
/// `try_spawn_in_place!(..)`, `spawn_when_free!(..).await` (its `Ok(h)` is read by
/// `let Ok(h) = .. else`, `if let Ok(h) = ..`, a `match` arm, `?` or `.unwrap()`).
fn makes_child_result(expr: &Expr) -> bool {
    let kind = |e: &Expr| match strip_parens(e) {
        Expr::Macro(m) => spawn_kind(&m.mac.path),
        _ => None,
    };
    match strip_parens(expr) {
        Expr::Await(a) => matches!(
            kind(&a.base),
            Some(SpawnKind::WhenFree | SpawnKind::InPlaceWhenFree)
        ),
        other => matches!(
            kind(other),
            Some(SpawnKind::TrySpawn | SpawnKind::TryInPlace)
        ),
    }
}

/// The origin of one of what a collection of origin `whole` holds, if known.
fn element_origin(whole: Option<&Origin>) -> Option<Origin> {
    let whole = whole?;
    Some(Origin {
        path: lint::element_path(&whole.path, 1)?.to_vec(),
        place: whole.place,
    })
}

/// Whether an identifier pattern names a unit variant or a constant (`None`, `LIMIT`), which
/// binds nothing, rather than a binding: by the naming convention rustc warns about, a name
/// that starts with a capital letter (and is not `ref`, `mut` or `@`).
fn names_a_constant(pi: &syn::PatIdent) -> bool {
    pi.by_ref.is_none()
        && pi.mutability.is_none()
        && pi.subpat.is_none()
        && lint::unraw(&pi.ident)
            .chars()
            .next()
            .is_some_and(char::is_uppercase)
}

/// The name `pat` binds as the `Ok` (or `Some`) of a child's result (`Ok(h)`, `Ok(mut h)`,
/// `Ok(h): ..`), if it is that pattern.
fn ok_pattern(pat: &syn::Pat) -> Option<&syn::Pat> {
    match pat {
        syn::Pat::Type(pt) => crate::ast::ok_or_some(&pt.pat),
        other => crate::ast::ok_or_some(other),
    }
}

/// Whether `origin` is a closure or block of the body that borrows the scope (see
/// [`HANDLE_USER_ORIGIN`] and [`CHILD_STARTER_ORIGIN`]).
fn is_scope_borrower_origin(origin: &Origin) -> bool {
    is_marked(origin, HANDLE_USER_ORIGIN) || is_marked(origin, CHILD_STARTER_ORIGIN)
}

/// Whether `expr` (a closure's or a block's code) starts a child of the scope it is in: a spawn
/// macro of its own, not one inside a nested scope's or another macro's tokens.
fn starts_children(expr: &Expr) -> bool {
    struct Starts(bool);
    impl<'a> syn::visit::Visit<'a> for Starts {
        fn visit_macro(&mut self, mac: &'a syn::Macro) {
            self.0 |= spawn_kind(&mac.path).is_some();
        }
        fn visit_item(&mut self, _: &'a syn::Item) {}
    }
    let mut starts = Starts(false);
    syn::visit::Visit::visit_expr(&mut starts, expr);
    starts.0
}

/// Whether `origin` is a scope's handle, this one's or an enclosing one's.
fn is_any_handle_origin(origin: &Origin) -> bool {
    is_handle_origin(origin) || is_enclosing_handle_origin(origin)
}

fn strip_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

/// The methods of `Option`, `Result` and iterators that hand what they hold to a closure: its
/// first parameter has the receiver's origin.
const HANDING_COMBINATORS: &[&str] = &[
    "map",
    "and_then",
    "inspect",
    "for_each",
    "is_some_and",
    "is_ok_and",
    "map_or",
    "filter",
    "filter_map",
    "then",
];

impl Rewriter {
    fn new(block: Option<&syn::Block>, opts: Option<&Options>) -> Rewriter {
        // The body's own `use`s; a nested block's hold in it (see `visit_block_mut`). The sets
        // that leave the body are found with every `use` of it.
        let aliases = block.map(Aliases::of_block).unwrap_or_default();
        // A body that binds the handle's name again anywhere (a `for`, a `match` arm, a
        // closure's input) may mean another value where a child uses it: in doubt the check
        // stays silent (rustc still refuses a real use of the scope).
        let handle = opts
            .and_then(|o| o.handle.as_ref())
            .map(|(h, _)| lint::unraw(h))
            .filter(|h| block.is_none_or(|b| !crate::valid::names_bound_in(b).contains(h)));
        Rewriter {
            scope: scope_ident(),
            leaving: block
                .map(|b| lint::leaving_sets(b, &Aliases::collect(b)))
                .unwrap_or_default(),
            aliases,
            locals: HashMap::new(),
            bound: HashSet::new(),
            pattern_bound: HashSet::new(),
            outside: HashSet::new(),
            refs: HashSet::new(),
            errors: Vec::new(),
            allowed: 0,
            in_child: 0,
            child_is_block: false,
            lint_only: 0,
            discarded: 0,
            race: opts.is_some_and(|o| o.policy() == PolicyKind::FirstOk),
            edits: 0,
            provided: false,
            proof_refs: 0,
            closure_origin: None,
            impl_generics: None,
            impl_self: None,
            handle,
            krate: opts.and_then(|o| o.krate.as_ref().map(|(path, _)| path.clone())),
        }
    }

    /// Rewrites and lints `block` in place; also says whether it uses `provided!()`.
    /// `params` are the fn's parameters (whose types the lint reads).
    pub(crate) fn run(
        block: &mut syn::Block,
        opts: &Options,
        params: Option<&syn::Signature>,
    ) -> (Vec<syn::Error>, bool) {
        Self::run_linted(block, opts, params, false)
    }

    /// [`run`](Rewriter::run); `linted`: an enclosing pass linted the block already (a nested
    /// `scope!`), so this one rewrites only.
    pub(crate) fn run_linted(
        block: &mut syn::Block,
        opts: &Options,
        params: Option<&syn::Signature>,
        linted: bool,
    ) -> (Vec<syn::Error>, bool) {
        Self::run_all(block, opts, params, linted, None, (&[], &[]))
    }

    /// [`run_linted`](Rewriter::run_linted) for a `scope!`'s body; `enclosing`: the names that
    /// hold the handles of the scopes around it, `children` those that hold their children's
    /// handles, which its spawned children cannot borrow.
    pub(crate) fn run_nested(
        block: &mut syn::Block,
        opts: &Options,
        linted: bool,
        enclosing: &[Ident],
        children: &[Ident],
    ) -> (Vec<syn::Error>, bool) {
        Self::run_all(block, opts, None, linted, None, (enclosing, children))
    }

    /// [`run`](Rewriter::run) for a fn of a `#[scoped]` module: `outer` are the module's
    /// `use`s and `type` aliases, which hold in the fn's body too (the body's own hide them).
    pub(crate) fn run_in(
        block: &mut syn::Block,
        opts: &Options,
        params: Option<&syn::Signature>,
        outer: &Aliases,
    ) -> (Vec<syn::Error>, bool) {
        Self::run_all(block, opts, params, false, Some(outer), (&[], &[]))
    }

    /// `enclosing`: the names that hold the handles of the scopes around this one, and those
    /// that hold the handles of their children.
    fn run_all(
        block: &mut syn::Block,
        opts: &Options,
        params: Option<&syn::Signature>,
        linted: bool,
        outer: Option<&Aliases>,
        (enclosing, children): (&[Ident], &[Ident]),
    ) -> (Vec<syn::Error>, bool) {
        let mut rw = Rewriter::new(Some(block), Some(opts));
        for name in children {
            rw.locals.insert(
                lint::unraw(name),
                marked_origin(ENCLOSING_CHILD_HANDLE_ORIGIN),
            );
        }
        for name in enclosing {
            rw.locals
                .insert(lint::unraw(name), enclosing_handle_origin());
        }
        if let Some(outer) = outer {
            let mut aliases = outer.clone();
            aliases.merge(std::mem::take(&mut rw.aliases));
            rw.aliases = aliases;
            let mut every = outer.clone();
            every.merge(Aliases::collect(block));
            rw.leaving = lint::leaving_sets(block, &every);
        }
        rw.allowed = usize::from(linted || opts.allow_orphan);
        if let Some(sig) = params {
            rw.bound.extend(crate::valid::param_names(sig));
            rw.outside.extend(crate::valid::param_names(sig));
            // A name the body binds again anywhere (a `let`, an `if let`, a `match` arm, a
            // closure's input, a `for`) may be an owned value where a child uses it: in doubt
            // the check stays silent (rustc still refuses a real escape).
            let rebound = crate::valid::names_bound_in(block);
            rw.refs.extend(
                crate::valid::reference_param_names(sig)
                    .into_iter()
                    .filter(|name| !rebound.contains(name)),
            );
            rw.record_params(sig, true);
        }
        // The handle is a local of the body's, as the names that hold it under another name
        // are (`let outer = s;`): each holds it until a binding of the same name shadows it.
        if let Some(handle) = rw.handle.clone() {
            rw.locals.insert(handle, handle_origin());
        }
        rw.visit_block_mut(block);
        (rw.errors, rw.provided)
    }

    /// Lints expressions that run in the scope's fn without being its body (the options).
    pub(crate) fn lint_exprs(exprs: Vec<&mut Expr>) -> Vec<syn::Error> {
        let mut rw = Rewriter::new(None, None);
        rw.lint_only += 1;
        for e in exprs {
            rw.visit_expr_mut(e);
        }
        rw.errors
    }

    /// A nested `scope!`: linted here, with what this body knows; then this scope's
    /// `crate = path` (unless it gives its own), and this body's proof.
    fn nested_scope(&mut self, tokens: TokenStream) -> TokenStream {
        let tokens = self.with_crate(tokens);
        if self.discarded > 0 {
            return self.with_outer_proof(tokens);
        }
        self.lint_nested(&tokens);
        self.edits += 1;
        // The names that hold this scope's handle, or one around it, here: the nested scope's
        // spawned children cannot borrow them (its own pass says so at the use).
        let idents = |names: HashSet<String>| {
            let mut names: Vec<String> = names.into_iter().collect();
            names.sort();
            names
                .iter()
                .map(|name| Ident::new(name, Span::call_site()))
                .collect()
        };
        let tokens = Hidden::Linted {
            handles: idents(self.names_of(is_any_handle_origin)),
            // And those that hold a child's handle, of this scope or one around it. (Not from
            // inside a child: there a child's handle is a sibling's, which that child cannot
            // hold at all, and the nested scope's advice, an in-place child, would not do.)
            children: if self.in_child == 0 {
                idents(self.names_of(is_any_child_handle_origin))
            } else {
                Vec::new()
            },
            rest: tokens,
        }
        .to_tokens();
        self.with_outer_proof(tokens)
    }

    /// Lints a nested `scope!`'s body as part of this one: the parameters, locals and `use`s
    /// of the enclosing body are known there, and an opt-out on the statement that holds it
    /// reaches in. (Its own pass, told so, lints nothing again.)
    fn lint_nested(&mut self, tokens: &TokenStream) {
        let mut input = crate::ast::ScopeInput::parse(tokens.clone());
        // Its header's expressions run here, in this body, before the nested scope exists.
        self.lint_only += 1;
        for e in input.options.exprs_mut() {
            self.visit_expr_mut(e);
        }
        self.lint_only -= 1;
        let Some(mut body) = input.body else {
            return;
        };
        let saved = (
            self.locals.clone(),
            self.aliases.clone(),
            self.leaving.clone(),
            self.bound.clone(),
            self.outside.clone(),
            self.edits,
        );

        // The nested scope's handle is its own, whatever an outer name of it was.
        if let Some((handle, _)) = &input.options.handle {
            self.locals.remove(&lint::unraw(handle));
        }
        let mut every = self.aliases.clone();
        every.merge(Aliases::collect(&body));
        self.aliases.merge(Aliases::of_block(&body));
        // The sets made in the nested body that leave it (an outer set that leaves the outer
        // body has its origin so already; an outer name does not make a nested set leave).
        self.leaving = lint::leaving_sets(&body, &every);
        self.lint_only += 1;
        self.visit_block_mut(&mut body);
        self.lint_only -= 1;
        (
            self.locals,
            self.aliases,
            self.leaving,
            self.bound,
            self.outside,
            self.edits,
        ) = saved;
    }

    /// `crate = path, ` in front of a nested `scope!`'s input that names no crate of its own,
    /// when this scope was given one: the nested one then reaches the same facade.
    fn with_crate(&mut self, tokens: TokenStream) -> TokenStream {
        let Some(krate) = &self.krate else {
            return tokens;
        };
        let mut top = tokens.clone().into_iter().peekable();
        while let Some(t) = top.next() {
            if let proc_macro2::TokenTree::Ident(i) = &t {
                let eq = matches!(top.peek(), Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == '=');
                if i == "crate" && eq {
                    return tokens;
                }
            }
        }
        self.edits += 1;
        quote!(crate = #krate, #tokens)
    }

    /// A nested `scope!` gets this body's proof (`@outer __provided;` in front), so its own
    /// proof extends it: a slot bound (or required) out here stays proven in there.
    fn with_outer_proof(&mut self, tokens: TokenStream) -> TokenStream {
        if self.lint_only > 0 || (self.in_child > 0 && !self.child_is_block) {
            return tokens;
        }
        // Inside a child whose future is an `async` block too: the child takes its own copy
        // of the proof (see `rewrite_spawn`), which its nested scope extends.
        self.provided = true;
        self.proof_refs += 1;
        self.edits += 1;
        Hidden::Outer {
            proof: provided_ident(),
            rest: tokens,
        }
        .to_tokens()
    }

    /// An `async move` block or `move` closure `expr` that refers to the body's proof (more
    /// references than `before`) would move it into itself, so that a second one (or the next
    /// turn of a loop) could not use it: it moves a copy, made just before, and the body keeps
    /// its own.
    fn copy_proof_into(&mut self, expr: &mut Expr, before: usize) {
        if self.proof_refs == before || self.lint_only > 0 {
            return;
        }
        let proof = provided_ident();
        self.edits += 1;
        *expr = Expr::Verbatim(quote!({
            let #proof = ::core::clone::Clone::clone(&#proof);
            #expr
        }));
    }

    /// `provided!()` -> `provided!(@proof __provided)`: the proof of the body, also inside a
    /// child's future (it is a value, cloned where it is written).
    fn rewrite_provided(&mut self, mac: &syn::Macro) -> TokenStream {
        let span = name_span(mac);
        let path = &mac.path;
        if !mac.tokens.is_empty() {
            let msg = "`provided!()` takes no arguments";
            return quote_spanned!(span=> ::core::compile_error!(#msg));
        }
        self.provided = true;
        self.proof_refs += 1;
        self.edits += 1;
        let hidden = Hidden::Proof {
            var: provided_ident(),
        }
        .to_tokens();
        quote_spanned!(span=> #path!(#hidden))
    }

    fn orphan(&mut self, span_of: &dyn ToTokens, written: &str, resolved: &[String], kind: Orphan) {
        self.orphan_noted(span_of, written, resolved, kind, "");
    }

    /// [`orphan`](Self::orphan), with `note` (a line of its own, if not empty) after the help.
    fn orphan_noted(
        &mut self,
        span_of: &dyn ToTokens,
        written: &str,
        resolved: &[String],
        kind: Orphan,
        note: &str,
    ) {
        if self.allowed > 0 {
            return;
        }
        // A local task (`spawn_local`, on any receiver or executor) is `!Send`: its help and
        // its owner are a `local` scope's, not `spawn!`'s or a service's.
        let local = kind == Orphan::Local || called_name(written).starts_with("spawn_local");
        let kind = if local && kind == Orphan::Executor {
            Orphan::Local
        } else {
            kind
        };
        let full = resolved.join("::");
        let what = if full == written.trim_start_matches("::") || full.is_empty() {
            format!("`{written}`")
        } else {
            format!("`{written}` (`{full}`)")
        };
        // In a `macro_rules!` rule, the attribute goes on the `macro_rules!` item: on a
        // statement of the rule it would stay in the rule, where rustc refuses it.
        let opt_out = if self.discarded > 0 {
            "mark the `macro_rules!` item `#[scope::allow_orphan]`"
        } else {
            "mark the statement `#[scope::allow_orphan]`"
        };
        // A service takes futures: blocking work and threads go through a scope in its task.
        // A local task (one a set from outside starts too) is `!Send`: no service takes it.
        let owner = match kind {
            _ if local => {
                "`spawn_in_place!` in a `local` scope that lives as long as the work must (one \
                 opened higher up, in `main` for the program's life; a `scope::Service` takes \
                 only `Send` futures)"
            }
            Orphan::Blocking | Orphan::Thread => {
                "a task of a `scope::Service` made in `main` (`service.spawn(..)`), whose scope \
                 runs it with `s.spawn_blocking(..)`"
            }
            _ => "`service.spawn(future)`, on a `scope::Service` made in `main`",
        };
        let msg = format!(
            "{what} {} {} that this scope does not own: {} outlive the scope\n\
             {}\n{note}\
             note: if it must outlive the scope, hand it to an owner that drains it: {owner}; \
             if it really must run unowned, {opt_out}",
            kind.verb(),
            kind.noun(),
            if kind == Orphan::Detached {
                "they could"
            } else {
                "it could"
            },
            kind.help()
        );
        self.errors.push(syn::Error::new_spanned(span_of, msg));
    }

    fn check_path(&mut self, qself: Option<&syn::QSelf>, path: &syn::Path) {
        let (segs, through_type) = lint::expr_path_segments(qself, path);
        for segs in std::iter::once(segs).chain(through_type) {
            let resolved = self.aliases.resolve(&segs);
            if let Some(kind) = lint::classify(&resolved) {
                let written = segs.join("::");
                let written = if path.leading_colon.is_some() && qself.is_none() {
                    format!("::{written}")
                } else {
                    written
                };
                self.orphan(path, &written, &resolved, kind);
                return;
            }
        }
    }

    /// `JoinSet::spawn(set, ..)`: the call form of `.spawn(..)` on a set (any of the sets the
    /// lint knows, and `extend`, through `Extend::extend` too), flagged as the method is when
    /// the set came from outside the scope.
    fn check_call_on_outer_set(&mut self, call: &syn::ExprCall) {
        let Expr::Path(p) = &*call.func else { return };
        let resolved = self
            .aliases
            .resolve(&lint::expr_path_segments(p.qself.as_ref(), &p.path).0);
        let [.., owner, method] = resolved.as_slice() else {
            return;
        };
        let on_a_set = lint::SPAWNING_SETS.contains(&owner.as_str())
            && (lint::SPAWN_METHODS.contains(&method.as_str()) || method == "extend");
        let by_the_trait = owner == "Extend" && method == "extend";
        if !(on_a_set || by_the_trait) {
            return;
        }
        let Some(first) = call.args.first() else {
            return;
        };
        let receiver = match first {
            Expr::Reference(r) => &*r.expr,
            other => other,
        };
        if let Some((kind, _)) =
            lint::classify_method(method, receiver, &self.aliases, &self.locals)
        {
            self.orphan(&call.func, &resolved.join("::"), &[], kind);
        }
    }

    fn check_method(&mut self, call: &syn::ExprMethodCall) {
        let method = lint::unraw(&call.method);
        let found = lint::classify_method(&method, &call.receiver, &self.aliases, &self.locals)
            .or_else(|| self.classify_copied(&method, &call.receiver));
        if let Some((kind, mut root)) = found {
            // `Builder::new().name(..).spawn(..)` reads as `Builder::spawn`; a value of a type
            // (`rt: Arc<Runtime>`) as `Runtime::spawn`.
            // A type reached through a module of the user's (`db::Handle`): it may be a
            // look-alike, which the lint cannot tell before name resolution.
            let own = root.len() >= 3
                && !matches!(
                    root[0].as_str(),
                    "tokio" | "std" | "core" | "futures" | "tokio_util" | "async_std" | "smol"
                );
            let written = if root.len() >= 2 {
                if !root
                    .last()
                    .is_some_and(|s| s.starts_with(char::is_uppercase))
                {
                    root.pop();
                }
                root.push(method);
                root.join("::")
            } else {
                format!(".{method}(..)")
            };
            let note = if own {
                let ty = written
                    .rsplit_once("::")
                    .map_or(written.as_str(), |(ty, _)| ty);
                format!(
                    "note: if `{ty}` is a type of your own, not the runtime's, the lint cannot \
                     tell before name resolution (a path of the crate may be the runtime's type \
                     re-exported): the opt-out below says so\n"
                )
            } else {
                String::new()
            };
            self.orphan_noted(&call.method, &written, &[], kind, &note);
        }
    }

    /// A spawn on a value copied or wrapped where it is called on (`Arc::clone(&a).spawn(..)`,
    /// `Some(Handle::current()).unwrap().spawn(..)`), or on an `if` or a `match` written there:
    /// read as the value of a `let` of that expression is (see [`origin_of`](Self::origin_of)).
    fn classify_copied(&self, method: &str, receiver: &Expr) -> Option<(Orphan, Vec<String>)> {
        let is_spawn = lint::SPAWN_METHODS.contains(&method);
        if !(is_spawn || method == "detach_all" || method == "extend") {
            return None;
        }
        // An `if` or a `match` written as the receiver (`if c { a } else { b }.spawn(..)`),
        // read as its branches' values are when a `let` binds it.
        let branches = matches!(strip_parens(receiver), Expr::If(_) | Expr::Match(_));
        if !branches {
            let (root, _) = lint::indexed_chain_root(receiver)?;
            if !matches!(root, Expr::Call(_)) || std::ptr::eq(lint::unwrapped(root), root) {
                return None;
            }
        }
        let origin = self.origin_of(receiver)?;
        if lint::is_collection(&origin.path) {
            return None;
        }
        lint::classify_on(method, self.aliases.resolve(&origin.path), origin.place)
    }

    /// `shards.push(JoinSet::new())`, `by_key.entry(k).or_insert_with(JoinSet::new)`: a local
    /// of the body that a method gives a set made here holds sets from then on (a spawn on
    /// one of them is the body's, unless the local leaves it). What holds sets already stays
    /// as it is (a list from outside stays one).
    fn record_set_put(&mut self, call: &syn::ExprMethodCall) {
        let Some((name, path)) = lint::set_put_by(call, &self.aliases) else {
            return;
        };
        if self
            .locals
            .get(&name)
            .is_some_and(|o| lint::is_set_path(&self.aliases.resolve(&o.path)))
            || name == "self"
        {
            return;
        }
        let place = if self.leaving.contains(&name) {
            Place::Leaves
        } else {
            Place::Body
        };
        let path = lint::elements_of(path);
        self.locals.insert(name, Origin { path, place });
    }

    /// Records where a `let` binding's value came from.
    fn record_local(&mut self, local: &syn::Local) {
        let mut names = Vec::new();
        crate::valid::pat_names(&local.pat, &mut names);
        // A `let` a `cfg` may leave out does not shadow a parameter or an outside name for the
        // child checks (in doubt, they stay silent); a name it binds anew is the body's.
        let cfg = crate::valid::cfg_gated(&local.attrs);
        for name in names.iter().filter(|_| !cfg) {
            // Shadowed: the name is the `let`'s now, owned or not, and the body's.
            self.refs.remove(name);
            self.outside.remove(name);
        }
        self.bound.extend(names.iter().cloned());
        let (pat, ty) = match &local.pat {
            syn::Pat::Type(pt) => (&*pt.pat, Some(&*pt.ty)),
            other => (other, None),
        };
        let init = local.init.as_ref().map(|i| &*i.expr);
        self.record_binding(pat, ty, init);
        // Nor does it make a handle's alias: the name may hold its value from before.
        for name in names.iter().filter(|_| cfg) {
            let name = name.strip_prefix("r#").unwrap_or(name);
            if self
                .locals
                .get(name)
                .is_some_and(|o| is_handle_origin(o) || is_any_child_handle_origin(o))
            {
                self.locals.remove(name);
            }
        }
        // A set made by collecting futures has spawned them: if it leaves the body, so do they.
        if let (syn::Pat::Ident(pi), Some(init)) = (pat, init) {
            self.check_collected(&lint::unraw(&pi.ident), init);
        }
    }

    /// `let name = <a closure or block that borrows the scope>;` (`mark`, read before the spawns
    /// in it were rewritten): a child cannot hold it (see `handle_in_child`).
    fn record_scope_borrower(&mut self, pat: &syn::Pat, mark: &'static str) {
        let pat = match pat {
            syn::Pat::Type(pt) => &*pt.pat,
            other => other,
        };
        if let syn::Pat::Ident(pi) = pat {
            let name = lint::unraw(&pi.ident);
            if pi.subpat.is_none() {
                self.locals.insert(name, marked_origin(mark));
            }
        }
    }

    /// Whether `init` is a closure or an `async` block (boxed or not) that borrows this scope:
    /// it uses its handle or a closure that does ([`HANDLE_USER_ORIGIN`]), or starts children of
    /// it ([`CHILD_STARTER_ORIGIN`]).
    fn borrows_scope(&self, init: &Expr) -> Option<&'static str> {
        let value = strip_parens(lint::unwrapped(init));
        let pin = |f: &Expr| {
            matches!(f, Expr::Path(p) if matches!(
                lint::segments(&p.path).as_slice(), [.., b, n] if b == "Box" && n == "pin"
            ))
        };
        let value = match value {
            // `Box::pin(async { .. })`
            Expr::Call(c) if c.args.len() == 1 && pin(&c.func) => strip_parens(&c.args[0]),
            other => other,
        };
        if !matches!(value, Expr::Closure(_) | Expr::Async(_)) {
            return None;
        }
        let users = self.names_of(|o| is_handle_origin(o) || is_marked(o, HANDLE_USER_ORIGIN));
        if crate::valid::uses_any(value, &users).is_some() {
            return Some(HANDLE_USER_ORIGIN);
        }
        let starters = self.names_of(|o| is_marked(o, CHILD_STARTER_ORIGIN));
        if starts_children(value) || crate::valid::uses_any(value, &starters).is_some() {
            return Some(CHILD_STARTER_ORIGIN);
        }
        None
    }

    /// `name` is bound to `init`: a set that collected its futures there (`FromIterator`
    /// spawns each) and leaves the body is an orphan's start, as its `spawn` would be.
    fn check_collected(&mut self, name: &str, init: &Expr) {
        let Some((_, written)) = lint::collected(init) else {
            return;
        };
        let Some(origin) = self.locals.get(name) else {
            return;
        };
        // (A list of sets collected, `(0..4).map(|_| JoinSet::new()).collect()`, spawned
        // nothing: its sets were made empty.)
        if origin.place == Place::Leaves
            && !lint::is_collection(&origin.path)
            && lint::is_set_path(&self.aliases.resolve(&origin.path))
        {
            self.orphan(init, &written, &[], Orphan::LeavingJoinSet);
        }
    }

    /// Records where a binding's value came from: its type, the call that made it (also
    /// unwrapped by the pattern: `Ok(h)`, `Some(h)`), or the variable it copies
    /// (`h1.clone()`).
    /// `#[scope::allow_orphan]` was taken off (`allow`): the lint allows what follows until the
    /// caller's matching `self.allowed -= ..`, and the tokens changed. Returns `allow`.
    fn opt_out(&mut self, allow: bool) -> bool {
        self.allowed += usize::from(allow);
        self.edits += usize::from(allow);
        allow
    }

    /// The typed parameters of a fn: the scoped fn's (`from_outside`: their values were
    /// made outside the scope), or one declared in its body (whose callers may pass what the
    /// body made, such as a `JoinSet` it joins).
    fn record_params(&mut self, sig: &syn::Signature, from_outside: bool) {
        let generics = match &self.impl_generics {
            Some(outer) => lint::generic_bounds(&lint::with_outer_generics(&sig.generics, outer)),
            None => lint::generic_bounds(&sig.generics),
        };
        for input in &sig.inputs {
            if let syn::FnArg::Typed(pt) = input {
                self.record_typed(&pt.pat, &pt.ty, from_outside);
                // `ex: S` with `S: Spawn`: known by its bound, as `ex: impl Spawn` is.
                let syn::Pat::Ident(pi) = &*pt.pat else {
                    continue;
                };
                if let Some(origin) = self.locals.get_mut(&lint::unraw(&pi.ident)) {
                    // (`ex: S`, or a collection of them, `exs: &[S]`.)
                    let at = origin
                        .path
                        .iter()
                        .take_while(|s| s.as_str() == "[]")
                        .count();
                    if let [param] = &origin.path[at..] {
                        if let Some(bound) = generics.get(param) {
                            origin.path.truncate(at);
                            origin.path.extend(bound.iter().cloned());
                        }
                    }
                }
            }
        }
    }

    /// A method's `self`, in an `impl` block declared in the body for a type that starts
    /// tasks wherever its value was made (`impl Fire for Handle`): a spawn on `self` is an
    /// orphan's start, as on a parameter of that type. (A set's `self` is read as a set of
    /// the body, as a body fn's set parameter is; the name stays unknown otherwise.)
    fn record_receiver(&mut self, sig: &syn::Signature) {
        self.locals.remove("self");
        let Some(path) = self.impl_self.as_ref().and_then(lint::type_path) else {
            return;
        };
        if sig.receiver().is_some() && lint::spawns_anywhere(&self.aliases.resolve(&path)) {
            let place = Place::Body;
            self.locals
                .insert("self".to_owned(), Origin { path, place });
        }
    }

    /// A binding of a parameter of type `ty` (of a fn or closure).
    fn record_typed(&mut self, pat: &syn::Pat, ty: &syn::Type, from_outside: bool) {
        // A wrapper taken apart in the pattern (an extractor: `State(tracker):
        // State<TaskTracker>`): the binding has the wrapper's one type argument.
        if let (syn::Pat::TupleStruct(ts), syn::Type::Path(tp)) = (pat, ty) {
            let last = tp.path.segments.last();
            let one_arg = last.is_some_and(
                |l| matches!(&l.arguments, syn::PathArguments::AngleBracketed(a) if a.args.len() == 1),
            );
            let inner = last
                .filter(|_| one_arg)
                .and_then(crate::ast::first_type_arg);
            let same = ts.path.segments.last().map(|s| &s.ident) == last.map(|l| &l.ident);
            if let (true, 1, Some(inner)) = (same, ts.elems.len(), inner) {
                return self.record_typed(&ts.elems[0], inner, from_outside);
            }
        }
        // A tuple taken apart (`(h, n): (Handle, u32)`, through a reference to it too, or
        // `mut`'s parentheses): each name has its element's type.
        match (pat, ty) {
            (syn::Pat::Paren(p), _) => return self.record_typed(&p.pat, ty, from_outside),
            (_, syn::Type::Paren(t)) => return self.record_typed(pat, &t.elem, from_outside),
            (_, syn::Type::Group(t)) => return self.record_typed(pat, &t.elem, from_outside),
            (syn::Pat::Tuple(_), syn::Type::Reference(r)) => {
                return self.record_typed(pat, &r.elem, from_outside);
            }
            (syn::Pat::Reference(p), syn::Type::Reference(r)) => {
                return self.record_typed(&p.pat, &r.elem, from_outside);
            }
            (syn::Pat::Tuple(p), syn::Type::Tuple(t)) => {
                // Before a `..`, from the front; after it, from the end.
                let rest = p.elems.iter().position(|e| matches!(e, syn::Pat::Rest(_)));
                let (front, back) = match rest {
                    None => (p.elems.len(), 0),
                    Some(at) => (at, p.elems.len() - at - 1),
                };
                let fits = match rest {
                    None => p.elems.len() == t.elems.len(),
                    Some(_) => front + back <= t.elems.len(),
                };
                if fits {
                    let pats = p.elems.iter().take(front).zip(&t.elems);
                    let tail = p.elems.iter().skip(front + usize::from(rest.is_some()));
                    let tail = tail.zip(t.elems.iter().skip(t.elems.len() - back));
                    for (pat, ty) in pats.chain(tail) {
                        self.record_typed(pat, ty, from_outside);
                    }
                    return;
                }
            }
            _ => {}
        }
        // Its names shadow what they named, whatever the lint makes of the type.
        self.forget_names(pat);
        if let (syn::Pat::Ident(pi), Some(path)) = (pat, lint::type_path(ty)) {
            let place = if from_outside {
                Place::Outside
            } else {
                Place::Body
            };
            self.locals
                .insert(lint::unraw(&pi.ident), Origin { path, place });
        }
    }

    /// Where the value of `expr` comes from: the call that made it, or the local it copies,
    /// through the wrappers that hand out their content (`Arc::new(Handle::current())`,
    /// `Arc::clone(&handle)`) and a chain of calls on it (`Handle::try_current()?`).
    fn origin_of(&self, expr: &Expr) -> Option<Origin> {
        self.origin_as_read(expr).or_else(|| {
            // `{ let a = Handle::current(); a }`: a name the block binds itself, gone from the
            // names the lint holds where the block's value is read: that `let`'s value. (Only
            // where the name reads as nothing: a name it holds keeps what it tracks.)
            let block = lint::unwrapped(expr);
            let name = value_name(block)?;
            let again = rebinding_in_its_block(block, &name)?.followed()?;
            self.origin_of(&again)
        })
    }

    /// A struct's or a tuple's literal: the set made in it, or (a struct update, `Workers {
    /// id: 2, ..w }`) the one the updated value holds.
    fn literal_origin(&self, value: &Expr) -> Option<Origin> {
        if let Some(path) = lint::new_set_in(value, &self.aliases) {
            return Some(Origin {
                path,
                place: Place::Body,
            });
        }
        let Expr::Struct(st) = value else {
            return None;
        };
        self.origin_of(st.rest.as_deref()?)
            .filter(|o| lint::is_set_path(&self.aliases.resolve(&o.path)))
    }

    /// [`origin_of`](Self::origin_of), with a block's value read through the names the lint
    /// holds.
    fn origin_as_read(&self, expr: &Expr) -> Option<Origin> {
        // `'a: { break 'a Handle::current(); }`: what its tail or a `break` to it yields.
        if let Expr::Block(b) = lint::unwrapped(expr) {
            if b.label.is_some() {
                return lint::labeled_block_values(b)
                    .into_iter()
                    .find_map(|v| self.origin_of(v));
            }
        }
        let value = lint::yielded_value(lint::unwrapped(expr))?;
        // `let rt = match Handle::try_current() { Ok(rt) => rt, Err(_) => return .. };`
        match value {
            Expr::Match(m) => {
                return m.arms.iter().find_map(|arm| {
                    let guard = arm.guard.as_ref().map(|(_, g)| chain_lets(g));
                    match guard.filter(|lets| !lets.is_empty()) {
                        // A let guard (`true if let Ok(rt) = Handle::try_current() => rt`):
                        // the arm's pattern, then the guard's lets, read as a let chain.
                        Some(guard) => {
                            let pattern = syn::ExprLet {
                                attrs: Vec::new(),
                                let_token: syn::Token![let](Span::call_site()),
                                pat: Box::new(arm.pat.clone()),
                                eq_token: syn::Token![=](Span::call_site()),
                                expr: m.expr.clone(),
                            };
                            let lets: Vec<&syn::ExprLet> =
                                std::iter::once(&pattern).chain(guard).collect();
                            self.chain_origin(&lets, &arm.body)
                        }
                        None => self.arm_origin(&arm.pat, &m.expr, &arm.body),
                    }
                });
            }
            Expr::If(i) => {
                let then = lint::trailing_expr(&i.then_branch).and_then(|t| {
                    let lets = chain_lets(&i.cond);
                    // A name the branch binds again: its own `let`, read as the value.
                    let again = value_name(t)
                        .and_then(|n| block_rebinding(&i.then_branch, &n))
                        .and_then(Rebinding::followed);
                    match again {
                        Some(again) => self.chain_origin(&lets, &again),
                        None => self.chain_origin(&lets, t),
                    }
                });
                return then.or_else(|| {
                    let (_, other) = i.else_branch.as_ref()?;
                    self.origin_of(other)
                });
            }
            _ => {}
        }
        // `Workers { set: JoinSet::new() }`, `(JoinSet::new(), 1)`: a literal that holds a set
        // made here reads as that set (its fields are followed to it: `workers.set`).
        if let Expr::Struct(_) | Expr::Tuple(_) = value {
            return self.literal_origin(value);
        }
        let (root, reach) = lint::indexed_chain_root(value)?;
        // `[Handle::current()]`, `vec![rt.handle().clone(); 2]`: a collection of what its
        // elements are.
        if let Some(elems) = lint::collection_elements(root) {
            let element = elems.iter().find_map(|e| self.origin_of(e))?;
            let path = lint::elements_of(element.path);
            return Some(Origin {
                path: lint::reached_path(&path, reach)?.to_vec(),
                place: element.place,
            });
        }
        match root {
            // A value wrapped on the spot at the end of a chain (`async { Some(rt) }.await`,
            // `Some(Handle::current()).unwrap()`): what it wraps (not what a `map` on the way
            // makes of it, `Some(rt).map(Exec::new)`).
            Expr::Call(_) if !std::ptr::eq(lint::unwrapped(root), root) && !reach.mapped => {
                let inner = self.origin_of(lint::unwrapped(root))?;
                Some(Origin {
                    path: lint::reached_path(&inner.path, reach)?.to_vec(),
                    place: inner.place,
                })
            }
            Expr::Call(c) => match &*c.func {
                Expr::Path(p) => Some(Origin {
                    path: lint::expr_path_segments(p.qself.as_ref(), &p.path).0,
                    place: Place::Body,
                }),
                _ => None,
            },
            Expr::Path(p) if p.qself.is_none() => {
                let source = p.path.get_ident().map(lint::unraw)?;
                // `let h = &handles[i];`: one of what `handles` holds.
                let origin = self.locals.get(&source)?;
                // What the scope's handle gives (`s.cx()`, `s.is_closed()`) is not the handle:
                // only `handle_held`'s forms are. Nor is what a child's handle gives (its value,
                // `a.await?`), or what a closure or block that borrows the scope gives.
                if is_any_handle_origin(origin)
                    || is_any_child_handle_origin(origin)
                    || is_scope_borrower_origin(origin)
                {
                    return None;
                }
                Some(Origin {
                    path: lint::reached_path(&origin.path, reach)?.to_vec(),
                    place: origin.place,
                })
            }
            _ => None,
        }
    }

    /// The origin of the value of an `if`'s block whose condition binds with `lets` (a let
    /// chain, `if let Ok(h) = .. && ready`; none for a plain `if`): the last of them that
    /// binds the name of the value decides, as in [`arm_origin`](Self::arm_origin); with none
    /// that does, the value's own.
    fn chain_origin(&self, lets: &[&syn::ExprLet], body: &Expr) -> Option<Origin> {
        let name = value_name(body);
        let again = name.as_ref().and_then(|n| rebinding_in_its_block(body, n));
        if let Some(again) = again.and_then(Rebinding::followed) {
            // (`{ let rt = Pool; Some(rt) }`: the block's own `let`, read as the value.)
            return self.chain_origin(lets, &again);
        }
        let binding = lets
            .iter()
            .rev()
            .find(|l| name.as_ref().is_some_and(|n| pat_binds(&l.pat, n)));
        match binding {
            // Its value read with the chain's lets before it (`let Ok(rt) = .. && let Some(h)
            // = Some(rt)`): a name one of them binds is theirs, not the one outside the `if`.
            Some(l) => {
                let at = lets.iter().position(|x| std::ptr::eq(*x, *l))?;
                self.arm_origin_with(&l.pat, body, || self.chain_origin(&lets[..at], &l.expr))
            }
            None => self.origin_of(lint::yielded_value(body)?),
        }
    }

    /// The origin of the value of a branch (a `match` arm, an `if let`'s block) whose pattern
    /// `pat` matched `scrutinee`: the name the pattern binds whole (`Ok(rt) => rt`, `Some(h)
    /// => h.clone()`) has the scrutinee's origin, as inside the branch; another name it binds
    /// has none the lint knows; a value that uses none of them, its own. `None` for a branch
    /// that diverges (`Err(_) => return ..`), which gives the binding no value.
    fn arm_origin(&self, pat: &syn::Pat, scrutinee: &Expr, body: &Expr) -> Option<Origin> {
        self.arm_origin_with(pat, body, || self.origin_of(scrutinee))
    }

    /// [`arm_origin`](Self::arm_origin) with the scrutinee's origin found by `scrutinee`.
    fn arm_origin_with(
        &self,
        pat: &syn::Pat,
        body: &Expr,
        scrutinee: impl FnOnce() -> Option<Origin>,
    ) -> Option<Origin> {
        let value = lint::yielded_value(body)?;
        let mut bound = Vec::new();
        crate::valid::pat_names(pat, &mut bound);
        let root = lint::indexed_chain_root(lint::unwrapped(value));
        let Some((Expr::Path(p), reach)) = root else {
            return self.origin_of(value);
        };
        let Some(name) = p
            .path
            .get_ident()
            .filter(|_| p.qself.is_none())
            .map(lint::unraw)
        else {
            return self.origin_of(value);
        };
        let again = rebinding_in_its_block(body, &name).and_then(Rebinding::followed);
        if let Some(again) = again {
            // A name the branch's own block binds again (`{ drop(rt); let rt = Pool; rt }`):
            // that `let`'s value, read with the pattern's names (`let rt = rt.clone()`).
            return self.arm_origin_with(pat, &again, scrutinee);
        }
        if !bound.iter().any(|b| b.trim_start_matches("r#") == name) {
            return self.origin_of(value);
        }
        let whole = match pat {
            syn::Pat::TupleStruct(ts) if ts.elems.len() == 1 => &ts.elems[0],
            syn::Pat::Paren(p) => &p.pat,
            other => other,
        };
        match whole {
            syn::Pat::Ident(pi) if pi.subpat.is_none() && lint::unraw(&pi.ident) == name => {
                let origin = scrutinee()?;
                Some(Origin {
                    path: lint::reached_path(&origin.path, reach)?.to_vec(),
                    place: origin.place,
                })
            }
            _ => None,
        }
    }

    /// A `for` loop's binding: an element of what it iterates over, when that is a collection
    /// the lint knows (`for h in handles`, `for h in handles.iter()`).
    fn record_element(&mut self, pat: &syn::Pat, iterated: &Expr) {
        // `for (i, set) in sets.iter_mut().enumerate()`: `set` is an element.
        if let (syn::Pat::Tuple(t), Some(inner)) = (pat, enumerated(iterated)) {
            if t.elems.len() == 2 {
                self.forget_names(&t.elems[0]);
                return self.record_element(&t.elems[1], inner);
            }
        }
        let element = element_origin(self.origin_of(iterated).as_ref());
        if let syn::Pat::Slice(_) = pat {
            // `for [h] in [[Handle::current()]]`: each element is taken apart again.
            return self.record_slice_element(pat, element);
        }
        let syn::Pat::Ident(pi) = pat else {
            // A pattern of parts (`for (i, mut set) in ..`): no name it binds keeps an origin
            // it had before.
            self.forget_names(pat);
            return;
        };
        self.insert_or_forget(lint::unraw(&pi.ident), element);
    }

    /// The names of a slice pattern matched against a value whose origin is `whole` (a
    /// collection's, or `None`): each element is one of what it holds, `rest @ ..` a part of
    /// it, a nested slice pattern an element taken apart again. A name bound another way
    /// (in a tuple, a struct) keeps no origin.
    fn record_slice_element(&mut self, pat: &syn::Pat, whole: Option<Origin>) {
        match pat {
            syn::Pat::Slice(ps) => {
                for p in &ps.elems {
                    match p {
                        syn::Pat::Rest(_) => {}
                        // `rest @ ..`: a part of the same collection.
                        syn::Pat::Ident(pi) if lint::binds_rest(p) => {
                            self.insert_or_forget(lint::unraw(&pi.ident), whole.clone());
                        }
                        syn::Pat::Slice(_) => {
                            self.record_slice_element(p, element_origin(whole.as_ref()));
                        }
                        syn::Pat::Ident(pi) if pi.subpat.is_none() && !names_a_constant(pi) => {
                            let element = element_origin(whole.as_ref());
                            self.insert_or_forget(lint::unraw(&pi.ident), element);
                        }
                        other => self.forget_names(other),
                    }
                }
            }
            // `rest @ ..` of an array written out: a part of the whole.
            syn::Pat::Ident(pi) => self.insert_or_forget(lint::unraw(&pi.ident), whole),
            other => self.forget_names(other),
        }
    }

    fn insert_or_forget(&mut self, name: String, origin: Option<Origin>) {
        match origin {
            Some(origin) => {
                self.locals.insert(name, origin);
            }
            None => {
                self.locals.remove(&name);
            }
        }
    }

    /// A closure's parameters: their names shadow the body's, a typed one has its type's
    /// origin, and the first takes what a combinator hands it, if known (see
    /// `closure_origin`).
    fn record_closure_inputs(&mut self, c: &syn::ExprClosure) {
        let handed = self.closure_origin.take();
        for input in &c.inputs {
            match input {
                syn::Pat::Type(pt) => self.record_typed(&pt.pat, &pt.ty, false),
                other => self.forget_names(other),
            }
        }
        let first = match (c.inputs.first(), &handed) {
            (Some(syn::Pat::Ident(pi)), Some((_, false))) => Some(pi),
            // Typed (`|set: &mut JoinSet<()>|`): what it is handed says where it comes from.
            (Some(syn::Pat::Type(pt)), Some((_, false))) => match &*pt.pat {
                syn::Pat::Ident(pi) => Some(pi),
                _ => None,
            },
            // `.enumerate().for_each(|(i, h)| ..)`: `h` is the element.
            (Some(syn::Pat::Tuple(t)), Some((_, true))) if t.elems.len() == 2 => {
                match &t.elems[1] {
                    syn::Pat::Ident(pi) => Some(pi),
                    _ => None,
                }
            }
            _ => None,
        };
        if let (Some(pi), Some((origin, _))) = (first, handed) {
            self.locals.insert(lint::unraw(&pi.ident), origin);
        }
    }

    /// A `select!` branch's pattern, for its body: its names are the branch's, as a `let`'s
    /// are (see `record_local`). Gives back what to restore after the body.
    fn bind_in_arm(&mut self, pat: &syn::Pat) -> ArmSaved {
        let saved = (
            self.locals.clone(),
            self.refs.clone(),
            self.outside.clone(),
            self.bound.clone(),
        );
        self.forget_names(pat);
        let mut names = Vec::new();
        crate::valid::pat_names(pat, &mut names);
        for name in &names {
            self.refs.remove(name);
            self.outside.remove(name);
        }
        self.bound.extend(names);
        saved
    }

    /// After a `select!` branch's body: what its pattern's names had hidden.
    fn restore_arm(&mut self, (locals, refs, outside, bound): ArmSaved) {
        self.locals = locals;
        self.refs = refs;
        self.outside = outside;
        self.bound = bound;
    }

    /// A `match`: each arm's pattern binds what the scrutinee gives, for that arm only.
    fn visit_match(&mut self, m: &mut syn::ExprMatch) {
        // Read before the spawn in it is rewritten.
        let child_in_ok = makes_child_result(&m.expr);
        self.visit_expr_mut(&mut m.expr);
        for arm in &mut m.arms {
            // `match Handle::try_current() { Ok(h) => .. }`: `h` is what it made, in
            // that arm only.
            let locals = self.locals.clone();
            self.record_binding(&arm.pat, None, Some(&m.expr));
            let names = self.bind_pattern(&arm.pat);
            // `match try_spawn!(..) { Ok(h) => .. }`: `h` is the handle.
            if let Some(inner) = ok_pattern(&arm.pat).filter(|_| child_in_ok) {
                self.record_child_handle(inner);
            }
            visit_mut::visit_arm_mut(self, arm);
            self.restore_names(names);
            self.locals = locals;
        }
    }

    /// The names `pat` binds (an `if let`'s, a `match` arm's, a `for`'s) are the body's own
    /// locals where they reach: a child that assigns to one or borrows one is told so, and
    /// none is a parameter or an outside name any more. Gives back what to restore after.
    fn bind_pattern(&mut self, pat: &syn::Pat) -> NamesSaved {
        let saved = self.save_names();
        let mut names = Vec::new();
        crate::valid::pat_names(pat, &mut names);
        // A capitalised name in a pattern is a unit variant or a constant (`None`, `MAX`),
        // not a binding: in doubt, nothing is said of it.
        names.retain(|n| !n.starts_with(|c: char| c.is_uppercase()));
        for name in &names {
            // Shadowed: not a parameter, an outside name or a `let`'s of the body any more.
            self.refs.remove(name);
            self.outside.remove(name);
            self.bound.remove(name);
        }
        self.pattern_bound.extend(names);
        saved
    }

    /// What a pattern's names may hide, to restore after their reach.
    fn save_names(&self) -> NamesSaved {
        (
            self.refs.clone(),
            self.outside.clone(),
            self.bound.clone(),
            self.pattern_bound.clone(),
        )
    }

    /// After the reach of a pattern's names: what they had hidden.
    fn restore_names(&mut self, (refs, outside, bound, pattern_bound): NamesSaved) {
        self.refs = refs;
        self.outside = outside;
        self.bound = bound;
        self.pattern_bound = pattern_bound;
    }

    /// The names `pat` binds shadow what they named: none keeps an origin it had before.
    fn forget_names(&mut self, pat: &syn::Pat) {
        let mut names = Vec::new();
        crate::valid::pat_names(pat, &mut names);
        for name in names {
            self.locals.remove(name.trim_start_matches("r#"));
        }
    }

    /// Whether `expr` is a name whose origin `which` accepts (a scope's handle, this one's or
    /// one around it, or a closure that borrows the scope: the origin says which), through
    /// parentheses, references, dereferences, `.clone()` and both branches of an `if`
    /// (holding the same one), a wrapper that keeps it whole (`Some(s)`, `Box::new(s)`) and a
    /// block's value. What another call, an `.await` or a `?` makes of it is not it.
    fn held_origin(&self, expr: &Expr, which: fn(&Origin) -> bool) -> Option<Origin> {
        match expr {
            Expr::Paren(e) => self.held_origin(&e.expr, which),
            Expr::Group(e) => self.held_origin(&e.expr, which),
            Expr::Reference(e) => self.held_origin(&e.expr, which),
            Expr::Unary(e) if matches!(e.op, syn::UnOp::Deref(_)) => {
                self.held_origin(&e.expr, which)
            }
            Expr::MethodCall(m) if m.method == "clone" && m.args.is_empty() => {
                self.held_origin(&m.receiver, which)
            }
            // Kept whole in a wrapper: `Some(s)`, `Box::new(s)`, `Arc::clone(&s)`.
            Expr::Call(_) => {
                let inner = lint::unwrapped(expr);
                if std::ptr::eq(inner, expr) {
                    return None;
                }
                self.held_origin(inner, which)
            }
            // `{ s }`, `'a: { s }`, `'a: { break 'a s }` (not what other `break`s give; a
            // block with statements of its own may bind the name again: not followed).
            Expr::Block(b) if b.block.stmts.len() == 1 => match lint::trailing_expr(&b.block)? {
                Expr::Break(br)
                    if br.label.is_some()
                        && br.label.as_ref().map(|l| &l.ident)
                            == b.label.as_ref().map(|l| &l.name.ident) =>
                {
                    self.held_origin(br.expr.as_deref()?, which)
                }
                tail => self.held_origin(tail, which),
            },
            Expr::If(i) => {
                let then = lint::trailing_expr(&i.then_branch)?;
                let other = match i.else_branch.as_ref().map(|(_, e)| &**e)? {
                    Expr::Block(b) => lint::trailing_expr(&b.block)?,
                    other => other,
                };
                let held = self.held_origin(then, which)?;
                (self.held_origin(other, which)?.path == held.path).then_some(held)
            }
            Expr::Path(p) if p.qself.is_none() => p
                .path
                .get_ident()
                .and_then(|name| self.locals.get(&lint::unraw(name)))
                .filter(|origin| which(origin))
                .cloned(),
            _ => None,
        }
    }

    /// A scope's handle under another name: the forms of [`held_origin`](Self::held_origin).
    fn handle_held(&self, expr: &Expr) -> Option<Origin> {
        self.held_origin(expr, is_any_handle_origin)
    }

    /// `let a = spawn!(..);` (or `let a: Child<_> = ..`): `a` holds a child's handle.
    fn record_child_handle(&mut self, pat: &syn::Pat) {
        let pat = match pat {
            syn::Pat::Type(pt) => &*pt.pat,
            other => other,
        };
        if let syn::Pat::Ident(pi) = pat {
            if pi.subpat.is_none() {
                let name = lint::unraw(&pi.ident);
                self.locals.insert(name, marked_origin(CHILD_HANDLE_ORIGIN));
            }
        }
    }

    fn record_binding(&mut self, pat: &syn::Pat, ty: Option<&syn::Type>, init: Option<&Expr>) {
        // `Err(e)`: not what an `Ok(..)` or a `Some(..)` holds.
        if let syn::Pat::TupleStruct(ts) = pat {
            if ts.path.segments.last().is_some_and(|s| s.ident == "Err") {
                self.forget_names(pat);
                return;
            }
        }
        let pat = match pat {
            syn::Pat::TupleStruct(ts) if ts.elems.len() == 1 => &ts.elems[0],
            syn::Pat::Paren(p) => &p.pat,
            other => other,
        };
        // `let (rt, n) = (Handle::current(), 1);`: each name is what its element is (`(rt,
        // ..)`, `(.., rt)` too).
        if let (syn::Pat::Tuple(pt), Some(Expr::Tuple(et))) = (pat, init.map(strip_parens)) {
            if let Some(pairs) = lint::slice_pairs(&pt.elems, &et.elems) {
                for (p, e) in pairs {
                    // (A tuple's rest binds no name: every pair has its element.)
                    if let Some(e) = e {
                        self.record_binding(p, None, Some(e));
                    }
                }
                return;
            }
        }
        // `let [rt] = [Handle::current()];`: the same, for an array's elements (`[first, ..]`,
        // `[.., last]` too; `rest @ ..` is an array of those it stands for).
        if let (syn::Pat::Slice(ps), Some(Expr::Array(ea))) = (pat, init.map(strip_parens)) {
            if let Some(pairs) = lint::slice_pairs(&ps.elems, &ea.elems) {
                for (p, e) in pairs {
                    if let Some(e) = e {
                        self.record_binding(p, None, Some(e));
                    } else {
                        let whole = init.and_then(|init| self.origin_of(init));
                        self.record_slice_element(p, whole);
                    }
                }
                return;
            }
        }
        // `let [h] = handles;`, `let [first, ..] = handles;`: each name is one of what the
        // value holds (an array, or a slice of one), as `handles[0]` is.
        if let syn::Pat::Slice(_) = pat {
            let whole = init.and_then(|init| self.origin_of(init));
            self.record_slice_element(pat, whole);
            return;
        }
        let syn::Pat::Ident(pi) = pat else {
            // Bound to what the lint cannot place: no name keeps an origin it had before.
            self.forget_names(pat);
            return;
        };
        if names_a_constant(pi) {
            // `None`, `MAX`: a unit variant or a constant to compare with, which binds nothing;
            // or, in a `let`, a name of that spelling bound again (`let A = n + 1;`), which
            // the lint cannot place: it keeps no origin it had before.
            self.locals.remove(&lint::unraw(&pi.ident));
            return;
        }
        let name = lint::unraw(&pi.ident);
        // A scope's handle under another name (`let outer = s;`, `let again = &outer;`), or a
        // closure that borrows the scope (`let again = stop;`; not what calling or awaiting
        // it gives, `let cx = get.await;`).
        // (`outer @ _ = s` too: the name holds the whole value, whatever its subpattern.)
        if let Some(held) = init.and_then(|init| {
            // (Kept whole in a wrapper, a handle or closure is still it: `Some(s)`, `Box::new(stop)`.)
            self.handle_held(init)
                .or_else(|| self.held_origin(init, is_scope_borrower_origin))
        }) {
            self.locals.insert(name, held);
            return;
        }
        // A child's handle under another name (`let b = a;`): a sibling cannot use it (see
        // `handle_in_child`; the spawn's own `let` is `record_child_handle`'s).
        // (A handle of a child of a scope around this one stays one: `let b = a;`.)
        let child_handle = init.and_then(|init| self.held_origin(init, is_any_child_handle_origin));
        if let Some(origin) = child_handle {
            self.locals.insert(name, origin);
            return;
        }
        let typed = ty.and_then(lint::type_path).map(|path| Origin {
            path,
            place: Place::Body,
        });
        // A value collected here (`xs.iter().map(..).collect()`) is made here, whatever the
        // iterator it was collected from (a parameter's).
        let collects = init.is_some_and(|init| lint::collected_type(init).is_some());
        let traced = init
            .filter(|_| !collects)
            .and_then(|init| self.origin_of(init));
        // Collected into a type it names (`collect::<JoinSet<_>>()`, `JoinSet::from_iter`).
        let traced = traced.or_else(|| {
            let path = lint::collected_type(init?)?;
            (!path.is_empty()).then_some(Origin {
                path,
                place: Place::Body,
            })
        });
        // The type says what it is; where it comes from, the initialiser says: a set from
        // outside stays one through `let tasks: &mut JoinSet<()> = set;`.
        let origin = match (typed, traced) {
            (Some(typed), Some(traced)) => Some(Origin {
                path: typed.path,
                place: traced.place,
            }),
            (typed, traced) => typed.or(traced),
        };
        match origin {
            Some(Origin { path, mut place }) => {
                // A set made in the body that the body moves out: its tasks leave with it.
                if place == Place::Body && self.leaving.contains(&name) {
                    place = Place::Leaves;
                }
                self.locals.insert(name, Origin { path, place });
            }
            None => {
                // Shadowed by something the lint cannot place.
                self.locals.remove(&name);
            }
        }
    }

    /// The error for a spawned `async` block that borrows `local`: what to write depends on
    /// where the name comes from (a reference parameter, a name declared outside the scope,
    /// a local of the scope's own body).
    fn borrow_message(&self, kind: SpawnKind, local: &Ident) -> String {
        if self.refs.contains(&crate::lint::unraw(local)) {
            format!(
                "this `async` block uses `{local}`, a reference, but a child started \
                 with `{m}` runs as its own task, in parallel, and can keep nothing \
                 borrowed, even moved\n\
                 help: copy or clone what the child needs out of `{local}` into a local \
                 first, and move that local in (`{m}(async move {{ .. }})`), or use \
                 `{in_place}(..)`, whose children may borrow from outside the scope",
                m = kind.macro_name(),
                in_place = kind.in_place().macro_name(),
            )
        } else if self.outside.contains(&crate::lint::unraw(local)) {
            format!(
                "this `async` block borrows `{local}`, but a child started with `{m}` \
                 runs as its own task, in parallel, and must own what it uses\n\
                 help: write `{m}(async move {{ .. }})` to move `{local}` into the \
                 child, or use `{in_place}(..)`, whose children may borrow from outside \
                 the scope",
                m = kind.macro_name(),
                in_place = kind.in_place().macro_name(),
            )
        } else {
            format!(
                "this `async` block borrows `{local}`, but a child started with `{m}` \
                 runs as its own task, in parallel, and must own what it uses\n\
                 help: write `{m}(async move {{ .. }})` to move `{local}` into the \
                 child (clone it first if the body still needs it); an in-place child \
                 cannot borrow it either: `{local}` is declared in the scope's body, \
                 which ends before the scope joins its children (to lend it to \
                 in-place children, declare it outside the scope: a parameter of the \
                 fn, or a local before the `scope!`)",
                m = kind.macro_name(),
            )
        }
    }

    /// The spawn macro `path`, told to report `msg` at `at` (its import stays used).
    fn spawn_error(path: &syn::Path, span: Span, msg: &str, at: Span) -> TokenStream {
        let hidden = Hidden::Error(syn::LitStr::new(msg, at)).to_tokens();
        quote_spanned!(span=> #path!(#hidden))
    }

    /// The locals whose origin is one `which` accepts.
    fn names_of(&self, which: fn(&Origin) -> bool) -> HashSet<String> {
        self.locals
            .iter()
            .filter(|(_, origin)| which(origin))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A child's future that uses a scope's handle (or a name that holds it): its own scope's,
    /// which no child can hold, or, for a spawned child, one around it, which it cannot
    /// borrow. The message and where to report it.
    fn handle_in_child(&self, kind: SpawnKind, fut: &Expr) -> Option<(String, Span)> {
        if let Some(used) = crate::valid::uses_any(fut, &self.names_of(is_handle_origin)) {
            let named = match &self.handle {
                Some(handle) if crate::lint::unraw(&used) != *handle => {
                    format!(" (`{handle}` under another name)")
                }
                _ => String::new(),
            };
            let msg = format!(
                "this child uses `{used}`, the handle of the scope it is a child of{named}, but \
                 a child cannot hold its own scope (the scope joins it)\n\
                 help: to cancel the scope from the child, move a clone of its context in \
                 (`let cx = {used}.cx().clone();` before `{m}`, then `cx.cancel(..)` in the \
                 child), or return an error from it (under fail-fast that cancels the \
                 siblings); to start more work, open a nested `scope!` in the child",
                m = kind.macro_name(),
            );
            return Some((msg, used.span()));
        }
        let borrowers = self.names_of(is_scope_borrower_origin);
        if let Some(used) = crate::valid::uses_any(fut, &borrowers) {
            let starts = self
                .locals
                .get(&crate::lint::unraw(&used))
                .is_some_and(|o| is_marked(o, CHILD_STARTER_ORIGIN));
            let msg = if starts {
                format!(
                    "this child uses `{used}`, which starts children of the scope it is a child \
                     of (a spawn macro in it binds them to the scope), but a child cannot hold \
                     its own scope (the scope joins it)\n\
                     help: start them in the scope's body; or open a nested `scope!` in the \
                     child and start them there, as children of the child"
                )
            } else {
                let handle = self.handle.as_deref().unwrap_or("s");
                format!(
                    "this child uses `{used}`, which uses the handle of the scope it is a child \
                     of, but a child cannot hold its own scope (the scope joins it)\n\
                     help: to cancel the scope from the child, have the closure or block use a \
                     clone of its context instead (`let cx = {handle}.cx().clone();` before it, then \
                     `cx.cancel(..)` in it), or return an error from the child (under \
                     fail-fast that cancels the siblings); to start more work, open a nested \
                     `scope!` in the child"
                )
            };
            return Some((msg, used.span()));
        }
        let around = self.names_of(is_enclosing_handle_origin);
        if let Some(used) = crate::valid::uses_any(fut, &around).filter(|_| kind.is_spawned()) {
            let msg = format!(
                "this child uses `{used}`, the handle of a scope around the one it is a child \
                 of, but a child started with `{m}` runs as its own task and cannot borrow a \
                 scope\n\
                 help: to cancel that scope from the child, move a clone of its context in \
                 (`let cx = {used}.cx().clone();` before `{m}`, then `cx.cancel(..)` in the \
                 child); or start it with `{in_place}(..)`, whose children may borrow what \
                 outlives their scope",
                m = kind.macro_name(),
                in_place = kind.in_place().macro_name(),
            );
            return Some((msg, used.span()));
        }
        let siblings = self.names_of(is_child_handle_origin);
        if let Some(used) = crate::valid::uses_any(fut, &siblings) {
            let msg = format!(
                "this child uses `{used}`, the handle of another child of its scope, but a \
                 child cannot hold a sibling's handle (a handle borrows the scope, and the \
                 scope holds the child)\n\
                 help: await `{used}` in the scope's body and move its value into this child \
                 (`let value = {used}.await?;` before `{m}`); or send the value from one child \
                 to the other through a channel (`tokio::sync::oneshot`)",
                m = kind.macro_name(),
            );
            return Some((msg, used.span()));
        }
        let around = self.names_of(is_enclosing_child_handle_origin);
        if let Some(used) = crate::valid::uses_any(fut, &around).filter(|_| kind.is_spawned()) {
            let msg = format!(
                "this child uses `{used}`, the handle of a child of a scope around the one it \
                 is a child of, but a child started with `{m}` runs as its own task and cannot \
                 borrow a handle (a handle borrows its scope)\n\
                 help: await `{used}` before `{m}` and move its value in (`let value = \
                 {used}.await?;`); or start this child with `{in_place}(..)`, whose children \
                 may borrow what outlives their scope",
                m = kind.macro_name(),
                in_place = kind.in_place().macro_name(),
            );
            return Some((msg, used.span()));
        }
        None
    }

    /// `spawn!(..)` -> `spawn!(@scope __scope, ..)`; an error expression when misused.
    fn rewrite_spawn(&mut self, kind: SpawnKind, mac: &syn::Macro) -> TokenStream {
        let span = name_span(mac);
        let path = &mac.path;
        // Rewritten on every path below (to the method call, or to the problem's report).
        self.edits += 1;
        let hidden = Hidden::parse(&mac.tokens);
        if let Some(Hidden::Error(_)) = hidden {
            // A problem an enclosing pass reported already (in a scope it did not see as
            // one): passed on as it is.
            let tokens = &mac.tokens;
            return quote_spanned!(span=> #path!(#tokens));
        }
        if let Some(Hidden::Scope { .. } | Hidden::Nested | Hidden::Race) = hidden {
            // Bound by an enclosing pass that did not see this scope as one: a `scope!` renamed
            // on import, or called from another macro. Said here, at the user's `spawn!`, not
            // as a parse error at the enclosing attribute.
            return syn::Error::new(span, NESTED_UNSEEN).to_compile_error();
        }
        // The output keeps the user's macro path (so their `use scope::spawn` is used); the
        // spawn macro then expands to the method call, or reports the problem at its call site.
        if self.in_child > 0 {
            let hidden = Hidden::Nested.to_tokens();
            return quote_spanned!(span=> #path!(#hidden));
        }
        if self.race && !kind.is_plain() {
            let hidden = Hidden::Race.to_tokens();
            return quote_spanned!(span=> #path!(#hidden));
        }
        // The scope's variable, placed at the user's `spawn!` (it still resolves where the
        // scope declared it): the call the spawn macro writes starts there.
        let mut scope = self.scope.clone();
        scope.set_span(span.resolved_at(scope.span()));
        let Ok(mut args) = SpawnArgs::parse(mac.tokens.clone(), kind) else {
            // Unparsable arguments: let the spawn macro report them, spanned at the user's code.
            let hidden = Hidden::Scope {
                scope,
                args: mac.tokens.clone(),
            }
            .to_tokens();
            return quote_spanned!(span=> #path!(#hidden));
        };
        if let Some((msg, at)) = self.handle_in_child(kind, &args.fut) {
            return Self::spawn_error(path, span, &msg, at);
        }
        if kind.is_spawned() {
            let found = crate::valid::used_reference(&args.fut, &self.refs)
                .or_else(|| crate::valid::borrowed_local(&args.fut, &self.bound));
            if let Some(local) = found {
                let msg = self.borrow_message(kind, &local);
                return Self::spawn_error(path, span, &msg, local.span());
            }
        } else {
            // An in-place child that assigns to a local of the body (a counter): rustc's
            // E0373 says "use `move`", which compiles, and the child then updates a copy of
            // its own that the body never sees.
            let own: HashSet<String> = self
                .bound
                .union(&self.pattern_bound)
                .filter(|name| !self.outside.contains(*name))
                .cloned()
                .collect();
            if let Some(local) = crate::valid::assigned_local(&args.fut, &own) {
                let msg = format!(
                    "this `async` block assigns to `{local}`, a local of the scope's body, \
                     but the body ends before the scope joins its children: an in-place child \
                     may borrow only what outlives its scope (`move` would move it into the \
                     child: the body would not see the child's changes, and a `Copy` value, a \
                     counter, would compile and keep its old value)\n\
                     help: have the child return what it computes, and update `{local}` \
                     with it in the body (`let value = child.await?;`); or declare `{local}` \
                     before a `scope!` (the child may borrow it then) and read it once the \
                     scope has ended",
                );
                return Self::spawn_error(path, span, &msg, local.span());
            }
        }
        let proofs_before = self.proof_refs;
        self.in_child += 1;
        let was_block =
            std::mem::replace(&mut self.child_is_block, matches!(args.fut, Expr::Async(_)));
        self.visit_expr_mut(&mut args.fut);
        self.child_is_block = was_block;
        if let Some(name) = &mut args.name {
            self.visit_expr_mut(name);
        }
        self.in_child -= 1;
        let uses_proof = self.proof_refs > proofs_before;
        let proof = provided_ident();
        let mut owns_a_copy = false;
        if let Expr::Async(block) = &mut args.fut {
            if block.capture.is_none() && uses_proof {
                // A block without `move` that uses the body's proof (`provided!()`, a nested
                // scope extending it) would borrow it, and a child cannot (a spawned one is
                // `'static`, an in-place one outlives the body): it takes its own copy by
                // value, made just before, as a first statement that moves it in.
                block
                    .block
                    .stmts
                    .insert(0, syn::parse_quote!(let #proof = #proof;));
                owns_a_copy = true;
            }
        }
        let fut = &args.fut;
        let name = args.name.as_ref().map(|n| quote!(name = #n,));
        let hidden = Hidden::Scope {
            scope,
            args: quote!(#name #fut),
        }
        .to_tokens();
        let call = quote_spanned!(span=> #path!(#hidden));
        let moves = matches!(&args.fut, Expr::Async(a) if a.capture.is_some());
        if (moves || owns_a_copy) && uses_proof {
            // An `async move` child that uses `provided!()` would move the body's proof into
            // itself: it moves a copy, made here, and the body keeps its own.
            return quote_spanned!(span=> {
                let #proof = ::core::clone::Clone::clone(&#proof);
                #call
            });
        }
        call
    }

    /// The arguments of another macro (`vec![..]`, `println!(..)`, `tokio::join!(..)`,
    /// `tokio::select! {..}`): rewritten as expressions when they parse as a comma-separated
    /// list, as tokens otherwise.
    fn rewrite_macro(&mut self, mac: &mut syn::Macro) {
        if lint::never_runs(&mac.path) {
            return;
        }
        let before = self.edits;
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        if let Ok(mut exprs) = syn::parse::Parser::parse2(parser, mac.tokens.clone()) {
            for e in &mut exprs {
                self.visit_expr_mut(e);
            }
            if self.edits != before {
                mac.tokens = exprs.into_token_stream();
            }
            return;
        }
        // A block of statements (`defer! { .. }`, a helper macro of the crate's own): read as
        // code, with the body's variables known, so that a method-form spawn in it is seen.
        if let Ok(stmts) = syn::parse::Parser::parse2(syn::Block::parse_within, mac.tokens.clone())
        {
            let mut block = syn::Block {
                brace_token: syn::token::Brace::default(),
                stmts,
            };
            self.visit_block_mut(&mut block);
            if self.edits != before {
                let stmts = &block.stmts;
                mac.tokens = quote!(#(#stmts)*);
            }
            return;
        }
        let tokens = self.rewrite_macro_tokens(&mac.path, mac.tokens.clone());
        if self.edits != before {
            mac.tokens = tokens;
        }
    }

    /// A macro call found while scanning tokens: the spawn macros and `provided!` are
    /// rewritten, a nested `scope!` gets the proof, other macros' arguments are scanned.
    fn rewrite_token_macro(
        &mut self,
        path: &syn::Path,
        g: &Group,
        out: &mut TokenStream,
        written: &[TokenTree],
    ) {
        let last = last_segment(path);
        let rewrite = self.lint_only == 0;
        let mac = || syn::Macro {
            path: path.clone(),
            bang_token: Token![!](Span::call_site()),
            delimiter: match g.delimiter() {
                Delimiter::Brace => syn::MacroDelimiter::Brace(syn::token::Brace(g.delim_span())),
                Delimiter::Bracket => {
                    syn::MacroDelimiter::Bracket(syn::token::Bracket(g.delim_span()))
                }
                _ => syn::MacroDelimiter::Paren(syn::token::Paren(g.delim_span())),
            },
            tokens: g.stream(),
        };
        match last.as_deref().and_then(SpawnKind::from_name) {
            Some(kind) if rewrite => {
                out.extend(self.rewrite_spawn(kind, &mac()));
                return;
            }
            _ => {}
        }
        if rewrite && last.as_deref() == Some("provided") {
            out.extend(self.rewrite_provided(&mac()));
            return;
        }
        out.extend(written.iter().cloned());
        if lint::never_runs(path) {
            out.extend(std::iter::once(TokenTree::Group(g.clone())));
            return;
        }
        let inner = if last.as_deref() == Some("scope") {
            self.nested_scope(g.stream())
        } else {
            self.rewrite_macro_tokens(path, g.stream())
        };
        let mut ng = Group::new(g.delimiter(), inner);
        ng.set_span(g.span());
        out.extend(std::iter::once(TokenTree::Group(ng)));
    }

    /// The token-level pass over the arguments of the macro `path`; a `select!` is read part
    /// by part instead (see `rewrite_select`).
    fn rewrite_macro_tokens(&mut self, path: &syn::Path, tokens: TokenStream) -> TokenStream {
        match lint::select_shape(path, &tokens) {
            Some(shape) => {
                let trees: Vec<TokenTree> = tokens.into_iter().collect();
                self.rewrite_select(&trees, shape)
            }
            None => self.rewrite_tokens(tokens),
        }
    }

    /// A `select!` (`trees`, parsed as `shape`, whose counts of trees are of these), read where
    /// each part is: each branch's future and guard as the expressions they are, run within the
    /// body; its body (a block, or an expression) with the names its pattern binds, which are
    /// the branch's there and nowhere else.
    fn rewrite_select(&mut self, trees: &[TokenTree], shape: lint::SelectShape) -> TokenStream {
        let mut rest = trees;
        let mut take = |n: usize| {
            let (part, after) = rest.split_at(n.min(rest.len()));
            rest = after;
            part.iter().cloned().collect::<TokenStream>()
        };
        let mut out = take(shape.head);
        for branch in shape.branches {
            out.extend(take(branch.pat_len));
            let pat = branch.pat.map(|(pat, mut fut)| {
                out.extend(take(1)); // `=`
                take(branch.fut_len);
                self.visit_expr_mut(&mut fut);
                out.extend(fut.into_token_stream());
                pat
            });
            if let Some(mut guard) = branch.guard {
                out.extend(take(2)); // `, if`
                take(branch.guard_len);
                self.visit_expr_mut(&mut guard);
                out.extend(guard.into_token_stream());
            }
            out.extend(take(2)); // `=>`
            let written = take(branch.body_len);
            let saved = pat.as_ref().map(|pat| self.bind_in_arm(pat));
            let mut body = branch.body;
            match written.into_iter().next() {
                // A block: its statements, in its own braces (spans kept).
                Some(TokenTree::Group(g)) if matches!(body, Expr::Block(_)) => {
                    let mut ng = Group::new(g.delimiter(), self.rewrite_group(&g));
                    ng.set_span(g.span());
                    out.extend(std::iter::once(TokenTree::Group(ng)));
                }
                _ => {
                    self.visit_expr_mut(&mut body);
                    out.extend(body.into_token_stream());
                }
            }
            if let Some(saved) = saved {
                self.restore_arm(saved);
            }
            if branch.comma {
                out.extend(take(1));
            }
        }
        out
    }

    /// The token-level pass, for macro arguments that are not expressions (and the bodies of
    /// `macro_rules!`).
    fn rewrite_tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out = TokenStream::new();
        let mut i = 0;
        while i < trees.len() {
            let after_dot =
                i > 0 && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == '.');
            if !after_dot {
                if let Some((end, path)) = match_path(&trees, i) {
                    let bang =
                        matches!(trees.get(end), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                    if bang {
                        if let Some(TokenTree::Group(g)) = trees.get(end + 1) {
                            self.rewrite_token_macro(&path, g, &mut out, &trees[i..=end]);
                            i = end + 2;
                            continue;
                        }
                    }
                    if let Some(TokenTree::Group(g)) = trees.get(end) {
                        if g.delimiter() == Delimiter::Parenthesis {
                            self.check_path(None, &path);
                        }
                    }
                    out.extend(trees[i..end].iter().cloned());
                    i = end;
                    continue;
                }
            } else if let TokenTree::Ident(method) = &trees[i] {
                let m = lint::unraw(method);
                if lint::EXECUTOR_METHODS.contains(&m.as_str())
                    && matches!(trees.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
                {
                    self.orphan(method, &format!(".{m}(..)"), &[], Orphan::Executor);
                }
            }
            match &trees[i] {
                TokenTree::Group(g) => {
                    let inner = self.rewrite_group(g);
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

    /// The inside of a group met in the token-level pass: a `{ .. }` that parses as
    /// statements (an arm of `tokio::select!`, a block given to another macro) is visited as
    /// the body is, so its spawns are bound and its orphans found with what the body knows
    /// of its variables; anything else is scanned as tokens.
    fn rewrite_group(&mut self, g: &Group) -> TokenStream {
        if g.delimiter() == Delimiter::Brace {
            if let Ok(stmts) = syn::Block::parse_within.parse2(g.stream()) {
                let mut block = syn::Block {
                    brace_token: syn::token::Brace(g.delim_span()),
                    stmts,
                };
                self.visit_block_mut(&mut block);
                let stmts = &block.stmts;
                return quote!(#(#stmts)*);
            }
        }
        self.rewrite_tokens(g.stream())
    }

    /// An item inside the body: linted, not rewritten (it cannot reach the scope). An item
    /// that is itself `#[scoped]` lints its own body.
    fn lint_item(&mut self, item: &mut syn::Item) {
        let scoped = item_attrs(item).is_some_and(|attrs| attrs.iter().any(is_scoped_attr));
        if scoped && matches!(item, syn::Item::Fn(_)) {
            // Its own expansion lints it.
            return;
        }
        let allow = self.opt_out(item_attrs_mut(item).is_some_and(take_opt_out));
        self.lint_only += 1;
        let saved = std::mem::take(&mut self.locals);
        if let syn::Item::Fn(f) = item {
            self.record_params(&f.sig, false);
        }
        match item {
            syn::Item::Macro(m) => {
                // `macro_rules! name { (..) => { BODY }; .. }`: what it expands to is in the body.
                // Its metavariables stand for plain names, so that a rule that writes code
                // around its arguments still reads as code (lint only: nothing is kept).
                self.discarded += 1;
                let _ = self.rewrite_tokens(without_metavariables(m.mac.tokens.clone()));
                self.discarded -= 1;
            }
            // A `#[scoped]` module or impl block: its expansion lints the async fns it scopes,
            // and nothing else, so the rest is linted here.
            syn::Item::Mod(m) if scoped => self.lint_scoped_mod(m),
            syn::Item::Impl(imp) if scoped => self.lint_scoped_impl(imp),
            syn::Item::Mod(m) => {
                // A module's `use`s hold in it.
                let aliases = self.aliases.clone();
                let own = m.content.iter().flat_map(|(_, items)| items);
                self.aliases.merge(Aliases::own(own));
                visit_mut::visit_item_mod_mut(self, m);
                self.aliases = aliases;
            }
            other => visit_mut::visit_item_mut(self, other),
        }
        self.locals = saved;
        self.lint_only -= 1;
        self.allowed -= usize::from(allow);
    }
}

impl Rewriter {
    /// `.method(..)`: checked, then visited; `Handle::try_current().map(|h| h.spawn(..))`: the
    /// closure's parameter is what the receiver holds (an `Option`'s or a `Result`'s content,
    /// an item).
    fn visit_method_call(&mut self, call: &mut syn::ExprMethodCall) {
        // (First: `o.get_or_insert_with(JoinSet::new).spawn(..)` puts the set into `o` on
        // the way to the spawn it makes.)
        self.record_set_put(call);
        self.check_method(call);
        let method = lint::unraw(&call.method);
        let handed = HANDING_COMBINATORS
            .contains(&method.as_str())
            .then(|| self.origin_of(&call.receiver))
            .flatten()
            .map(|origin| {
                // Over a collection's iterator (`rts.iter().for_each(|h| ..)`): an element.
                match lint::element_path(&origin.path, 1) {
                    Some(element)
                        if lint::is_collection(&origin.path) && lint::iterates(&call.receiver) =>
                    {
                        Origin {
                            path: element.to_vec(),
                            place: origin.place,
                        }
                    }
                    _ => origin,
                }
            });
        let Some(origin) = handed else {
            visit_mut::visit_expr_method_call_mut(self, call);
            return;
        };
        let enumerated = enumerated(&call.receiver).is_some();
        self.visit_expr_mut(&mut call.receiver);
        for arg in &mut call.args {
            if matches!(arg, Expr::Closure(_)) {
                self.closure_origin = Some((origin.clone(), enumerated));
            }
            self.visit_expr_mut(arg);
            self.closure_origin = None;
        }
    }

    /// The items of a `#[scoped]` module, but for the fns its expansion scopes (and lints).
    fn lint_scoped_mod(&mut self, m: &mut syn::ItemMod) {
        // A module's `use`s hold in it.
        let aliases = self.aliases.clone();
        self.aliases
            .merge(Aliases::own(m.content.iter().flat_map(|(_, items)| items)));
        for item in m.content.iter_mut().flat_map(|(_, items)| items) {
            match item {
                syn::Item::Fn(f) if crate::expand::mod_scopes(f) => {}
                // Left out of the module's expansion: linted as any item is.
                syn::Item::Mod(_) | syn::Item::Impl(_)
                    if item_attrs(item).is_some_and(|a| crate::expand::has_unscoped_attr(a)) =>
                {
                    self.lint_item(item);
                }
                // The outer attribute scopes a nested module's async fns too.
                // An opt-out on them holds as it does on any item.
                syn::Item::Mod(inner) if !inner.attrs.iter().any(is_scoped_attr) => {
                    let allow = self.opt_out(take_opt_out(&mut inner.attrs));
                    self.lint_scoped_mod(inner);
                    self.allowed -= usize::from(allow);
                }
                syn::Item::Impl(imp) if !imp.attrs.iter().any(is_scoped_attr) => {
                    let allow = self.opt_out(take_opt_out(&mut imp.attrs));
                    self.lint_scoped_impl(imp);
                    self.allowed -= usize::from(allow);
                }
                other => self.lint_item(other),
            }
        }
        self.aliases = aliases;
    }

    /// The items of a `#[scoped]` impl block, but for the methods its expansion scopes.
    fn lint_scoped_impl(&mut self, imp: &mut syn::ItemImpl) {
        for item in &mut imp.items {
            match item {
                syn::ImplItem::Fn(f) if crate::expand::impl_scopes(f) => {}
                other => visit_mut::visit_impl_item_mut(self, other),
            }
        }
    }
}

fn is_scoped_attr(a: &syn::Attribute) -> bool {
    crate::ast::attr_is(a, "scoped")
}

fn item_attrs(item: &syn::Item) -> Option<&Vec<syn::Attribute>> {
    Some(match item {
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        _ => return None,
    })
}

fn item_attrs_mut(item: &mut syn::Item) -> Option<&mut Vec<syn::Attribute>> {
    Some(match item {
        syn::Item::Fn(i) => &mut i.attrs,
        syn::Item::Impl(i) => &mut i.attrs,
        syn::Item::Mod(i) => &mut i.attrs,
        syn::Item::Trait(i) => &mut i.attrs,
        syn::Item::Macro(i) => &mut i.attrs,
        syn::Item::Const(i) => &mut i.attrs,
        syn::Item::Static(i) => &mut i.attrs,
        _ => return None,
    })
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

impl Rewriter {
    /// `spawn_when_free!(..);` or `let _ = spawn_when_free!(..);`: the future that would start
    /// the child is dropped unawaited, so the child never runs, and the scope returns as if it
    /// had nothing to do. An error at the macro, with what to write.
    fn check_discarded_wait(&mut self, stmt: &Stmt) {
        let mac = match stmt {
            Stmt::Macro(sm) if sm.semi_token.is_some() => &sm.mac,
            Stmt::Expr(Expr::Macro(m), Some(_)) => &m.mac,
            Stmt::Local(local) if matches!(local.pat, syn::Pat::Wild(_)) => {
                match local.init.as_ref().map(|i| &*i.expr) {
                    Some(Expr::Macro(m)) => &m.mac,
                    _ => return,
                }
            }
            _ => return,
        };
        let Some(kind @ (SpawnKind::WhenFree | SpawnKind::InPlaceWhenFree)) = spawn_kind(&mac.path)
        else {
            return;
        };
        let m = kind.macro_name();
        let msg = format!(
            "`{m}` makes a future that starts the child once the scope's limit has room: \
             dropped here unawaited, the child never runs\n\
             help: await it: `{m}(..).await?` (its value is the child's handle); or use \
             `{}`, which queues the child behind the limit without waiting",
            if kind == SpawnKind::WhenFree {
                "spawn!(..)"
            } else {
                "spawn_in_place!(..)"
            }
        );
        self.errors.push(syn::Error::new_spanned(mac, msg));
    }
}

/// Tells each spawn macro in a `const { .. }` block of a scope's body that no child can start
/// there.
fn spawns_in_const(block: &mut syn::Block) {
    struct Tell;
    impl Tell {
        fn tell(mac: &mut syn::Macro) {
            if let Some(kind) = spawn_kind(&mac.path) {
                let msg = format!(
                    "a `const` block is evaluated at compile time, outside the scope: no \
                     child can start there\nhelp: move `{}(..)` out of the `const {{ .. }}` \
                     block",
                    kind.macro_name()
                );
                let span = syn::spanned::Spanned::span(&mac.path);
                let hidden = Rewriter::spawn_error(&mac.path, span, &msg, span);
                if let Ok(told) = syn::parse2::<syn::Macro>(hidden) {
                    *mac = told;
                }
            }
        }
    }
    impl VisitMut for Tell {
        // An item's body is not the block's (a `#[scoped]` fn declared there has a scope).
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
        fn visit_expr_macro_mut(&mut self, m: &mut syn::ExprMacro) {
            Tell::tell(&mut m.mac);
        }
        fn visit_stmt_macro_mut(&mut self, m: &mut syn::StmtMacro) {
            Tell::tell(&mut m.mac);
        }
    }
    Tell.visit_block_mut(block);
}

fn spawn_kind(path: &syn::Path) -> Option<SpawnKind> {
    last_segment(path).and_then(|s| SpawnKind::from_name(&s))
}

fn is_scope_macro(path: &syn::Path) -> bool {
    last_segment(path).as_deref() == Some("scope")
}

/// Takes `#[scope::allow_orphan]` off the statements of a body that the orphan lint does not
/// read (a `#[scope::test]`'s), returning each one taken, for its error, with the `#[cfg(..)]`s
/// of the statements it is in (the error holds only where they do: a statement compiled out is
/// no error): rustc refuses an attribute macro on a statement with a message that does not name
/// the rule. Nested items and macro calls (a `scope!`, whose own expansion reads its body) are
/// left as they are.
pub(crate) fn take_unread_opt_outs(
    block: &mut syn::Block,
) -> Vec<(syn::Attribute, Vec<syn::Attribute>)> {
    #[derive(Default)]
    struct Take {
        taken: Vec<(syn::Attribute, Vec<syn::Attribute>)>,
        /// The `cfg`s of the statements being read, outermost first.
        cfgs: Vec<syn::Attribute>,
    }
    impl Take {
        /// Takes the opt-outs from one statement's attributes; the count of its `cfg`s, now
        /// on the stack.
        fn from(&mut self, attrs: &mut Vec<syn::Attribute>) -> usize {
            let cfgs: Vec<_> = attrs
                .iter()
                .filter(|a| a.path().is_ident("cfg"))
                .cloned()
                .collect();
            let pushed = cfgs.len();
            self.cfgs.extend(cfgs);
            let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(attrs)
                .into_iter()
                .partition(lint::is_opt_out);
            *attrs = kept;
            for attr in taken {
                self.taken.push((attr, self.cfgs.clone()));
            }
            pushed
        }
    }
    impl VisitMut for Take {
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
        fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
            let pushed = match stmt {
                Stmt::Local(local) => self.from(&mut local.attrs),
                Stmt::Macro(sm) => self.from(&mut sm.attrs),
                Stmt::Expr(e, _) => {
                    // Down the left side, where syn puts a statement's attributes (see
                    // `take_statement_opt_out`).
                    let mut e = Some(&mut *e);
                    let mut pushed = 0;
                    while let Some(expr) = e {
                        if let Some(attrs) = expr_attrs(expr) {
                            pushed += self.from(attrs);
                        }
                        e = left_operand(expr);
                    }
                    pushed
                }
                Stmt::Item(_) => 0,
            };
            visit_mut::visit_stmt_mut(self, stmt);
            self.cfgs.truncate(self.cfgs.len() - pushed);
        }
    }
    let mut take = Take::default();
    take.visit_block_mut(block);
    take.taken
}

/// Removes `#[scope::allow_orphan]` from `attrs`; whether it was there.
fn take_opt_out(attrs: &mut Vec<syn::Attribute>) -> bool {
    let before = attrs.len();
    attrs.retain(|a| !lint::is_opt_out(a));
    attrs.len() != before
}

/// Removes `#[scope::allow_orphan]` from an expression statement: syn gives a statement's
/// outer attributes to the leftmost operand of an assignment, a binary operator, a cast or a
/// range, so they are looked for down that side.
fn take_statement_opt_out(expr: &mut Expr) -> bool {
    let mut expr = Some(expr);
    while let Some(e) = expr {
        if expr_attrs(e).is_some_and(take_opt_out) {
            return true;
        }
        expr = left_operand(e);
    }
    false
}

/// The next step down an expression statement's left side, where syn puts the statement's
/// outer attributes: the left operand of an assignment or a binary operator, a cast's operand,
/// a range's start.
fn left_operand(expr: &mut Expr) -> Option<&mut Expr> {
    match expr {
        Expr::Assign(e) => Some(&mut e.left),
        Expr::Binary(e) => Some(&mut e.left),
        Expr::Cast(e) => Some(&mut e.expr),
        Expr::Range(syn::ExprRange {
            start: Some(start), ..
        }) => Some(start),
        _ => None,
    }
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
        Expr::Struct(e) => &mut e.attrs,
        Expr::Range(e) => &mut e.attrs,
        Expr::Lit(e) => &mut e.attrs,
        Expr::Repeat(e) => &mut e.attrs,
        Expr::Const(e) => &mut e.attrs,
        Expr::Group(e) => &mut e.attrs,
        Expr::TryBlock(e) => &mut e.attrs,
        Expr::Yield(e) => &mut e.attrs,
        Expr::Break(e) => &mut e.attrs,
        Expr::Continue(e) => &mut e.attrs,
        Expr::RawAddr(e) => &mut e.attrs,
        Expr::Infer(e) => &mut e.attrs,
        _ => return None,
    })
}

impl VisitMut for Rewriter {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        // `spawn! { .. }` followed by more statements is a statement of its own, needing no
        // `;`; its rewrite is written with parentheses, which do: it gets one (the handle is
        // dropped, as with `spawn!(..);`). At the end of the block it stays the block's value.
        let last = block.stmts.len().saturating_sub(1);
        for stmt in &mut block.stmts[..last] {
            if let Stmt::Macro(sm) = stmt {
                if sm.semi_token.is_none()
                    && matches!(sm.mac.delimiter, syn::MacroDelimiter::Brace(_))
                    && spawn_kind(&sm.mac.path).is_some()
                {
                    sm.semi_token = Some(Token![;](sm.mac.bang_token.span));
                }
            }
        }
        // The names a block binds end with it: a later `spawn!` that names a fn of the same
        // name (`report()`) after a loop's `let report` borrows nothing.
        // So do the origins it records: a `let handle = spawn!(..)` in a loop's body does not
        // hide the runtime's `handle` declared before the loop.
        // And so do its `use`s: a `use .. as go` in a nested fn or block does not hide the
        // body's `use tokio::spawn as go`.
        let bound = self.bound.clone();
        let outside = self.outside.clone();
        let refs = self.refs.clone();
        let locals = self.locals.clone();
        let aliases = self.aliases.clone();
        self.aliases.merge(Aliases::of_block(block));
        // The items it declares hide the locals of their names in it (`use helpers::a;`, `fn
        // a()`): a child that names them uses the item.
        // (What the orphan lint knows of a name stays: an item cannot hide a value there that
        // the lint would miss, and a glob would switch it off.)
        for name in crate::valid::block_item_names(block) {
            let handle = |o: &Origin| is_any_handle_origin(o) || is_any_child_handle_origin(o);
            if name == "*" {
                // A glob `use`: any name may be its (in doubt, the checks are silent).
                self.bound.clear();
                self.outside.clear();
                self.refs.clear();
                self.locals.retain(|_, o| !handle(o));
            } else {
                self.bound.remove(&name);
                self.outside.remove(&name);
                self.refs.remove(&name);
                if self.locals.get(&name).is_some_and(handle) {
                    self.locals.remove(&name);
                }
            }
        }
        visit_mut::visit_block_mut(self, block);
        self.bound = bound;
        self.outside = outside;
        self.refs = refs;
        self.locals = locals;
        self.aliases = aliases;
    }

    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        self.check_discarded_wait(stmt);
        match stmt {
            Stmt::Item(item) => self.lint_item(item),
            Stmt::Local(local) => {
                let allow = self.opt_out(take_opt_out(&mut local.attrs));
                // Read before the spawn in it is rewritten.
                // (Not one a `cfg` may leave out: the name may hold something else then.)
                let child = local
                    .init
                    .as_ref()
                    .is_some_and(|i| i.diverge.is_none() && makes_child_handle(&i.expr))
                    && !crate::valid::cfg_gated(&local.attrs);
                // `let Ok(h) = try_spawn!(..) else { .. };`: `h` is the handle.
                let child_in_ok = local
                    .init
                    .as_ref()
                    .is_some_and(|i| makes_child_result(&i.expr))
                    && !crate::valid::cfg_gated(&local.attrs);
                let borrower = local
                    .init
                    .as_ref()
                    .filter(|i| i.diverge.is_none() && !crate::valid::cfg_gated(&local.attrs))
                    .and_then(|i| self.borrows_scope(&i.expr));
                visit_mut::visit_local_mut(self, local);
                self.record_local(local);
                if child {
                    self.record_child_handle(&local.pat);
                }
                if let Some(inner) = ok_pattern(&local.pat).filter(|_| child_in_ok) {
                    self.record_child_handle(inner);
                }
                if let Some(mark) = borrower {
                    self.record_scope_borrower(&local.pat, mark);
                }
                self.allowed -= usize::from(allow);
            }
            Stmt::Macro(sm) => {
                let allow = self.opt_out(take_opt_out(&mut sm.attrs));
                if spawn_kind(&sm.mac.path).is_some() && self.lint_only == 0 {
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
                    sm.mac.tokens = self.nested_scope(sm.mac.tokens.clone());
                } else {
                    self.rewrite_macro(&mut sm.mac);
                }
                self.allowed -= usize::from(allow);
            }
            Stmt::Expr(e, _) => {
                // The statement's attributes are on its leftmost operand (syn's rule): the
                // opt-out found there covers the whole statement, right-hand side and all.
                let allow = self.opt_out(take_statement_opt_out(e));
                self.visit_expr_mut(e);
                self.allowed -= usize::from(allow);
            }
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let allow = self.opt_out(expr_attrs(expr).is_some_and(take_opt_out));
        match expr {
            Expr::Macro(m) if is_provided_macro(&m.mac.path) && self.lint_only == 0 => {
                let tokens = self.rewrite_provided(&m.mac);
                *expr = Expr::Verbatim(tokens);
            }
            Expr::Macro(m) => {
                if let Some(kind) = spawn_kind(&m.mac.path).filter(|_| self.lint_only == 0) {
                    let tokens = self.rewrite_spawn(kind, &m.mac);
                    let attrs = std::mem::take(&mut m.attrs);
                    *expr = if attrs.is_empty() {
                        Expr::Verbatim(tokens)
                    } else {
                        Expr::Verbatim(quote!(#(#attrs)* #tokens))
                    };
                } else if is_scope_macro(&m.mac.path) {
                    m.mac.tokens = self.nested_scope(m.mac.tokens.clone());
                } else {
                    self.rewrite_macro(&mut m.mac);
                }
            }
            // Evaluated at compile time, outside the scope: a spawn there is told so here
            // (the spawn macro alone would say to put `#[scoped]` on the fn, which has it).
            Expr::Const(c) => spawns_in_const(&mut c.block),
            Expr::Repeat(r) => self.visit_expr_mut(&mut r.expr),
            Expr::Async(a) if a.capture.is_some() => {
                let before = self.proof_refs;
                visit_mut::visit_expr_async_mut(self, a);
                self.copy_proof_into(expr, before);
            }
            Expr::Closure(c) => {
                // Its parameters' origins end with it, as a block's bindings do.
                let locals = self.locals.clone();
                self.record_closure_inputs(c);
                let before = self.proof_refs;
                let moves = c.capture.is_some();
                visit_mut::visit_expr_closure_mut(self, c);
                self.locals = locals;
                if moves {
                    self.copy_proof_into(expr, before);
                }
            }
            Expr::Match(m) => self.visit_match(m),
            // An `if let`'s or a `while let`'s bindings end with its block.
            Expr::If(i) if binds(&i.cond) => {
                let locals = self.locals.clone();
                let names = self.save_names();
                self.visit_expr_mut(&mut i.cond);
                self.visit_block_mut(&mut i.then_branch);
                self.restore_names(names);
                self.locals = locals;
                if let Some((_, other)) = &mut i.else_branch {
                    self.visit_expr_mut(other);
                }
            }
            Expr::While(w) if binds(&w.cond) => {
                let locals = self.locals.clone();
                let names = self.save_names();
                visit_mut::visit_expr_while_mut(self, w);
                self.restore_names(names);
                self.locals = locals;
            }
            // `for h in handles { h.spawn(..) }`: `h` is one of what `handles` holds (the
            // lint reads a collection's type as its element's), in the loop only.
            Expr::ForLoop(f) => {
                self.visit_expr_mut(&mut f.expr);
                let locals = self.locals.clone();
                self.record_element(&f.pat, &f.expr);
                let names = self.bind_pattern(&f.pat);
                self.visit_pat_mut(&mut f.pat);
                self.visit_block_mut(&mut f.body);
                self.restore_names(names);
                self.locals = locals;
            }
            Expr::Path(p) => self.check_path(p.qself.as_ref(), &p.path),
            Expr::MethodCall(call) => self.visit_method_call(call),
            Expr::Call(call) => {
                self.check_call_on_outer_set(call);
                visit_mut::visit_expr_call_mut(self, call);
            }
            Expr::Let(l) => {
                // Read before the spawn in it is rewritten.
                let child_in_ok = makes_child_result(&l.expr);
                visit_mut::visit_expr_let_mut(self, l);
                // `if let Ok(h) = Handle::try_current()`: `h` is what the call made.
                let (pat, init) = (&*l.pat, &*l.expr);
                self.record_binding(pat, None, Some(init));
                // Its names reach the `if`'s or the `while`'s block (or the arm's body), which
                // restores what they hid after it.
                let _hidden = self.bind_pattern(pat);
                // `if let Ok(h) = try_spawn!(..)`: `h` is the handle.
                if let Some(inner) = ok_pattern(pat).filter(|_| child_in_ok) {
                    self.record_child_handle(inner);
                }
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
        self.allowed -= usize::from(allow);
    }

    fn visit_item_mut(&mut self, item: &mut syn::Item) {
        self.lint_item(item);
    }

    fn visit_item_impl_mut(&mut self, i: &mut syn::ItemImpl) {
        // Its methods see its generics (`impl<S: Spawn>`).
        let outer = self.impl_generics.replace(i.generics.clone());
        let outer_self = self.impl_self.replace((*i.self_ty).clone());
        visit_mut::visit_item_impl_mut(self, i);
        self.impl_generics = outer;
        self.impl_self = outer_self;
    }

    fn visit_impl_item_fn_mut(&mut self, f: &mut syn::ImplItemFn) {
        if f.attrs.iter().any(is_scoped_attr) {
            return;
        }
        // An opt-out on the method holds for it, as on any item.
        let allow = self.opt_out(take_opt_out(&mut f.attrs));
        self.record_params(&f.sig, false);
        self.record_receiver(&f.sig);
        visit_mut::visit_impl_item_fn_mut(self, f);
        self.allowed -= usize::from(allow);
    }
}

/// What `.enumerate()` is called on, if `expr` is that call (through parentheses).
fn enumerated(expr: &Expr) -> Option<&Expr> {
    match strip_parens(expr) {
        Expr::MethodCall(m) if m.method == "enumerate" && m.args.is_empty() => Some(&m.receiver),
        _ => None,
    }
}

/// Whether a condition binds names for its block: `let ..`, or a chain of them with `&&`
/// (`if let Some(x) = a && x > 0`).
fn binds(cond: &Expr) -> bool {
    match cond {
        Expr::Let(_) => true,
        Expr::Binary(b) if matches!(b.op, syn::BinOp::And(_)) => binds(&b.left) || binds(&b.right),
        Expr::Paren(p) => binds(&p.expr),
        Expr::Group(g) => binds(&g.expr),
        _ => false,
    }
}

/// `macro_rules!` tokens with each `$name` made a plain name (`$crate` made `crate`) and each
/// repetition `$( .. ) sep? op` made its contents once, so that a rule's body parses as the
/// code it writes.
fn without_metavariables(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = TokenStream::new();
    let mut i = 0;
    while i < trees.len() {
        let dollar = matches!(&trees[i], TokenTree::Punct(p) if p.as_char() == '$');
        match (dollar, trees.get(i + 1)) {
            (true, Some(TokenTree::Ident(name))) => {
                let plain = if name == "crate" {
                    name.clone()
                } else {
                    // A metavariable may be a raw identifier (`$r#fn`): its plain name.
                    let plain = name.to_string();
                    let plain = plain.strip_prefix("r#").unwrap_or(&plain);
                    proc_macro2::Ident::new(&format!("__metavar_{plain}"), name.span())
                };
                out.extend(std::iter::once(TokenTree::Ident(plain)));
                i += 2;
            }
            (true, Some(TokenTree::Group(g))) if g.delimiter() == Delimiter::Parenthesis => {
                out.extend(without_metavariables(g.stream()));
                i += 2;
                // An optional separator, then the repetition's operator.
                let is_op = |t: Option<&TokenTree>| matches!(t, Some(TokenTree::Punct(p)) if matches!(p.as_char(), '*' | '+' | '?'));
                if !is_op(trees.get(i)) && is_op(trees.get(i + 1)) {
                    i += 1;
                }
                if is_op(trees.get(i)) {
                    i += 1;
                }
            }
            _ => {
                match &trees[i] {
                    TokenTree::Group(g) => {
                        let mut ng = Group::new(g.delimiter(), without_metavariables(g.stream()));
                        ng.set_span(g.span());
                        out.extend(std::iter::once(TokenTree::Group(ng)));
                    }
                    other => out.extend(std::iter::once(other.clone())),
                }
                i += 1;
            }
        }
    }
    out
}

/// The function or method a spawn was written with: the last segment of its path
/// (`tokio::task::spawn_local`), or the method of a call (`.spawn_local(..)`), whatever the
/// modules or the receiver are called.
fn called_name(written: &str) -> &str {
    let path = written.trim_end_matches("(..)");
    path.rsplit([':', '.']).next().unwrap_or(path)
}
