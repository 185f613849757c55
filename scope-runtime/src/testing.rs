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
//! let report = svc.stop().await; // aborts it after the grace
//! assert_eq!(report.aborted().len(), 1);
//! check.assert_clean().await;
//! # });
//! ```

use std::collections::HashSet;
use std::fmt;

use crate::info::TaskId;
use crate::observe::{self, TaskNode, Tracking};

/// Remembers how many tokio tasks are alive, to check later that no task started since is
/// still alive. `#[scope::test]` wraps every test in one.
///
/// It counts every task of the current runtime (through tokio's runtime metrics), so it
/// catches tasks started with plain `tokio::spawn` too. Outside a runtime it checks nothing.
///
/// While it lives it keeps the task tree on ([`observe::track`]), so that a leak of ours (a
/// spawned child or a service task still alive) is named in the error, with the scope or
/// service it belongs to and the line that started it.
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
    /// The tracked tasks alive at the baseline (not leaks of this test).
    before: HashSet<TaskId>,
    /// The runtime whose tasks it counts (tests running in parallel have their own).
    runtime: Option<tokio::runtime::Id>,
    _tracking: Tracking,
}

/// Tasks were still alive at a [`LeakCheck`]: how many, and the ones started through `scope`
/// by name, scope and call site.
///
/// # Examples
///
/// ```
/// let e = scope::testing::Leaked { alive: 2, ours: Vec::new() };
/// // A plain `tokio::spawn` (or another library's task): counted, with a hint.
/// assert_eq!(
///     e.to_string(),
///     "2 task(s) started during the test are still alive; none of them was started by a \
///      scope or a service (a plain `tokio::spawn`, or another library's task): spawn it in \
///      a scope, hand it to a `Service`, or abort it and await its handle before the test \
///      ends (or the grace of a scope whose run was dropped: await the run, or give it less)"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Leaked {
    /// How many more tasks are alive than at the baseline.
    pub alive: usize,
    /// The leaked tasks that `scope` started (spawned children, service tasks), as the task
    /// tree saw them.
    pub ours: Vec<LeakedTask>,
}

/// A leaked task that `scope` started, and the scope or service that owns it.
///
/// # Examples
///
/// ```
/// use scope::testing::LeakCheck;
/// use scope::{Service, ServiceConfig};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let check = LeakCheck::new();
/// let svc = Service::new(ServiceConfig::new("forgotten"));
/// svc.spawn(std::future::pending::<()>()).unwrap().detach(); // never drained nor stopped
/// let leaked = check.check().await.unwrap_err();
/// assert_eq!(leaked.ours[0].owner.as_ref().unwrap().name(), Some("forgotten"));
/// assert!(leaked.to_string().contains("service-task `forgotten` of service `forgotten`"));
/// assert_eq!(svc.stop().await.aborted().len(), 1);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct LeakedTask {
    /// The task.
    pub task: TaskNode,
    /// Its scope or service, if that is still in the tree.
    pub owner: Option<TaskNode>,
}

impl PartialEq for Leaked {
    fn eq(&self, other: &Self) -> bool {
        self.alive == other.alive
            && self.ours.len() == other.ours.len()
            && self
                .ours
                .iter()
                .zip(&other.ours)
                .all(|(a, b)| a.task.id() == b.task.id())
    }
}

impl Eq for Leaked {}

/// Hashes what [`PartialEq`] compares: the count and the leaked tasks' ids.
impl std::hash::Hash for Leaked {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.alive.hash(state);
        self.ours.len().hash(state);
        for leaked in &self.ours {
            leaked.task.id().hash(state);
        }
    }
}

impl std::error::Error for Leaked {}

impl fmt::Display for Leaked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} task(s) started during the test are still alive",
            self.alive
        )?;
        for (i, leaked) in self.ours.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            let node = &leaked.task;
            match node.name() {
                Some(name) => write!(f, "{} `{name}`", node.kind())?,
                None => write!(f, "{} (unnamed)", node.kind())?,
            }
            if let Some(owner) = &leaked.owner {
                match owner.name() {
                    Some(name) => write!(f, " of {} `{name}`", owner.kind())?,
                    None => write!(f, " of the {} at {}", owner.kind(), Site(owner))?,
                }
            }
            write!(f, " started at {}", Site(node))?;
            write!(f, ", {} for {:.1?}", node.state(), node.elapsed())?;
        }
        let others = self.alive.saturating_sub(self.ours.len());
        if others > 0 {
            let what = if self.ours.is_empty() {
                "; none of them was started by a scope or a service".to_owned()
            } else {
                format!("; and {others} not started by a scope or a service")
            };
            write!(
                f,
                "{what} (a plain `tokio::spawn`, or another library's task): spawn it in a \
                 scope, hand it to a `Service`, or abort it and await its handle before the \
                 test ends (or the grace of a scope whose run was dropped: await the run, or \
                 give it less)"
            )?;
        }
        Ok(())
    }
}

impl Default for LeakCheck {
    fn default() -> Self {
        Self::new()
    }
}

/// How many times the check yields to let aborted tasks be dropped before it judges.
const SETTLE_ROUNDS: usize = 1_000;

/// How many times the check yields before it takes a child of ours that is still queued for
/// one that never starts, not a task its runtime has yet to poll.
const QUEUED_ROUNDS: usize = 10;

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
        let tracking = observe::track();
        Self {
            baseline: alive_tasks(),
            before: observe::snapshot().iter().map(TaskNode::id).collect(),
            runtime: tokio::runtime::Handle::try_current().ok().map(|h| h.id()),
            _tracking: tracking,
        }
    }

    /// Checks that no task started since the baseline is alive. Aborted tasks are dropped
    /// by the runtime a moment after the abort, so the check yields (a bounded number of
    /// times, and for about half a second of real time at most) for the count to settle
    /// before it judges. Besides the runtime's count of live tasks, it looks for the tasks
    /// of scopes and services created since the baseline, so that a task alive at the
    /// baseline that ends meanwhile cannot hide a leaked one of ours (a plain `tokio::spawn`
    /// is known by the count alone). A blocking child of a scope still running is found the
    /// same way; a plain `tokio::task::spawn_blocking` is not seen (tokio counts its
    /// blocking threads only in `tokio_unstable` builds), nor is a task of a
    /// `tokio::task::LocalSet` (the set runs its tasks itself, and the runtime does not count
    /// them): a `!Send` task of your own, kept in a `LocalSet` past the body, is not found
    /// (one spawned in place in a `local` scope ends with its scope).
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
    /// assert_eq!(check.check().await, Err(Leaked { alive: 1, ours: Vec::new() }));
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
            // The count alone can be fooled (a task alive at the baseline that ends meanwhile
            // makes room for a leaked one): none of ours started since may be running either.
            // One still queued after some rounds is not a task (a future its scope keeps, which
            // never starts); before that, it may be a task not polled yet.
            if alive == 0 {
                let ours = self.ours();
                // (Kept unstarted whatever it shows: a queued child of a scope cancelled
                // before it ran shows as cancelling.)
                let queued = |t: &LeakedTask| t.task.kept_unstarted;
                if ours.is_empty() || (round >= QUEUED_ROUNDS && ours.iter().all(queued)) {
                    return Ok(());
                }
            }
            if round % 100 == 99 {
                // Let a multi-thread runtime's workers catch up, in real time, longer each
                // time (about half a second in all): on a loaded machine a worker that is
                // dropping an aborted task may be off its core for a while.
                let pause = u64::try_from(round / 100).unwrap_or(0) * 10 + 1;
                let pause = std::time::Duration::from_millis(pause);
                let before = tokio::time::Instant::now();
                std::thread::sleep(pause);
                if tokio::time::Instant::now() == before {
                    // The runtime's clock is paused (a test): it runs as much, so that what
                    // the real clock would end meanwhile (a dropped scope's grace) ends too,
                    // and the verdict does not depend on the clock. tokio advances a paused
                    // clock only while nothing runs (not while a blocking task is alive, nor
                    // while a task keeps waking itself): a pause of real time bounds the wait.
                    let (woke, real) = tokio::sync::oneshot::channel::<()>();
                    std::thread::spawn(move || {
                        std::thread::sleep(pause);
                        let _ = woke.send(());
                    });
                    let virtual_pause = std::pin::pin!(tokio::time::sleep(pause));
                    let _ = futures_util::future::select(virtual_pause, real).await;
                }
            }
            tokio::task::yield_now().await;
        }
        let ours = self.ours();
        // tokio counts tasks, not blocking children: those of ours are added to its count.
        let blocking = ours
            .iter()
            .filter(|t| t.task.kind() == observe::TaskKind::Blocking)
            .count();
        Err(Leaked {
            alive: (alive + blocking).max(ours.len()),
            ours,
        })
    }

    /// Ours still alive: tasks of the tree (spawned children, service tasks, blocking
    /// children, which tokio does not count) created on this runtime since the baseline.
    fn ours(&self) -> Vec<LeakedTask> {
        let tree = observe::snapshot();
        tree.iter()
            .filter(|n| {
                n.kind().runs_apart() && n.runtime == self.runtime && !self.before.contains(&n.id())
            })
            .map(|n| LeakedTask {
                task: n.clone(),
                owner: n.owner().and_then(|o| tree.get(o)).cloned(),
            })
            .collect()
    }

    /// [`check`](LeakCheck::check), panicking on a leak with the count and the names of the
    /// leaked tasks that `scope` started (for tests).
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

/// A node's call site, `file:line:col`.
struct Site<'a>(&'a TaskNode);

impl fmt::Display for Site<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.0.location();
        write!(f, "{}:{}:{}", loc.file(), loc.line(), loc.column())
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
