//! The one seam every change to data leaves the engine through, like Redis's `call()` and
//! `alsoPropagate()`: each command that changed something hands the [`Journal`] commands that
//! replay its effect deterministically (an XADD with the ID it generated, an exact trim for an
//! approximate one, absolute times for relative ones, a DEL for a key that expired), in the
//! engine's one total order, under the engine lock. The append-only log is a journal;
//! replication can be another.
//!
//! Without a journal nothing is collected, so the seam costs one branch per command.
//!
//! Covered so far (issue 8 in progress): every command whose arguments replay as they are
//! (the default: a command that moved the dirty counter is logged verbatim), XADD and XTRIM
//! rewritten, relative expiries (SET EX/PX, SETEX, PSETEX, GETEX, INCRBYFLOAT, EXPIRE and
//! PEXPIRE) logged as absolute state, lazy and active expiry as DEL. Consumer-group commands
//! that depend on the clock (XREADGROUP, XCLAIM, XAUTOCLAIM, XGROUP CREATE with `$`) still
//! need their rewrites before a journal may be attached in production.

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

/// The effects that replay what a command that moved the dirty counter did to `args[1]`
/// when its own arguments would not (relative times); `None` to log it as written.
pub(crate) fn rewrite(
    state: &mut State,
    db: usize,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
) -> Option<Vec<Vec<Bytes>>> {
    let kind = relative_time(name)?;
    let key = args.get(1)?.clone();
    let d = &mut state.keyspace.dbs[db];
    let expiry = d.expiry(&key);
    let value = match d.get(&key, now_ms) {
        None => return Some(vec![vec![Bytes::from_static(b"DEL"), key]]),
        Some(v) => v.clone(),
    };
    let at = |ms: u64| Bytes::from(ms.to_string());
    Some(match (kind, value) {
        (Relative::StringValue, Value::Str(text)) => {
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
