//! Hashes: field/value maps, in Redis's two encodings. A small hash (at most
//! `hash-max-listpack-entries` fields, none longer than `hash-max-listpack-value` bytes) is a
//! list in insertion order, as Redis's listpack: HGETALL answers in that order and HSCAN
//! returns it whole. Past either limit it becomes a table for good (Redis never converts
//! back), ordered by a stable hash of the field so that HSCAN's cursor keeps Redis's
//! guarantee: a field present for the whole scan is returned.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher};

use bytes::Bytes;

use crate::bucketed::Bucketed;
use crate::packed::Packed;

/// When a small hash becomes a table (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Fields a listpack may hold.
    pub max_entries: u64,
    /// Longest field or value a listpack may hold, in bytes.
    pub max_value: u64,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            max_entries: 512,
            max_value: 64,
        }
    }
}

/// A hash value: its fields and values, and the expiry times of fields that have one (Redis
/// 7.4's hash-field expiration).
#[derive(Debug, Clone, Default)]
pub struct Hash {
    body: Body,
    /// Field → Unix ms at which it expires. `Some` (even empty) once a field-expiry command
    /// touched the hash: a small hash is then Redis's `listpackex`, which it stays. Boxed so
    /// that the many hashes without times pay one word for it, not a map's six.
    #[allow(clippy::box_collection)]
    ttls: Option<Box<HashMap<Bytes, u64>>>,
}

#[derive(Debug, Clone)]
enum Body {
    /// Redis's `listpack`: field, value, field, value... packed. In insertion order; once the
    /// hash is a `listpackex`, fields with a time come first, soonest first (the most recently
    /// set first among equal times), as Redis orders them.
    Small(Packed),
    /// Redis's `hashtable`: field/value pairs bucketed by the field's scan hash (boxed: a
    /// large hash can afford the pointer, and a small one stays three words).
    Table(Box<Bucketed<2>>),
}

impl Default for Body {
    fn default() -> Self {
        Body::Small(Packed::default())
    }
}

/// A field and its value, borrowed from a hash.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// The pairs of a packed hash.
fn packed_pairs(items: &Packed) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut it = items.iter();
    std::iter::from_fn(move || Some((it.next()?, it.next()?)))
}

/// Removes pair `i` of a packed hash, returning its value (to put it back elsewhere).
fn take_pair(items: &mut Packed, i: usize) -> Vec<u8> {
    let value = items
        .iter()
        .nth(2 * i + 1)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    items.remove(2 * i, 2);
    value
}

/// The position (in pairs) of `field` in a packed hash.
fn packed_find(items: &Packed, field: &[u8]) -> Option<usize> {
    packed_pairs(items).position(|(f, _)| f == field)
}

/// The position of a field in a table's order and HSCAN's cursor: never 0, which means
/// "start" and "done".
pub fn scan_hash(field: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    field.hash(&mut h);
    h.finish().max(1)
}

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Small(items) => items.len() / 2,
            Body::Table(table) => table.len(),
        }
    }

    /// No fields (such a hash is deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match (&self.body, &self.ttls) {
            (Body::Small(_), None) => "listpack",
            (Body::Small(_), Some(_)) => "listpackex",
            (Body::Table(_), _) => "hashtable",
        }
    }

    /// Whether the hash is packed (a listpack or listpackex).
    pub fn is_small(&self) -> bool {
        matches!(self.body, Body::Small(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.body {
            Body::Small(items) => packed_pairs(items)
                .find(|(f, _)| *f == field)
                .map(|(_, v)| v),
            Body::Table(table) => table.get(field).map(|[_, v]| v),
        }
    }

    /// Sets `field` to `value`, clearing any time it had (HSET); true when the field is new.
    /// Fields and values get their own allocations (they usually arrive as slices of a
    /// request buffer).
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if self.ttl(field).is_some() {
            // Redis moves the field to the end of a listpackex as it loses its time.
            self.persist(field);
        }
        self.set_keep_ttl(field, value, limits)
    }

    /// Sets `field` to `value`, keeping its time and place (HINCRBY, KEEPTTL); true when new.
    pub fn set_keep_ttl(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        let too_long = |b: &[u8]| b.len() as u64 > limits.max_value;
        if let Body::Small(items) = &mut self.body {
            if let Some(i) = packed_find(items, field) {
                if too_long(value) {
                    self.convert();
                } else {
                    items.replace(2 * i + 1, value);
                    return false;
                }
            } else if (items.len() / 2) as u64 >= limits.max_entries
                || too_long(field)
                || too_long(value)
            {
                self.convert();
            } else {
                items.push(field);
                items.push(value);
                return true;
            }
        }
        let Body::Table(table) = &mut self.body else {
            return false;
        };
        table.insert([field, value])
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        if let Some(ttls) = &mut self.ttls {
            ttls.remove(field);
        }
        match &mut self.body {
            Body::Small(items) => match packed_find(items, field) {
                Some(i) => {
                    items.remove(2 * i, 2);
                    true
                }
                None => false,
            },
            Body::Table(table) => table.remove(field),
        }
    }

    /// Turns a listpack into a table.
    fn convert(&mut self) {
        if let Body::Small(items) = &self.body {
            let mut table = Bucketed::default();
            for (f, v) in packed_pairs(items) {
                table.insert([f, v]);
            }
            self.body = Body::Table(Box::new(table));
        }
    }

    /// Every pair, in the encoding's order.
    pub fn pairs(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match &self.body {
            Body::Small(items) => Box::new(packed_pairs(items)),
            Body::Table(table) => Box::new(table.iter().map(|[f, v]| (f, v))),
        }
    }

    /// The pairs whose time has not passed at `now` (expired fields stay until they are
    /// deleted, but reads skip them).
    pub fn live_pairs(&self, now: u64) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.pairs().filter(move |(f, _)| !self.is_expired(f, now))
    }

    /// How many fields are live at `now`.
    pub fn live_len(&self, now: u64) -> usize {
        match &self.ttls {
            Some(t) if !t.is_empty() => self.live_pairs(now).count(),
            _ => self.len(),
        }
    }

    /// When `field` expires, if it has a time.
    pub fn ttl(&self, field: &[u8]) -> Option<u64> {
        self.ttls.as_ref()?.get(field).copied()
    }

    /// Whether `field` has a time that passed at `now` (Redis: strictly before now).
    pub fn is_expired(&self, field: &[u8], now: u64) -> bool {
        self.ttl(field).is_some_and(|at| at < now)
    }

    /// The fields whose time passed at `now`.
    pub fn expired_fields(&self, now: u64) -> Vec<Bytes> {
        let Some(ttls) = &self.ttls else {
            return Vec::new();
        };
        let mut out: Vec<Bytes> = ttls
            .iter()
            .filter(|(_, &at)| at < now)
            .map(|(f, _)| f.clone())
            .collect();
        out.sort();
        out
    }

    /// Whether any field has a time.
    pub fn has_ttls(&self) -> bool {
        self.ttls.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// Every field with a time, and the time, in the encoding's order.
    pub fn ttl_entries(&self) -> Vec<(Bytes, u64)> {
        self.pairs()
            .filter_map(|(f, _)| Some((Bytes::copy_from_slice(f), self.ttl(f)?)))
            .collect()
    }

    /// The soonest time of a field, if any.
    pub fn min_ttl(&self) -> Option<u64> {
        self.ttls.as_ref()?.values().min().copied()
    }

    /// Makes a small hash a `listpackex` (Redis does on the first field-expiry command).
    pub fn mark_expiring(&mut self) {
        self.ttls.get_or_insert_with(Box::default);
    }

    /// Gives existing `field` the expiry time `at`; in a listpackex it moves to its place
    /// among the fields with times (before the first whose time is later or equal, or that
    /// has none).
    pub fn set_ttl(&mut self, field: &[u8], at: u64) {
        self.mark_expiring();
        let Some(ttls) = self.ttls.as_mut() else {
            return;
        };
        ttls.insert(Bytes::copy_from_slice(field), at);
        let ttls = &**ttls;
        if let Body::Small(items) = &mut self.body {
            let Some(i) = packed_find(items, field) else {
                return;
            };
            let value = take_pair(items, i);
            let place = packed_pairs(items)
                .position(|(f, _)| ttls.get(f).is_none_or(|&t| t >= at))
                .unwrap_or(items.len() / 2);
            items.insert(2 * place, field);
            items.insert(2 * place + 1, &value);
        }
    }

    /// Removes `field`'s time; true when it had one. In a listpackex the field moves to the
    /// end, as Redis moves it.
    pub fn persist(&mut self, field: &[u8]) -> bool {
        let Some(ttls) = self.ttls.as_mut() else {
            return false;
        };
        if ttls.remove(field).is_none() {
            return false;
        }
        if let Body::Small(items) = &mut self.body {
            if let Some(i) = packed_find(items, field) {
                let value = take_pair(items, i);
                items.push(field);
                items.push(&value);
            }
        }
        true
    }

    /// A pair near the random point `seed`: for a table, the first at or after it in hash
    /// order (wrapping), which is how a random pick costs O(log n) there.
    pub fn random_pair(&self, seed: u64) -> Option<(&[u8], &[u8])> {
        match &self.body {
            Body::Small(items) => {
                let n = items.len() / 2;
                (n > 0)
                    .then(|| packed_pairs(items).nth((seed % n as u64) as usize))
                    .flatten()
            }
            Body::Table(table) => table.random(seed).map(|[f, v]| (f, v)),
        }
    }

    /// HSCAN: from `cursor`, at least `count` pairs (a listpack answers whole, as in Redis),
    /// and the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Pair<'_>>) {
        match &self.body {
            Body::Small(items) => (0, packed_pairs(items).collect()),
            Body::Table(table) => {
                let (next, groups) = table.scan(cursor, count);
                (next, groups.into_iter().map(|[f, v]| (f, v)).collect())
            }
        }
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        let ttls = self.ttls.as_ref().map_or(0, |t| t.len() * 56);
        ttls + match &self.body {
            Body::Small(items) => items.heap_bytes(),
            Body::Table(table) => table.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_hashes_keep_insertion_order_until_a_limit_converts_them() {
        let limits = HashLimits {
            max_entries: 3,
            max_value: 4,
        };
        let mut h = Hash::default();
        assert!(h.set(b"b", b"1", limits));
        assert!(h.set(b"a", b"2", limits));
        assert!(!h.set(b"b", b"3", limits));
        let order: Vec<&[u8]> = h.pairs().map(|(f, _)| f).collect();
        assert_eq!(order, [&b"b"[..], b"a"]);
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"c", b"12345", limits));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"b"), Some(&b"3"[..]));
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn a_table_scan_visits_every_field_once() {
        let limits = HashLimits {
            max_entries: 1,
            max_value: 64,
        };
        let mut h = Hash::default();
        for i in 0..500 {
            h.set(format!("f{i}").as_bytes(), b"v", limits);
        }
        let (mut cursor, mut seen) = (0, std::collections::BTreeSet::new());
        loop {
            let (next, batch) = h.scan(cursor, 7);
            for (f, _) in batch {
                assert!(seen.insert(f.to_vec()));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen.len(), 500);
    }
}
