//! What a group read hands back: the entries that decoded, and apart from them the ones the
//! codec could not decode. By the time the reply arrives the server has already moved every
//! entry into the group's pending list, so one bad entry must not hide the others: each is
//! reported on its own, by ID, with its stored fields, to be dead-lettered or acknowledged.

use std::ops::Deref;

use rill_engine::StreamId;

use crate::codec::Fields;
use crate::error::Error;
use crate::types::Entry;

/// An entry delivered through a consumer group that the stream's codec could not decode. It
/// is pending for the group like the others of its read: acknowledge it, dead-letter it
/// ([`crate::Stream::dead_letter`]), or leave it for a reclaim.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecodable {
    /// The entry's ID.
    pub id: StreamId,
    /// Its fields as stored (empty when the entry was deleted while pending).
    pub fields: Fields,
    /// How many times the server has delivered it, when the read told (`None` after XCLAIM
    /// and XAUTOCLAIM, whose replies do not carry it).
    pub deliveries: Option<u64>,
    /// Why it could not be decoded: an [`Error::Codec`] naming the entry.
    pub error: Error,
}

/// The entries one group read delivered, in the order the server sent them, and those of
/// them that could not be decoded. Derefs to the decoded ones, so `batch.len()`, `batch[0]`
/// and `for entry in batch` see them; the undecodable ones are still pending and wait in
/// [`Batch::undecodable`].
#[derive(Debug, Clone, PartialEq)]
#[must_use = "undecodable entries stay pending until they are acknowledged or dead-lettered"]
pub struct Batch<E> {
    /// The decoded entries.
    pub entries: Vec<E>,
    /// The entries the codec could not decode.
    pub undecodable: Vec<Undecodable>,
}

impl<E> Default for Batch<E> {
    fn default() -> Self {
        Batch {
            entries: Vec::new(),
            undecodable: Vec::new(),
        }
    }
}

impl<E> Batch<E> {
    /// The decoded entries and the undecodable ones, apart.
    pub fn into_parts(self) -> (Vec<E>, Vec<Undecodable>) {
        (self.entries, self.undecodable)
    }

    /// Whether the read delivered nothing at all (decodable or not).
    pub fn is_empty_read(&self) -> bool {
        self.entries.is_empty() && self.undecodable.is_empty()
    }

    /// The decoded entries, or the first undecodable entry's error: for callers that treat
    /// any bad entry as a failure of the whole read (the others stay pending all the same).
    pub fn into_decoded(self) -> crate::Result<Vec<E>> {
        match self.undecodable.into_iter().next() {
            Some(bad) => Err(bad.error),
            None => Ok(self.entries),
        }
    }

    pub(crate) fn push(&mut self, decoded: Result<E, Undecodable>) {
        match decoded {
            Ok(entry) => self.entries.push(entry),
            Err(bad) => self.undecodable.push(bad),
        }
    }
}

impl<T> Batch<Entry<T>> {
    /// Every delivered ID, decoded or not, in order: what acknowledging the whole read takes.
    pub fn ids(&self) -> Vec<StreamId> {
        let mut ids: Vec<StreamId> = self.entries.iter().map(|e| e.id).collect();
        ids.extend(self.undecodable.iter().map(|u| u.id));
        ids.sort_unstable();
        ids
    }
}

impl<E> Deref for Batch<E> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        &self.entries
    }
}

impl<E> IntoIterator for Batch<E> {
    type Item = E;
    type IntoIter = std::vec::IntoIter<E>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, E> IntoIterator for &'a Batch<E> {
    type Item = &'a E;
    type IntoIter = std::slice::Iter<'a, E>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<E> FromIterator<Result<E, Undecodable>> for Batch<E> {
    fn from_iter<I: IntoIterator<Item = Result<E, Undecodable>>>(iter: I) -> Self {
        let mut batch = Batch::default();
        for decoded in iter {
            batch.push(decoded);
        }
        batch
    }
}
