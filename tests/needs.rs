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

#[scoped]
async fn tenant_of(cx: Needs![TENANT]) -> Result<String, Interrupted> {
    Ok(cx.get(&TENANT).clone())
}

#[scoped(slots(TENANT = "other".to_owned()))]
async fn rebinds(cx: Needs![REQUEST_ID, TENANT]) -> Result<String, Interrupted> {
    // This scope binds TENANT again: its callees see the new value, the fn's own proof the
    // caller's. Before, `provided!()` did not compile here ("type annotations needed": the
    // proof listed TENANT twice).
    let inner = tenant_of(provided!()).await?;
    Ok(format!(
        "{inner} (caller's {} for {})",
        cx.get(&TENANT),
        cx.get(&REQUEST_ID)
    ))
}

#[scoped(slots(REQUEST_ID = "r-9".to_owned(), TENANT = "acme".to_owned()))]
async fn entry_rebinding() -> Result<String, Interrupted> {
    let here = rebinds(provided!()).await?;
    // And carried into another context, the scope's own binding still wins.
    let there = Cx::root().run(rebinds(provided!())).await?;
    Ok(format!("{here} | {there}"))
}

#[tokio::test]
async fn a_scope_binding_a_required_slot_again_shadows_it_for_its_callees() {
    assert_eq!(
        entry_rebinding().await.unwrap(),
        "other (caller's acme for r-9) | other (caller's acme for r-9)"
    );
}

// A proof carried into a context that binds a claimed slot to another value (a worker that
// serves many tenants, each job carrying its caller's proof): a scope there that binds an
// unrelated slot extends the proof with the proven values, not the surrounding ones.
#[scoped(slots(REQUEST_ID = "r-1".to_owned()))]
async fn handler_binding_another_slot(cx: Needs![TENANT]) -> Result<(String, String), Interrupted> {
    Ok((cx.get(&TENANT).clone(), tenant_of(provided!()).await?))
}

#[scoped(slots(TENANT = "acme".to_owned()))]
async fn job_on_a_worker_of_another_tenant() -> Result<(String, String), Interrupted> {
    let proof = provided!();
    let worker = Cx::root().with_slot(&TENANT, "globex".to_owned());
    worker.run(handler_binding_another_slot(proof)).await
}

#[tokio::test]
async fn an_extended_proof_reads_the_values_it_proves() {
    assert_eq!(
        job_on_a_worker_of_another_tenant().await.unwrap(),
        ("acme".to_owned(), "acme".to_owned())
    );
}

#[scoped]
async fn tenant_seen_through_the_proof(
    cx: Needs![REQUEST_ID],
) -> Result<Option<String>, Interrupted> {
    Ok(cx.cx().get(&TENANT).cloned())
}

#[scoped(slots(TENANT = "acme".to_owned(), REQUEST_ID = "r-1".to_owned()))]
async fn shadowed_in_a_nested_scope() -> Result<Option<String>, Interrupted> {
    scope::scope!(slots(TENANT = "globex".to_owned()), {
        tenant_seen_through_the_proof(provided!()).await
    })
    .await
}

slot!(static REGION: String);

#[scoped]
async fn tenant_seen_by_a_region(cx: Needs![REGION]) -> Result<Option<String>, Interrupted> {
    Ok(cx.cx().get(&TENANT).cloned())
}

#[scoped(slots(TENANT = "acme".to_owned(), REQUEST_ID = "r-1".to_owned()))]
async fn shadowed_second_in_a_nested_scope() -> Result<Option<String>, Interrupted> {
    // Two bindings: the first one's extend must not carry the outer value of the second.
    scope::scope!(
        slots(REGION = "eu".to_owned(), TENANT = "globex".to_owned()),
        { tenant_seen_by_a_region(provided!()).await }
    )
    .await
}

#[tokio::test]
async fn a_proof_extended_by_a_scope_that_rebinds_a_slot_reads_the_scopes_value() {
    // Before, the proof's context carried the outer value over the nested scope's own.
    assert_eq!(
        shadowed_in_a_nested_scope().await.unwrap().as_deref(),
        Some("globex")
    );
    assert_eq!(
        shadowed_second_in_a_nested_scope()
            .await
            .unwrap()
            .as_deref(),
        Some("globex")
    );
}

/// A slot declared by hand: it has no key, so it cannot be required, only read.
static LOCALE: scope::Slot<&'static str> = scope::Slot::new("LOCALE");

#[scoped]
async fn locale_seen(
    cx: Needs![TENANT],
) -> Result<(Option<&'static str>, Option<&'static str>), Interrupted> {
    Ok((cx.cx().get(&LOCALE).copied(), LOCALE.get()))
}

#[scoped(slots(LOCALE = "fr"))]
async fn binds_a_keyless_slot(
    cx: Needs![TENANT],
) -> Result<(Option<&'static str>, Option<&'static str>), Interrupted> {
    let _ = cx;
    locale_seen(provided!()).await
}

#[scoped(slots(TENANT = "acme".to_owned()))]
async fn entry_with_a_keyless_binding_below(
) -> Result<(Option<&'static str>, Option<&'static str>), Interrupted> {
    binds_a_keyless_slot(provided!()).await
}

#[tokio::test]
async fn a_proof_passed_on_by_a_scope_binding_a_keyless_slot_reads_the_scopes_value() {
    // As for a slot with a key: the proof passed on stands on the scope's context, so an
    // optional slot read through it is the one the scope bound (it read the caller's: `None`).
    assert_eq!(
        entry_with_a_keyless_binding_below().await.unwrap(),
        (Some("fr"), Some("fr"))
    );
}
