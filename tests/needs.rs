//! Required slots at run time: a proof carried into another context still reads what it
//! proves, through the macros' expansion.

use scope::{provided, scoped, slot, Cx, Interrupted, Needs};

slot!(static REQUEST_ID: String; static TENANT: String);

#[scoped]
async fn middle(cx: Needs![REQUEST_ID, TENANT]) -> Result<String, Interrupted> {
    Ok(format!("{}/{}", cx.get(&REQUEST_ID), cx.get(&TENANT)))
}

#[scoped(slots(REQUEST_ID = "r-5".to_owned()))]
async fn handler(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    // Extends the caller's proof (TENANT) with this scope's binding (REQUEST_ID).
    middle(provided!())
        .await
        .map(|s| format!("{s} ({})", cx.get(&TENANT)))
}

#[scoped(slots(TENANT = "acme".to_owned()))]
async fn entry() -> Result<String, Interrupted> {
    let proof = provided!();
    // The callee runs under another context (a fresh root, as in a task that does not carry
    // this one), with the proof passed along. Before, extending the proof there panicked
    // ("a proof was carried into a context that does not bind its slots").
    Cx::root().run(handler(proof)).await
}

#[tokio::test]
async fn a_proof_carried_into_another_context_still_reads_what_it_proves() {
    assert_eq!(entry().await.unwrap(), "r-5/acme (acme)");
}
