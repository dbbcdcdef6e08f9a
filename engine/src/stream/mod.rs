//! One stream: packed nodes indexed by their first ID, plus the bookkeeping Redis keeps
//! (length, last generated ID, max deleted ID, entries added, first ID).

pub mod idmp;
pub mod listpack_size;
pub mod node;
pub mod references;
pub mod unpacked;

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use crate::group::ConsumerGroup;
use crate::id::StreamId;
use node::EntryHead;
pub use node::{EntryView, Node, NodeRef};

/// Where a node ends, from `stream-node-max-entries` and `stream-node-max-bytes`.
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    /// Entries per node before a new node starts (`stream-node-max-entries`); 0 means no entry
    /// limit.
    pub max_entries: u64,
    /// Listpack bytes per node before a new node starts (`stream-node-max-bytes`); 0 or anything
    /// above 1 GiB means 1 GiB.
    pub max_bytes: u64,
    /// Pack a node with LZ4 once it is full (`rill-stream-compression lz4`).
    pub compress: bool,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_entries: 100,
            max_bytes: 4096,
            compress: true,
        }
    }
}

/// Redis caps a listpack at 1 GiB whatever the configuration says.
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// Nodes a stream seals before it takes an LZ4 dictionary. The dictionary (the last
/// [`DICTIONARY_BYTES`] of a sealed node: its newest entries) lets every later node refer
/// back to the shapes all events share (field names, JSON keys) instead of spelling them out
/// once per node: about a tenth smaller on varied JSON events. Below this many nodes it would
/// cost more than it saves.
const NODES_BEFORE_DICTIONARY: usize = 16;

/// A dictionary's size: an event or two carry the shapes; a whole node (4 KB) packs only a
/// hair smaller and costs half as much again to pack and unpack (measured with lz4_flex).
const DICTIONARY_BYTES: usize = 512;

/// How a trim decides what goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimStrategy {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries with an ID below this one.
    MinId(StreamId),
}

/// A trim request as XADD and XTRIM parse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// MAXLEN or MINID, with its threshold.
    pub strategy: TrimStrategy,
    /// `~`: only whole nodes go, so the stream may keep a few more entries than asked.
    pub approx: bool,
    /// With `~`, at most this many entries are removed (0: no limit).
    pub limit: u64,
}

/// A stream value.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// Nodes by first ID. Behind a pointer: a B-tree slot then holds a pointer rather than
    /// the whole node, and append-only B-trees leave many slots empty. Shared (`Arc`) so that
    /// a copy of the stream (an AOF rewrite's snapshot) costs a pointer per node; a node is
    /// copied only when written while a snapshot still holds it (copy on write).
    nodes: BTreeMap<StreamId, Arc<Node>>,
    length: u64,
    /// The last generated ID (`last-generated-id`). It does not go down when entries are deleted,
    /// so new IDs stay unique; only XSETID moves it by hand.
    pub last_id: StreamId,
    /// The first live entry's ID (`recorded-first-entry-id`), `0-0` when empty; lag estimates
    /// compare it with `max_deleted_id`. Call `refresh_first_id` after deleting at the head.
    pub first_id: StreamId,
    /// The highest ID ever deleted, by XDEL or trimming (`max-deleted-entry-id`); `0-0` if none. A
    /// group that has not read past it cannot have an exact lag.
    pub max_deleted_id: StreamId,
    /// Entries ever added (`entries-added`), deleted ones included; XSETID ENTRIESADDED can set it.
    pub entries_added: u64,
    /// Consumer groups by name, in name order (XINFO GROUPS lists them so).
    pub groups: BTreeMap<bytes::Bytes, ConsumerGroup>,
    /// The highest ID ever tombstoned in place (XDEL and its kin, trims under DELREF or
    /// ACKED, which may skip entries and delete later ones). Not shown anywhere: it keeps
    /// [`Stream::last_valid_id`]'s shortcut honest where `max_deleted_id` cannot, since
    /// XSETID MAXDELETEDID may lower that one below a tombstone still in the tail node.
    tombstone_max: StreamId,
    /// Idempotent production (XADD IDMP/IDMPAUTO, XCFGSET): settings, producers, counters.
    pub idmp: idmp::Idmp,
    /// What later packed nodes are packed against (see [`NODES_BEFORE_DICTIONARY`]); never
    /// changes once set, as packed nodes depend on it.
    dictionary: Option<Arc<[u8]>>,
}

impl Stream {
    /// An empty stream, as XADD or XGROUP CREATE MKSTREAM makes it.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// No live entries. An empty stream is still a key: XDEL and trimming never delete it.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of nodes (`radix-tree-keys` in XINFO STREAM).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Approximate heap bytes held (for INFO memory).
    pub fn heap_bytes(&self) -> usize {
        self.nodes
            .values()
            .map(|n| n.heap_bytes() + std::mem::size_of::<Node>() + 16)
            .sum::<usize>()
            + self.idmp.heap_bytes()
            + self.dictionary.as_ref().map_or(0, |d| d.len() + 16)
    }

    /// Appends an entry with an ID the caller validated to be greater than `last_id`.
    pub fn append(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], limits: NodeLimits) {
        let payload: u64 = fields.iter().map(|(f, v)| (f.len() + v.len()) as u64).sum();
        let mut max_bytes = limits.max_bytes;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        let node_count = self.nodes.len();
        let appended = match self.nodes.last_entry() {
            Some(mut tail) => {
                let node = Arc::make_mut(tail.get_mut());
                let full = node.listpack_bytes() as u64 + payload >= max_bytes
                    || (limits.max_entries > 0 && node.stored() >= limits.max_entries);
                if full {
                    // (A node already packed, sealed again as the tail it became once
                    // more, is not where a dictionary comes from.)
                    if limits.compress
                        && self.dictionary.is_none()
                        && node_count >= NODES_BEFORE_DICTIONARY
                        && !node.is_packed()
                    {
                        let plain = node.plain_bytes();
                        let tail = &plain[plain.len().saturating_sub(DICTIONARY_BYTES)..];
                        self.dictionary = Some(Arc::from(tail));
                    }
                    node.seal(limits.compress, self.dictionary.as_deref());
                    false
                } else {
                    // A sealed node is the tail again when the node after it lost its last
                    // entry: it takes entries while it has room, as Redis's listpack does,
                    // once it is plain again.
                    node.unpack_in_place(self.dictionary.as_deref());
                    node.push(id, fields);
                    true
                }
            }
            None => false,
        };
        if !appended {
            self.nodes.insert(id, Arc::new(Node::new(id, fields)));
        }
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// Live entries with `start <= id <= end`, in order (or reverse order).
    pub fn range(&self, start: StreamId, end: StreamId, reverse: bool) -> Range<'_> {
        Range::new(self, start, end, reverse)
    }

    /// The first live entry.
    pub fn first_entry(&self) -> Option<EntryView<'_>> {
        self.range(StreamId::MIN, StreamId::MAX, false).next()
    }

    /// The last live entry.
    pub fn last_entry(&self) -> Option<EntryView<'_>> {
        self.range(StreamId::MIN, StreamId::MAX, true).next()
    }

    /// Deletes one entry; returns whether it was there. Empty nodes are dropped.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        if !Arc::make_mut(node).delete(id, self.dictionary.as_deref()) {
            return false;
        }
        self.tombstone_max = self.tombstone_max.max(id);
        if node.live() == 0 {
            self.nodes.remove(&key);
        }
        self.length -= 1;
        true
    }

    /// Deletes entry `id` as XDEL does: `max-deleted-entry-id` rises to it and
    /// `recorded-first-entry-id` follows when the first entry goes. Whether it was there.
    pub fn delete_recorded(&mut self, id: StreamId) -> bool {
        if !self.delete(id) {
            return false;
        }
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if self.is_empty() {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.refresh_first_id();
        }
        true
    }

    /// Recomputes `first_id` after deletions at the head, as Redis does.
    pub fn refresh_first_id(&mut self) {
        self.first_id = match self.first_entry() {
            Some(e) => e.id,
            None => StreamId::MIN,
        };
    }

    /// Whether a live entry with this ID exists.
    pub fn contains(&self, id: StreamId) -> bool {
        self.range(id, id, false).next().is_some()
    }

    /// The ID of the last live entry (0-0 when empty).
    pub fn last_valid_id(&self) -> StreamId {
        // Only deletions in place leave a tombstone at the tail (head trims never mark a
        // node's last entry), and each raises `tombstone_max`: when that is below the tail's
        // last ID, the tail's last entry is live and no walk is needed.
        if let Some((_, tail)) = self.nodes.last_key_value() {
            if self.tombstone_max < tail.last_id() {
                return tail.last_id();
            }
        }
        self.last_entry().map(|e| e.id).unwrap_or(StreamId::MIN)
    }

    /// Whether a deleted entry may lie in `start..=end` (only the newest tombstone is known,
    /// as in Redis). A tombstone before the first live entry still counts: it may lie after
    /// a group that lags behind (redis/redis#13338).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id == StreamId::MIN {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical read counter of `id` (its distance from the first entry ever added), when
    /// it can be known without walking the stream.
    pub fn estimate_entries_read(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        // A tombstone after `id` makes its position unknowable.
        if id != StreamId::MIN && id < self.max_deleted_id {
            return None;
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted_id == StreamId::MIN || self.max_deleted_id < self.first_id {
            // (Loading refuses entries-added below the length, and XSETID too; saturating
            // all the same: a counter is no reason to panic.)
            let before_first = self.entries_added.saturating_sub(self.length);
            if id < self.first_id {
                return Some(before_first);
            }
            if id == self.first_id {
                return Some(before_first + 1);
            }
        }
        None
    }

    /// Whether a group's own entries-read counter still describes its position: known, not
    /// behind the first entry (trimmed entries were never read), no tombstone after it.
    pub fn group_counter_valid(&self, group: &ConsumerGroup) -> bool {
        group.entries_read.is_some()
            && group.last_id >= self.first_id
            && !self.range_has_tombstones(group.last_id, StreamId::MAX)
    }

    /// Entries not yet delivered to the group; `None` when that cannot be known (XINFO
    /// GROUPS shows null). Redis's rules, the first that applies:
    /// 1. nothing ever added, or nothing left: 0;
    /// 2. the group and every deletion lie before the first live entry: every live entry is
    ///    unread (redis/redis#13473; a tombstone after the group stops mattering once the
    ///    entries before it are gone);
    /// 3. the group's counter is known and no deletion lies at or after its position: the
    ///    counter tells;
    /// 4. otherwise an estimate from the group's position, when one is possible.
    pub fn lag(&self, group: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 || self.length == 0 {
            return Some(0);
        }
        if group.last_id < self.first_id && self.max_deleted_id < self.first_id {
            return Some(self.length as i64);
        }
        let lag = |read: u64| (self.entries_added as i64).wrapping_sub(read as i64);
        if let Some(read) = group.entries_read {
            if !self.range_has_tombstones(group.last_id, StreamId::MAX) {
                return Some(lag(read));
            }
        }
        self.estimate_entries_read(group.last_id).map(lag)
    }

    /// Trims from the head. Returns how many entries went.
    pub fn trim(&mut self, trim: Trim) -> u64 {
        let mut removed = 0u64;
        loop {
            if let TrimStrategy::MaxLen(max) = trim.strategy {
                if self.length <= max {
                    break;
                }
            }
            let Some(mut head) = self.nodes.first_entry() else {
                break;
            };
            let live = head.get().live();
            if trim.limit > 0 && removed + live > trim.limit {
                break;
            }
            let whole = match trim.strategy {
                TrimStrategy::MaxLen(max) => self.length - live >= max,
                TrimStrategy::MinId(min) => head.get().last_id() < min,
            };
            if whole {
                head.remove();
                self.length -= live;
                removed += live;
                continue;
            }
            if trim.approx {
                break;
            }
            let node = Arc::make_mut(head.get_mut());
            let dictionary = self.dictionary.as_deref();
            let marked = match trim.strategy {
                TrimStrategy::MaxLen(max) => {
                    node.delete_prefix(None, self.length - max, dictionary)
                }
                TrimStrategy::MinId(min) => node.delete_prefix(Some(min), u64::MAX, dictionary),
            };
            self.length -= marked;
            removed += marked;
            break;
        }
        if removed > 0 {
            self.refresh_first_id();
        }
        removed
    }
}

/// Iterator over live entries in an ID interval.
pub struct Range<'a> {
    nodes: std::collections::btree_map::Range<'a, StreamId, Arc<Node>>,
    dictionary: Option<&'a [u8]>,
    current: Option<NodeCursor<'a>>,
    start: StreamId,
    end: StreamId,
    reverse: bool,
    offsets: Vec<usize>,
    done: bool,
}

/// The nodes that may hold entries from `start` to `end` (`start <= end`): from the one
/// holding `start` (it begins at or before it). A bound beyond the first or last node is left
/// open, so that reading from `-` or to `+` descends the tree without comparing.
fn node_bounds(
    nodes: &BTreeMap<StreamId, Arc<Node>>,
    start: StreamId,
    end: StreamId,
) -> (Bound<StreamId>, Bound<StreamId>) {
    let low = match nodes.first_key_value() {
        Some((first, _)) if start > *first => nodes
            .range(..=start)
            .next_back()
            .map_or(Bound::Unbounded, |(k, _)| Bound::Included(*k)),
        _ => Bound::Unbounded,
    };
    let high = match nodes.last_key_value() {
        Some((last, _)) if end < *last => Bound::Included(end),
        _ => Bound::Unbounded,
    };
    (low, high)
}

/// Where a range read stands in the node it is reading.
struct NodeCursor<'a> {
    node: NodeRef<'a>,
    /// Forward: offset of the next entry. Backward: entries of `Range::offsets` left.
    at: usize,
}

impl<'a> Range<'a> {
    fn new(stream: &'a Stream, start: StreamId, end: StreamId, reverse: bool) -> Range<'a> {
        let done = start > end;
        let nodes = if done {
            stream.nodes.range(StreamId::MIN..StreamId::MIN)
        } else {
            stream.nodes.range(node_bounds(&stream.nodes, start, end))
        };
        Range {
            nodes,
            dictionary: stream.dictionary.as_deref(),
            current: None,
            start,
            end,
            reverse,
            offsets: Vec::new(),
            done,
        }
    }

    fn next_node(&mut self) -> Option<NodeCursor<'a>> {
        let node = if self.reverse {
            self.nodes.next_back()
        } else {
            self.nodes.next()
        }?
        .1;
        let node = if node.is_packed() {
            NodeRef::Unpacked(unpacked::plain(node, self.dictionary))
        } else {
            NodeRef::Borrowed(node)
        };
        let at = if self.reverse {
            node.entry_offsets(&mut self.offsets);
            self.offsets.len()
        } else {
            // The first node of a read may begin before its start: step from the nearest
            // seek point. Later nodes begin after it.
            node.seek(self.start)
        };
        Some(NodeCursor { node, at })
    }
}

impl Range<'_> {
    /// The head of the next live entry in the interval; the node it is in stays current.
    /// Inlined: returned through memory, the head's fields stall the loads that read them back.
    #[inline(always)]
    fn next_head(&mut self) -> Option<EntryHead> {
        while !self.done {
            if self.current.is_none() {
                match self.next_node() {
                    Some(c) => self.current = Some(c),
                    None => {
                        self.done = true;
                        return None;
                    }
                }
            }
            let Some(cursor) = self.current.as_mut() else {
                continue;
            };
            let entry = if self.reverse {
                if cursor.at == 0 {
                    None
                } else {
                    cursor.at -= 1;
                    Some(cursor.node.head_at(self.offsets[cursor.at]).0)
                }
            } else if cursor.at < cursor.node.plain_len() {
                let (head, next) = cursor.node.head_at(cursor.at);
                cursor.at = next;
                Some(head)
            } else {
                None
            };
            let Some(entry) = entry else {
                self.current = None;
                continue;
            };
            // Tombstones first, as Redis's iterator does: after XSETID lowered the last ID
            // below one (MAXDELETEDID lowered too), later entries of its node have smaller
            // IDs than it; only live entries are in order.
            if entry.deleted {
                continue;
            }
            if self.reverse {
                if entry.id < self.start {
                    self.done = true;
                    return None;
                }
                if entry.id > self.end {
                    continue;
                }
            } else {
                if entry.id > self.end {
                    self.done = true;
                    return None;
                }
                if entry.id < self.start {
                    continue;
                }
            }
            return Some(entry);
        }
        None
    }

    /// Shows up to `limit` live entries of the interval, in order, to `visit` until it
    /// breaks. Each view borrows the node being read, where [`Iterator::next`]'s views own a
    /// reference to it: reading a packed node's unpacked copy this way counts no reference per
    /// entry (two atomic operations each, a tenth of a short range read's time).
    pub fn visit(
        &mut self,
        limit: usize,
        mut visit: impl FnMut(&EntryView<'_>) -> ControlFlow<()>,
    ) {
        for _ in 0..limit {
            let Some(head) = self.next_head() else {
                return;
            };
            let Some(cursor) = self.current.as_ref() else {
                return;
            };
            if visit(&head.view(NodeRef::Borrowed(&cursor.node))).is_break() {
                return;
            }
        }
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = EntryView<'a>;

    fn next(&mut self) -> Option<EntryView<'a>> {
        let head = self.next_head()?;
        Some(head.view(self.current.as_ref()?.node.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u64) -> Vec<u8> {
        format!(
            r#"{{"event_id":"{:016x}","type":"order.paid","user_id":{},"amount":{}.{:02}}}"#,
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            i * 7919 % 100_000,
            i % 5000,
            i % 100
        )
        .into_bytes()
    }

    fn filled(compress: bool, entries: u64) -> Stream {
        let limits = NodeLimits {
            max_entries: 10,
            max_bytes: 4096,
            compress,
        };
        let mut stream = Stream::new();
        for i in 1..=entries {
            stream.append(StreamId::new(i, 0), &[(b"data", &event(i))], limits);
        }
        stream
    }

    fn read(stream: &Stream, start: u64, end: u64, reverse: bool) -> Vec<(StreamId, Vec<u8>)> {
        stream
            .range(StreamId::new(start, 0), StreamId::new(end, 0), reverse)
            .map(|e| {
                (
                    e.id,
                    e.fields()
                        .next()
                        .map(|(_, v)| v.to_vec())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    /// A node sealed for its bytes (and packed) becomes the tail again when the node after it
    /// loses its only entry (XDEL), and takes the next small entry as Redis's listpack would:
    /// it is unpacked first, so the entry is written into the plain layout, not after the LZ4
    /// block, and it packs again once full.
    #[test]
    fn a_packed_node_that_is_the_tail_again_takes_entries() {
        let limits = NodeLimits {
            max_entries: 100,
            max_bytes: 4096,
            compress: true,
        };
        let mut stream = Stream::new();
        let big = vec![b'x'; 700];
        let mut ms = 0;
        while stream.nodes.len() < 2 {
            ms += 1;
            stream.append(StreamId::new(ms, 0), &[(b"data", &big)], limits);
        }
        let first = stream.nodes.values().next().map(|n| n.is_packed());
        assert_eq!(first, Some(true), "the first node was sealed and packed");
        assert!(stream.delete(StreamId::new(ms, 0)));
        assert_eq!(stream.nodes.len(), 1, "the emptied tail node is gone");
        let mut expected: Vec<u64> = (1..ms).collect();
        for _ in 0..30 {
            ms += 1;
            stream.append(StreamId::new(ms, 0), &[(b"f", b"v")], limits);
            expected.push(ms);
        }
        let ids: Vec<u64> = stream
            .range(StreamId::MIN, StreamId::MAX, false)
            .map(|e| e.id.ms)
            .collect();
        assert_eq!(ids, expected);
        let from_middle: Vec<u64> = stream
            .range(StreamId::new(ms - 3, 0), StreamId::MAX, false)
            .map(|e| e.id.ms)
            .collect();
        assert_eq!(from_middle, vec![ms - 3, ms - 2, ms - 1, ms]);
        assert_eq!(stream.len(), expected.len() as u64);
    }

    #[test]
    fn packed_streams_read_and_delete_as_plain_ones() {
        let mut packed = filled(true, 400);
        let mut plain = filled(false, 400);
        assert!(
            packed.dictionary.is_some(),
            "40 nodes: a dictionary was taken"
        );
        assert!(plain.dictionary.is_none());
        let packed_nodes = packed.nodes.values().filter(|n| n.is_packed()).count();
        assert!(packed_nodes >= 38, "{packed_nodes} of 40 nodes packed");
        assert!(packed.heap_bytes() * 10 < plain.heap_bytes() * 7);
        for (start, end) in [(1, 400), (5, 17), (150, 305), (399, 400)] {
            for reverse in [false, true] {
                assert_eq!(
                    read(&packed, start, end, reverse),
                    read(&plain, start, end, reverse)
                );
            }
        }
        // Deleting inside nodes packed with and without the dictionary, and trimming inside one.
        let packed_before = packed.nodes.values().filter(|n| n.is_packed()).count();
        assert!(!packed.delete(StreamId::new(171, 5)), "no such entry");
        assert_eq!(
            packed.nodes.values().filter(|n| n.is_packed()).count(),
            packed_before,
            "a deletion that misses leaves the node packed"
        );
        for id in [3, 171, 172, 390] {
            assert!(packed.delete(StreamId::new(id, 0)));
            assert!(plain.delete(StreamId::new(id, 0)));
        }
        // Nodes written to stay plain (two deletions in one node: three nodes).
        assert_eq!(
            packed.nodes.values().filter(|n| n.is_packed()).count(),
            packed_before - 3
        );
        let exact = Trim {
            strategy: TrimStrategy::MaxLen(333),
            approx: false,
            limit: 0,
        };
        assert_eq!(packed.trim(exact), plain.trim(exact));
        assert_eq!(read(&packed, 0, 500, false), read(&plain, 0, 500, false));
        assert_eq!(read(&packed, 0, 500, true), read(&plain, 0, 500, true));
        assert_eq!(packed.len(), 333);
    }
}
