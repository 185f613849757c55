//! The trybuild suite: `ui-tests/fail/**` must not compile (each with the message a user
//! should see, in its `.stderr`), `ui-tests/pass/*` must compile and run.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test ui`, then read
//! every one: it is the user's experience of the error.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui-tests/fail/**/*.rs");
    t.pass("ui-tests/pass/*.rs");
}
