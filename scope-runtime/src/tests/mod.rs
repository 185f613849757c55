//! Concurrency models of the runtime, checked with loom (every interleaving, not a sample).
//!
//! They build only under `cfg(all(test, loom))`, where [`crate::sync`] swaps the tree's
//! mutexes and atomics for loom's. Run them with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p scope-runtime --lib --release loom
//! ```

mod loom_own_cx;
mod loom_scope;
mod loom_tree;
