//! The one seam every change to data leaves the engine through, like Redis's `call()` and
//! `alsoPropagate()`: each command that changed something hands the [`Journal`] commands that
//! replay its effect deterministically (an XADD with the ID it generated, an exact trim for an
//! approximate one, absolute times for relative ones, a DEL for a key that expired), in the
//! engine's one total order, under the engine lock. The append-only log is a journal;
//! replication can be another.
//!
//! Without a journal nothing is collected, so the seam costs one branch per command.
//!
//! How each change is logged: a command that moved the dirty counter and logged nothing
//! itself is logged as written (Redis's default); XADD with its ID and, when it trimmed, an
//! exact XTRIM; XTRIM as an exact trim; relative expiries (SET EX/PX, SETEX, PSETEX, GETEX,
//! INCRBYFLOAT, EXPIRE, PEXPIRE, EXPIREAT) as the absolute state they left; XGROUP CREATE and
//! SETID with the position and entries-read they set, never `$`; XREADGROUP (also when a
//! blocked read is served later), XCLAIM and XAUTOCLAIM as Redis logs them: XCLAIM ... TIME
//! RETRYCOUNT FORCE JUSTID LASTID per entry, XGROUP CREATECONSUMER, XACK for entries gone
//! from the stream, XGROUP SETID ... ENTRIESREAD; lazy and active expiry and eviction as DEL.
//! A PEL history read logs nothing (it changes nothing a snapshot keeps). The property test
//! `engine/tests/propagation.rs` replays random sequences and compares the data.

use bytes::Bytes;

use crate::keyspace::Value;
use crate::State;

/// One command that replays part of a change, in the database it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The database (SELECT index) the command runs in.
    pub db: usize,
    /// The command and its arguments.
    pub args: Vec<Bytes>,
}

/// Receives the engine's changes, one unit at a time: the effects of one command (or EXEC,
/// or an expiry cycle), wrapped in MULTI/EXEC when there are several, so that a replay
/// applies them atomically as they happened.
pub trait Journal: Send {
    /// Takes one unit of effects. Runs under the engine lock: keep it short.
    fn append(&mut self, effects: &[Effect]);
}

/// The journal, if any, and the effects of the running command.
#[derive(Default)]
pub struct Propagation {
    journal: Option<Box<dyn Journal>>,
    pending: Vec<Effect>,
}

impl std::fmt::Debug for Propagation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Propagation")
            .field("journal", &self.journal.is_some())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Propagation {
    /// Whether changes are being collected (a journal is attached).
    pub fn enabled(&self) -> bool {
        self.journal.is_some()
    }

    /// Attaches the journal (or detaches it with `None`).
    pub fn set_journal(&mut self, journal: Option<Box<dyn Journal>>) {
        self.journal = journal;
        self.pending.clear();
    }

    /// Adds an effect of the running command.
    pub fn push(&mut self, db: usize, args: Vec<Bytes>) {
        if self.journal.is_some() {
            self.pending.push(Effect { db, args });
        }
    }

    /// How many effects the running unit has so far.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Inserts effects at `at` (the DELs of keys that expired while the command looked them
    /// up come before the command's own effects).
    pub(crate) fn insert(&mut self, at: usize, effects: Vec<Effect>) {
        let at = at.min(self.pending.len());
        self.pending.splice(at..at, effects);
    }

    /// Hands the unit's effects to the journal.
    pub fn flush(&mut self) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        if self.pending.len() > 1 {
            let db = self.pending[0].db;
            self.pending.insert(
                0,
                Effect {
                    db,
                    args: vec![Bytes::from_static(b"MULTI")],
                },
            );
            let last = self.pending.last().map_or(db, |e| e.db);
            self.pending.push(Effect {
                db: last,
                args: vec![Bytes::from_static(b"EXEC")],
            });
        }
        journal.append(&self.pending);
        self.pending.clear();
    }
}

/// Moves the keys the databases dropped on expiry into the running unit as DELs, at `at`.
pub(crate) fn take_expired(state: &mut State, at: usize) {
    let mut dels = Vec::new();
    for (db, d) in state.keyspace.dbs.iter_mut().enumerate() {
        for key in d.take_expired_log() {
            dels.push(Effect {
                db,
                args: vec![Bytes::from_static(b"DEL"), key],
            });
        }
        for (key, field) in d.take_expired_field_log() {
            dels.push(Effect {
                db,
                args: vec![Bytes::from_static(b"HDEL"), key, field],
            });
        }
    }
    if !dels.is_empty() {
        state.propagation.insert(at, dels);
    }
}

/// Commands whose arguments hold a time relative to now: they are logged as the state they
/// left (absolute expiry), never as written.
fn relative_time(name: &str) -> Option<Relative> {
    Some(match name {
        "set" | "setex" | "psetex" | "incrbyfloat" => Relative::StringValue,
        "expire" | "pexpire" | "expireat" | "getex" => Relative::Expiry,
        _ => return None,
    })
}

enum Relative {
    /// Log the string and its absolute expiry.
    StringValue,
    /// Log the key's absolute expiry.
    Expiry,
}

/// The effects that replay what a command that moved the dirty counter did when its own
/// arguments would not (relative times, a group position given as `$`); `None` to log it as
/// written.
pub(crate) fn rewrite(
    state: &mut State,
    db: usize,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
) -> Option<Vec<Vec<Bytes>>> {
    if matches!(name, "xgroup|create" | "xgroup|setid") {
        return group_position(state, db, name, args, now_ms);
    }
    if name == "restore" {
        return restore_absolute(state, db, args);
    }
    let kind = relative_time(name)?;
    let key = args.get(1)?.clone();
    let d = &mut state.keyspace.dbs[db];
    let expiry = d.expiry(&key);
    // Only a string's text is needed (a cheap `Bytes` clone); a stream is never copied.
    let text = match d.get(&key, now_ms) {
        None => return Some(vec![vec![Bytes::from_static(b"DEL"), key]]),
        Some(Value::Str(text)) => Some(text.to_bytes()),
        Some(_) => None,
    };
    let at = |ms: u64| Bytes::from(ms.to_string());
    Some(match (kind, text) {
        (Relative::StringValue, Some(text)) => {
            let mut set = vec![Bytes::from_static(b"SET"), key, text];
            if let Some(ms) = expiry {
                set.push(Bytes::from_static(b"PXAT"));
                set.push(at(ms));
            }
            vec![set]
        }
        _ => match expiry {
            Some(ms) => vec![vec![Bytes::from_static(b"PEXPIREAT"), key, at(ms)]],
            None => vec![vec![Bytes::from_static(b"PERSIST"), key]],
        },
    })
}

/// RESTORE with a relative TTL logged with the absolute time it set (`ABSTTL`), as Redis 7
/// propagates it; a key that was already expired logs as DEL.
fn restore_absolute(state: &mut State, db: usize, args: &[Bytes]) -> Option<Vec<Vec<Bytes>>> {
    let key = args.get(1)?;
    if args.get(2).is_some_and(|t| &t[..] == b"0")
        || args[4..].iter().any(|a| crate::args::is(a, "absttl"))
    {
        return None;
    }
    let Some(at) = state.keyspace.dbs[db].expiry(key) else {
        return Some(vec![vec![Bytes::from_static(b"DEL"), key.clone()]]);
    };
    let mut logged = args.to_vec();
    logged[2] = Bytes::from(at.to_string());
    logged.push(Bytes::from_static(b"ABSTTL"));
    Some(vec![logged])
}

/// XGROUP CREATE / SETID logged with the position they set, never `$`, and the entries-read
/// counter they left (-1 when unknown), so a replay sets both exactly.
fn group_position(
    state: &mut State,
    db: usize,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
) -> Option<Vec<Vec<Bytes>>> {
    let (key, group_name) = (args.get(2)?, args.get(3)?);
    let Some(Value::Stream(stream)) = state.keyspace.dbs[db].get(key, now_ms) else {
        return None;
    };
    let group = stream.groups.get(group_name)?;
    let mut logged = vec![
        Bytes::from_static(b"XGROUP"),
        args[1].clone(),
        key.clone(),
        group_name.clone(),
        Bytes::from(group.last_id.to_string()),
    ];
    if name == "xgroup|create" && args[5..].iter().any(|a| crate::args::is(a, "mkstream")) {
        logged.push(Bytes::from_static(b"MKSTREAM"));
    }
    logged.push(Bytes::from_static(b"ENTRIESREAD"));
    logged.push(entries_read_arg(group));
    Some(vec![logged])
}

/// `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`: how a
/// delivery or a claim is logged (Redis's form): it sets the PEL entry exactly, owner, time and
/// count, whatever the entry was before.
pub fn claim_effect(
    key: &Bytes,
    group: &Bytes,
    pending: &crate::group::PendingEntry,
    id: crate::StreamId,
    last_id: crate::StreamId,
) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XCLAIM"),
        key.clone(),
        group.clone(),
        pending.consumer.clone().unwrap_or_default(),
        Bytes::from_static(b"0"),
        Bytes::from(id.to_string()),
        Bytes::from_static(b"TIME"),
        Bytes::from(pending.delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        Bytes::from(pending.delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        Bytes::from(last_id.to_string()),
    ]
}

/// `XGROUP SETID key group id ENTRIESREAD n`: the group's position after a read.
pub fn position_effect(
    key: &Bytes,
    group_name: &Bytes,
    group: &crate::group::ConsumerGroup,
) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        key.clone(),
        group_name.clone(),
        Bytes::from(group.last_id.to_string()),
        Bytes::from_static(b"ENTRIESREAD"),
        entries_read_arg(group),
    ]
}

/// `XGROUP CREATECONSUMER key group consumer`: a consumer a read or claim created.
pub fn consumer_effect(key: &Bytes, group: &Bytes, consumer: &Bytes) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"CREATECONSUMER"),
        key.clone(),
        group.clone(),
        consumer.clone(),
    ]
}

/// `XACK key group id`: an entry that left the PEL because it was deleted from the stream.
pub fn ack_effect(key: &Bytes, group: &Bytes, id: crate::StreamId) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XACK"),
        key.clone(),
        group.clone(),
        Bytes::from(id.to_string()),
    ]
}

/// A group's entries-read counter as ENTRIESREAD takes it: -1 when unknown.
fn entries_read_arg(group: &crate::group::ConsumerGroup) -> Bytes {
    Bytes::from(
        group
            .entries_read
            .map_or_else(|| "-1".to_string(), |n| n.to_string()),
    )
}
