//! Test helpers: the no-leak check (Go's goleak, for tokio tasks).
//!
//! # Examples
//!
//! A stopped service leaves no task behind:
//!
//! ```
//! use std::time::Duration;
//! use scope::testing::LeakCheck;
//! use scope::{Service, ServiceConfig};
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let check = LeakCheck::new();
//! let svc = Service::new(ServiceConfig::new("poller").grace(Duration::from_secs(1)));
//! svc.spawn(async {
//!     // Never checks for cancellation.
//!     tokio::time::sleep(Duration::from_secs(3600)).await;
//! })
//! .unwrap();
//! svc.stop().await; // aborts it after the grace
//! check.assert_clean().await;
//! # });
//! ```

use std::fmt;

/// Remembers how many tokio tasks are alive, to check later that no task started since is
/// still alive. `#[scope::test]` wraps every test in one.
///
/// It counts every task of the current runtime (through tokio's runtime metrics), so it
/// catches tasks started with plain `tokio::spawn` too. Outside a runtime it checks nothing.
///
/// # Examples
///
/// ```
/// use scope::testing::LeakCheck;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let check = LeakCheck::new();
/// let leaked = tokio::spawn(std::future::pending::<()>());
/// assert!(check.check().await.is_err());
/// leaked.abort();
/// assert!(check.check().await.is_ok());
/// # });
/// ```
#[derive(Debug)]
pub struct LeakCheck {
    baseline: Option<usize>,
}

/// Tasks were still alive at a [`LeakCheck`].
///
/// # Examples
///
/// ```
/// let e = scope::testing::Leaked { alive: 2 };
/// assert_eq!(e.to_string(), "2 task(s) started during the test are still alive");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{alive} task(s) started during the test are still alive")]
pub struct Leaked {
    /// How many more tasks are alive than at the baseline.
    pub alive: usize,
}

impl Default for LeakCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// How many times the check yields to let aborted tasks be dropped before it judges.
const SETTLE_ROUNDS: usize = 1_000;

impl LeakCheck {
    /// Takes the baseline now.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::testing::LeakCheck;
    /// // Outside a runtime there is nothing to count.
    /// assert_eq!(LeakCheck::new().to_string(), "leak check (no runtime)");
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// assert!(LeakCheck::new().to_string().starts_with("leak check (baseline: "));
    /// # });
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            baseline: alive_tasks(),
        }
    }

    /// Checks that no task started since the baseline is alive. Aborted tasks are dropped
    /// by the runtime a moment after the abort, so the check yields (a bounded number of
    /// times, and for about half a second of real time at most) for the count to settle
    /// before it judges.
    ///
    /// # Examples
    ///
    /// A scope leaves no task behind, even one it had to abort:
    ///
    /// ```
    /// use scope::testing::{LeakCheck, Leaked};
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let check = LeakCheck::new();
    /// let s = &Scope::new(Config::new());
    /// let out = s
    ///     .run(async {
    ///         s.spawn(std::future::pending::<()>());
    ///         s.cancel("done");
    ///         Ok::<_, Interrupted>(())
    ///     })
    ///     .await;
    /// assert!(out.is_ok()); // the body had the last word; the child was aborted
    /// assert_eq!(check.check().await, Ok(()));
    ///
    /// let leaked = tokio::spawn(std::future::pending::<()>()); // not scoped
    /// assert_eq!(check.check().await, Err(Leaked { alive: 1 }));
    /// leaked.abort();
    /// # });
    /// ```
    pub async fn check(&self) -> Result<(), Leaked> {
        let Some(baseline) = self.baseline else {
            return Ok(());
        };
        let mut alive = 0;
        for round in 0..SETTLE_ROUNDS {
            alive = alive_tasks().unwrap_or(0).saturating_sub(baseline);
            if alive == 0 {
                return Ok(());
            }
            if round % 100 == 99 {
                // Let a multi-thread runtime's workers catch up, in real time, longer each
                // time (about half a second in all): on a loaded machine a worker that is
                // dropping an aborted task may be off its core for a while.
                let pause = u64::try_from(round / 100).unwrap_or(0) * 10 + 1;
                std::thread::sleep(std::time::Duration::from_millis(pause));
            }
            tokio::task::yield_now().await;
        }
        Err(Leaked { alive })
    }

    /// [`check`](LeakCheck::check), panicking with the count on a leak (for tests).
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::testing::LeakCheck;
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let check = LeakCheck::new();
    /// let s = &Scope::new(Config::new());
    /// let sum = s
    ///     .run(async {
    ///         let a = s.spawn(async { Ok::<_, Interrupted>(1) });
    ///         let b = s.spawn(async { Ok::<_, Interrupted>(2) });
    ///         Ok::<_, Interrupted>(a.await? + b.await?)
    ///     })
    ///     .await;
    /// assert_eq!(sum.unwrap(), 3);
    /// check.assert_clean().await;
    /// # });
    /// ```
    ///
    /// A task left running fails the test:
    ///
    /// ```should_panic
    /// use scope::testing::LeakCheck;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let check = LeakCheck::new();
    /// let _orphan = tokio::spawn(std::future::pending::<()>());
    /// check.assert_clean().await; // panics: "leak check failed: 1 task(s) started ..."
    /// # });
    /// ```
    pub async fn assert_clean(&self) {
        if let Err(leaked) = self.check().await {
            panic!("leak check failed: {leaked}");
        }
    }
}

fn alive_tasks() -> Option<usize> {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(|h| h.metrics().num_alive_tasks())
}

impl fmt::Display for LeakCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.baseline {
            Some(n) => write!(f, "leak check (baseline: {n} task(s))"),
            None => f.write_str("leak check (no runtime)"),
        }
    }
}
