//! A packed node: up to `stream-node-max-entries` entries of one stream in a single byte block.
//!
//! Layout of `buf`:
//!
//! ```text
//! master fields: varint count, then (varint len, bytes) per field name
//! entry*:        varint (ms-delta << 2 | flags) | varint seq | [varint n, (field, value)*] | value*
//! ```
//!
//! IDs are stored against the node's master ID (its first entry): `ms - master.ms`, then
//! `seq - master.seq` when the millisecond is the master's, else `seq` itself. An entry whose
//! field names equal the master field list (the common case: every event of a stream has the
//! same shape) stores only its values. The two flags live in the low bits of the entry's first
//! byte (most entries then spend one byte on flags and millisecond together); deleting sets a
//! bit there, and the bytes stay until the node is dropped, as in Redis. No per-entry heap
//! allocation anywhere.
//!
//! A node that takes no more entries may be *packed*: `buf` then holds an LZ4 block of the
//! layout above (`rill-stream-compression`). Readers work on a plain copy
//! ([`Node::unpacked`], cached by [`super::unpacked`]); a write to a sealed node (XDEL, an
//! exact trim) unpacks it for good.

use std::ops::Deref;
use std::sync::Arc;

use super::listpack_size::{int_element, str_element, LISTPACK_OVERHEAD};
use crate::id::StreamId;

const FLAG_DELETED: u8 = 1;
const FLAG_SAME_FIELDS: u8 = 2;

/// One node of a stream.
#[derive(Debug, Clone)]
pub struct Node {
    master_id: StreamId,
    last_id: StreamId,
    /// The entries in the layout above or, once packed, an LZ4 block of them.
    buf: Vec<u8>,
    // The counters below are u32: a node never exceeds 1 GiB (Redis's listpack cap, which the
    // stream enforces), and a stream holds many nodes, so every byte here counts per node.
    master_field_count: u32,
    entries_start: u32,
    live: u32,
    deleted: u32,
    /// Size of this node as a Redis listpack, not counting the live/deleted counters (whose
    /// encoded size changes with their value).
    lp_rest: u32,
    /// Length of the plain layout while `buf` holds it packed; 0 while `buf` is plain.
    packed_from: u32,
    /// Offsets in the plain layout of entries `SEEK_EVERY`, `2 * SEEK_EVERY`, ... (0: no
    /// such entry yet, or past 64 KB): a read that starts inside the node steps from the
    /// nearest one instead of decoding every entry before its start (see [`Node::seek`]).
    seek: [u16; SEEK_POINTS],
}

/// Entries between two seek points. A consumer group, or a client paging with the last ID
/// it saw, starts each read inside a node: with a seek point every 12 entries it decodes six
/// entries before its first, on average, rather than half the node (fifty in a node of the
/// default hundred small entries).
const SEEK_EVERY: u64 = 12;

/// Seek points a node keeps: they cover the default hundred entries; a node made larger
/// (`stream-node-max-entries`) steps from the last one. Eight offsets of 16 bits take the
/// node's allocation (with its reference counts) from 96 to 112 bytes: 0.16 bytes per entry
/// in a node of a hundred small entries, about one per JSON event of 250 bytes. Fewer points
/// would save nothing (the allocator rounds to the same 112).
const SEEK_POINTS: usize = 8;

/// The node an [`EntryView`] reads from: one in the stream, or a plain copy of a packed one
/// that the view keeps alive for as long as it is read.
#[derive(Debug, Clone)]
pub enum NodeRef<'a> {
    /// A plain node of the stream.
    Borrowed(&'a Node),
    /// The unpacked copy of a packed node.
    Unpacked(Arc<Node>),
}

impl Deref for NodeRef<'_> {
    type Target = Node;

    fn deref(&self) -> &Node {
        match self {
            NodeRef::Borrowed(node) => node,
            NodeRef::Unpacked(node) => node,
        }
    }
}

/// A read-only view of one entry inside a node.
#[derive(Debug, Clone)]
pub struct EntryView<'a> {
    /// The entry's ID.
    pub id: StreamId,
    /// Marked deleted (XDEL, or an exact trim inside a node): its bytes stay until the node goes,
    /// so readers must skip it.
    pub deleted: bool,
    node: NodeRef<'a>,
    /// Offset of the first field (or value, for same-field entries).
    body: usize,
    same_fields: bool,
    field_count: usize,
}

impl EntryView<'_> {
    /// Number of field/value pairs.
    pub fn field_count(&self) -> usize {
        self.field_count
    }

    /// The entry's field/value pairs, decoded lazily from the node's bytes.
    pub fn fields(&self) -> FieldIter<'_> {
        FieldIter {
            buf: &self.node.buf,
            pos: self.body,
            master_pos: if self.same_fields {
                Some(master_fields_start(&self.node.buf))
            } else {
                None
            },
            left: self.field_count,
        }
    }
}

/// An entry's head as decoded from a node, before a view is made of it: readers that skip
/// entries (deleted ones, those before the start of a range) look at the ID and flags only.
#[derive(Debug, Clone, Copy)]
pub struct EntryHead {
    /// The entry's ID.
    pub id: StreamId,
    /// Marked deleted.
    pub deleted: bool,
    body: usize,
    same_fields: bool,
    field_count: usize,
}

impl EntryHead {
    /// The view of this entry in `node`, the node it was decoded from.
    pub fn view(self, node: NodeRef<'_>) -> EntryView<'_> {
        EntryView {
            id: self.id,
            deleted: self.deleted,
            node,
            body: self.body,
            same_fields: self.same_fields,
            field_count: self.field_count,
        }
    }
}

/// Iterator over an entry's `(field, value)` pairs.
pub struct FieldIter<'a> {
    buf: &'a [u8],
    pos: usize,
    master_pos: Option<usize>,
    left: usize,
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let field = match &mut self.master_pos {
            Some(mp) => read_bytes(self.buf, mp),
            None => read_bytes(self.buf, &mut self.pos),
        };
        let value = read_bytes(self.buf, &mut self.pos);
        Some((field, value))
    }
}

impl Node {
    /// A node whose first entry is `id` with `fields` (name, value pairs); its field names
    /// become the master field list.
    pub fn new(id: StreamId, fields: &[(&[u8], &[u8])]) -> Node {
        let mut buf = Vec::with_capacity(64);
        write_varint(&mut buf, fields.len() as u64);
        let mut lp_rest = LISTPACK_OVERHEAD + int_element(fields.len() as i64) + int_element(0);
        for (name, _) in fields {
            write_bytes(&mut buf, name);
            lp_rest += str_element(name);
        }
        let entries_start = buf.len();
        let mut node = Node {
            master_id: id,
            last_id: id,
            buf,
            master_field_count: fields.len() as u32,
            entries_start: entries_start as u32,
            live: 0,
            deleted: 0,
            lp_rest: lp_rest as u32,
            packed_from: 0,
            seek: [0; SEEK_POINTS],
        };
        node.push(id, fields);
        node
    }

    /// The node's first ID: the other entries' IDs are stored as deltas from it, and the stream
    /// indexes the node by it.
    pub fn master_id(&self) -> StreamId {
        self.master_id
    }

    /// ID of the last entry stored, deleted or not.
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// Entries not deleted.
    pub fn live(&self) -> u64 {
        u64::from(self.live)
    }

    /// Entries stored, deleted or not: what the entry limit counts.
    pub fn stored(&self) -> u64 {
        u64::from(self.live) + u64::from(self.deleted)
    }

    /// Size of the node as a Redis listpack, used for `stream-node-max-bytes`.
    pub fn listpack_bytes(&self) -> usize {
        self.lp_rest as usize
            + int_element(i64::from(self.live))
            + int_element(i64::from(self.deleted))
    }

    /// Heap bytes this node holds.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether `buf` holds an LZ4 block: readers need [`Node::unpacked`] first.
    pub fn is_packed(&self) -> bool {
        self.packed_from != 0
    }

    /// Length of the node's plain layout.
    pub fn plain_len(&self) -> usize {
        if self.is_packed() {
            (self.packed_from & !WITH_DICTIONARY) as usize
        } else {
            self.buf.len()
        }
    }

    /// The plain layout of a node that is not packed.
    pub fn plain_bytes(&self) -> &[u8] {
        debug_assert!(!self.is_packed());
        &self.buf
    }

    /// Called once no more entries will be appended: gives back unused capacity and, with
    /// `compress`, packs the node (against the stream's `dictionary`, when it has one).
    pub fn seal(&mut self, compress: bool, dictionary: Option<&[u8]>) {
        if compress {
            self.pack(dictionary);
        } else {
            self.buf.shrink_to_fit();
        }
    }

    /// Packs the node's bytes into an LZ4 block when that saves at least a ninth of them (the
    /// reads that follow pay for unpacking, so a block that barely shrinks stays plain).
    fn pack(&mut self, dictionary: Option<&[u8]>) {
        if self.is_packed() || self.buf.is_empty() {
            return;
        }
        let dict = dictionary.unwrap_or_default();
        let pays = |len: usize| len + len / 8 < self.buf.len();
        let packed = if self.buf.len() > PACK_SCRATCH_MAX {
            Some(lz4_flex::block::compress_with_dict(&self.buf, dict))
                .filter(|block| pays(block.len()))
        } else {
            PACK_SCRATCH.with_borrow_mut(|scratch| {
                scratch.resize(lz4_flex::block::get_maximum_output_size(self.buf.len()), 0);
                match lz4_flex::block::compress_into_with_dict(&self.buf, scratch, dict) {
                    Ok(len) if pays(len) => Some(scratch[..len].to_vec()),
                    _ => None,
                }
            })
        };
        match packed {
            Some(mut packed) => {
                packed.shrink_to_fit();
                self.packed_from = self.buf.len() as u32;
                if dictionary.is_some() {
                    self.packed_from |= WITH_DICTIONARY;
                }
                self.buf = packed;
            }
            None => self.buf.shrink_to_fit(),
        }
    }

    /// A plain copy of this node (itself copied, when it is not packed). `dictionary` is the
    /// stream's, which the node may have been packed against.
    pub fn unpacked(&self, dictionary: Option<&[u8]>) -> Node {
        Node {
            buf: self.plain_buf(dictionary),
            packed_from: 0,
            ..*self
        }
    }

    /// Turns a packed node plain again (nothing to do for a plain one).
    pub fn unpack_in_place(&mut self, dictionary: Option<&[u8]>) {
        if self.is_packed() {
            self.buf = self.plain_buf(dictionary);
            self.packed_from = 0;
        }
    }

    fn plain_buf(&self, dictionary: Option<&[u8]>) -> Vec<u8> {
        if !self.is_packed() {
            return self.buf.clone();
        }
        let dict = if self.packed_from & WITH_DICTIONARY != 0 {
            dictionary.expect("a stream keeps the dictionary its nodes were packed against")
        } else {
            &[]
        };
        // The block was made by `pack` from this very node and never left memory: failing to
        // unpack it would mean memory corruption, not bad input.
        lz4_flex::block::decompress_with_dict(&self.buf, self.plain_len(), dict)
            .expect("a packed stream node unpacks (it was packed by this process)")
    }

    /// Appends an entry to a plain node; `id` must be greater than every ID in the node.
    pub fn push(&mut self, id: StreamId, fields: &[(&[u8], &[u8])]) {
        debug_assert!(!self.is_packed());
        let index = self.stored();
        if index.is_multiple_of(SEEK_EVERY) && index > 0 {
            let point = (index / SEEK_EVERY - 1) as usize;
            if let (Some(slot), Ok(offset)) = (self.seek.get_mut(point), self.buf.len().try_into())
            {
                *slot = offset;
            }
        }
        let same = self.same_as_master(fields);
        let ms_delta = id.ms.wrapping_sub(self.master_id.ms);
        let seq_delta = id.seq.wrapping_sub(self.master_id.seq);
        let flags = if same { FLAG_SAME_FIELDS } else { 0 };
        write_head(&mut self.buf, flags, ms_delta);
        write_varint(
            &mut self.buf,
            if ms_delta == 0 { seq_delta } else { id.seq },
        );
        // Redis's listpack: flags, ms-delta, seq-delta, [count, fields], values, lp-count.
        let mut lp = int_element(if same { 2 } else { 0 })
            + int_element(ms_delta as i64)
            + int_element(seq_delta as i64);
        let lp_count = if same {
            fields.len() + 3
        } else {
            2 * fields.len() + 4
        };
        lp += int_element(lp_count as i64);
        if same {
            for (_, value) in fields {
                write_bytes(&mut self.buf, value);
                lp += str_element(value);
            }
        } else {
            write_varint(&mut self.buf, fields.len() as u64);
            lp += int_element(fields.len() as i64);
            for (name, value) in fields {
                write_bytes(&mut self.buf, name);
                write_bytes(&mut self.buf, value);
                lp += str_element(name) + str_element(value);
            }
        }
        self.lp_rest += lp as u32;
        self.live += 1;
        self.last_id = id;
    }

    fn same_as_master(&self, fields: &[(&[u8], &[u8])]) -> bool {
        if fields.len() != self.master_field_count as usize {
            return false;
        }
        let mut pos = master_fields_start(&self.buf);
        fields
            .iter()
            .all(|(name, _)| read_bytes(&self.buf, &mut pos) == *name)
    }

    /// Decodes the head of the entry starting at `offset` (a plain node's); returns it and the
    /// offset of the next one. Inlined: returned through memory, the head stalled the loads
    /// of the range reads that read it back.
    #[inline(always)]
    pub fn head_at(&self, offset: usize) -> (EntryHead, usize) {
        debug_assert!(!self.is_packed());
        let mut pos = offset;
        let (flags, ms_delta) = read_head(&self.buf, &mut pos);
        let seq_raw = read_varint(&self.buf, &mut pos);
        let id = self.id_from(ms_delta, seq_raw);
        let same_fields = flags & FLAG_SAME_FIELDS != 0;
        let field_count = if same_fields {
            self.master_field_count as usize
        } else {
            read_varint(&self.buf, &mut pos) as usize
        };
        let body = pos;
        let strings = if same_fields {
            field_count
        } else {
            field_count * 2
        };
        pos = skip_strings(&self.buf, pos, strings);
        (
            EntryHead {
                id,
                deleted: flags & FLAG_DELETED != 0,
                body,
                same_fields,
                field_count,
            },
            pos,
        )
    }

    /// Offset of the first entry.
    pub fn first_offset(&self) -> usize {
        self.entries_start as usize
    }

    /// Offset of an entry at or before the first entry from `id` on (of a plain node): where
    /// a forward walk looking for `id` may begin. A binary search of the seek points, reading
    /// only the IDs at them.
    pub fn seek(&self, id: StreamId) -> usize {
        debug_assert!(!self.is_packed());
        if id <= self.master_id {
            // Every node of a read after its first.
            return self.entries_start as usize;
        }
        let filled = self.seek.iter().take_while(|&&p| p != 0).count();
        let before = self.seek[..filled].partition_point(|&p| self.id_at(p as usize) <= id);
        match before {
            0 => self.entries_start as usize,
            n => self.seek[n - 1] as usize,
        }
    }

    /// The ID of the entry starting at `offset`.
    fn id_at(&self, offset: usize) -> StreamId {
        let mut pos = offset;
        let (_, ms_delta) = read_head(&self.buf, &mut pos);
        let seq_raw = read_varint(&self.buf, &mut pos);
        self.id_from(ms_delta, seq_raw)
    }

    /// An ID from its stored deltas.
    #[inline(always)]
    fn id_from(&self, ms_delta: u64, seq_raw: u64) -> StreamId {
        StreamId::new(
            self.master_id.ms.wrapping_add(ms_delta),
            if ms_delta == 0 {
                self.master_id.seq.wrapping_add(seq_raw)
            } else {
                seq_raw
            },
        )
    }

    /// Every entry of a plain node, deleted ones included, in ID order.
    pub fn entries(&self) -> NodeEntries<'_> {
        NodeEntries {
            node: self,
            pos: self.entries_start as usize,
        }
    }

    /// Offsets of every entry, for walking a node backwards: each entry's head is read only
    /// as far as its length (no ID, no view), since a backward read of the newest entries
    /// walks the whole node.
    pub fn entry_offsets(&self, out: &mut Vec<usize>) {
        debug_assert!(!self.is_packed());
        out.clear();
        out.reserve(self.stored() as usize);
        let mut pos = self.entries_start as usize;
        while pos < self.buf.len() {
            out.push(pos);
            let (flags, _) = read_head(&self.buf, &mut pos);
            read_varint(&self.buf, &mut pos);
            let strings = if flags & FLAG_SAME_FIELDS != 0 {
                self.master_field_count as usize
            } else {
                read_varint(&self.buf, &mut pos) as usize * 2
            };
            pos = skip_strings(&self.buf, pos, strings);
        }
    }

    /// The entry at an offset produced by [`Node::entry_offsets`].
    pub fn entry_at(&self, offset: usize) -> EntryView<'_> {
        self.head_at(offset).0.view(NodeRef::Borrowed(self))
    }

    /// Marks the live entry `id` deleted. Returns false when there is no such live entry.
    /// A packed node (packed against `dictionary`) is left plain: a node that one deletion
    /// touched is likely to see more (exact trims take the head node entry by entry, XACKDEL
    /// and delete-on-ack queues delete every entry), and packing it again each time would cost
    /// a whole node's packing per deletion.
    pub fn delete(&mut self, id: StreamId, dictionary: Option<&[u8]>) -> bool {
        if id < self.master_id || id > self.last_id {
            return false;
        }
        if self.is_packed() {
            // Unpacked for good only when something is deleted: IDs that miss cost nothing.
            let mut plain = self.unpacked(dictionary);
            let deleted = plain.delete(id, None);
            if deleted {
                *self = plain;
            }
            return deleted;
        }
        let mut pos = self.seek(id);
        while pos < self.buf.len() {
            let (entry, next) = self.head_at(pos);
            // Only live entries are in ID order (see `Range`): a tombstone may carry a
            // larger ID than entries after it, or the very ID of a live one after it.
            if !entry.deleted {
                if entry.id == id {
                    self.buf[pos] |= FLAG_DELETED;
                    self.live -= 1;
                    self.deleted += 1;
                    return true;
                }
                if entry.id > id {
                    return false;
                }
            }
            pos = next;
        }
        false
    }

    /// Marks entries deleted from the head of the node: those below `below` (when given), at
    /// most `max_live` live ones. Returns how many live entries were marked.
    pub fn delete_prefix(
        &mut self,
        below: Option<StreamId>,
        max_live: u64,
        dictionary: Option<&[u8]>,
    ) -> u64 {
        self.unpack_in_place(dictionary);
        let mut pos = self.entries_start as usize;
        let mut marked = 0;
        while pos < self.buf.len() && marked < max_live {
            let (entry, next) = self.head_at(pos);
            if !entry.deleted {
                if below.is_some_and(|min| entry.id >= min) {
                    break;
                }
                self.buf[pos] |= FLAG_DELETED;
                marked += 1;
            }
            pos = next;
        }
        self.live -= marked as u32;
        self.deleted += marked as u32;
        marked
    }
}

/// Nodes larger than this (`stream-node-max-bytes` set high) are packed into a block of their
/// own rather than through the kept scratch buffer, which stays small.
const PACK_SCRATCH_MAX: usize = 256 * 1024;

/// Set in `packed_from` when the block was packed against the stream's dictionary (a node's
/// plain length stays below 1 GiB, so the top bit is free).
const WITH_DICTIONARY: u32 = 1 << 31;

thread_local! {
    /// Room for one node's LZ4 block while it is being packed (kept: sealing is frequent).
    static PACK_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Forward iterator over a node's entries.
pub struct NodeEntries<'a> {
    node: &'a Node,
    pos: usize,
}

impl<'a> Iterator for NodeEntries<'a> {
    type Item = EntryView<'a>;

    fn next(&mut self) -> Option<EntryView<'a>> {
        if self.pos >= self.node.buf.len() {
            return None;
        }
        let (head, next) = self.node.head_at(self.pos);
        self.pos = next;
        Some(head.view(NodeRef::Borrowed(self.node)))
    }
}

fn master_fields_start(buf: &[u8]) -> usize {
    let mut pos = 0;
    read_varint(buf, &mut pos);
    pos
}

fn write_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// An entry's first varint: the millisecond delta shifted past the two flag bits. Written as
/// a 128-bit varint because a delta may use all 64 bits (explicit IDs far apart).
fn write_head(buf: &mut Vec<u8>, flags: u8, ms_delta: u64) {
    let mut v = (u128::from(ms_delta) << 2) | u128::from(flags);
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// The offset just past `count` length-prefixed strings starting at `pos`.
fn skip_strings(buf: &[u8], mut pos: usize, count: usize) -> usize {
    for _ in 0..count {
        let len = read_varint(buf, &mut pos) as usize;
        pos += len;
    }
    pos
}

/// Reads what [`write_head`] wrote: (flags, ms-delta). Deltas of up to 54 bits (every ID a
/// clock makes) are summed in 64 bits; only longer ones take the 128-bit loop.
#[inline]
fn read_head(buf: &[u8], pos: &mut usize) -> (u8, u64) {
    let start = *pos;
    let mut v = 0u64;
    for shift in (0..56).step_by(7) {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return ((v & 3) as u8, v >> 2);
        }
    }
    *pos = start;
    let mut v = 0u128;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u128::from(b & 0x7f) << shift;
        if b < 0x80 {
            return ((v & 3) as u8, (v >> 2) as u64);
        }
        shift += 7;
    }
}

/// Reads a varint written by this module; the buffer is never foreign input. Lengths and
/// small counts take one byte: that case goes first.
#[inline]
fn read_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let b = buf[*pos];
    *pos += 1;
    if b < 0x80 {
        return u64::from(b);
    }
    let mut v = u64::from(b & 0x7f);
    let mut shift = 7;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn write_bytes(buf: &mut Vec<u8>, data: &[u8]) {
    write_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = read_varint(buf, pos) as usize;
    let start = *pos;
    *pos += len;
    &buf[start..start + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (StreamId, bool, Vec<(Vec<u8>, Vec<u8>)>);

    fn collect(node: &Node) -> Vec<Decoded> {
        node.entries()
            .map(|e| {
                (
                    e.id,
                    e.deleted,
                    e.fields().map(|(f, v)| (f.to_vec(), v.to_vec())).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn round_trip_same_and_different_fields() {
        let mut node = Node::new(StreamId::new(5, 7), &[(b"f", b"v1"), (b"g", b"")]);
        node.push(StreamId::new(5, 9), &[(b"f", b"v2"), (b"g", b"x")]);
        node.push(StreamId::new(300, 0), &[(b"other", b"y")]);
        node.push(StreamId::new(u64::MAX, u64::MAX), &[]);
        let all = collect(&node);
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].0, StreamId::new(5, 7));
        assert_eq!(all[1].0, StreamId::new(5, 9));
        assert_eq!(all[1].2[1], (b"g".to_vec(), b"x".to_vec()));
        assert_eq!(all[2].0, StreamId::new(300, 0));
        assert_eq!(all[2].2, vec![(b"other".to_vec(), b"y".to_vec())]);
        assert_eq!(all[3].0, StreamId::MAX);
        assert!(all[3].2.is_empty());
        assert_eq!(node.live(), 4);
    }

    /// Millisecond deltas on both sides of the 64-bit fast path's reach (54 bits) decode.
    #[test]
    fn deltas_around_the_fast_path_edge_round_trip() {
        let base = StreamId::new(7, 0);
        let mut node = Node::new(base, &[(b"f", b"v")]);
        let mut ids = vec![base];
        for bits in [6, 7, 13, 14, 53, 54, 55, 56, 62, 63] {
            let id = StreamId::new(7 + (1u64 << bits) + 1, 0);
            node.push(id, &[(b"f", b"v")]);
            ids.push(id);
        }
        let read: Vec<_> = node.entries().map(|e| e.id).collect();
        assert_eq!(read, ids);
    }

    /// From every ID in and around a node's entries (each entry's, between two, below the
    /// first, above the last), the walk from the seek point finds the same first entry as a
    /// walk from the node's start, and skips at most a seek interval of entries before it:
    /// in nodes of mixed shapes, IDs within and across milliseconds, sizes around the seek
    /// points' reach, packed and unpacked again.
    #[test]
    fn a_seek_lands_at_or_before_the_first_entry_from_an_id() {
        for (count, big) in [
            (1, false),
            (12, false),
            (13, false),
            (100, false),
            (250, false),
            (120, true),
        ] {
            let mut ids = vec![StreamId::new(1000, 5)];
            let mut node = Node::new(ids[0], &[(b"f", b"v")]);
            for i in 1..count as u64 {
                let last = ids[ids.len() - 1];
                let id = if i % 3 == 0 {
                    StreamId::new(last.ms + i, i % 4)
                } else {
                    StreamId::new(last.ms, last.seq + 2)
                };
                let value = vec![b'x'; if big { 700 } else { (i % 9) as usize }];
                match i % 5 {
                    0 => node.push(id, &[(b"other", &value), (b"g", b"1")]),
                    _ => node.push(id, &[(b"f", &value)]),
                }
                ids.push(id);
            }
            // Deleted entries keep their bytes, seek points among them (entry 12 when there
            // is one); deleting finds each entry through the seek points, once.
            for id in ids.iter().step_by(6) {
                assert!(node.delete(*id, None), "{count} entries: {id} deleted");
                assert!(
                    !node.delete(*id, None),
                    "{count} entries: {id} deleted once"
                );
            }
            let mut packed = node.clone();
            packed.seal(true, None);
            assert!(packed.is_packed() || count == 1, "{count} entries packed");
            for node in [node.clone(), packed.unpacked(None)] {
                let mut offsets = Vec::new();
                node.entry_offsets(&mut offsets);
                let mut probes = vec![StreamId::MIN, StreamId::MAX];
                for id in &ids {
                    probes.extend([*id, StreamId::new(id.ms, id.seq + 1)]);
                    probes.extend(id.predecessor());
                }
                for probe in probes {
                    let first = ids.iter().position(|id| *id >= probe).unwrap_or(ids.len());
                    let from = node.seek(probe);
                    let at = offsets.iter().position(|&o| o == from);
                    let at = at.unwrap_or_else(|| panic!("{probe}: {from} is no entry's offset"));
                    assert!(
                        at <= first,
                        "{count} entries, {probe}: seek passed the entry"
                    );
                    if node.plain_len() <= usize::from(u16::MAX) && first.is_multiple_of(12) {
                        // An entry with a seek point: reading from its own ID starts there.
                        if ids.get(first) == Some(&probe) && first > 0 && first <= 96 {
                            assert_eq!(at, first, "{count} entries, {probe}: its seek point");
                        }
                    }
                    // Within the seek points' reach (96 entries, 64 KB), fewer than a seek
                    // interval of entries is walked before the first one read.
                    let covered = first < 96 + 12 && offsets.get(first).is_some_and(|&o| o < 65536);
                    if covered && !big {
                        assert!(
                            first - at <= 12,
                            "{count} entries, {probe}: {} to walk",
                            first - at
                        );
                    }
                }
            }
        }
    }

    /// The node with its reference counts stays within 112 bytes, an allocator size class
    /// (one more field would move every node to the next).
    #[test]
    fn a_node_with_its_reference_counts_fits_112_bytes() {
        assert!(std::mem::size_of::<Node>() + 16 <= 112);
    }

    #[test]
    fn seq_smaller_than_master_seq_in_later_ms() {
        let mut node = Node::new(StreamId::new(1, 100), &[(b"a", b"1")]);
        node.push(StreamId::new(2, 3), &[(b"a", b"2")]);
        let ids: Vec<_> = node.entries().map(|e| e.id).collect();
        assert_eq!(ids, vec![StreamId::new(1, 100), StreamId::new(2, 3)]);
    }

    #[test]
    fn tombstones() {
        let mut node = Node::new(StreamId::new(1, 0), &[(b"a", b"1")]);
        node.push(StreamId::new(2, 0), &[(b"a", b"2")]);
        node.push(StreamId::new(3, 0), &[(b"a", b"3")]);
        assert!(node.delete(StreamId::new(2, 0), None));
        assert!(!node.delete(StreamId::new(2, 0), None));
        assert!(!node.delete(StreamId::new(9, 0), None));
        assert_eq!(node.live(), 2);
        assert_eq!(node.stored(), 3);
        let deleted: Vec<_> = node.entries().map(|e| e.deleted).collect();
        assert_eq!(deleted, vec![false, true, false]);
        assert_eq!(
            node.delete_prefix(Some(StreamId::new(3, 0)), u64::MAX, None),
            1
        );
        assert_eq!(node.live(), 1);
        let mut offsets = Vec::new();
        node.entry_offsets(&mut offsets);
        let last = node.entry_at(offsets[2]);
        assert_eq!(last.id, StreamId::new(3, 0));
        assert_eq!(last.fields().next(), Some((&b"a"[..], &b"3"[..])));
    }

    #[test]
    fn listpack_size_matches_redis_layout() {
        // Redis: header 6 + count(2) + deleted(2) + nfields(2) + "f"(3) + terminator(2)
        //        + entry flags(2) ms(2) seq(2) "v"(3) lp-count(2) + end 1 = 29.
        let node = Node::new(StreamId::new(1, 0), &[(b"f", b"v")]);
        assert_eq!(node.listpack_bytes(), 29);
    }
}
