pub static REQUEST_ID: ::scope::__private::Slot<String, REQUEST_ID> = ::scope::__private::Slot::new(
    "REQUEST_ID",
);
///The key of the slot [`REQUEST_ID`](static@REQUEST_ID), in the type namespace: what `Needs![REQUEST_ID]` names.
#[allow(non_camel_case_types, dead_code, clippy::exhaustive_enums)]
pub enum REQUEST_ID {}
#[allow(deprecated)]
impl ::scope::__private::Key for REQUEST_ID {
    type Value = String;
    fn slot() -> &'static ::scope::__private::Slot<String, Self> {
        &REQUEST_ID
    }
}
static TENANT: ::scope::__private::Slot<String, TENANT> = ::scope::__private::Slot::new(
    "TENANT",
);
///The key of the slot [`TENANT`](static@TENANT), in the type namespace: what `Needs![TENANT]` names.
#[allow(non_camel_case_types, dead_code, clippy::exhaustive_enums)]
enum TENANT {}
#[allow(deprecated)]
impl ::scope::__private::Key for TENANT {
    type Value = String;
    fn slot() -> &'static ::scope::__private::Slot<String, Self> {
        &TENANT
    }
}
async fn middleware(
    t: String,
    cx: ::scope::__private::Provided<
        ::scope::__private::With<REQUEST_ID, ::scope::__private::Nil>,
    >,
) -> Result<String, AppError> {
    '__scope_end: {
        let scope: ::scope::__private::Scope<
            '_,
            '_,
            <Result<String, AppError> as ::scope::ScopeResult>::Error,
            ::scope::__private::Sendable,
        > = ::scope::__private::Scope::new(
            ::scope::__private::Config::new().name("middleware").bind(&TENANT, t),
        );
        let __scope = &scope;
        let __provided = ::core::clone::Clone::clone(&cx).extend(__scope.cx(), &TENANT);
        break '__scope_end (__scope
            .run(async {
                handler(::core::clone::Clone::clone(&__provided).narrow()).await
            })
            .await);
    }
}
async fn handler(
    cx: ::scope::__private::Provided<
        ::scope::__private::With<
            REQUEST_ID,
            ::scope::__private::With<TENANT, ::scope::__private::Nil>,
        >,
    >,
) -> Result<String, AppError> {
    '__scope_end: {
        let scope: ::scope::__private::Scope<
            '_,
            '_,
            <Result<String, AppError> as ::scope::ScopeResult>::Error,
            ::scope::__private::Sendable,
        > = ::scope::__private::Scope::new(
            ::scope::__private::Config::new().name("handler"),
        );
        let __scope = &scope;
        let __provided = ::core::clone::Clone::clone(&cx);
        break '__scope_end (__scope
            .run(async {
                let __out: Result<String, AppError> = { Ok(cx.get(&TENANT).clone()) };
                __out
            })
            .await);
    }
}
