//! Test helpers: the no-leak check (Go's goleak, for tokio tasks).

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
/// use scope_runtime::testing::LeakCheck;
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
/// let e = scope_runtime::testing::Leaked { alive: 2 };
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
    #[must_use]
    pub fn new() -> Self {
        Self {
            baseline: alive_tasks(),
        }
    }

    /// Checks that no task started since the baseline is alive. Aborted tasks are dropped
    /// by the runtime a moment after the abort, so the check yields (a bounded number of
    /// times) for the count to settle before it judges.
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
                // Let a multi-thread runtime's workers catch up, in real time.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            tokio::task::yield_now().await;
        }
        Err(Leaked { alive })
    }

    /// [`check`](LeakCheck::check), panicking with the count on a leak (for tests).
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
