//! Required slots, checked by the compiler.
//!
//! Every peer finds a missing request value only at run time. Here a function can require
//! slots in its signature: it takes a [`Provided<L>`] whose type-level list `L` must contain
//! each required slot's key, and the only way to get a `Provided` whose list contains a key is
//! to enter a scope that binds that slot. Calling the function where the slot is not bound
//! is a compile error naming the slot.
//!
//! `#[scoped]` writes the generics for you (`needs(REQUEST_ID, TENANT)` and `provided!()`);
//! by hand it looks like the example below. The proof is checked entirely in the types; at run
//! time a `Provided` is one context handle, and reading a required slot cannot fail.
//!
//! # Examples
//!
//! ```
//! use scope_runtime::{Config, Has, Interrupted, Provided, Scope, Slot};
//!
//! enum RequestId {}
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
//! use scope_runtime::{Has, Provided, Slot};
//! enum RequestId {}
//! static REQUEST_ID: Slot<String, RequestId> = Slot::new("REQUEST_ID");
//! fn log_line<L: Has<RequestId, I>, I>(provided: &Provided<L>) -> String {
//!     provided.get(&REQUEST_ID).clone()
//! }
//! let _ = log_line(&Provided::root());
//! ```

use std::fmt;
use std::marker::PhantomData;

use crate::{Cx, Slot};

/// The empty list: no slot is proven bound.
///
/// # Examples
///
/// It is the list of [`Provided::root`], which proves no slot:
///
/// ```
/// use scope_runtime::{Nil, Provided};
/// let proof: Provided<Nil> = Provided::root();
/// assert!(proof.cx().same_as(&scope_runtime::Cx::current()));
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
/// use scope_runtime::{Config, Interrupted, Nil, Provided, Scope, Slot, With};
/// enum UserKey {}
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
/// use scope_runtime::{Has, Here, Nil, With};
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
/// use scope_runtime::{Has, Here, Nil, There, With};
/// enum A {}
/// enum B {}
/// fn requires<L: Has<K, I>, K, I>() {}
/// requires::<With<A, With<B, Nil>>, B, There<Here>>();
/// requires::<With<A, With<B, Nil>>, B, _>(); // usually inferred
/// ```
#[derive(Debug)]
pub struct There<I>(PhantomData<fn() -> I>);

/// The list contains the slot keyed `K` (at position `I`, which the compiler infers).
///
/// # Examples
///
/// A bound `L: Has<K, I>` requires the slot keyed `K`; leave `I` generic:
///
/// ```
/// use scope_runtime::{Config, Has, Interrupted, Provided, Scope, Slot};
/// enum TenantKey {}
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
pub trait Has<K, I> {}

#[diagnostic::do_not_recommend]
impl<K, Rest> Has<K, Here> for With<K, Rest> {}
#[diagnostic::do_not_recommend]
impl<K, H, Rest, I> Has<K, There<I>> for With<H, Rest> where Rest: Has<K, I> {}

/// A compile-time proof that the slots listed in `L` are bound, carrying the context that
/// binds them. Cheap to clone (one context handle); `Send + Sync + 'static`, so it can be
/// passed into spawned and in-place children alike.
///
/// # Examples
///
/// The proof is cheap to clone and moves into spawned children:
///
/// ```
/// use scope_runtime::{Config, Interrupted, Provided, Scope, Slot};
/// enum RequestId {}
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
    /// use scope_runtime::{Cx, Provided};
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

impl<L> Provided<L> {
    /// Extends the proof with `slot`, which `cx` (a scope's context, or a descendant) must
    /// bind. Returns the proof unextended (`Err`) if it does not.
    ///
    /// # Errors
    ///
    /// `Err(self)` when `cx` has no value for `slot`.
    ///
    /// # Examples
    ///
    /// ```
    /// use scope_runtime::{Cx, Provided, Slot};
    /// enum TenantKey {}
    /// static TENANT: Slot<String, TenantKey> = Slot::new("TENANT");
    /// let bound = Cx::root().with_slot(&TENANT, "acme".to_owned());
    /// let proof = Provided::root().try_bind(&bound, &TENANT).unwrap();
    /// assert_eq!(proof.get(&TENANT), "acme");
    /// // A context that does not bind it gives the proof back unextended.
    /// assert!(Provided::root().try_bind(&Cx::root(), &TENANT).is_err());
    /// ```
    pub fn try_bind<T: Send + Sync + 'static, K>(
        self,
        cx: &Cx,
        slot: &'static Slot<T, K>,
    ) -> Result<Provided<With<K, L>>, Self> {
        if cx.get(slot).is_some() {
            Ok(Provided {
                cx: Some(cx.clone()),
                _list: PhantomData,
            })
        } else {
            Err(self)
        }
    }

    /// [`try_bind`](Provided::try_bind) for the macros, which call it only right after the
    /// scope's configuration bound `slot`.
    #[doc(hidden)]
    #[must_use]
    pub fn bind<T: Send + Sync + 'static, K>(
        self,
        cx: &Cx,
        slot: &'static Slot<T, K>,
    ) -> Provided<With<K, L>> {
        Provided {
            cx: if cx.get(slot).is_some() {
                Some(cx.clone())
            } else {
                self.cx
            },
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
    /// use scope_runtime::{Config, Interrupted, Provided, Scope, Slot};
    /// enum UserKey {}
    /// static USER: Slot<String, UserKey> = Slot::new("USER");
    /// let s: Scope<'_, '_, Interrupted> = Scope::new(Config::new().bind(&USER, "ada".into()));
    /// let proof = Provided::root().try_bind(s.cx(), &USER).unwrap();
    /// let user: &String = proof.get(&USER);
    /// assert_eq!(user, "ada");
    /// ```
    pub fn get<T: Send + Sync + 'static, K, I>(&self, slot: &'static Slot<T, K>) -> &T
    where
        L: Has<K, I>,
    {
        match self.cx().get(slot) {
            Some(value) => value,
            // Unreachable through `try_bind` and the macros; only a hand-made `bind` of a slot
            // the scope does not bind gets here.
            None => panic!("slot `{}` is not bound: `Provided::bind` was called for a scope that does not bind it", slot.name()),
        }
    }

    /// The context that binds the proven slots.
    ///
    /// # Examples
    ///
    /// Through the context, optional slots are read as usual:
    ///
    /// ```
    /// use scope_runtime::{Config, Interrupted, Provided, Scope, Slot};
    /// enum UserKey {}
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

impl<L> fmt::Debug for Provided<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provided")
            .field("list", &std::any::type_name::<L>())
            .finish_non_exhaustive()
    }
}
