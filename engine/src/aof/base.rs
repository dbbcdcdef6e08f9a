//! A rewrite's new base: the whole dataset as the shortest commands that rebuild it, written
//! from a snapshot taken under the engine lock (cheap: values share their bytes and stream
//! nodes, see [`crate::keyspace::Db::snapshot`]) by a thread of its own, while the server
//! keeps serving.
//!
//! Each value is written as Redis's rewrite writes it, so Redis loads Rill's base and the
//! other way round:
//!
//! - a string: `SET key value`;
//! - a stream: one `XADD key id field value ...` per live entry (an empty stream:
//!   `XADD key MAXLEN 0 0-1 x y`), then `XSETID key <last-id> ENTRIESADDED n
//!   MAXDELETEDID id`; per group `XGROUP CREATE key group <last-delivered> ENTRIESREAD n`, per
//!   consumer `XGROUP CREATECONSUMER`, and its pending entries as `XCLAIM key group consumer
//!   0 id TIME ms RETRYCOUNT n JUSTID FORCE`, then its NACK zone in order as `XNACK key group
//!   FAIL IDS n id... RETRYCOUNT c FORCE` (up to 64 consecutive entries of equal count each);
//!   Idempotency state (Redis 8.6) follows: `XCFGSET key IDMP-DURATION d IDMP-MAXSIZE m` unless
//!   the settings and the `stream-idmp-*` configuration are all Redis's defaults, then per producer and iid, oldest first,
//!   `XIDMPRECORD key pid iid id` (the lifetime counters live only in RDB form, as in Redis);
//! - a hash: `HSET key field value ...`, 64 pairs per command;
//! - a list: `RPUSH key element ...`, 64 elements per command;
//! - a set: `SADD key member ...`, 64 members per command;
//! - a time to live: `PEXPIREAT key ms` after the value.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use bytes::Bytes;

use super::log::encode_parts;
use crate::group::ConsumerGroup;
use crate::keyspace::Value;
use crate::stream::{idmp, Stream};
use crate::{State, StreamId};

/// The dataset as it was when a rewrite started: per database, its keys, values and expiry
/// times.
pub struct Snapshot {
    dbs: Vec<Vec<(Bytes, Value, Option<u64>)>>,
    /// What a new stream gets as its idempotency settings (`stream-idmp-duration` and
    /// `stream-idmp-maxsize`): with Redis's defaults there, a rewrite writes XCFGSET only for
    /// streams whose settings differ.
    idmp_defaults: (u64, u64),
}

impl Snapshot {
    /// Copies the dataset (under the engine lock; the cost is one pointer copy per key and
    /// per stream node, plus the consumer groups).
    pub fn take(state: &State) -> Snapshot {
        Snapshot {
            dbs: state.keyspace.dbs.iter().map(|db| db.snapshot()).collect(),
            idmp_defaults: (
                state.config.int("stream-idmp-duration"),
                state.config.int("stream-idmp-maxsize"),
            ),
        }
    }

    /// No keys at all (the first base of a new log).
    pub fn empty() -> Snapshot {
        Snapshot {
            dbs: Vec::new(),
            idmp_defaults: (idmp::DEFAULT_DURATION, idmp::DEFAULT_MAX_SIZE),
        }
    }

    /// Per database, its keys with their values and expiry times.
    pub fn dbs(&self) -> &[Vec<(Bytes, Value, Option<u64>)>] {
        &self.dbs
    }

    /// Number of keys.
    pub fn keys(&self) -> usize {
        self.dbs.iter().map(Vec::len).sum()
    }
}

/// Bytes written between syncs with `aof-rewrite-incremental-fsync yes` (Redis's 4 MB; RDB snapshots too), so the
/// final sync does not stall on a large backlog of dirty pages.
pub const INCREMENTAL_FSYNC_BYTES: u64 = 4 * 1024 * 1024;

/// IDs per XNACK a rewrite writes (Redis's batch).
const NACK_BATCH: usize = 64;

/// Writes `snapshot` as a base file at `path` and syncs it. Returns its size.
pub fn write_base(
    snapshot: &Snapshot,
    path: &Path,
    incremental_fsync: bool,
) -> std::io::Result<u64> {
    let mut file = File::create(path)?;
    let mut out = Vec::with_capacity(64 * 1024);
    let mut total = 0u64;
    let mut since_sync = 0u64;
    let mut flush = |out: &mut Vec<u8>, file: &mut File| -> std::io::Result<()> {
        file.write_all(out)?;
        total += out.len() as u64;
        since_sync += out.len() as u64;
        out.clear();
        if incremental_fsync && since_sync >= INCREMENTAL_FSYNC_BYTES {
            file.sync_data()?;
            since_sync = 0;
        }
        Ok(())
    };
    for (db, keys) in snapshot.dbs.iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let db = db.to_string();
        command(&mut out, &[b"SELECT", db.as_bytes()]);
        for (key, value, expiry) in keys {
            match value {
                Value::Str(text) => command(&mut out, &[b"SET", key, text.as_bytes()]),
                Value::Hash(hash) => write_hash(key, hash, &mut out),
                Value::List(list) => write_list(key, list, &mut out),
                Value::Set(set) => write_set(key, set, &mut out),
                Value::ZSet(z) => write_zset(key, z, &mut out),
                Value::Stream(stream) => {
                    write_stream(key, stream, snapshot.idmp_defaults, &mut out, &mut |out| {
                        flush(out, &mut file)
                    })?
                }
            }
            if let Some(at) = expiry {
                command(&mut out, &[b"PEXPIREAT", key, at.to_string().as_bytes()]);
            }
            if out.len() >= 64 * 1024 {
                flush(&mut out, &mut file)?;
            }
        }
    }
    flush(&mut out, &mut file)?;
    file.sync_all()?;
    Ok(total)
}

/// Pairs per HSET a rewrite writes (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
const ITEMS_PER_COMMAND: usize = 64;

/// A hash as HSETs of up to 64 pairs, then an HPEXPIREAT for each field with an expiry time
/// (replayed while loading, a time already past is kept, as Redis keeps it).
fn write_hash(key: &[u8], hash: &crate::hash::Hash, out: &mut Vec<u8>) {
    let pairs: Vec<(&[u8], &[u8])> = hash.pairs().collect();
    for chunk in pairs.chunks(ITEMS_PER_COMMAND) {
        let mut args: Vec<&[u8]> = vec![b"HSET", key];
        for (field, value) in chunk {
            args.push(field);
            args.push(value);
        }
        command(out, &args);
    }
    for (field, at) in hash.ttl_entries() {
        let at = at.to_string();
        command(
            out,
            &[b"HPEXPIREAT", key, at.as_bytes(), b"FIELDS", b"1", &field],
        );
    }
}

/// A list as RPUSHes of up to 64 elements.
fn write_list(key: &[u8], list: &crate::list::List, out: &mut Vec<u8>) {
    let items: Vec<&[u8]> = list.iter().collect();
    for chunk in items.chunks(ITEMS_PER_COMMAND) {
        let mut args: Vec<&[u8]> = vec![b"RPUSH", key];
        args.extend(chunk.iter().map(|i| i.as_ref()));
        command(out, &args);
    }
}

/// A set as SADDs of up to 64 members.
fn write_set(key: &[u8], set: &crate::set::Set, out: &mut Vec<u8>) {
    let members: Vec<Bytes> = set.members().collect();
    for chunk in members.chunks(ITEMS_PER_COMMAND) {
        let mut args: Vec<&[u8]> = vec![b"SADD", key];
        args.extend(chunk.iter().map(|m| m.as_ref()));
        command(out, &args);
    }
}

/// A sorted set as ZADDs of up to 64 members, scores printed so they read back exactly.
fn write_zset(key: &[u8], z: &crate::zset::ZSet, out: &mut Vec<u8>) {
    let entries: Vec<(String, Bytes)> = z
        .iter()
        .map(|(s, m)| (crate::score::format(s), m))
        .collect();
    for chunk in entries.chunks(ITEMS_PER_COMMAND) {
        let mut args: Vec<&[u8]> = vec![b"ZADD", key];
        for (score, member) in chunk {
            args.push(score.as_bytes());
            args.push(member);
        }
        command(out, &args);
    }
}

/// Appends one command.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    encode_parts(args.iter().copied(), args.len(), out);
}

/// A stream with its metadata, groups and pending entries; `flush` empties `out` into the
/// file now and then (a stream may be far larger than memory should buffer).
fn write_stream(
    key: &[u8],
    stream: &Stream,
    idmp_defaults: (u64, u64),
    out: &mut Vec<u8>,
    flush: &mut dyn FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if stream.is_empty() {
        // Redis's way to create an empty stream: add an entry and trim it at once; the
        // XSETID below then puts the last ID and the counters back.
        command(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    } else {
        for entry in stream.range(StreamId::MIN, StreamId::MAX, false) {
            let id = entry.id.to_string();
            let mut args: Vec<&[u8]> = Vec::with_capacity(3 + 2 * entry.field_count());
            args.extend_from_slice(&[b"XADD", key, id.as_bytes()]);
            for (field, value) in entry.fields() {
                args.push(field);
                args.push(value);
            }
            command(out, &args);
            if out.len() >= 64 * 1024 {
                flush(out)?;
            }
        }
    }
    command(
        out,
        &[
            b"XSETID",
            key,
            stream.last_id.to_string().as_bytes(),
            b"ENTRIESADDED",
            stream.entries_added.to_string().as_bytes(),
            b"MAXDELETEDID",
            stream.max_deleted_id.to_string().as_bytes(),
        ],
    );
    for (name, group) in &stream.groups {
        write_group(key, name, group, out, flush)?;
    }
    write_idmp(key, stream, idmp_defaults, out, flush)
}

/// A stream's idempotency settings (when not what XADD would create it with) and remembered
/// iids.
fn write_idmp(
    key: &[u8],
    stream: &Stream,
    defaults: (u64, u64),
    out: &mut Vec<u8>,
    flush: &mut dyn FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let idmp = &stream.idmp;
    // A replay creates the stream with the configuration of its day: the settings are
    // written unless they and today's configuration are both Redis's defaults.
    let builtin = (idmp::DEFAULT_DURATION, idmp::DEFAULT_MAX_SIZE);
    if (idmp.duration, idmp.max_size) != builtin || defaults != builtin {
        command(
            out,
            &[
                b"XCFGSET",
                key,
                b"IDMP-DURATION",
                idmp.duration.to_string().as_bytes(),
                b"IDMP-MAXSIZE",
                idmp.max_size.to_string().as_bytes(),
            ],
        );
    }
    for (pid, producer) in idmp.producers() {
        for (iid, id) in producer.entries() {
            command(
                out,
                &[b"XIDMPRECORD", key, pid, iid, id.to_string().as_bytes()],
            );
            if out.len() >= 64 * 1024 {
                flush(out)?;
            }
        }
    }
    Ok(())
}

fn write_group(
    key: &[u8],
    name: &[u8],
    group: &ConsumerGroup,
    out: &mut Vec<u8>,
    flush: &mut dyn FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let entries_read = group
        .entries_read
        .map_or_else(|| "-1".to_string(), |n| n.to_string());
    command(
        out,
        &[
            b"XGROUP",
            b"CREATE",
            key,
            name,
            group.last_id.to_string().as_bytes(),
            b"ENTRIESREAD",
            entries_read.as_bytes(),
        ],
    );
    for state in group.consumers() {
        let consumer = &state.name;
        command(out, &[b"XGROUP", b"CREATECONSUMER", key, name, consumer]);
        for id in state.pending.keys() {
            let Some(pending) = group.pel.get(&id) else {
                continue;
            };
            command(
                out,
                &[
                    b"XCLAIM",
                    key,
                    name,
                    consumer,
                    b"0",
                    id.to_string().as_bytes(),
                    b"TIME",
                    pending.delivery_time.to_string().as_bytes(),
                    b"RETRYCOUNT",
                    pending.delivery_count.to_string().as_bytes(),
                    b"JUSTID",
                    b"FORCE",
                ],
            );
            if out.len() >= 64 * 1024 {
                flush(out)?;
            }
        }
    }
    write_nacked(key, name, group, out);
    Ok(())
}

/// The NACK zone, in order: runs of entries with the same delivery count, 64 at most per
/// command, as Redis's rewrite batches them.
fn write_nacked(key: &[u8], name: &[u8], group: &ConsumerGroup, out: &mut Vec<u8>) {
    let mut batch: Vec<String> = Vec::new();
    let mut batch_count = None;
    let emit = |out: &mut Vec<u8>, ids: &mut Vec<String>, count: Option<u64>| {
        let Some(count) = count.filter(|_| !ids.is_empty()) else {
            return;
        };
        let (n, count) = (ids.len().to_string(), count.to_string());
        let mut args: Vec<&[u8]> = vec![b"XNACK", key, name, b"FAIL", b"IDS", n.as_bytes()];
        args.extend(ids.iter().map(|id| id.as_bytes()));
        args.extend([&b"RETRYCOUNT"[..], count.as_bytes(), b"FORCE"]);
        command(out, &args);
        ids.clear();
    };
    for id in group.nacked() {
        let count = group.pel.get(&id).map_or(0, |p| p.delivery_count);
        if batch_count != Some(count) || batch.len() == NACK_BATCH {
            emit(out, &mut batch, batch_count);
            batch_count = Some(count);
        }
        batch.push(id.to_string());
    }
    emit(out, &mut batch, batch_count);
}
