// A test is run with no type to fill a parameter: said at the parameter, once.
#[scope::test]
async fn holds_for_every_type<T: Default + PartialEq + std::fmt::Debug>() {
    assert_eq!(T::default(), T::default());
}

fn main() {}
