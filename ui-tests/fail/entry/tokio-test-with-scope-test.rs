// `#[scope::test]` builds the test's runtime itself: tokio's attribute goes, in either order.
#[tokio::test]
#[scope::test]
async fn above() {}

#[scope::test(start_paused = true)]
#[tokio::test]
async fn below() {}

fn main() {}
