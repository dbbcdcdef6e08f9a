//! Lists: elements in order, pushed and popped at both ends. Redis (7.2 on) keeps a small list
//! as one listpack and a larger one as a quicklist (a chain of listpacks); Rill keeps a ring
//! buffer and tracks the size the listpack would have, so that OBJECT ENCODING and the RDB
//! form follow Redis's rules: past `list-max-listpack-size` a list becomes a quicklist, and
//! back when it shrinks to half of it.

use std::collections::VecDeque;

use bytes::Bytes;

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

/// A list value.
#[derive(Debug, Clone, Default)]
pub struct List {
    items: VecDeque<Bytes>,
    /// Bytes a listpack of these elements would take.
    listpack_bytes: usize,
    /// Whether Redis would hold it as a quicklist.
    quicklist: bool,
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// No elements (such a list is deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
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
        if !self.quicklist
            && !limit.fits(
                self.items.len(),
                self.listpack_bytes + LISTPACK_OVERHEAD,
                1,
                1,
            )
        {
            self.quicklist = true;
        }
    }

    fn shrank(&mut self, limit: ListLimit) {
        if self.quicklist
            && limit.fits(
                self.items.len(),
                self.listpack_bytes + LISTPACK_OVERHEAD,
                1,
                2,
            )
        {
            self.quicklist = false;
        }
    }

    /// Adds at the head (`left`) or the tail, in its own allocation.
    pub fn push(&mut self, left: bool, item: &[u8], limit: ListLimit) {
        let item = Bytes::copy_from_slice(item);
        self.listpack_bytes += str_element(&item);
        if left {
            self.items.push_front(item);
        } else {
            self.items.push_back(item);
        }
        self.grew(limit);
    }

    /// Removes from the head (`left`) or the tail.
    pub fn pop(&mut self, left: bool, limit: ListLimit) -> Option<Bytes> {
        let item = if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        }?;
        self.listpack_bytes -= str_element(&item);
        self.shrank(limit);
        Some(item)
    }

    /// The element at `index` (0 is the head).
    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.items.get(index)
    }

    /// Elements from `start` to `end` inclusive (already in range).
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &Bytes> {
        self.items.range(start..=end)
    }

    /// Every element, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// Replaces the element at `index` (in range).
    pub fn set(&mut self, index: usize, item: &[u8], limit: ListLimit) {
        let item = Bytes::copy_from_slice(item);
        self.listpack_bytes += str_element(&item);
        let old = std::mem::replace(&mut self.items[index], item);
        self.listpack_bytes -= str_element(&old);
        self.grew(limit);
        self.shrank(limit);
    }

    /// Inserts before position `index` (0..=len).
    pub fn insert(&mut self, index: usize, item: &[u8], limit: ListLimit) {
        let item = Bytes::copy_from_slice(item);
        self.listpack_bytes += str_element(&item);
        self.items.insert(index, item);
        self.grew(limit);
    }

    /// Keeps the elements whose position `keep` accepts.
    pub fn retain_positions(
        &mut self,
        limit: ListLimit,
        mut keep: impl FnMut(usize, &Bytes) -> bool,
    ) {
        let mut i = 0;
        let mut removed = 0;
        self.items.retain(|item| {
            let kept = keep(i, item);
            if !kept {
                removed += str_element(item);
            }
            i += 1;
            kept
        });
        self.listpack_bytes -= removed;
        self.shrank(limit);
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.items.iter().map(|i| i.len() + 32).sum::<usize>() + self.items.capacity() * 8
    }

    /// A list of `items` as loaded from a file.
    pub fn from_items(items: Vec<Bytes>, limit: ListLimit) -> List {
        let listpack_bytes = items.iter().map(|i| str_element(i)).sum();
        let mut list = List {
            items: items.into(),
            listpack_bytes,
            quicklist: false,
        };
        list.grew(limit);
        list
    }
}
