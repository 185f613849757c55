//! Procedural macros of `scope`. Use them through the `scope` crate, which re-exports them.
#![forbid(unsafe_code)]
