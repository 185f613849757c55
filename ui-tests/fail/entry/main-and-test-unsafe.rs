// `main` and a test are called as safe fns: an `unsafe` one is told what to write instead,
// at `unsafe`.
#[scope::main]
async unsafe fn main() {}

#[scope::test]
async unsafe fn unsafe_test() {}
