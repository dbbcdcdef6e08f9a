//! What consumer groups still need of a stream's entries, and the reference policies of
//! Redis 8.2 that decide what deleting and trimming do about it (XDELEX, XACKDEL, and
//! `KEEPREF | DELREF | ACKED` on XADD and XTRIM):
//!
//! - `KEEPREF` (the default, as before 8.2): entries go; the PEL entries that point at them
//!   stay, dangling (XCLAIM and XAUTOCLAIM clean them up later).
//! - `DELREF`: entries go, and so do their PEL entries in every group and consumer.
//! - `ACKED`: only entries no group still needs go.
//!
//! An entry is still needed ("referenced") when the stream has groups and one of them has
//! not been delivered it yet (its last-delivered ID is below it) or holds it unacknowledged
//! in its PEL. Redis keeps an index from IDs to the groups holding them; Rill asks the
//! groups, which comes to the same answers.

use super::{Stream, Trim, TrimStrategy};
use crate::id::StreamId;

/// A reference policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefPolicy {
    /// Delete entries, keep PEL entries pointing at them.
    #[default]
    KeepRef,
    /// Delete entries and every PEL entry pointing at them.
    DelRef,
    /// Delete only entries every group has been delivered and acknowledged.
    Acked,
}

impl RefPolicy {
    /// The policy a word names (case-insensitive).
    pub fn parse(word: &[u8]) -> Option<RefPolicy> {
        if word.eq_ignore_ascii_case(b"keepref") {
            Some(RefPolicy::KeepRef)
        } else if word.eq_ignore_ascii_case(b"delref") {
            Some(RefPolicy::DelRef)
        } else if word.eq_ignore_ascii_case(b"acked") {
            Some(RefPolicy::Acked)
        } else {
            None
        }
    }

    /// Its name as a command argument.
    pub fn name(self) -> &'static str {
        match self {
            RefPolicy::KeepRef => "KEEPREF",
            RefPolicy::DelRef => "DELREF",
            RefPolicy::Acked => "ACKED",
        }
    }
}

/// What a trim did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimOutcome {
    /// Entries removed.
    pub removed: u64,
    /// The highest ID removed (with DELREF or ACKED, trims remove entries one by one and may
    /// skip some; a replay trims up to just after it).
    pub last_removed: Option<StreamId>,
}

impl Stream {
    /// Whether some group still needs entry `id` (see the module's comment). The entry
    /// itself need not exist: a PEL may still point at a deleted one.
    pub fn is_referenced(&self, id: StreamId) -> bool {
        self.groups
            .values()
            .any(|g| g.last_id < id || g.pel.contains_key(&id))
    }

    /// Removes `id` from every group's and consumer's PEL. Whether any held it.
    pub fn drop_references(&mut self, id: StreamId) -> bool {
        let mut dropped = false;
        for group in self.groups.values_mut() {
            dropped |= group.ack(id);
        }
        dropped
    }

    /// Deletes entry `id` under `policy` as XDELEX does: Redis's reply code for it (1
    /// deleted, -1 not there, 2 kept because still referenced) and whether PEL entries were
    /// dropped (DELREF).
    pub fn delete_with(&mut self, id: StreamId, policy: RefPolicy) -> (i64, bool) {
        let dropped = policy == RefPolicy::DelRef && self.drop_references(id);
        if policy == RefPolicy::Acked && self.is_referenced(id) {
            return (2, dropped);
        }
        let code = if self.delete_recorded(id) { 1 } else { -1 };
        (code, dropped)
    }

    /// Trims from the head under `policy`. KEEPREF trims as Redis always has (whole nodes,
    /// then a prefix of the next one when exact). DELREF and ACKED go entry by entry from the
    /// oldest: DELREF drops each entry's PEL entries with it, ACKED skips entries still
    /// referenced and goes on to later ones, so the stream may keep more than asked. A node
    /// that could go whole lets the walk continue to the next; the first that could not ends
    /// it once its own entries are done. `~` bounds the work by LIMIT, node by node, as
    /// Redis 8.6 does (8.2 and 8.4 trimmed nothing with `~` under these policies).
    pub fn trim_with(&mut self, trim: Trim, policy: RefPolicy) -> TrimOutcome {
        if policy == RefPolicy::KeepRef {
            let removed = self.trim(trim);
            return TrimOutcome {
                removed,
                last_removed: None,
            };
        }
        let mut outcome = TrimOutcome::default();
        let mut from = StreamId::MIN;
        loop {
            if let TrimStrategy::MaxLen(max) = trim.strategy {
                if self.length <= max {
                    break;
                }
            }
            let Some((_, node)) = self.nodes.range(from..).next() else {
                break;
            };
            let (live, node_last) = (node.live(), node.last_id());
            if trim.limit > 0 && outcome.removed + live > trim.limit {
                break;
            }
            let whole = match trim.strategy {
                TrimStrategy::MaxLen(max) => self.length - live >= max,
                TrimStrategy::MinId(min) => node_last < min,
            };
            let ids: Vec<StreamId> = self.range(from, node_last, false).map(|e| e.id).collect();
            for id in ids {
                let reached = match trim.strategy {
                    TrimStrategy::MaxLen(max) => self.length <= max,
                    TrimStrategy::MinId(min) => id >= min,
                };
                if reached {
                    break;
                }
                let goes = match policy {
                    RefPolicy::DelRef => {
                        self.drop_references(id);
                        true
                    }
                    _ => !self.is_referenced(id),
                };
                if goes && self.delete(id) {
                    outcome.removed += 1;
                    outcome.last_removed = Some(id);
                }
            }
            match node_last.successor() {
                Some(next) if whole => from = next,
                _ => break,
            }
        }
        if outcome.removed > 0 {
            self.refresh_first_id();
        }
        outcome
    }
}
