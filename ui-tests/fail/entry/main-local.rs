// The program's scope runs on the runtime's workers: children that are not `Send` go in a
// local scope opened inside `main`.
#[scope::main(local)]
async fn main() {
    let _ = scope::spawn_in_place!(async { Ok::<_, scope::Interrupted>(1) });
}
