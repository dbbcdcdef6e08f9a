//! Hashes: field/value maps, in Redis's two encodings. A small hash (at most
//! `hash-max-listpack-entries` fields, none longer than `hash-max-listpack-value` bytes) is a
//! list in insertion order, as Redis's listpack: HGETALL answers in that order and HSCAN
//! returns it whole. Past either limit it becomes a table for good (Redis never converts
//! back), ordered by a stable hash of the field so that HSCAN's cursor keeps Redis's
//! guarantee: a field present for the whole scan is returned.

use std::collections::BTreeMap;
use std::hash::{Hash as _, Hasher};

use bytes::Bytes;

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

/// A hash value.
#[derive(Debug, Clone)]
pub enum Hash {
    /// Redis's `listpack`: pairs in insertion order.
    Small(Vec<(Bytes, Bytes)>),
    /// Redis's `hashtable`: pairs by (scan hash of the field, field).
    Table(BTreeMap<(u64, Bytes), Bytes>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Small(Vec::new())
    }
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
        match self {
            Hash::Small(pairs) => pairs.len(),
            Hash::Table(map) => map.len(),
        }
    }

    /// No fields (such a hash is deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Small(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        match self {
            Hash::Small(pairs) => pairs.iter().find(|(f, _)| f == field).map(|(_, v)| v),
            Hash::Table(map) => map.get(&(scan_hash(field), Bytes::copy_from_slice(field))),
        }
    }

    /// Sets `field` to `value`; true when the field is new. Fields and values get their own
    /// allocations (they usually arrive as slices of a request buffer).
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        let too_long = |b: &[u8]| b.len() as u64 > limits.max_value;
        if let Hash::Small(pairs) = self {
            if let Some(slot) = pairs.iter_mut().find(|(f, _)| f == field) {
                slot.1 = Bytes::copy_from_slice(value);
                if too_long(value) {
                    self.convert();
                }
                return false;
            }
            if pairs.len() as u64 >= limits.max_entries || too_long(field) || too_long(value) {
                self.convert();
            } else {
                pairs.push((Bytes::copy_from_slice(field), Bytes::copy_from_slice(value)));
                return true;
            }
        }
        let Hash::Table(map) = self else {
            return false;
        };
        map.insert(
            (scan_hash(field), Bytes::copy_from_slice(field)),
            Bytes::copy_from_slice(value),
        )
        .is_none()
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Small(pairs) => match pairs.iter().position(|(f, _)| f == field) {
                Some(i) => {
                    pairs.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(map) => map
                .remove(&(scan_hash(field), Bytes::copy_from_slice(field)))
                .is_some(),
        }
    }

    /// Turns a listpack into a table.
    fn convert(&mut self) {
        if let Hash::Small(pairs) = self {
            let map = std::mem::take(pairs)
                .into_iter()
                .map(|(f, v)| ((scan_hash(&f), f), v))
                .collect();
            *self = Hash::Table(map);
        }
    }

    /// Every pair, in the encoding's order.
    pub fn pairs(&self) -> Box<dyn Iterator<Item = (&Bytes, &Bytes)> + '_> {
        match self {
            Hash::Small(pairs) => Box::new(pairs.iter().map(|(f, v)| (f, v))),
            Hash::Table(map) => Box::new(map.iter().map(|((_, f), v)| (f, v))),
        }
    }

    /// The pair at position `i` of the encoding's order (for random picks).
    pub fn nth(&self, i: usize) -> Option<(&Bytes, &Bytes)> {
        self.pairs().nth(i)
    }

    /// A pair near the random point `seed`: for a table, the first at or after it in hash
    /// order (wrapping), which is how a random pick costs O(log n) there.
    pub fn random_pair(&self, seed: u64) -> Option<(&Bytes, &Bytes)> {
        match self {
            Hash::Small(pairs) => {
                let n = pairs.len();
                (n > 0).then(|| {
                    let (f, v) = &pairs[(seed % n as u64) as usize];
                    (f, v)
                })
            }
            Hash::Table(map) => map
                .range((seed, Bytes::new())..)
                .next()
                .or_else(|| map.iter().next())
                .map(|((_, f), v)| (f, v)),
        }
    }

    /// HSCAN: from `cursor`, at least `count` pairs (a listpack answers whole, as in Redis),
    /// and the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&Bytes, &Bytes)>) {
        match self {
            Hash::Small(pairs) => (0, pairs.iter().map(|(f, v)| (f, v)).collect()),
            Hash::Table(map) => {
                let mut out = Vec::with_capacity(count.min(map.len()));
                let mut iter = map.range((cursor, Bytes::new())..);
                for ((_, f), v) in iter.by_ref().take(count) {
                    out.push((f, v));
                }
                let next = iter.next().map_or(0, |((h, _), _)| *h);
                (next, out)
            }
        }
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        let per_pair = |f: &Bytes, v: &Bytes| f.len() + v.len() + 2 * 32;
        match self {
            Hash::Small(pairs) => pairs.iter().map(|(f, v)| per_pair(f, v)).sum(),
            Hash::Table(map) => map.iter().map(|((_, f), v)| per_pair(f, v) + 24).sum(),
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
        let order: Vec<&[u8]> = h.pairs().map(|(f, _)| f.as_ref()).collect();
        assert_eq!(order, [&b"b"[..], b"a"]);
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"c", b"12345", limits));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"b").map(|v| v.as_ref()), Some(&b"3"[..]));
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
                assert!(seen.insert(f.clone()));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen.len(), 500);
    }
}
