//! Random picks for HRANDFIELD, SRANDMEMBER and SPOP: a seed that differs on every call and a
//! cheap generator (xorshift64*); nothing here needs to be unpredictable to an attacker.

use std::hash::{BuildHasher, Hasher};

/// A generator seeded afresh.
pub(crate) struct Picker(u64);

impl Picker {
    /// A generator with a seed from the process's hash randomness and the clock.
    pub(crate) fn new() -> Picker {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(crate::now_ms());
        Picker(h.finish() | 1)
    }

    /// The next number.
    pub(crate) fn next(&mut self) -> u64 {
        let s = &mut self.0;
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `count` distinct positions out of `len` (all of them when `count >= len`), in order.
    pub(crate) fn distinct(&mut self, len: usize, count: usize) -> Vec<usize> {
        if count >= len {
            return (0..len).collect();
        }
        let mut positions: Vec<usize> = (0..len).collect();
        for i in 0..count {
            let j = i + (self.next() % (len - i) as u64) as usize;
            positions.swap(i, j);
        }
        let mut chosen = positions[..count].to_vec();
        chosen.sort_unstable();
        chosen
    }
}

/// The items of `items` at the sorted `positions`.
pub(crate) fn at_positions<T>(items: impl Iterator<Item = T>, positions: &[usize]) -> Vec<T> {
    let mut wanted = positions.iter().peekable();
    items
        .enumerate()
        .filter_map(|(i, item)| {
            (wanted.peek() == Some(&&i)).then(|| {
                wanted.next();
                item
            })
        })
        .collect()
}
