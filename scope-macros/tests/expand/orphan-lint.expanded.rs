async fn handler(set: &mut tokio::task::JoinSet<()>) -> Result<(), AppError> {
    '__scope_end: {
        let scope: ::scope::__private::Scope<
            '_,
            '_,
            <Result<(), AppError> as ::scope::ScopeResult>::Error,
            ::scope::__private::Sendable,
        > = ::scope::__private::Scope::new(
            ::scope::__private::Config::new().name("handler"),
        );
        let __scope = &scope;
        break '__scope_end (__scope
            .run(async {
                let __out: Result<(), AppError> = {
                    tokio::spawn(a());
                    set.spawn(b());
                    let _metrics = tokio::spawn(flush());
                    Ok(())
                };
                __out
            })
            .await);
    }
}
::core::compile_error! {
    "`tokio::spawn` starts a task that this scope does not own: it could outlive the scope\nhelp: use `spawn!(future)` to start it as a child of this scope (or `spawn_in_place!(future)` if it borrows; if it is not `Send`, in a `local` scope)\nnote: if it must outlive the scope, hand it to an owner that drains it: `service.spawn(future)`, on a `scope::Service` made in `main`; if it really must run unowned, mark the statement `#[scope::allow_orphan]`"
}
::core::compile_error! {
    "`tokio::task::JoinSet::spawn` starts a task that this scope does not own: it could outlive the scope\nhelp: this set comes from outside the scope, so its tasks outlive it; use `spawn!(future)` (`spawn_in_place!` in a `local` scope for a `!Send` one), or a `JoinSet` made and joined inside the body\nnote: if it must outlive the scope, hand it to an owner that drains it: `service.spawn(future)`, on a `scope::Service` made in `main`; if it really must run unowned, mark the statement `#[scope::allow_orphan]`"
}
