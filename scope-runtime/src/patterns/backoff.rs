//! Exponential backoff, shared by [`Retry`](crate::Retry) and [`Supervisor`](crate::Supervisor).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// An exponential backoff: the delay after the `n`-th consecutive failure is
/// `base × 2^(n−1)`, never more than `cap`; with [jitter](Backoff::jitter), each delay is
/// drawn uniformly from its upper half, `[d/2, d]`, so that clients failing together do not
/// retry together, while the delays still grow.
///
/// The default is a base of 100 ms, a cap of 10 s, no jitter. A cap below the base makes
/// every delay the cap; a zero base makes every delay zero. (With zero delays, a supervisor
/// or a retry loop whose work returns at once goes round at once and keeps the runtime busy:
/// tokio's paused clock, which moves only while the runtime is idle, then never reaches a
/// deadline that would stop the loop; give such a test a delay above zero.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use scope::Backoff;
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
/// let delays: Vec<_> = (1..=5).map(|n| backoff.delay(n)).collect();
/// assert_eq!(delays, [100, 200, 400, 500, 500].map(Duration::from_millis));
/// assert_eq!(Backoff::default().delay(1), Duration::from_millis(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl Backoff {
    /// A backoff from `base`, doubling after each failure, at most `cap`; no jitter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::Backoff;
    /// let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    /// assert_eq!(b.base(), Duration::from_secs(1));
    /// assert_eq!(b.cap(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            jitter: false,
        }
    }

    /// Draws each delay uniformly from `[d/2, d]`, where `d` is the nominal delay
    /// ([`delay`](Backoff::delay)). The generator is seeded afresh for every retry loop and
    /// every supervised child, so two of them do not draw the same delays.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::Backoff;
    /// let b = Backoff::default().jitter(true);
    /// assert!(b.has_jitter());
    /// assert_eq!(b.delay(2), Duration::from_millis(200)); // the nominal delay, the upper bound
    /// ```
    #[must_use]
    pub const fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay after the first failure.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(scope::Backoff::default().base(), std::time::Duration::from_millis(100));
    /// ```
    #[must_use]
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The longest delay.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(scope::Backoff::default().cap(), std::time::Duration::from_secs(10));
    /// ```
    #[must_use]
    pub const fn cap(&self) -> Duration {
        self.cap
    }

    /// Whether the delays are jittered.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!scope::Backoff::default().has_jitter());
    /// ```
    #[must_use]
    pub const fn has_jitter(&self) -> bool {
        self.jitter
    }

    /// The nominal delay after the `failures`-th consecutive failure (no jitter):
    /// `base × 2^(failures−1)`, at most the cap; zero for `0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use scope::Backoff;
    /// let b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
    /// assert_eq!(b.delay(0), Duration::ZERO);
    /// assert_eq!(b.delay(3), Duration::from_millis(40));
    /// assert_eq!(b.delay(u32::MAX), Duration::from_secs(1)); // saturates at the cap
    /// ```
    #[must_use]
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        // In nanoseconds, wide enough for any base and any number of doublings (a factor past
        // `u128` saturates): the cap is reached from any base, however small.
        let factor = 1u128.checked_shl(failures - 1).unwrap_or(u128::MAX);
        from_nanos(self.base.as_nanos().saturating_mul(factor)).min(self.cap)
    }

    /// The delay to sleep after the `failures`-th consecutive failure: the nominal one, or a
    /// draw from its upper half with jitter.
    pub(crate) fn next_delay(&self, failures: u32, rng: &mut Rng) -> Duration {
        let nominal = self.delay(failures);
        if !self.jitter {
            return nominal;
        }
        let ns = nominal.as_nanos();
        let low = ns - ns / 2;
        // Uniform in [low, ns]: a 64-bit draw scaled to the span.
        let pick = low + scale(ns - low + 1, rng.next_u64());
        from_nanos(pick).min(nominal)
    }
}

/// `span × r / 2^64`, in two halves so that no product overflows (`span` < 2^95).
fn scale(span: u128, r: u64) -> u128 {
    let r = u128::from(r);
    let (high, low) = (span >> 64, span & u128::from(u64::MAX));
    high * r + ((low * r) >> 64)
}

fn from_nanos(ns: u128) -> Duration {
    const NANOS: u128 = 1_000_000_000;
    let Ok(secs) = u64::try_from(ns / NANOS) else {
        return Duration::MAX;
    };
    // The remainder is below 10^9, so it fits.
    let nanos = u32::try_from(ns % NANOS).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// A small generator for jitter (`SplitMix64`), seeded per retry loop or supervised child from
/// the standard library's per-instance random hasher keys: no new dependency, and not for
/// anything but spreading delays.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded() -> Self {
        Rng(RandomState::new().hash_one(0x5eed_u64))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn jittered_delays_stay_in_the_upper_half_and_vary() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(true);
        let mut rng = Rng::seeded();
        let draws: Vec<_> = (0..200).map(|_| b.next_delay(3, &mut rng)).collect();
        for d in &draws {
            assert!(*d >= Duration::from_millis(200) && *d <= Duration::from_millis(400));
        }
        let first = draws[0];
        assert!(draws.iter().any(|d| *d != first), "jitter draws vary");
    }

    #[test]
    fn two_generators_draw_differently() {
        let (mut a, mut b) = (Rng::seeded(), Rng::seeded());
        let a: Vec<_> = (0..4).map(|_| a.next_u64()).collect();
        let b: Vec<_> = (0..4).map(|_| b.next_u64()).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn huge_delays_saturate_without_overflow() {
        let b = Backoff::new(Duration::MAX, Duration::MAX).jitter(true);
        let d = b.next_delay(40, &mut Rng::seeded());
        assert!(d <= Duration::MAX && d >= Duration::MAX / 2);
    }
}
