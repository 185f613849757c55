//! `tracing` spans that follow the work (the `tracing` feature; without it, every type here is
//! empty and every function does nothing).
//!
//! - A scope's span (`scope`) is created when the scope is entered, under the span current
//!   there, and is entered around every poll of the scope's run (its body, and the in-place
//!   children it polls).
//! - A child's span (`task`) is created when it is spawned, under the span current at the
//!   spawn if the spawn is made by the scope's own code (then that span is the scope's, or one
//!   the body entered below it, such as an `#[instrument]` span), else under the scope's span.
//!   It is entered around every poll of the child, on whichever worker runs it. So spans
//!   follow the scope tree across workers, and code instrumented inside a child nests below
//!   the child, in either order of `#[scoped]` and `#[instrument]`.
//! - If the subscriber does not want the child's own span (filtered out), the child carries
//!   the span current at the spawn instead (as it carries slots), so instrumented code still
//!   nests as the user wrote it.
//! - Events: a scope's cancellation (with its cause; a deadline that fired, as such), its end
//!   when it failed or panicked, and a child's failure or panic, each in the span of the scope
//!   or child it happened to. Target `scope`; spans at `DEBUG`, cancellations at `INFO`,
//!   failures at `WARN`, panics at `ERROR`.
//!
//! With the feature on and no subscriber ever installed, a child costs a relaxed load (is a
//! dispatcher set?) per spawn and per poll, and carries an empty box; see BENCHMARKS.md for the
//! figures.

#[cfg(feature = "tracing")]
pub(crate) use self::on::*;

#[cfg(not(feature = "tracing"))]
pub(crate) use self::off::*;

#[cfg(feature = "tracing")]
mod on {
    use std::cell::Cell;
    use std::fmt;
    use std::panic::Location;

    use tracing::{dispatcher, Level, Span};

    use crate::cause::Cause;
    use crate::error::Interrupted;
    use crate::info::{TaskId, TaskInfo};
    use crate::observe::tree::TaskKind;
    use crate::observe::Outcome;

    /// The span of a child that carries none.
    static NONE: Span = Span::none();

    thread_local! {
        /// The scope whose run is being polled on this thread (0: none): a spawn made there is
        /// made by the scope's own code, and its child nests under the span current then.
        static IN_SCOPE: Cell<u64> = const { Cell::new(0) };
    }

    struct Site(&'static Location<'static>);

    impl fmt::Display for Site {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}:{}:{}", self.0.file(), self.0.line(), self.0.column())
        }
    }

    /// A scope's (or a service's) span.
    pub(crate) struct ScopeSpan {
        span: Span,
        id: u64,
    }

    /// Entered around a poll: the span, and which scope's code runs.
    pub(crate) struct SpanGuard<'a> {
        _entered: Option<tracing::span::Entered<'a>>,
        /// What `IN_SCOPE` was before (`None`: not touched).
        prev: Option<u64>,
    }

    impl Drop for SpanGuard<'_> {
        fn drop(&mut self) {
            if let Some(prev) = self.prev {
                let _ = IN_SCOPE.try_with(|c| c.set(prev));
            }
        }
    }

    #[inline]
    fn guard(span: &Span, in_scope: u64) -> SpanGuard<'_> {
        if !dispatcher::has_been_set() {
            // No subscriber has ever been installed: no span to enter, no spawn to parent.
            return SpanGuard {
                _entered: None,
                prev: None,
            };
        }
        SpanGuard {
            prev: IN_SCOPE.try_with(|c| c.replace(in_scope)).ok(),
            _entered: (!span.is_disabled()).then(|| span.enter()),
        }
    }

    impl ScopeSpan {
        pub(crate) fn new(info: &TaskInfo, kind: TaskKind) -> Self {
            let span = if dispatcher::has_been_set() {
                let own = tracing::span!(
                    target: "scope",
                    Level::DEBUG,
                    "scope",
                    name = %info,
                    id = info.id().as_u64(),
                    site = %Site(info.location()),
                    kind = kind.as_str(),
                );
                // Filtered out: the scope carries the span current where it was entered.
                if own.is_disabled() {
                    Span::current()
                } else {
                    own
                }
            } else {
                Span::none()
            };
            ScopeSpan {
                span,
                id: info.id().as_u64(),
            }
        }

        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            guard(&self.span, self.id)
        }

        pub(crate) fn cancelled(&self, cause: &Cause) {
            if self.span.is_disabled() {
                return;
            }
            match cause {
                Cause::DeadlineExceeded { scope } => tracing::event!(
                    target: "scope", parent: &self.span, Level::INFO,
                    deadline = %scope, "deadline exceeded"
                ),
                Cause::ParentCancelled(_) | Cause::Finished { .. } => tracing::event!(
                    target: "scope", parent: &self.span, Level::DEBUG,
                    cause = %cause, "cancelled"
                ),
                _ => tracing::event!(
                    target: "scope", parent: &self.span, Level::INFO,
                    cause = %cause, "cancelled"
                ),
            }
        }

        pub(crate) fn finished(&self, outcome: Outcome) {
            if self.span.is_disabled() {
                return;
            }
            match outcome {
                Outcome::Panicked => tracing::event!(
                    target: "scope", parent: &self.span, Level::ERROR, "scope panicked"
                ),
                Outcome::Failed => tracing::event!(
                    target: "scope", parent: &self.span, Level::WARN, "scope failed"
                ),
                Outcome::Completed | Outcome::Cancelled => tracing::event!(
                    target: "scope", parent: &self.span, Level::DEBUG,
                    outcome = outcome.as_str(), "scope finished"
                ),
            }
        }
    }

    /// A child's span, or the span it carries from its spawn.
    /// Boxed, and absent while no subscriber has ever been installed: a child's future then
    /// grows by one pointer, not by a whole `Span` (which made the future's moves a `memcpy`
    /// call, about 150 instructions per spawn).
    pub(crate) struct ChildSpan(Option<Box<Span>>);

    impl ChildSpan {
        pub(crate) fn new(
            scope: &ScopeSpan,
            scope_id: TaskId,
            info: &TaskInfo,
            kind: TaskKind,
        ) -> Self {
            if !dispatcher::has_been_set() {
                return ChildSpan(None);
            }
            let spawned_by_scope = IN_SCOPE.try_with(Cell::get).ok() == Some(scope_id.as_u64());
            let parent = if spawned_by_scope {
                Span::current()
            } else {
                scope.span.clone()
            };
            let span = tracing::span!(
                target: "scope",
                parent: &parent,
                Level::DEBUG,
                "task",
                name = %info,
                id = info.id().as_u64(),
                site = %Site(info.location()),
                kind = kind.as_str(),
            );
            let carried = if span.is_disabled() { parent } else { span };
            ChildSpan((!carried.is_none()).then(|| Box::new(carried)))
        }

        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            match &self.0 {
                Some(span) => guard(span, 0),
                None => guard(&NONE, 0),
            }
        }

        pub(crate) fn ended<T>(&self, out: &Result<T, Interrupted>) {
            let Some(span) = self.0.as_deref() else {
                return;
            };
            if span.is_disabled() {
                return;
            }
            match out {
                Err(Interrupted::ChildFailed(e)) => tracing::event!(
                    target: "scope", parent: span, Level::WARN,
                    error = %e.message(), "task failed"
                ),
                Err(Interrupted::Panicked(p)) => tracing::event!(
                    target: "scope", parent: span, Level::ERROR,
                    panic = %p.message(), "task panicked"
                ),
                Err(e @ (Interrupted::Cancelled(_) | Interrupted::DeadlineExceeded(_))) => {
                    tracing::event!(
                        target: "scope", parent: span, Level::DEBUG,
                        cause = %e, "task stopped before completing"
                    );
                }
                Ok(_) | Err(_) => {}
            }
        }
    }
}

#[cfg(not(feature = "tracing"))]
// Reason: the same methods as with the feature, so that the hooks read alike; they do nothing.
#[allow(clippy::unused_self)]
mod off {
    use crate::cause::Cause;
    use crate::error::Interrupted;
    use crate::info::{TaskId, TaskInfo};
    use crate::observe::tree::TaskKind;
    use crate::observe::Outcome;

    pub(crate) struct ScopeSpan;
    pub(crate) struct SpanGuard<'a>(std::marker::PhantomData<&'a ()>);
    pub(crate) struct ChildSpan;

    impl ScopeSpan {
        #[inline]
        pub(crate) fn new(_: &TaskInfo, _: TaskKind) -> Self {
            ScopeSpan
        }
        #[inline]
        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            SpanGuard(std::marker::PhantomData)
        }
        #[inline]
        pub(crate) fn cancelled(&self, _: &Cause) {}
        #[inline]
        pub(crate) fn finished(&self, _: Outcome) {}
    }

    impl ChildSpan {
        #[inline]
        pub(crate) fn new(_: &ScopeSpan, _: TaskId, _: &TaskInfo, _: TaskKind) -> Self {
            ChildSpan
        }
        #[inline]
        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            SpanGuard(std::marker::PhantomData)
        }
        #[inline]
        pub(crate) fn ended<T>(&self, _: &Result<T, Interrupted>) {}
    }
}
