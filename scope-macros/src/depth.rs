//! A guard against inputs nested deeper than the macros can read.
//!
//! The stages read a parsed body recursively (syn's visitors, clones and printing, and the
//! lint's own readings), and a procedural macro runs on the compiler's stack: a body nested
//! deep enough (a sum of 3,000 terms, 500 nested blocks) overflowed it, and rustc crashed
//! with SIGSEGV where the same fn without the attribute compiles. So, before anything is
//! parsed, each macro measures its input's tokens, without recursion, against a budget that
//! the stages are tested to stay within on a fraction of the compiler's stack; past it, the
//! macro gives a spanned error that says what to do (split the expression with `let`s, or
//! move it into a fn of its own), never a crash.
//!
//! The measure is an upper bound of the syntax tree's depth, in units of one link of a
//! chain: each operator, `.` or `?` (an operator's characters each), `else` and `as` count
//! one, within a part of a bracket that `;` or `,` separate (or a brace's end, unless `else`
//! or an operator goes on from it, or an attribute starts after it; a `,` between a `<` and
//! its `>` does not); what nests types costs more, as measured: a `<` counts [`GENERIC`] (a
//! comparison pays it too), a `&` and a pointer's `*const`/`*mut` count [`POINTER`] (a `&&`
//! pays it twice), `fn` and each bracket count [`GROUP`], and `return`, `break` and `yield`
//! two; a bracket's depth is its own, plus its longest part, plus its deepest bracket.
//!
//! Measured with a debug build (as the compiler loads a proc macro) on a thread of 8 MiB, the
//! stages overflowed at about 2,400 links in a row (a sum, a method chain, an `else if`
//! chain: about 3.5 KiB a link), 780 nested parens, 480 nested blocks, 350 nested closures,
//! 360 nested tuple or array types (about 23 KiB a level), 345 nested pointer or reference
//! types (24 KiB) and 205 nested generic types (39 KiB).

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

/// The most the macros take, in links (see the module's docs): an input at the budget takes
/// at most about 4 MiB, half of the compiler's main thread (8 MiB).
pub(crate) const BUDGET: usize = 1_150;

/// What a level of brackets counts, in links.
pub(crate) const GROUP: usize = 7;

/// What a `<` counts, in links (a level of generics).
pub(crate) const GENERIC: usize = 11;

/// What a `&`, or a pointer's `*const` or `*mut`, counts, in links.
pub(crate) const POINTER: usize = 7;

/// One bracket being measured.
struct Level {
    tokens: std::iter::Peekable<proc_macro2::token_stream::IntoIter>,
    /// Links in the part read so far, and where that part starts.
    part: usize,
    part_span: Option<Span>,
    /// The longest part ended so far, and the deepest bracket inside, with where they are.
    longest: (usize, Span),
    deepest: (usize, Span),
    /// The last token was a brace's group: a name, a literal or an attribute after it starts a
    /// new part.
    after_brace: bool,
    /// The `<`s of the part not closed yet: a `,` between them does not end it (`Result<u8,
    /// Result<u8, ..>>` nests), nor does one after a comparison's, to the part's end.
    angles: usize,
    /// The last token was a `-` or `=` joined to the next (`->`, `=>`: its `>` closes nothing).
    arrow: bool,
}

impl Level {
    fn new(tokens: TokenStream, span: Span) -> Level {
        Level {
            tokens: tokens.into_iter().peekable(),
            part: 0,
            part_span: None,
            longest: (0, span),
            deepest: (0, span),
            after_brace: false,
            angles: 0,
            arrow: false,
        }
    }

    fn end_part(&mut self) {
        if self.part > self.longest.0 {
            self.longest = (self.part, self.part_span.unwrap_or(self.longest.1));
        }
        self.part = 0;
        self.part_span = None;
        self.angles = 0;
    }

    /// This bracket's depth, and where its deepest part is.
    fn depth(mut self) -> (usize, Span) {
        self.end_part();
        let span = if self.deepest.0 >= self.longest.0 {
            self.deepest.1
        } else {
            self.longest.1
        };
        (GROUP + self.longest.0 + self.deepest.0, span)
    }
}

/// Where `tokens` go past [`BUDGET`], if they do: their deepest part.
pub(crate) fn too_deep(tokens: &TokenStream) -> Option<Span> {
    let mut levels = vec![Level::new(tokens.clone(), Span::call_site())];
    while let Some(level) = levels.last_mut() {
        let Some(token) = level.tokens.next() else {
            let done = levels.pop().map(Level::depth)?;
            if done.0 > BUDGET {
                return Some(done.1);
            }
            match levels.last_mut() {
                Some(outer) if done.0 > outer.deepest.0 => outer.deepest = done,
                _ => {}
            }
            continue;
        };
        let after_brace = std::mem::take(&mut level.after_brace);
        let arrow = std::mem::take(&mut level.arrow);
        let link = match &token {
            TokenTree::Punct(p) => match p.as_char() {
                ';' => {
                    level.end_part();
                    continue;
                }
                ',' if level.angles == 0 => {
                    level.end_part();
                    continue;
                }
                '#' if after_brace => {
                    level.end_part();
                    0
                }
                ',' | ':' | '#' | '\'' | '$' | '@' | '~' => 0,
                '<' => {
                    level.angles += 1;
                    GENERIC
                }
                '>' => {
                    if !arrow {
                        level.angles = level.angles.saturating_sub(1);
                    }
                    1
                }
                '-' | '=' => {
                    level.arrow = p.spacing() == proc_macro2::Spacing::Joint;
                    1
                }
                '&' => POINTER,
                '*' if matches!(level.tokens.peek(), Some(TokenTree::Ident(i)) if i == "const" || i == "mut") => {
                    POINTER
                }
                _ => 1,
            },
            TokenTree::Ident(i) => {
                let goes_on = i == "else" || i == "as";
                if after_brace && !goes_on {
                    level.end_part();
                }
                if i == "fn" {
                    // A fn pointer's type nests as a bracket does (`fn() -> fn() -> u8`).
                    GROUP
                } else if i == "return" || i == "break" || i == "yield" {
                    // Each takes an expression (`return return ..`).
                    2
                } else {
                    usize::from(goes_on)
                }
            }
            TokenTree::Literal(_) => {
                if after_brace {
                    level.end_part();
                }
                0
            }
            TokenTree::Group(g) => {
                level.after_brace = g.delimiter() == Delimiter::Brace;
                level.part_span.get_or_insert(g.span());
                let inner = Level::new(g.stream(), g.span());
                levels.push(inner);
                continue;
            }
        };
        level.part_span.get_or_insert(token.span());
        level.part += link;
    }
    None
}

/// The error for an input past the budget, at its deepest part.
pub(crate) fn refused(span: Span, what: &str) -> TokenStream {
    let message = format!(
        "this code is nested too deep for {what} to read (past {BUDGET} links of operators, \
         method calls and `else`, or about {} levels of brackets, {} of generics)\n\
         help: split the expression with `let`s (a long `else if` ladder into a `match`, a \
         deep type into aliases), or move it into a fn of its own and call that",
        BUDGET / GROUP,
        BUDGET / GENERIC
    );
    syn::Error::new(span, message).to_compile_error()
}
