// A plain test in a file that glob-imports the crate: `#[test]` is ambiguous between the
// built-in attribute and `scope::test`, and the messages say how to write either.
use scope::*;

#[test]
fn plain() {
    assert_eq!(1 + 1, 2);
}

fn main() {
    let _ = Config::new();
}
