//! The table behind one database: keys to values, chained in a power-of-two array of buckets
//! as Redis's dict chains them. Each key is one allocation (the entry: link, key, value and
//! access data) plus the key's own bytes, so a key costs about what it costs in Redis, not
//! a hash-map slot plus a separate SCAN-order index. SCAN walks the buckets with Redis's
//! reverse-binary cursor, which keeps Redis's guarantee across growth and shrinking: a key
//! present for the whole scan is returned at least once.

use std::fmt;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::Value;

/// The fewest buckets a non-empty table has (Redis's `DICT_HT_INITIAL_SIZE`).
const MIN_BUCKETS: usize = 4;

/// A table shrinks when fewer than one bucket in this many holds a key (Redis's
/// `HASHTABLE_MIN_FILL` of 10%).
const SHRINK_BELOW: usize = 10;

/// One key: its link in the bucket's chain, its bytes, its value and the access data
/// eviction reads (Redis keeps the same 24 bits in each object).
pub struct Entry {
    next: Option<Box<Entry>>,
    key: Box<[u8]>,
    /// The stored value.
    pub value: Value,
    /// LRU clock or LFU stamp and counter (see `keyspace::access`).
    pub access: u32,
}

impl Entry {
    /// The key's bytes.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The entry's value, consumed.
    pub fn into_value(self) -> Value {
        self.value
    }
}

/// The keys of one database.
pub struct KeyTable {
    buckets: Vec<Option<Box<Entry>>>,
    len: usize,
    /// Per-table hash seed, drawn at random, so that nobody can choose keys that pile into
    /// one chain.
    seed: u64,
}

impl Default for KeyTable {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        KeyTable {
            buckets: Vec::new(),
            len: 0,
            seed: h.finish(),
        }
    }
}

impl fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyTable")
            .field("len", &self.len)
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

/// The entries of one chain, first to last.
fn chain(head: &Option<Box<Entry>>) -> impl Iterator<Item = &Entry> {
    std::iter::successors(head.as_deref(), |e| e.next.as_deref())
}

/// `size` empty buckets, allocated exactly.
fn empty_buckets(size: usize) -> Vec<Option<Box<Entry>>> {
    let mut buckets = Vec::with_capacity(size);
    buckets.resize_with(size, || None);
    buckets
}

impl KeyTable {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bucket_of(&self, key: &[u8]) -> usize {
        (xxh3_64_with_seed(key, self.seed) as usize) & (self.buckets.len() - 1)
    }

    /// The entry of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        if self.len == 0 {
            return None;
        }
        chain(&self.buckets[self.bucket_of(key)]).find(|e| *e.key == *key)
    }

    /// The entry of `key`, for change.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if self.len == 0 {
            return None;
        }
        let i = self.bucket_of(key);
        let mut cur = self.buckets[i].as_deref_mut();
        while let Some(e) = cur {
            if *e.key == *key {
                return Some(e);
            }
            cur = e.next.as_deref_mut();
        }
        None
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Adds `key`, which the caller knows is absent, with its own copy of the bytes.
    pub fn insert_new(&mut self, key: &[u8], value: Value, access: u32) {
        if self.len >= self.buckets.len() {
            self.resize((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        let i = self.bucket_of(key);
        let next = self.buckets[i].take();
        self.buckets[i] = Some(Box::new(Entry {
            next,
            key: key.into(),
            value,
            access,
        }));
        self.len += 1;
    }

    /// Removes `key`; its entry when it was there.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let i = self.bucket_of(key);
        let mut link = &mut self.buckets[i];
        while link.as_ref().is_some_and(|e| *e.key != *key) {
            let Some(e) = link else { break };
            link = &mut e.next;
        }
        let mut entry = link.take()?;
        *link = entry.next.take();
        self.len -= 1;
        if self.len == 0 {
            self.buckets = Vec::new();
        } else if self.buckets.len() > MIN_BUCKETS && self.len * SHRINK_BELOW < self.buckets.len() {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
        Some(*entry)
    }

    /// Moves every entry into `size` buckets (a power of two).
    fn resize(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.buckets, empty_buckets(size));
        for mut head in old {
            while let Some(mut e) = head {
                head = e.next.take();
                let i = self.bucket_of(&e.key);
                e.next = self.buckets[i].take();
                self.buckets[i] = Some(e);
            }
        }
    }

    /// Every entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(chain)
    }

    /// Every entry, from the bucket `start` picks on, wrapping around: where eviction's
    /// sampling begins.
    pub fn iter_from(&self, start: u64) -> impl Iterator<Item = &Entry> {
        let at = if self.buckets.is_empty() {
            0
        } else {
            (start as usize) & (self.buckets.len() - 1)
        };
        let (before, after) = self.buckets.split_at(at);
        after.iter().chain(before).flat_map(chain)
    }

    /// A key picked at random from `seed`: the first non-empty bucket from a random one, then
    /// a random entry of its chain (Redis's `dictGetRandomKey`).
    pub fn random(&self, seed: u64) -> Option<&Entry> {
        let mask = self.buckets.len().checked_sub(1)?;
        let start = seed as usize & mask;
        let head = (0..=mask)
            .map(|step| &self.buckets[(start + step) & mask])
            .find(|b| b.is_some())?;
        let n = chain(head).count();
        chain(head).nth((seed >> 32) as usize % n.max(1))
    }

    /// One SCAN step as Redis takes it: whole buckets from `cursor` on, until at least
    /// `count` keys were seen or ten times `count` buckets visited; returns the next cursor
    /// (0 when the scan is complete).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Entry)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let (mut v, mut seen) = (cursor, 0usize);
        let mut budget = count.max(1).saturating_mul(10);
        loop {
            for e in chain(&self.buckets[(v & mask) as usize]) {
                visit(e);
                seen += 1;
            }
            // Increment the reversed cursor: the high bits first, so that a table that grew
            // or shrank between calls still covers every bucket it has not covered yet.
            v |= !mask;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            budget -= 1;
            if v == 0 || seen >= count || budget == 0 {
                return v;
            }
        }
    }

    /// Heap bytes of the table: buckets, entries, keys and values.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Option<Box<Entry>>>()
            + self
                .iter()
                .map(|e| std::mem::size_of::<Entry>() + e.key.len() + e.value.heap_bytes())
                .sum::<usize>()
    }
}

impl Drop for KeyTable {
    /// Unlinks chains one entry at a time, so that no chain is dropped recursively.
    fn drop(&mut self) {
        for head in &mut self.buckets {
            let mut cur = head.take();
            while let Some(mut e) = cur {
                cur = e.next.take();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::collections::BTreeSet;

    fn value() -> Value {
        Value::Str(Bytes::new())
    }

    fn key(i: u32) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    #[test]
    fn keys_are_found_replaced_and_removed_through_growth_and_shrinking() {
        let mut t = KeyTable::default();
        for i in 0..1000 {
            t.insert_new(&key(i), value(), i);
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.buckets.len(), 1024);
        for i in 0..1000 {
            assert_eq!(t.get(&key(i)).map(|e| e.access), Some(i));
        }
        if let Some(e) = t.get_mut(&key(7)) {
            e.access = 70_000;
        }
        assert_eq!(t.get(&key(7)).map(|e| e.access), Some(70_000));
        for i in 0..990 {
            assert!(t.remove(&key(i)).is_some(), "key {i}");
            assert!(t.remove(&key(i)).is_none());
        }
        assert_eq!(t.len(), 10);
        assert!(t.buckets.len() <= 16, "shrunk to {}", t.buckets.len());
        assert_eq!(t.iter().count(), 10);
        assert!(t.get(&key(995)).is_some());
        for i in 990..1000 {
            t.remove(&key(i));
        }
        assert!(t.is_empty() && t.buckets.is_empty() && t.random(1).is_none());
    }

    /// Redis's promise: a key present from the first call to the last is returned, however
    /// the table grows or shrinks in between.
    #[test]
    fn scan_returns_every_stable_key_while_the_table_grows_and_shrinks() {
        let mut t = KeyTable::default();
        for i in 0..100 {
            t.insert_new(&key(i), value(), 0);
        }
        let mut seen = BTreeSet::new();
        let (mut cursor, mut step, mut extra) = (0, 0, 100u32);
        loop {
            cursor = t.scan(cursor, 5, |e| {
                seen.insert(e.key().to_vec());
            });
            step += 1;
            // Grow for a while, then shrink well below where the scan started.
            if step < 20 {
                for _ in 0..200 {
                    t.insert_new(&key(extra), value(), 0);
                    extra += 1;
                }
            } else {
                for i in 100..extra {
                    t.remove(&key(i));
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&key(i)), "key {i} missed");
        }
    }

    #[test]
    fn random_and_iter_from_reach_every_key() {
        let mut t = KeyTable::default();
        for i in 0..50 {
            t.insert_new(&key(i), value(), 0);
        }
        assert_eq!(t.iter_from(12345).count(), 50);
        let picked: BTreeSet<Vec<u8>> = (0..2000u64)
            .filter_map(|s| t.random(s.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .map(|e| e.key().to_vec())
            .collect();
        assert!(picked.len() > 40, "only {} distinct picks", picked.len());
    }
}
