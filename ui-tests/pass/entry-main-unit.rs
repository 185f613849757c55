// `#[scope::main]` without a return type.
#[scope::main(flavor = "current_thread")]
async fn main() {
    let v = scope::spawn_in_place!(async { Ok::<u8, scope::Interrupted>(3) });
    assert_eq!(v.await.ok(), Some(3));
}
