//! `EntryList`: the stream entries a read replies, `[[id, [field, value, ...]], ...]`, held
//! flat instead of as a tree of replies.
//!
//! Every stream read (XRANGE, XREAD, XREADGROUP) answers with a list of entries. As a
//! [`Reply`] tree that costs an array, an ID string and a string per field and value for
//! each entry, built, encoded and freed again. Here an entry is its ID and a count, and its
//! fields and values sit back to back in one buffer for the whole list: a read of a hundred
//! entries allocates three vectors, RESP is written straight from them, and the embedded
//! client reads IDs as numbers instead of parsing them back from text.

use std::fmt;
use std::ops::Range;

use super::{bulk, header, Reply};
use crate::id::StreamId;
use crate::stream::EntryView;

/// Stream entries as a read replies them. Encodes, compares and debug-prints as the array of
/// `[id, [field, value, ...]]` it stands for ([`EntryList::to_replies`] builds that array).
#[derive(Clone, Default)]
pub struct EntryList {
    /// Every field and value of every entry, back to back.
    bytes: Vec<u8>,
    /// Where each field and value ends in `bytes`, in order.
    ends: Vec<usize>,
    items: Vec<Item>,
    /// A claiming read's idle times and delivery counts before the claim, replied after the
    /// fields (`[id, fields, idle, count]`); apart, so that other reads' items stay small.
    claims: Vec<(i64, i64)>,
}

/// The most entries [`EntryList::with_capacity`] makes room for up front: a COUNT of a
/// million on a short stream must not reserve a million slots.
const MAX_RESERVED_ENTRIES: usize = 1024;
/// The most field and value slots reserved up front, whatever the first entry's shape.
const MAX_RESERVED_PIECES: usize = 1 << 14;
/// The most data bytes reserved up front: a first entry of a megabyte says little about
/// the rest.
const MAX_RESERVED_BYTES: usize = 1 << 20;

/// [`Item::pairs`] of an entry deleted while pending (replied as a null).
const DELETED: usize = usize::MAX;
/// [`Item::claim`] of an entry that is not a claiming read's.
const NOT_CLAIMED: usize = usize::MAX;

#[derive(Clone, Copy)]
struct Item {
    id: StreamId,
    /// The index in `ends` of the entry's first field.
    piece: usize,
    /// Field/value pairs, or [`DELETED`].
    pairs: usize,
    /// Its index in `claims`, or [`NOT_CLAIMED`].
    claim: usize,
}

/// One entry of an [`EntryList`].
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// The entry's ID.
    pub id: StreamId,
    /// Its fields; `None` when it was deleted while pending.
    pub fields: Option<Fields<'a>>,
    /// For a claiming read: the idle time (ms) and delivery count before the claim.
    pub claim: Option<(i64, i64)>,
}

/// The field/value pairs of one entry of an [`EntryList`].
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    /// Piece ends, two per pair; `start` is where the first piece begins.
    ends: &'a [usize],
    start: usize,
}

impl<'a> Fields<'a> {
    /// The number of field/value pairs.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Whether there are none (never, for an entry Redis could store).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The pairs in the order they were written.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let bytes = self.bytes;
        self.ranges()
            .map(move |(field, value)| (&bytes[field], &bytes[value]))
    }

    /// Where each pair's field and value sit in the list's [`EntryList::data`]: a reader
    /// that copies the data once can slice every string out of that copy.
    pub fn ranges(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + 'a {
        let mut at = self.start;
        self.ends.chunks_exact(2).map(move |pair| {
            let field = at..pair[0];
            let value = pair[0]..pair[1];
            at = pair[1];
            (field, value)
        })
    }
}

impl EntryList {
    /// An empty list.
    pub fn new() -> EntryList {
        EntryList::default()
    }

    /// An empty list that expects about `entries` entries (a read's COUNT): room for them is
    /// made once, sized by the first entry, instead of growing step by step.
    pub fn with_capacity(entries: usize) -> EntryList {
        EntryList {
            items: Vec::with_capacity(entries.min(MAX_RESERVED_ENTRIES)),
            ..EntryList::default()
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the list holds no entry.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends a stored entry.
    pub fn push(&mut self, entry: &EntryView<'_>) {
        self.push_item(entry, None)
    }

    /// Appends an entry of a claiming read, with its idle time and delivery count before the
    /// claim.
    pub fn push_claimed(&mut self, entry: &EntryView<'_>, idle: i64, count: i64) {
        self.push_item(entry, Some((idle, count)))
    }

    /// Appends an entry deleted while pending: its ID with a null for its fields.
    pub fn push_deleted(&mut self, id: StreamId) {
        self.items.push(Item {
            id,
            piece: self.ends.len(),
            pairs: DELETED,
            claim: NOT_CLAIMED,
        });
    }

    fn push_item(&mut self, entry: &EntryView<'_>, claim: Option<(i64, i64)>) {
        if self.items.is_empty() && self.items.capacity() > 1 {
            // The first of several: guess the rest look like it.
            let expected = self.items.capacity();
            let size: usize = entry.fields().map(|(f, v)| f.len() + v.len()).sum();
            self.ends
                .reserve((expected * entry.field_count() * 2).min(MAX_RESERVED_PIECES));
            self.bytes
                .reserve(expected.saturating_mul(size).min(MAX_RESERVED_BYTES));
        }
        let piece = self.ends.len();
        let mut pairs = 0;
        for (field, value) in entry.fields() {
            self.bytes.extend_from_slice(field);
            self.ends.push(self.bytes.len());
            self.bytes.extend_from_slice(value);
            self.ends.push(self.bytes.len());
            pairs += 1;
        }
        let claim = match claim {
            Some(claim) => {
                self.claims.push(claim);
                self.claims.len() - 1
            }
            None => NOT_CLAIMED,
        };
        self.items.push(Item {
            id: entry.id,
            piece,
            pairs,
            claim,
        });
    }

    /// Every field and value of every entry, back to back (see [`Fields::ranges`]).
    pub fn data(&self) -> &[u8] {
        &self.bytes
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        self.items.iter().map(|item| self.entry(item))
    }

    fn entry(&self, item: &Item) -> EntryRef<'_> {
        let fields = (item.pairs != DELETED).then(|| Fields {
            bytes: &self.bytes,
            ends: &self.ends[item.piece..item.piece + item.pairs * 2],
            start: item.piece.checked_sub(1).map_or(0, |last| self.ends[last]),
        });
        EntryRef {
            id: item.id,
            fields,
            claim: self.claims.get(item.claim).copied(),
        }
    }

    /// The reply tree this list stands for: one `[id, [field, value, ...]]` array per entry
    /// (`[id, fields, idle, count]` for a claiming read; a null for deleted fields).
    pub fn to_replies(&self) -> Vec<Reply> {
        self.iter()
            .map(|entry| {
                let mut parts = vec![Reply::Bulk(entry.id.to_bytes())];
                parts.push(match entry.fields {
                    Some(fields) => Reply::Array(
                        fields
                            .iter()
                            .flat_map(|(f, v)| [Reply::bulk(f), Reply::bulk(v)])
                            .collect(),
                    ),
                    None => Reply::NullArray,
                });
                if let Some((idle, count)) = entry.claim {
                    parts.extend([Reply::Integer(idle), Reply::Integer(count)]);
                }
                Reply::Array(parts)
            })
            .collect()
    }

    /// Appends the RESP encoding of the list (an array of entries).
    pub fn encode(&self, protocol: u8, out: &mut Vec<u8>) {
        // Room for all of it at once: the data, and about 6 bytes of framing per string and
        // 30 per entry (its headers and ID).
        out.reserve(self.bytes.len() + self.ends.len() * 6 + self.items.len() * 30 + 8);
        header(out, b'*', self.items.len());
        for entry in self.iter() {
            encode_entry(&entry, protocol, out);
        }
    }

    /// The size of the last entry's RESP2 encoding (what MAXSIZE counts).
    pub fn last_encoded_len(&self) -> usize {
        let mut out = Vec::new();
        if let Some(item) = self.items.last() {
            encode_entry(&self.entry(item), 2, &mut out);
        }
        out.len()
    }
}

/// One entry: `*2` (or `*4` with claim data), the ID, then the fields or a null.
fn encode_entry(entry: &EntryRef<'_>, protocol: u8, out: &mut Vec<u8>) {
    header(out, b'*', if entry.claim.is_some() { 4 } else { 2 });
    let mut id_text = [0u8; 41];
    bulk(out, entry.id.text(&mut id_text));
    match entry.fields {
        Some(fields) => {
            header(out, b'*', fields.len() * 2);
            for (field, value) in fields.iter() {
                bulk(out, field);
                bulk(out, value);
            }
        }
        None => Reply::NullArray.encode(protocol, out),
    }
    if let Some((idle, count)) = entry.claim {
        Reply::Integer(idle).encode(protocol, out);
        Reply::Integer(count).encode(protocol, out);
    }
}

impl PartialEq for EntryList {
    fn eq(&self, other: &EntryList) -> bool {
        self.to_replies() == other.to_replies()
    }
}

impl fmt::Debug for EntryList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_replies()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{assert_stands_for, encoded};
    use crate::stream::{NodeLimits, Stream};

    /// A stream with entries of one, two and three fields (one with an empty value).
    fn stream() -> Stream {
        let mut s = Stream::new();
        let rows: [&[(&[u8], &[u8])]; 3] = [
            &[(b"f", b"v")],
            &[(b"a", b"1"), (b"b", b"")],
            &[(b"x", b"\r\n"), (b"y", b"22"), (b"z", b"333")],
        ];
        for (n, fields) in rows.iter().enumerate() {
            s.append(id(n as u64 + 1, 0), fields, NodeLimits::default());
        }
        s
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// Every shape a read replies (plain, claimed, deleted) encodes byte for byte as the
    /// reply tree it stands for, in both protocols, and compares equal to it.
    #[test]
    fn flat_entries_encode_and_compare_as_their_tree() {
        let s = stream();
        let mut list = EntryList::new();
        let mut sizes = Vec::new();
        for (n, entry) in s.range(StreamId::MIN, StreamId::MAX, false).enumerate() {
            if n == 1 {
                list.push_claimed(&entry, 1500, 3);
            } else {
                list.push(&entry);
            }
            sizes.push(list.last_encoded_len());
        }
        list.push_deleted(id(9, 9));
        sizes.push(list.last_encoded_len());
        let flat = Reply::Entries(Box::new(list.clone()));
        let tree = Reply::Array(list.to_replies());
        assert_stands_for(&flat, &tree);
        let Reply::Array(items) = &tree else {
            panic!("not an array");
        };
        let item_sizes: Vec<usize> = items.iter().map(|i| encoded(i, 2).len()).collect();
        assert_eq!(sizes, item_sizes);
        let text = String::from_utf8_lossy(&encoded(&tree, 2)).into_owned();
        assert!(text.contains(
            "$3\r\n2-0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$0\r\n\r\n:1500\r\n:3\r\n"
        ));
        assert!(text.ends_with("$3\r\n9-9\r\n*-1\r\n"), "{text}");
        // Read back through the public view: IDs, fields and claim data as pushed.
        let seen: Vec<_> = list
            .iter()
            .map(|e| (e.id, e.fields.map(|f| f.len()), e.claim))
            .collect();
        assert_eq!(
            seen,
            [
                (id(1, 0), Some(1), None),
                (id(2, 0), Some(2), Some((1500, 3))),
                (id(3, 0), Some(3), None),
                (id(9, 9), None, None),
            ]
        );
        let third = list.iter().nth(2).and_then(|e| e.fields);
        let pairs: Vec<(&[u8], &[u8])> = third.map(|f| f.iter().collect()).unwrap_or_default();
        assert_eq!(
            pairs,
            [
                (&b"x"[..], &b"\r\n"[..]),
                (&b"y"[..], &b"22"[..]),
                (&b"z"[..], &b"333"[..])
            ]
        );
        assert_ne!(flat, Reply::Array(Vec::new()));
    }
}
