//! [`RetryQueue`]: a consumer's failed entries, waiting in its PEL for their backoff to end.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use rill_engine::StreamId;

/// A failed entry waiting in the consumer's PEL for its next attempt.
#[derive(Clone, Copy)]
pub(super) struct Retry {
    pub(super) due: Instant,
    pub(super) deliveries: u64,
    pub(super) held_since: Instant,
}

/// Failed entries by due time; one slot per entry ID.
#[derive(Default)]
pub(super) struct RetryQueue {
    by_due: BTreeSet<(Instant, StreamId)>,
    items: HashMap<StreamId, Retry>,
}

impl RetryQueue {
    pub(super) fn schedule(&mut self, id: StreamId, retry: Retry) {
        if let Some(old) = self.items.insert(id, retry) {
            self.by_due.remove(&(old.due, id));
        }
        self.by_due.insert((retry.due, id));
    }

    /// Entries waiting for a retry.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn remove(&mut self, id: StreamId) {
        if self.items.is_empty() {
            // The common case, every handled entry: no hashing for an empty queue.
            return;
        }
        if let Some(old) = self.items.remove(&id) {
            self.by_due.remove(&(old.due, id));
        }
    }

    /// Empties the queue; the IDs that were waiting.
    pub(super) fn drain_ids(&mut self) -> Vec<StreamId> {
        self.by_due.clear();
        self.items.drain().map(|(id, _)| id).collect()
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        self.by_due.first().map(|(due, _)| *due)
    }

    pub(super) fn take_due(&mut self, now: Instant, max: usize) -> Vec<(StreamId, Retry)> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.by_due.first() {
                Some(&(due, id)) if due <= now => {
                    self.by_due.pop_first();
                    if let Some(retry) = self.items.remove(&id) {
                        out.push((id, retry));
                    }
                }
                _ => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retry_queue_keeps_one_slot_per_entry_in_due_order() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        let r = |due| Retry {
            due,
            deliveries: 1,
            held_since: now,
        };
        let mut q = RetryQueue::default();
        q.schedule(StreamId::new(2, 0), r(now));
        q.schedule(StreamId::new(1, 0), r(later));
        q.schedule(StreamId::new(1, 0), r(now)); // rescheduled, not duplicated
        q.schedule(StreamId::new(3, 0), r(later));
        q.remove(StreamId::new(3, 0));
        let ids: Vec<StreamId> = q.take_due(now, 10).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [StreamId::new(1, 0), StreamId::new(2, 0)]);
        assert_eq!(q.next_due(), None);
    }
}
