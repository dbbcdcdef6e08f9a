//! Consumer groups: the last delivered ID, the entries-read counter, the pending entries list
//! (PEL: delivered, not yet acknowledged) and the consumers, each with its own PEL index.
//!
//! Since Redis 8.8 a consumer can hand an entry back (XNACK): it stays pending, owned by no
//! one, in the group's NACK zone, which claims (XREADGROUP CLAIM, XCLAIM, XAUTOCLAIM) serve
//! first and in the order the entries were NACKed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;

use crate::id::StreamId;

/// One delivered, unacknowledged entry.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    /// The consumer that owns it now; `None` once NACKed, until a claim takes it.
    pub consumer: Option<Bytes>,
    /// When it was last delivered (ms), for idle times.
    pub delivery_time: u64,
    /// Times delivered (XPENDING's fourth column): 1 on the first read, one more for each re-read
    /// of the consumer's history and each XCLAIM without JUSTID.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// Last time the consumer tried anything (read, claim...), in ms.
    pub seen_time: u64,
    /// Last successful delivery or claim, in ms; `None` when never (shown as -1).
    pub active_time: Option<u64>,
    /// IDs of the entries this consumer owns in the group's PEL.
    pub pending: BTreeSet<StreamId>,
}

impl Consumer {
    fn new(now_ms: u64) -> Consumer {
        Consumer {
            seen_time: now_ms,
            active_time: None,
            pending: BTreeSet::new(),
        }
    }
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
    /// must stay in step.
    pub pel: BTreeMap<StreamId, PendingEntry>,
    /// By name, in name order (XINFO CONSUMERS and XPENDING list them so).
    pub consumers: BTreeMap<Bytes, Consumer>,
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

/// Takes `id` out of a group's NACK zone, if it is there.
fn unticket(
    tickets: &mut HashMap<StreamId, u64>,
    nacked: &mut BTreeMap<u64, StreamId>,
    id: StreamId,
) {
    if let Some(ticket) = tickets.remove(&id) {
        nacked.remove(&ticket);
    }
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

impl ConsumerGroup {
    /// A group positioned at `last_id` (XGROUP CREATE's ID, `$` already resolved), with no
    /// consumers and an empty PEL.
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
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

    /// The consumer named `name`, created if absent; its seen-time becomes `now_ms`.
    pub fn touch_consumer(&mut self, name: &Bytes, now_ms: u64) -> &mut Consumer {
        if !self.consumers.contains_key(name) {
            self.create_consumer(name, now_ms);
        }
        let consumer = self
            .consumers
            .entry(name.clone())
            .or_insert_with(|| Consumer::new(now_ms));
        consumer.seen_time = now_ms;
        consumer
    }

    /// The consumer's name as stored by the group (its own allocation, not a slice of some
    /// request buffer), for PEL entries to share.
    fn owned_name(&self, name: &Bytes) -> Bytes {
        self.consumers
            .get_key_value(name)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Bytes::copy_from_slice(name))
    }

    /// Creates a consumer; false when it existed.
    pub fn create_consumer(&mut self, name: &Bytes, now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers
            .insert(Bytes::copy_from_slice(name), Consumer::new(now_ms));
        true
    }

    /// Deletes a consumer and its pending entries; returns how many were pending.
    pub fn delete_consumer(&mut self, name: &[u8]) -> u64 {
        let Some(consumer) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &consumer.pending {
            self.pel.remove(id);
        }
        consumer.pending.len() as u64
    }

    /// Records a fresh delivery of each of `ids` to `consumer` (count 1), taking an entry
    /// from any other consumer that owned it (possible after XGROUP SETID). The consumer is
    /// looked up once for them all.
    pub fn deliver_all(&mut self, ids: &[StreamId], consumer: &Bytes, now_ms: u64) {
        if ids.is_empty() {
            return;
        }
        self.note_delivery_time(now_ms);
        let owner = self.owned_name(consumer);
        for &id in ids {
            let pending = PendingEntry {
                consumer: Some(owner.clone()),
                delivery_time: now_ms,
                delivery_count: 1,
            };
            if let Some(old) = self.pel.insert(id, pending) {
                self.release(id, old.consumer.as_ref());
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.extend(ids.iter().copied());
        }
    }

    /// Acknowledges each of `ids`; how many were pending. Runs of entries owned by the
    /// same consumer (a worker acknowledging its batch) look that consumer up once.
    pub fn ack_all(&mut self, ids: &[StreamId]) -> u64 {
        let mut acked = 0;
        // The owner of the run being acknowledged, and its entry (`None`: no such consumer).
        let mut run: Option<(Bytes, Option<&mut Consumer>)> = None;
        for id in ids {
            let Some(entry) = self.pel.remove(id) else {
                continue;
            };
            acked += 1;
            match entry.consumer {
                Some(owner) => {
                    if run.as_ref().is_none_or(|(name, _)| *name != owner) {
                        let consumer = self.consumers.get_mut(&owner);
                        run = Some((owner, consumer));
                    }
                    if let Some((_, Some(consumer))) = run.as_mut() {
                        consumer.pending.remove(id);
                    }
                }
                None => unticket(&mut self.nack_tickets, &mut self.nacked, *id),
            }
        }
        acked
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(entry) => {
                self.release(id, entry.consumer.as_ref());
                true
            }
            None => false,
        }
    }

    /// Takes `id` out of its owner's PEL, or out of the NACK zone when it has none.
    fn release(&mut self, id: StreamId, owner: Option<&Bytes>) {
        match owner {
            Some(name) => {
                if let Some(c) = self.consumers.get_mut(name) {
                    c.pending.remove(&id);
                }
            }
            None => unticket(&mut self.nack_tickets, &mut self.nacked, id),
        }
    }

    /// Moves the pending entry `id` to `consumer` (creating the PEL entry when `force`d),
    /// sets its delivery time, and its count to `retry_count` or one more (unless
    /// `keep_count`). Returns false when there was nothing to claim.
    pub fn claim(
        &mut self,
        id: StreamId,
        consumer: &Bytes,
        delivery_time: u64,
        retry_count: Option<u64>,
        keep_count: bool,
    ) -> bool {
        let owner = self.owned_name(consumer);
        self.oldest_delivery = self.oldest_delivery.min(delivery_time);
        let Some(entry) = self.pel.get_mut(&id) else {
            return false;
        };
        let previous = entry.consumer.replace(owner);
        entry.delivery_time = delivery_time;
        match retry_count {
            Some(n) => entry.delivery_count = n,
            None if !keep_count => entry.delivery_count = one_more(entry.delivery_count),
            None => {}
        }
        if previous.as_ref() != Some(consumer) {
            self.release(id, previous.as_ref());
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
        true
    }

    /// Adds a PEL entry owned by nobody yet, for XCLAIM FORCE; the claim then assigns it.
    pub fn force_pending(&mut self, id: StreamId, now_ms: u64) {
        self.note_delivery_time(now_ms);
        self.pel.entry(id).or_insert(PendingEntry {
            consumer: None,
            delivery_time: now_ms,
            // As in Redis, a forced entry starts as delivered once; the claim then counts.
            delivery_count: 1,
        });
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
        let entry = match self.pel.entry(id) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) if force && exists => {
                e.insert(PendingEntry {
                    consumer: None,
                    delivery_time: 0,
                    delivery_count: 0,
                })
            }
            std::collections::btree_map::Entry::Vacant(_) => return false,
        };
        entry.delivery_count = match (retry, mode) {
            (Some(n), _) => n,
            (None, NackMode::Silent) => entry.delivery_count.saturating_sub(1),
            (None, NackMode::Fail) => entry.delivery_count,
            (None, NackMode::Fatal) => MAX_DELIVERY_COUNT,
        };
        entry.delivery_time = 0;
        let owner = entry.consumer.take();
        self.release(id, owner.as_ref());
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

    /// Puts a loaded unowned PEL entry back at the end of the NACK zone (RDB load).
    pub fn load_nacked(&mut self, id: StreamId) -> bool {
        match self.pel.get(&id) {
            Some(p) if p.consumer.is_none() && !self.nack_tickets.contains_key(&id) => {
                self.push_nacked(id);
                true
            }
            _ => false,
        }
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
            .consumers
            .iter()
            .map(|(name, c)| (name.clone(), c.pending.iter().copied().collect()))
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
        assert_eq!(g.pel.keys().copied().collect::<Vec<_>>(), [id(5)]);
        assert_eq!(owned(&g), [(a, vec![]), (b, vec![id(5)])]);
        assert_eq!(g.pel.get(&id(5)).map(|p| p.delivery_time), Some(20));
    }
}
