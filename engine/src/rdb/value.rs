//! Values in RDB form, as Redis's `rdbSaveObject` / `rdbLoadObject` write and read them:
//! strings, and streams in every encoding Redis has used (listpacks v1 from Redis 5, v2 from
//! 7.0 with the lag counters, v3 from 7.2 with consumers' active time).
//!
//! A stream is a run of nodes, each a 16-byte master ID (big-endian milliseconds and
//! sequence) and a listpack: the master entry (live count, deleted count, the master field
//! names, a 0), then per entry its flags, ID deltas from the master, its fields (or only
//! values when its field names are the master's), and its element count. Then the stream's
//! counters, and its consumer groups with their PELs and consumers.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::encoding::{write_length, write_millis, write_string, BadFormat, Reader};
use super::listpack::{self, Element, Text};
use crate::group::{ConsumerGroup, LoadError, PendingEntry};
use crate::hash::{Hash, HashLimits};
use crate::keyspace::Value;
use crate::list::{List, ListLimit};
use crate::set::{Set, SetLimits};
use crate::stream::idmp::{self, Idmp};
use crate::stream::{NodeLimits, Stream};
use crate::string_value::Str;
use crate::zset::{ZSet, ZSetLimits};
use crate::StreamId;

/// `RDB_TYPE_STRING`.
pub const TYPE_STRING: u8 = 0;
/// `RDB_TYPE_LIST`: a count, then the elements (what Rill writes for Redis 6.2).
pub const TYPE_LIST: u8 = 1;
/// `RDB_TYPE_LIST_QUICKLIST_2` (Redis 7.0 on): a count of nodes, each a container kind (1:
/// one plain element, 2: a listpack) and its bytes.
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
/// Elements per listpack node Rill writes.
const LIST_NODE_ITEMS: usize = 128;
/// `RDB_TYPE_LIST_ZIPLIST` (Redis 2.6 to 3.0): one ziplist. Only read.
pub const TYPE_LIST_ZIPLIST: u8 = 10;
/// `RDB_TYPE_LIST_QUICKLIST` (Redis 3.2 to 6.2): a count of ziplists. Only read.
pub const TYPE_LIST_QUICKLIST: u8 = 14;
/// `RDB_TYPE_ZSET_ZIPLIST` (to Redis 6.2): one ziplist of member, score... Only read.
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
/// `RDB_TYPE_HASH_ZIPLIST` (to Redis 6.2): one ziplist of field, value... Only read.
pub const TYPE_HASH_ZIPLIST: u8 = 13;
/// `RDB_TYPE_SET`: a count, then the members.
pub const TYPE_SET: u8 = 2;
/// `RDB_TYPE_SET_INTSET`: one string holding an intset (width, count, sorted integers).
pub const TYPE_SET_INTSET: u8 = 11;
/// `RDB_TYPE_SET_LISTPACK` (Redis 7.2 on, RDB 11): one string holding a listpack of members.
pub const TYPE_SET_LISTPACK: u8 = 20;
/// `RDB_TYPE_ZSET`: a count, then members and scores as text (one length byte; 253, 254
/// and 255 stand for NaN, inf and -inf). Only read: Redis stopped writing it in 2.8.
pub const TYPE_ZSET: u8 = 3;
/// `RDB_TYPE_ZSET_2`: a count, then members and scores as little-endian binary doubles.
pub const TYPE_ZSET_2: u8 = 5;
/// `RDB_TYPE_ZSET_LISTPACK` (Redis 7.0 on): one string holding a listpack of member, score...
pub const TYPE_ZSET_LISTPACK: u8 = 17;
/// `RDB_TYPE_HASH`: a count, then field and value strings (Redis's hashtable encoding).
pub const TYPE_HASH: u8 = 4;
/// `RDB_TYPE_HASH_LISTPACK` (Redis 7.0 on): one string holding a listpack of field, value...
pub const TYPE_HASH_LISTPACK: u8 = 16;
/// `RDB_TYPE_HASH_METADATA_PRE_GA` (Redis 7.4 release candidates): a count, then per field its
/// absolute expiry (0: none), the field and the value. Only read.
pub const TYPE_HASH_TTL_PRE_GA: u8 = 22;
/// `RDB_TYPE_HASH_LISTPACK_EX_PRE_GA`: a listpack of field, value, expiry triplets. Only read.
pub const TYPE_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
/// `RDB_TYPE_HASH_METADATA` (Redis 7.4, RDB 12): the soonest expiry (8 bytes), a count, then
/// per field its expiry relative to the soonest plus one (0: none), the field and the value.
pub const TYPE_HASH_TTL: u8 = 24;
/// `RDB_TYPE_HASH_LISTPACK_EX` (Redis 7.4, RDB 12): 8 bytes Redis's loader ignores, then a
/// listpack of field, value, absolute expiry (0: none), soonest first.
pub const TYPE_HASH_LISTPACK_EX: u8 = 25;
/// `RDB_TYPE_STREAM_LISTPACKS` (Redis 5 to 6.2).
pub const TYPE_STREAM_V1: u8 = 15;
/// `RDB_TYPE_STREAM_LISTPACKS_2` (Redis 7.0): first ID, max deleted ID, entries added,
/// entries read.
pub const TYPE_STREAM_V2: u8 = 19;
/// `RDB_TYPE_STREAM_LISTPACKS_3` (Redis 7.2 on): consumers' active time.
pub const TYPE_STREAM_V3: u8 = 21;
/// `RDB_TYPE_STREAM_LISTPACKS_4` (Redis 8.6, RDB 13): idempotency settings, producers and
/// counters after the groups.
pub const TYPE_STREAM_V4: u8 = 26;
/// `RDB_TYPE_STREAM_LISTPACKS_5` (Redis 8.8, RDB 14): each group's NACK zone after its
/// consumers (its entries are in the group PEL with no owner).
pub const TYPE_STREAM_V5: u8 = 27;

const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;

/// Entries per node when writing (Redis's default `stream-node-max-entries`).
const NODE_ENTRIES: usize = 100;

/// The RDB type a value is written as for an RDB `version` (streams: the newest encoding that
/// version reads).
pub fn type_for(value: &Value, version: u16) -> u8 {
    match value {
        Value::Str(_) => TYPE_STRING,
        // Redis 6.2 (RDB 9) wrote small hashes as ziplists, which Rill does not write.
        Value::Hash(h) if h.encoding() == "listpackex" && version >= 12 => TYPE_HASH_LISTPACK_EX,
        Value::Hash(h) if h.has_ttls() && version >= 12 => TYPE_HASH_TTL,
        Value::Hash(h) if h.is_small() && version >= 10 => TYPE_HASH_LISTPACK,
        Value::Hash(_) => TYPE_HASH,
        Value::List(_) if version >= 10 => TYPE_LIST_QUICKLIST_2,
        Value::List(_) => TYPE_LIST,
        Value::Set(set) => match *set {
            Set::Ints(_) => TYPE_SET_INTSET,
            Set::Small(_) if version >= 11 => TYPE_SET_LISTPACK,
            _ => TYPE_SET,
        },
        // Redis 6.2 wrote small sorted sets as ziplists, which Rill does not write.
        Value::ZSet(z) if z.encoding() == "listpack" && version >= 10 => TYPE_ZSET_LISTPACK,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Stream(_) if version >= 14 => TYPE_STREAM_V5,
        Value::Stream(_) if version >= 13 => TYPE_STREAM_V4,
        Value::Stream(_) if version >= 11 => TYPE_STREAM_V3,
        Value::Stream(_) if version >= 10 => TYPE_STREAM_V2,
        Value::Stream(_) => TYPE_STREAM_V1,
    }
}

/// Bytes a writer lets build up before it hands them to its [`Spill`].
pub const SPILL_BYTES: usize = 64 * 1024;

/// Empties a writer's buffer into a file now and then, so a large stream is never held
/// twice in memory (a no-op for payloads built in memory).
pub type Spill<'a> = dyn FnMut(&mut Vec<u8>) -> std::io::Result<()> + 'a;

/// Appends `value` in the encoding `kind` (from [`type_for`]).
pub fn write(
    out: &mut Vec<u8>,
    value: &Value,
    kind: u8,
    compress: bool,
    spill: &mut Spill<'_>,
) -> std::io::Result<()> {
    match value {
        Value::Str(s) => {
            write_string(out, s.as_bytes(), compress);
            Ok(())
        }
        Value::Stream(stream) => write_stream(out, stream, kind, compress, spill),
        Value::Hash(hash) => write_hash(out, hash, kind, compress, spill),
        Value::List(list) => write_list(out, list, kind, compress, spill),
        Value::Set(set) => write_set(out, set, kind, compress, spill),
        Value::ZSet(z) => write_zset(out, z, kind, compress, spill),
    }
}

/// A sorted set as a listpack of member, score... or as counted members with binary scores
/// (highest first, as Redis writes its skiplist).
fn write_zset(
    out: &mut Vec<u8>,
    z: &ZSet,
    kind: u8,
    compress: bool,
    spill: &mut Spill<'_>,
) -> std::io::Result<()> {
    if kind == TYPE_ZSET_LISTPACK {
        let mut lp = listpack::Builder::new();
        for (score, member) in z.iter() {
            append_listpack_item(&mut lp, &member);
            append_listpack_item(&mut lp, crate::score::format(score).as_bytes());
        }
        write_string(out, &lp.finish(), compress);
        return Ok(());
    }
    write_length(out, z.len() as u64);
    let entries: Vec<crate::zset::Entry> = z.iter().collect();
    for (score, member) in entries.iter().rev() {
        write_string(out, member, compress);
        out.extend_from_slice(&score.to_le_bytes());
        if out.len() >= SPILL_BYTES {
            spill(out)?;
        }
    }
    Ok(())
}

/// The elements of a value held in one packed string: a ziplist for the types of Redis 6.2
/// and older, a listpack for the newer ones.
fn packed_elements(kind: u8, blob: &[u8]) -> Result<Vec<listpack::Element<'_>>, BadFormat> {
    if matches!(
        kind,
        TYPE_HASH_ZIPLIST | TYPE_ZSET_ZIPLIST | TYPE_LIST_ZIPLIST
    ) {
        super::ziplist::elements(blob)
    } else {
        listpack::elements(blob)
    }
}

/// A score of the old text form ([`TYPE_ZSET`]).
fn read_text_score(r: &mut Reader<'_>) -> Result<f64, BadFormat> {
    match r.u8()? {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        n => {
            let text = r.bytes(usize::from(n))?;
            crate::score::parse_lax(text).ok_or(BadFormat("bad sorted set score"))
        }
    }
}

/// A sorted set of any of the three layouts; a member twice, a NaN score, or no member at
/// all is damage (Redis refuses all three).
fn read_zset(r: &mut Reader<'_>, kind: u8, limits: ZSetLimits) -> Result<ZSet, BadFormat> {
    let mut entries: Vec<(f64, Bytes)> = Vec::new();
    if kind == TYPE_ZSET_LISTPACK || kind == TYPE_ZSET_ZIPLIST {
        let lp = r.string()?;
        let elements = packed_elements(kind, &lp)?;
        if !elements.len().is_multiple_of(2) {
            return Err(BadFormat("sorted set listpack with an odd element count"));
        }
        for pair in elements.chunks_exact(2) {
            let member = Bytes::copy_from_slice(pair[0].text().as_slice());
            let score = crate::score::parse_lax(pair[1].text().as_slice())
                .ok_or(BadFormat("bad sorted set score"))?;
            entries.push((score, member));
        }
    } else {
        let n = r.count(2)?;
        for _ in 0..n {
            let member = Bytes::from(r.string()?);
            let score = if kind == TYPE_ZSET_2 {
                let b = r.bytes(8)?;
                let mut raw = [0u8; 8];
                raw.copy_from_slice(b);
                f64::from_le_bytes(raw)
            } else {
                read_text_score(r)?
            };
            entries.push((score, member));
        }
    }
    if entries.is_empty() {
        return Err(BadFormat("empty sorted set"));
    }
    if entries.iter().any(|e| e.0.is_nan()) {
        return Err(BadFormat("sorted set with a NaN score"));
    }
    let distinct: std::collections::HashSet<&Bytes> = entries.iter().map(|e| &e.1).collect();
    if distinct.len() != entries.len() {
        return Err(BadFormat("duplicate sorted set member"));
    }
    Ok(ZSet::from_entries(entries, limits))
}

/// A set as an intset, a listpack or counted members (`kind` from [`type_for`]).
fn write_set(
    out: &mut Vec<u8>,
    set: &Set,
    kind: u8,
    compress: bool,
    spill: &mut Spill<'_>,
) -> std::io::Result<()> {
    match (kind, set) {
        (TYPE_SET_INTSET, Set::Ints(ints)) => {
            let width = ints.redis_width() as u32;
            let mut blob = Vec::with_capacity(8 + ints.len() * width as usize);
            blob.extend_from_slice(&width.to_le_bytes());
            blob.extend_from_slice(&(ints.len() as u32).to_le_bytes());
            for n in ints.iter() {
                blob.extend_from_slice(&n.to_le_bytes()[..width as usize]);
            }
            write_string(out, &blob, compress);
        }
        (TYPE_SET_LISTPACK, _) => {
            let mut lp = listpack::Builder::new();
            for m in set.members() {
                append_listpack_item(&mut lp, &m);
            }
            write_string(out, &lp.finish(), compress);
        }
        _ => {
            write_length(out, set.len() as u64);
            for m in set.members() {
                write_string(out, &m, compress);
                if out.len() >= SPILL_BYTES {
                    spill(out)?;
                }
            }
        }
    }
    Ok(())
}

/// A set of any of the three layouts; duplicates, disorder in an intset, or no member at
/// all are damage.
fn read_set(r: &mut Reader<'_>, kind: u8, limits: SetLimits) -> Result<Set, BadFormat> {
    let mut members: Vec<Bytes> = Vec::new();
    match kind {
        TYPE_SET_INTSET => {
            let blob = r.string()?;
            if blob.len() < 8 {
                return Err(BadFormat("intset too short"));
            }
            let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
            let count = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
            if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width * count {
                return Err(BadFormat("bad intset header"));
            }
            let mut previous: Option<i64> = None;
            for chunk in blob[8..].chunks_exact(width) {
                let n = match width {
                    2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
                    4 => i64::from(i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])),
                    _ => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(chunk);
                        i64::from_le_bytes(b)
                    }
                };
                if previous.is_some_and(|p| p >= n) {
                    return Err(BadFormat("intset out of order"));
                }
                previous = Some(n);
                members.push(Bytes::from(n.to_string()));
            }
        }
        TYPE_SET_LISTPACK => {
            let lp = r.string()?;
            for element in listpack::elements(&lp)? {
                members.push(Bytes::copy_from_slice(element.text().as_slice()));
            }
        }
        _ => {
            let n = r.count(1)?;
            for _ in 0..n {
                members.push(Bytes::from(r.string()?));
            }
        }
    }
    if members.is_empty() {
        return Err(BadFormat("empty set"));
    }
    let count = members.len();
    let set = Set::from_members(members, limits);
    if set.len() != count {
        return Err(BadFormat("duplicate set member"));
    }
    Ok(set)
}

/// A list as listpack nodes of up to 128 elements, or (for Redis 6.2) counted elements.
fn write_list(
    out: &mut Vec<u8>,
    list: &List,
    kind: u8,
    compress: bool,
    spill: &mut Spill<'_>,
) -> std::io::Result<()> {
    if kind == TYPE_LIST {
        write_length(out, list.len() as u64);
        for item in list.iter() {
            write_string(out, item, compress);
            if out.len() >= SPILL_BYTES {
                spill(out)?;
            }
        }
        return Ok(());
    }
    let items: Vec<&[u8]> = list.iter().collect();
    write_length(out, items.len().div_ceil(LIST_NODE_ITEMS) as u64);
    for node in items.chunks(LIST_NODE_ITEMS) {
        write_length(out, 2); // QUICKLIST_NODE_CONTAINER_PACKED
        let mut lp = listpack::Builder::new();
        for item in node {
            append_listpack_item(&mut lp, item);
        }
        write_string(out, &lp.finish(), compress);
        if out.len() >= SPILL_BYTES {
            spill(out)?;
        }
    }
    Ok(())
}

/// Appends `item` as Redis stores it in a listpack: canonical integers as integers.
fn append_listpack_item(lp: &mut listpack::Builder, item: &[u8]) {
    match crate::args::parse_i64_strict(item) {
        Some(n) if n.to_string().as_bytes() == item => lp.int(n),
        _ => lp.string(item),
    }
}

fn read_list(r: &mut Reader<'_>, kind: u8, limit: ListLimit) -> Result<List, BadFormat> {
    let mut items = Vec::new();
    if kind == TYPE_LIST {
        let n = r.count(1)?;
        for _ in 0..n {
            items.push(Bytes::from(r.string()?));
        }
    } else if kind == TYPE_LIST_ZIPLIST || kind == TYPE_LIST_QUICKLIST {
        let nodes = if kind == TYPE_LIST_ZIPLIST {
            1
        } else {
            r.count(2)?
        };
        for _ in 0..nodes {
            let zl = r.string()?;
            for element in super::ziplist::elements(&zl)? {
                items.push(Bytes::copy_from_slice(element.text().as_slice()));
            }
        }
    } else {
        let nodes = r.count(2)?;
        for _ in 0..nodes {
            match r.length()? {
                1 => items.push(Bytes::from(r.string()?)),
                2 => {
                    let lp = r.string()?;
                    for element in listpack::elements(&lp)? {
                        items.push(Bytes::copy_from_slice(element.text().as_slice()));
                    }
                }
                _ => return Err(BadFormat("unknown quicklist node container")),
            }
        }
    }
    if items.is_empty() {
        return Err(BadFormat("empty list"));
    }
    Ok(List::from_items(items, limit))
}

/// How loaded values are laid out in memory: the configuration's encoding limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout {
    /// Stream nodes (`stream-node-max-*`).
    pub nodes: NodeLimits,
    /// Listpack hashes (`hash-max-listpack-*`).
    pub hash: HashLimits,
    /// Lists (`list-max-listpack-size`).
    pub list: ListLimit,
    /// Sets (`set-max-*`).
    pub set: SetLimits,
    /// Sorted sets (`zset-max-listpack-*`).
    pub zset: ZSetLimits,
}

impl Layout {
    /// The limits `config` sets.
    pub fn from_config(config: &crate::Config) -> Layout {
        Layout {
            nodes: config.node_limits,
            hash: config.hash_limits(),
            list: config.list_limit(),
            set: config.set_limits(),
            zset: config.zset_limits(),
        }
    }
}

impl From<NodeLimits> for Layout {
    fn from(nodes: NodeLimits) -> Layout {
        Layout {
            nodes,
            ..Layout::default()
        }
    }
}

/// The latest field expiry Redis stores (`EB_EXPIRE_TIME_MAX`, 2^48-1 ms).
const MAX_FIELD_TTL: u64 = (1 << 48) - 1;

/// A hash as a listpack (`kind` [`TYPE_HASH_LISTPACK`]), a listpackex, or counted pairs (with
/// field expiry times for [`TYPE_HASH_TTL`]).
fn write_hash(
    out: &mut Vec<u8>,
    hash: &Hash,
    kind: u8,
    compress: bool,
    spill: &mut Spill<'_>,
) -> std::io::Result<()> {
    let soonest = hash.min_ttl().unwrap_or(0);
    if kind == TYPE_HASH_LISTPACK || kind == TYPE_HASH_LISTPACK_EX {
        let with_ttls = kind == TYPE_HASH_LISTPACK_EX;
        if with_ttls {
            super::encoding::write_millis(out, soonest);
        }
        let mut lp = listpack::Builder::new();
        for (field, value) in hash.pairs() {
            append_listpack_item(&mut lp, field);
            append_listpack_item(&mut lp, value);
            if with_ttls {
                lp.int(hash.ttl(field).map_or(0, |at| at as i64));
            }
        }
        write_string(out, &lp.finish(), compress);
        return Ok(());
    }
    let with_ttls = kind == TYPE_HASH_TTL;
    if with_ttls {
        super::encoding::write_millis(out, soonest);
    }
    write_length(out, hash.len() as u64);
    for (field, value) in hash.pairs() {
        if with_ttls {
            write_length(out, hash.ttl(field).map_or(0, |at| at - soonest + 1));
        }
        write_string(out, field, compress);
        write_string(out, value, compress);
        if out.len() >= SPILL_BYTES {
            spill(out)?;
        }
    }
    Ok(())
}

/// A hash of either layout; a field twice, or no field at all, is damage (Redis refuses both).
fn read_hash(r: &mut Reader<'_>, kind: u8, limits: HashLimits) -> Result<Hash, BadFormat> {
    let mut hash = Hash::default();
    // Fields with their expiry (0: none), checked against the largest time Redis stores.
    let add = |hash: &mut Hash, field: &[u8], value: &[u8], at: u64| {
        if hash.get(field).is_some() {
            return Err(BadFormat("duplicate hash field"));
        }
        if at > MAX_FIELD_TTL {
            return Err(BadFormat("hash field expiry out of range"));
        }
        hash.set(field, value, limits);
        if at > 0 {
            hash.set_ttl(field, at);
        }
        Ok(())
    };
    let expiring = matches!(
        kind,
        TYPE_HASH_TTL_PRE_GA | TYPE_HASH_LISTPACK_EX_PRE_GA | TYPE_HASH_TTL | TYPE_HASH_LISTPACK_EX
    );
    if expiring {
        hash.mark_expiring();
    }
    if matches!(kind, TYPE_HASH_LISTPACK_EX | TYPE_HASH_LISTPACK_EX_PRE_GA) {
        if kind == TYPE_HASH_LISTPACK_EX {
            r.millis()?;
        }
        let lp = r.string()?;
        let elements = listpack::elements(&lp)?;
        if !elements.len().is_multiple_of(3) {
            return Err(BadFormat("hash listpackex with a partial triplet"));
        }
        for t in elements.chunks_exact(3) {
            let at = u64::try_from(t[2].as_int()?)
                .map_err(|_| BadFormat("negative hash field expiry"))?;
            add(
                &mut hash,
                t[0].text().as_slice(),
                t[1].text().as_slice(),
                at,
            )?;
        }
    } else if matches!(kind, TYPE_HASH_TTL | TYPE_HASH_TTL_PRE_GA) {
        let soonest = if kind == TYPE_HASH_TTL {
            r.millis()?
        } else {
            0
        };
        if soonest > MAX_FIELD_TTL + 1 {
            return Err(BadFormat("hash minimum expiry out of range"));
        }
        let n = r.count(3)?;
        for _ in 0..n {
            let ttl = r.length()?;
            let field = r.string()?;
            let value = r.string()?;
            let at = match (kind, ttl) {
                (_, 0) => 0,
                (TYPE_HASH_TTL, t) => t
                    .checked_add(soonest)
                    .map(|v| v - 1)
                    .ok_or(BadFormat("hash field expiry out of range"))?,
                (_, t) => t,
            };
            add(&mut hash, &field, &value, at)?;
        }
    } else if kind == TYPE_HASH_LISTPACK || kind == TYPE_HASH_ZIPLIST {
        let lp = r.string()?;
        let elements = packed_elements(kind, &lp)?;
        if !elements.len().is_multiple_of(2) {
            return Err(BadFormat("hash listpack with an odd element count"));
        }
        for pair in elements.chunks_exact(2) {
            add(
                &mut hash,
                pair[0].text().as_slice(),
                pair[1].text().as_slice(),
                0,
            )?;
        }
    } else {
        let n = r.count(2)?;
        for _ in 0..n {
            let field = r.string()?;
            let value = r.string()?;
            add(&mut hash, &field, &value, 0)?;
        }
    }
    if hash.is_empty() {
        return Err(BadFormat("empty hash"));
    }
    Ok(hash)
}

/// The oldest RDB version that holds everything `value` carries beyond what Redis 7.4 has
/// (idempotency state needs 13, NACKed entries 14); [`super::COMMON_VERSION`] otherwise.
pub fn version_needed(value: &Value) -> u16 {
    match value {
        Value::Stream(s) if s.groups.values().any(|g| g.nacked_count() > 0) => 14,
        Value::Stream(s) if !s.idmp.is_pristine() => 13,
        _ => super::COMMON_VERSION,
    }
}

/// What writing values in an older RDB version left out, for the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Omitted {
    /// Streams that lost entries-added and max-deleted-id, and their groups entries-read.
    pub counters: usize,
    /// Consumers who lost their active time.
    pub active_times: usize,
    /// Streams that lost their idempotency settings, producers and counters.
    pub idmp: usize,
    /// NACKed entries (pending, owned by no one) left out.
    pub nacked: usize,
    /// Hashes whose fields' expiry times were left out (RDB versions before 12).
    pub field_ttls: usize,
}

impl Omitted {
    /// Adds what writing `value` in RDB `version` leaves out.
    pub fn add(&mut self, value: &Value, version: u16) {
        if let Value::Hash(h) = value {
            self.field_ttls += usize::from(h.has_ttls() && version < 12);
        }
        let Value::Stream(stream) = value else {
            return;
        };
        let kind = type_for(value, version);
        self.counters += usize::from(kind < TYPE_STREAM_V2);
        if kind < TYPE_STREAM_V3 {
            self.active_times += stream
                .groups
                .values()
                .map(|g| g.consumer_count())
                .sum::<usize>();
        }
        self.idmp += usize::from(kind < TYPE_STREAM_V4 && !stream.idmp.is_pristine());
        if kind < TYPE_STREAM_V5 {
            self.nacked += stream
                .groups
                .values()
                .map(|g| g.nacked_count())
                .sum::<usize>();
        }
    }

    /// Says in the log what was left out.
    pub fn log(&self, version: u16) {
        if self.counters > 0 {
            eprintln!(
                "RDB version {version} cannot hold streams' entries-added, max-deleted-id and groups' entries-read: left out for {} stream(s)",
                self.counters
            );
        }
        if self.active_times > 0 {
            eprintln!(
                "RDB version {version} cannot hold consumers' active time: left out for {} consumer(s)",
                self.active_times
            );
        }
        if self.nacked > 0 {
            eprintln!(
                "RDB version {version} cannot hold NACKed entries (pending, owned by no consumer): left out {} entries",
                self.nacked
            );
        }
        if self.field_ttls > 0 {
            eprintln!(
                "RDB version {version} cannot hold hash fields' expiry times: left out for {} hash(es)",
                self.field_ttls
            );
        }
        if self.idmp > 0 {
            eprintln!(
                "RDB version {version} cannot hold idempotent production state (IDMP settings, producers, counters): left out for {} stream(s)",
                self.idmp
            );
        }
    }
}

/// Whether Rill holds values of RDB type `kind`: every type Redis writes but zipmap hashes
/// (9, Redis 2.4 and older), module values (6, 7) and hashes with field expiration (22-25).
pub fn holds(kind: u8) -> bool {
    matches!(
        kind,
        TYPE_STRING
            | TYPE_SET
            | TYPE_SET_INTSET
            | TYPE_SET_LISTPACK
            | TYPE_LIST
            | TYPE_LIST_QUICKLIST_2
            | TYPE_HASH
            | TYPE_HASH_LISTPACK
            | TYPE_HASH_ZIPLIST
            | TYPE_HASH_TTL_PRE_GA
            | TYPE_HASH_LISTPACK_EX_PRE_GA
            | TYPE_HASH_TTL
            | TYPE_HASH_LISTPACK_EX
            | TYPE_LIST_ZIPLIST
            | TYPE_LIST_QUICKLIST
            | TYPE_ZSET_ZIPLIST
            | TYPE_ZSET
            | TYPE_ZSET_2
            | TYPE_ZSET_LISTPACK
            | TYPE_STREAM_V1
            | TYPE_STREAM_V2
            | TYPE_STREAM_V3
            | TYPE_STREAM_V4
            | TYPE_STREAM_V5
    )
}

/// Reads a value of RDB type `kind`.
pub fn read(r: &mut Reader<'_>, kind: u8, layout: Layout) -> Result<Value, BadFormat> {
    let limits = layout.nodes;
    match kind {
        TYPE_STRING => Ok(Value::Str(Str::new(&r.string()?))),
        TYPE_HASH
        | TYPE_HASH_LISTPACK
        | TYPE_HASH_ZIPLIST
        | TYPE_HASH_TTL_PRE_GA
        | TYPE_HASH_LISTPACK_EX_PRE_GA
        | TYPE_HASH_TTL
        | TYPE_HASH_LISTPACK_EX => Ok(Value::Hash(read_hash(r, kind, layout.hash)?)),
        TYPE_LIST | TYPE_LIST_QUICKLIST_2 | TYPE_LIST_ZIPLIST | TYPE_LIST_QUICKLIST => {
            Ok(Value::List(read_list(r, kind, layout.list)?))
        }
        TYPE_SET | TYPE_SET_INTSET | TYPE_SET_LISTPACK => {
            Ok(Value::Set(read_set(r, kind, layout.set)?))
        }
        TYPE_ZSET | TYPE_ZSET_2 | TYPE_ZSET_LISTPACK | TYPE_ZSET_ZIPLIST => {
            Ok(Value::ZSet(read_zset(r, kind, layout.zset)?))
        }
        TYPE_STREAM_V1 | TYPE_STREAM_V2 | TYPE_STREAM_V3 | TYPE_STREAM_V4 | TYPE_STREAM_V5 => {
            Ok(Value::Stream(Box::new(read_stream(r, kind, limits)?)))
        }
        _ => Err(BadFormat("a value type Rill does not hold")),
    }
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_length(out, id.ms);
    write_length(out, id.seq);
}

fn raw_id(id: StreamId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.ms.to_be_bytes());
    key[8..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

fn write_stream(
    out: &mut Vec<u8>,
    stream: &Stream,
    kind: u8,
    compress: bool,
    spill: &mut Spill<'_>,
) -> std::io::Result<()> {
    let nodes = (stream.len() as usize).div_ceil(NODE_ENTRIES);
    write_length(out, nodes as u64);
    let mut entries = stream.range(StreamId::MIN, StreamId::MAX, false);
    let mut chunk = Vec::with_capacity(NODE_ENTRIES);
    for _ in 0..nodes {
        chunk.clear();
        chunk.extend(entries.by_ref().take(NODE_ENTRIES));
        let Some(master) = chunk.first() else {
            break;
        };
        let master_fields: Vec<&[u8]> = master.fields().map(|(f, _)| f).collect();
        let mut lp = listpack::Builder::new();
        lp.int(chunk.len() as i64);
        lp.int(0);
        lp.int(master_fields.len() as i64);
        for f in &master_fields {
            lp.string(f);
        }
        lp.int(0);
        for entry in &chunk {
            let same = entry.field_count() == master_fields.len()
                && entry
                    .fields()
                    .zip(&master_fields)
                    .all(|((f, _), m)| f == *m);
            lp.int(if same { FLAG_SAME_FIELDS } else { 0 });
            lp.int(entry.id.ms.wrapping_sub(master.id.ms) as i64);
            lp.int(entry.id.seq.wrapping_sub(master.id.seq) as i64);
            if same {
                for (_, v) in entry.fields() {
                    lp.string(v);
                }
                lp.int(3 + entry.field_count() as i64);
            } else {
                lp.int(entry.field_count() as i64);
                for (f, v) in entry.fields() {
                    lp.string(f);
                    lp.string(v);
                }
                lp.int(4 + 2 * entry.field_count() as i64);
            }
        }
        write_string(out, &raw_id(master.id), false);
        write_string(out, &lp.finish(), compress);
        if out.len() >= SPILL_BYTES {
            spill(out)?;
        }
    }
    write_length(out, stream.len());
    write_id(out, stream.last_id);
    if kind >= TYPE_STREAM_V2 {
        write_id(out, stream.first_id);
        write_id(out, stream.max_deleted_id);
        write_length(out, stream.entries_added);
    }
    write_length(out, stream.groups.len() as u64);
    for (name, group) in &stream.groups {
        write_string(out, name, false);
        write_id(out, group.last_id);
        if kind >= TYPE_STREAM_V2 {
            // Redis stores "unknown" (-1) as the largest length.
            write_length(out, group.entries_read.unwrap_or(u64::MAX));
        }
        // Before v5 a PEL entry must belong to a consumer: NACKed ones are left out.
        let kept = |p: &&PendingEntry| kind >= TYPE_STREAM_V5 || p.is_owned();
        write_length(out, group.pel.values().filter(kept).count() as u64);
        for (id, pending) in group.pel.iter().filter(|(_, p)| kept(p)) {
            out.extend_from_slice(&raw_id(id));
            write_millis(out, pending.delivery_time);
            write_length(out, pending.delivery_count);
            if out.len() >= SPILL_BYTES {
                spill(out)?;
            }
        }
        write_length(out, group.consumer_count() as u64);
        for consumer in group.consumers() {
            write_string(out, &consumer.name, false);
            write_millis(out, consumer.seen_time);
            if kind >= TYPE_STREAM_V3 {
                write_millis(out, consumer.active_time.unwrap_or(u64::MAX));
            }
            write_length(out, consumer.pending.len() as u64);
            for id in consumer.pending.keys() {
                out.extend_from_slice(&raw_id(id));
                if out.len() >= SPILL_BYTES {
                    spill(out)?;
                }
            }
        }
        if kind >= TYPE_STREAM_V5 {
            write_length(out, group.nacked_count() as u64);
            for id in group.nacked() {
                out.extend_from_slice(&raw_id(id));
                if out.len() >= SPILL_BYTES {
                    spill(out)?;
                }
            }
        }
    }
    if kind >= TYPE_STREAM_V4 {
        write_idmp(out, &stream.idmp, spill)?;
    }
    Ok(())
}

/// The idempotency block of a v4 stream: settings, then per producer (in byte order) its
/// iids oldest first with the IDs they produced, then the lifetime counters.
fn write_idmp(out: &mut Vec<u8>, idmp: &Idmp, spill: &mut Spill<'_>) -> std::io::Result<()> {
    write_length(out, idmp.duration);
    write_length(out, idmp.max_size);
    write_length(out, idmp.producer_count() as u64);
    for (pid, producer) in idmp.producers() {
        write_string(out, pid, false);
        write_length(out, producer.len() as u64);
        for (iid, id) in producer.entries() {
            write_string(out, iid, false);
            write_id(out, id);
            if out.len() >= SPILL_BYTES {
                spill(out)?;
            }
        }
    }
    write_length(out, idmp.iids_added);
    write_length(out, idmp.iids_duplicates);
    Ok(())
}

fn read_idmp(r: &mut Reader<'_>) -> Result<Idmp, BadFormat> {
    let duration = r.length()?;
    let max_size = r.length()?;
    let in_range = |v: u64, (lo, hi): (u64, u64)| (lo..=hi).contains(&v);
    if !in_range(duration, idmp::DURATION_RANGE) || !in_range(max_size, idmp::MAX_SIZE_RANGE) {
        return Err(BadFormat("stream IDMP settings out of range"));
    }
    let mut state = Idmp::new(duration, max_size);
    let producers = r.count(2)?;
    let mut previous: Option<Bytes> = None;
    for _ in 0..producers {
        let pid = Bytes::from(r.string()?);
        if pid.is_empty() || previous.as_ref().is_some_and(|p| *p >= pid) {
            return Err(BadFormat("stream IDMP producers out of order"));
        }
        let count = r.count(3)?;
        let mut iids = Vec::with_capacity(count.min(idmp::MAX_SIZE_RANGE.1 as usize));
        for _ in 0..count {
            let iid = Bytes::from(r.string()?);
            iids.push((iid, read_id(r)?));
        }
        state.load_producer(pid.clone(), iids);
        previous = Some(pid);
    }
    // Redis counts in signed 64 bits: anything larger is damage.
    let counter = |r: &mut Reader<'_>| match r.length()? {
        n if n > i64::MAX as u64 => Err(BadFormat("stream IDMP counter out of range")),
        n => Ok(n),
    };
    state.iids_added = counter(r)?;
    state.iids_duplicates = counter(r)?;
    Ok(state)
}

fn read_raw_id(r: &mut Reader<'_>) -> Result<StreamId, BadFormat> {
    let b = r.bytes(16)?;
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..]);
    Ok(StreamId::new(
        u64::from_be_bytes(ms),
        u64::from_be_bytes(seq),
    ))
}

fn read_id(r: &mut Reader<'_>) -> Result<StreamId, BadFormat> {
    Ok(StreamId::new(r.length()?, r.length()?))
}

fn read_stream(r: &mut Reader<'_>, kind: u8, limits: NodeLimits) -> Result<Stream, BadFormat> {
    let mut stream = Stream::new();
    let nodes = r.count(2)?;
    let mut last_read: Option<StreamId> = None;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return Err(BadFormat("stream node key is not an ID"));
        }
        let master = read_raw_id(&mut Reader::new(&key))?;
        let lp = r.string()?;
        let elements = listpack::elements(&lp)?;
        read_node(&elements, master, &mut stream, &mut last_read, limits)?;
    }
    let length = r.length()?;
    if length != stream.len() {
        return Err(BadFormat("stream length does not match its entries"));
    }
    stream.last_id = read_id(r)?;
    if last_read.is_some_and(|id| id > stream.last_id) {
        return Err(BadFormat("stream entry after the last ID"));
    }
    if kind >= TYPE_STREAM_V2 {
        stream.first_id = read_id(r)?;
        stream.max_deleted_id = read_id(r)?;
        stream.entries_added = r.length()?;
        if stream.entries_added < stream.len() {
            // Every entry held was added once: a smaller count is a damaged file (and the
            // read counters that subtract the length from it would have no meaning).
            return Err(BadFormat("stream entries-added below its length"));
        }
    } else {
        stream.entries_added = stream.len();
        if stream.is_empty() {
            // Redis derives the first ID of an old-format stream by looking for its first
            // entry, and an empty stream has none: it records the largest ID (XINFO shows
            // 18446744073709551615-18446744073709551615 until the next XADD), and so does Rill.
            stream.first_id = StreamId::MAX;
        }
    }
    let groups = r.count(3)?;
    for _ in 0..groups {
        let name = Bytes::from(r.string()?);
        let last_id = read_id(r)?;
        let entries_read = if kind >= TYPE_STREAM_V2 {
            Some(r.length()?).filter(|&n| n != u64::MAX)
        } else {
            stream.estimate_entries_read(last_id)
        };
        let mut group = ConsumerGroup::new(last_id, entries_read);
        let pending = r.count(16 + 8 + 1)?;
        let mut unowned: BTreeMap<StreamId, (u64, u64)> = BTreeMap::new();
        for _ in 0..pending {
            let id = read_raw_id(r)?;
            let delivery_time = r.millis()?;
            let delivery_count = r.length()?;
            if unowned
                .insert(id, (delivery_time, delivery_count))
                .is_some()
            {
                return Err(BadFormat("duplicate PEL entry"));
            }
        }
        let consumers = r.count(9)?;
        for _ in 0..consumers {
            let consumer_name = Bytes::from(r.string()?);
            let seen_time = r.millis()?;
            let active_time = if kind >= TYPE_STREAM_V3 {
                Some(r.millis()?).filter(|&t| t != u64::MAX)
            } else {
                // Before 7.2 Redis kept one time; it loads it as both.
                Some(seen_time)
            };
            let owned = r.count(16)?;
            let mut entries = Vec::with_capacity(owned.min(4096));
            for _ in 0..owned {
                let id = read_raw_id(r)?;
                let Some((delivery_time, delivery_count)) = unowned.remove(&id) else {
                    return Err(BadFormat("consumer PEL entry missing from the group PEL"));
                };
                entries.push((id, delivery_time, delivery_count));
            }
            group
                .load_consumer(consumer_name, (seen_time, active_time), entries)
                .map_err(|e| match e {
                    LoadError::DuplicateConsumer => BadFormat("duplicate consumer"),
                    LoadError::DuplicatePending => BadFormat("duplicate PEL entry"),
                })?;
        }
        if kind >= TYPE_STREAM_V5 {
            // The NACK zone, in order: exactly the PEL entries no consumer owns.
            let nacked = r.count(16)?;
            for _ in 0..nacked {
                let id = read_raw_id(r)?;
                let Some((delivery_time, delivery_count)) = unowned.remove(&id) else {
                    return Err(BadFormat("NACKed entry missing from the group PEL"));
                };
                group.load_nacked(id, delivery_time, delivery_count);
            }
        }
        if !unowned.is_empty() {
            return Err(BadFormat("group PEL entry without a consumer"));
        }
        if stream.groups.insert(name, group).is_some() {
            return Err(BadFormat("duplicate consumer group"));
        }
    }
    if kind >= TYPE_STREAM_V4 {
        stream.idmp = read_idmp(r)?;
    }
    Ok(stream)
}

/// The entries of one node, appended to `stream` in order.
fn read_node(
    elements: &[Element<'_>],
    master: StreamId,
    stream: &mut Stream,
    last_read: &mut Option<StreamId>,
    limits: NodeLimits,
) -> Result<(), BadFormat> {
    let mut it = elements.iter().copied();
    let mut next = || it.next().ok_or(BadFormat("stream node truncated"));
    let count = next()?.as_int()?;
    let deleted = next()?.as_int()?;
    let master_count = next()?.as_int()?;
    if count < 0 || deleted < 0 || master_count < 0 || count + deleted == 0 {
        return Err(BadFormat("bad stream node header"));
    }
    let mut master_fields = Vec::new();
    for _ in 0..master_count {
        master_fields.push(next()?.text());
    }
    if next()?.as_int()? != 0 {
        return Err(BadFormat("bad stream master entry terminator"));
    }
    let (mut live, mut dead) = (0, 0);
    for _ in 0..count + deleted {
        let flags = next()?.as_int()?;
        let ms = master.ms.wrapping_add(next()?.as_int()? as u64);
        let seq = master.seq.wrapping_add(next()?.as_int()? as u64);
        let id = StreamId::new(ms, seq);
        let mut fields: Vec<(Text<'_>, Text<'_>)> = Vec::new();
        if flags & FLAG_SAME_FIELDS != 0 {
            fields.reserve(master_fields.len());
            for f in &master_fields {
                fields.push((*f, next()?.text()));
            }
        } else {
            let n = next()?.as_int()?;
            if n < 0 || n as usize > elements.len() {
                return Err(BadFormat("bad stream entry field count"));
            }
            fields.reserve(n as usize);
            for _ in 0..n {
                let f = next()?.text();
                fields.push((f, next()?.text()));
            }
        }
        let lp_count = next()?.as_int()?;
        let expected = if flags & FLAG_SAME_FIELDS != 0 {
            3 + fields.len()
        } else {
            4 + 2 * fields.len()
        };
        if lp_count != expected as i64 {
            return Err(BadFormat("bad stream entry element count"));
        }
        if flags & FLAG_DELETED != 0 {
            // Dropped; only live entries are in order (a tombstone may carry a larger ID
            // than entries after it once XSETID lowered the last ID below it).
            dead += 1;
            continue;
        }
        if last_read.is_some_and(|last| id <= last) {
            return Err(BadFormat("stream entries out of order"));
        }
        *last_read = Some(id);
        live += 1;
        let pairs: Vec<(&[u8], &[u8])> = fields
            .iter()
            .map(|(f, v)| (f.as_slice(), v.as_slice()))
            .collect();
        stream.append(id, &pairs, limits);
    }
    if live != count || dead != deleted || next().is_ok() {
        return Err(BadFormat("stream node counts do not match its entries"));
    }
    Ok(())
}
