//! Metrics through the `metrics` facade (the `metrics` feature; without it, every type here is
//! empty and every function does nothing). The metrics, their labels and what they cost are
//! documented publicly, in `observe`'s module docs ("Metrics"), so that users can find them.

#[cfg(feature = "metrics")]
pub(crate) use self::on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use self::off::*;

#[cfg(feature = "metrics")]
mod on {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::sync::{Arc, OnceLock};
    use std::time::Instant;

    use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};

    use crate::info::TaskInfo;
    use crate::observe::{hook, Outcome};

    /// Who a label names: a name, or a call site (compared without formatting it).
    #[derive(Clone, PartialEq, Eq, Hash)]
    enum Ident {
        Name(String),
        Site(usize),
    }

    impl Ident {
        fn matches(&self, info: &TaskInfo) -> bool {
            match (self, info.name()) {
                (Ident::Name(a), Some(b)) => a == b,
                (Ident::Site(a), None) => *a == site_of(info),
                _ => false,
            }
        }
    }

    fn site_of(info: &TaskInfo) -> usize {
        std::ptr::from_ref(info.location()) as usize
    }

    fn hash_of(info: &TaskInfo) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let build = BuildHasherDefault::<DefaultHasher>::default();
        match info.name() {
            Some(name) => build.hash_one(name),
            None => build.hash_one(site_of(info)) ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The handles of one label.
    pub(crate) struct Handles {
        ident: Ident,
        scopes_started: Counter,
        scopes_ended: [Counter; 4],
        children_started: Counter,
        children_ended: [Counter; 4],
        in_flight: Gauge,
        queued: Gauge,
        cancel_latency: Histogram,
        deadline_overruns: Counter,
    }

    const OUTCOMES: [Outcome; 4] = [
        Outcome::Completed,
        Outcome::Failed,
        Outcome::Cancelled,
        Outcome::Panicked,
    ];

    static METADATA: Metadata<'static> =
        Metadata::new("scope", metrics::Level::INFO, Some(module_path!()));

    impl Handles {
        fn register(recorder: &dyn Recorder, info: &TaskInfo) -> Handles {
            let label = info.to_string();
            let key = |name: &'static str, outcome: Option<Outcome>| {
                let mut labels = vec![Label::new("scope", label.clone())];
                if let Some(o) = outcome {
                    labels.push(Label::new("outcome", o.as_str()));
                }
                Key::from_parts(name, labels)
            };
            let counter = |name, outcome| recorder.register_counter(&key(name, outcome), &METADATA);
            let gauge = |name| recorder.register_gauge(&key(name, None), &METADATA);
            Handles {
                ident: info
                    .name()
                    .map_or_else(|| Ident::Site(site_of(info)), |n| Ident::Name(n.to_owned())),
                scopes_started: counter("scope_scopes_started_total", None),
                scopes_ended: OUTCOMES.map(|o| counter("scope_scopes_ended_total", Some(o))),
                children_started: counter("scope_children_started_total", None),
                children_ended: OUTCOMES.map(|o| counter("scope_children_ended_total", Some(o))),
                in_flight: gauge("scope_children_in_flight"),
                queued: gauge("scope_children_queued"),
                cancel_latency: recorder
                    .register_histogram(&key("scope_cancel_latency_seconds", None), &METADATA),
                deadline_overruns: counter("scope_deadline_overruns_total", None),
            }
        }
    }

    /// Handles by the hash of their label (a bucket holds the labels of one hash).
    type ByLabel = HashMap<u64, Vec<Arc<Handles>>>;

    /// The labels a thread's cache holds at most: one more starts it over (the handles are
    /// registered again as they are needed, which a recorder answers with the series it
    /// keeps). Scopes named per request, or per job of a long-lived thread, would otherwise
    /// grow it for the thread's life, with no recorder installed too.
    pub(super) const CACHE_LABELS: usize = 1024;

    thread_local! {
        /// Handles by label, for the recorder they were registered with (its address).
        static CACHE: RefCell<(usize, ByLabel)> = RefCell::new((0, HashMap::new()));
        /// How many registrations run on this thread, one inside the other (a recorder that
        /// makes a scope as it registers).
        static REGISTERING: Cell<u8> = const { Cell::new(0) };
        /// The cache is letting go of handles (past its bound, or for a recorder replaced).
        static LETTING_GO: Cell<bool> = const { Cell::new(false) };
    }

    /// Drops handles the cache let go of. A handle's `Drop` is the recorder's code, which may
    /// make a scope: such scopes record nothing (as those a registration makes, one level
    /// down), since their handles, dropped in turn, would make more, without end.
    fn let_go(handles: Option<ByLabel>) {
        let Some(handles) = handles else {
            return;
        };
        let before = LETTING_GO.try_with(|l| l.replace(true)).unwrap_or(true);
        drop(handles);
        let _ = LETTING_GO.try_with(|l| l.set(before));
    }

    fn handles(info: &TaskInfo) -> Arc<Handles> {
        // The cache letting go of handles: a scope made by a handle's `Drop` records nothing.
        if LETTING_GO.try_with(Cell::get).unwrap_or(true) {
            return Arc::new(Handles::register(&metrics::NoopRecorder, info));
        }
        metrics::with_recorder(|recorder| {
            let address = std::ptr::from_ref(recorder).cast::<()>() as usize;
            let hash = hash_of(info);
            let found = CACHE.try_with(|cell| {
                let mut cache = cell.borrow_mut();
                if cache.0 != address {
                    // Another recorder (one was installed since): register anew. The earlier
                    // one's handles are dropped outside the borrow, as below.
                    let stale = std::mem::replace(&mut *cache, (address, HashMap::new()));
                    return (None, Some(stale.1));
                }
                let bucket = cache.1.get(&hash);
                (
                    bucket.and_then(|b| b.iter().find(|h| h.ident.matches(info)).cloned()),
                    None,
                )
            });
            let found = match found {
                Ok((found, stale)) => {
                    let_go(stale);
                    found
                }
                // The cache is gone with its thread, whose exit drops the handles it held: a
                // scope made by a handle's `Drop` records nothing, as above.
                Err(_) => return Arc::new(Handles::register(&metrics::NoopRecorder, info)),
            };
            if let Some(h) = found {
                return h;
            }
            // The recorder's code runs with the cache let go: a registration that makes a
            // scope or a service of its own (an exporter's flush loop) finds it free. One level
            // deep: a recorder that makes a scope at every registration would recurse for
            // good, so the scopes its own scope's registration makes record nothing.
            let depth = REGISTERING.try_with(Cell::get).unwrap_or(0);
            if depth > 1 {
                return Arc::new(Handles::register(&metrics::NoopRecorder, info));
            }
            let _ = REGISTERING.try_with(|d| d.set(depth + 1));
            let registered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Handles::register(recorder, info)
            }));
            let _ = REGISTERING.try_with(|d| d.set(depth));
            let h = match registered {
                Ok(h) => Arc::new(h),
                Err(payload) => std::panic::resume_unwind(payload),
            };
            let (kept, full) = CACHE
                .try_with(|cell| {
                    let mut cache = cell.borrow_mut();
                    if cache.0 != address {
                        return (Arc::clone(&h), None);
                    }
                    // One made meanwhile (by the registration's own scopes) is kept.
                    if let Some(kept) = cache
                        .1
                        .get(&hash)
                        .and_then(|bucket| bucket.iter().find(|k| k.ident.matches(info)))
                    {
                        return (Arc::clone(kept), None);
                    }
                    let full =
                        (cache.1.len() >= CACHE_LABELS).then(|| std::mem::take(&mut cache.1));
                    cache.1.entry(hash).or_default().push(Arc::clone(&h));
                    (Arc::clone(&h), full)
                })
                .unwrap_or_else(|_| (Arc::clone(&h), None));
            // The handles let go of are dropped outside the cache's borrow: a handle's `Drop`
            // is the recorder's code, which may make a scope (and look here).
            let_go(full);
            kept
        })
    }

    fn index(outcome: Outcome) -> usize {
        match outcome {
            Outcome::Completed => 0,
            Outcome::Failed => 1,
            Outcome::Cancelled => 2,
            Outcome::Panicked => 3,
        }
    }

    /// A scope's (or service's) metrics.
    pub(crate) struct ScopeMetrics {
        /// `None` if the recorder panicked as they were registered: the scope records none.
        handles: Option<Arc<Handles>>,
        cancelled_at: OnceLock<Instant>,
    }

    impl ScopeMetrics {
        pub(crate) fn new(info: &TaskInfo) -> Self {
            ScopeMetrics {
                handles: hook(|| handles(info)),
                cancelled_at: OnceLock::new(),
            }
        }

        /// Records one update with the handles (the recorder's code: see [`hook`]). One
        /// update per call: an update that panics skips itself only, not the others of the
        /// same moment.
        fn record(&self, f: impl FnOnce(&Handles)) {
            if let Some(handles) = &self.handles {
                let _ = hook(|| f(handles));
            }
        }

        pub(crate) fn started(&self) {
            self.record(|h| h.scopes_started.increment(1));
        }

        pub(crate) fn cancelled(&self, deadline: bool) {
            let _ = self.cancelled_at.set(Instant::now());
            if deadline {
                self.record(|h| h.deadline_overruns.increment(1));
            }
        }

        pub(crate) fn finished(&self, outcome: Outcome) {
            self.record(|h| h.scopes_ended[index(outcome)].increment(1));
            if let Some(at) = self.cancelled_at.get() {
                self.record(|h| h.cancel_latency.record(at.elapsed().as_secs_f64()));
            }
        }

        pub(crate) fn child_created(&self) {
            self.record(|h| h.queued.increment(1.0));
        }

        pub(crate) fn child_started(&self) {
            self.record(|h| h.queued.decrement(1.0));
            self.record(|h| h.in_flight.increment(1.0));
            self.record(|h| h.children_started.increment(1));
        }

        pub(crate) fn child_ended(&self, started: bool, outcome: Outcome) {
            if started {
                self.record(|h| h.in_flight.decrement(1.0));
            } else {
                self.record(|h| h.queued.decrement(1.0));
            }
            self.record(|h| h.children_ended[index(outcome)].increment(1));
        }
    }

    /// An incarnation of supervised child `child` of the supervisor's scope `scope` ended as
    /// `outcome`, and its supervisor decided `action` (rare: registered at each count).
    pub(crate) fn incarnation_ended(
        scope: &TaskInfo,
        child: &TaskInfo,
        outcome: Outcome,
        action: &'static str,
    ) {
        let _ = hook(|| {
            ::metrics::counter!(
                "scope_incarnations_ended_total",
                "scope" => scope.to_string(),
                "child" => child.to_string(),
                "outcome" => outcome.as_str(),
                "action" => action
            )
            .increment(1);
        });
    }
}

#[cfg(not(feature = "metrics"))]
// Reason: the same methods as with the feature, so that the hooks read alike; they do nothing.
#[allow(clippy::unused_self)]
mod off {
    use crate::info::TaskInfo;
    use crate::observe::Outcome;

    pub(crate) struct ScopeMetrics;

    impl ScopeMetrics {
        #[inline]
        pub(crate) fn new(_: &TaskInfo) -> Self {
            ScopeMetrics
        }
        #[inline]
        pub(crate) fn started(&self) {}
        #[inline]
        pub(crate) fn cancelled(&self, _: bool) {}
        #[inline]
        pub(crate) fn finished(&self, _: Outcome) {}
        #[inline]
        pub(crate) fn child_created(&self) {}
        #[inline]
        pub(crate) fn child_started(&self) {}
    }

    #[inline]
    pub(crate) fn incarnation_ended(_: &TaskInfo, _: &TaskInfo, _: Outcome, _: &'static str) {}
}
