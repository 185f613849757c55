//! Unit tests of the expansions, on `proc_macro2` tokens.
