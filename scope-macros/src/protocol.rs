//! The hidden `@..` forms that the body pass of `#[scoped]`/`scope!` writes into the user's
//! macro calls, and that those macros read back: one enum, one parser, one printer.
//!
//! ```text
//! spawn!(fut)       in a body        -> spawn!(@scope __scope, fut)
//! spawn!(fut)       inside a child   -> spawn!(@nested)
//! try_spawn!(fut)   in a race        -> try_spawn!(@race)
//! provided!()                        -> provided!(@proof __provided)
//! scope!(..)        in a body        -> scope!(@outer __provided; ..)
//! cx: Needs![A, B]  a parameter      -> cx: Needs![@type ::scope::__private::Provided<..>]
//! spawn!(fut)       found misused    -> spawn!(@error "what to write")
//! ```
//!
//! The hidden variables carry `Span::mixed_site()`, so no user code can name them, and a form
//! is read back only with the names the macros write (`__scope`, `__provided`): a user who
//! writes an `@..` form by hand with a variable of theirs (`spawn!(@scope handle, fut)`, which
//! would spawn on that handle unseen by the lint) gets the macro's ordinary error for what they
//! wrote. The forms without a variable (`@linted`, `@nested`, `@race`, `@type`, `@error`) are
//! read as written: a hand-written `scope!(@linted ..)` skips the orphan lint of that body (as
//! the enclosing pass, which linted it already, means it to). The lint is a convenience that
//! code can opt out of anyway (`#[scope::allow_orphan]`), not a guarantee; the forms are not
//! part of the macros' documented input.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::quote;

/// A hidden form, parsed.
pub(crate) enum Hidden {
    /// `@scope IDENT, ARGS`: a spawn macro bound to the scope variable `IDENT`.
    Scope { scope: Ident, args: TokenStream },
    /// `@nested`: a spawn macro inside a child's future.
    Nested,
    /// `@race`: `try_spawn!` in a `first_ok` scope, which has no way to refuse.
    Race,
    /// `@proof IDENT`: `provided!()` in a body whose proof is the variable `IDENT`.
    Proof { var: Ident },
    /// `@outer IDENT; REST`: a nested `scope!` whose enclosing body's proof is `IDENT`.
    Outer { proof: Ident, rest: TokenStream },
    /// `@linted [HANDLES; CHILDREN] REST`: a nested `scope!` whose body the enclosing pass
    /// has linted already, with what the enclosing body knows (its own pass lints nothing
    /// again); `HANDLES` are the names that hold the handles of the scopes around it there,
    /// `CHILDREN` those that hold the handles of their children (a spawned child of the
    /// nested scope cannot borrow either).
    Linted {
        handles: Vec<Ident>,
        children: Vec<Ident>,
        rest: TokenStream,
    },
    /// `@type TYPE`: a `Needs![..]` parameter's type, already rewritten.
    Type(TokenStream),
    /// `@error "MESSAGE"`: a spawn macro the body pass found misused; the macro reports the
    /// message at the literal's span (through the user's own macro path, so that its import
    /// is used).
    Error(syn::LitStr),
}

impl Hidden {
    /// Reads a hidden form from the front of a macro's input; `None` for user input.
    pub(crate) fn parse(input: &TokenStream) -> Option<Hidden> {
        let mut iter = input.clone().into_iter();
        let (Some(TokenTree::Punct(at)), Some(TokenTree::Ident(kw))) = (iter.next(), iter.next())
        else {
            return None;
        };
        if at.as_char() != '@' {
            return None;
        }
        let rest: Vec<TokenTree> = iter.collect();
        let is_punct = |t: Option<&TokenTree>, c: char| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c);
        match (kw.to_string().as_str(), rest.as_slice()) {
            ("scope", [TokenTree::Ident(scope), tail @ ..])
                if is_punct(tail.first(), ',') && *scope == "__scope" =>
            {
                Some(Hidden::Scope {
                    scope: scope.clone(),
                    args: tail[1..].iter().cloned().collect(),
                })
            }
            ("nested", []) => Some(Hidden::Nested),
            ("race", []) => Some(Hidden::Race),
            ("proof", [TokenTree::Ident(var)]) if *var == "__provided" => {
                Some(Hidden::Proof { var: var.clone() })
            }
            ("outer", [TokenTree::Ident(proof), tail @ ..])
                if is_punct(tail.first(), ';') && *proof == "__provided" =>
            {
                Some(Hidden::Outer {
                    proof: proof.clone(),
                    rest: tail[1..].iter().cloned().collect(),
                })
            }
            ("linted", [TokenTree::Group(names), tail @ ..])
                if names.delimiter() == proc_macro2::Delimiter::Bracket =>
            {
                // The scopes' handles, then (after a `;`) their children's.
                let (mut handles, mut children, mut after) = (Vec::new(), Vec::new(), false);
                for t in names.stream() {
                    match t {
                        TokenTree::Ident(name) if after => children.push(name),
                        TokenTree::Ident(name) => handles.push(name),
                        TokenTree::Punct(p) if p.as_char() == ';' => after = true,
                        _ => {}
                    }
                }
                Some(Hidden::Linted {
                    handles,
                    children,
                    rest: tail.iter().cloned().collect(),
                })
            }
            ("type", tail) if !tail.is_empty() => {
                Some(Hidden::Type(tail.iter().cloned().collect()))
            }
            ("error", [TokenTree::Literal(lit)]) => {
                syn::parse2::<syn::LitStr>(TokenTree::Literal(lit.clone()).into())
                    .ok()
                    .map(Hidden::Error)
            }
            _ => None,
        }
    }

    /// The tokens of the form, to put in a macro call.
    pub(crate) fn to_tokens(&self) -> TokenStream {
        match self {
            Hidden::Scope { scope, args } => quote!(@scope #scope, #args),
            Hidden::Nested => quote!(@nested),
            Hidden::Race => quote!(@race),
            Hidden::Proof { var } => quote!(@proof #var),
            Hidden::Outer { proof, rest } => quote!(@outer #proof; #rest),
            Hidden::Linted {
                handles,
                children,
                rest,
            } if children.is_empty() => quote!(@linted [#(#handles),*] #rest),
            Hidden::Linted {
                handles,
                children,
                rest,
            } => quote!(@linted [#(#handles),*; #(#children),*] #rest),
            Hidden::Type(ty) => quote!(@type #ty),
            Hidden::Error(msg) => quote!(@error #msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_reads_back_what_it_printed() {
        let (scope, proof) = (
            crate::rewrite::scope_ident(),
            crate::rewrite::provided_ident(),
        );
        let forms = [
            Hidden::Scope {
                scope,
                args: quote!(name = "x", fut),
            },
            Hidden::Nested,
            Hidden::Race,
            Hidden::Proof { var: proof.clone() },
            Hidden::Outer {
                proof,
                rest: quote!(limit = 1, {}),
            },
            Hidden::Linted {
                handles: vec![proc_macro2::Ident::new("s", proc_macro2::Span::call_site())],
                children: vec![proc_macro2::Ident::new("a", proc_macro2::Span::call_site())],
                rest: quote!(limit = 1, {}),
            },
            Hidden::Type(quote!(Provided<L>)),
            Hidden::Error(syn::LitStr::new("misused", proc_macro2::Span::call_site())),
        ];
        for form in forms {
            let printed = form.to_tokens();
            let again = Hidden::parse(&printed).expect("parses");
            assert_eq!(again.to_tokens().to_string(), printed.to_string());
        }
    }

    #[test]
    fn user_input_is_not_a_hidden_form() {
        for input in [
            quote!(fut),
            quote!(@),
            quote!(@scope),
            quote!(@scope x fut),
            quote!(@nested extra),
            quote!(@type),
            quote!(@other x),
            quote!(@proof a b),
            // Only the macros' own variables: a user's handle is no hidden scope.
            quote!(@scope handle, fut),
            quote!(@proof p),
            quote!(@outer p; {}),
            quote!(@linted {}),
        ] {
            assert!(Hidden::parse(&input).is_none(), "{input}");
        }
    }
}
