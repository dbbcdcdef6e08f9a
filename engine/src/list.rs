//! Lists: elements in order, pushed and popped at both ends. Redis (7.2 on) keeps a small list
//! as one listpack and a larger one as a quicklist (a chain of listpacks); Rill keeps a chain
//! of packed nodes and tracks the size the listpack would have, so that OBJECT ENCODING and
//! the RDB form follow Redis's rules: past `list-max-listpack-size` a list becomes a
//! quicklist, and back when it shrinks to half of it.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::packed::Packed;

use crate::stream::listpack_size::{str_element, LISTPACK_OVERHEAD};

/// `list-max-listpack-size`: a positive number of elements per listpack, or a negative size
/// class (-1: 4 KB ... -5: 64 KB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimit(pub i64);

impl Default for ListLimit {
    fn default() -> Self {
        ListLimit(-2)
    }
}

impl ListLimit {
    /// Whether a listpack of `count` elements and `bytes` bytes is within the limit, with
    /// the limit scaled by `num/den` (1/1 to grow, 1/2 to shrink back).
    fn fits(self, count: usize, bytes: usize, num: usize, den: usize) -> bool {
        if self.0 > 0 {
            // Redis still caps a count-limited listpack at 8 KB (its safety limit).
            count * den <= self.0 as usize * num && bytes * den <= 8192 * num
        } else {
            let class = self.0.clamp(-5, -1).unsigned_abs() as usize;
            bytes * den <= (4096 << (class - 1)) * num
        }
    }
}

/// Most elements a node holds before a new node starts (bounds the walk to an element).
const NODE_ITEMS: usize = 512;
/// Most bytes of elements a node holds before a new node starts: with the packed run's count
/// a sealed node then fills one 2 KB block of the allocator's, less part of one element,
/// instead of being rounded up to the next size class.
const NODE_BYTES: usize = 2048 - 8;

/// A list value, in Redis's two encodings (7.2 on): small lists as one packed buffer
/// (`listpack`), held inline in the key's slot; larger ones as a chain of packed nodes of up
/// to [`NODE_ITEMS`] elements (`quicklist`), so an element costs its bytes and a length byte
/// or two either way.
#[derive(Debug, Clone, Default)]
pub struct List {
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// `listpack`: every element in one buffer, and the bytes Redis's listpack of them would
    /// take (which decides the conversion; at most a few times the 64 KB size class).
    Listpack { items: Packed, bytes: u32 },
    /// `quicklist`, boxed: a long list can afford the pointer, a short one stays small.
    Quick(Box<Quick>),
}

impl Default for Body {
    fn default() -> Self {
        Body::Listpack {
            items: Packed::default(),
            bytes: 0,
        }
    }
}

/// A quicklist: nodes of packed elements.
#[derive(Debug, Clone, Default)]
struct Quick {
    nodes: VecDeque<Packed>,
    len: usize,
    /// Bytes a listpack of these elements would take.
    listpack_bytes: usize,
}

/// Whether `node` has room for `item`.
fn has_room(node: &Packed, item: &[u8]) -> bool {
    // An element's length takes one byte below 128, two below 16 KB.
    node.len() < NODE_ITEMS && node.byte_len() + item.len() + 2 <= NODE_BYTES
}

/// `n` as a listpack byte count (saturating: a listpack that large converts at once).
fn lp_bytes(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Quick {
    /// A quicklist of `items`.
    fn of<'a>(items: impl Iterator<Item = &'a [u8]>) -> Quick {
        let mut q = Quick::default();
        for item in items {
            q.push(false, item);
        }
        q
    }

    fn push(&mut self, left: bool, item: &[u8]) {
        self.listpack_bytes += str_element(item);
        self.len += 1;
        let end = if left {
            self.nodes.front_mut()
        } else {
            self.nodes.back_mut()
        };
        match end {
            Some(node) if has_room(node, item) => {
                if left {
                    node.insert(0, item);
                } else {
                    node.push(item);
                }
            }
            end => {
                // The full node is sealed at its exact size, and the new one starts with
                // room for as much as it holds: neighbours hold elements alike, so the new
                // node rarely grows or keeps slack.
                let room = end.map_or(0, |full| {
                    full.shrink_to_fit();
                    full.byte_len()
                });
                let mut node = Packed::with_capacity(room.max(item.len() + 2));
                node.push(item);
                if left {
                    self.nodes.push_front(node);
                } else {
                    self.nodes.push_back(node);
                }
            }
        }
    }

    fn pop(&mut self, left: bool) -> Option<Bytes> {
        let node = if left {
            self.nodes.front_mut()
        } else {
            self.nodes.back_mut()
        }?;
        let at = if left { 0 } else { node.len().checked_sub(1)? };
        let item = Bytes::copy_from_slice(node.iter().nth(at)?);
        node.remove(at, 1);
        if node.is_empty() {
            if left {
                self.nodes.pop_front();
            } else {
                self.nodes.pop_back();
            }
        }
        self.len -= 1;
        self.listpack_bytes -= str_element(&item);
        Some(item)
    }

    /// The node holding element `index` (< len) and the element's place in it.
    fn locate(&self, mut index: usize) -> (usize, usize) {
        for (n, node) in self.nodes.iter().enumerate() {
            if index < node.len() {
                return (n, index);
            }
            index -= node.len();
        }
        (self.nodes.len(), 0)
    }

    fn set(&mut self, index: usize, item: &[u8]) {
        let (n, at) = self.locate(index);
        let Some(node) = self.nodes.get_mut(n) else {
            return;
        };
        let old = node.iter().nth(at).map_or(0, str_element);
        node.replace(at, item);
        self.listpack_bytes = self.listpack_bytes + str_element(item) - old;
    }

    fn insert(&mut self, index: usize, item: &[u8]) {
        let (n, at) = self.locate(index);
        let Some(node) = self.nodes.get_mut(n) else {
            return;
        };
        node.insert(at, item);
        if node.len() > 2 * NODE_ITEMS || node.byte_len() > 2 * NODE_BYTES {
            // Split in two halves, as Redis splits a full quicklist node.
            let items: Vec<Vec<u8>> = node.iter().map(<[u8]>::to_vec).collect();
            let half = items.len() / 2;
            let (mut head, mut tail) = (Packed::default(), Packed::default());
            for (i, it) in items.iter().enumerate() {
                if i < half {
                    head.push(it);
                } else {
                    tail.push(it);
                }
            }
            *node = head;
            self.nodes.insert(n + 1, tail);
        }
        self.len += 1;
        self.listpack_bytes += str_element(item);
    }

    fn items(&self) -> impl Iterator<Item = &[u8]> {
        self.nodes.iter().flat_map(Packed::iter)
    }
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Listpack { items, .. } => items.len(),
            Body::Quick(q) => q.len,
        }
    }

    /// No elements (such a list is deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match &self.body {
            Body::Listpack { .. } => "listpack",
            Body::Quick(_) => "quicklist",
        }
    }

    /// A listpack past the limit becomes a quicklist.
    fn grew(&mut self, limit: ListLimit) {
        if let Body::Listpack { items, bytes } = &self.body {
            if !limit.fits(items.len(), *bytes as usize + LISTPACK_OVERHEAD, 1, 1) {
                self.body = Body::Quick(Box::new(Quick::of(items.iter())));
            }
        }
    }

    /// A quicklist back within half the limit becomes a listpack again (Redis's hysteresis).
    fn shrank(&mut self, limit: ListLimit) {
        if let Body::Quick(q) = &self.body {
            if limit.fits(q.len, q.listpack_bytes + LISTPACK_OVERHEAD, 1, 2) {
                let mut items = Packed::default();
                for item in q.items() {
                    items.push(item);
                }
                let bytes = lp_bytes(q.listpack_bytes);
                self.body = Body::Listpack { items, bytes };
            }
        }
    }

    /// Adds at the head (`left`) or the tail.
    pub fn push(&mut self, left: bool, item: &[u8], limit: ListLimit) {
        match &mut self.body {
            Body::Listpack { items, bytes } => {
                if left {
                    items.insert(0, item);
                } else {
                    items.push(item);
                }
                *bytes = lp_bytes(*bytes as usize + str_element(item));
                self.grew(limit);
            }
            Body::Quick(q) => q.push(left, item),
        }
    }

    /// Removes from the head (`left`) or the tail.
    pub fn pop(&mut self, left: bool, limit: ListLimit) -> Option<Bytes> {
        match &mut self.body {
            Body::Listpack { items, bytes } => {
                let at = if left { 0 } else { items.len().checked_sub(1)? };
                let item = Bytes::copy_from_slice(items.iter().nth(at)?);
                items.remove(at, 1);
                *bytes = bytes.saturating_sub(lp_bytes(str_element(&item)));
                Some(item)
            }
            Body::Quick(q) => {
                let item = q.pop(left);
                self.shrank(limit);
                item
            }
        }
    }

    /// The element at `index` (0 is the head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        match &self.body {
            Body::Listpack { items, .. } => items.iter().nth(index),
            Body::Quick(q) => {
                if index >= q.len {
                    return None;
                }
                let (n, at) = q.locate(index);
                q.nodes.get(n)?.iter().nth(at)
            }
        }
    }

    /// Elements from `start` to `end` inclusive (already in range).
    pub fn range(&self, start: usize, end: usize) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        let n = (end + 1).saturating_sub(start);
        match &self.body {
            Body::Listpack { items, .. } => Box::new(items.iter().skip(start).take(n)),
            Body::Quick(q) => {
                let (first, at) = q.locate(start);
                Box::new(
                    q.nodes
                        .range(first.min(q.nodes.len())..)
                        .enumerate()
                        .flat_map(move |(k, node)| node.iter().skip(if k == 0 { at } else { 0 }))
                        .take(n),
                )
            }
        }
    }

    /// Every element, head first.
    pub fn iter(&self) -> std::vec::IntoIter<&[u8]> {
        let items: Vec<&[u8]> = match &self.body {
            Body::Listpack { items, .. } => items.iter().collect(),
            Body::Quick(q) => q.items().collect(),
        };
        items.into_iter()
    }

    /// Replaces the element at `index` (in range).
    pub fn set(&mut self, index: usize, item: &[u8], limit: ListLimit) {
        match &mut self.body {
            Body::Listpack { items, bytes } => {
                if index >= items.len() {
                    return;
                }
                let old = items.iter().nth(index).map_or(0, str_element);
                items.replace(index, item);
                *bytes = lp_bytes((*bytes as usize + str_element(item)).saturating_sub(old));
                self.grew(limit);
            }
            Body::Quick(q) => {
                q.set(index, item);
                self.shrank(limit);
            }
        }
    }

    /// Inserts before position `index` (0..=len).
    pub fn insert(&mut self, index: usize, item: &[u8], limit: ListLimit) {
        if index >= self.len() {
            self.push(false, item, limit);
            return;
        }
        match &mut self.body {
            Body::Listpack { items, bytes } => {
                items.insert(index, item);
                *bytes = lp_bytes(*bytes as usize + str_element(item));
                self.grew(limit);
            }
            Body::Quick(q) => q.insert(index, item),
        }
    }

    /// Keeps the elements whose position `keep` accepts; the encoding changes only as a
    /// shrink would change it.
    pub fn retain_positions(
        &mut self,
        limit: ListLimit,
        mut keep: impl FnMut(usize, &[u8]) -> bool,
    ) {
        match &mut self.body {
            Body::Listpack { items, bytes } => {
                let mut kept = Packed::default();
                let mut total = 0;
                for (i, item) in items.iter().enumerate() {
                    if keep(i, item) {
                        kept.push(item);
                        total += str_element(item);
                    }
                }
                *items = kept;
                *bytes = lp_bytes(total);
            }
            Body::Quick(q) => {
                let kept = Quick::of(
                    q.items()
                        .enumerate()
                        .filter(|(i, item)| keep(*i, item))
                        .map(|(_, item)| item),
                );
                **q = kept;
                self.shrank(limit);
            }
        }
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match &self.body {
            Body::Listpack { items, .. } => items.heap_bytes(),
            Body::Quick(q) => {
                std::mem::size_of::<Quick>()
                    + q.nodes.iter().map(Packed::heap_bytes).sum::<usize>()
                    + q.nodes.capacity() * std::mem::size_of::<Packed>()
            }
        }
    }

    /// A list of `items` as loaded from a file.
    pub fn from_items(items: Vec<Bytes>, limit: ListLimit) -> List {
        let mut list = List::default();
        for item in &items {
            list.push(false, item, limit);
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random pushes, pops, sets, inserts and removals across many nodes, checked against a
    /// plain deque after every step.
    #[test]
    fn nodes_behave_as_one_sequence() {
        let limit = ListLimit::default();
        let (mut list, mut model) = (List::default(), VecDeque::<Vec<u8>>::new());
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        for step in 0..20_000 {
            let item = format!("item-{step}-{}", "x".repeat(next(40))).into_bytes();
            match next(7) {
                0 | 1 => {
                    list.push(true, &item, limit);
                    model.push_front(item);
                }
                2 | 3 => {
                    list.push(false, &item, limit);
                    model.push_back(item);
                }
                4 => {
                    let left = next(2) == 0;
                    let got = list.pop(left, limit).map(|b| b.to_vec());
                    let want = if left {
                        model.pop_front()
                    } else {
                        model.pop_back()
                    };
                    assert_eq!(got, want);
                }
                5 if !model.is_empty() => {
                    let at = next(model.len());
                    list.set(at, &item, limit);
                    model[at] = item;
                }
                5 => {}
                _ => {
                    let at = next(model.len() + 1);
                    list.insert(at, &item, limit);
                    model.insert(at, item);
                }
            }
            if step % 997 == 0 {
                list.retain_positions(limit, |i, _| i % 5 != 0);
                let mut i = 0;
                model.retain(|_| {
                    i += 1;
                    (i - 1) % 5 != 0
                });
            }
            assert_eq!(list.len(), model.len());
        }
        let all: Vec<Vec<u8>> = list.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(all, Vec::from(model.clone()));
        let mid = model.len() / 2;
        let part: Vec<&[u8]> = list.range(mid, mid + 300).collect();
        assert_eq!(part.len(), 301.min(model.len() - mid));
        assert_eq!(part[0], &model[mid][..]);
        assert_eq!(list.get(mid), Some(&model[mid][..]));
        assert!(matches!(&list.body, Body::Quick(q) if q.nodes.len() > 10));
    }
}
