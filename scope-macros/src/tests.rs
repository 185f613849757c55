//! Unit tests of the expansions, on `proc_macro2` tokens.

use quote::quote;

#[test]
fn print_scope_expansion() {
    let out = crate::expand::scope(quote!({ Ok(()) }));
    println!("{out}");
}
