//! A minimal slab: stable keys, O(1) insert and remove, slots reused through a free list kept
//! in the vacant slots themselves (no second buffer to grow as children come and go).

#[derive(Debug)]
enum Slot<T> {
    Occupied(T),
    /// Free; the next free key (or [`NONE`]).
    Vacant(usize),
}

/// The end of the free list.
const NONE: usize = usize::MAX;

/// The slots an empty slab keeps room for; past that, its storage is given back as it empties.
/// (The scope's queue of children waiting for a slot keeps the same.)
pub(crate) const KEPT_WHEN_EMPTY: usize = 256;

#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Slot<T>>,
    /// The first free key, or [`NONE`].
    next_free: usize,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            next_free: NONE,
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        let key = self.next_free;
        if let Some(slot) = self.entries.get_mut(key) {
            if let Slot::Vacant(next) = std::mem::replace(slot, Slot::Occupied(value)) {
                self.next_free = next;
            } else {
                unreachable!("the free list holds only vacant slots");
            }
            key
        } else {
            self.entries.push(Slot::Occupied(value));
            self.entries.len() - 1
        }
    }

    /// Makes room for `n` more values without growing again.
    pub(crate) fn reserve(&mut self, n: usize) {
        let free = self.entries.len() - self.len;
        self.entries.reserve(n.saturating_sub(free));
    }

    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        match self.entries.get(key) {
            Some(Slot::Occupied(value)) => Some(value),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.entries.get_mut(key) {
            Some(Slot::Occupied(value)) => Some(value),
            _ => None,
        }
    }

    // Always inlined: the in-place set removes each finished child right after polling it,
    // and inlined there the checks fold away (53 instructions a child out of line, measured).
    #[allow(clippy::inline_always)] // Reason: measured, see above.
    #[inline(always)]
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let slot = self.entries.get_mut(key)?;
        if !matches!(slot, Slot::Occupied(_)) {
            return None;
        }
        let Slot::Occupied(value) = std::mem::replace(slot, Slot::Vacant(self.next_free)) else {
            unreachable!("checked occupied above");
        };
        self.len -= 1;
        if self.len == 0 {
            // Empty again: the keys start over. The capacity stays for the next burst (freeing
            // it would cost an allocation per child of a one-at-a-time loop), up to a bound: a
            // long-lived table does not keep what one burst took for the rest of its life.
            self.entries.clear();
            self.next_free = NONE;
            if self.entries.capacity() > KEPT_WHEN_EMPTY {
                self.give_back();
            }
        } else {
            self.next_free = key;
        }
        Some(value)
    }

    /// Gives back the storage of an empty slab past [`KEPT_WHEN_EMPTY`] slots.
    #[cold]
    #[inline(never)]
    fn give_back(&mut self) {
        self.entries.shrink_to(KEPT_WHEN_EMPTY);
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many slots it has, vacant ones included: what [`iter`](Slab::iter) goes through.
    pub(crate) fn slots(&self) -> usize {
        self.entries.len()
    }

    /// The key of the first value that matches (a linear search).
    pub(crate) fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| matches!(e, Slot::Occupied(value) if pred(value)))
    }

    /// The occupied keys and their values.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(key, slot)| match slot {
                Slot::Occupied(value) => Some((key, value)),
                Slot::Vacant(_) => None,
            })
    }

    /// Consumes the slab, yielding its values.
    pub(crate) fn into_values(self) -> impl Iterator<Item = T> {
        self.entries.into_iter().filter_map(|slot| match slot {
            Slot::Occupied(value) => Some(value),
            Slot::Vacant(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn an_empty_slab_keeps_room_for_a_small_burst_and_gives_back_a_large_one() {
        let mut s = Slab::default();
        for n in [100, 20_000] {
            let keys: Vec<_> = (0..n).map(|i| s.insert(i)).collect();
            for key in keys {
                assert!(s.remove(key).is_some());
            }
            assert!(s.is_empty());
            assert!(
                s.entries.capacity() >= n.min(super::KEPT_WHEN_EMPTY),
                "room kept for the next burst"
            );
            assert!(s.entries.capacity() <= super::KEPT_WHEN_EMPTY.max(n.next_power_of_two()));
            assert!(s.entries.capacity() <= 2 * super::KEPT_WHEN_EMPTY);
        }
    }

    #[test]
    fn keys_are_stable_and_reused() {
        let mut s = Slab::default();
        let a = s.insert('a');
        let b = s.insert('b');
        assert_eq!(s.remove(a), Some('a'));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get_mut(b), Some(&mut 'b'));
        let c = s.insert('c');
        assert_eq!(c, a, "a freed key is reused");
        assert_eq!(s.len(), 2);
        let all: Vec<_> = std::mem::take(&mut s).into_values().collect();
        assert_eq!(all.len(), 2);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn freed_keys_are_reused_last_freed_first_and_an_empty_slab_starts_over() {
        let mut s = Slab::default();
        let keys: Vec<_> = (0..5).map(|i| s.insert(i)).collect();
        assert_eq!(keys, [0, 1, 2, 3, 4]);
        assert_eq!(s.remove(1), Some(1));
        assert_eq!(s.remove(3), Some(3));
        assert_eq!(s.remove(3), None, "a key is removed once");
        assert_eq!(s.get_mut(3), None);
        assert_eq!(s.find(|v| *v == 4), Some(4));
        assert_eq!(s.find(|v| *v == 3), None);
        s.reserve(10);
        assert_eq!(s.insert(30), 3);
        assert_eq!(s.insert(10), 1);
        assert_eq!(s.insert(5), 5, "no free key left: a new one");
        assert_eq!(s.len(), 6);
        for key in [0, 1, 2, 3, 4, 5] {
            assert!(s.remove(key).is_some());
        }
        assert!(s.is_empty());
        assert_eq!(s.insert(7), 0, "empty again: keys start over");
        let mut values: Vec<_> = s.into_values().collect();
        values.sort_unstable();
        assert_eq!(values, [7]);
    }
}
