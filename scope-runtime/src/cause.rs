//! Why a context was cancelled.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::TaskInfo;

/// Why a context was cancelled. The first cause wins: later cancels of the same context are
/// ignored, and every observer sees the same cause.
///
/// Match it exhaustively: a new kind of cause is a breaking change of this crate.
///
/// # Examples
///
/// ```
/// use scope::{Cause, Cx};
/// let cx = Cx::root();
/// let child = cx.child();
/// cx.cancel("client went away");
/// let cause = child.cause().unwrap();
/// assert!(matches!(cause, Cause::ParentCancelled(_)));
/// assert!(matches!(cause.root(), Cause::Explicit { reason } if reason == "client went away"));
/// assert_eq!(cause.to_string(), "parent cancelled: client went away");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// Cancelled by a call to [`Cx::cancel`](crate::Cx::cancel), with the caller's reason.
    Explicit {
        /// The caller's reason.
        reason: Cow<'static, str>,
    },
    /// A deadline fired.
    DeadlineExceeded {
        /// Whose deadline it was: the scope's name (or its place, `file:line:column`, when it
        /// has none), a service task's, a shield's budget; for a context made by
        /// [`Cx::child_with_timeout`](crate::Cx::child_with_timeout) or
        /// [`child_with_deadline`](crate::Cx::child_with_deadline), the place it was made.
        scope: Cow<'static, str>,
    },
    /// A failure the scope keeps cancelled it: a child's error under the fail-fast policy, or
    /// the scope body's own error under any policy (naming the scope itself). This is the
    /// scope's own cause; its children, whose contexts are below the scope's, read it inside
    /// [`ParentCancelled`](Cause::ParentCancelled): "parent cancelled: sibling task `db`
    /// failed: refused" (match [`root`](Cause::root) to find it from anywhere below). A race
    /// is cancelled so by its body's error only.
    SiblingFailed {
        /// The child that failed (the scope itself for its body's error).
        task: TaskInfo,
        /// Its error's message.
        message: String,
    },
    /// An ancestor was cancelled; the original cause is inside (descendants at any depth
    /// share it, so it is never nested more than once).
    ParentCancelled(Arc<Cause>),
    /// A shutdown: of the application (an OS signal, or
    /// [`App::request_shutdown`](crate::App::request_shutdown)), or of the service the work
    /// runs in ([`Service::stop`](crate::Service::stop), which the application's shutdown also
    /// uses for its services). `signal` says what asked.
    Shutdown {
        /// What asked for the shutdown.
        signal: Signal,
    },
    /// A panic cancelled the scope: a child's, or the scope body's own, or an `on_cancel`
    /// callback's in a cancel the scope made (both naming the scope itself). As for
    /// [`SiblingFailed`](Cause::SiblingFailed), the scope's children read it inside
    /// [`ParentCancelled`](Cause::ParentCancelled) ("parent cancelled: sibling task `worker`
    /// panicked: ..."; match [`root`](Cause::root)).
    Panicked {
        /// The child that panicked (the scope itself for its body or a callback).
        task: TaskInfo,
        /// The panic's message.
        message: String,
    },
    /// The scope finished: its body and every child are done. Not an error: a context that
    /// outlives its scope (cloned into another library's task, say) learns this way that the
    /// work it belonged to is over. A child's own context (or a service task's) ends so too
    /// when the child does (just after its outcome is delivered to its handle), naming the child (it reads "scope `fetch-1` finished": the unit
    /// of work that finished), and an [`App`](crate::App)'s when its run returns without a
    /// shutdown signal (named `app`). A background child
    /// ([`Scope::spawn_background`](crate::Scope::spawn_background)) reads it inside
    /// `ParentCancelled` when its scope's body has returned its value: its scope's work is
    /// done, and it is asked to stop (a body that fails stops it with its failure instead).
    Finished {
        /// The scope (or child) that finished.
        scope: TaskInfo,
    },
}

/// What asked for a shutdown ([`Cause::Shutdown`]): an OS signal, or the program itself.
///
/// # Examples
///
/// ```
/// use scope::Signal;
/// assert_eq!(Signal::Interrupt.to_string(), "SIGINT");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP (the terminal went away; some daemons reload on it instead: then leave it out
    /// of `#[scope::main(signals = [..])]`).
    Hangup,
    /// The program asked for it, with a reason:
    /// [`App::request_shutdown`](crate::App::request_shutdown)'s (or the message of the cause
    /// the application's context was cancelled with another way), or `"service stop"`, which
    /// [`Service::stop`](crate::Service::stop) uses for the tasks it cancels.
    Requested(Cow<'static, str>),
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Interrupt => f.write_str("SIGINT"),
            Signal::Terminate => f.write_str("SIGTERM"),
            Signal::Hangup => f.write_str("SIGHUP"),
            Signal::Requested(reason) => write!(f, "request ({reason})"),
        }
    }
}

impl Signal {
    /// The exit code of a process this signal stopped: 128 + the signal's number, as shells
    /// report it (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP); 1 for a shutdown the
    /// program requested.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Signal;
    /// assert_eq!(Signal::Interrupt.exit_code(), 130);
    /// assert_eq!(Signal::Terminate.exit_code(), 143);
    /// assert_eq!(Signal::Hangup.exit_code(), 129);
    /// assert_eq!(Signal::Requested("admin".into()).exit_code(), 1);
    /// ```
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Signal::Hangup => 128 + 1,
            Signal::Interrupt => 128 + 2,
            Signal::Terminate => 128 + 15,
            Signal::Requested(_) => 1,
        }
    }
}

impl Cause {
    /// Builds an [`Explicit`](Cause::Explicit) cause.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Cause;
    /// assert_eq!(Cause::explicit("done").to_string(), "done");
    /// ```
    #[must_use]
    pub fn explicit(reason: impl Into<Cow<'static, str>>) -> Self {
        Cause::Explicit {
            reason: reason.into(),
        }
    }

    /// The cause at the top of the chain: follows [`ParentCancelled`](Cause::ParentCancelled)
    /// up to the context that was cancelled first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use scope::Cause;
    /// let c = Cause::ParentCancelled(Arc::new(Cause::explicit("x")));
    /// assert_eq!(c.root(), &Cause::explicit("x"));
    /// ```
    #[must_use]
    pub fn root(&self) -> &Cause {
        let mut cause = self;
        while let Cause::ParentCancelled(parent) = cause {
            cause = parent;
        }
        cause
    }

    /// Whether the root cause is a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Cause;
    /// assert!(Cause::DeadlineExceeded { scope: "fetch".into() }.is_deadline());
    /// ```
    #[must_use]
    pub fn is_deadline(&self) -> bool {
        matches!(self.root(), Cause::DeadlineExceeded { .. })
    }

    /// Whether the root cause is a scope that finished ([`Finished`](Cause::Finished)): the
    /// work is over, nothing went wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new().name("batch"));
    /// let kept = s.cx().child(); // say, handed to another library
    /// s.run(async { Ok::<_, Interrupted>(()) }).await.unwrap();
    /// let cause = kept.cancelled().await;
    /// assert!(cause.is_finished());
    /// assert_eq!(cause.root().to_string(), "scope `batch` finished");
    /// # });
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.root(), Cause::Finished { .. })
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Explicit { reason } => f.write_str(reason),
            Cause::DeadlineExceeded { scope } => write!(f, "deadline of `{scope}` exceeded"),
            Cause::SiblingFailed { task, message } => {
                write!(f, "sibling task `{task}` failed: {message}")
            }
            Cause::ParentCancelled(parent) => write!(f, "parent cancelled: {parent}"),
            Cause::Shutdown {
                signal: Signal::Requested(reason),
            } => write!(f, "shutdown requested: {reason}"),
            Cause::Shutdown { signal } => write!(f, "shutdown requested by {signal}"),
            Cause::Panicked { task, message } => {
                write!(f, "sibling task `{task}` panicked: {message}")
            }
            Cause::Finished { scope } => write!(f, "scope `{scope}` finished"),
        }
    }
}
