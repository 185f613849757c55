//! The synchronisation primitives of the context tree, swapped for loom's under `cfg(loom)`.
//!
//! Reference counting stays on `std::sync::Arc` in both builds (loom's `Arc` has no `Weak`):
//! the loom models check the tree's locking and flag protocol, which lives entirely in the
//! types below.

#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// A mutex that ignores poisoning: no lock in this crate is held across user code, so a
/// poisoned lock can only come from an allocation failure, and the data is still consistent.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(not(all(test, loom)))]
    inner: std::sync::Mutex<T>,
    #[cfg(all(test, loom))]
    inner: loom::sync::Mutex<T>,
}

#[cfg(not(all(test, loom)))]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(all(test, loom))]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(all(test, loom)))]
            inner: std::sync::Mutex::new(value),
            #[cfg(all(test, loom))]
            inner: loom::sync::Mutex::new(value),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lock if no one holds it now, `None` if someone does.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// A waker slot written by one owner and woken from anywhere (`futures`' `AtomicWaker`, or
/// loom's under the models).
#[derive(Debug, Default)]
pub(crate) struct AtomicWaker {
    #[cfg(not(all(test, loom)))]
    inner: futures_util::task::AtomicWaker,
    #[cfg(all(test, loom))]
    inner: loom::future::AtomicWaker,
}

impl AtomicWaker {
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        #[cfg(not(all(test, loom)))]
        self.inner.register(waker);
        #[cfg(all(test, loom))]
        self.inner.register_by_ref(waker);
    }

    /// Wakes the registered waker, if any; a panic of that waker (a user's, who polled our
    /// future with it) is caught and dropped: see [`wake_caught`](crate::error::wake_caught).
    pub(crate) fn wake(&self) {
        crate::error::wake_caught(|| self.inner.wake());
    }

    /// Takes the registered waker out without waking it.
    pub(crate) fn take(&self) -> Option<std::task::Waker> {
        #[cfg(not(all(test, loom)))]
        return self.inner.take();
        #[cfg(all(test, loom))]
        return self.inner.take_waker();
    }
}
