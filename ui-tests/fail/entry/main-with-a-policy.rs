// The program's scope is fail-fast: another policy is a scope opened inside `main`.
#[scope::main(policy = supervise)]
async fn main() {
    let _ = scope::spawn!(async { Ok::<(), scope::Interrupted>(()) });
}
