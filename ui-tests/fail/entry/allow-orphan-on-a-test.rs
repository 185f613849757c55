// `#[scope::allow_orphan]` on a test's fn does nothing (the opt-out goes on a statement of a
// scope's body, and the test's no-leak check has none): refused, above or below.
#[scope::allow_orphan]
#[scope::test]
async fn above() {
    tokio::spawn(async {});
}

#[scope::test]
#[scope::allow_orphan]
async fn below() {
    tokio::spawn(async {});
}

fn main() {}
