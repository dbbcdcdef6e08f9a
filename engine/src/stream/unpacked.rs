//! Plain copies of the packed nodes read last, per thread: a reader paging through history
//! (`XRANGE s <id> + COUNT 10` again and again, a consumer group reading a backlog, XCLAIM
//! checking its IDs one by one) unpacks each node once rather than once per command.
//!
//! A slot is keyed by the packed node's allocation and holds a `Weak` to it: while the slot
//! exists the allocation cannot be reused for another node, and writing to the node
//! (`Arc::make_mut` with a weak reference outstanding) moves it to a new allocation, so a
//! slot never answers for a node that changed. The copies are bounded: a few per thread, and
//! none of nodes above [`LARGEST_KEPT`] (`stream-node-max-bytes` raised far above its 4 KB
//! default).

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use super::node::Node;

/// Plain copies kept per thread.
const SLOTS: usize = 4;

/// Plain nodes larger than this are unpacked for each read and not kept.
const LARGEST_KEPT: usize = 1 << 20;

thread_local! {
    static RECENT: RefCell<Vec<(Weak<Node>, Arc<Node>)>> = const { RefCell::new(Vec::new()) };
}

/// A plain copy of `packed` (a node of a stream whose dictionary is `dictionary`), from the
/// cache when this thread unpacked it recently.
pub fn plain(packed: &Arc<Node>, dictionary: Option<&[u8]>) -> Arc<Node> {
    RECENT.with_borrow_mut(|recent| {
        let key = Arc::as_ptr(packed);
        if let Some(at) = recent.iter().position(|(k, _)| k.as_ptr() == key) {
            // Most recent first, so the oldest is the one to go.
            recent[..=at].rotate_right(1);
            return Arc::clone(&recent[0].1);
        }
        let plain = Arc::new(packed.unpacked(dictionary));
        if plain.plain_len() <= LARGEST_KEPT {
            if recent.len() == SLOTS {
                recent.pop();
            }
            recent.insert(0, (Arc::downgrade(packed), Arc::clone(&plain)));
        }
        plain
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::StreamId;

    fn packed_node(first: u64, entries: u64) -> Arc<Node> {
        let mut node = Node::new(StreamId::new(first, 0), &[(b"f", b"value-0")]);
        for i in 1..entries {
            node.push(StreamId::new(first + i, 0), &[(b"f", b"value-same")]);
        }
        node.seal(true, None);
        assert!(node.is_packed());
        Arc::new(node)
    }

    #[test]
    fn a_node_is_unpacked_once_while_kept() {
        let node = packed_node(1, 50);
        let a = plain(&node, None);
        let b = plain(&node, None);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!a.is_packed());
        assert_eq!(a.entries().count(), 50);
    }

    #[test]
    fn a_written_node_is_not_answered_from_the_cache() {
        let mut node = packed_node(100, 50);
        let before = plain(&node, None);
        assert!(Arc::make_mut(&mut node).delete(StreamId::new(110, 0), None));
        let after = plain(&node, None);
        assert!(!Arc::ptr_eq(&before, &after));
        assert_eq!(after.entries().filter(|e| e.deleted).count(), 1);
        assert_eq!(before.entries().filter(|e| e.deleted).count(), 0);
    }

    #[test]
    fn the_oldest_copy_goes_first() {
        let nodes: Vec<_> = (0..=SLOTS as u64)
            .map(|i| packed_node(i * 1000, 20))
            .collect();
        let first = plain(&nodes[0], None);
        for node in &nodes[1..] {
            plain(node, None);
        }
        // Slot count exceeded: the first node's copy was dropped, a new one is made.
        assert!(!Arc::ptr_eq(&first, &plain(&nodes[0], None)));
        // The most recent ones are still there.
        let last = plain(&nodes[SLOTS], None);
        assert!(Arc::ptr_eq(&last, &plain(&nodes[SLOTS], None)));
    }
}
