//! Identity of scopes and children: an id, a name and the call site that started them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU64;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

/// A process-unique id of a scope or a child (unique, not ordered across threads).
///
/// # Examples
///
/// ```
/// use scope::TaskId;
/// let a = TaskId::next();
/// let b = TaskId::next();
/// assert_ne!(a, b);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

impl TaskId {
    /// Allocates a fresh id.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::TaskId;
    /// let ids: Vec<TaskId> = (0..3).map(|_| TaskId::next()).collect();
    /// assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    /// ```
    #[must_use]
    pub fn next() -> Self {
        // Each thread takes ids from the shared counter a block at a time, so spawning on
        // several workers does not contend on one atomic per child.
        const BLOCK: u64 = 1024;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static RANGE: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
        }
        // Relaxed: only uniqueness matters, which the read-modify-write guarantees.
        let id = RANGE
            .try_with(|range| {
                let (next, end) = range.get();
                if next < end {
                    range.set((next + 1, end));
                    next
                } else {
                    let start = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
                    range.set((start + 1, start + BLOCK));
                    start
                }
            })
            .unwrap_or_else(|_| NEXT.fetch_add(1, Ordering::Relaxed));
        Self(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
    }

    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::TaskId;
    /// let id = TaskId::next();
    /// assert!(id.as_u64() > 0);
    /// assert_eq!(id.to_string(), format!("#{}", id.as_u64()));
    /// ```
    #[must_use]
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Who a scope or child is: its id, its name (if it was given one) and where it was started.
///
/// Its `Display` is the name if there is one, and the call site otherwise, which is what the
/// causes and errors of this crate print.
///
/// # Examples
///
/// ```
/// use scope::TaskInfo;
/// let info = TaskInfo::here(Some("fetch".into()));
/// assert_eq!(info.to_string(), "fetch");
/// assert_eq!(info.location().file(), file!());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskInfo {
    id: TaskId,
    name: Option<Cow<'static, str>>,
    location: &'static Location<'static>,
}

impl TaskInfo {
    /// Describes a task started at the caller's location.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::TaskInfo;
    /// let (info, line) = (TaskInfo::here(None), line!());
    /// assert_eq!(info.location().line(), line);
    /// assert_eq!(info.name(), None);
    /// // Without a name, it displays as its call site.
    /// assert!(info.to_string().starts_with(&format!("{}:{line}:", file!())));
    /// ```
    #[track_caller]
    #[must_use]
    pub fn here(name: Option<Cow<'static, str>>) -> Self {
        Self::new(name, Location::caller())
    }

    /// Describes a task started at `location`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::Location;
    /// use scope::TaskInfo;
    /// let site = Location::caller();
    /// let info = TaskInfo::new(Some("indexer".into()), site);
    /// assert_eq!(info.location(), site);
    /// assert_eq!(info.to_string(), "indexer");
    /// ```
    #[must_use]
    pub fn new(name: Option<Cow<'static, str>>, location: &'static Location<'static>) -> Self {
        Self {
            id: TaskId::next(),
            name,
            location,
        }
    }

    /// The task's id.
    ///
    /// # Examples
    ///
    /// Each description gets its own id; a clone keeps it:
    ///
    /// ```
    /// use scope::TaskInfo;
    /// let a = TaskInfo::here(Some("same-name".into()));
    /// let b = TaskInfo::here(Some("same-name".into()));
    /// assert_ne!(a.id(), b.id());
    /// assert_eq!(a.clone().id(), a.id());
    /// ```
    #[must_use]
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The name it was given, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::TaskInfo;
    /// assert_eq!(TaskInfo::here(Some("fetch".into())).name(), Some("fetch"));
    /// assert_eq!(TaskInfo::here(None).name(), None);
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where it was started.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Config, Interrupted, Scope};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let s = &Scope::new(Config::new());
    /// s.run(async {
    ///     let (child, line) = (s.spawn(async { Ok::<_, Interrupted>(()) }), line!());
    ///     // A child's location is the line that spawned it.
    ///     assert_eq!(child.info().location().file(), file!());
    ///     assert_eq!(child.info().location().line(), line);
    ///     child.await
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[must_use]
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => f.write_str(name),
            None => write!(
                f,
                "{}:{}:{}",
                self.location.file(),
                self.location.line(),
                self.location.column()
            ),
        }
    }
}

/// Ids are unique integers handed out in sequence: a multiplication spreads them over a table
/// (`SipHash`, the standard map's default, would cost more than the rest of a lookup; nothing
/// outside the crate chooses the keys, so there is no flooding to defend against).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A map keyed by ids or addresses (see [`IdHasher`]).
pub(crate) type ById<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
