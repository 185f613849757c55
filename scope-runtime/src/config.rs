//! How a scope is set up: name, policy, limit, deadline, grace and slot bindings.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

use tokio::time::Instant;

use crate::slot::Binding;
use crate::{ConfigError, Cx, Slot};

/// What a scope does when a child fails.
///
/// The third policy, first-ok, has its own scope type: [`Race`](crate::Race).
///
/// # Examples
///
/// ```
/// use scope_runtime::{Config, Policy};
/// let config = Config::new().policy(Policy::Supervise);
/// assert_eq!(config.get_policy(), Policy::Supervise);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// The first failure cancels the siblings (cause: [`SiblingFailed`](crate::Cause::SiblingFailed))
    /// and is the error the scope returns. The default.
    #[default]
    FailFast,
    /// Failures do not cancel siblings; every failure is collected (see
    /// [`Scope::run_all`](crate::Scope::run_all)).
    Supervise,
}

/// The grace a cancelled scope gives its children before aborting them: none.
///
/// When a scope is cancelled, its children are signalled (their contexts are cancelled) and,
/// after the grace, the ones still running are aborted at their next `.await` (in-place ones
/// and the body are dropped; spawned ones are aborted through tokio). Zero matches what Rust
/// users expect of dropping a future, and keeps a failing scope fast. Give children time to
/// observe [`cancelled`](crate::Cx::cancelled) and clean up with [`Config::grace`] (or
/// `#[scoped(grace = ...)]`).
pub const DEFAULT_GRACE: Duration = Duration::ZERO;

/// The set-up of a scope. Every setting is optional.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope_runtime::{Config, Slot};
/// static TENANT: Slot<String> = Slot::new("TENANT");
/// let config = Config::new()
///     .name("fetch-all")
///     .limit(8)
///     .timeout(Duration::from_secs(2))
///     .grace(Duration::from_millis(100))
///     .bind(&TENANT, "acme".to_owned());
/// assert_eq!(config.get_name(), Some("fetch-all"));
/// ```
pub struct Config {
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) policy: Policy,
    pub(crate) limit: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) grace: Duration,
    pub(crate) bindings: Vec<Binding>,
    pub(crate) parent: Option<Cx>,
    pub(crate) error: Option<ConfigError>,
}

impl Default for Config {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The defaults: unnamed (named by its call site), fail-fast, no limit, no deadline, no
    /// grace ([`DEFAULT_GRACE`]), no slots, and the ambient context as the parent.
    #[track_caller]
    #[must_use]
    pub fn new() -> Self {
        Self {
            name: None,
            location: Location::caller(),
            policy: Policy::FailFast,
            limit: None,
            timeout: None,
            deadline: None,
            grace: DEFAULT_GRACE,
            bindings: Vec::new(),
            parent: None,
            error: None,
        }
    }

    /// Names the scope (in causes, errors and task trees).
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The scope's name, if it was given one.
    #[must_use]
    pub fn get_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Sets where the scope was written (the macros pass the user's call site).
    #[must_use]
    pub fn location(mut self, location: &'static Location<'static>) -> Self {
        self.location = location;
        self
    }

    /// Chooses the policy.
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The policy chosen.
    #[must_use]
    pub fn get_policy(&self) -> Policy {
        self.policy
    }

    /// At most `n` children run at once; more queue (the spawn returns at once) and start
    /// as running ones finish. `0` is invalid: the scope then returns
    /// [`ConfigError::ZeroLimit`] without running its body.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        if n == 0 {
            self.error.get_or_insert(ConfigError::ZeroLimit);
        }
        self.limit = Some(n);
        self
    }

    /// A deadline `timeout` after the scope is entered (not when this is called).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// An absolute deadline. A deadline already past makes the scope return
    /// [`DeadlineExceeded`](crate::DeadlineExceeded) without running its body. A child's
    /// deadline is never later than its parent's.
    #[must_use]
    pub fn deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(at);
        self
    }

    /// How long children get, after the scope is cancelled, before they are aborted.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Binds `slot` to `value` for the scope and its descendants. Binding the same slot twice
    /// in one scope makes it return [`ConfigError::SlotBoundTwice`] without running its body;
    /// a nested scope may shadow an outer binding.
    #[must_use]
    pub fn bind<T: Send + Sync + 'static, K>(
        mut self,
        slot: &'static Slot<T, K>,
        value: T,
    ) -> Self {
        let binding = Binding::new(slot, value);
        if self.bindings.iter().any(|b| b.index == binding.index) {
            self.error
                .get_or_insert(ConfigError::SlotBoundTwice(binding.name));
        }
        self.bindings.push(binding);
        self
    }

    /// The parent context (default: the ambient one when the scope is entered).
    #[must_use]
    pub fn parent(mut self, parent: Cx) -> Self {
        self.parent = Some(parent);
        self
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("location", &self.location)
            .field("policy", &self.policy)
            .field("limit", &self.limit)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("grace", &self.grace)
            .field("bindings", &self.bindings)
            .finish_non_exhaustive()
    }
}
