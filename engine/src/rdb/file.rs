//! RDB files: `REDIS` and a 4-digit version, auxiliary fields, then per database a SELECTDB
//! and RESIZEDB followed by its keys (each with its expiry time, if any), then EOF and a
//! CRC-64 of everything before it (0 when `rdbchecksum no`).
//!
//! Reading accepts what Redis 5 to 7.4 write (versions up to [`RDB_VERSION`]): aux fields are
//! kept for the log, LRU/LFU hints applied, seconds and milliseconds expiry times read,
//! slot info skipped. A value of a type Rill does not hold stops the load naming the key and
//! the type. Every length is checked before it is trusted.

use bytes::Bytes;

use super::crc64::{crc64, update};
use super::encoding::{write_length, write_string, BadFormat, Reader};
use super::RDB_VERSION;
use super::{skip, value};
use crate::aof::base::Snapshot;
use crate::keyspace::Value;

const OP_SLOT_INFO: u8 = 0xf4;
const OP_FUNCTION2: u8 = 0xf5;
const OP_MODULE_AUX: u8 = 0xf7;
const OP_IDLE: u8 = 0xf8;
const OP_FREQ: u8 = 0xf9;
const OP_AUX: u8 = 0xfa;
const OP_RESIZEDB: u8 = 0xfb;
const OP_EXPIRETIME_MS: u8 = 0xfc;
const OP_EXPIRETIME: u8 = 0xfd;
const OP_SELECTDB: u8 = 0xfe;
const OP_EOF: u8 = 0xff;

/// How to write a file.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// The RDB version (`rdb-write-version`).
    pub version: super::Version,
    /// `rdbcompression`.
    pub compress: bool,
    /// `rdbchecksum`: without it the trailer is 0, as Redis writes it.
    pub checksum: bool,
    /// Whether the file is an AOF base (the `aof-base` aux field).
    pub aof_base: bool,
    /// Sync every 4 MB while writing (`rdb-save-incremental-fsync`, or
    /// `aof-rewrite-incremental-fsync` for an AOF base).
    pub incremental_fsync: bool,
}

/// The bytes of an RDB file holding `snapshot` (in memory: for tests and small datasets;
/// files are written by [`write`]).
pub fn encode(snapshot: &Snapshot, options: WriteOptions, now_ms: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Into memory: the sink cannot fail.
    let _ = write(snapshot, options, now_ms, &mut |chunk| {
        bytes.extend_from_slice(chunk);
        Ok(())
    });
    bytes
}

/// Writes an RDB file holding `snapshot` into `sink`, a buffer's worth at a time, and
/// returns its size. What the chosen version cannot hold is left out and said in the log.
pub fn write(
    snapshot: &Snapshot,
    options: WriteOptions,
    now_ms: u64,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let version = options
        .version
        .resolve(snapshot.dbs().iter().flatten().map(|(_, v, _)| v));
    let mut out = format!("REDIS{version:04}").into_bytes();
    let aux = |out: &mut Vec<u8>, key: &str, value: &str| {
        out.push(OP_AUX);
        write_string(out, key.as_bytes(), false);
        write_string(out, value.as_bytes(), false);
    };
    aux(&mut out, "redis-ver", crate::REDIS_VERSION);
    aux(&mut out, "redis-bits", "64");
    aux(&mut out, "ctime", &(now_ms / 1000).to_string());
    aux(&mut out, "used-mem", "0");
    aux(
        &mut out,
        "aof-base",
        if options.aof_base { "1" } else { "0" },
    );
    let (mut crc, mut size) = (0u64, 0u64);
    let mut spill = |out: &mut Vec<u8>| -> std::io::Result<()> {
        if options.checksum {
            crc = update(crc, out);
        }
        sink(out)?;
        size += out.len() as u64;
        out.clear();
        Ok(())
    };
    let mut omitted = value::Omitted::default();
    for (db, keys) in snapshot.dbs().iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        out.push(OP_SELECTDB);
        write_length(&mut out, db as u64);
        out.push(OP_RESIZEDB);
        write_length(&mut out, keys.len() as u64);
        write_length(
            &mut out,
            keys.iter().filter(|k| k.2.is_some()).count() as u64,
        );
        for (key, value, expiry) in keys {
            if let Some(at) = expiry {
                out.push(OP_EXPIRETIME_MS);
                out.extend_from_slice(&at.to_le_bytes());
            }
            let kind = value::type_for(value, version);
            out.push(kind);
            write_string(&mut out, key, false);
            value::write(&mut out, value, kind, options.compress, &mut spill)?;
            omitted.add(value, version);
            if out.len() >= value::SPILL_BYTES {
                spill(&mut out)?;
            }
        }
    }
    out.push(OP_EOF);
    spill(&mut out)?;
    let crc = if options.checksum { crc } else { 0 };
    sink(&crc.to_le_bytes())?;
    omitted.log(version);
    Ok(size + 8)
}

/// One key read from a file.
pub struct LoadedKey {
    /// Its database.
    pub db: usize,
    /// Its name.
    pub key: Bytes,
    /// Its value.
    pub value: Value,
    /// Its expiry time (ms), if any.
    pub expiry: Option<u64>,
    /// RESTORE-style access hints: idle seconds, LFU counter.
    pub idle: Option<u64>,
    /// The LFU counter.
    pub freq: Option<u8>,
}

/// How to read a file: the `databases`, stream node limits, and what to do with a value
/// of a type Rill does not hold (`rdb-unsupported-types`).
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// `databases`: a SELECTDB beyond it stops the load.
    pub databases: usize,
    /// How loaded values are laid out (stream nodes, listpack hashes).
    pub limits: value::Layout,
    /// `rdb-unsupported-types skip`: step over such values (each named in the log and
    /// counted) instead of stopping the load.
    pub skip_unsupported: bool,
}

impl LoadOptions {
    /// The options `config` gives.
    pub fn from_config(config: &crate::Config) -> LoadOptions {
        LoadOptions {
            databases: config.int("databases") as usize,
            limits: value::Layout::from_config(config),
            skip_unsupported: config.get("rdb-unsupported-types") == Some("skip"),
        }
    }
}

/// A key left out of a load because Rill does not hold its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its database.
    pub db: usize,
    /// Its name.
    pub key: Bytes,
    /// Its RDB type.
    pub kind: u8,
}

impl std::fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key '{}' in db {}: RDB type {} ({})",
            String::from_utf8_lossy(&self.key),
            self.db,
            self.kind,
            super::skip::type_name(self.kind)
        )
    }
}

/// What a file held.
pub struct Loaded {
    /// Its keys, in file order.
    pub keys: Vec<LoadedKey>,
    /// Keys stepped over (`rdb-unsupported-types skip`).
    pub skipped: Vec<SkippedKey>,
    /// Its aux fields.
    pub aux: Vec<(String, String)>,
    /// Its version.
    pub version: u16,
}

/// Why a file could not be read: Redis-like words and the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a whole RDB file (or an AOF base in RDB form, which ends at its EOF and checksum:
/// the bytes after it are returned as the rest).
pub fn decode(data: &[u8], options: LoadOptions) -> Result<(Loaded, usize), FileError> {
    let LoadOptions {
        databases, limits, ..
    } = options;
    let at = |r: &Reader<'_>, why: &str| FileError(format!("{why} at offset {}", r.position()));
    let mut r = Reader::new(data);
    let magic = r
        .bytes(9)
        .map_err(|_| FileError("Wrong signature trying to load DB from file".into()))?;
    if &magic[..5] != b"REDIS" {
        return Err(FileError(
            "Wrong signature trying to load DB from file".into(),
        ));
    }
    let version: u16 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| FileError("Wrong signature trying to load DB from file".into()))?;
    if !(1..=RDB_VERSION).contains(&version) {
        return Err(FileError(format!(
            "Can't handle RDB format version {version}"
        )));
    }
    let mut loaded = Loaded {
        keys: Vec::new(),
        skipped: Vec::new(),
        aux: Vec::new(),
        version,
    };
    let mut db = 0usize;
    let (mut expiry, mut idle, mut freq) = (None, None, None);
    loop {
        let op = r.u8().map_err(|_| {
            at(
                &r,
                "Short read or OOM loading DB. Unrecoverable error, aborting now.",
            )
        })?;
        let bad = |r: &Reader<'_>, e: BadFormat| {
            at(r, &format!("Internal error in RDB reading ({})", e.0))
        };
        match op {
            OP_EOF => break,
            OP_SELECTDB => {
                let n = r.length().map_err(|e| bad(&r, e))?;
                if n >= databases as u64 {
                    return Err(at(&r, &format!("FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting")));
                }
                db = n as usize;
            }
            OP_RESIZEDB => {
                r.length().map_err(|e| bad(&r, e))?;
                r.length().map_err(|e| bad(&r, e))?;
            }
            OP_AUX => {
                let k = r.string().map_err(|e| bad(&r, e))?;
                let v = r.string().map_err(|e| bad(&r, e))?;
                loaded.aux.push((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ));
            }
            OP_EXPIRETIME_MS => expiry = Some(r.millis().map_err(|e| bad(&r, e))?),
            OP_EXPIRETIME => {
                let b = r.bytes(4).map_err(|e| bad(&r, e))?;
                expiry = Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64 * 1000);
            }
            OP_IDLE => idle = Some(r.length().map_err(|e| bad(&r, e))?),
            OP_FREQ => freq = Some(r.u8().map_err(|e| bad(&r, e))?),
            OP_SLOT_INFO => {
                for _ in 0..3 {
                    r.length().map_err(|e| bad(&r, e))?;
                }
            }
            OP_FUNCTION2 | OP_MODULE_AUX => {
                return Err(at(
                    &r,
                    "The RDB file holds functions or module data, which Rill does not support",
                ));
            }
            kind => {
                let key = r.string().map_err(|e| bad(&r, e))?;
                if !value::holds(kind) {
                    let skipped = SkippedKey {
                        db,
                        key: Bytes::from(key),
                        kind,
                    };
                    if !options.skip_unsupported {
                        return Err(at(
                            &r,
                            &format!("Rill does not support the value of {skipped} yet (rdb-unsupported-types skip loads the rest without it)"),
                        ));
                    }
                    skip::skip(&mut r, kind).map_err(|e| bad(&r, e))?;
                    loaded.skipped.push(skipped);
                    (expiry, idle, freq) = (None, None, None);
                    continue;
                }
                let value = value::read(&mut r, kind, limits).map_err(|e| bad(&r, e))?;
                loaded.keys.push(LoadedKey {
                    db,
                    key: Bytes::from(key),
                    value,
                    expiry: expiry.take(),
                    idle: idle.take(),
                    freq: freq.take(),
                });
            }
        }
    }
    let end = r.position();
    if version >= 5 {
        let stored = r.millis().map_err(|_| {
            at(
                &r,
                "Short read or OOM loading DB. Unrecoverable error, aborting now.",
            )
        })?;
        if stored != 0 && stored != crc64(&data[..end]) {
            return Err(FileError("Wrong RDB checksum. Aborting now.".into()));
        }
    }
    Ok((loaded, r.position()))
}
