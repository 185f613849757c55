// `#[scope::allow_orphan]` on a statement of a `#[scope::test]`'s body: the body is not a
// scope's, so the lint does not read it and there is nothing to opt out of; the error says so
// (not rustc's "custom attributes cannot be applied to statements"). In a `scope!` inside the
// test, the opt-out is read as in any scope's body.
#[scope::test]
async fn in_the_body() {
    #[scope::allow_orphan]
    let task = tokio::spawn(async {});
    task.await.unwrap();
    #[scope::allow_orphan]
    tokio::spawn(async {}).await.unwrap();
    let later = async {
        #[scope::allow_orphan]
        tokio::spawn(async {}).await.unwrap();
    };
    later.await;
    scope::scope!({
        #[scope::allow_orphan]
        tokio::spawn(async {}).await.unwrap();
        Ok::<_, scope::Interrupted>(())
    })
    .await
    .unwrap();
}

// Under a `cfg` that compiles the statement out, it is no error (the statement is not there);
// under one that compiles it in, it is.
#[scope::test]
async fn under_a_cfg() {
    #[cfg(any())]
    #[scope::allow_orphan]
    let _out = tokio::spawn(async {});
    #[cfg(all())]
    {
        #[scope::allow_orphan]
        tokio::spawn(async {}).await.unwrap();
    }
}

fn main() {}
