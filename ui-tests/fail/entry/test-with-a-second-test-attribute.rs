#[scope::test]
#[test]
async fn counted_twice() {}

fn main() {}
