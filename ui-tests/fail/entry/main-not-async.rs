#[scope::main]
fn main() {}
