//! Redis's intset (sorted distinct integers), kept as a frame of reference: a base no larger
//! than any member, then each member's offset from it, all at one width (1, 2, 4 or 8
//! bytes) that grows when a wider offset arrives and never narrows, as Redis's widths never
//! do. Lookups stay a binary search over fixed-width offsets; clustered integers (IDs,
//! counters, timestamps) take a byte or two each where Redis's intset takes at least two, and
//! any set no more than Redis's eight bytes each. RDB and DUMP still write Redis's layout.

use crate::packed;

/// `[width][base, zigzag LEB128][offset 0][offset 1]...`, offsets little-endian.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntSet {
    bytes: Vec<u8>,
}

/// The narrowest width that holds offset `d`.
fn width_for(d: u64) -> usize {
    match d {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

/// The narrowest intset width (2, 4 or 8) Redis would give `n` (its `_intsetValueEncoding`).
fn redis_width_for(n: i64) -> usize {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

/// Appends `n` zigzag-encoded as LEB128.
fn put_base(out: &mut Vec<u8>, n: i64) {
    packed::put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

impl IntSet {
    /// Offset width, base, and where the offsets start; `None` when empty.
    fn header(&self) -> Option<(usize, i64, usize)> {
        let &w = self.bytes.first()?;
        let (z, at) = packed::read_varint(&self.bytes, 1);
        let base = ((z >> 1) as i64) ^ -((z & 1) as i64);
        Some((usize::from(w).max(1), base, at))
    }

    /// Number of integers.
    pub fn len(&self) -> usize {
        self.header()
            .map_or(0, |(w, _, at)| (self.bytes.len() - at) / w)
    }

    /// No integers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The intset width Redis would write these integers at: 2, 4 or 8 bytes.
    pub fn redis_width(&self) -> usize {
        match (self.iter().next(), self.iter().last()) {
            (Some(lo), Some(hi)) => redis_width_for(lo).max(redis_width_for(hi)),
            _ => 2,
        }
    }

    /// The `i`th smallest integer.
    pub fn get(&self, i: usize) -> Option<i64> {
        (i < self.len()).then(|| self.read(i))
    }

    fn read(&self, i: usize) -> i64 {
        let Some((w, base, at)) = self.header() else {
            return 0;
        };
        let from = at + i * w;
        let mut raw = [0u8; 8];
        if let Some(src) = self.bytes.get(from..from + w) {
            raw[..w].copy_from_slice(src);
        }
        base.wrapping_add(u64::from_le_bytes(raw) as i64)
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
        let Err(pos) = self.search(n) else {
            return false;
        };
        let (w, base, at) = match self.header() {
            Some((w, base, _)) if n < base => {
                // Below the base: `n` becomes the base, every offset grows.
                self.rebuild(n, w, 1);
                self.header().unwrap_or((w, n, 1))
            }
            Some((w, base, _)) if width_for(n.wrapping_sub(base) as u64) > w => {
                self.rebuild(base, width_for(n.wrapping_sub(base) as u64), 1);
                self.header().unwrap_or((w, base, 1))
            }
            Some(h) => h,
            None => {
                self.rebuild(n, 1, 1);
                self.header().unwrap_or((1, n, 1))
            }
        };
        if self.bytes.len() + w > self.bytes.capacity() {
            // Exactly, as Redis sizes an intset, until it is large enough that a sixteenth
            // saves reallocations.
            self.bytes.reserve_exact((self.bytes.len() / 16).max(w));
        }
        let offset = n.wrapping_sub(base) as u64;
        let from = at + pos * w;
        self.bytes
            .splice(from..from, offset.to_le_bytes()[..w].iter().copied());
        true
    }

    /// Rewrites the set with `base` and offsets at least `width` wide (what its integers
    /// need, never narrower than now), leaving room for `extra` more.
    fn rebuild(&mut self, base: i64, width: usize, extra: usize) {
        let members: Vec<i64> = self.iter().collect();
        let widest = members
            .iter()
            .map(|m| width_for(m.wrapping_sub(base) as u64))
            .max()
            .unwrap_or(1);
        let w = width.max(widest).max(self.header().map_or(1, |h| h.0));
        let mut bytes = Vec::with_capacity(11 + (members.len() + extra) * w);
        bytes.push(w as u8);
        put_base(&mut bytes, base);
        for m in members {
            bytes.extend_from_slice(&(m.wrapping_sub(base) as u64).to_le_bytes()[..w]);
        }
        self.bytes = bytes;
    }

    /// Removes `n`; true when it was there. The base stays (it need not be a member).
    pub fn remove(&mut self, n: i64) -> bool {
        let (Ok(pos), Some((w, _, at))) = (self.search(n), self.header()) else {
            return false;
        };
        self.bytes.drain(at + pos * w..at + (pos + 1) * w);
        if self.bytes.len() <= at {
            self.bytes = Vec::new();
        } else if self.bytes.capacity() > 2 * self.bytes.len() + 32 {
            self.bytes.shrink_to_fit();
        }
        true
    }

    /// The integers, smallest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
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
        /// Against a plain sorted model: inserts and removes of values of every width, bases
        /// moving down, offsets widening.
        #[test]
        fn behaves_as_a_sorted_set(ops in prop::collection::vec((any::<bool>(), prop_oneof![
            -300i64..300,
            any::<i16>().prop_map(i64::from),
            any::<i32>().prop_map(i64::from),
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
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
    fn clustered_integers_take_a_byte_each() {
        let mut set = IntSet::default();
        for n in (123_450..123_460).rev() {
            set.insert(n);
        }
        // Width, a three-byte base, ten one-byte offsets.
        assert_eq!(set.bytes.len(), 1 + 3 + 10);
        assert_eq!(set.redis_width(), 4);
        assert_eq!(set.get(0), Some(123_450));
        assert_eq!(set.get(9), Some(123_459));
        assert_eq!(set.get(10), None);
        set.insert(1 << 40);
        assert_eq!(set.header().map(|h| h.0), Some(8));
        set.remove(1 << 40);
        assert_eq!(set.header().map(|h| h.0), Some(8), "never narrows");
        assert_eq!(set.redis_width(), 4);
        assert!(set.iter().eq(123_450..123_460));
    }
}
