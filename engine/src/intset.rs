//! Redis's intset: a set's integers, sorted, packed at the narrowest width that holds them
//! all (2, 4 or 8 bytes each, widened when a larger one arrives and never narrowed, as in
//! Redis), after one byte that says the width. Ten small integers take 21 bytes.

/// Sorted distinct integers in one buffer: `[width, n0, n1, ...]`, little-endian.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntSet {
    bytes: Vec<u8>,
}

/// The narrowest width that holds `n` (Redis's `_intsetValueEncoding`).
fn width_for(n: i64) -> usize {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    /// Bytes per integer: 2, 4 or 8 (an empty set counts as 2, as Redis's new intset does).
    pub fn width(&self) -> usize {
        self.bytes.first().map_or(2, |w| usize::from(*w))
    }

    /// Number of integers.
    pub fn len(&self) -> usize {
        self.bytes.len().saturating_sub(1) / self.width()
    }

    /// No integers.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The `i`th smallest integer.
    pub fn get(&self, i: usize) -> Option<i64> {
        (i < self.len()).then(|| self.read(i))
    }

    fn read(&self, i: usize) -> i64 {
        let w = self.width();
        let at = 1 + i * w;
        let mut raw = [0u8; 8];
        raw[..w].copy_from_slice(&self.bytes[at..at + w]);
        // Sign-extend from the stored width.
        let shift = 64 - 8 * w as u32;
        (i64::from_le_bytes(raw) << shift) >> shift
    }

    /// Where `n` is (`Ok`) or would go (`Err`).
    fn search(&self, n: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.read(mid).cmp(&n) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: i64) -> bool {
        self.search(n).is_ok()
    }

    /// Adds `n`; true when it is new.
    pub fn insert(&mut self, n: i64) -> bool {
        let Err(at) = self.search(n) else {
            return false;
        };
        if self.bytes.is_empty() || width_for(n) > self.width() {
            self.widen(width_for(n));
        }
        let w = self.width();
        if self.bytes.len() + w > self.bytes.capacity() {
            // Exactly, as Redis sizes an intset, until it is large enough that a sixteenth
            // saves reallocations.
            self.bytes.reserve_exact((self.bytes.len() / 16).max(w));
        }
        let pos = 1 + at * w;
        self.bytes
            .splice(pos..pos, n.to_le_bytes()[..w].iter().copied());
        true
    }

    /// Rewrites every integer at `width` bytes (wider than now, or the first insert's).
    fn widen(&mut self, width: usize) {
        let mut bytes = Vec::with_capacity(1 + (self.len() + 1) * width);
        bytes.push(width as u8);
        for n in self.iter() {
            bytes.extend_from_slice(&n.to_le_bytes()[..width]);
        }
        self.bytes = bytes;
    }

    /// Removes `n`; true when it was there.
    pub fn remove(&mut self, n: i64) -> bool {
        let Ok(at) = self.search(n) else {
            return false;
        };
        let w = self.width();
        self.bytes.drain(1 + at * w..1 + (at + 1) * w);
        if self.bytes.len() <= 1 {
            self.bytes = Vec::new();
        } else if self.bytes.capacity() > 2 * self.bytes.len() + 32 {
            self.bytes.shrink_to_fit();
        }
        true
    }

    /// The integers, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.read(i))
    }

    /// Bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a plain sorted model: inserts and removes of values of every width.
        #[test]
        fn behaves_as_a_sorted_set(ops in prop::collection::vec((any::<bool>(), prop_oneof![
            -300i64..300,
            any::<i16>().prop_map(i64::from),
            any::<i32>().prop_map(i64::from),
            any::<i64>(),
        ]), 0..200)) {
            let mut set = IntSet::default();
            let mut model = std::collections::BTreeSet::new();
            for (add, n) in ops {
                if add {
                    prop_assert_eq!(set.insert(n), model.insert(n));
                } else {
                    prop_assert_eq!(set.remove(n), model.remove(&n));
                }
                prop_assert_eq!(set.len(), model.len());
            }
            prop_assert!(set.iter().eq(model.iter().copied()));
            for n in &model {
                prop_assert!(set.contains(*n));
            }
        }
    }

    #[test]
    fn widens_but_never_narrows() {
        let mut set = IntSet::default();
        for n in 0..10 {
            set.insert(n);
        }
        assert_eq!((set.width(), set.heap_bytes() >= 21), (2, true));
        set.insert(1 << 40);
        assert_eq!(set.width(), 8);
        set.remove(1 << 40);
        assert_eq!(set.width(), 8);
        assert_eq!(set.iter().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        assert_eq!(set.get(9), Some(9));
        assert_eq!(set.get(10), None);
    }
}
