//! Idempotent production (Redis 8.6): what `XADD ... IDMP producer iid` and `IDMPAUTO producer`
//! remember so that a producer retrying after a lost reply never adds an entry twice.
//!
//! Each producer keeps its recent idempotent IDs (iids) in arrival order, each with the
//! stream ID it produced. An iid is kept at least `duration` seconds (measured from its
//! entry's ID, not from the clock at insertion) unless the producer's `max_size` newest push
//! it out first. The mappings outlive the entries: an XDEL or a trim of the entry leaves the
//! iid answering with its original ID, as Redis does.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

use crate::id::StreamId;

/// Redis's defaults for `stream-idmp-duration` (seconds) and `stream-idmp-maxsize`.
pub const DEFAULT_DURATION: u64 = 100;
/// See [`DEFAULT_DURATION`].
pub const DEFAULT_MAX_SIZE: u64 = 100;
/// The range XCFGSET IDMP-DURATION and `stream-idmp-duration` accept (seconds).
pub const DURATION_RANGE: (u64, u64) = (1, 86_400);
/// The range XCFGSET IDMP-MAXSIZE and `stream-idmp-maxsize` accept.
pub const MAX_SIZE_RANGE: (u64, u64) = (1, 10_000);

/// One producer's remembered iids.
#[derive(Debug, Clone, Default)]
pub struct Producer {
    /// Oldest first: expiry and eviction take from the front.
    order: VecDeque<(Bytes, StreamId)>,
    by_iid: HashMap<Bytes, StreamId>,
}

impl Producer {
    /// Remembered iids, oldest first, with the IDs they produced.
    pub fn entries(&self) -> impl Iterator<Item = (&Bytes, StreamId)> {
        self.order.iter().map(|(iid, id)| (iid, *id))
    }

    /// Number of remembered iids.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// No iid left.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn pop_oldest(&mut self) {
        if let Some((iid, id)) = self.order.pop_front() {
            if self.by_iid.get(&iid) == Some(&id) {
                self.by_iid.remove(&iid);
            }
        }
    }

    /// Drops iids whose entry ID is at or before `cutoff_ms` from the front.
    fn expire(&mut self, cutoff_ms: Option<u64>) {
        let Some(cutoff) = cutoff_ms else { return };
        while self.order.front().is_some_and(|(_, id)| id.ms <= cutoff) {
            self.pop_oldest();
        }
    }

    fn insert(&mut self, iid: Bytes, id: StreamId, max_size: u64) {
        if let Some(old) = self.by_iid.insert(iid.clone(), id) {
            // Re-recorded after expiring lazily: drop the stale position too.
            self.order.retain(|(i, at)| !(i == &iid && *at == old));
        }
        self.order.push_back((iid, id));
        while self.order.len() as u64 > max_size {
            self.pop_oldest();
        }
    }
}

/// A stream's idempotency settings, producers and lifetime counters.
#[derive(Debug, Clone)]
pub struct Idmp {
    /// Seconds an iid is kept at least (`idmp-duration`).
    pub duration: u64,
    /// Iids kept per producer at most (`idmp-maxsize`); it wins over `duration`.
    pub max_size: u64,
    /// By producer ID, in byte order (the order Redis's radix tree saves them in).
    producers: BTreeMap<Bytes, Producer>,
    /// Iids ever recorded (`iids-added`): survives eviction, XCFGSET and restarts.
    pub iids_added: u64,
    /// Duplicates ever answered (`iids-duplicates`).
    pub iids_duplicates: u64,
}

impl Default for Idmp {
    fn default() -> Self {
        Idmp::new(DEFAULT_DURATION, DEFAULT_MAX_SIZE)
    }
}

/// Why XIDMPRECORD could not record a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordConflict {
    /// The iid already maps to another stream ID.
    OtherId,
}

impl Idmp {
    /// Settings for a new stream (from `stream-idmp-duration` and `stream-idmp-maxsize`).
    pub fn new(duration: u64, max_size: u64) -> Idmp {
        Idmp {
            duration,
            max_size,
            producers: BTreeMap::new(),
            iids_added: 0,
            iids_duplicates: 0,
        }
    }

    /// Iids whose entry ID is at or before this millisecond have expired.
    fn cutoff(&self, now_ms: u64) -> Option<u64> {
        now_ms.checked_sub(self.duration.saturating_mul(1000))
    }

    /// The ID `iid` produced for `pid`, if still remembered; counts a duplicate when found.
    pub fn find_duplicate(&mut self, pid: &[u8], iid: &[u8], now_ms: u64) -> Option<StreamId> {
        let cutoff = self.cutoff(now_ms);
        let producer = self.producers.get_mut(pid)?;
        producer.expire(cutoff);
        // A replayed record may sit behind a newer one: check the one found too.
        let found = producer
            .by_iid
            .get(iid)
            .copied()
            .filter(|id| cutoff.is_none_or(|c| id.ms > c));
        if producer.is_empty() {
            self.producers.remove(pid);
        }
        if found.is_some() {
            self.iids_duplicates = counted(self.iids_duplicates);
        }
        found
    }

    /// Remembers that `iid` of `pid` produced `id` (after a successful XADD), evicting the
    /// producer's oldest iid beyond `max_size`.
    pub fn record(&mut self, pid: &[u8], iid: &[u8], id: StreamId) {
        let max_size = self.max_size;
        self.producers
            .entry(Bytes::copy_from_slice(pid))
            .or_default()
            .insert(Bytes::copy_from_slice(iid), id, max_size);
        self.iids_added = counted(self.iids_added);
    }

    /// XIDMPRECORD: records a mapping replayed from a log. Recording the same mapping again is
    /// a no-op, and so is one already expired; a different ID for a remembered iid is refused.
    pub fn replay_record(
        &mut self,
        pid: &[u8],
        iid: &[u8],
        id: StreamId,
        now_ms: u64,
    ) -> Result<(), RecordConflict> {
        let cutoff = self.cutoff(now_ms);
        if cutoff.is_some_and(|c| id.ms <= c) {
            return Ok(());
        }
        if let Some(producer) = self.producers.get_mut(pid) {
            producer.expire(cutoff);
            match producer.by_iid.get(iid) {
                Some(&known) if known == id => return Ok(()),
                Some(_) => return Err(RecordConflict::OtherId),
                None => {}
            }
        }
        self.record(pid, iid, id);
        Ok(())
    }

    /// XCFGSET: sets what is given; when a value changes, every producer's iids are forgotten
    /// (the counters stay). Returns whether anything changed.
    pub fn configure(&mut self, duration: Option<u64>, max_size: Option<u64>) -> bool {
        let duration = duration.unwrap_or(self.duration);
        let max_size = max_size.unwrap_or(self.max_size);
        if duration == self.duration && max_size == self.max_size {
            return false;
        }
        self.duration = duration;
        self.max_size = max_size;
        self.producers.clear();
        true
    }

    /// Forgets expired iids of every producer, and producers left with none.
    pub fn expire(&mut self, now_ms: u64) {
        let cutoff = self.cutoff(now_ms);
        self.producers.retain(|_, p| {
            p.expire(cutoff);
            !p.is_empty()
        });
    }

    /// Producers tracked (`pids-tracked`).
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Iids tracked over all producers (`iids-tracked`).
    pub fn iid_count(&self) -> usize {
        self.producers.values().map(Producer::len).sum()
    }

    /// Producers in byte order, for persistence.
    pub fn producers(&self) -> impl Iterator<Item = (&Bytes, &Producer)> {
        self.producers.iter()
    }

    /// Loads a producer's iids, oldest first, as persisted (no counting, no eviction beyond
    /// `max_size`).
    pub fn load_producer(&mut self, pid: Bytes, iids: Vec<(Bytes, StreamId)>) {
        let max_size = self.max_size;
        let producer = self.producers.entry(pid).or_default();
        for (iid, id) in iids {
            producer.insert(iid, id, max_size);
        }
        self.producers.retain(|_, p| !p.is_empty());
    }

    /// Whether anything differs from a stream that never used idempotency under Redis's
    /// defaults: what an RDB version before 13 cannot hold.
    pub fn is_pristine(&self) -> bool {
        self.duration == DEFAULT_DURATION
            && self.max_size == DEFAULT_MAX_SIZE
            && self.producers.is_empty()
            && self.iids_added == 0
            && self.iids_duplicates == 0
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.producers
            .iter()
            .map(|(pid, p)| {
                pid.len()
                    + 64
                    + p.order
                        .iter()
                        .map(|(iid, _)| iid.len() + 16 + 24 + 48)
                        .sum::<usize>()
            })
            .sum()
    }
}

/// One more in a lifetime counter, which stays at the top of Redis's signed 64-bit range.
fn counted(n: u64) -> u64 {
    n.saturating_add(1).min(i64::MAX as u64)
}

/// IDMPAUTO's idempotent ID: a 128-bit XXH3 of each field/value pair, combined with XOR so
/// that the order of the pairs does not matter (a producer's JSON encoder may reorder them).
/// `None` when the pairs cancel out (each pair present an even number of times), which
/// Redis refuses rather than let unrelated messages share the all-zero ID.
pub fn auto_iid(pairs: &[Bytes]) -> Option<[u8; 16]> {
    let mut combined: u128 = 0;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for pair in pairs.chunks_exact(2) {
        hasher.reset();
        hasher.update(&pair[0]);
        hasher.update(&pair[1]);
        combined ^= hasher.digest128();
    }
    if combined == 0 {
        return None;
    }
    let mut iid = [0u8; 16];
    iid[..8].copy_from_slice(&(combined as u64).to_le_bytes());
    iid[8..].copy_from_slice(&((combined >> 64) as u64).to_le_bytes());
    Some(iid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> StreamId {
        StreamId::new(ms, 0)
    }

    #[test]
    fn duplicates_answer_the_original_id_until_expired_or_evicted() {
        let mut idmp = Idmp::new(10, 2);
        assert_eq!(idmp.find_duplicate(b"p", b"a", 1_000), None);
        idmp.record(b"p", b"a", id(1_000));
        idmp.record(b"p", b"b", id(2_000));
        assert_eq!(idmp.find_duplicate(b"p", b"a", 3_000), Some(id(1_000)));
        assert_eq!(idmp.find_duplicate(b"q", b"a", 3_000), None);
        idmp.record(b"p", b"c", id(3_000));
        assert_eq!(idmp.find_duplicate(b"p", b"a", 3_000), None, "evicted");
        assert_eq!(idmp.iid_count(), 2);
        // 10 s after the entry's own ms, not after insertion.
        assert_eq!(idmp.find_duplicate(b"p", b"b", 12_000), None);
        assert_eq!(idmp.find_duplicate(b"p", b"c", 12_000), Some(id(3_000)));
        idmp.expire(13_000);
        assert_eq!(idmp.producer_count(), 0);
        assert_eq!((idmp.iids_added, idmp.iids_duplicates), (3, 2));
    }

    #[test]
    fn configure_clears_only_on_change() {
        let mut idmp = Idmp::default();
        idmp.record(b"p", b"a", id(1));
        assert!(!idmp.configure(Some(100), None));
        assert_eq!(idmp.iid_count(), 1);
        assert!(idmp.configure(None, Some(5)));
        assert_eq!((idmp.iid_count(), idmp.iids_added), (0, 1));
    }

    #[test]
    fn replayed_records_are_idempotent_and_refuse_conflicts() {
        let mut idmp = Idmp::default();
        assert_eq!(idmp.replay_record(b"p", b"a", id(5), 5), Ok(()));
        assert_eq!(idmp.replay_record(b"p", b"a", id(5), 5), Ok(()));
        assert_eq!(
            idmp.replay_record(b"p", b"a", id(6), 5),
            Err(RecordConflict::OtherId)
        );
        assert_eq!(idmp.iid_count(), 1);
    }

    #[test]
    fn auto_iid_ignores_pair_order_but_not_names() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let one = auto_iid(&[b("f1"), b("a"), b("f2"), b("b")]);
        let two = auto_iid(&[b("f2"), b("b"), b("f1"), b("a")]);
        let three = auto_iid(&[b("g1"), b("a"), b("f2"), b("b")]);
        assert_eq!(one, two);
        assert_ne!(one, three);
        assert_eq!(auto_iid(&[b("f"), b("v"), b("f"), b("v")]), None);
    }
}
