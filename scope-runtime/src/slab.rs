//! A minimal slab: stable keys, O(1) insert and remove, slots reused through a free list.

#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        if let Some(key) = self.free.pop() {
            self.entries[key] = Some(value);
            key
        } else {
            self.entries.push(Some(value));
            self.entries.len() - 1
        }
    }

    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key).and_then(Option::as_mut)
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let value = self.entries.get_mut(key)?.take()?;
        self.len -= 1;
        if self.len == 0 {
            // Empty again: release the memory of a burst instead of keeping it forever.
            self.entries.clear();
            self.free.clear();
        } else {
            self.free.push(key);
        }
        Some(value)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key of the first value that matches (a linear search).
    pub(crate) fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.as_ref().is_some_and(&mut pred))
    }

    /// Consumes the slab, yielding its values.
    pub(crate) fn into_values(self) -> impl Iterator<Item = T> {
        self.entries.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

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
}
