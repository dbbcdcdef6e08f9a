//! The table behind one database: keys to values, chained in a power-of-two array of buckets
//! as Redis's dict chains them, with the entries themselves in a slab of fixed-size chunks
//! and linked by 32-bit slot numbers. An entry is 64 bytes (key handle, value, link and
//! access data) plus the key's own bytes, and a bucket 4: a key costs about what it costs in
//! Redis (a dict entry, an object and a key string), with no allocation of its own. SCAN
//! walks the buckets with Redis's reverse-binary cursor, which keeps Redis's guarantee
//! across growth and shrinking: a key present for the whole scan is returned at least once.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::Value;

/// The fewest buckets a non-empty table has (Redis's `DICT_HT_INITIAL_SIZE`).
const MIN_BUCKETS: usize = 4;

/// A table shrinks when fewer than one bucket in this many holds a key (Redis's
/// `HASHTABLE_MIN_FILL` of 10%).
const SHRINK_BELOW: usize = 10;

/// Slots per slab chunk: 4 KB of entries. Full chunks are exactly sized; only the last one
/// grows, a few slots at a time.
const CHUNK: usize = 64;

/// The end of a chain.
const NIL: u32 = u32::MAX;

/// One key: its bytes, its value, the next slot of its bucket's chain, and the access data
/// eviction reads (Redis keeps the same 24 bits in each object).
pub struct Entry {
    key: Box<[u8]>,
    /// The stored value.
    pub value: Value,
    next: u32,
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
    /// First slot of each bucket's chain, or [`NIL`].
    buckets: Vec<u32>,
    /// The entries, [`CHUNK`] slots a chunk; a vacant slot is `None`.
    slab: Vec<Vec<Option<Entry>>>,
    /// Vacant slots below the slab's end, reused first.
    vacant: Vec<u32>,
    /// Expiry times (Unix ms) of the keys that have one, by slot: 16 bytes a volatile key,
    /// no copy of its name (Redis's `expires` dict shares the key the same way).
    expires: HashMap<u32, u64>,
    /// The same times in order, so active expiry finds due keys without sampling.
    expiry_order: BTreeSet<(u64, u32)>,
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
            slab: Vec::new(),
            vacant: Vec::new(),
            expires: HashMap::new(),
            expiry_order: BTreeSet::new(),
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
            .field("slots", &self.slots())
            .finish()
    }
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

    /// Slots handed out so far (used or vacant).
    fn slots(&self) -> usize {
        self.slab
            .last()
            .map_or(0, |last| (self.slab.len() - 1) * CHUNK + last.len())
    }

    fn slot(&self, i: u32) -> Option<&Entry> {
        let i = i as usize;
        self.slab.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Entry> {
        let i = i as usize;
        self.slab.get_mut(i / CHUNK)?.get_mut(i % CHUNK)?.as_mut()
    }

    fn bucket_of(&self, key: &[u8]) -> usize {
        (xxh3_64_with_seed(key, self.seed) as usize) & (self.buckets.len() - 1)
    }

    /// The entries of bucket `b`'s chain, first to last.
    fn chain(&self, b: usize) -> impl Iterator<Item = (u32, &Entry)> {
        let mut at = self.buckets.get(b).copied().unwrap_or(NIL);
        std::iter::from_fn(move || {
            let e = self.slot(at)?;
            let here = at;
            at = e.next;
            Some((here, e))
        })
    }

    /// The slot holding `key`.
    fn find(&self, key: &[u8]) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        self.chain(self.bucket_of(key))
            .find(|(_, e)| *e.key == *key)
            .map(|(i, _)| i)
    }

    /// The entry of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.find(key).and_then(|i| self.slot(i))
    }

    /// The entry of `key`, for change.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.find(key)?;
        self.slot_mut(i)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// The expiry time (Unix ms) of `key`, when it has one.
    pub fn expiry(&self, key: &[u8]) -> Option<u64> {
        if self.expires.is_empty() {
            return None;
        }
        self.expires.get(&self.find(key)?).copied()
    }

    /// Sets `key`'s expiry time; false when the key is absent.
    pub fn set_expiry(&mut self, key: &[u8], at_ms: u64) -> bool {
        let Some(slot) = self.find(key) else {
            return false;
        };
        if let Some(old) = self.expires.insert(slot, at_ms) {
            self.expiry_order.remove(&(old, slot));
        }
        self.expiry_order.insert((at_ms, slot));
        true
    }

    /// Drops `key`'s expiry time; true when it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        match self.find(key) {
            Some(slot) => self.forget_expiry(slot),
            None => false,
        }
    }

    fn forget_expiry(&mut self, slot: u32) -> bool {
        match self.expires.remove(&slot) {
            Some(at) => {
                self.expiry_order.remove(&(at, slot));
                true
            }
            None => false,
        }
    }

    /// Keys with an expiry time.
    pub fn volatile_count(&self) -> usize {
        self.expires.len()
    }

    /// Keys with expiry times, soonest first: (time, key).
    pub fn by_expiry(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.expiry_order
            .iter()
            .filter_map(|&(at, slot)| Some((at, self.slot(slot)?.key())))
    }

    /// A key with an expiry time, from the slot `seed` picks on, looking at most at `reach`
    /// keys.
    pub fn any_volatile(&self, seed: u64, reach: usize) -> Option<&Entry> {
        let slots = self.slots();
        if self.expires.is_empty() || slots == 0 {
            return None;
        }
        let start = (seed % slots as u64) as usize;
        (0..slots)
            .map(|step| ((start + step) % slots) as u32)
            .filter(|&i| self.slot(i).is_some())
            .take(reach)
            .find(|i| self.expires.contains_key(i))
            .and_then(|i| self.slot(i))
    }

    /// Adds `key`, which the caller knows is absent, with its own copy of the bytes.
    pub fn insert_new(&mut self, key: &[u8], value: Value, access: u32) {
        if self.len >= self.buckets.len() {
            self.resize((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        let b = self.bucket_of(key);
        let entry = Entry {
            key: key.into(),
            value,
            next: self.buckets[b],
            access,
        };
        self.buckets[b] = self.place(entry);
        self.len += 1;
    }

    /// Puts `entry` in a vacant slot, or a new one at the slab's end; returns the slot.
    fn place(&mut self, entry: Entry) -> u32 {
        if let Some(i) = self.vacant.pop() {
            let i = i as usize;
            if let Some(slot) = self
                .slab
                .get_mut(i / CHUNK)
                .and_then(|c| c.get_mut(i % CHUNK))
            {
                *slot = Some(entry);
                return i as u32;
            }
        }
        let at = self.slots();
        if self.slab.last().is_none_or(|last| last.len() == CHUNK) {
            self.slab.push(Vec::with_capacity(CHUNK / 8));
        }
        if let Some(last) = self.slab.last_mut() {
            if last.len() == last.capacity() {
                // The last chunk grows by an eighth of a chunk: a small database does not pay
                // for a whole chunk.
                last.reserve_exact(CHUNK / 8);
            }
            last.push(Some(entry));
        }
        // Four billion keys in one database would be some 300 GB of entries alone.
        u32::try_from(at).unwrap_or(NIL)
    }

    /// Removes `key`; its entry when it was there.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let i = self.find(key)?;
        let b = self.bucket_of(key);
        let next = self.slot(i)?.next;
        // Unlink: the bucket's head, or the entry before it in the chain.
        if self.buckets[b] == i {
            self.buckets[b] = next;
        } else {
            let prev = self.chain(b).find(|(_, e)| e.next == i).map(|(p, _)| p)?;
            self.slot_mut(prev)?.next = next;
        }
        self.forget_expiry(i);
        let (c, k) = (i as usize / CHUNK, i as usize % CHUNK);
        let entry = self.slab.get_mut(c)?.get_mut(k)?.take()?;
        self.vacant.push(i);
        self.len -= 1;
        if self.len == 0 {
            *self = KeyTable {
                seed: self.seed,
                ..KeyTable::default()
            };
        } else if self.buckets.len() > MIN_BUCKETS && self.len * SHRINK_BELOW < self.buckets.len() {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        } else if self.vacant.len() > CHUNK && self.vacant.len() > self.len {
            // More than half the slots are vacant: pack the slab (and relink every chain).
            self.resize(self.buckets.len());
        }
        Some(entry)
    }

    /// Relinks every entry into `size` buckets (a power of two), packing the slab first
    /// (the expiry times follow their keys to their new slots).
    fn resize(&mut self, size: usize) {
        if !self.vacant.is_empty() {
            let mut moved = HashMap::new();
            let mut entries = Vec::with_capacity(self.len);
            for (old, entry) in std::mem::take(&mut self.slab)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, e)| Some((i as u32, e?)))
            {
                if let Some(at) = self.expires.get(&old) {
                    moved.insert(entries.len() as u32, *at);
                }
                entries.push(entry);
            }
            self.expiry_order = moved.iter().map(|(&slot, &at)| (at, slot)).collect();
            self.expires = moved;
            self.vacant = Vec::new();
            let mut slab = Vec::with_capacity(entries.len().div_ceil(CHUNK));
            let mut entries = entries.into_iter().peekable();
            while entries.peek().is_some() {
                let chunk: Vec<Option<Entry>> = entries.by_ref().take(CHUNK).map(Some).collect();
                slab.push(chunk);
            }
            self.slab = slab;
        }
        self.buckets = vec![NIL; size];
        let seed = self.seed;
        let mask = size - 1;
        let mut at = 0u32;
        for chunk in &mut self.slab {
            for e in chunk.iter_mut().flatten() {
                let b = (xxh3_64_with_seed(&e.key, seed) as usize) & mask;
                e.next = self.buckets[b];
                self.buckets[b] = at;
                at += 1;
            }
        }
    }

    /// Every entry, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slab.iter().flatten().flatten()
    }

    /// A key picked at random from `seed`: the first used slot from a random one on.
    pub fn random(&self, seed: u64) -> Option<&Entry> {
        let slots = self.slots();
        if self.len == 0 || slots == 0 {
            return None;
        }
        let start = (seed % slots as u64) as usize;
        (0..slots)
            .map(|step| (start + step) % slots)
            .find_map(|i| self.slot(i as u32))
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
            for (_, e) in self.chain((v & mask) as usize) {
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

    /// Heap bytes of the table: buckets, slab, keys and values.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<u32>()
            + self.vacant.capacity() * std::mem::size_of::<u32>()
            + self.expires.capacity() * 24
            + self.expiry_order.len() * 24
            + self
                .slab
                .iter()
                .map(|c| c.capacity() * std::mem::size_of::<Option<Entry>>())
                .sum::<usize>()
            + self
                .iter()
                .map(|e| e.key.len() + e.value.heap_bytes())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn value() -> Value {
        Value::Str(crate::string_value::Str::new(b""))
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
        assert_eq!(t.slab.len(), 1000usize.div_ceil(CHUNK));
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
        assert!(t.slab.is_empty() && t.vacant.is_empty());
    }

    #[test]
    fn an_entry_is_64_bytes_and_vacant_slots_are_reused_then_packed() {
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 64);
        let mut t = KeyTable::default();
        for i in 0..300 {
            t.insert_new(&key(i), value(), i);
        }
        t.remove(&key(5));
        t.insert_new(&key(1000), value(), 1000);
        assert_eq!(t.slots(), 300, "the vacant slot was reused");
        for i in 0..250 {
            t.remove(&key(i));
        }
        assert!(t.slots() < 300, "packed to {} slots", t.slots());
        assert_eq!(t.len(), 51);
        for i in 250..300 {
            assert_eq!(t.get(&key(i)).map(|e| e.access), Some(i));
        }
        assert_eq!(t.get(&key(1000)).map(|e| e.access), Some(1000));
    }

    /// Expiry times are kept by slot: they must follow their keys when the slab is packed,
    /// and go with them when they are removed.
    #[test]
    fn expiry_times_follow_their_keys_through_packing() {
        let mut t = KeyTable::default();
        for i in 0..400 {
            t.insert_new(&key(i), value(), 0);
            if i % 3 == 0 {
                assert!(t.set_expiry(&key(i), 10_000 + u64::from(i)));
            }
        }
        assert!(!t.set_expiry(b"absent", 1));
        for i in 0..300 {
            t.remove(&key(i));
        }
        assert!(t.slots() < 400, "packed");
        for i in 300..400 {
            let want = (i % 3 == 0).then(|| 10_000 + u64::from(i));
            assert_eq!(t.expiry(&key(i)), want, "key {i}");
        }
        assert_eq!(
            t.volatile_count(),
            (300..400).filter(|i| i % 3 == 0).count()
        );
        let order: Vec<u64> = t.by_expiry().map(|(at, _)| at).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            t.by_expiry().next().map(|(_, k)| k.to_vec()),
            Some(key(300))
        );
        assert!(t.persist(&key(300)) && !t.persist(&key(300)));
        assert!(t.any_volatile(7, 1000).is_some());
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
    fn random_picks_reach_every_key() {
        let mut t = KeyTable::default();
        for i in 0..50 {
            t.insert_new(&key(i), value(), 0);
        }
        let picked: BTreeSet<Vec<u8>> = (0..2000u64)
            .filter_map(|s| t.random(s.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .map(|e| e.key().to_vec())
            .collect();
        assert!(picked.len() > 40, "only {} distinct picks", picked.len());
    }
}
