//! Consumer groups: the last delivered ID, the entries-read counter, the pending entries list
//! (PEL: delivered, not yet acknowledged) and the consumers, each with its own PEL index.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::id::StreamId;

/// One delivered, unacknowledged entry.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    /// The consumer that owns it now.
    pub consumer: Bytes,
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
}

impl ConsumerGroup {
    /// A group positioned at `last_id` (XGROUP CREATE's ID, `$` already resolved), with no
    /// consumers and an empty PEL.
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
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

    /// Records a fresh delivery of `id` to `consumer` (count 1), taking the entry from any
    /// other consumer that owned it (possible after XGROUP SETID).
    pub fn deliver(&mut self, id: StreamId, consumer: &Bytes, now_ms: u64) {
        let owner = self.owned_name(consumer);
        let previous = self.pel.insert(
            id,
            PendingEntry {
                consumer: owner,
                delivery_time: now_ms,
                delivery_count: 1,
            },
        );
        if let Some(old) = previous {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pending.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(entry) => {
                if let Some(c) = self.consumers.get_mut(&entry.consumer) {
                    c.pending.remove(&id);
                }
                true
            }
            None => false,
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
        let Some(entry) = self.pel.get_mut(&id) else {
            return false;
        };
        let previous = std::mem::replace(&mut entry.consumer, owner);
        entry.delivery_time = delivery_time;
        match retry_count {
            Some(n) => entry.delivery_count = n,
            None if !keep_count => entry.delivery_count += 1,
            None => {}
        }
        if previous != *consumer {
            if let Some(c) = self.consumers.get_mut(&previous) {
                c.pending.remove(&id);
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
        true
    }

    /// Adds a PEL entry owned by nobody yet, for XCLAIM FORCE; the claim then assigns it.
    pub fn force_pending(&mut self, id: StreamId, now_ms: u64) {
        self.pel.entry(id).or_insert(PendingEntry {
            consumer: Bytes::new(),
            delivery_time: now_ms,
            // As in Redis, a forced entry starts as delivered once; the claim then counts.
            delivery_count: 1,
        });
    }
}
