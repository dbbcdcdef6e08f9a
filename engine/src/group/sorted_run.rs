//! The pending entries list (PEL) of a group, and each consumer's index of the entries it owns:
//! entries by ID, found by ID in a few probes of one sorted array and walked in ID order.
//!
//! A group delivers entries in ID order (`>` reads continue after the last delivered ID), so
//! almost every entry joins the PEL after all the others: the entries live in a run kept in ID
//! order, appended at its end. A search goes to the entry's block of 64 slots through the
//! blocks' lowest IDs (20 bytes a block, warm in the cache), then interpolates inside it:
//! stream IDs are millisecond times, close to evenly spread, so the first probe of the run
//! lands a slot or two from the entry (halving is the floor when IDs are spread unevenly). An
//! acknowledgement, the hot path of every worker pool, touches a cache line or two and marks
//! the entry's slot dead, where a B-tree of a million entries walks and rebalances half a
//! dozen nodes, most of them cache misses. Dead slots leave at either end of the run as soon
//! as they get there, and all at once when they come to outnumber the live ones, so the run
//! is never more than about twice the PEL (40 bytes a slot in the group's, 24 in a
//! consumer's).
//!
//! The few entries that join below the run's last ID (XCLAIM FORCE, XNACK FORCE, a delivery
//! after XGROUP SETID moved the group back, a loaded file's odd order) wait in a small B-tree
//! until the next sweep merges them into the run; walks in ID order merge the two.

use std::collections::{btree_map, BTreeMap, VecDeque};
use std::iter::Peekable;

use super::interpolation::first_not_below_between;
use super::run_blocks::Blocks;
use crate::id::StreamId;

/// What a run holds for each ID: something that can be marked dead in place.
pub trait RunEntry: Copy {
    /// Marks the slot of an entry that left.
    fn kill(&mut self);
    /// Whether the slot's entry left.
    fn is_dead(&self) -> bool;
}

/// A consumer's index holds nothing but the IDs: whether each is still there.
#[derive(Debug, Clone, Copy)]
pub struct Held(bool);

impl Held {
    /// An ID the consumer holds.
    pub const YES: Held = Held(true);
}

impl RunEntry for Held {
    fn kill(&mut self) {
        self.0 = false;
    }

    fn is_dead(&self) -> bool {
        !self.0
    }
}

/// Dead slots the run may hold before they are swept, whatever the number of live ones. A
/// sweep moves the live entries, no more than the dead ones it drops, so any floor keeps
/// its cost constant per acknowledgement; a small one keeps the slots a consumer with few
/// entries holds small too (many consumers, each with a couple pending). Debug builds
/// (every test suite) sweep early and often, so that the differential suites run through
/// sweeps.
const SWEEP_FLOOR: usize = if cfg!(debug_assertions) { 8 } else { 64 };

/// Slots a run keeps room for however empty it gets (a few KB), so that a PEL that comes and
/// goes around a few hundred entries does not reallocate all the time.
const SHRINK_FLOOR: usize = 128;

/// Entries by ID: a group's pending entries, or a consumer's IDs.
#[derive(Debug, Clone)]
pub struct SortedRun<V> {
    /// Entries that joined in ID order, oldest first; an acknowledged one leaves a dead slot
    /// (its ID kept, so that the run stays searchable) until it reaches an end or a sweep.
    run: VecDeque<(StreamId, V)>,
    /// Dead slots in `run`.
    dead: usize,
    /// Entries that joined below the run's last ID, until the next sweep merges them in.
    late: BTreeMap<StreamId, V>,
    /// Per block of the run: its live slots, so that walks leap over long stretches of dead
    /// ones, and its lowest ID, so that searches go straight to one block.
    blocks: Blocks,
}

impl<V> Default for SortedRun<V> {
    fn default() -> Self {
        SortedRun {
            run: VecDeque::new(),
            dead: 0,
            late: BTreeMap::new(),
            blocks: Blocks::default(),
        }
    }
}

impl<V: RunEntry> SortedRun<V> {
    /// How many entries are pending.
    pub fn len(&self) -> usize {
        self.live_in_run() + self.late.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is pending.
    pub fn contains_key(&self, id: &StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The pending entry `id`.
    pub fn get(&self, id: &StreamId) -> Option<&V> {
        match self.find(*id) {
            Some(slot) => self.run.get(slot).map(|(_, p)| p),
            None if self.late.is_empty() => None,
            None => self.late.get(id),
        }
    }

    /// The pending entry `id`, to change its delivery time or count.
    pub fn get_mut(&mut self, id: &StreamId) -> Option<&mut V> {
        match self.find(*id) {
            Some(slot) => self.run.get_mut(slot).map(|(_, p)| p),
            None if self.late.is_empty() => None,
            None => self.late.get_mut(id),
        }
    }

    /// Makes `entry` the pending entry `id`; the one it replaces, if any.
    pub fn insert(&mut self, id: StreamId, entry: V) -> Option<V> {
        // Late entries sit below the run's last ID when they join, not always after: the
        // run's end may have left since.
        if let Some(held) = self.late.get_mut(&id) {
            return Some(std::mem::replace(held, entry));
        }
        match self.run.back() {
            Some((last, _)) if *last >= id => {}
            _ => {
                self.blocks.pushed(self.run.len(), id);
                self.run.push_back((id, entry));
                return None;
            }
        }
        // In the run, live or dead: a dead slot comes back to life where it is.
        let at = self.position(id);
        if let Some((_, slot)) = self.run.get_mut(at).filter(|(held, _)| *held == id) {
            if !slot.is_dead() {
                return Some(std::mem::replace(slot, entry));
            }
            *slot = entry;
            self.dead -= 1;
            self.blocks.revived(at);
            return None;
        }
        self.late.insert(id, entry);
        if self.late.len() > SWEEP_FLOOR.max(self.live_in_run()) {
            self.sweep();
        }
        None
    }

    /// Takes `id` out of the PEL; its entry, if it was pending.
    pub fn remove(&mut self, id: &StreamId) -> Option<V> {
        let Some(slot) = self.find(*id) else {
            return if self.late.is_empty() {
                None
            } else {
                self.late.remove(id)
            };
        };
        let entry = &mut self.run.get_mut(slot)?.1;
        let taken = *entry;
        entry.kill();
        self.dead += 1;
        self.blocks.died(slot);
        self.drop_dead_ends();
        if self.dead > SWEEP_FLOOR.max(self.live_in_run()) {
            self.sweep();
        }
        Some(taken)
    }

    /// The lowest pending ID.
    pub fn first_id(&self) -> Option<StreamId> {
        self.iter().next().map(|(id, _)| id)
    }

    /// The highest pending ID.
    pub fn last_id(&self) -> Option<StreamId> {
        // Dead slots never stay at the run's end; late entries joined below it, but the
        // run's end may have been acknowledged since.
        let run_last = self.run.back().map(|(id, _)| *id);
        run_last.max(self.late.keys().next_back().copied())
    }

    /// The pending entries in ID order.
    pub fn iter(&self) -> Range<'_, V> {
        self.range(StreamId::MIN, StreamId::MAX)
    }

    /// The pending entries from `start` to `end` (both included), in ID order.
    pub fn range(&self, start: StreamId, end: StreamId) -> Range<'_, V> {
        let from = self.position(start);
        // An empty range when the bounds cross (B-tree ranges refuse them).
        let late = if start <= end {
            self.late.range(start..=end)
        } else {
            self.late.range(end..end)
        };
        Range {
            owner: self,
            at: from,
            late: late.peekable(),
            end,
        }
    }

    /// The pending entries in ID order, without their IDs.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, p)| p)
    }

    /// The pending IDs in ID order.
    pub fn keys(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.iter().map(|(id, _)| id)
    }

    /// Live slots in the run (the late entries aside).
    fn live_in_run(&self) -> usize {
        self.run.len() - self.dead
    }

    /// The slot of the live entry `id` in the run.
    fn find(&self, id: StreamId) -> Option<usize> {
        let at = self.position(id);
        let (held, entry) = self.run.get(at)?;
        (*held == id && !entry.is_dead()).then_some(at)
    }

    /// The first slot of the run whose ID is not below `id` (the run's length when none):
    /// the block it lies in from the blocks' floors (warm in the cache), then a search
    /// inside that block, a cache line or two of the run.
    fn position(&self, id: StreamId) -> usize {
        let id_at = |slot: usize| self.run[slot].0;
        let (Some(first), Some(last)) = (self.run.front(), self.run.back()) else {
            return 0;
        };
        if id <= first.0 {
            return 0;
        }
        if id > last.0 {
            return self.run.len();
        }
        let (below, above) = self.blocks.around(id);
        let low = below.filter(|(slot, _)| *slot > 0).unwrap_or((0, first.0));
        let high = above
            .filter(|(slot, _)| *slot < self.run.len() - 1)
            .unwrap_or((self.run.len() - 1, last.0));
        first_not_below_between(low, high, id, id_at)
    }

    /// Pops dead slots off both ends of the run, and gives memory back once the run is a
    /// quarter of what it holds room for (a backlog worked off leaves no peak allocation
    /// behind, as a B-tree's freed nodes would not).
    fn drop_dead_ends(&mut self) {
        while self.run.front().is_some_and(|(_, p)| p.is_dead()) {
            self.run.pop_front();
            self.dead -= 1;
            self.blocks.popped_front();
        }
        while self.run.back().is_some_and(|(_, p)| p.is_dead()) {
            self.run.pop_back();
            self.dead -= 1;
        }
        self.blocks.keep(self.run.len());
        if self.run.capacity() > SHRINK_FLOOR && self.run.len() < self.run.capacity() / 4 {
            self.run.shrink_to((self.run.len() * 2).max(SHRINK_FLOOR));
        }
    }

    /// Rebuilds the run from its live entries and the late ones, in ID order.
    fn sweep(&mut self) {
        let mut merged = VecDeque::with_capacity(self.len());
        let late = std::mem::take(&mut self.late);
        let run = std::mem::take(&mut self.run);
        let mut late = late.into_iter().peekable();
        for (id, entry) in run.into_iter().filter(|(_, p)| !p.is_dead()) {
            while let Some(early) = late.next_if(|(l, _)| *l < id) {
                merged.push_back(early);
            }
            merged.push_back((id, entry));
        }
        merged.extend(late);
        self.blocks = Blocks::all_live(merged.iter().map(|(id, _)| *id));
        self.run = merged;
        self.dead = 0;
    }
}

#[cfg(test)]
impl<V: RunEntry> SortedRun<V> {
    /// Whether the blocks tell the truth about the run.
    fn blocks_agree(&self) -> bool {
        self.blocks
            .agree(self.run.iter().map(|(id, slot)| (*id, !slot.is_dead())))
    }
}

/// Pending entries of a range in ID order: the run's live slots and the late entries, merged.
pub struct Range<'a, V> {
    owner: &'a SortedRun<V>,
    /// The next slot of the run to look at.
    at: usize,
    late: Peekable<btree_map::Range<'a, StreamId, V>>,
    end: StreamId,
}

impl<'a, V: RunEntry> Iterator for Range<'a, V> {
    type Item = (StreamId, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let run = &self.owner.run;
        while let Some((_, slot)) = run.get(self.at) {
            if !slot.is_dead() {
                break;
            }
            self.at = self.owner.blocks.after_dead(self.at);
        }
        let run_next = run
            .get(self.at)
            .map(|(id, _)| *id)
            .filter(|id| *id <= self.end);
        let from_late = match (run_next, self.late.peek()) {
            (Some(r), Some((l, _))) => **l < r,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if from_late {
            self.late.next().map(|(id, p)| (*id, p))
        } else {
            let (id, p) = run.get(self.at)?;
            self.at += 1;
            Some((*id, p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::PendingEntry;
    use proptest::prelude::*;

    /// IDs in order of `n`, a few to a millisecond, so that searches weigh both halves.
    fn id(n: u64) -> StreamId {
        StreamId {
            ms: n / 3,
            seq: n % 3,
        }
    }

    fn entry(count: u64) -> PendingEntry {
        PendingEntry::owned_by(0, 0, count)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
        Bump(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Mostly appends above everything so far, as a group delivers, and some anywhere.
        prop_oneof![
            3 => (0u64..4000).prop_map(Op::Insert),
            3 => (0u64..4000).prop_map(Op::Remove),
            1 => (0u64..4000).prop_map(Op::Bump),
        ]
    }

    proptest! {
        /// Whatever the order of inserts and removals, the PEL answers as an ordered map
        /// would: lookups, lengths, walks and ranges.
        #[test]
        fn behaves_as_an_ordered_map(ops in proptest::collection::vec(op(), 1..3000), rising in any::<bool>()) {
            let mut pel = SortedRun::<PendingEntry>::default();
            let mut model: BTreeMap<StreamId, u64> = BTreeMap::new();
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(n) => {
                        let n = if rising { n + step as u64 * 4 } else { n };
                        let old = pel.insert(id(n), entry(step as u64)).map(|p| p.delivery_count);
                        prop_assert_eq!(old, model.insert(id(n), step as u64));
                    }
                    Op::Remove(n) => {
                        let n = if rising { n + step as u64 * 3 } else { n };
                        let old = pel.remove(&id(n)).map(|p| p.delivery_count);
                        prop_assert_eq!(old, model.remove(&id(n)));
                    }
                    Op::Bump(n) => {
                        if let Some(p) = pel.get_mut(&id(n)) {
                            p.delivery_count += 1;
                        }
                        if let Some(c) = model.get_mut(&id(n)) {
                            *c += 1;
                        }
                    }
                }
                prop_assert_eq!(pel.len(), model.len());
                prop_assert!(pel.blocks_agree(), "{:?}", pel.blocks);
            }
            let walked: Vec<(StreamId, u64)> = pel.iter().map(|(i, p)| (i, p.delivery_count)).collect();
            let expected: Vec<(StreamId, u64)> = model.iter().map(|(i, c)| (*i, *c)).collect();
            prop_assert_eq!(walked, expected);
            for (i, c) in &model {
                prop_assert_eq!(pel.get(i).map(|p| p.delivery_count), Some(*c));
            }
            prop_assert_eq!(pel.first_id(), model.keys().next().copied());
            prop_assert_eq!(pel.last_id(), model.keys().next_back().copied());
            for n in (0..16_000).step_by(7) {
                let expected = pel.run.partition_point(|(i, _)| *i < id(n));
                prop_assert_eq!(pel.position(id(n)), expected, "{:?}", id(n));
            }
            let ranged: Vec<StreamId> = pel.range(id(1000), id(2500)).map(|(i, _)| i).collect();
            let expected: Vec<StreamId> = model.range(id(1000)..=id(2500)).map(|(i, _)| *i).collect();
            prop_assert_eq!(ranged, expected);
        }
    }

    /// Acknowledging in delivery order keeps the run as small as the PEL; acknowledging all
    /// but one old entry sweeps the dead slots behind it.
    #[test]
    fn dead_slots_do_not_pile_up() {
        let mut pel = SortedRun::<PendingEntry>::default();
        for n in 0..10_000 {
            pel.insert(id(n), entry(1));
            if n >= 10 {
                assert!(pel.remove(&id(n - 10)).is_some());
            }
        }
        assert_eq!(pel.len(), 10);
        assert_eq!(pel.run.len(), 10);
        assert_eq!(pel.dead, 0);
        let mut pel = SortedRun::<PendingEntry>::default();
        pel.insert(id(0), entry(1));
        for n in 1..100_000 {
            pel.insert(id(n), entry(1));
            pel.remove(&id(n));
        }
        assert_eq!(pel.len(), 1);
        assert!(
            pel.run.len() <= 1 + 2 * SWEEP_FLOOR,
            "run of {}",
            pel.run.len()
        );
        // A backlog worked off gives its room back.
        let mut pel = SortedRun::<PendingEntry>::default();
        for n in 0..100_000 {
            pel.insert(id(n), entry(1));
        }
        for n in 0..99_990 {
            pel.remove(&id(n));
        }
        assert_eq!(pel.len(), 10);
        assert!(
            pel.run.capacity() <= SHRINK_FLOOR * 2,
            "room for {}",
            pel.run.capacity()
        );
    }

    /// IDs spread as unevenly as can be (powers of two, runs of sequence numbers) still
    /// land where a binary search puts them, present or not.
    #[test]
    fn uneven_ids_are_found() {
        let mut run = SortedRun::<Held>::default();
        let mut ids = Vec::new();
        for power in 0..64 {
            for seq in 0..3 {
                ids.push(StreamId {
                    ms: 1u64 << power,
                    seq: seq * 1000,
                });
            }
        }
        ids.push(StreamId::MAX);
        for &id in &ids {
            run.insert(id, Held::YES);
        }
        for &id in &ids {
            assert!(run.contains_key(&id), "{id:?}");
            for probe in [
                StreamId {
                    ms: id.ms,
                    seq: id.seq.saturating_add(1),
                },
                StreamId {
                    ms: id.ms.saturating_sub(1),
                    seq: u64::MAX,
                },
            ] {
                let expected = ids.partition_point(|held| *held < probe);
                assert_eq!(run.position(probe), expected, "{probe:?}");
            }
        }
        assert!(!run.contains_key(&StreamId { ms: 3, seq: 0 }));
    }
}
