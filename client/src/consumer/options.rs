//! [`ConsumerOptions`]: how a consumer reads, retries, reclaims and dead-letters.

use std::time::Duration;

use crate::types::{GroupStart, RefPolicy};

/// How a consumer reads, retries, reclaims and dead-letters. Build it from the defaults with
/// the setters:
///
/// ```
/// use rill::ConsumerOptions;
/// use std::time::Duration;
///
/// let options = ConsumerOptions::default()
///     .batch_size(50)
///     .concurrency(8)
///     .max_deliveries(Some(3))
///     .backoff(Duration::from_millis(200), Duration::from_secs(5));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerOptions {
    pub(super) batch_size: usize,
    pub(super) block: Duration,
    pub(super) concurrency: usize,
    pub(super) max_deliveries: Option<u64>,
    dead_letter_stream: Option<String>,
    pub(super) backoff_initial: Duration,
    pub(super) backoff_max: Duration,
    pub(super) claim_idle: Option<Duration>,
    pub(super) ack_on_success: bool,
    pub(super) create_group: Option<GroupStart>,
    pub(super) handler_timeout: Option<Duration>,
    pub(super) newer_commands: bool,
    pub(super) delete_on_ack: Option<RefPolicy>,
}

impl Default for ConsumerOptions {
    /// Batches of 10, 2 s blocking reads, one handler at a time, 5 deliveries before the
    /// dead-letter stream `<stream>:dead`, retries after 100 ms doubling up to 10 s, reclaim of
    /// entries idle for 60 s, ack on success, and no group creation.
    fn default() -> Self {
        ConsumerOptions {
            batch_size: 10,
            block: Duration::from_secs(2),
            concurrency: 1,
            max_deliveries: Some(5),
            dead_letter_stream: None,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            claim_idle: Some(Duration::from_secs(60)),
            ack_on_success: true,
            create_group: None,
            handler_timeout: None,
            newer_commands: true,
            delete_on_ack: None,
        }
    }
}

impl ConsumerOptions {
    /// At most this many entries per read, retry or reclaim (the COUNT; at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The longest a read waits for new entries. Shutdown does not wait for it (the read is
    /// raced against the signal); it bounds how long the loop sleeps when nothing comes.
    /// At least 1 ms (a zero BLOCK would mean "forever" to the server).
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.max(Duration::from_millis(1));
        self
    }

    /// How many handlers run at the same time (1: one after the other, in ID order). A
    /// handler starts as soon as a slot is free: a slow one holds its own slot, not the
    /// others, and the consumer fetches more whenever a slot is free and nothing fetched is
    /// waiting, so at most `concurrency` entries are being handled and at most `batch_size`
    /// wait for a slot.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// After how many deliveries a failing entry goes to the dead-letter stream (`None`: retry
    /// for ever; `Some(0)` counts as `Some(1)`). The count is the server's delivery count.
    pub fn max_deliveries(mut self, max: Option<u64>) -> Self {
        self.max_deliveries = max.map(|n| n.max(1));
        self
    }

    /// The dead-letter stream's key (default `<stream>:dead`).
    pub fn dead_letter_stream(mut self, key: &str) -> Self {
        self.dead_letter_stream = Some(key.to_string());
        self
    }

    /// The wait before retrying a failed entry: `initial` after its first delivery, doubling
    /// with each further delivery, never more than `max`. Also paces reconnection attempts
    /// when the server is unreachable.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// Take over pending entries idle longer than this, from any consumer of the group
    /// (`None`: never). Keep it well above the longest time an entry spends with a consumer
    /// (waiting for a slot, its handler's run, its longest backoff), or other consumers take
    /// over entries still in hand.
    pub fn claim_idle(mut self, idle: Option<Duration>) -> Self {
        self.claim_idle = idle;
        self
    }

    /// Acknowledge an entry when its handler returns `Ok` (default). Turn it off when the
    /// handler acknowledges by itself (e.g. in the same transaction as its own writes).
    pub fn ack_on_success(mut self, ack: bool) -> Self {
        self.ack_on_success = ack;
        self
    }

    /// Gives up on a handler that runs longer than this: the entry counts as failed (and is
    /// retried or dead-lettered like any failure), and a hung handler cannot hold shutdown
    /// up forever. None (the default) lets handlers take as long as they need.
    pub fn handler_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Use the stream commands newer than Redis 7.0 where the server has them (the
    /// default): reclaim in the read itself (XREADGROUP ... CLAIM, Redis 8.4) and hand held
    /// entries back at shutdown (XNACK, Redis 8.8). Whether the server has them is found out
    /// on first use; older servers get the XAUTOCLAIM path. `false` keeps to Redis 7.0's
    /// commands everywhere.
    pub fn newer_commands(mut self, use_them: bool) -> Self {
        self.newer_commands = use_them;
        self
    }

    /// Delete entries as they are acknowledged (XACKDEL with `policy`, Redis 8.2 and
    /// rill-server), for work-queue streams whose entries are of no use once handled;
    /// [`RefPolicy::Acked`] deletes an entry only once every group has acknowledged it. A
    /// server without XACKDEL fails the run with its error rather than keep the entries.
    pub fn delete_on_ack(mut self, policy: Option<RefPolicy>) -> Self {
        self.delete_on_ack = policy;
        self
    }

    /// Create the group (and the stream) at start unless it exists, starting at `start`.
    /// By default the group must exist already, and `run` fails with NOGROUP otherwise.
    pub fn create_group(mut self, start: GroupStart) -> Self {
        self.create_group = Some(start);
        self
    }

    /// The wait before the next delivery of an entry whose `deliveries`-th delivery failed.
    pub fn retry_delay(&self, deliveries: u64) -> Duration {
        let doublings = deliveries.saturating_sub(1).min(31) as u32;
        self.backoff_initial
            .checked_mul(1u32 << doublings)
            .map_or(self.backoff_max, |d| d.min(self.backoff_max))
    }

    pub(super) fn dead_letter_key(&self, stream: &str) -> String {
        dead_letter_key(self.dead_letter_stream.as_deref(), stream)
    }
}

/// The dead-letter stream: the one given, else `<stream>:dead`.
pub(crate) fn dead_letter_key(given: Option<&str>, stream: &str) -> String {
    match given {
        Some(key) => key.to_string(),
        None => format!("{stream}:dead"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let o =
            ConsumerOptions::default().backoff(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u64> = (1..=6)
            .map(|n| o.retry_delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(o.retry_delay(0), Duration::from_millis(100));
        assert_eq!(o.retry_delay(u64::MAX), Duration::from_secs(1));
    }
}
