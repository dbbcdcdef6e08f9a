//! A packed run of byte strings in one allocation, each a LEB128 length then its bytes: what
//! small collections are kept as, the role Redis's listpack plays. A ten-field hash costs a
//! few dozen bytes this way instead of two handles and two allocations per field.

/// Items in order, in one buffer. The count lives in the buffer's first four bytes (as a
/// listpack keeps its count in its header), so that a `Packed` is three words and the
/// collections built on it fit inside a key's value slot with no box of their own; an empty
/// one holds no buffer at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    bytes: Vec<u8>,
}

/// Bytes of the count before the first item.
const HEADER: usize = 4;

/// Appends `n` as LEB128.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The LEB128 number at `at` and where it ends (a truncated one reads as what is there).
pub(crate) fn read_varint(bytes: &[u8], at: usize) -> (u64, usize) {
    let (mut n, mut shift, mut i) = (0u64, 0u32, at);
    while let Some(&b) = bytes.get(i) {
        n |= u64::from(b & 0x7f) << shift.min(63);
        shift += 7;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    (n, i)
}

/// Appends an item's length.
fn put_len(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
}

/// The item starting at `at`: (its bytes' range, where the next item starts).
fn item_at(bytes: &[u8], at: usize) -> (std::ops::Range<usize>, usize) {
    let (len, i) = read_varint(bytes, at);
    let end = i
        .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
        .min(bytes.len());
    (i..end, end)
}

impl Packed {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self.bytes.first_chunk::<HEADER>() {
            Some(head) => u32::from_le_bytes(*head) as usize,
            None => 0,
        }
    }

    fn set_len(&mut self, count: usize) {
        if count == 0 {
            self.bytes = Vec::new();
            return;
        }
        if self.bytes.is_empty() {
            self.bytes.extend_from_slice(&[0; HEADER]);
        }
        // Four billion items of at least a byte each would be a 4 GB small collection: the
        // encoding limits convert long before.
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.bytes[..HEADER].copy_from_slice(&count.to_le_bytes());
    }

    /// No items.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Bytes the items take (lengths included).
    pub fn byte_len(&self) -> usize {
        self.bytes.len().saturating_sub(HEADER)
    }

    /// An empty run with room for `bytes` bytes of items.
    pub fn with_capacity(bytes: usize) -> Packed {
        Packed {
            bytes: Vec::with_capacity(bytes + HEADER),
        }
    }

    /// Gives back the room past the last item (a run that will not grow again).
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    /// Appends an item.
    pub fn push(&mut self, item: &[u8]) {
        let count = self.len() + 1;
        self.room(item.len() + 3 + HEADER);
        self.set_len(count);
        put_len(&mut self.bytes, item.len());
        self.bytes.extend_from_slice(item);
    }

    /// The items in order.
    pub fn iter(&self) -> Items<'_> {
        Items {
            bytes: &self.bytes,
            at: HEADER,
        }
    }

    /// The byte offset where item `index` starts (the end when `index == len`).
    fn offset(&self, index: usize) -> usize {
        let mut at = HEADER;
        for _ in 0..index {
            at = item_at(&self.bytes, at).1;
        }
        at
    }

    /// Replaces item `index` (in range) by `item`.
    pub fn replace(&mut self, index: usize, item: &[u8]) {
        let start = self.offset(index);
        let end = item_at(&self.bytes, start).1;
        let mut encoded = Vec::with_capacity(item.len() + 2);
        put_len(&mut encoded, item.len());
        encoded.extend_from_slice(item);
        self.bytes.splice(start..end, encoded);
    }

    /// Makes room for `extra` more bytes, growing by an eighth (at least 8 bytes) rather than
    /// doubling: small collections live in these buffers, and doubling would leave up to half
    /// of each one unused (Redis sizes its listpacks exactly).
    fn room(&mut self, extra: usize) {
        let needed = self.bytes.len() + extra;
        if needed > self.bytes.capacity() {
            let grow = (self.bytes.len() / 8).max(8).max(extra);
            self.bytes.reserve_exact(grow);
        }
    }

    /// Inserts `item` before item `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        let at = self.offset(index);
        let mut encoded = Vec::with_capacity(item.len() + 2);
        put_len(&mut encoded, item.len());
        encoded.extend_from_slice(item);
        self.room(encoded.len() + HEADER);
        let count = self.len() + 1;
        self.set_len(count);
        let at = at.max(HEADER);
        self.bytes.splice(at..at, encoded);
    }

    /// Removes `n` items from item `index` on (in range).
    pub fn remove(&mut self, index: usize, n: usize) {
        let start = self.offset(index);
        let mut end = start;
        for _ in 0..n {
            end = item_at(&self.bytes, end).1;
        }
        self.bytes.drain(start..end);
        let count = self.len().saturating_sub(n);
        self.set_len(count);
        if self.bytes.capacity() > 2 * self.bytes.len() + 64 {
            self.bytes.shrink_to_fit();
        }
    }
}

/// The items of a run encoded by [`encode`].
pub fn items(bytes: &[u8]) -> Items<'_> {
    Items { bytes, at: 0 }
}

/// `items` encoded as one exactly sized run (each a LEB128 length then its bytes).
pub fn encode<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Box<[u8]> {
    let mut out = Vec::new();
    for item in items {
        put_len(&mut out, item.len());
        out.extend_from_slice(item);
    }
    out.into_boxed_slice()
}

/// Iterator over a [`Packed`]'s items.
#[derive(Clone)]
pub struct Items<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let (range, next) = item_at(self.bytes, self.at);
        self.at = next;
        Some(&self.bytes[range])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_replace_remove() {
        let mut p = Packed::default();
        let long = vec![b'x'; 300];
        for item in [&b"a"[..], b"", &long, b"bc"] {
            p.push(item);
        }
        assert_eq!(p.iter().collect::<Vec<_>>(), [&b"a"[..], b"", &long, b"bc"]);
        p.replace(1, b"zz");
        p.replace(2, b"y");
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [&b"a"[..], b"zz", b"y", b"bc"]
        );
        p.remove(1, 2);
        assert_eq!(p.iter().collect::<Vec<_>>(), [&b"a"[..], b"bc"]);
        assert_eq!(p.len(), 2);
        p.insert(1, b"m");
        p.insert(0, b"first");
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            [&b"first"[..], b"a", b"m", b"bc"]
        );
        p.remove(0, 4);
        assert!(p.is_empty() && p.heap_bytes() == 0);
        p.insert(0, b"again");
        assert_eq!(p.iter().collect::<Vec<_>>(), [&b"again"[..]]);
        assert_eq!((p.len(), p.byte_len()), (1, 6));
    }
}
