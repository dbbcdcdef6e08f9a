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

/// Most elements a node holds before a new node starts.
const NODE_ITEMS: usize = 128;
/// Most bytes a node holds before a new node starts (Redis's 8 KB listpack size class).
const NODE_BYTES: usize = 8 * 1024;

/// A list value: elements in nodes, each a packed buffer of up to [`NODE_ITEMS`] elements
/// (Redis's quicklist of listpacks), so an element costs its bytes and a length byte or two.
#[derive(Debug, Clone, Default)]
pub struct List {
    nodes: VecDeque<Packed>,
    len: usize,
    /// Bytes a listpack of these elements would take.
    listpack_bytes: usize,
    /// Whether Redis would hold it as a quicklist.
    quicklist: bool,
}

/// Whether `node` has room for `item`.
fn has_room(node: &Packed, item: &[u8]) -> bool {
    node.len() < NODE_ITEMS && node.byte_len() + item.len() <= NODE_BYTES
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No elements (such a list is deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        if self.quicklist {
            "quicklist"
        } else {
            "listpack"
        }
    }

    fn grew(&mut self, limit: ListLimit) {
        if !self.quicklist && !limit.fits(self.len, self.listpack_bytes + LISTPACK_OVERHEAD, 1, 1) {
            self.quicklist = true;
        }
    }

    fn shrank(&mut self, limit: ListLimit) {
        if self.quicklist && limit.fits(self.len, self.listpack_bytes + LISTPACK_OVERHEAD, 1, 2) {
            self.quicklist = false;
        }
    }

    /// Adds at the head (`left`) or the tail.
    pub fn push(&mut self, left: bool, item: &[u8], limit: ListLimit) {
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
            _ => {
                let mut node = Packed::default();
                node.push(item);
                if left {
                    self.nodes.push_front(node);
                } else {
                    self.nodes.push_back(node);
                }
            }
        }
        self.grew(limit);
    }

    /// Removes from the head (`left`) or the tail.
    pub fn pop(&mut self, left: bool, limit: ListLimit) -> Option<Bytes> {
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
        self.shrank(limit);
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

    /// The element at `index` (0 is the head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (n, at) = self.locate(index);
        self.nodes.get(n)?.iter().nth(at)
    }

    /// Elements from `start` to `end` inclusive (already in range).
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> {
        let (first, at) = self.locate(start);
        self.nodes
            .range(first.min(self.nodes.len())..)
            .enumerate()
            .flat_map(move |(k, node)| node.iter().skip(if k == 0 { at } else { 0 }))
            .take((end + 1).saturating_sub(start))
    }

    /// Every element, head first.
    pub fn iter(&self) -> std::vec::IntoIter<&[u8]> {
        let items: Vec<&[u8]> = self.nodes.iter().flat_map(Packed::iter).collect();
        items.into_iter()
    }

    /// Replaces the element at `index` (in range).
    pub fn set(&mut self, index: usize, item: &[u8], limit: ListLimit) {
        let (n, at) = self.locate(index);
        let Some(node) = self.nodes.get_mut(n) else {
            return;
        };
        let old = node.iter().nth(at).map_or(0, str_element);
        node.replace(at, item);
        self.listpack_bytes = self.listpack_bytes + str_element(item) - old;
        self.grew(limit);
        self.shrank(limit);
    }

    /// Inserts before position `index` (0..=len).
    pub fn insert(&mut self, index: usize, item: &[u8], limit: ListLimit) {
        if index >= self.len {
            self.push(false, item, limit);
            return;
        }
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
        self.grew(limit);
    }

    /// Keeps the elements whose position `keep` accepts.
    pub fn retain_positions(
        &mut self,
        limit: ListLimit,
        mut keep: impl FnMut(usize, &[u8]) -> bool,
    ) {
        let old = std::mem::take(&mut self.nodes);
        self.len = 0;
        self.listpack_bytes = 0;
        let quicklist = self.quicklist;
        for (i, item) in old.iter().flat_map(Packed::iter).enumerate() {
            if keep(i, item) {
                self.push(false, item, limit);
            }
        }
        // Pushing again must not turn a listpack into a quicklist the shrink then undoes.
        self.quicklist = quicklist;
        self.shrank(limit);
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.iter().map(Packed::heap_bytes).sum::<usize>()
            + self.nodes.capacity() * std::mem::size_of::<Packed>()
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
        assert!(list.nodes.len() > 10);
    }
}
