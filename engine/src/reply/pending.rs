//! `PendingList`: the rows of XPENDING's extended form, `[[id, consumer, idle, count], ...]`,
//! held flat instead of as a tree of replies.
//!
//! As a [`Reply`] tree every row costs an array, a consumer name (a shared-string clone: a
//! locked reference count, up and down again) and four replies, built, encoded and freed
//! again: most of what XPENDING costs. Here a row is its ID, two numbers and where its
//! consumer's name sits in one buffer of names, written once for a run of rows that share
//! it, and RESP is written straight from the rows.

use std::fmt;

use super::{bulk, header, Reply};
use crate::id::StreamId;

/// XPENDING's extended rows. Encodes, compares and debug-prints as the array of `[id,
/// consumer, idle, count]` rows it stands for ([`PendingList::to_replies`] builds that
/// array); RESP2 and RESP3 write it alike.
#[derive(Clone, Default)]
pub struct PendingList {
    rows: Vec<Row>,
    /// Consumer names, back to back; a run of rows of one consumer shares one copy.
    names: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Row {
    id: StreamId,
    /// Where the consumer's name sits in `names`.
    name: (usize, usize),
    idle: i64,
    count: i64,
}

/// One row of a [`PendingList`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRow<'a> {
    /// The pending entry's ID.
    pub id: StreamId,
    /// The consumer that owns it (empty for a NACKed entry).
    pub consumer: &'a [u8],
    /// Milliseconds since its last delivery (-1 for a NACKed entry).
    pub idle: i64,
    /// Times it was delivered.
    pub count: i64,
}

impl PendingList {
    /// An empty list with room for `rows` rows (XPENDING's COUNT, capped by the caller).
    pub fn with_capacity(rows: usize) -> PendingList {
        PendingList {
            rows: Vec::with_capacity(rows),
            names: Vec::new(),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Appends a row.
    pub fn push(&mut self, id: StreamId, consumer: &[u8], idle: i64, count: i64) {
        let name = match self.rows.last() {
            Some(last) if &self.names[last.name.0..last.name.1] == consumer => last.name,
            _ => {
                let start = self.names.len();
                self.names.extend_from_slice(consumer);
                (start, self.names.len())
            }
        };
        self.rows.push(Row {
            id,
            name,
            idle,
            count,
        });
    }

    /// The rows in order.
    pub fn iter(&self) -> impl Iterator<Item = PendingRow<'_>> + '_ {
        self.rows.iter().map(|row| PendingRow {
            id: row.id,
            consumer: &self.names[row.name.0..row.name.1],
            idle: row.idle,
            count: row.count,
        })
    }

    /// The reply tree this list stands for: one `[id, consumer, idle, count]` array a row.
    pub fn to_replies(&self) -> Vec<Reply> {
        self.iter()
            .map(|row| {
                Reply::Array(vec![
                    Reply::Bulk(row.id.to_bytes()),
                    Reply::bulk(row.consumer),
                    Reply::Integer(row.idle),
                    Reply::Integer(row.count),
                ])
            })
            .collect()
    }

    /// Appends the RESP encoding of the list (the same in both protocols).
    pub fn encode(&self, out: &mut Vec<u8>) {
        // About 60 bytes of framing, ID and numbers a row, plus its name.
        out.reserve(self.rows.len() * 60 + self.names.len() + 8);
        header(out, b'*', self.rows.len());
        let mut id_text = [0u8; 41];
        for row in self.iter() {
            out.extend_from_slice(b"*4\r\n");
            bulk(out, row.id.text(&mut id_text));
            bulk(out, row.consumer);
            for n in [row.idle, row.count] {
                Reply::Integer(n).encode(2, out);
            }
        }
    }
}

impl PartialEq for PendingList {
    fn eq(&self, other: &PendingList) -> bool {
        self.iter().eq(other.iter())
    }
}

impl fmt::Debug for PendingList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_replies()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{assert_stands_for, encoded};

    /// Rows of one consumer, of another, a NACKed one (no owner) and the first consumer
    /// again encode byte for byte as the tree they stand for, in both protocols, compare
    /// equal to it and read back as pushed.
    #[test]
    fn flat_rows_encode_and_compare_as_their_tree() {
        let rows: [(StreamId, &[u8], i64, i64); 5] = [
            (StreamId::new(1, 0), b"alice", 10, 1),
            (StreamId::new(1, 1), b"alice", 12, 2),
            (StreamId::new(2, 0), b"bob\r\n", 0, 1),
            (StreamId::new(3, 7), b"", -1, 4),
            (
                StreamId::new(1_700_000_000_000, 5),
                b"alice",
                1 << 40,
                i64::MAX,
            ),
        ];
        let mut list = PendingList::with_capacity(2);
        for (id, consumer, idle, count) in rows {
            list.push(id, consumer, idle, count);
        }
        let flat = Reply::Pending(Box::new(list.clone()));
        let tree = Reply::Array(list.to_replies());
        assert_stands_for(&flat, &tree);
        let text = String::from_utf8_lossy(&encoded(&flat, 2)).into_owned();
        assert!(text.starts_with("*5\r\n*4\r\n$3\r\n1-0\r\n$5\r\nalice\r\n:10\r\n:1\r\n"));
        assert!(
            text.contains("$3\r\n3-7\r\n$0\r\n\r\n:-1\r\n:4\r\n"),
            "{text}"
        );
        let seen: Vec<_> = list
            .iter()
            .map(|r| (r.id, r.consumer, r.idle, r.count))
            .collect();
        assert_eq!(seen, rows);
        // A run of one consumer keeps one copy of its name.
        assert_eq!(list.names, b"alicebob\r\nalice");
        assert_ne!(flat, Reply::Array(Vec::new()));
        assert_eq!(
            Reply::Pending(Box::default()).into_tree(),
            Reply::Array(Vec::new())
        );
    }
}
