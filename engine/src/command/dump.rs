//! `DUMP key`
//! `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`
//!
//! A key's value as Redis's serialization (see [`crate::rdb::dump`]), and back: payloads from
//! Redis restore in Rill and Rill's in Redis (written in the RDB version `rdb-write-version` says,
//! Redis 7.4's by default; 10 for Redis 7.0).

use bytes::Bytes;

use super::keys::lookup_read;
use super::{Ctx, Group, Spec};
use crate::args::is;
use crate::error;
use crate::rdb::dump::{dump as dump_payload, restore as restore_payload, PayloadError};
use crate::reply::Reply;

/// Table entries for DUMP and RESTORE.
pub fn specs() -> Vec<Spec> {
    vec![
        Spec::new(
            "dump",
            2,
            Group::Generic,
            &["readonly"],
            (1, 1, 1),
            "Returns a serialized representation of the value stored at a key.",
            dump,
        )
        .since("2.6.0"),
        Spec::new(
            "restore",
            -4,
            Group::Generic,
            &["write", "denyoom"],
            (1, 1, 1),
            "Creates a key from the serialized representation of a value.",
            restore,
        )
        .since("2.6.0"),
    ]
}

/// DUMP: nil for a missing key.
fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let version = crate::rdb::Version::from_config(&ctx.state.config);
    let compress = ctx.state.config.get("rdbcompression") != Some("no");
    match lookup_read(ctx, &args[1]) {
        None => Reply::Null,
        Some(value) => Reply::Bulk(Bytes::from(dump_payload(value, version, compress))),
    }
}

/// What RESTORE's options asked for.
struct RestoreOptions {
    replace: bool,
    absolute: bool,
    idle_seconds: Option<u64>,
    freq: Option<u8>,
}

/// Parses RESTORE's options as Redis does: IDLETIME and FREQ exclude each other (the second
/// is a syntax error), each value checked with Redis's words.
fn restore_options(args: &[Bytes]) -> Result<RestoreOptions, Reply> {
    let mut o = RestoreOptions {
        replace: false,
        absolute: false,
        idle_seconds: None,
        freq: None,
    };
    let mut i = 4;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "replace") {
            o.replace = true;
        } else if is(&args[i], "absttl") {
            o.absolute = true;
        } else if is(&args[i], "idletime") && more && o.freq.is_none() {
            let idle = crate::args::parse_i64_strict(&args[i + 1])
                .ok_or_else(|| Reply::error(error::NOT_INTEGER))?;
            if idle < 0 {
                return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
            }
            o.idle_seconds = Some(idle as u64);
            i += 1;
        } else if is(&args[i], "freq") && more && o.idle_seconds.is_none() {
            let freq = crate::args::parse_i64_strict(&args[i + 1])
                .ok_or_else(|| Reply::error(error::NOT_INTEGER))?;
            if !(0..=255).contains(&freq) {
                return Err(Reply::error(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            o.freq = Some(freq as u8);
            i += 1;
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

/// RESTORE: options, then the TTL, then BUSYKEY, then the payload's version and checksum,
/// then its contents, in Redis's order. A TTL already in the past deletes the key (when
/// REPLACE removed one) and answers OK, as Redis does.
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let options = match restore_options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Some(ttl) = crate::args::parse_i64_strict(&args[2]) else {
        return Reply::error(error::NOT_INTEGER);
    };
    if ttl < 0 {
        return Reply::error("ERR Invalid TTL value, must be >= 0");
    }
    let key = &args[1];
    let now = ctx.now_ms;
    if !options.replace && ctx.db().contains(key, now) {
        return Reply::error("BUSYKEY Target key name already exists.");
    }
    let limits = crate::rdb::value::Layout::from_config(&ctx.state.config);
    let value = match restore_payload(&args[3], limits) {
        Ok(v) => v,
        Err(PayloadError::VersionOrChecksum) => {
            return Reply::error("ERR DUMP payload version or checksum are wrong")
        }
        Err(PayloadError::BadFormat(_)) => return Reply::error("ERR Bad data format"),
    };
    let db_index = ctx.session.db;
    let expire_at = match (ttl, options.absolute) {
        (0, _) => None,
        (t, true) => Some(t as u64),
        (t, false) => Some(now.saturating_add(t as u64)),
    };
    let db = ctx.db();
    let removed = options.replace && db.remove(key).is_some();
    if expire_at.is_some_and(|at| at <= now) {
        if removed {
            ctx.state.keyspace.touch(db_index, key);
            ctx.state.stats.dirty += 1;
            ctx.notify(crate::notify::GENERIC, "del", key);
        }
        return Reply::ok();
    }
    let db = ctx.db();
    db.set(key.clone(), value, false);
    if let Some(at) = expire_at {
        db.set_expiry(key, at);
    }
    db.restore_access(key, options.idle_seconds, options.freq, now);
    ctx.state.keyspace.touch(db_index, key);
    ctx.state.stats.dirty += 1;
    ctx.notify(crate::notify::GENERIC, "restore", key);
    Reply::ok()
}
