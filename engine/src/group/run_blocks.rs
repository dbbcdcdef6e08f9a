//! A sorted run's blocks: a few bytes for every block of slots, small enough to stay in the
//! cache when the run does not, that take searches and walks straight to the block they need.

use std::collections::VecDeque;

use super::interpolation::{first_not_below, Known};
use crate::id::StreamId;

/// Slots a block covers (few in debug builds, so that tests cross blocks often). Small
/// enough that a search inside one block lands within a cache line or two of its entry
/// (IDs spread as time spreads them); large enough that the blocks of a million slots take
/// a few hundred KB.
pub const BLOCK: u64 = if cfg!(debug_assertions) { 4 } else { 64 };

/// For each block of a run: how many of its slots are alive, and its lowest ID.
///
/// Dead slots can gather in long stretches between live ones (acknowledged from the middle of
/// a long PEL, up to as many as are live before a sweep): a walk that starts among them leaps
/// over empty blocks instead of stepping through every slot, so a short XPENDING or
/// XAUTOCLAIM that starts there stays short. A search for an ID first finds its block among
/// the floors, which stay warm in the cache, then probes the run only inside that block: one
/// or two cache misses where a search over the whole run costs four or five.
///
/// Blocks are numbered from the run's first slot ever, so popping the front renumbers
/// nothing.
#[derive(Debug, Clone, Default)]
pub struct Blocks {
    /// Number of the run's first slot (grows as the front is popped).
    base: u64,
    /// Live slots of each block, from the one holding the run's first slot.
    live: VecDeque<u32>,
    /// The ID of each block's first slot: the lowest of the block, above all of the blocks
    /// before it (slots keep their IDs when they die). The first block's first slot may have
    /// been popped; its floor stays below every ID left in it.
    floors: VecDeque<StreamId>,
}

impl Blocks {
    /// Blocks for a run of live slots with these IDs, in order.
    pub fn all_live(ids: impl Iterator<Item = StreamId>) -> Blocks {
        let mut blocks = Blocks::default();
        for (slot, id) in ids.enumerate() {
            blocks.pushed(slot, id);
        }
        blocks
    }

    /// The block of the run's slot `slot`, counted from the first block held.
    pub fn block(&self, slot: usize) -> usize {
        ((self.base + slot as u64) / BLOCK - self.base / BLOCK) as usize
    }

    /// The run's slot that starts block `block`, if the run still holds it (the first
    /// block's start may have been popped).
    fn start(&self, block: usize) -> Option<usize> {
        let absolute = (self.base / BLOCK + block as u64) * BLOCK;
        absolute.checked_sub(self.base).map(|slot| slot as usize)
    }

    /// A live slot `slot` with ID `id` joined at the run's end.
    pub fn pushed(&mut self, slot: usize, id: StreamId) {
        let block = self.block(slot);
        while self.live.len() <= block {
            self.live.push_back(0);
            self.floors.push_back(id);
        }
        self.live[block] += 1;
    }

    /// The dead slot `slot` came alive again.
    pub fn revived(&mut self, slot: usize) {
        if let Some(count) = self.live.get_mut(self.block(slot)) {
            *count += 1;
        }
    }

    /// Slot `slot` died.
    pub fn died(&mut self, slot: usize) {
        if let Some(count) = self.live.get_mut(self.block(slot)) {
            *count = count.saturating_sub(1);
        }
    }

    /// The run's first (dead) slot was popped.
    pub fn popped_front(&mut self) {
        self.base += 1;
        if self.base.is_multiple_of(BLOCK) {
            self.live.pop_front();
            self.floors.pop_front();
        }
    }

    /// The run is `len` slots long now (dead slots were popped off its end).
    pub fn keep(&mut self, len: usize) {
        let needed = if len == 0 { 0 } else { self.block(len - 1) + 1 };
        self.live.truncate(needed);
        self.floors.truncate(needed);
    }

    /// Where a walk standing on the dead slot `slot` goes next: past its block when the block
    /// holds nothing alive, else the next slot.
    pub fn after_dead(&self, slot: usize) -> usize {
        match self.live.get(self.block(slot)) {
            Some(0) => {
                let next_block = (self.base + slot as u64) / BLOCK + 1;
                (next_block * BLOCK - self.base) as usize
            }
            _ => slot + 1,
        }
    }

    /// The slots between which the first slot whose ID is not below `id` lies: the start of
    /// the last block whose floor is below `id` (none when that is the first block and its
    /// start was popped) and the start of the block after it (none for the last block), each
    /// with its ID. The floors are searched, not the run.
    pub fn around(&self, id: StreamId) -> (Option<Known>, Option<Known>) {
        let above = first_not_below(self.floors.len(), id, |block| self.floors[block]);
        let Some(block) = above.checked_sub(1) else {
            // `id` is at or below the first floor: the run's first slot answers (the caller
            // checks the run's ends before asking).
            return (None, None);
        };
        let low = self.start(block).map(|slot| (slot, self.floors[block]));
        let high = self
            .floors
            .get(above)
            .and_then(|floor| Some((self.start(above)?, *floor)));
        (low, high)
    }

    /// Whether the counts and floors tell the truth about a run with these slots.
    #[cfg(test)]
    pub fn agree(&self, slots: impl Iterator<Item = (StreamId, bool)>) -> bool {
        let mut counted = vec![0u32; self.live.len()];
        for (at, (id, alive)) in slots.enumerate() {
            let block = self.block(at);
            if at == 0 && self.floors.front().is_some_and(|floor| *floor > id) {
                return false;
            }
            if self.start(block) == Some(at) && self.floors.get(block) != Some(&id) {
                return false;
            }
            if alive {
                match counted.get_mut(block) {
                    Some(count) => *count += 1,
                    None => return false,
                }
            }
        }
        let rising = self
            .floors
            .iter()
            .zip(self.floors.iter().skip(1))
            .all(|(a, b)| a < b);
        rising && self.floors.len() == self.live.len() && counted.iter().eq(self.live.iter())
    }
}
