//! Consumer groups: the last delivered ID, the entries-read counter, the pending entries list
//! (PEL: delivered, not yet acknowledged) and the consumers, each with its own PEL index.
//!
//! A PEL entry names its owner by the consumer's slot in the group (a small number), not by
//! its name: the entry stays 24 bytes, and delivering or acknowledging it copies a number
//! instead of sharing a reference-counted string (two locked operations each). Slots of
//! deleted consumers are reused; a deleted consumer's entries leave the PEL with it, so no
//! entry ever names a slot that is free.
//!
//! Since Redis 8.8 a consumer can hand an entry back (XNACK): it stays pending, owned by no
//! one, in the group's NACK zone, which claims (XREADGROUP CLAIM, XCLAIM, XAUTOCLAIM) serve
//! first and in the order the entries were NACKed.

mod interpolation;
mod run_blocks;
mod sorted_run;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::id::StreamId;

pub use sorted_run::{Held, SortedRun};

/// A group's pending entries list, by ID.
pub type PendingEntries = SortedRun<PendingEntry>;

/// The IDs of the pending entries a consumer owns.
pub type OwnedIds = SortedRun<Held>;

/// A consumer's place in its group's slot table.
type Slot = usize;

/// The owner of a NACKed entry (and of a forced one until its claim assigns it): nobody.
const NO_OWNER: Slot = Slot::MAX;

/// The owner the PEL gives an acknowledged entry whose slot it keeps for a while (see
/// [`PendingEntries`]); never seen outside it.
const DEAD: Slot = Slot::MAX - 1;

/// One delivered, unacknowledged entry.
#[derive(Debug, Clone, Copy)]
pub struct PendingEntry {
    /// The slot of the consumer that owns it now; [`NO_OWNER`] once NACKed, until a claim
    /// takes it. [`ConsumerGroup::owner_name`] names it.
    owner: Slot,
    /// When it was last delivered (ms), for idle times.
    pub delivery_time: u64,
    /// Times delivered (XPENDING's fourth column): 1 on the first read, one more for each re-read
    /// of the consumer's history and each XCLAIM without JUSTID.
    pub delivery_count: u64,
}

impl PendingEntry {
    /// Whether a consumer owns the entry (false: it waits in the NACK zone).
    pub fn is_owned(&self) -> bool {
        self.owner != NO_OWNER
    }

    /// An entry owned by the consumer in `owner`'s slot.
    fn owned_by(owner: Slot, delivery_time: u64, delivery_count: u64) -> PendingEntry {
        PendingEntry {
            owner,
            delivery_time,
            delivery_count,
        }
    }
}

impl sorted_run::RunEntry for PendingEntry {
    fn kill(&mut self) {
        self.owner = DEAD;
    }

    fn is_dead(&self) -> bool {
        self.owner == DEAD
    }
}

/// A consumer of a group.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Its name, as the group stores it.
    pub name: Bytes,
    /// Last time the consumer tried anything (read, claim...), in ms.
    pub seen_time: u64,
    /// Last successful delivery or claim, in ms; `None` when never (shown as -1).
    pub active_time: Option<u64>,
    /// IDs of the entries this consumer owns in the group's PEL.
    pub pending: OwnedIds,
}

/// A consumer group of one stream.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    /// The last ID delivered to the group (`last-delivered-id`): `>` reads continue after it.
    pub last_id: StreamId,
    /// Logical read counter of `last_id` (how many entries precede it, plus one); `None` when
    /// unknown, in which case lag is estimated.
    pub entries_read: Option<u64>,
    /// The group's pending entries list, by ID; each consumer's `pending` set indexes into it and
    /// must stay in step (entries are added and removed through the group's methods).
    pub pel: PendingEntries,
    /// Each consumer's slot, by name, in name order (XINFO CONSUMERS and XPENDING list them so).
    names: BTreeMap<Bytes, Slot>,
    /// The consumers by slot; `None` for a slot freed by a deletion, listed in `free`.
    slots: Vec<Option<Consumer>>,
    free: Vec<Slot>,
    /// The NACK zone: unowned pending entries by the ticket they got when NACKed (tickets
    /// only grow, so this is NACK order), and each entry's ticket.
    nacked: BTreeMap<u64, StreamId>,
    nack_tickets: HashMap<StreamId, u64>,
    next_ticket: u64,
    /// A lower bound of the delivery times of the owned pending entries (0: unknown), so
    /// that a claiming read can tell without walking the PEL that nothing is idle enough
    /// yet (see [`ConsumerGroup::may_have_idle`]). Every delivery time set lowers it when
    /// below; a full walk sets it exactly.
    oldest_delivery: u64,
}

/// How a consumer hands an entry back (XNACK's mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackMode {
    /// The delivery did not count (the consumer is shutting down): one delivery less.
    Silent,
    /// Processing failed; another consumer may retry: the count stays.
    Fail,
    /// The entry can never be processed (a poison message): the count becomes the largest.
    Fatal,
}

impl NackMode {
    /// The mode's word in XNACK.
    pub fn name(self) -> &'static str {
        match self {
            NackMode::Silent => "SILENT",
            NackMode::Fail => "FAIL",
            NackMode::Fatal => "FATAL",
        }
    }
}

/// The largest delivery count: Redis counts in a signed 64-bit integer and saturates there.
pub const MAX_DELIVERY_COUNT: u64 = i64::MAX as u64;

/// Why a loaded group (RDB) cannot stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// Two consumers of the same name.
    DuplicateConsumer,
    /// A consumer owns an ID that is pending already (twice, or under another consumer).
    DuplicatePending,
}

impl ConsumerGroup {
    /// A group positioned at `last_id` (XGROUP CREATE's ID, `$` already resolved), with no
    /// consumers and an empty PEL.
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: PendingEntries::default(),
            names: BTreeMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            nacked: BTreeMap::new(),
            nack_tickets: HashMap::new(),
            next_ticket: 0,
            oldest_delivery: 0,
        }
    }

    /// Whether an owned pending entry may have been idle `min_idle` ms at `now` (false
    /// means surely not), or an entry waits in the NACK zone.
    pub fn may_have_idle(&self, now: u64, min_idle: u64) -> bool {
        !self.nacked.is_empty() || now.saturating_sub(self.oldest_delivery) >= min_idle
    }

    /// Records what a full walk of the owned pending entries found: the oldest delivery
    /// time among them (`u64::MAX` when there is none).
    pub fn set_oldest_delivery(&mut self, oldest: u64) {
        self.oldest_delivery = oldest;
    }

    /// Keeps [`ConsumerGroup::may_have_idle`] right when an entry gets `delivery_time`.
    pub fn note_delivery_time(&mut self, delivery_time: u64) {
        self.oldest_delivery = self.oldest_delivery.min(delivery_time);
    }

    /// The consumers in name order.
    pub fn consumers(&self) -> impl DoubleEndedIterator<Item = &Consumer> + '_ {
        self.names
            .values()
            .filter_map(|&slot| self.slots.get(slot).and_then(Option::as_ref))
    }

    /// How many consumers the group has.
    pub fn consumer_count(&self) -> usize {
        self.names.len()
    }

    /// The consumer named `name`.
    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        let slot = *self.names.get(name)?;
        self.slots.get(slot)?.as_ref()
    }

    /// The consumer named `name`, to change.
    pub fn consumer_mut(&mut self, name: &[u8]) -> Option<&mut Consumer> {
        let slot = *self.names.get(name)?;
        self.slot_mut(slot)
    }

    fn slot_mut(&mut self, slot: Slot) -> Option<&mut Consumer> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// The name of the consumer that owns `entry`; `None` when nobody does (NACKed).
    pub fn owner_name(&self, entry: &PendingEntry) -> Option<&Bytes> {
        let consumer = self.slots.get(entry.owner)?.as_ref()?;
        Some(&consumer.name)
    }

    /// Marks the consumer named `name` as seen at `now_ms`, creating it if absent; true when
    /// it was created.
    pub fn touch_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        match self.consumer_mut(name) {
            Some(consumer) => {
                consumer.seen_time = now_ms;
                false
            }
            None => {
                self.add_consumer(name, now_ms);
                true
            }
        }
    }

    /// Creates a consumer; false when it existed.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        if self.names.contains_key(name) {
            return false;
        }
        self.add_consumer(name, now_ms);
        true
    }

    /// Adds a consumer that is not there (its name copied into an allocation of its own,
    /// not a slice of some request buffer) in a free slot, or a new one.
    fn add_consumer(&mut self, name: &[u8], now_ms: u64) -> Slot {
        let name = Bytes::copy_from_slice(name);
        let consumer = Consumer {
            name: name.clone(),
            seen_time: now_ms,
            active_time: None,
            pending: OwnedIds::default(),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(consumer);
                slot
            }
            None => {
                self.slots.push(Some(consumer));
                self.slots.len() - 1
            }
        };
        self.names.insert(name, slot);
        slot
    }

    /// Deletes a consumer and its pending entries; returns how many were pending.
    pub fn delete_consumer(&mut self, name: &[u8]) -> u64 {
        let Some(slot) = self.names.remove(name) else {
            return 0;
        };
        let Some(consumer) = self.slots.get_mut(slot).and_then(Option::take) else {
            return 0;
        };
        self.free.push(slot);
        for id in consumer.pending.keys() {
            self.pel.remove(&id);
        }
        consumer.pending.len() as u64
    }

    /// Records a fresh delivery of each of `ids` to `consumer` (count 1), taking an entry
    /// from any other consumer that owned it (possible after XGROUP SETID). The consumer
    /// must exist (a read touches it first); deliveries to an unknown one are dropped.
    pub fn deliver_all(&mut self, ids: &[StreamId], consumer: &[u8], now_ms: u64) {
        let Some(&owner) = self.names.get(consumer) else {
            return;
        };
        if ids.is_empty() {
            return;
        }
        self.note_delivery_time(now_ms);
        for &id in ids {
            let pending = PendingEntry {
                owner,
                delivery_time: now_ms,
                delivery_count: 1,
            };
            if let Some(old) = self.pel.insert(id, pending) {
                if old.owner != owner {
                    self.release(id, old.owner);
                }
            }
        }
        if let Some(c) = self.slot_mut(owner) {
            for &id in ids {
                c.pending.insert(id, Held::YES);
            }
        }
    }

    /// Acknowledges each of `ids`; how many were pending.
    pub fn ack_all(&mut self, ids: &[StreamId]) -> u64 {
        let mut acked = 0;
        for id in ids {
            if self.ack(*id) {
                acked += 1;
            }
        }
        acked
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(entry) => {
                self.release(id, entry.owner);
                true
            }
            None => false,
        }
    }

    /// Takes `id` out of its owner's PEL, or out of the NACK zone when it has none.
    fn release(&mut self, id: StreamId, owner: Slot) {
        if owner == NO_OWNER {
            if let Some(ticket) = self.nack_tickets.remove(&id) {
                self.nacked.remove(&ticket);
            }
        } else if let Some(c) = self.slot_mut(owner) {
            c.pending.remove(&id);
        }
    }

    /// Moves the pending entry `id` to `consumer` (creating the PEL entry when `force`d),
    /// sets its delivery time, and its count to `retry_count` or one more (unless
    /// `keep_count`). Returns false when there was nothing to claim, or no such consumer
    /// (a claim touches it first).
    pub fn claim(
        &mut self,
        id: StreamId,
        consumer: &[u8],
        delivery_time: u64,
        retry_count: Option<u64>,
        keep_count: bool,
    ) -> bool {
        let Some(&owner) = self.names.get(consumer) else {
            return false;
        };
        let Some(entry) = self.pel.get_mut(&id) else {
            return false;
        };
        let previous = std::mem::replace(&mut entry.owner, owner);
        entry.delivery_time = delivery_time;
        match retry_count {
            Some(n) => entry.delivery_count = n,
            None if !keep_count => entry.delivery_count = one_more(entry.delivery_count),
            None => {}
        }
        self.note_delivery_time(delivery_time);
        if previous != owner {
            self.release(id, previous);
            if let Some(c) = self.slot_mut(owner) {
                c.pending.insert(id, Held::YES);
            }
        }
        true
    }

    /// Adds a PEL entry owned by nobody yet, for XCLAIM FORCE; the claim then assigns it.
    pub fn force_pending(&mut self, id: StreamId, now_ms: u64) {
        self.note_delivery_time(now_ms);
        if !self.pel.contains_key(&id) {
            // As in Redis, a forced entry starts as delivered once; the claim then counts.
            self.pel
                .insert(id, PendingEntry::owned_by(NO_OWNER, now_ms, 1));
        }
    }

    /// XNACK of one ID: a pending entry loses its owner and goes to the end of the NACK
    /// zone (again, if it was there), with its count adjusted by `mode` or set to `retry`.
    /// With `force`, an entry that is not pending but `exists` in the stream becomes a NACKed
    /// entry with count 0 before the adjustment. Returns whether the ID was NACKed.
    pub fn nack(
        &mut self,
        id: StreamId,
        mode: NackMode,
        retry: Option<u64>,
        force: bool,
        exists: bool,
    ) -> bool {
        if !self.pel.contains_key(&id) {
            if !(force && exists) {
                return false;
            }
            self.pel.insert(id, PendingEntry::owned_by(NO_OWNER, 0, 0));
        }
        let Some(entry) = self.pel.get_mut(&id) else {
            return false;
        };
        entry.delivery_count = match (retry, mode) {
            (Some(n), _) => n,
            (None, NackMode::Silent) => entry.delivery_count.saturating_sub(1),
            (None, NackMode::Fail) => entry.delivery_count,
            (None, NackMode::Fatal) => MAX_DELIVERY_COUNT,
        };
        entry.delivery_time = 0;
        let owner = std::mem::replace(&mut entry.owner, NO_OWNER);
        self.release(id, owner);
        self.push_nacked(id);
        true
    }

    fn push_nacked(&mut self, id: StreamId) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.nacked.insert(ticket, id);
        self.nack_tickets.insert(id, ticket);
    }

    /// The NACK zone, first NACKed first.
    pub fn nacked(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.nacked.values().copied()
    }

    /// Entries in the NACK zone (XINFO STREAM FULL's `nacked-count`).
    pub fn nacked_count(&self) -> usize {
        self.nacked.len()
    }

    /// Adds a loaded consumer (RDB) that owns `owned`, each with its delivery time and
    /// count.
    pub fn load_consumer(
        &mut self,
        name: Bytes,
        (seen_time, active_time): (u64, Option<u64>),
        owned: impl IntoIterator<Item = (StreamId, u64, u64)>,
    ) -> Result<(), LoadError> {
        if self.names.contains_key(&name) {
            return Err(LoadError::DuplicateConsumer);
        }
        let owner = self.add_consumer(&name, seen_time);
        let mut ids = OwnedIds::default();
        for (id, delivery_time, delivery_count) in owned {
            let entry = PendingEntry {
                owner,
                delivery_time,
                delivery_count,
            };
            if self.pel.insert(id, entry).is_some() {
                return Err(LoadError::DuplicatePending);
            }
            ids.insert(id, Held::YES);
        }
        if let Some(c) = self.slot_mut(owner) {
            c.active_time = active_time;
            c.pending = ids;
        }
        Ok(())
    }

    /// Adds a loaded unowned PEL entry (RDB) at the end of the NACK zone; false when the
    /// ID is pending already.
    pub fn load_nacked(&mut self, id: StreamId, delivery_time: u64, delivery_count: u64) -> bool {
        let entry = PendingEntry {
            owner: NO_OWNER,
            delivery_time,
            delivery_count,
        };
        if self.pel.contains_key(&id) {
            return false;
        }
        self.pel.insert(id, entry);
        self.push_nacked(id);
        true
    }
}

/// One delivery more, saturating at [`MAX_DELIVERY_COUNT`] (a FATAL NACK's count stays there).
pub fn one_more(count: u64) -> u64 {
    count.saturating_add(1).min(MAX_DELIVERY_COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> StreamId {
        StreamId { ms: n, seq: 0 }
    }

    /// Each consumer's pending set: what the PEL says it owns.
    fn owned(group: &ConsumerGroup) -> Vec<(Bytes, Vec<StreamId>)> {
        group
            .consumers()
            .map(|c| (c.name.clone(), c.pending.keys().collect()))
            .collect()
    }

    /// Batched deliveries and acknowledgements keep the PEL, the consumers' sets and the
    /// NACK zone in step: runs of owners, a taken-over entry, a NACKed entry, an unknown
    /// and a repeated ID.
    #[test]
    fn batched_delivery_and_ack_keep_the_books() {
        let (a, b) = (Bytes::from_static(b"a"), Bytes::from_static(b"b"));
        let mut g = ConsumerGroup::new(StreamId::MIN, Some(0));
        g.touch_consumer(&a, 1);
        g.touch_consumer(&b, 1);
        g.deliver_all(&[id(1), id(2), id(3)], &a, 10);
        g.deliver_all(&[id(4), id(5)], &b, 20);
        // Redelivered to b (as after XGROUP SETID): a no longer owns it.
        g.deliver_all(&[id(3)], &b, 30);
        assert_eq!(
            owned(&g),
            [
                (a.clone(), vec![id(1), id(2)]),
                (b.clone(), vec![id(3), id(4), id(5)])
            ]
        );
        assert!(g.nack(id(2), NackMode::Fail, None, false, true));
        assert_eq!(g.nacked_count(), 1);
        let acked = g.ack_all(&[id(1), id(2), id(4), id(3), id(9), id(4)]);
        assert_eq!(acked, 4);
        assert_eq!(g.nacked_count(), 0);
        assert_eq!(g.pel.keys().collect::<Vec<_>>(), [id(5)]);
        assert_eq!(owned(&g), [(a, vec![]), (b, vec![id(5)])]);
        assert_eq!(g.pel.get(&id(5)).map(|p| p.delivery_time), Some(20));
    }

    /// A deleted consumer's slot goes to the next new consumer; the entries of the others
    /// keep their owners, and the newcomer owns nothing of the deleted one's.
    #[test]
    fn a_freed_slot_is_reused_without_inheriting_entries() {
        let (a, b, c) = (&b"a"[..], &b"b"[..], &b"c"[..]);
        let mut g = ConsumerGroup::new(StreamId::MIN, Some(0));
        g.touch_consumer(a, 1);
        g.touch_consumer(b, 1);
        g.deliver_all(&[id(1), id(2)], a, 10);
        g.deliver_all(&[id(3)], b, 10);
        assert_eq!(g.delete_consumer(a), 2);
        assert!(g.create_consumer(c, 5));
        assert_eq!(g.consumer_count(), 2);
        assert_eq!(g.pel.keys().collect::<Vec<_>>(), [id(3)]);
        let owner = |g: &ConsumerGroup, n| g.pel.get(&id(n)).and_then(|p| g.owner_name(p)).cloned();
        assert_eq!(owner(&g, 3).as_deref(), Some(b));
        assert!(g.claim(id(3), c, 20, None, false));
        assert_eq!(owner(&g, 3).as_deref(), Some(c));
        assert_eq!(
            owned(&g),
            [
                (Bytes::from_static(b), vec![]),
                (Bytes::from_static(c), vec![id(3)])
            ]
        );
        // A claim by a consumer the group does not know changes nothing.
        assert!(!g.claim(id(3), a, 30, None, false));
        assert_eq!(owner(&g, 3).as_deref(), Some(c));
    }
}
