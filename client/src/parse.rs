//! Reading replies: the one place that turns [`Reply`] values (from either backend) into the
//! crate's types, so the embedded and remote paths cannot drift apart.

use bytes::Bytes;
use rill_engine::{EntryList, Reply, StreamId};

use crate::codec::Fields;
use crate::error::{Error, Result};

/// An entry as stored: its ID and fields; `None` fields for an entry deleted while pending.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEntry {
    /// The entry's ID, known even when its fields are gone.
    pub id: StreamId,
    /// Field/value pairs in the order they were written; `None` when the entry was deleted (XDEL or
    /// trimming) while still pending, which Redis answers with a nil in its place.
    pub fields: Option<Fields>,
}

/// Whether the reply is a null of either kind.
pub(crate) fn is_nil(reply: &Reply) -> bool {
    matches!(reply, Reply::Null | Reply::NullArray)
}

pub(crate) fn bytes(reply: &Reply) -> Result<Bytes> {
    match reply {
        Reply::Bulk(b) | Reply::Verbatim(b) => Ok(b.clone()),
        Reply::Simple(s) => Ok(Bytes::from(s.clone())),
        Reply::Id(id) => Ok(id.to_bytes()),
        other => Err(Error::unexpected("expected a string", other)),
    }
}

pub(crate) fn text(reply: &Reply) -> Result<String> {
    let b = bytes(reply)?;
    String::from_utf8(b.to_vec()).map_err(|_| Error::unexpected("expected UTF-8 text", reply))
}

pub(crate) fn integer(reply: &Reply) -> Result<i64> {
    match reply {
        Reply::Integer(n) => Ok(*n),
        Reply::Bulk(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::unexpected("expected an integer", reply)),
        other => Err(Error::unexpected("expected an integer", other)),
    }
}

/// An integer that may be null (XINFO's lag and entries-read).
pub(crate) fn opt_integer(reply: &Reply) -> Result<Option<i64>> {
    if is_nil(reply) {
        Ok(None)
    } else {
        integer(reply).map(Some)
    }
}

pub(crate) fn id(reply: &Reply) -> Result<StreamId> {
    // Read in place: a clone of the reply's bytes can cost an allocation.
    let text: &[u8] = match reply {
        Reply::Id(id) => return Ok(*id),
        Reply::Bulk(b) | Reply::Verbatim(b) => b,
        Reply::Simple(s) => s.as_bytes(),
        other => return Err(Error::unexpected("expected a stream ID", other)),
    };
    StreamId::from_text(text).ok_or_else(|| Error::unexpected("expected a stream ID", reply))
}

/// Parses `ms-seq`.
pub fn parse_id(text: &str) -> Option<StreamId> {
    StreamId::from_text(text.as_bytes())
}

pub(crate) fn array(reply: &Reply) -> Result<&[Reply]> {
    match reply {
        Reply::Array(items) | Reply::Set(items) => Ok(items),
        other => Err(Error::unexpected("expected an array", other)),
    }
}

/// Key/value pairs from a RESP3 map or a RESP2 flat array.
pub(crate) fn pairs(reply: &Reply) -> Result<Vec<(String, &Reply)>> {
    match reply {
        Reply::Map(m) => m.iter().map(|(k, v)| Ok((text(k)?, v))).collect(),
        Reply::Array(items) => items
            .chunks(2)
            .map(|kv| match kv {
                [k, v] => Ok((text(k)?, v)),
                _ => Err(Error::unexpected("expected key/value pairs", reply)),
            })
            .collect(),
        other => Err(Error::unexpected("expected a map", other)),
    }
}

/// The value of `name` in a map-like reply.
pub(crate) fn field<'a>(pairs: &[(String, &'a Reply)], name: &str) -> Result<&'a Reply> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| Error::UnexpectedReply(format!("no '{name}' field")))
}

/// One `[id, [field, value, ...]]` entry (the body may be null for a deleted pending entry).
pub(crate) fn entry(reply: &Reply) -> Result<RawEntry> {
    let parts = array(reply)?;
    let [id_reply, body] = parts else {
        return Err(Error::unexpected("expected [id, fields]", reply));
    };
    entry_of(id_reply, body)
}

/// An entry from its ID and its flat field/value array (nil when deleted).
fn entry_of(id_reply: &Reply, body: &Reply) -> Result<RawEntry> {
    let id = id(id_reply)?;
    if is_nil(body) {
        return Ok(RawEntry { id, fields: None });
    }
    let flat = array(body)?;
    let mut fields = Vec::with_capacity(flat.len() / 2);
    for kv in flat.chunks(2) {
        if let [k, v] = kv {
            fields.push((bytes(k)?, bytes(v)?));
        }
    }
    Ok(RawEntry {
        id,
        fields: Some(fields),
    })
}

/// The entries of a group read of one or more streams, in order.
pub(crate) fn group_entries(reply: &Reply) -> Result<Vec<RawEntry>> {
    Ok(streams(reply)?
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .collect())
}

/// An entry of a claiming read: `[id, fields, idle-ms, deliveries-before]`.
pub(crate) fn claimed_entry(reply: &Reply) -> Result<(RawEntry, u64, u64)> {
    let parts = array(reply)?;
    let [id_reply, body, idle, count] = parts else {
        return Err(Error::unexpected(
            "expected [id, fields, idle, count]",
            reply,
        ));
    };
    let raw = entry_of(id_reply, body)?;
    Ok((raw, integer(idle)? as u64, integer(count)? as u64))
}

/// An XREADGROUP ... CLAIM reply: per stream key, entries with their claim metadata.
pub(crate) fn claimed_streams(reply: &Reply) -> Result<Vec<(RawEntry, u64, u64)>> {
    let per_stream: Vec<&Reply> = match reply {
        Reply::Null | Reply::NullArray => return Ok(Vec::new()),
        Reply::Map(m) => m.iter().map(|(_, v)| v).collect(),
        Reply::Array(items) => items
            .iter()
            .map(|pair| match array(pair)? {
                [_, v] => Ok(v),
                _ => Err(Error::unexpected("expected [key, entries]", pair)),
            })
            .collect::<Result<_>>()?,
        other => return Err(Error::unexpected("expected streams", other)),
    };
    let mut out = Vec::new();
    for entries in per_stream {
        if let Reply::Entries(list) = entries {
            for (raw, claim) in listed(list) {
                let (idle, count) = claim.unwrap_or_default();
                out.push((raw, idle as u64, count as u64));
            }
            continue;
        }
        if is_nil(entries) {
            continue;
        }
        for e in array(entries)? {
            out.push(claimed_entry(e)?);
        }
    }
    Ok(out)
}

/// Per-ID codes of XDELEX / XACKDEL.
pub(crate) fn delete_outcomes(reply: &Reply) -> Result<Vec<crate::DeleteOutcome>> {
    array(reply)?
        .iter()
        .map(|code| match integer(code)? {
            1 => Ok(crate::DeleteOutcome::Deleted),
            2 => Ok(crate::DeleteOutcome::StillReferenced),
            _ => Ok(crate::DeleteOutcome::NotFound),
        })
        .collect()
}

/// A list of entries (XRANGE, XCLAIM, ...); null counts as empty.
pub(crate) fn entries(reply: &Reply) -> Result<Vec<RawEntry>> {
    match reply {
        Reply::Entries(list) => Ok(listed(list).map(|(raw, _)| raw).collect()),
        _ if is_nil(reply) => Ok(Vec::new()),
        _ => array(reply)?.iter().map(entry).collect(),
    }
}

/// The entries of the embedded engine's flat list, with their claim data when a claiming
/// read sent some: its bytes copied once, every field and value a slice of that copy.
fn listed(list: &EntryList) -> impl Iterator<Item = (RawEntry, Option<(i64, i64)>)> + '_ {
    let data = Bytes::copy_from_slice(list.data());
    list.iter().map(move |entry| {
        let fields = entry.fields.map(|fields| {
            fields
                .ranges()
                .map(|(f, v)| (data.slice(f), data.slice(v)))
                .collect()
        });
        (
            RawEntry {
                id: entry.id,
                fields,
            },
            entry.claim,
        )
    })
}

/// An XREAD / XREADGROUP reply: entries per stream key; null means nothing came.
pub(crate) fn streams(reply: &Reply) -> Result<Vec<(String, Vec<RawEntry>)>> {
    match reply {
        Reply::Null | Reply::NullArray => Ok(Vec::new()),
        Reply::Map(m) => m.iter().map(|(k, v)| Ok((text(k)?, entries(v)?))).collect(),
        Reply::Array(items) => items
            .iter()
            .map(|pair| match array(pair)? {
                [k, v] => Ok((text(k)?, entries(v)?)),
                _ => Err(Error::unexpected("expected [key, entries]", pair)),
            })
            .collect(),
        other => Err(Error::unexpected("expected streams", other)),
    }
}
