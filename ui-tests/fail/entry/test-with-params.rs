// A test takes no arguments: said once, at the arguments.
#[scope::test]
async fn adds(a: u32, b: u32) {
    assert_eq!(a + b, 3);
}

fn main() {}
