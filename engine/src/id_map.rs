//! Ordered maps and sets of stream IDs for pending entries lists: sorted runs of up to
//! [`RUN`] entries under a B-tree of the runs.
//!
//! A PEL is written mostly in ID order (reads deliver ascending IDs) and read by exact ID
//! (XACK, claims) or in ranges (XPENDING, XAUTOCLAIM). A B-tree of one node per dozen
//! entries spreads a large PEL over many half-full nodes: every look-up misses the cache
//! at each of its five or six levels, and the nodes cost twice the entries' own bytes.
//! Here the entries lie side by side in runs that ascending deliveries fill to the brim;
//! the B-tree above indexes only the runs (one key per [`RUN`] entries), small enough to
//! stay in cache, so a look-up misses on the run it lands in and little else.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Bound, RangeBounds};

use crate::id::StreamId;

/// The most entries a run holds. A removal shifts half a run on average (about 1 KB of
/// the group PEL's 40-byte entries); a run of 64 keeps that shift within a few cache
/// lines' worth of copying while the index above stays 64 times smaller than the PEL.
pub const RUN: usize = 64;

/// A run that falls below this many entries merges with the next one when both fit in
/// three quarters of a run, so that acknowledgements in random order do not leave the map
/// made of nearly empty runs.
const SPARSE: usize = RUN / 4;

/// An ordered map from stream IDs to `V`.
///
/// Each run is keyed in the index by a lower bound of its IDs: every ID of a run is at
/// least its key and below the next run's key (the key may lag behind the run's first ID
/// after removals; it is only ever lowered, when an ID below it arrives at the front).
#[derive(Clone)]
pub struct IdMap<V> {
    runs: BTreeMap<StreamId, Vec<(StreamId, V)>>,
    len: usize,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            runs: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for IdMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> IdMap<V> {
    /// An empty map.
    pub fn new() -> IdMap<V> {
        IdMap::default()
    }

    /// How many entries the map holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key of the run `id` belongs in: the last run keyed at or below it, else the
    /// first run (an ID below every key joins the front).
    fn run_key(&self, id: StreamId) -> Option<StreamId> {
        match self.runs.range(..=id).next_back() {
            Some((&key, _)) => Some(key),
            None => self.runs.keys().next().copied(),
        }
    }

    /// The value of `id`.
    pub fn get(&self, id: &StreamId) -> Option<&V> {
        let (_, run) = self.runs.range(..=*id).next_back()?;
        let at = run.binary_search_by(|(k, _)| k.cmp(id)).ok()?;
        Some(&run[at].1)
    }

    /// The value of `id`, to change.
    pub fn get_mut(&mut self, id: &StreamId) -> Option<&mut V> {
        let (_, run) = self.runs.range_mut(..=*id).next_back()?;
        let at = run.binary_search_by(|(k, _)| k.cmp(id)).ok()?;
        Some(&mut run[at].1)
    }

    /// Whether `id` is in the map.
    pub fn contains_key(&self, id: &StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Sets the value of `id`; the value it had, if any.
    pub fn insert(&mut self, id: StreamId, value: V) -> Option<V> {
        // The last run keyed at or below `id`, else the first run.
        let found = match self.runs.range_mut(..=id).next_back() {
            Some(found) => Some(found),
            None => self.runs.iter_mut().next(),
        };
        let Some((&key, run)) = found else {
            self.runs.insert(id, vec![(id, value)]);
            self.len = 1;
            return None;
        };
        let at = match run.binary_search_by(|(k, _)| k.cmp(&id)) {
            Ok(at) => return Some(std::mem::replace(&mut run[at].1, value)),
            Err(at) => at,
        };
        self.len += 1;
        if run.len() < RUN {
            run.insert(at, (id, value));
        } else if at == RUN && self.is_last(key) {
            // Past the end of the last run, full: ascending deliveries start a new run
            // and leave this one full.
            self.runs.insert(id, vec![(id, value)]);
            return None;
        } else {
            // Otherwise the full run's upper half becomes a run of its own.
            let run = self.runs.get_mut(&key)?;
            let mut upper = run.split_off(RUN / 2);
            if at <= RUN / 2 {
                run.insert(at, (id, value));
            } else {
                upper.insert(at - RUN / 2, (id, value));
            }
            self.runs.insert(upper[0].0, upper);
        }
        if id < key {
            self.rekey(key, id);
        }
        None
    }

    /// Whether the run keyed `key` is the last one.
    fn is_last(&self, key: StreamId) -> bool {
        self.runs
            .last_key_value()
            .is_none_or(|(&last, _)| last == key)
    }

    /// Moves the run keyed `from` to the lower key `to`.
    fn rekey(&mut self, from: StreamId, to: StreamId) {
        if let Some(run) = self.runs.remove(&from) {
            self.runs.insert(to, run);
        }
    }

    /// Takes `id` out; its value, if it was there.
    pub fn remove(&mut self, id: &StreamId) -> Option<V> {
        let (&key, run) = self.runs.range_mut(..=*id).next_back()?;
        let at = run.binary_search_by(|(k, _)| k.cmp(id)).ok()?;
        let (_, value) = run.remove(at);
        self.len -= 1;
        if run.is_empty() {
            self.runs.remove(&key);
        } else if run.len() < SPARSE {
            self.merge_neighbour(key);
        }
        Some(value)
    }

    /// Merges the run keyed `key` into its previous run, or the next run into it, when the
    /// two fit in three quarters of a run (so the merged run has room to take inserts
    /// before it splits again).
    fn merge_neighbour(&mut self, key: StreamId) {
        let before = self.runs.range(..key).next_back().map(|(&k, _)| k);
        let after = self
            .runs
            .range((Bound::Excluded(key), Bound::Unbounded))
            .next()
            .map(|(&k, _)| k);
        for (left, right) in [before.map(|b| (b, key)), after.map(|a| (key, a))]
            .into_iter()
            .flatten()
        {
            let size = |k| self.runs.get(&k).map_or(RUN, Vec::len);
            if size(left) + size(right) > RUN * 3 / 4 {
                continue;
            }
            if let Some(right_run) = self.runs.remove(&right) {
                if let Some(left_run) = self.runs.get_mut(&left) {
                    left_run.extend(right_run);
                    left_run.shrink_to(RUN);
                }
            }
            return;
        }
    }

    /// The entries in ID order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &V)> + '_ {
        self.runs
            .values()
            .flat_map(|run| run.iter().map(|(id, value)| (id, value)))
    }

    /// The IDs in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &StreamId> + '_ {
        self.iter().map(|(id, _)| id)
    }

    /// The values in ID order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.iter().map(|(_, value)| value)
    }

    /// The first ID.
    pub fn first_key(&self) -> Option<StreamId> {
        self.runs.values().next()?.first().map(|(id, _)| *id)
    }

    /// The last ID.
    pub fn last_key(&self) -> Option<StreamId> {
        self.runs.values().next_back()?.last().map(|(id, _)| *id)
    }

    /// The entries whose IDs fall in `range`, in order.
    pub fn range(
        &self,
        range: impl RangeBounds<StreamId>,
    ) -> impl Iterator<Item = (&StreamId, &V)> + '_ {
        let start = range.start_bound().cloned();
        let end = range.end_bound().cloned();
        let first_run = match start {
            Bound::Included(id) | Bound::Excluded(id) => self.run_key(id),
            Bound::Unbounded => None,
        };
        let runs = match first_run {
            Some(key) => self.runs.range(key..),
            None => self.runs.range(..),
        };
        runs.flat_map(move |(_, run)| {
            // Only the first run (and only with a start) has entries below the start.
            let from = match start {
                Bound::Included(id) => run.partition_point(|(k, _)| *k < id),
                Bound::Excluded(id) => run.partition_point(|(k, _)| *k <= id),
                Bound::Unbounded => 0,
            };
            run[from..].iter().map(|(id, value)| (id, value))
        })
        .take_while(move |(id, _)| match end {
            Bound::Included(last) => **id <= last,
            Bound::Excluded(last) => **id < last,
            Bound::Unbounded => true,
        })
    }
}

/// An ordered set of stream IDs (a consumer's own PEL index).
#[derive(Clone, Default)]
pub struct IdSet(IdMap<()>);

impl fmt::Debug for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl IdSet {
    /// An empty set.
    pub fn new() -> IdSet {
        IdSet::default()
    }

    /// How many IDs the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &StreamId) -> bool {
        self.0.contains_key(id)
    }

    /// Adds `id`; false when it was there.
    pub fn insert(&mut self, id: StreamId) -> bool {
        self.0.insert(id, ()).is_none()
    }

    /// Takes `id` out; false when it was not there.
    pub fn remove(&mut self, id: &StreamId) -> bool {
        self.0.remove(id).is_some()
    }

    /// The IDs in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &StreamId> + '_ {
        self.0.keys()
    }

    /// The IDs that fall in `range`, in order.
    pub fn range(&self, range: impl RangeBounds<StreamId>) -> impl Iterator<Item = &StreamId> + '_ {
        self.0.range(range).map(|(id, _)| id)
    }
}

impl Extend<StreamId> for IdSet {
    fn extend<I: IntoIterator<Item = StreamId>>(&mut self, ids: I) {
        for id in ids {
            self.insert(id);
        }
    }
}

impl FromIterator<StreamId> for IdSet {
    fn from_iter<I: IntoIterator<Item = StreamId>>(ids: I) -> IdSet {
        let mut set = IdSet::new();
        set.extend(ids);
        set
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// A small deterministic generator (xorshift), so failures replay.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// The map agrees with std's B-tree map on every operation and every range, through
    /// ascending runs, random inserts and removals, splits, merges and front inserts.
    #[test]
    fn behaves_as_an_ordered_map() {
        for seed in 1..=20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut map = IdMap::new();
            let mut model = BTreeMap::new();
            let mut next = 1000;
            for step in 0..3000u64 {
                let op = rng.below(10);
                let key = match rng.below(3) {
                    0 => {
                        next += 1 + rng.below(3);
                        id(next, 0)
                    }
                    _ => id(rng.below(next + 50), rng.below(2)),
                };
                if op < 6 {
                    assert_eq!(
                        map.insert(key, step),
                        model.insert(key, step),
                        "insert {key:?}"
                    );
                } else if op < 9 {
                    assert_eq!(map.remove(&key), model.remove(&key), "remove {key:?}");
                } else if let Some(v) = map.get_mut(&key) {
                    *v += 1;
                    if let Some(m) = model.get_mut(&key) {
                        *m += 1;
                    }
                }
                assert_eq!(map.len(), model.len());
                assert_eq!(map.get(&key), model.get(&key));
            }
            let all: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let expected: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(all, expected);
            let back: Vec<_> = map.keys().rev().copied().collect();
            let model_back: Vec<_> = model.keys().rev().copied().collect();
            assert_eq!(back, model_back);
            assert_eq!(map.first_key(), model.keys().next().copied());
            assert_eq!(map.last_key(), model.keys().next_back().copied());
            for _ in 0..200 {
                let a = id(rng.below(next + 50), rng.below(2));
                let b = id(rng.below(next + 50), rng.below(2));
                let (a, b) = (a.min(b), a.max(b));
                let got: Vec<_> = map.range(a..=b).map(|(k, _)| *k).collect();
                let want: Vec<_> = model.range(a..=b).map(|(k, _)| *k).collect();
                assert_eq!(got, want, "range {a:?}..={b:?}");
                let got: Vec<_> = map.range(a..).take(5).map(|(k, _)| *k).collect();
                let want: Vec<_> = model.range(a..).take(5).map(|(k, _)| *k).collect();
                assert_eq!(got, want, "range {a:?}..");
                let got = map.range((Bound::Excluded(a), Bound::Included(b))).count();
                let want = model
                    .range((Bound::Excluded(a), Bound::Included(b)))
                    .count();
                assert_eq!(got, want);
            }
        }
    }

    /// Ascending inserts fill runs to the brim (the memory claim of the module), and
    /// removing everything leaves no run behind.
    #[test]
    fn ascending_inserts_fill_runs() {
        let mut map = IdMap::new();
        for n in 0..(RUN as u64 * 10) {
            map.insert(id(n, 0), n);
        }
        assert_eq!(map.runs.len(), 10);
        assert!(map.runs.values().all(|run| run.len() == RUN));
        for n in 0..(RUN as u64 * 10) {
            assert_eq!(map.remove(&id(n, 0)), Some(n));
        }
        assert!(map.is_empty());
        assert!(map.runs.is_empty());
    }

    /// Removals in scattered order merge runs that thinned out.
    #[test]
    fn thinned_runs_merge() {
        let mut map = IdMap::new();
        let total = RUN as u64 * 20;
        for n in 0..total {
            map.insert(id(n, 0), ());
        }
        for n in 0..total {
            if n % 8 != 0 {
                map.remove(&id(n, 0));
            }
        }
        assert_eq!(map.len(), (total / 8) as usize);
        assert!(map.runs.len() < 10, "{} runs", map.runs.len());
        let kept: Vec<_> = map.keys().map(|k| k.ms).collect();
        assert_eq!(kept, (0..total).step_by(8).collect::<Vec<_>>());
    }

    #[test]
    fn set_operations() {
        let mut set: IdSet = [id(3, 0), id(1, 0), id(2, 0)].into_iter().collect();
        assert!(!set.insert(id(2, 0)));
        assert!(set.contains(&id(1, 0)));
        assert!(set.remove(&id(1, 0)));
        assert!(!set.remove(&id(1, 0)));
        assert_eq!(
            set.iter().copied().collect::<Vec<_>>(),
            [id(2, 0), id(3, 0)]
        );
        assert_eq!(set.range(id(3, 0)..).count(), 1);
        assert_eq!(set.len(), 2);
    }
}
