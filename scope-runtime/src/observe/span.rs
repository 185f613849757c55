//! `tracing` spans that follow the work (the `tracing` feature; without it, every type here is
//! empty and every function does nothing). The spans, their fields, how they are parented,
//! and the events are documented publicly, in `observe`'s module docs ("Tracing"), so that
//! users can find them.

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
    use crate::info::{TaskId, TaskInfo};
    use crate::observe::tree::TaskKind;
    use crate::observe::{hook, End, Outcome};

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

    /// An event of ours: in `span` (ours, or the span carried in its place), naming the task
    /// or scope by the field `$who` when the span is not its own (`named`: `Some(info)`).
    /// With no span at all (ours filtered out and none carried), the event still goes out,
    /// under whatever span is current: a subscriber that keeps `INFO` and above (and so none
    /// of our `DEBUG` spans) still hears of cancellations, failures and panics.
    macro_rules! emit {
        ($span:expr, $named:expr, $who:ident, $level:expr, $($rest:tt)+) => {
            match ($span.is_disabled(), $named) {
                (false, None) => tracing::event!(target: "scope", parent: $span, $level, $($rest)+),
                (false, Some(info)) => {
                    tracing::event!(target: "scope", parent: $span, $level, $who = %info, $($rest)+)
                }
                (true, Some(info)) => tracing::event!(target: "scope", $level, $who = %info, $($rest)+),
                (true, None) => tracing::event!(target: "scope", $level, $($rest)+),
            }
        };
    }

    /// A scope's (or a service's) span.
    pub(crate) struct ScopeSpan {
        span: Span,
        id: u64,
        /// The scope, when `span` is not its own (filtered out): its events name it.
        named: Option<Box<TaskInfo>>,
        /// The grace its cancel gave it ([`pack_grace`]), for `grace ran out` (worked out at
        /// the cancel: at its end, a grace the deadline cut would read as zero).
        grace: std::sync::atomic::AtomicU64,
    }

    /// Entered around a poll: the span, and which scope's code runs.
    pub(crate) struct SpanGuard<'a> {
        entered: Option<tracing::span::Entered<'a>>,
        /// What `IN_SCOPE` was before (`None`: not touched).
        prev: Option<u64>,
    }

    impl Drop for SpanGuard<'_> {
        fn drop(&mut self) {
            if let Some(entered) = self.entered.take() {
                // Leaving the span: the subscriber's code (see `hook`).
                let _ = hook(move || drop(entered));
            }
            if let Some(prev) = self.prev {
                let _ = IN_SCOPE.try_with(|c| c.set(prev));
            }
        }
    }

    /// The top bit of a packed grace: set, the rest counts whole seconds.
    const TOP: u64 = 1 << 63;

    /// A grace in one word: nanoseconds below 2^63 (292 years), else whole seconds with the
    /// top bit set, so that a longer grace is named to the second, not saturated.
    fn pack_grace(grace: std::time::Duration) -> u64 {
        match u64::try_from(grace.as_nanos()) {
            Ok(nanos) if nanos < TOP => nanos,
            _ => TOP | grace.as_secs().min(TOP - 1),
        }
    }

    /// The grace [`pack_grace`] packed.
    fn unpack_grace(packed: u64) -> std::time::Duration {
        if packed & TOP == 0 {
            std::time::Duration::from_nanos(packed)
        } else {
            std::time::Duration::from_secs(packed & !TOP)
        }
    }

    #[inline]
    fn guard(span: &Span, in_scope: u64) -> SpanGuard<'_> {
        if !dispatcher::has_been_set() {
            // No subscriber has ever been installed: no span to enter, no spawn to parent.
            return SpanGuard {
                entered: None,
                prev: None,
            };
        }
        SpanGuard {
            prev: IN_SCOPE.try_with(|c| c.replace(in_scope)).ok(),
            entered: (!span.is_disabled())
                .then(|| hook(|| span.enter()))
                .flatten(),
        }
    }

    impl ScopeSpan {
        pub(crate) fn new(info: &TaskInfo, kind: TaskKind) -> Self {
            let made = dispatcher::has_been_set().then(|| {
                hook(|| {
                    // A service is a root, as its context is: under the span current at its
                    // making (a request's), that span would stay open for the service's life
                    // and every later task of the service would be filed under it.
                    let service = kind == TaskKind::Service;
                    macro_rules! scope_span {
                        ($($parent:tt)*) => {
                            tracing::span!(
                                target: "scope",
                                $($parent)*
                                Level::DEBUG,
                                "scope",
                                name = %info,
                                id = info.id().as_u64(),
                                site = %Site(info.location()),
                                kind = kind.as_str(),
                            )
                        };
                    }
                    let own = if service {
                        scope_span!(parent: None,)
                    } else {
                        scope_span!()
                    };
                    // Filtered out: the scope carries the span current where it was entered
                    // (a service none), and its events name it.
                    if own.is_disabled() {
                        let carried = if service {
                            Span::none()
                        } else {
                            Span::current()
                        };
                        (carried, Some(Box::new(info.clone())))
                    } else {
                        (own, None)
                    }
                })
            });
            // Made before any subscriber (a `main` that builds its services before it sets up
            // logging): no span, and its later events name it.
            let (span, named) = made
                .flatten()
                .unwrap_or_else(|| (Span::none(), Some(Box::new(info.clone()))));
            ScopeSpan {
                span,
                id: info.id().as_u64(),
                named,
                grace: std::sync::atomic::AtomicU64::new(0),
            }
        }

        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            guard(&self.span, self.id)
        }

        /// `topmost`: no scope or service above it reports a cancel its parent passes down
        /// (it says it at `INFO` then).
        pub(crate) fn cancelled(&self, cause: &Cause, topmost: bool) {
            if dispatcher::has_been_set() {
                let _ = hook(|| self.emit_cancelled(cause, topmost));
            }
        }

        fn emit_cancelled(&self, cause: &Cause, topmost: bool) {
            let (span, named) = (&self.span, self.named.as_deref());
            match cause {
                Cause::DeadlineExceeded { scope } => emit!(
                    span, named, scope, Level::INFO, deadline = %scope, "deadline exceeded"
                ),
                // Passed down from a context no scope owns: nobody above says it.
                Cause::ParentCancelled(_) if topmost => match cause.root() {
                    Cause::DeadlineExceeded { scope } => emit!(
                        span, named, scope, Level::INFO, deadline = %scope, "deadline exceeded"
                    ),
                    // A context that ended with its work is no cancellation to report.
                    Cause::Finished { .. } => {
                        emit!(span, named, scope, Level::DEBUG, cause = %cause, "cancelled");
                    }
                    _ => emit!(span, named, scope, Level::INFO, cause = %cause, "cancelled"),
                },
                Cause::ParentCancelled(_) | Cause::Finished { .. } => {
                    emit!(span, named, scope, Level::DEBUG, cause = %cause, "cancelled");
                }
                // The scope's own body: no sibling of anything in its own span. (Its children
                // read the cause as their parent's, where the body is their sibling.)
                Cause::SiblingFailed { task, message } if task.id().as_u64() == self.id => {
                    let cause = format_args!("its body failed: {message}");
                    emit!(span, named, scope, Level::INFO, cause = %cause, "cancelled");
                }
                _ => emit!(span, named, scope, Level::INFO, cause = %cause, "cancelled"),
            }
        }

        pub(crate) fn finished(&self, outcome: Outcome) {
            if dispatcher::has_been_set() {
                let _ = hook(|| self.emit_finished(outcome));
            }
        }

        /// The scope's cancel gave it `grace`, which is now running.
        pub(crate) fn grace_began(&self, grace: std::time::Duration) {
            self.grace
                .store(pack_grace(grace), std::sync::atomic::Ordering::Relaxed);
        }

        /// The scope's grace ran out with work still running: it is aborted.
        pub(crate) fn grace_ran_out(&self) {
            if dispatcher::has_been_set() {
                let grace = unpack_grace(self.grace.load(std::sync::atomic::Ordering::Relaxed));
                let (span, named) = (&self.span, self.named.as_deref());
                let _ = hook(|| {
                    emit!(span, named, scope, Level::WARN, grace = ?grace, "grace ran out");
                });
            }
        }

        fn emit_finished(&self, outcome: Outcome) {
            let (span, named) = (&self.span, self.named.as_deref());
            match outcome {
                Outcome::Panicked => emit!(span, named, scope, Level::ERROR, "scope panicked"),
                Outcome::Failed => emit!(span, named, scope, Level::WARN, "scope failed"),
                Outcome::Completed | Outcome::Cancelled => emit!(
                    span,
                    named,
                    scope,
                    Level::DEBUG,
                    outcome = outcome.as_str(),
                    "scope finished"
                ),
            }
        }
    }

    /// A child's span, or the span it carries from its spawn (then `false`: not its own).
    /// Boxed, and absent while no subscriber has ever been installed: a child's future then
    /// grows by one pointer, not by a whole `Span` (which made the future's moves a `memcpy`
    /// call, about 150 instructions per spawn).
    pub(crate) struct ChildSpan(Option<Box<(Span, bool)>>);

    impl Drop for ChildSpan {
        fn drop(&mut self) {
            if let Some(carried) = self.0.take() {
                // Closing the span: the subscriber's code (see `hook`).
                let _ = hook(move || drop(carried));
            }
        }
    }

    impl Drop for ScopeSpan {
        fn drop(&mut self) {
            let span = std::mem::replace(&mut self.span, Span::none());
            let _ = hook(move || drop(span));
        }
    }

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
            ChildSpan(hook(|| Box::new(Self::make(scope, scope_id, info, kind))))
        }

        fn make(
            scope: &ScopeSpan,
            scope_id: TaskId,
            info: &TaskInfo,
            kind: TaskKind,
        ) -> (Span, bool) {
            let spawned_by_scope = IN_SCOPE.try_with(Cell::get).ok() == Some(scope_id.as_u64());
            // The span current in the scope's own code (the scope's, or one the user entered
            // under it); a subscriber that cannot tell which span is current says none, and
            // the scope's span, entered around that code, stands for it.
            let parent = match spawned_by_scope.then(Span::current) {
                Some(current) if !current.is_none() => current,
                _ => scope.span.clone(),
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
            // Filtered out: the child carries the span current at the spawn (its events name
            // it), or none at all.
            let own = !span.is_disabled();
            let carried = if own { span } else { parent };
            (carried, own)
        }

        pub(crate) fn enter(&self) -> SpanGuard<'_> {
            match &self.0 {
                Some(carried) => guard(&carried.0, 0),
                None => guard(&NONE, 0),
            }
        }

        pub(crate) fn ended(&self, info: &TaskInfo, end: &End<'_>) {
            if let Some((span, own)) = self.0.as_deref() {
                let _ = hook(|| Self::emit_ended(span, *own, info, end));
            } else if dispatcher::has_been_set() {
                // Spawned before any subscriber: no span, and its end names it.
                let _ = hook(|| Self::emit_ended(&NONE, false, info, end));
            }
        }

        fn emit_ended(span: &Span, own: bool, info: &TaskInfo, end: &End<'_>) {
            let named = (!own).then_some(info);
            match end {
                End::Failed(message) => emit!(
                    span, named, task, Level::WARN, error = %message, "task failed"
                ),
                End::Panicked(message) => emit!(
                    span, named, task, Level::ERROR, panic = %message, "task panicked"
                ),
                End::Stopped(cause) | End::NotStarted(cause) => emit!(
                    span, named, task, Level::DEBUG, cause = %cause,
                    "task stopped before completing"
                ),
                End::Completed => {}
            }
        }
    }

    /// An incarnation of supervised child `child` ended (see `observe::incarnation_ended`):
    /// an event in the current span, the child's, naming the child.
    pub(crate) fn incarnation_ended(
        child: &TaskInfo,
        attempt: u32,
        error: Option<&dyn fmt::Display>,
        panicked: bool,
        action: &'static str,
    ) {
        if !dispatcher::has_been_set() {
            return;
        }
        let _ = hook(|| match (error, panicked) {
            (Some(error), true) => tracing::event!(
                target: "scope", Level::ERROR, task = %child, attempt, panic = %error, action,
                "supervised incarnation panicked"
            ),
            (Some(error), false) => tracing::event!(
                target: "scope", Level::WARN, task = %child, attempt, error = %error, action,
                "supervised incarnation failed"
            ),
            (None, _) => tracing::event!(
                target: "scope", Level::DEBUG, task = %child, attempt, action,
                "supervised incarnation returned"
            ),
        });
    }
}

#[cfg(not(feature = "tracing"))]
// Reason: the same methods as with the feature, so that the hooks read alike; they do nothing.
#[allow(clippy::unused_self)]
mod off {
    use crate::cause::Cause;
    use crate::info::{TaskId, TaskInfo};
    use crate::observe::tree::TaskKind;
    use crate::observe::{End, Outcome};

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
        pub(crate) fn cancelled(&self, _: &Cause, _: bool) {}
        #[inline]
        pub(crate) fn finished(&self, _: Outcome) {}
        #[inline]
        pub(crate) fn grace_began(&self, _: std::time::Duration) {}
        #[inline]
        pub(crate) fn grace_ran_out(&self) {}
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
        pub(crate) fn ended(&self, _: &TaskInfo, _: &End<'_>) {}
    }

    #[inline]
    pub(crate) fn incarnation_ended(
        _: &TaskInfo,
        _: u32,
        _: Option<&dyn std::fmt::Display>,
        _: bool,
        _: &'static str,
    ) {
    }
}
