//! Sorted sets, in Redis's two encodings: a listpack (members in score order, up to
//! `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes, found by a
//! scan) and a skiplist (the same order plus an index from member to score). Rill keeps the
//! order in chunks of at most [`CHUNK`] entries, which gives ranks and ranges without a
//! pointer per entry; the index of the large encoding is ordered by a stable hash of the
//! member, so ZSCAN keeps Redis's guarantee. A sorted set only moves to the larger encoding
//! while it lives, as in Redis; the results of ZRANGESTORE and the store forms of the set
//! operations are shaped by their final size.

use std::cmp::Ordering;

use bytes::Bytes;

use crate::bucketed::Bucketed;
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
    Large(Box<Large>),
}

/// The skiplist encoding: entries in order in packed chunks (score as 8 bytes, then the
/// member; at most [`CHUNK`] entries each), the highest entry of each chunk to find a chunk by
/// binary search, and an index from member to score. Members are stored as bytes, twice, and
/// never as handles: no per-member allocation or pointer.
#[derive(Debug, Clone, Default)]
struct Large {
    chunks: Vec<Packed>,
    maxima: Vec<Entry>,
    len: usize,
    index: Bucketed<2>,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet {
            body: Body::Small(Packed::default()),
        }
    }
}

/// A score as packed runs keep it, in the fewest bytes that give it back exactly (a listpack
/// too stores `3` in a byte, `1.5` as text): 8 bytes are an f64, 4 an f32, and any other
/// length (0 to 7) a whole number as a little-endian two's-complement integer.
struct ScoreItem {
    buf: [u8; 8],
    len: u8,
}

impl std::ops::Deref for ScoreItem {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// `score` as a [`ScoreItem`].
fn score_item(score: f64) -> ScoreItem {
    let whole = score.fract() == 0.0 && score.abs() < (1u64 << 53) as f64;
    // -0 is not whole here: a skiplist keeps its sign.
    if whole && !(score == 0.0 && score.is_sign_negative()) {
        let n = score as i64;
        let fits = |len: u32| (len == 0 && n == 0) || (len > 0 && n >> (8 * len - 1) == n >> 63);
        if let Some(len) = [0u32, 1, 2, 3, 5, 6, 7].into_iter().find(|&len| fits(len)) {
            return ScoreItem {
                buf: n.to_le_bytes(),
                len: len as u8,
            };
        }
    }
    let single = score as f32;
    if f64::from(single) == score {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&single.to_le_bytes());
        return ScoreItem { buf, len: 4 };
    }
    ScoreItem {
        buf: score.to_le_bytes(),
        len: 8,
    }
}

/// The score a [`ScoreItem`] holds.
fn item_score(raw: &[u8]) -> f64 {
    match raw.len() {
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(raw);
            f64::from_le_bytes(b)
        }
        4 => f64::from(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])),
        len @ 1..=7 => {
            let mut b = [0u8; 8];
            b[..len].copy_from_slice(raw);
            let shift = 64 - 8 * len as u32;
            ((i64::from_le_bytes(b) << shift) >> shift) as f64
        }
        _ => 0.0,
    }
}

/// The entries of a packed sorted set, in order.
fn packed_entries(items: &Packed) -> impl Iterator<Item = (f64, &[u8])> + '_ {
    let mut it = items.iter();
    std::iter::from_fn(move || {
        let score = it.next()?;
        let member = it.next()?;
        Some((item_score(score), member))
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
                Body::Large(Box::default())
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
                    items.push(&score_item(score));
                    items.push(member);
                }
            }
            Body::Large(large) => **large = Large::from_sorted(&entries),
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
            Body::Large(large) => large.score(member),
        }
    }

    /// Every entry, lowest first.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Entry> + '_> {
        match &self.body {
            Body::Small(items) => {
                Box::new(packed_entries(items).map(|(s, m)| (s, Bytes::copy_from_slice(m))))
            }
            Body::Large(large) => Box::new(large.iter()),
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
                items.insert(2 * at, &score_item(score));
                items.insert(2 * at + 1, member);
            }
            Body::Large(large) => {
                large.insert(member, score);
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
            Body::Large(large) => large.remove(member),
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
            Body::Large(large) => large.count_before(before),
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
        large.slice(from, count, rev)
    }

    /// The entry at rank `i`.
    pub fn at(&self, i: usize) -> Option<Entry> {
        match &self.body {
            Body::Small(_) => self.iter().nth(i),
            Body::Large(large) => large.at(i),
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
                    large.index.remove(member);
                    large.remove_entry(*score, member);
                }
            }
        }
        entries
    }

    /// ZSCAN from `cursor`: at least `count` entries of a skiplist (in index order, a cursor
    /// being the next member's scan hash); a listpack answers whole.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Entry>) {
        match &self.body {
            Body::Large(large) => large.scan(cursor, count),
            Body::Small(_) => (0, self.iter().collect()),
        }
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match &self.body {
            Body::Small(items) => items.heap_bytes(),
            Body::Large(large) => large.heap_bytes(),
        }
    }

    fn become_skiplist(&mut self) {
        if let Body::Small(_) = &self.body {
            let entries: Vec<Entry> = self.iter().collect();
            self.body = Body::Large(Box::new(Large::from_sorted(&entries)));
        }
    }
}

impl Large {
    /// A skiplist of `entries`, already in order and distinct.
    fn from_sorted(entries: &[Entry]) -> Large {
        let mut large = Large {
            len: entries.len(),
            ..Large::default()
        };
        for (score, member) in entries {
            large.index.insert([member, &score_item(*score)]);
        }
        for part in entries.chunks(CHUNK / 2 + CHUNK / 4) {
            let mut chunk = Packed::default();
            for (score, member) in part {
                chunk.push(&score_item(*score));
                chunk.push(member);
            }
            large.chunks.push(chunk);
            if let Some(last) = part.last() {
                large.maxima.push(last.clone());
            }
        }
        large
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        let [_, raw] = self.index.get(member)?;
        Some(item_score(raw))
    }

    fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.chunks
            .iter()
            .flat_map(packed_entries)
            .map(|(s, m)| (s, Bytes::copy_from_slice(m)))
    }

    /// The chunk an entry ordered like `(score, member)` belongs in.
    fn chunk_for(&self, score: f64, member: &[u8]) -> usize {
        self.maxima
            .partition_point(|m| order((m.0, &m.1), (score, member)) == Ordering::Less)
            .min(self.chunks.len().saturating_sub(1))
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let old = self.score(member);
        if let Some(old_score) = old {
            if old_score.to_bits() == score.to_bits() {
                return old;
            }
            self.remove_entry(old_score, member);
        }
        self.index.insert([member, &score_item(score)]);
        self.len += 1;
        if self.chunks.is_empty() {
            let mut chunk = Packed::default();
            chunk.push(&score_item(score));
            chunk.push(member);
            self.chunks.push(chunk);
            self.maxima.push((score, Bytes::copy_from_slice(member)));
            return old;
        }
        let ci = self.chunk_for(score, member);
        let chunk = &mut self.chunks[ci];
        let at = packed_entries(chunk)
            .position(|(s, m)| order((s, m), (score, member)) == Ordering::Greater)
            .unwrap_or(chunk.len() / 2);
        chunk.insert(2 * at, &score_item(score));
        chunk.insert(2 * at + 1, member);
        if at + 1 == chunk.len() / 2 {
            self.maxima[ci] = (score, Bytes::copy_from_slice(member));
        }
        if chunk.len() / 2 > CHUNK {
            self.split(ci);
        }
        old
    }

    /// Cuts chunk `ci` in two halves.
    fn split(&mut self, ci: usize) {
        let entries: Vec<(f64, Vec<u8>)> = packed_entries(&self.chunks[ci])
            .map(|(s, m)| (s, m.to_vec()))
            .collect();
        let half = entries.len() / 2;
        let pack = |part: &[(f64, Vec<u8>)]| {
            let mut chunk = Packed::default();
            for (s, m) in part {
                chunk.push(&score_item(*s));
                chunk.push(m);
            }
            chunk
        };
        let (head, tail) = entries.split_at(half);
        self.chunks[ci] = pack(head);
        self.chunks.insert(ci + 1, pack(tail));
        if let Some((s, m)) = head.last() {
            self.maxima.insert(ci, (*s, Bytes::copy_from_slice(m)));
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.score(member)?;
        self.index.remove(member);
        self.remove_entry(score, member);
        Some(score)
    }

    /// Removes `(score, member)` from the order (the index is the caller's).
    fn remove_entry(&mut self, score: f64, member: &[u8]) {
        if self.chunks.is_empty() {
            return;
        }
        let ci = self.chunk_for(score, member);
        let chunk = &mut self.chunks[ci];
        let Some(at) = packed_entries(chunk).position(|(_, m)| m == member) else {
            return;
        };
        chunk.remove(2 * at, 2);
        self.len -= 1;
        if chunk.is_empty() {
            self.chunks.remove(ci);
            self.maxima.remove(ci);
        } else if at == chunk.len() / 2 {
            if let Some((s, m)) = packed_entries(chunk).last() {
                self.maxima[ci] = (s, Bytes::copy_from_slice(m));
            }
        }
    }

    fn count_before(&self, before: impl Fn(&Entry) -> bool) -> usize {
        let ci = self.maxima.partition_point(&before);
        let skipped: usize = self.chunks[..ci].iter().map(|c| c.len() / 2).sum();
        skipped
            + self.chunks.get(ci).map_or(0, |c| {
                packed_entries(c)
                    .take_while(|(s, m)| before(&(*s, Bytes::copy_from_slice(m))))
                    .count()
            })
    }

    /// (chunk, entry within it) of rank `i` (< len).
    fn position(&self, mut i: usize) -> (usize, usize) {
        for (ci, c) in self.chunks.iter().enumerate() {
            let n = c.len() / 2;
            if i < n {
                return (ci, i);
            }
            i -= n;
        }
        (self.chunks.len(), 0)
    }

    fn chunk_entries(&self, ci: usize) -> Vec<Entry> {
        self.chunks.get(ci).map_or(Vec::new(), |c| {
            packed_entries(c)
                .map(|(s, m)| (s, Bytes::copy_from_slice(m)))
                .collect()
        })
    }

    fn slice(&self, from: usize, count: usize, rev: bool) -> Vec<Entry> {
        let (mut ci, off) = self.position(from);
        let mut out = Vec::with_capacity(count.min(self.len));
        if rev {
            let mut head: Vec<Entry> = self.chunk_entries(ci);
            head.truncate(off + 1);
            out.extend(head.into_iter().rev().take(count));
            while out.len() < count && ci > 0 {
                ci -= 1;
                let need = count - out.len();
                out.extend(self.chunk_entries(ci).into_iter().rev().take(need));
            }
        } else {
            let head = self
                .chunks
                .get(ci)
                .into_iter()
                .flat_map(|c| packed_entries(c).skip(off));
            let rest = self.chunks.iter().skip(ci + 1).flat_map(packed_entries);
            out.extend(
                head.chain(rest)
                    .take(count)
                    .map(|(s, m)| (s, Bytes::copy_from_slice(m))),
            );
        }
        out
    }

    fn at(&self, i: usize) -> Option<Entry> {
        if i >= self.len {
            return None;
        }
        let (ci, off) = self.position(i);
        packed_entries(self.chunks.get(ci)?)
            .nth(off)
            .map(|(s, m)| (s, Bytes::copy_from_slice(m)))
    }

    fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Entry>) {
        let (next, groups) = self.index.scan(cursor, count);
        let entries = groups
            .into_iter()
            .map(|[m, raw]| (item_score(raw), Bytes::copy_from_slice(m)))
            .collect();
        (next, entries)
    }

    fn heap_bytes(&self) -> usize {
        self.chunks.iter().map(Packed::heap_bytes).sum::<usize>()
            + self.maxima.len() * 48
            + self.index.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every score comes back bit for bit, in as few bytes as hold it.
    #[test]
    fn scores_pack_small_and_come_back_exactly() {
        let two53 = (1u64 << 53) as f64;
        let cases = [
            (0.0, 0),
            (1.0, 1),
            (-1.0, 1),
            (127.0, 1),
            (128.0, 2),
            (-32768.0, 2),
            (8_388_607.0, 3),
            (8_388_608.0, 5),
            (2_147_483_647.0, 5),
            (two53 - 1.0, 7),
            (-(two53 - 1.0), 7),
            (1.5, 4),
            (-0.0, 4),
            (f64::INFINITY, 4),
            (f64::NEG_INFINITY, 4),
            (two53, 4),
            (0.1, 8),
            (1e300, 8),
            (5e-324, 8),
            (two53 + 2.0, 8),
        ];
        for (score, len) in cases {
            let item = score_item(score);
            assert_eq!(item.len(), len, "{score}");
            assert_eq!(item_score(&item).to_bits(), score.to_bits(), "{score}");
        }
    }

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

    /// Random adds, score changes, removals and rank removals on a skiplist, against a plain
    /// ordered model after every step.
    #[test]
    fn skiplist_chunks_follow_a_model() {
        let limits = ZSetLimits {
            listpack_entries: 0,
            listpack_value: 64,
        };
        let mut z = ZSet::with_hint(1, 1, limits);
        let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for step in 0..6000 {
            let member = format!("m{}", next(900)).into_bytes();
            let score = (next(200) as f64) / 2.0;
            match next(10) {
                0..=5 => {
                    assert_eq!(
                        z.insert(&member, score, limits),
                        model.insert(member, score)
                    );
                }
                6 | 7 => assert_eq!(z.remove(&member), model.remove(&member)),
                8 if step % 50 == 0 && !model.is_empty() => {
                    let from = next(model.len() as u64) as usize;
                    let gone = z.remove_ranks(from, from + 5);
                    for (_, m) in &gone {
                        model.remove(&m[..]);
                    }
                }
                _ => {}
            }
            assert_eq!(z.len(), model.len());
        }
        let mut sorted: Vec<Entry> = model
            .iter()
            .map(|(m, s)| (*s, Bytes::copy_from_slice(m)))
            .collect();
        sorted.sort_by(|a, b| order((a.0, &a.1), (b.0, &b.1)));
        assert_eq!(z.iter().collect::<Vec<_>>(), sorted);
        for (rank, (s, m)) in sorted.iter().enumerate().step_by(37) {
            assert_eq!(z.rank(m), Some(rank));
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.at(rank).as_ref(), Some(&sorted[rank]));
            let back: Vec<Entry> = sorted[..=rank].iter().rev().take(10).cloned().collect();
            assert_eq!(z.slice(rank, 10, true), back);
        }
    }
}
