//! Required slots, checked by the compiler.
//!
//! Every peer finds a missing request value only at run time. Here a function can require
//! slots in its signature: it takes a [`Provided<L>`] whose type-level list `L` must contain
//! each required slot's key, and a `Provided` whose list contains a key comes only from a
//! context that binds that slot: a scope that binds it (what `provided!()` carries), or
//! [`Provided::try_bind`], which checks the context at run time. Calling the function where
//! the slot is not bound is a compile error naming the slot.
//!
//! `#[scoped]` writes the types for you (`cx: Needs![REQUEST_ID, TENANT]` and `provided!()`);
//! by hand it looks like the example below. The proof is checked entirely in the types; at run
//! time a `Provided` is one context handle, and reading a required slot cannot fail. A proof
//! passed into work that runs under another context (a task that does not carry the
//! caller's, [`Cx::run`] under another root) stays good: a scope there that binds more slots
//! extends it with the proven values carried over. The proof's reads are the proof's own,
//! though: the ambient context there is the other one, so [`Slot::get`](crate::Slot::get)
//! (and every child spawned there) sees that context's slots, not the values the proof
//! carries. Read a required slot through the proof (`cx.get(&SLOT)`), or run the work under
//! the proof's context.
//!
//! # Why a proof cannot be forged
//!
//! - The only ways to extend a proof, [`Provided::try_bind`] and the hidden `Provided::extend`
//!   that the macros call (it makes the same check and panics where `try_bind` returns `Err`),
//!   check that the context binds the slot and every slot the proof already claims.
//! - [`Has`], [`CoveredBy`] and [`Proof`] are sealed: no impl outside this crate can make a list
//!   claim a slot it does not hold.
//! - A key type names exactly one slot ([`Key`]: one impl per type, and every static with
//!   that key is the same slot), so a second static cannot stand in for it.
//!
//! # Examples
//!
//! ```
//! use scope::{Config, Has, Interrupted, Key, Provided, Scope, Slot};
//!
//! enum RequestId {}
//! impl Key for RequestId {
//!     type Value = String;
//!     fn slot() -> &'static Slot<String, Self> {
//!         &REQUEST_ID
//!     }
//! }
//! static REQUEST_ID: Slot<String, RequestId> = Slot::new("REQUEST_ID");
//!
//! // Requires REQUEST_ID: `L` must contain its key.
//! fn log_line<L: Has<RequestId, I>, I>(provided: &Provided<L>, msg: &str) -> String {
//!     format!("[{}] {msg}", provided.get(&REQUEST_ID))
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let s = &Scope::new(Config::new().bind(&REQUEST_ID, "r-7".to_owned()));
//! let line = s
//!     .run(async {
//!         let provided = Provided::root().try_bind(s.cx(), &REQUEST_ID).unwrap();
//!         Ok::<_, Interrupted>(log_line(&provided, "hello"))
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(line, "[r-7] hello");
//! # });
//! ```
//!
//! Without the binding it does not compile:
//!
//! ```compile_fail
//! use scope::{Has, Key, Provided, Slot};
//! enum RequestId {}
//! impl Key for RequestId {
//!     type Value = String;
//!     fn slot() -> &'static Slot<String, Self> {
//!         &REQUEST_ID
//!     }
//! }
//! static REQUEST_ID: Slot<String, RequestId> = Slot::new("REQUEST_ID");
//! fn log_line<L: Has<RequestId, I>, I>(provided: &Provided<L>) -> String {
//!     provided.get(&REQUEST_ID).clone()
//! }
//! let _ = log_line(&Provided::root());
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::slot::Binding;
use crate::{Cx, Slot};

/// The key type of a slot that functions can require: `slot!` declares one beside each slot
/// (an empty enum with the slot's name) and implements this trait for it.
///
/// A key names one slot: there is one impl per type, and every static `Slot<Value, K>` is
/// the same slot (binding one binds them all), so a proof about `K` is a proof about that
/// slot and its value type.
///
/// # Examples
///
/// By hand (what `slot!(static TENANT: String)` writes for you):
///
/// ```
/// use scope::{Cx, Key, Slot};
/// #[allow(non_camel_case_types)]
/// enum TENANT {}
/// impl Key for TENANT {
///     type Value = String;
///     fn slot() -> &'static Slot<String, Self> {
///         &TENANT
///     }
/// }
/// static TENANT: Slot<String, TENANT> = Slot::new("TENANT");
///
/// // Another static with the same key is the same slot.
/// static ALIAS: Slot<String, TENANT> = Slot::new("ALIAS");
/// let cx = Cx::root().with_slot(&ALIAS, "acme".to_owned());
/// assert_eq!(cx.get(&TENANT).map(String::as_str), Some("acme"));
/// ```
pub trait Key: Sized + 'static {
    /// The type of the slot's value.
    type Value: Send + Sync + 'static;
    /// The slot.
    fn slot() -> &'static Slot<Self::Value, Self>;
}

mod sealed {
    #[diagnostic::on_unimplemented(
        message = "`Has` is sealed: only the proofs that the scopes make hold slots",
        note = "bind the slot in an enclosing scope with `#[scoped(slots(NAME = ...))]` and pass `provided!()`"
    )]
    pub trait Has<K, I> {}
    pub trait CoveredBy<L, J> {}
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a list of slot keys: `Proof` is sealed",
        label = "not `scope::Nil` or `scope::With<Key, Rest>`",
        note = "a list of slot keys is `scope::Nil` or `scope::With<Key, Rest>` (what `scope::Needs!` writes)"
    )]
    pub trait Proof {
        /// The bindings in `from` of the list's slots that `into` does not bind to the same
        /// value (it lacks them, or binds them otherwise): shared, not cloned, to carry them
        /// into a child of `into`.
        fn bindings_in(from: &crate::Cx, into: &crate::Cx, out: &mut Vec<crate::slot::Binding>);
    }
}

/// The empty list: no slot is proven bound.
///
/// # Examples
///
/// It is the list of [`Provided::root`], which proves no slot:
///
/// ```
/// use scope::{Nil, Provided};
/// let proof: Provided<Nil> = Provided::root();
/// assert!(proof.cx().same_as(&scope::Cx::current()));
/// ```
#[derive(Debug)]
pub enum Nil {}

/// The list `Rest` with the slot keyed `K` in front.
///
/// # Examples
///
/// [`Provided::try_bind`] puts a slot's key in front of the list:
///
/// ```
/// use scope::{Config, Interrupted, Key, Nil, Provided, Scope, Slot, With};
/// enum UserKey {}
/// impl Key for UserKey {
///     type Value = String;
///     fn slot() -> &'static Slot<String, Self> {
///         &USER
///     }
/// }
/// static USER: Slot<String, UserKey> = Slot::new("USER");
/// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().bind(&USER, "ada".into()));
/// let proof: Provided<With<UserKey, Nil>> = Provided::root().try_bind(s.cx(), &USER).unwrap();
/// assert_eq!(proof.get(&USER), "ada");
/// ```
#[derive(Debug)]
pub struct With<K, Rest>(PhantomData<fn() -> (K, Rest)>);

/// Index: the key is at the front of the list.
///
/// # Examples
///
/// The index the compiler infers for a key at the front of the list:
///
/// ```
/// use scope::{Has, Here, Nil, With};
/// enum A {}
/// fn requires<L: Has<K, I>, K, I>() {}
/// requires::<With<A, Nil>, A, Here>();
/// ```
#[derive(Debug)]
pub enum Here {}

/// Index: the key is somewhere in the rest of the list.
///
/// # Examples
///
/// The index of a key one step further down the list:
///
/// ```
/// use scope::{Has, Here, Nil, There, With};
/// enum A {}
/// enum B {}
/// fn requires<L: Has<K, I>, K, I>() {}
/// requires::<With<A, With<B, Nil>>, B, There<Here>>();
/// requires::<With<A, With<B, Nil>>, B, _>(); // usually inferred
/// ```
#[derive(Debug)]
pub struct There<I>(PhantomData<fn() -> I>);

/// The list contains the slot keyed `K` (at position `I`, which the compiler infers). Sealed:
/// only the lists of this module implement it.
///
/// # Examples
///
/// A bound `L: Has<K, I>` requires the slot keyed `K`; leave `I` generic:
///
/// ```
/// use scope::{Config, Has, Interrupted, Key, Provided, Scope, Slot};
/// enum TenantKey {}
/// impl Key for TenantKey {
///     type Value = String;
///     fn slot() -> &'static Slot<String, Self> {
///         &TENANT
///     }
/// }
/// static TENANT: Slot<String, TenantKey> = Slot::new("TENANT");
///
/// fn tenant<L: Has<TenantKey, I>, I>(proof: &Provided<L>) -> &str {
///     proof.get(&TENANT).as_str()
/// }
///
/// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().bind(&TENANT, "acme".into()));
/// let proof = Provided::root().try_bind(s.cx(), &TENANT).unwrap();
/// assert_eq!(tenant(&proof), "acme");
/// ```
#[diagnostic::on_unimplemented(
    message = "slot `{K}` is required here, but no enclosing scope binds it",
    label = "`{K}` is not bound on this path",
    note = "bind it in an enclosing scope with `#[scoped(slots({K} = ...))]`, or require it from this fn's callers with a `cx: Needs![{K}]` parameter"
)]
pub trait Has<K, I>: sealed::Has<K, I> {}

#[diagnostic::do_not_recommend]
impl<K, Rest> sealed::Has<K, Here> for With<K, Rest> {}
#[diagnostic::do_not_recommend]
impl<K, H, Rest, I> sealed::Has<K, There<I>> for With<H, Rest> where Rest: sealed::Has<K, I> {}
#[diagnostic::do_not_recommend]
impl<K, Rest> Has<K, Here> for With<K, Rest> {}
#[diagnostic::do_not_recommend]
impl<K, H, Rest, I> Has<K, There<I>> for With<H, Rest> where Rest: Has<K, I> {}

/// Every slot of this list is in the list `L` (at the positions `J`, which the compiler
/// infers): a proof of `L` can stand in for a proof of this list. Sealed. The required list
/// is `Self`, so the compiler waits for the callee's parameter type before it checks.
///
/// # Examples
///
/// ```
/// use scope::{CoveredBy, Nil, With};
/// enum A {}
/// enum B {}
/// fn covered<M: CoveredBy<L, J>, L, J>() {}
/// covered::<With<B, Nil>, With<A, With<B, Nil>>, _>();
/// covered::<Nil, With<A, Nil>, _>();
/// ```
#[diagnostic::on_unimplemented(
    message = "a slot required here is not bound on this path",
    label = "the callee requires the slots `{Self}`; the enclosing scopes bind `{L}`",
    note = "bind each missing slot in an enclosing scope with `#[scoped(slots(NAME = ...))]`, or require it from this fn's callers with a `cx: Needs![NAME]` parameter"
)]
pub trait CoveredBy<L, J>: sealed::CoveredBy<L, J> {}

#[diagnostic::do_not_recommend]
impl<L> sealed::CoveredBy<L, ()> for Nil {}
#[diagnostic::do_not_recommend]
impl<L, K, Rest, I, J> sealed::CoveredBy<L, (I, J)> for With<K, Rest>
where
    L: Has<K, I>,
    Rest: sealed::CoveredBy<L, J>,
{
}
#[diagnostic::do_not_recommend]
impl<L> CoveredBy<L, ()> for Nil {}
#[diagnostic::do_not_recommend]
impl<L, K, Rest, I, J> CoveredBy<L, (I, J)> for With<K, Rest>
where
    L: Has<K, I>,
    Rest: CoveredBy<L, J>,
{
}

/// A list of slot keys (`Nil`, `With<K, Rest>`), each of which the proof checks in a context.
/// Sealed.
///
/// # Examples
///
/// ```
/// use scope::{Cx, Key, Nil, Proof, Slot, With};
/// enum A {}
/// impl Key for A {
///     type Value = u8;
///     fn slot() -> &'static Slot<u8, Self> {
///         &A
///     }
/// }
/// static A: Slot<u8, A> = Slot::new("A");
/// assert!(<Nil as Proof>::bound_in(&Cx::root()));
/// assert!(!<With<A, Nil> as Proof>::bound_in(&Cx::root()));
/// assert!(<With<A, Nil> as Proof>::bound_in(&Cx::root().with_slot(&A, 1)));
/// ```
pub trait Proof: sealed::Proof + 'static {
    /// Whether `cx` binds every slot of the list.
    fn bound_in(cx: &Cx) -> bool;
}

impl sealed::Proof for Nil {
    fn bindings_in(_: &Cx, _: &Cx, _: &mut Vec<Binding>) {}
}

impl<K: Key, Rest: Proof> sealed::Proof for With<K, Rest> {
    fn bindings_in(from: &Cx, into: &Cx, out: &mut Vec<Binding>) {
        // The proven value, unless `into` reaches that very value (the proof's context is
        // `into` or an ancestor of it, the usual case).
        let proven = from.binding(K::slot());
        let same = match (&proven, into.binding(K::slot())) {
            (Some(proven), Some(here)) => Arc::ptr_eq(&proven.value, &here.value),
            _ => false,
        };
        if !same {
            out.extend(proven);
        }
        Rest::bindings_in(from, into, out);
    }
}

impl Proof for Nil {
    fn bound_in(_: &Cx) -> bool {
        true
    }
}

impl<K: Key, Rest: Proof> Proof for With<K, Rest> {
    fn bound_in(cx: &Cx) -> bool {
        cx.get(K::slot()).is_some() && Rest::bound_in(cx)
    }
}

/// A compile-time proof that the slots listed in `L` are bound, carrying the context that
/// binds them. Cheap to clone (one context handle); `Send + Sync + 'static`, so it can be
/// passed into spawned and in-place children alike.
///
/// # Examples
///
/// The proof is cheap to clone and moves into spawned children:
///
/// ```
/// use scope::{Config, Interrupted, Key, Provided, Scope, Slot};
/// enum RequestId {}
/// impl Key for RequestId {
///     type Value = u64;
///     fn slot() -> &'static Slot<u64, Self> {
///         &REQUEST_ID
///     }
/// }
/// static REQUEST_ID: Slot<u64, RequestId> = Slot::new("REQUEST_ID");
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new().bind(&REQUEST_ID, 7));
/// let seen = s
///     .run(async {
///         let proof = Provided::root().try_bind(s.cx(), &REQUEST_ID).unwrap();
///         let for_child = proof.clone();
///         let child = s.spawn(async move { Ok::<_, Interrupted>(*for_child.get(&REQUEST_ID)) });
///         Ok::<_, Interrupted>(child.await? + proof.get(&REQUEST_ID))
///     })
///     .await;
/// assert_eq!(seen.unwrap(), 14);
/// # });
/// ```
pub struct Provided<L> {
    // `None` for the empty proof, which reads nothing: making one costs nothing.
    cx: Option<Cx>,
    _list: PhantomData<fn() -> L>,
}

impl<L> Clone for Provided<L> {
    fn clone(&self) -> Self {
        Self {
            cx: self.cx.clone(),
            _list: PhantomData,
        }
    }
}

impl Provided<Nil> {
    /// The proof that proves nothing. It carries no context (so it costs nothing to make);
    /// its [`cx`](Provided::cx) is the background context.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Provided};
    /// let proof = Provided::root();
    /// assert!(proof.cx().same_as(&Cx::background()));
    /// ```
    #[must_use]
    pub fn root() -> Self {
        Self {
            cx: None,
            _list: PhantomData,
        }
    }
}

impl<L: Proof> Provided<L> {
    /// Extends the proof with `slot`. `cx` (a scope's context, or a descendant) must bind it,
    /// and every slot this proof already claims; otherwise the proof comes back unextended
    /// (`Err`).
    ///
    /// # Errors
    ///
    /// `Err(self)` when `cx` does not bind `slot`, or one of the slots of `L`.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Key, Provided, Slot};
    /// enum TenantKey {}
    /// impl Key for TenantKey {
    ///     type Value = String;
    ///     fn slot() -> &'static Slot<String, Self> {
    ///         &TENANT
    ///     }
    /// }
    /// static TENANT: Slot<String, TenantKey> = Slot::new("TENANT");
    /// let bound = Cx::root().with_slot(&TENANT, "acme".to_owned());
    /// let proof = Provided::root().try_bind(&bound, &TENANT).unwrap();
    /// assert_eq!(proof.get(&TENANT), "acme");
    /// // A context that does not bind it gives the proof back unextended.
    /// assert!(Provided::root().try_bind(&Cx::root(), &TENANT).is_err());
    /// ```
    pub fn try_bind<K: Key>(
        self,
        cx: &Cx,
        slot: &'static Slot<K::Value, K>,
    ) -> Result<Provided<With<K, L>>, Self> {
        if cx.get(slot).is_some() && L::bound_in(cx) {
            Ok(Provided {
                cx: Some(cx.clone()),
                _list: PhantomData,
            })
        } else {
            Err(self)
        }
    }
}

impl<L: Proof> Provided<L> {
    /// The proof extended by `slot`, which a scope's configuration has just bound in `cx`;
    /// a slot declared without a key adds nothing. For the macros (`slots(..)`): checked like
    /// [`try_bind`](Provided::try_bind), and it panics where that would return `Err`.
    #[doc(hidden)]
    #[must_use]
    pub fn extend<T, K: ExtendProof<T>>(
        self,
        cx: &Cx,
        _slot: &'static Slot<T, K>,
    ) -> Provided<K::Out<L>> {
        K::extend(self, cx)
    }
}

impl<L> Provided<L> {
    /// The proof of a list that this one covers: fewer slots, or the same in another order.
    /// `provided!()` does this for you at each call.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope::{Cx, Key, Nil, Provided, Slot, With};
    /// enum A {}
    /// impl Key for A {
    ///     type Value = u8;
    ///     fn slot() -> &'static Slot<u8, Self> {
    ///         &A
    ///     }
    /// }
    /// enum B {}
    /// impl Key for B {
    ///     type Value = u8;
    ///     fn slot() -> &'static Slot<u8, Self> {
    ///         &B
    ///     }
    /// }
    /// static A: Slot<u8, A> = Slot::new("A");
    /// static B: Slot<u8, B> = Slot::new("B");
    /// let cx = Cx::root().with_slot(&A, 1).with_slot(&B, 2);
    /// let both = Provided::root().try_bind(&cx, &A).unwrap().try_bind(&cx, &B).unwrap();
    /// let only_a: Provided<With<A, Nil>> = both.narrow();
    /// assert_eq!(*only_a.get(&A), 1);
    /// ```
    #[must_use]
    pub fn narrow<M, J>(self) -> Provided<M>
    where
        M: CoveredBy<L, J>,
    {
        Provided {
            cx: self.cx,
            _list: PhantomData,
        }
    }

    /// The value of a slot this proof guarantees.
    ///
    /// # Examples
    ///
    /// No `Option`: the proof guarantees the value.
    ///
    /// ```
    /// use scope::{Config, Interrupted, Key, Provided, Scope, Slot};
    /// enum UserKey {}
    /// impl Key for UserKey {
    ///     type Value = String;
    ///     fn slot() -> &'static Slot<String, Self> {
    ///         &USER
    ///     }
    /// }
    /// static USER: Slot<String, UserKey> = Slot::new("USER");
    /// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().bind(&USER, "ada".into()));
    /// let proof = Provided::root().try_bind(s.cx(), &USER).unwrap();
    /// let user: &String = proof.get(&USER);
    /// assert_eq!(user, "ada");
    /// ```
    pub fn get<K: Key, I>(&self, slot: &'static Slot<K::Value, K>) -> &K::Value
    where
        L: Has<K, I>,
    {
        match self.cx().get(slot) {
            Some(value) => value,
            // Unreachable: a proof is made only by `try_bind` or `extend`, which checked the
            // binding in this very context, and a key names one slot.
            None => panic!("slot `{}` is not bound", slot.name()),
        }
    }

    /// The context that binds the proven slots: the nearest scope above that bound a slot
    /// (or the caller's), not the context of the code that holds the proof
    /// ([`Cx::current`]). Read slots through it; look for cancellation and deadlines in
    /// [`Cx::current`], which sees this fn's own `timeout` too.
    ///
    /// # Examples
    ///
    /// Through the context, optional slots are read as usual:
    ///
    /// ```
    /// use scope::{Config, Interrupted, Key, Provided, Scope, Slot};
    /// enum UserKey {}
    /// impl Key for UserKey {
    ///     type Value = String;
    ///     fn slot() -> &'static Slot<String, Self> {
    ///         &USER
    ///     }
    /// }
    /// static USER: Slot<String, UserKey> = Slot::new("USER");
    /// static LOCALE: Slot<&'static str> = Slot::new("LOCALE");
    /// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().bind(&USER, "ada".into()));
    /// let proof = Provided::root().try_bind(s.cx(), &USER).unwrap();
    /// assert_eq!(proof.cx().get(&LOCALE), None);
    /// assert!(!proof.cx().is_cancelled());
    /// ```
    pub fn cx(&self) -> &Cx {
        self.cx
            .as_ref()
            .unwrap_or_else(|| crate::cx::background_ref())
    }
}

/// `Self` is the key of a slot of `T` (every [`Key`] is, of its `Value`), so that binding a
/// static whose key names a slot of another type is reported where it is bound. For the
/// macros.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the key of another slot: this static is not the slot `{Self}`",
    label = "bound here with a value of type `{T}`",
    note = "a key type names one slot, the one `slot!` declared with it; declare a slot of its own with `slot!(static NAME: Type)`"
)]
pub trait KeyOf<T>: Key {}

impl<T, K: Key> KeyOf<T> for K where K::Value: crate::slot::HeldBy<T> {}

/// What a scope's `slots(NAME = value)` adds to its proof: the slot's key when the slot has
/// one (`slot!`), nothing for a slot declared by hand with the key `()`. For the macros.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the key of another slot: this static is not the slot `{Self}`",
    label = "bound here with a value of type `{T}`, but the slot `{Self}` holds another type",
    note = "a key type names one slot, the one `slot!` declared with it; declare a slot of its own with `slot!(static NAME: Type)`"
)]
pub trait ExtendProof<T>: 'static {
    /// The list with this key in front of `L` (or `L` itself, for a slot without a key).
    type Out<L>;
    /// The proof extended by the slot, which the scope's context `cx` binds.
    fn extend<L: Proof>(proof: Provided<L>, cx: &Cx) -> Provided<Self::Out<L>>;
}

impl<T: Send + Sync + 'static> ExtendProof<T> for () {
    type Out<L> = L;
    fn extend<L: Proof>(proof: Provided<L>, cx: &Cx) -> Provided<L> {
        // Nothing more is proven, but the proof passed on stands on the scope's context, as
        // a keyed binding's does, so that optional slots read through it (`cx.cx()`) are the
        // scope's: the one it has just bound among them. The empty proof reads nothing.
        let Some(from) = &proof.cx else {
            return proof;
        };
        let mut carried = Vec::new();
        <L as sealed::Proof>::bindings_in(from, cx, &mut carried);
        let on = if carried.is_empty() {
            cx.clone()
        } else {
            cx.child_with(None, &carried)
        };
        Provided {
            cx: Some(on),
            _list: PhantomData,
        }
    }
}

impl<T: 'static, K: KeyOf<T>> ExtendProof<T> for K {
    type Out<L> = With<K, L>;
    fn extend<L: Proof>(proof: Provided<L>, cx: &Cx) -> Provided<With<K, L>> {
        let proof = Provided {
            cx: proof.cx,
            _list: PhantomData,
        };
        // The claimed slots' values that the scope's context does not reach (the macros
        // leave out of `L` the slots `#[scoped]` binds itself, which keep the scope's values).
        // Never `K`'s own: the scope has just bound it, and its proof stands for that value
        // (a nested `scope!` that binds a claimed slot again does not narrow `L`).
        let mut carried = Vec::new();
        if let Some(from) = &proof.cx {
            <L as sealed::Proof>::bindings_in(from, cx, &mut carried);
        }
        let own = K::slot().index();
        carried.retain(|binding| binding.index != own);
        // The macros call this right after the scope bound the slot in `cx`; the check is
        // made all the same (on the key's own slot), so that this path proves nothing it has
        // not seen.
        if carried.is_empty() {
            match proof.try_bind(cx, K::slot()) {
                Ok(extended) => return extended,
                Err(unbound) => unreachable_unbound::<K, _>(unbound),
            }
        }
        // The proof was carried into another context (a task that does not carry the
        // caller's, `Cx::run` under another root, one that binds a claimed slot to another
        // value): the extended proof's context is then the scope's, with the claimed slots'
        // proven values carried over from the proof's own, so that reads through it give what
        // it proves, and cannot fail.
        let joined = cx.child_with(None, &carried);
        match proof.try_bind(&joined, K::slot()) {
            Ok(extended) => extended,
            Err(unbound) => unreachable_unbound::<K, _>(unbound),
        }
    }
}

/// Unreachable: a proof's context binds every slot its list claims, and the scope has just
/// bound `K`.
#[cold]
fn unreachable_unbound<K: Key, P>(_: P) -> ! {
    panic!(
        "slot `{}` is bound by this scope, but a slot its proof claims is not bound in the \
         proof's own context",
        K::slot().name()
    )
}

impl<L> fmt::Debug for Provided<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provided")
            // The facade's names: users depend on `scope` (`scope::Nil`, `scope::With`).
            .field(
                "list",
                &std::any::type_name::<L>().replace("scope_runtime::needs::", "scope::"),
            )
            .finish_non_exhaustive()
    }
}
