#[scope::test]
fn t() {}

fn main() {}
