//! Sets, in Redis's three encodings (7.2 on): an intset (sorted integers, up to
//! `set-max-intset-entries`), a listpack (members in insertion order, up to
//! `set-max-listpack-entries` members of at most `set-max-listpack-value` bytes), and a
//! table (ordered by a stable hash, so SSCAN keeps Redis's guarantee). A set only ever moves
//! to a larger encoding, as in Redis; member order in replies follows the encoding, as
//! Redis's does.

use bytes::Bytes;

use crate::bucketed::Bucketed;
use crate::intset::IntSet;
use crate::packed::Packed;

/// When a set changes encoding (`set-max-intset-entries`, `set-max-listpack-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetLimits {
    /// Integers an intset may hold.
    pub intset_entries: u64,
    /// Members a listpack may hold.
    pub listpack_entries: u64,
    /// Longest member a listpack may hold, in bytes.
    pub listpack_value: u64,
}

impl Default for SetLimits {
    fn default() -> Self {
        SetLimits {
            intset_entries: 512,
            listpack_entries: 128,
            listpack_value: 64,
        }
    }
}

/// A set value.
#[derive(Debug, Clone)]
pub enum Set {
    /// `intset`: sorted integers.
    Ints(IntSet),
    /// `listpack`: members in insertion order, packed.
    Small(Packed),
    /// `hashtable`: members bucketed by their scan hash (boxed, so that a small set stays
    /// small inside its key's slot).
    Table(Box<Bucketed<1>>),
}

/// An intset's members as a listpack's, in the same order.
fn packed_ints(ints: &IntSet) -> Packed {
    let mut p = Packed::default();
    for n in ints.iter() {
        p.push(n.to_string().as_bytes());
    }
    p
}

/// A member as an intset integer: canonical decimal text of an i64.
fn as_int(member: &[u8]) -> Option<i64> {
    crate::args::parse_i64_strict(member).filter(|n| n.to_string().as_bytes() == member)
}

impl Set {
    /// An empty set shaped for its first member (Redis's `setTypeCreate`): an intset for an
    /// integer, a listpack for a short member, a table otherwise. `expected` is how many
    /// members the command is adding.
    pub fn for_first(member: &[u8], expected: usize, limits: SetLimits) -> Set {
        if as_int(member).is_some() && expected as u64 <= limits.intset_entries {
            Set::Ints(IntSet::default())
        } else if expected as u64 <= limits.listpack_entries
            && member.len() as u64 <= limits.listpack_value
        {
            Set::Small(Packed::default())
        } else {
            Set::Table(Box::default())
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Small(v) => v.len(),
            Set::Table(t) => t.len(),
        }
    }

    /// No members (such a set is deleted by the command that emptied it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Small(_) => "listpack",
            Set::Table(_) => "hashtable",
        }
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => as_int(member).is_some_and(|n| v.contains(n)),
            Set::Small(v) => v.iter().any(|m| m == member),
            Set::Table(t) => t.get(member).is_some(),
        }
    }

    /// Adds `member`; true when it is new.
    pub fn add(&mut self, member: &[u8], limits: SetLimits) -> bool {
        if self.contains(member) {
            return false;
        }
        if let Set::Ints(v) = self {
            match as_int(member) {
                Some(n) if (v.len() as u64) < limits.intset_entries => {
                    v.insert(n);
                    return true;
                }
                Some(_) => {
                    // Past the intset limit: a listpack when that holds it, else a table.
                    if (v.len() as u64) < limits.listpack_entries {
                        *self = Set::Small(packed_ints(v));
                    } else {
                        self.become_table();
                    }
                }
                None => {
                    // Redis moves an intset that takes a string to a listpack when it fits.
                    let fits = (v.len() as u64) < limits.listpack_entries
                        && member.len() as u64 <= limits.listpack_value
                        && v.iter()
                            .all(|n| n.to_string().len() as u64 <= limits.listpack_value);
                    if fits {
                        *self = Set::Small(packed_ints(v));
                    } else {
                        self.become_table();
                    }
                }
            }
        }
        if let Set::Small(v) = self {
            if (v.len() as u64) < limits.listpack_entries
                && member.len() as u64 <= limits.listpack_value
            {
                v.push(member);
                return true;
            }
            self.become_table();
        }
        if let Set::Table(t) = self {
            t.insert([member]);
        }
        true
    }

    fn become_table(&mut self) {
        let mut table = Bucketed::default();
        for m in self.members() {
            table.insert([&m]);
        }
        *self = Set::Table(Box::new(table));
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => as_int(member).is_some_and(|n| v.remove(n)),
            Set::Small(v) => match v.iter().position(|m| m == member) {
                Some(i) => {
                    v.remove(i, 1);
                    true
                }
                None => false,
            },
            Set::Table(t) => t.remove(member),
        }
    }

    /// Every member, in the encoding's order.
    pub fn members(&self) -> Box<dyn Iterator<Item = Bytes> + '_> {
        match self {
            Set::Ints(v) => Box::new(v.iter().map(|n| Bytes::from(n.to_string()))),
            Set::Small(v) => Box::new(v.iter().map(Bytes::copy_from_slice)),
            Set::Table(t) => Box::new(t.iter().map(|[m]| Bytes::copy_from_slice(m))),
        }
    }

    /// The member at position `i` of the encoding's order.
    pub fn nth(&self, i: usize) -> Option<Bytes> {
        match self {
            Set::Ints(v) => v.get(i).map(|n| Bytes::from(n.to_string())),
            Set::Small(v) => v.iter().nth(i).map(Bytes::copy_from_slice),
            Set::Table(t) => t.iter().nth(i).map(|[m]| Bytes::copy_from_slice(m)),
        }
    }

    /// A member near the random point `seed` (O(log n) for a table).
    pub fn random_member(&self, seed: u64) -> Option<Bytes> {
        match self {
            Set::Table(t) => t.random(seed).map(|[m]| Bytes::copy_from_slice(m)),
            other => {
                let n = other.len();
                (n > 0)
                    .then(|| other.nth((seed % n as u64) as usize))
                    .flatten()
            }
        }
    }

    /// SSCAN: from `cursor`, at least `count` members (small encodings answer whole).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        match self {
            Set::Table(t) => {
                let (next, groups) = t.scan(cursor, count);
                let out = groups
                    .into_iter()
                    .map(|[m]| Bytes::copy_from_slice(m))
                    .collect();
                (next, out)
            }
            other => (0, other.members().collect()),
        }
    }

    /// A set holding `members` (deduplicated), encoded as Redis would after adding them.
    pub fn from_members(members: impl IntoIterator<Item = Bytes>, limits: SetLimits) -> Set {
        let mut set: Option<Set> = None;
        for m in members {
            let s = set.get_or_insert_with(|| Set::for_first(&m, 1, limits));
            s.add(&m, limits);
        }
        set.unwrap_or(Set::Ints(IntSet::default()))
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(v) => v.heap_bytes(),
            Set::Small(v) => v.heap_bytes(),
            Set::Table(t) => t.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_grow_as_redis_s_do() {
        let limits = SetLimits {
            intset_entries: 3,
            listpack_entries: 4,
            listpack_value: 8,
        };
        let mut s = Set::for_first(b"3", 1, limits);
        for m in ["3", "1", "2"] {
            assert!(s.add(m.as_bytes(), limits));
        }
        assert_eq!(s.encoding(), "intset");
        let order: Vec<Bytes> = s.members().collect();
        assert_eq!(order, ["1", "2", "3"]);
        assert!(s.add(b"x", limits));
        assert_eq!(s.encoding(), "listpack");
        assert!(!s.add(b"x", limits));
        assert!(s.add(b"much-too-long", limits));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"x"));
        assert_eq!(s.len(), 4);
        assert!(s.contains(b"2") && !s.contains(b"x"));
    }
}
