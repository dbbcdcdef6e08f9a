//! Sorted sets, in Redis's two encodings: a listpack (members in score order, up to
//! `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes, found by a
//! scan) and a skiplist (the same order plus an index from member to score). Rill keeps the
//! order in chunks of at most [`CHUNK`] entries, which gives ranks and ranges without a
//! pointer per entry; the index of the large encoding is ordered by a stable hash of the
//! member, so ZSCAN keeps Redis's guarantee. A sorted set only moves to the larger encoding
//! while it lives, as in Redis; the results of ZRANGESTORE and the store forms of the set
//! operations are shaped by their final size.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bytes::Bytes;

use crate::hash::scan_hash;
use crate::packed::Packed;

/// The most entries a chunk of the order holds before it splits in two.
const CHUNK: usize = 128;

/// When a sorted set changes encoding (`zset-max-listpack-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZSetLimits {
    /// Members a listpack may hold.
    pub listpack_entries: u64,
    /// Longest member a listpack may hold, in bytes.
    pub listpack_value: u64,
}

impl Default for ZSetLimits {
    fn default() -> Self {
        ZSetLimits {
            listpack_entries: 128,
            listpack_value: 64,
        }
    }
}

/// One member and its score.
pub type Entry = (f64, Bytes);

/// Redis's order: by score, then by member bytes (scores are never NaN).
pub fn order(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

/// A sorted-set value.
#[derive(Debug, Clone)]
pub struct ZSet {
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// `listpack`: score (8 bytes, little-endian f64), member, score, member... in order, in
    /// one buffer: a ten-member set costs a little over its bytes.
    Small(Packed),
    /// `skiplist`: the order in chunks, and an index from member to score.
    Large(Large),
}

#[derive(Debug, Clone, Default)]
struct Large {
    /// Every entry in order, split in chunks of at most [`CHUNK`]; no chunk is empty.
    chunks: Vec<Vec<Entry>>,
    len: usize,
    /// Member → score, ordered by (scan hash, member).
    index: BTreeMap<(u64, Bytes), f64>,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            body: Body::Small(Packed::default()),
        }
    }
}

/// The entries of a packed sorted set, in order.
fn packed_entries(items: &Packed) -> impl Iterator<Item = (f64, &[u8])> + '_ {
    let mut it = items.iter();
    std::iter::from_fn(move || {
        let score = it.next()?;
        let member = it.next()?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(score.get(..8)?);
        Some((f64::from_le_bytes(raw), member))
    })
}

impl ZSet {
    /// An empty sorted set shaped as Redis's `zsetTypeCreate` shapes it for `size_hint`
    /// members of at most `longest` bytes.
    pub fn with_hint(size_hint: usize, longest: usize, limits: ZSetLimits) -> ZSet {
        let small = size_hint as u64 <= limits.listpack_entries
            && longest as u64 <= limits.listpack_value
            && limits.listpack_entries > 0;
        ZSet {
            body: if small {
                Body::Small(Packed::default())
            } else {
                Body::Large(Large::default())
            },
        }
    }

    /// A sorted set holding `entries` (distinct members), encoded by its final size as the
    /// store commands leave it (`zsetConvertToListpackIfNeeded`).
    pub fn from_entries(mut entries: Vec<Entry>, limits: ZSetLimits) -> ZSet {
        entries.sort_by(|a, b| order((a.0, &a.1), (b.0, &b.1)));
        let longest = entries.iter().map(|e| e.1.len()).max().unwrap_or(0);
        let mut z = ZSet::with_hint(entries.len(), longest, limits);
        match &mut z.body {
            Body::Small(items) => {
                for (score, member) in &entries {
                    let score = if *score == 0.0 { 0.0 } else { *score };
                    items.push(&score.to_le_bytes());
                    items.push(member);
                }
            }
            Body::Large(large) => {
                for (score, member) in &entries {
                    large
                        .index
                        .insert((scan_hash(member), member.clone()), *score);
                }
                large.len = entries.len();
                large.chunks = chunked(entries);
            }
        }
        z
    }

    /// Moves a listpack to a skiplist before a command adds `size_hint` members to it, when
    /// that many would not fit (Redis's `zsetTypeMaybeConvert`).
    pub fn grow_for(&mut self, size_hint: usize, limits: ZSetLimits) {
        if self.is_small() && size_hint as u64 > limits.listpack_entries {
            self.become_skiplist();
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Small(items) => items.len() / 2,
            Body::Large(large) => large.len,
        }
    }

    /// No members (such a set is deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the set is a listpack.
    pub fn is_small(&self) -> bool {
        matches!(self.body, Body::Small(_))
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        if self.is_small() {
            "listpack"
        } else {
            "skiplist"
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.body {
            Body::Small(items) => packed_entries(items)
                .find(|(_, m)| *m == member)
                .map(|(s, _)| s),
            Body::Large(large) => large
                .index
                .get(&(scan_hash(member), Bytes::copy_from_slice(member)))
                .copied(),
        }
    }

    /// Every entry, lowest first.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Entry> + '_> {
        match &self.body {
            Body::Small(items) => {
                Box::new(packed_entries(items).map(|(s, m)| (s, Bytes::copy_from_slice(m))))
            }
            Body::Large(large) => Box::new(large.chunks.iter().flatten().cloned()),
        }
    }

    /// Sets `member`'s score, adding it when new; the old score when it was there. A new
    /// member that does not fit the listpack moves the set to a skiplist first. A listpack
    /// keeps -0 as 0, as Redis's (an integer in its listpack) does; a skiplist keeps the sign.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZSetLimits) -> Option<f64> {
        let old = self.score(member);
        if old.is_none()
            && self.is_small()
            && (self.len() as u64 >= limits.listpack_entries
                || member.len() as u64 > limits.listpack_value)
        {
            self.become_skiplist();
        }
        match &mut self.body {
            Body::Small(items) => {
                let score = if score == 0.0 { 0.0 } else { score };
                let found = packed_entries(items).position(|(_, m)| m == member);
                if let Some(i) = found {
                    if old.is_some_and(|o| o.to_bits() == score.to_bits()) {
                        return old;
                    }
                    items.remove(2 * i, 2);
                }
                let at = packed_entries(items)
                    .position(|(s, m)| order((s, m), (score, member)) == Ordering::Greater)
                    .unwrap_or(items.len() / 2);
                items.insert(2 * at, &score.to_le_bytes());
                items.insert(2 * at + 1, member);
            }
            Body::Large(large) => {
                if let Some(old_score) = old {
                    if old_score.to_bits() == score.to_bits() {
                        return old;
                    }
                    large.remove_from_order(old_score, member);
                }
                let member = Bytes::copy_from_slice(member);
                large
                    .index
                    .insert((scan_hash(&member), member.clone()), score);
                large.insert_in_order((score, member));
            }
        }
        old
    }

    /// Removes `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.body {
            Body::Small(items) => {
                let (i, score) = packed_entries(items)
                    .enumerate()
                    .find(|(_, (_, m))| *m == member)
                    .map(|(i, (s, _))| (i, s))?;
                items.remove(2 * i, 2);
                Some(score)
            }
            Body::Large(large) => {
                let score = large
                    .index
                    .remove(&(scan_hash(member), Bytes::copy_from_slice(member)))?;
                large.remove_from_order(score, member);
                Some(score)
            }
        }
    }

    /// The 0-based rank of `member`, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_before(|e| order((e.0, &e.1), (score, member)) == Ordering::Less))
    }

    /// How many leading entries satisfy `before` (which holds for a prefix of the order).
    pub fn count_before(&self, before: impl Fn(&Entry) -> bool) -> usize {
        match &self.body {
            Body::Small(_) => self.iter().take_while(|e| before(e)).count(),
            Body::Large(large) => {
                let chunk = large
                    .chunks
                    .partition_point(|c| c.last().is_some_and(&before));
                let skipped: usize = large.chunks[..chunk].iter().map(Vec::len).sum();
                skipped
                    + large
                        .chunks
                        .get(chunk)
                        .map_or(0, |c| c.partition_point(&before))
            }
        }
    }

    /// Up to `count` entries from rank `from` going up, or going down when `rev`.
    pub fn slice(&self, from: usize, count: usize, rev: bool) -> Vec<Entry> {
        let len = self.len();
        if from >= len || count == 0 {
            return Vec::new();
        }
        let Body::Large(large) = &self.body else {
            let all: Vec<Entry> = self.iter().collect();
            return if rev {
                all[..=from].iter().rev().take(count).cloned().collect()
            } else {
                all[from..].iter().take(count).cloned().collect()
            };
        };
        let (ci, off) = large.position(from);
        let mut out = Vec::with_capacity(count.min(len));
        if rev {
            let head = large.chunks[ci][..=off].iter().rev();
            let rest = large.chunks[..ci].iter().rev().flat_map(|c| c.iter().rev());
            out.extend(head.chain(rest).take(count).cloned());
        } else {
            let head = large.chunks[ci][off..].iter();
            let rest = large.chunks[ci + 1..].iter().flatten();
            out.extend(head.chain(rest).take(count).cloned());
        }
        out
    }

    /// The entry at rank `i`.
    pub fn at(&self, i: usize) -> Option<Entry> {
        match &self.body {
            Body::Small(_) => self.iter().nth(i),
            Body::Large(large) => (i < large.len).then(|| {
                let (ci, off) = large.position(i);
                large.chunks[ci][off].clone()
            }),
        }
    }

    /// Removes the entries of ranks `from..to` and returns them, lowest first.
    pub fn remove_ranks(&mut self, from: usize, to: usize) -> Vec<Entry> {
        let to = to.min(self.len());
        if from >= to {
            return Vec::new();
        }
        let entries: Vec<Entry> = self.slice(from, to - from, false);
        match &mut self.body {
            Body::Small(items) => items.remove(2 * from, 2 * (to - from)),
            Body::Large(large) => {
                for (score, member) in &entries {
                    large.index.remove(&(scan_hash(member), member.clone()));
                    large.remove_from_order(*score, member);
                }
            }
        }
        entries
    }

    /// ZSCAN from `cursor`: at least `count` entries of a skiplist (in index order, a cursor
    /// being the next member's scan hash); a listpack answers whole.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Entry>) {
        match &self.body {
            Body::Large(large) => {
                let mut iter = large.index.range((cursor, Bytes::new())..);
                let out: Vec<Entry> = iter
                    .by_ref()
                    .take(count)
                    .map(|((_, m), s)| (*s, m.clone()))
                    .collect();
                let next = iter.next().map_or(0, |((h, _), _)| *h);
                (next, out)
            }
            Body::Small(_) => (0, self.iter().collect()),
        }
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match &self.body {
            Body::Small(items) => items.heap_bytes(),
            Body::Large(large) => {
                let order: usize = large
                    .chunks
                    .iter()
                    .map(|c| {
                        c.capacity() * std::mem::size_of::<Entry>()
                            + c.iter().map(|e| e.1.len()).sum::<usize>()
                    })
                    .sum();
                order + large.index.len() * 64
            }
        }
    }

    fn become_skiplist(&mut self) {
        if let Body::Small(_) = &self.body {
            let entries: Vec<Entry> = self.iter().collect();
            let mut large = Large {
                len: entries.len(),
                ..Large::default()
            };
            for (score, member) in &entries {
                large
                    .index
                    .insert((scan_hash(member), member.clone()), *score);
            }
            large.chunks = chunked(entries);
            self.body = Body::Large(large);
        }
    }
}

impl Large {
    /// (chunk, offset) of rank `i` (< len).
    fn position(&self, mut i: usize) -> (usize, usize) {
        for (ci, c) in self.chunks.iter().enumerate() {
            if i < c.len() {
                return (ci, i);
            }
            i -= c.len();
        }
        (
            self.chunks.len() - 1,
            self.chunks.last().map_or(0, Vec::len),
        )
    }

    fn insert_in_order(&mut self, entry: Entry) {
        let key = |e: &Entry| order((e.0, &e.1), (entry.0, &entry.1)) == Ordering::Less;
        let ci = self
            .chunks
            .partition_point(|c| c.last().is_some_and(key))
            .min(self.chunks.len().saturating_sub(1));
        self.len += 1;
        let Some(chunk) = self.chunks.get_mut(ci) else {
            self.chunks.push(vec![entry]);
            return;
        };
        let at = chunk.partition_point(key);
        chunk.insert(at, entry);
        if chunk.len() > CHUNK {
            let tail = chunk.split_off(CHUNK / 2);
            self.chunks.insert(ci + 1, tail);
        }
    }

    fn remove_from_order(&mut self, score: f64, member: &[u8]) {
        let key = |e: &Entry| order((e.0, &e.1), (score, member)) == Ordering::Less;
        let ci = self.chunks.partition_point(|c| c.last().is_some_and(key));
        let Some(chunk) = self.chunks.get_mut(ci) else {
            return;
        };
        let at = chunk.partition_point(key);
        if chunk.get(at).is_some_and(|e| e.1 == member) {
            chunk.remove(at);
            self.len -= 1;
            if chunk.is_empty() {
                self.chunks.remove(ci);
            }
        }
    }
}

/// `entries` (in order) cut into half-full chunks.
fn chunked(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut chunks = Vec::with_capacity(entries.len().div_ceil(CHUNK / 2 + 1));
    let mut iter = entries.into_iter().peekable();
    while iter.peek().is_some() {
        chunks.push(iter.by_ref().take(CHUNK / 2 + CHUNK / 4).collect());
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ranks_and_encodings() {
        let limits = ZSetLimits {
            listpack_entries: 4,
            listpack_value: 8,
        };
        let mut z = ZSet::with_hint(1, 1, limits);
        for (i, m) in ["d", "c", "b", "a"].iter().enumerate() {
            assert_eq!(z.insert(m.as_bytes(), i as f64, limits), None);
        }
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.rank(b"d"), Some(0));
        assert_eq!(z.insert(b"d", 10.0, limits), Some(0.0));
        assert_eq!(z.rank(b"d"), Some(3));
        z.insert(b"e", 2.0, limits);
        assert_eq!(z.encoding(), "skiplist");
        let order: Vec<Bytes> = z.iter().map(|e| e.1).collect();
        assert_eq!(order, ["c", "b", "e", "a", "d"]);
        assert_eq!(z.remove(b"b"), Some(2.0));
        assert_eq!(z.score(b"e"), Some(2.0));
        assert_eq!(z.slice(3, 10, true).len(), 4);
    }

    #[test]
    fn many_members_stay_ordered_across_chunks() {
        let limits = ZSetLimits::default();
        let mut z = ZSet::with_hint(0, 0, limits);
        for i in 0..2000u32 {
            let n = (i * 7919) % 2000;
            z.insert(n.to_string().as_bytes(), f64::from(n), limits);
        }
        assert_eq!(z.len(), 2000);
        assert!(z.iter().zip(z.iter().skip(1)).all(|(a, b)| a.0 < b.0));
        assert_eq!(z.rank(b"1500"), Some(1500));
        assert_eq!(z.at(777).map(|e| e.0), Some(777.0));
        let gone = z.remove_ranks(100, 1900);
        assert_eq!(gone.len(), 1800);
        assert_eq!(z.len(), 200);
        assert_eq!(z.rank(b"1900"), Some(100));
        assert_eq!(z.score(b"500"), None);
    }
}
