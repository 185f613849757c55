//! Expansion snapshots: each `tests/expand/NAME.rs` is expanded by this crate's own functions
//! (the attribute macros on its items, then every macro of this crate left in their output,
//! as the compiler would), pretty-printed with `prettyplease`, and compared with
//! `tests/expand/NAME.expanded.rs`. Regenerate with `SNAPSHOTS=overwrite cargo test -p
//! scope-macros snapshots`, then read the diff: it is what the macros now write.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::visit_mut::{self, VisitMut};

use crate::ast::SpawnKind;
use crate::{entry, expand};

/// Expands one macro of this crate by the last segment of its path; `None` for other macros.
fn expand_macro(name: &str, tokens: TokenStream) -> Option<TokenStream> {
    Some(match name {
        "scope" => expand::scope(tokens),
        "slot" => expand::slot(tokens),
        "provided" => expand::provided(tokens),
        "Needs" => expand::needs_outside(tokens),
        other => expand::spawn(SpawnKind::from_name(other)?, tokens),
    })
}

fn last(path: &syn::Path) -> String {
    path.segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default()
}

/// Replaces each call of one of this crate's function-like macros with its expansion.
struct Inner {
    changed: bool,
}

impl VisitMut for Inner {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        if let syn::Expr::Macro(m) = expr {
            if let Some(out) = expand_macro(&last(&m.mac.path), m.mac.tokens.clone()) {
                *expr = syn::parse2(out.clone()).unwrap_or(syn::Expr::Verbatim(out));
                self.changed = true;
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_stmt_mut(&mut self, stmt: &mut syn::Stmt) {
        if let syn::Stmt::Macro(m) = stmt {
            if let Some(out) = expand_macro(&last(&m.mac.path), m.mac.tokens.clone()) {
                let semi = m.semi_token;
                let expr = syn::parse2(out.clone()).unwrap_or(syn::Expr::Verbatim(out));
                *stmt = syn::Stmt::Expr(expr, semi);
                self.changed = true;
            }
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_type_mut(&mut self, ty: &mut syn::Type) {
        if let syn::Type::Macro(m) = ty {
            if let Some(out) = expand_macro(&last(&m.mac.path), m.mac.tokens.clone()) {
                *ty = syn::parse2(out.clone()).unwrap_or(syn::Type::Verbatim(out));
                self.changed = true;
            }
        }
        visit_mut::visit_type_mut(self, ty);
    }
}

/// Expands the attribute macros on the file's items and `slot!` in item position.
fn expand_items(items: Vec<syn::Item>) -> Vec<syn::Item> {
    let mut out = Vec::new();
    for mut item in items {
        let attrs = match &mut item {
            syn::Item::Fn(f) => Some(&mut f.attrs),
            syn::Item::Impl(i) => Some(&mut i.attrs),
            syn::Item::Mod(m) => Some(&mut m.attrs),
            _ => None,
        };
        let found = attrs.and_then(|attrs| {
            let at = attrs
                .iter()
                .position(|a| matches!(last(a.path()).as_str(), "scoped" | "main" | "test"))?;
            Some(attrs.remove(at))
        });
        let expanded = match (found, &item) {
            (Some(attr), _) => {
                let args = match &attr.meta {
                    syn::Meta::List(l) => l.tokens.clone(),
                    _ => TokenStream::new(),
                };
                let input = item.to_token_stream();
                Some(match last(attr.path()).as_str() {
                    "main" => entry::main(args, input),
                    "test" => entry::test(args, input),
                    _ => expand::scoped(args, input),
                })
            }
            (None, syn::Item::Macro(m)) if last(&m.mac.path) == "slot" => {
                Some(expand::slot(m.mac.tokens.clone()))
            }
            _ => None,
        };
        match expanded {
            Some(tokens) => match syn::parse2::<syn::File>(tokens.clone()) {
                Ok(file) => out.extend(file.items),
                Err(_) => out.push(syn::Item::Verbatim(tokens)),
            },
            None => out.push(item),
        }
    }
    out
}

/// The whole expansion of a file, pretty-printed.
pub(crate) fn expand_file(source: &str) -> String {
    let file: syn::File = match syn::parse_str(source) {
        Ok(f) => f,
        Err(e) => return format!("// does not parse: {e}\n"),
    };
    let mut file = syn::File {
        items: expand_items(file.items),
        ..file
    };
    for _ in 0..16 {
        let mut inner = Inner { changed: false };
        inner.visit_file_mut(&mut file);
        if !inner.changed {
            break;
        }
    }
    prettyplease::unparse(&file)
}

fn inputs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expand");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/expand exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "rs")
                && !p.to_string_lossy().ends_with(".expanded.rs")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn expansions_match_their_snapshots() {
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    let mut stale = Vec::new();
    let files = inputs();
    assert!(
        files.len() >= 8,
        "the snapshot inputs are missing: {files:?}"
    );
    for input in files {
        let source = std::fs::read_to_string(&input).expect("readable");
        let expanded = expand_file(&source);
        let snapshot = input.with_extension("expanded.rs");
        let current = std::fs::read_to_string(&snapshot).unwrap_or_default();
        if current != expanded {
            if overwrite {
                std::fs::write(&snapshot, &expanded).expect("writable");
            } else {
                stale.push(snapshot.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "expansions differ from their snapshots (regenerate with SNAPSHOTS=overwrite and read \
         the diff): {stale:?}"
    );
}

#[test]
fn the_expander_expands_every_macro_of_this_crate() {
    let out = expand_file(
        "#[scoped] async fn f() -> Result<(), E> { let a = spawn!(async { Ok(()) }); \
         scope!({ let b = spawn_in_place!(b()); b.await }).await?; a.await }",
    );
    assert!(!out.contains("spawn!"), "{out}");
    assert!(!out.contains("scope!"), "{out}");
    assert!(out.contains("(__scope).spawn(async { Ok(()) })"), "{out}");
}
