// The entry attribute written twice: said at the second, not "add `async`".
#[scope::main]
#[scope::main]
async fn main() {}
