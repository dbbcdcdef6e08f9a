//! The large encoding of hashes and sets (Redis's `hashtable`): groups of `N` byte strings (a
//! set's member, or a hash's field and value) bucketed by a stable 64-bit hash of the group's
//! first item, each bucket one packed run. A group costs its bytes, a share of a tree entry
//! and no handle of its own; lookups borrow the caller's bytes (no copy); and SCAN's cursor
//! is a bucket's hash, so a scan keeps Redis's guarantee (what stays for the whole scan is
//! returned at least once). Two keys share a bucket only when their hashes collide.

use std::collections::BTreeMap;

use crate::hash::scan_hash;
use crate::packed;

/// Groups of `N` items, by the hash of their first item; each bucket is one exactly sized
/// packed run (rewritten whole on a change: a bucket almost always holds one group).
#[derive(Debug, Clone, Default)]
pub struct Bucketed<const N: usize> {
    buckets: BTreeMap<u64, Box<[u8]>>,
    len: usize,
}

/// The groups of a bucket, in order.
fn groups<const N: usize>(bucket: &[u8]) -> impl Iterator<Item = [&[u8]; N]> + '_ {
    let mut it = packed::items(bucket);
    std::iter::from_fn(move || {
        let mut group = [&[][..]; N];
        for slot in group.iter_mut() {
            *slot = it.next()?;
        }
        Some(group)
    })
}

/// `bucket` rebuilt with its groups passed through `edit` (which may drop or add some).
fn rebuilt<'a, const N: usize>(
    bucket: &'a [u8],
    edit: impl FnOnce(&mut Vec<[&'a [u8]; N]>),
) -> Box<[u8]> {
    let mut all: Vec<[&[u8]; N]> = groups::<N>(bucket).collect();
    edit(&mut all);
    packed::encode(all.iter().flat_map(|g| g.iter().copied()))
}

impl<const N: usize> Bucketed<N> {
    /// Number of groups.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No groups.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The group whose first item is `key`.
    pub fn get(&self, key: &[u8]) -> Option<[&[u8]; N]> {
        groups::<N>(self.buckets.get(&scan_hash(key))?).find(|g| g[0] == key)
    }

    /// Stores `group`, replacing the group with the same first item; true when it is new.
    pub fn insert(&mut self, group: [&[u8]; N]) -> bool {
        let h = scan_hash(group[0]);
        let Some(bucket) = self.buckets.get_mut(&h) else {
            self.buckets.insert(h, packed::encode(group));
            self.len += 1;
            return true;
        };
        let mut new = true;
        let updated = rebuilt::<N>(bucket, |all| {
            match all.iter().position(|g| g[0] == group[0]) {
                Some(i) => {
                    all[i] = group;
                    new = false;
                }
                None => all.push(group),
            }
        });
        *bucket = updated;
        self.len += usize::from(new);
        new
    }

    /// Removes the group whose first item is `key`; true when it was there.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let h = scan_hash(key);
        let Some(bucket) = self.buckets.get_mut(&h) else {
            return false;
        };
        if !groups::<N>(bucket).any(|g| g[0] == key) {
            return false;
        }
        let updated = rebuilt::<N>(bucket, |all| all.retain(|g| g[0] != key));
        if updated.is_empty() {
            self.buckets.remove(&h);
        } else {
            *bucket = updated;
        }
        self.len -= 1;
        true
    }

    /// Every group, in hash order.
    pub fn iter(&self) -> impl Iterator<Item = [&[u8]; N]> + '_ {
        self.buckets.values().flat_map(|b| groups::<N>(b))
    }

    /// The first group at or after the random point `seed` of hash order (wrapping): a random
    /// pick in O(log n).
    pub fn random(&self, seed: u64) -> Option<[&[u8]; N]> {
        self.buckets
            .range(seed..)
            .next()
            .or_else(|| self.buckets.iter().next())
            .and_then(|(_, bucket)| groups::<N>(bucket).next())
    }

    /// SCAN from `cursor`: the groups of up to `count` buckets, and the next cursor (0 when
    /// done).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<[&[u8]; N]>) {
        let mut out = Vec::with_capacity(count.min(self.len));
        let mut iter = self.buckets.range(cursor..);
        for (_, bucket) in iter.by_ref().take(count) {
            out.extend(groups::<N>(bucket));
        }
        let next = iter.next().map_or(0, |(h, _)| *h);
        (next, out)
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.values().map(|b| b.len() + 40).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_found_replaced_removed_and_scanned() {
        let mut b = Bucketed::<2>::default();
        for i in 0..300 {
            assert!(b.insert([format!("f{i}").as_bytes(), b"v"]));
        }
        assert!(!b.insert([b"f7", b"seven"]));
        assert_eq!(b.get(b"f7"), Some([&b"f7"[..], b"seven"]));
        assert!(b.remove(b"f8") && !b.remove(b"f8"));
        assert_eq!(b.len(), 299);
        let (mut cursor, mut seen) = (0, 0);
        loop {
            let (next, batch) = b.scan(cursor, 10);
            seen += batch.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen, 299);
        assert!(b.random(12345).is_some());
    }
}
