//! The typed values the stream API takes and returns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rill_engine::StreamId;

/// A decoded entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<T> {
    /// The ID the server gave the entry: ack, claim and resume reading by it.
    pub id: StreamId,
    /// The entry's fields, decoded with the stream's codec.
    pub value: T,
}

/// One end of an ID range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// No limit on this side (`-` or `+`).
    Unbounded,
    /// This ID and beyond (a plain ID argument).
    Included(StreamId),
    /// Strictly beyond this ID (the `(id` form, Redis 6.2 and later).
    Excluded(StreamId),
}

impl Bound {
    pub(crate) fn arg(self, low: bool) -> String {
        match self {
            Bound::Unbounded => (if low { "-" } else { "+" }).to_string(),
            Bound::Included(id) => id.to_string(),
            Bound::Excluded(id) => format!("({id}"),
        }
    }
}

/// A range of entry IDs, for range reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The low end, also for reverse reads (`-` when unbounded).
    pub start: Bound,
    /// The high end, also for reverse reads (`+` when unbounded).
    pub end: Bound,
}

impl IdRange {
    /// Every entry.
    pub fn all() -> IdRange {
        IdRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// From `id` on, inclusive.
    pub fn from(id: StreamId) -> IdRange {
        IdRange {
            start: Bound::Included(id),
            end: Bound::Unbounded,
        }
    }

    /// Strictly after `id`.
    pub fn after(id: StreamId) -> IdRange {
        IdRange {
            start: Bound::Excluded(id),
            end: Bound::Unbounded,
        }
    }

    /// Between two IDs, both included.
    pub fn between(start: StreamId, end: StreamId) -> IdRange {
        IdRange {
            start: Bound::Included(start),
            end: Bound::Included(end),
        }
    }

    /// Entries added in a wall-clock window `[from, to)`. IDs carry Unix milliseconds, so the
    /// window maps to `from_ms-0 ..= (to_ms-1)-max` exactly, with no unit mistakes to make.
    pub fn window(from: SystemTime, to: SystemTime) -> IdRange {
        IdRange {
            start: Bound::Included(id_at(from)),
            end: Bound::Excluded(id_at(to)),
        }
    }
}

/// The first possible ID at a wall-clock time: `unix_ms-0`.
pub fn id_at(time: SystemTime) -> StreamId {
    let ms = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    StreamId::new(ms, 0)
}

/// The wall-clock time an ID was generated at (auto IDs only carry meaning here).
pub fn time_of(id: StreamId) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(id.ms)
}

/// How to trim a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trim {
    /// Keep at most `len` entries; `approx` lets Redis keep a few more for speed (`~`).
    MaxLen {
        /// Entries to keep.
        len: u64,
        /// `~`: trim whole nodes only, so a few more entries may stay; much cheaper than exact.
        approx: bool,
    },
    /// Drop entries with IDs below `id`.
    MinId {
        /// The lowest ID to keep.
        id: StreamId,
        /// `~`: trim whole nodes only, so a few older entries may stay.
        approx: bool,
    },
    /// Drop entries older than `age`, by their ID's timestamp.
    MaxAge {
        /// The oldest age to keep. It becomes a MINID when the command is built, from this
        /// process's clock, not the server's.
        age: Duration,
        /// `~`: trim whole nodes only, so a few older entries may stay.
        approx: bool,
    },
}

impl Trim {
    pub(crate) fn args(self) -> Vec<String> {
        let (kind, approx, threshold) = match self {
            Trim::MaxLen { len, approx } => ("MAXLEN", approx, len.to_string()),
            Trim::MinId { id, approx } => ("MINID", approx, id.to_string()),
            Trim::MaxAge { age, approx } => {
                let cutoff = SystemTime::now().checked_sub(age).unwrap_or(UNIX_EPOCH);
                ("MINID", approx, id_at(cutoff).to_string())
            }
        };
        vec![
            kind.to_string(),
            (if approx { "~" } else { "=" }).to_string(),
            threshold,
        ]
    }
}

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStart {
    /// Every entry already in the stream (`0`).
    Beginning,
    /// Only entries added from now on (`$`).
    NewOnly,
    /// After a given ID.
    After(StreamId),
}

impl GroupStart {
    pub(crate) fn arg(self) -> String {
        match self {
            GroupStart::Beginning => "0".into(),
            GroupStart::NewOnly => "$".into(),
            GroupStart::After(id) => id.to_string(),
        }
    }
}

/// XINFO STREAM.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Entries in the stream now (what XLEN answers).
    pub length: u64,
    /// The highest ID ever added. It does not go back when that entry is deleted, so it can be
    /// above `last_entry_id`, and new auto IDs always come after it.
    pub last_generated_id: StreamId,
    /// The highest ID ever removed by XDEL or trimming; `0-0` if none.
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added, deleted ones included: a count of XADDs, not the length.
    pub entries_added: u64,
    /// The first live entry's ID as the server records it (`0-0` when empty); with
    /// `max_deleted_entry_id` it decides whether a group's lag can be known.
    pub recorded_first_entry_id: StreamId,
    /// Number of consumer groups.
    pub groups: u64,
    /// ID of the first and last entries, if any.
    pub first_entry_id: Option<StreamId>,
    /// The last live entry's ID; `None` when empty. Below `last_generated_id` when the newest
    /// entries were deleted.
    pub last_entry_id: Option<StreamId>,
}

/// XINFO GROUPS, one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfo {
    /// The group's name.
    pub name: String,
    /// Consumers the group knows, idle ones included: Redis only forgets a consumer on XGROUP
    /// DELCONSUMER.
    pub consumers: u64,
    /// Entries delivered to the group's consumers and not yet acknowledged (the PEL's size).
    pub pending: u64,
    /// The last ID delivered to any consumer of the group: `>` reads continue after it.
    pub last_delivered_id: StreamId,
    /// `None` when the server cannot know it.
    pub entries_read: Option<u64>,
    /// Entries not yet delivered to the group; `None` when the server cannot know it.
    /// Negative when the group was given an entries-read count beyond the stream's (as
    /// Redis reports it).
    pub lag: Option<i64>,
}

/// XINFO CONSUMERS, one consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerInfo {
    /// The consumer's name, as given to XREADGROUP.
    pub name: String,
    /// Entries this consumer holds in the group's PEL: delivered, not yet acknowledged.
    pub pending: u64,
    /// Since the consumer last tried anything.
    pub idle: Duration,
    /// Since its last successful read or claim; `None` if never (or the server predates 7.2).
    pub inactive: Option<Duration>,
}

/// XPENDING summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PendingSummary {
    /// Entries pending in the whole group.
    pub count: u64,
    /// Lowest pending ID; `None` when nothing is pending.
    pub first_id: Option<StreamId>,
    /// Highest pending ID; `None` when nothing is pending.
    pub last_id: Option<StreamId>,
    /// Pending count per consumer.
    pub consumers: Vec<(String, u64)>,
}

/// XPENDING extended form, one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    /// The pending entry's ID.
    pub id: StreamId,
    /// The consumer that holds it now.
    pub consumer: String,
    /// Time since it was last delivered or claimed (the server's clock, ms resolution).
    pub idle: Duration,
    /// Times it was delivered: 1 after the first read, one more for each re-read of the consumer's
    /// history and each XCLAIM.
    pub deliveries: u64,
}

/// What to list with [`crate::Stream::pending_entries`].
#[derive(Debug, Clone, PartialEq)]
pub struct PendingQuery {
    /// Which pending IDs to list; all by default.
    pub range: IdRange,
    /// At most this many entries (100 by default): XPENDING's extended form always takes a count.
    pub count: usize,
    /// Only entries of this consumer.
    pub consumer: Option<String>,
    /// Only entries idle at least this long.
    pub min_idle: Option<Duration>,
}

impl Default for PendingQuery {
    fn default() -> Self {
        PendingQuery {
            range: IdRange::all(),
            count: 100,
            consumer: None,
            min_idle: None,
        }
    }
}

/// XAUTOCLAIM's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoClaimed<T> {
    /// Where the next call should start; `0-0` once the whole PEL was scanned.
    pub next: StreamId,
    /// The entries taken over; they now count as delivered to the claiming consumer. Those
    /// the codec could not decode are in its `undecodable` list, pending like the others.
    pub claimed: crate::Batch<Entry<T>>,
    /// Pending IDs whose entries were deleted: the server dropped them from the PEL.
    pub deleted: Vec<StreamId>,
}

/// An entry re-read from a consumer's own pending list: `None` when it was deleted since.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRead<T> {
    /// The pending entry's ID: acknowledge it even when `value` is `None`, or it stays pending.
    pub id: StreamId,
    /// The decoded entry; `None` when it was deleted from the stream while pending.
    pub value: Option<T>,
}

/// What deleting or trimming does to consumer groups' references to the entries (Redis 8.2):
/// KEEPREF (the default), DELREF, ACKED; see XDELEX, XACKDEL and the policies on XADD/XTRIM.
pub use rill_engine::group::NackMode;
pub use rill_engine::stream::references::RefPolicy;

/// What XDELEX or XACKDEL did with one ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted (XACKDEL: acknowledged, and deleted or already gone).
    Deleted,
    /// Not there (XACKDEL: not pending in the group), so nothing happened.
    NotFound,
    /// Kept because a group still needs it (ACKED); XACKDEL acknowledged it all the same.
    StillReferenced,
}

/// An entry handed to a consumer by a claiming read (XREADGROUP ... CLAIM).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<T> {
    /// The entry.
    pub entry: Entry<T>,
    /// How long it had been idle when claimed from another delivery; `None` for a new entry.
    pub idle: Option<Duration>,
    /// Deliveries before this one (0 for a new entry): a retry count for poison detection.
    pub previous_deliveries: u64,
}
