//! Waiting admission: a spawning loop waits for a free slot of the scope's limit before it
//! creates its next child (errgroup's blocking `Go`), so that a loop over a million items holds
//! as many children as the limit, not as many as the items.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::admission::Waiter;
use super::admission::{Seq, NO_SEQ};
use super::mode::Mode;
use super::{Reserved, Scope, Shared};
use crate::cause::Cause;
use crate::error::{Interrupted, NotStarted};

/// The future of [`Scope::reserve`]: resolves to a [`Reserved`] slot once one is free, or to
/// [`Interrupted::NotStarted`] if the scope closes first (it was cancelled, or failed).
///
/// Dropping it gives up its place in the queue (or the slot, if it was just handed one).
///
/// # Examples
///
/// ```
/// use scope::{Config, Interrupted, Scope};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let s = &Scope::new(Config::new().limit(2));
/// let sum = s
///     .run(async {
///         let mut handles = Vec::new();
///         for i in 0..10u64 {
///             // Waits here while two children run: at most two futures exist at a time.
///             let slot = s.reserve().await?;
///             handles.push(slot.spawn(async move { Ok::<_, Interrupted>(i) }));
///         }
///         let mut sum = 0;
///         for h in handles {
///             sum += h.await?;
///         }
///         Ok::<_, Interrupted>(sum)
///     })
///     .await;
/// assert_eq!(sum.unwrap(), 45);
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Reserve<'s, 'env, E, M: Mode> {
    scope: &'s Scope<'s, 'env, E, M>,
    waiter: Option<Arc<Waiter>>,
    done: bool,
}

impl<'s, 'env, E, M: Mode> Reserve<'s, 'env, E, M> {
    pub(super) fn new(scope: &'s Scope<'s, 'env, E, M>) -> Self {
        Reserve {
            scope,
            waiter: None,
            done: false,
        }
    }
}

fn not_started<E>(shared: &Shared<E>) -> Interrupted {
    NotStarted::from_shared_cause(
        shared.stop_cause(None, "the scope is closed: its body has returned"),
    )
    .into()
}

impl<'s, 'env, E, M: Mode> Future for Reserve<'s, 'env, E, M> {
    type Output = Result<Reserved<'s, 'env, E, M>, Interrupted>;

    fn poll(mut self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<Self::Output> {
        if self.done {
            // Polled again after it gave its slot: a misuse (a `select!` loop over
            // `&mut reserve`), said as such, not as a closed scope.
            return Poll::Ready(Err(NotStarted::from_shared_cause(Arc::new(
                Cause::explicit("the reservation was polled after it completed"),
            ))
            .into()));
        }
        // Cooperative, as tokio's own primitives are: a spawning loop that always finds a slot
        // free still yields to the runtime now and then (else the task's budget, spent by the
        // handles it awaits, would starve them).
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(task));
        let out = self.as_mut().poll_reserve(task);
        if out.is_ready() {
            coop.made_progress();
        }
        out
    }
}

impl<'s, 'env, E, M: Mode> Reserve<'s, 'env, E, M> {
    fn poll_reserve(
        mut self: Pin<&mut Self>,
        task: &mut Context<'_>,
    ) -> Poll<Result<Reserved<'s, 'env, E, M>, Interrupted>> {
        let scope = self.scope;
        let shared = &*scope.shared;
        if self.waiter.is_none() {
            if scope.is_closed() {
                self.done = true;
                return Poll::Ready(Err(not_started(shared)));
            }
            if !shared.admission.is_limited() {
                self.done = true;
                return Poll::Ready(Ok(Reserved::new(scope, false, NO_SEQ)));
            }
            let waiter = Arc::new(Waiter::default());
            match shared.admission.reserve(&waiter) {
                Ok(Some(seq)) => {
                    self.done = true;
                    return Poll::Ready(granted_slot(scope, seq));
                }
                Ok(None) => self.waiter = Some(waiter),
                Err(()) => {
                    self.done = true;
                    return Poll::Ready(Err(not_started(shared)));
                }
            }
        }
        let answer = self
            .waiter
            .as_ref()
            .and_then(|w| w.poll(task.waker()).map(|granted| (granted, w.seq())));
        match answer {
            None => Poll::Pending,
            Some((granted, seq)) => {
                self.waiter = None;
                self.done = true;
                if granted {
                    Poll::Ready(granted_slot(scope, seq))
                } else {
                    Poll::Ready(Err(not_started(shared)))
                }
            }
        }
    }
}

/// A slot handed to a reservation, as its future resolves: refused if the scope has closed
/// since it was handed over (its body returned, or it was cancelled or failed, before the
/// reservation's task looked): a `Reserved` of a closed scope could start nothing. The slot,
/// and its place in the start window, pass on as an unused `Reserved`'s do.
fn granted_slot<'s, 'env, E, M: Mode>(
    scope: &'s Scope<'s, 'env, E, M>,
    seq: Seq,
) -> Result<Reserved<'s, 'env, E, M>, Interrupted> {
    let reserved = Reserved::new(scope, true, seq);
    if scope.is_closed() {
        drop(reserved);
        return Err(not_started(&scope.shared));
    }
    Ok(reserved)
}

impl<E, M: Mode> Drop for Reserve<'_, '_, E, M> {
    fn drop(&mut self) {
        let Some(waiter) = self.waiter.take() else {
            return;
        };
        let shared = &*self.scope.shared;
        // Still queued: it leaves the queue. Answered meanwhile: a granted slot (and its
        // place in the start window) passes on.
        if let Some(seq) = shared.admission.give_up(&waiter) {
            shared.child_started(seq);
            shared.release_reserved_slot();
        }
    }
}

impl<E, M: Mode> fmt::Debug for Reserve<'_, '_, E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve")
            .field("scope", &self.scope.shared.info)
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
