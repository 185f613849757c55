//! Typed slots: request-scoped values declared once with their type.
//!
//! A [`Slot<T>`] is a `static` key. Binding it for a scope makes the value visible to the
//! scope and every descendant; reading it back gives a `&T`: there is no downcast for the
//! user to get wrong, and a value of the wrong type does not compile.
//!
//! Lookup is O(1) in the depth of the tree: each context holds a shared, immutable table
//! indexed by the slot's number, copied (not walked) when a scope binds a new value. A slot
//! takes its number the first time it is used (bound or read), in that order across the
//! program, and numbers are never reused: a table is as long as the highest number among the
//! slots bound in its context and above it, and a binding copies that many entries. (Slots
//! are `static`s, so a program has a fixed set of them; one that leaked a new `Slot` per
//! request would make its tables longer with each.)

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::Cx;

/// A typed, request-scoped value key. Declare one per value with `slot!` (or
/// [`Slot::new`] in a `static`).
///
/// A slot's value is `Send + Sync + 'static`: a context, and the values bound in it, are
/// shared by every task below it, on any thread (in a `local` scope too). Share state that
/// is not `Sync` through an `Arc` of a lock or an atomic, not an `Rc` or a `RefCell`.
///
/// A context keeps the values bound in it, so a value that holds a [`Cx`](crate::Cx) of that
/// same context (or one below it), stored in it after the binding (an `Arc<Mutex<Option<Cx>>>`
/// filled with `Cx::current()`, say), is a cycle of references: neither is ever freed, even
/// once the scope has ended. Keep such a `Cx` outside the slot's value, or take it out before
/// the scope ends.
///
/// # Examples
///
/// ```
/// use scope::{Cx, Slot};
/// static REQUEST_ID: Slot<String> = Slot::new("REQUEST_ID");
///
/// let cx = Cx::root().with_slot(&REQUEST_ID, "r-42".to_owned());
/// assert_eq!(cx.get(&REQUEST_ID).map(String::as_str), Some("r-42"));
/// assert_eq!(Cx::root().get(&REQUEST_ID), None);
/// ```
///
/// `K` is the slot's key type, which `slot!` declares beside the static (with the same name)
/// so that a function can require the slot in its signature (see [`Provided`](crate::Provided)).
/// A key type names one slot: every static with the key `K` (other than `()`) is that same
/// slot, and holds the key's [`Value`](crate::Key::Value) (a static of it with another type
/// does not compile). A slot declared by hand has the key `()` and can be used in every other
/// way.
pub struct Slot<T: 'static, K: 'static = ()> {
    name: &'static str,
    // 0 until first use, then the slot's index + 1.
    index: AtomicUsize,
    _type: PhantomData<fn() -> (T, K)>,
}

/// What may key a slot of values `T`: `()` (a slot of its own), or a [`Key`](crate::Key)
/// whose value type is `T` (the one slot that key names). [`Slot::new`] requires it, so that
/// a second static of a key with another value type does not compile.
///
/// # Examples
///
/// ```
/// use scope::{slot, Slot, SlotKey};
/// slot!(static TENANT: String);
/// fn keys<T, K: SlotKey<T>>(_: &Slot<T, K>) {}
/// keys(&TENANT); // `TENANT`'s key holds `String`s
/// static RETRIES: Slot<u32> = Slot::new("RETRIES");
/// keys(&RETRIES); // `()`: a slot of its own
/// ```
///
/// ```compile_fail
/// use scope::{slot, Slot};
/// slot!(static TENANT: String);
/// static DECOY: Slot<u64, TENANT> = Slot::new("DECOY"); // `TENANT` holds `String`s
/// ```
///
/// It is sealed: the two kinds above are the only keys. (A key type of its own that keyed
/// slots of two value types would make their statics one slot, and each would read as
/// unbound while the other is bound.) Write a [`Key`](crate::Key), or let `slot!` write it:
///
/// ```compile_fail
/// use scope::{Slot, SlotKey};
/// enum MyKey {}
/// impl SlotKey<u64> for MyKey {} // sealed: not `()`, and not a `Key`
/// ```
pub trait SlotKey<T>: sealed::Keys<T> + 'static {}

impl<T> SlotKey<T> for () {}

impl<T, K: crate::Key> SlotKey<T> for K where K::Value: HeldBy<T> {}

/// The value type of a key's slot is `T` (the check behind [`SlotKey`], for its message).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this key's slot holds `{Self}`: a static of that key cannot hold `{T}`",
    label = "a slot of `{T}` with a key whose slot holds `{Self}`",
    note = "a key names one slot and its value type; declare a slot of its own with `slot!(static NAME: {T})`"
)]
pub trait HeldBy<T>: sealed::Is<T> {}

impl<T> HeldBy<T> for T {}

/// Seals [`HeldBy`]: a value type is held by itself only, so no impl elsewhere can let a
/// static of a key hold another type.
mod sealed {
    #[diagnostic::on_unimplemented(
        message = "`HeldBy` is the crate's own check and cannot be implemented",
        label = "a key's slot holds its value type only",
        note = "a key names one slot and its value type; declare a slot of its own with `slot!(static NAME: {T})`"
    )]
    pub trait Is<T> {}

    impl<T> Is<T> for T {}

    /// Seals [`SlotKey`](super::SlotKey): `()`, or a key whose slot holds `T`.
    #[diagnostic::on_unimplemented(
        message = "`SlotKey` is sealed: `{Self}` cannot key a slot of `{T}`",
        label = "not `()`, and not a `scope::Key` whose value type is `{T}`",
        note = "a slot's key is `()` (a slot of its own) or the `scope::Key` that `slot!(static NAME: {T})` declares beside the slot"
    )]
    pub trait Keys<T> {}

    impl<T> Keys<T> for () {}

    impl<T, K: crate::Key> Keys<T> for K where K::Value: super::HeldBy<T> {}
}

impl<T: Send + Sync + 'static, K: 'static> Slot<T, K> {
    /// Declares a slot; `name` is used in messages.
    ///
    /// # Examples
    ///
    /// `const`, so it can initialise a `static`; a key type lets functions require the slot:
    ///
    /// ```
    /// use scope::{Cx, Key, Slot};
    /// static RETRIES: Slot<u32> = Slot::new("RETRIES");
    /// enum TenantKey {}
    /// impl Key for TenantKey {
    ///     type Value = String;
    ///     fn slot() -> &'static Slot<String, Self> {
    ///         &TENANT
    ///     }
    /// }
    /// static TENANT: Slot<String, TenantKey> = Slot::new("TENANT");
    /// let cx = Cx::root().with_slot(&RETRIES, 3).with_slot(&TENANT, "acme".into());
    /// assert_eq!(cx.get(&RETRIES), Some(&3));
    /// assert_eq!(cx.get(&TENANT).map(String::as_str), Some("acme"));
    /// ```
    #[must_use]
    pub const fn new(name: &'static str) -> Self
    where
        K: SlotKey<T>,
    {
        Self {
            name,
            index: AtomicUsize::new(0),
            _type: PhantomData,
        }
    }

    /// The slot's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{ConfigError, Slot};
    /// static TENANT: Slot<String> = Slot::new("TENANT");
    /// assert_eq!(TENANT.name(), "TENANT");
    /// assert_eq!(
    ///     ConfigError::SlotBoundTwice(TENANT.name()).to_string(),
    ///     "slot `TENANT` is bound twice in one scope; bind it once (a nested scope may shadow it)"
    /// );
    /// ```
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn index(&self) -> usize {
        // Relaxed: the index is a plain number; no other memory is published with it.
        let i = self.index.load(Ordering::Relaxed);
        if i != 0 {
            return i - 1;
        }
        // A key type is tied to one slot: every static keyed `K` (K other than `()`) is the
        // same slot, so a second static with a key of `slot!` cannot stand in for it.
        let fresh = if TypeId::of::<K>() == TypeId::of::<()>() {
            next_index()
        } else {
            keyed_index(TypeId::of::<K>())
        };
        match self
            .index
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh - 1,
            Err(won) => won - 1,
        }
    }

    /// Calls `f` with the value bound in the current context (the ambient one inside a scope).
    ///
    /// # Panics
    ///
    /// The ambient context is borrowed while `f` runs, so polling a scope's run or a
    /// [`Cx::run`](crate::Cx::run) future inside `f` (a hand-written `poll` that wraps its
    /// inner poll in `with`) panics, as `task_local!`'s `with` does around its own `scope`. Read
    /// the value out first ([`get`](Slot::get) for a `Clone` value) and poll outside `f`.
    /// Dropping such a future inside `f` does not panic (a panic in a drop would leave the
    /// rest of it undone): the destructors it runs (its in-place children's, its body's)
    /// then see the ambient context as it is in `f`, not the dropped scope's.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Slot};
    /// static USER: Slot<u32> = Slot::new("USER");
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cx = Cx::root().with_slot(&USER, 7);
    /// cx.run(async { assert_eq!(USER.with(|u| u.copied()), Some(7)) }).await;
    /// # });
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(Option<&T>) -> R) -> R {
        crate::cx::with_current(|cx| f(cx.get(self)))
    }

    /// A clone of the value bound in the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Slot;
    /// static TENANT: Slot<String> = Slot::new("TENANT");
    /// assert_eq!(TENANT.get(), None); // outside any scope nothing is bound
    /// ```
    #[must_use]
    pub fn get(&'static self) -> Option<T>
    where
        T: Clone,
    {
        // The value is shared out of the context, then cloned: `T::clone` is user code, and
        // runs outside the thread's ambient borrow (which `with` holds while its closure runs).
        let binding = crate::cx::with_current(|cx| cx.binding(self))?;
        binding.value.downcast_ref::<T>().cloned()
    }

    /// Whether a value is bound in the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::Slot;
    /// static TENANT: Slot<String> = Slot::new("TENANT");
    /// assert!(!TENANT.is_bound());
    /// ```
    #[must_use]
    pub fn is_bound(&'static self) -> bool {
        self.with(|v| v.is_some())
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(1);

/// A fresh slot index, plus one.
fn next_index() -> usize {
    // Relaxed: a counter; no other memory is published with it.
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The index (plus one) of the slot keyed by the type `key`: the same for every static with
/// that key. Taken once per static (then cached in it), so the lock is off the lookup path.
fn keyed_index(key: TypeId) -> usize {
    static KEYED: Mutex<Option<HashMap<TypeId, usize>>> = Mutex::new(None);
    let mut keyed = KEYED.lock().unwrap_or_else(PoisonError::into_inner);
    *keyed
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert_with(next_index)
}

impl<T, K> fmt::Debug for Slot<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

type Value = Arc<dyn Any + Send + Sync>;

/// The values visible in one context: an immutable table shared by every context that binds
/// nothing new.
#[derive(Clone, Default)]
pub(crate) struct SlotTable {
    values: Option<Arc<[Option<Value>]>>,
}

impl SlotTable {
    pub(crate) fn get<T: Send + Sync + 'static, K>(&self, slot: &Slot<T, K>) -> Option<&T> {
        let values = self.values.as_ref()?;
        values.get(slot.index())?.as_ref()?.downcast_ref::<T>()
    }

    /// The binding of `slot` in this table, sharing its value, if it is bound (to a `T`).
    pub(crate) fn binding<T: Send + Sync + 'static, K>(
        &self,
        slot: &'static Slot<T, K>,
    ) -> Option<Binding> {
        let values = self.values.as_ref()?;
        let value = values.get(slot.index())?.as_ref()?;
        value.is::<T>().then(|| Binding {
            name: slot.name(),
            index: slot.index(),
            value: Arc::clone(value),
        })
    }

    /// A table with `value` bound to the slot at `index`, everything else shared.
    pub(crate) fn with(&self, index: usize, value: Value) -> SlotTable {
        let old: &[Option<Value>] = self.values.as_deref().unwrap_or(&[]);
        let len = old.len().max(index + 1);
        let mut values: Vec<Option<Value>> = Vec::with_capacity(len);
        values.extend(old.iter().cloned());
        values.resize(len, None);
        values[index] = Some(value);
        SlotTable {
            values: Some(values.into()),
        }
    }

    pub(crate) fn bound_count(&self) -> usize {
        self.values
            .as_deref()
            .map_or(0, |v| v.iter().filter(|v| v.is_some()).count())
    }
}

impl fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotTable")
            .field("bound", &self.bound_count())
            .finish()
    }
}

/// A slot binding waiting to be applied to a scope's context (see `Config::bind`), or carried
/// into one (a required-slots proof's). `pub` only so that the sealed proof trait may name it:
/// its module is private, so no user can.
#[derive(Clone)]
pub struct Binding {
    pub(crate) name: &'static str,
    pub(crate) index: usize,
    pub(crate) value: Value,
}

impl Binding {
    pub(crate) fn new<T: Send + Sync + 'static, K>(slot: &'static Slot<T, K>, value: T) -> Self {
        Self {
            name: slot.name(),
            index: slot.index(),
            value: Arc::new(value),
        }
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binding")
            .field("slot", &self.name)
            .finish_non_exhaustive()
    }
}

impl Cx {
    /// The value of `slot` in this context, if bound here or in an ancestor.
    ///
    /// O(1) in the depth of the tree.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Slot};
    /// static DEPTH: Slot<u8> = Slot::new("DEPTH");
    /// let cx = Cx::root().with_slot(&DEPTH, 1);
    /// let deep = (0..32).fold(cx, |cx, _| cx.child());
    /// assert_eq!(deep.get(&DEPTH), Some(&1));
    /// ```
    #[must_use]
    pub fn get<T: Send + Sync + 'static, K>(&self, slot: &'static Slot<T, K>) -> Option<&T> {
        self.node.slots.get(slot)
    }

    /// The binding of `slot` in this context, sharing its value, if it is bound.
    pub(crate) fn binding<T: Send + Sync + 'static, K>(
        &self,
        slot: &'static Slot<T, K>,
    ) -> Option<Binding> {
        self.node.slots.binding(slot)
    }
}
