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
//! A PEL history read logs nothing, as in Redis: the delivery count and time it bumps come
//! back from the log as they were last logged (a snapshot keeps them). The property test
//! `engine/tests/propagation.rs` replays random sequences and compares the data.

use bytes::Bytes;

use crate::id::decimal;
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
/// or an expiry cycle), to be wrapped in MULTI/EXEC when there are several (see
/// [`Unit::is_transaction`]), so that a replay applies them atomically as they happened.
pub trait Journal: Send {
    /// Takes one unit of effects. Runs under the engine lock: keep it short. A unit of up to
    /// 4 KB counts as bookkeeping: a pipeline's next command starts when the one that made it
    /// ended, without reading the clock again, so a journal that does more than copy the
    /// bytes ages that command by what it does.
    fn append(&mut self, unit: &Unit);
}

/// One unit of effects, each command already in RESP, back to back: a command's arguments
/// are copied once, into the form the log keeps, instead of being collected as shared
/// strings and encoded later (which cost a reference count up and down per argument, and
/// an allocation per command, on every logged write).
#[derive(Debug, Default, Clone)]
pub struct Unit {
    bytes: Vec<u8>,
    /// Each command's database and where it ends in `bytes`.
    commands: Vec<(usize, usize)>,
}

impl Unit {
    /// How many commands the unit holds.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Whether a replay must apply it as one transaction (it holds several commands).
    pub fn is_transaction(&self) -> bool {
        self.commands.len() > 1
    }

    /// Each command's database and RESP encoding, in order.
    pub fn commands(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let starts = std::iter::once(0).chain(self.commands.iter().map(|&(_, end)| end));
        self.commands
            .iter()
            .zip(starts)
            .map(|(&(db, end), start)| (db, &self.bytes[start..end]))
    }

    /// The unit as commands, wrapped in MULTI/EXEC when it is a transaction: what a replay
    /// runs (for journals that want values rather than RESP).
    pub fn effects(&self) -> Vec<Effect> {
        let mut effects: Vec<Effect> = self
            .commands()
            .flat_map(|(db, resp)| {
                let records = crate::aof::log::read(&Bytes::copy_from_slice(resp))
                    .map(|(records, _)| records)
                    .unwrap_or_default();
                records
                    .into_iter()
                    .map(move |r| Effect { db, args: r.args })
            })
            .collect();
        if self.is_transaction() {
            let (first, last) = (effects[0].db, effects[effects.len() - 1].db);
            let word = |w: &'static [u8], db| Effect {
                db,
                args: vec![Bytes::from_static(w)],
            };
            effects.insert(0, word(b"MULTI", first));
            effects.push(word(b"EXEC", last));
        }
        effects
    }

    /// Appends a command of `count` arguments.
    fn push_parts<'a>(&mut self, db: usize, count: usize, args: impl Iterator<Item = &'a [u8]>) {
        crate::aof::log::encode_parts(args, count, &mut self.bytes);
        self.commands.push((db, self.bytes.len()));
    }

    /// Puts `other`'s commands before the command at `at`.
    fn insert(&mut self, at: usize, other: Unit) {
        let at = at.min(self.commands.len());
        let offset = at.checked_sub(1).map_or(0, |i| self.commands[i].1);
        let added = other.bytes.len();
        self.bytes.splice(offset..offset, other.bytes);
        for command in &mut self.commands[at..] {
            command.1 += added;
        }
        let moved = other
            .commands
            .into_iter()
            .map(|(db, end)| (db, end + offset));
        self.commands.splice(at..at, moved);
    }

    /// Appends `other`'s commands.
    pub fn extend(&mut self, other: Unit) {
        self.insert(self.commands.len(), other);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.commands.clear();
    }
}

/// The journal, if any, and the effects of the running command.
#[derive(Default)]
pub struct Propagation {
    journal: Option<Box<dyn Journal>>,
    pending: Unit,
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
        self.push_parts(db, args.len(), args.iter().map(|a| a.as_ref()));
    }

    /// Adds an effect of the running command, given as its `count` arguments (copied).
    pub fn push_parts<'a>(
        &mut self,
        db: usize,
        count: usize,
        args: impl Iterator<Item = &'a [u8]>,
    ) {
        if self.journal.is_some() {
            self.pending.push_parts(db, count, args);
        }
    }

    /// Adds effects of the running command, already encoded.
    pub fn push_unit(&mut self, unit: Unit) {
        if self.journal.is_some() {
            self.pending.extend(unit);
        }
    }

    /// How many effects the running unit has so far.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Inserts effects at `at` (the DELs of keys that expired while the command looked them
    /// up come before the command's own effects).
    pub(crate) fn insert(&mut self, at: usize, effects: Vec<Effect>) {
        let mut unit = Unit::default();
        for effect in &effects {
            let args = effect.args.iter().map(|a| a.as_ref());
            unit.push_parts(effect.db, effect.args.len(), args);
        }
        self.pending.insert(at, unit);
    }

    /// Hands the unit's effects to the journal.
    /// Returns how many bytes of RESP it handed over.
    pub fn flush(&mut self) -> usize {
        let Some(journal) = self.journal.as_mut() else {
            return 0;
        };
        if self.pending.is_empty() {
            return 0;
        }
        journal.append(&self.pending);
        let bytes = self.pending.bytes.len();
        self.pending.clear();
        bytes
    }
}

/// Moves the keys the databases dropped on expiry into the running unit as DELs, at `at`.
pub(crate) fn take_expired(state: &mut State, at: usize) {
    if !state.keyspace.take_expiry_signal() {
        return;
    }
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

/// `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`, into
/// `unit` for database `db`: how a claim is logged (Redis's form): it sets `group`'s PEL
/// entry `id` exactly, owner, time and count, whatever the entry was before. Nothing when
/// the entry is not pending.
pub fn claim_effect(
    unit: &mut Unit,
    db: usize,
    (key, group_name): (&[u8], &[u8]),
    group: &crate::group::ConsumerGroup,
    id: crate::StreamId,
) {
    let Some(pending) = group.pel.get(&id) else {
        return;
    };
    let owner = group.owner_name(pending).map_or(&b""[..], |name| &name[..]);
    let stamp = (pending.delivery_time, pending.delivery_count);
    let shared = ((key, group_name), owner, group.last_id);
    claim_of_run(unit, db, shared, &[id], stamp);
}

/// The most IDs one logged XCLAIM names: a read of a huge COUNT is logged as several, so
/// no logged command nears a client's argument limits when a replica or Redis reads it.
const MAX_IDS_PER_CLAIM: usize = 1024;

/// How one read's new deliveries to `owner` are logged: XCLAIMs that each name up to
/// [`MAX_IDS_PER_CLAIM`] of `ids`, all delivered at the same time and count (`stamp`, as a
/// `>` read delivers), `XCLAIM key group owner 0 id1 id2 ... TIME t RETRYCOUNT n FORCE
/// JUSTID LASTID last`. Redis logs one such XCLAIM per entry; a replay of either sets the
/// same PEL entries, and this form costs an entry about 20 bytes of log instead of 130.
pub fn deliveries_effect(
    unit: &mut Unit,
    db: usize,
    (names, owner, last_id): ((&[u8], &[u8]), &[u8], crate::StreamId),
    ids: &[crate::StreamId],
    stamp: (u64, u64),
) {
    unit.bytes.reserve(ids.len() * 24 + 160);
    for run in ids.chunks(MAX_IDS_PER_CLAIM) {
        claim_of_run(unit, db, (names, owner, last_id), run, stamp);
    }
}

/// One logged XCLAIM: `XCLAIM key group owner 0 id... TIME t RETRYCOUNT n FORCE JUSTID
/// LASTID last`, `ids` all delivered at `time` and `count` times.
fn claim_of_run(
    unit: &mut Unit,
    db: usize,
    ((key, group), owner, last_id): ((&[u8], &[u8]), &[u8], crate::StreamId),
    ids: &[crate::StreamId],
    (time, count): (u64, u64),
) {
    let out = &mut unit.bytes;
    let head: [&[u8]; 5] = [b"XCLAIM", key, group, owner, b"0"];
    crate::aof::log::encode_parts(head.into_iter(), head.len() + ids.len() + 8, out);
    let mut id_text = [0u8; 41];
    for id in ids {
        crate::reply::bulk(out, id.text(&mut id_text));
    }
    let (mut time_text, mut count_text) = ([0u8; 20], [0u8; 20]);
    let tail: [&[u8]; 8] = [
        b"TIME",
        decimal(time, &mut time_text),
        b"RETRYCOUNT",
        decimal(count, &mut count_text),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        last_id.text(&mut id_text),
    ];
    for part in tail {
        crate::reply::bulk(out, part);
    }
    unit.commands.push((db, unit.bytes.len()));
}

/// `XGROUP SETID key group id ENTRIESREAD n`: the group's position after a read.
pub fn position_effect(
    unit: &mut Unit,
    db: usize,
    key: &[u8],
    group_name: &[u8],
    group: &crate::group::ConsumerGroup,
) {
    let (mut id_text, mut read_text) = ([0u8; 41], [0u8; 20]);
    let entries_read = match group.entries_read {
        Some(n) => decimal(n, &mut read_text),
        None => b"-1",
    };
    let parts: [&[u8]; 7] = [
        b"XGROUP",
        b"SETID",
        key,
        group_name,
        group.last_id.text(&mut id_text),
        b"ENTRIESREAD",
        entries_read,
    ];
    unit.push_parts(db, parts.len(), parts.into_iter());
}

/// `XGROUP CREATECONSUMER key group consumer`: a consumer a read or claim created.
pub fn consumer_effect(unit: &mut Unit, db: usize, key: &[u8], group: &[u8], consumer: &[u8]) {
    let parts: [&[u8]; 5] = [b"XGROUP", b"CREATECONSUMER", key, group, consumer];
    unit.push_parts(db, parts.len(), parts.into_iter());
}

/// `XACK key group id`: an entry that left the PEL because it was deleted from the stream.
pub fn ack_effect(unit: &mut Unit, db: usize, key: &[u8], group: &[u8], id: crate::StreamId) {
    let mut id_text = [0u8; 41];
    let parts: [&[u8]; 4] = [b"XACK", key, group, id.text(&mut id_text)];
    unit.push_parts(db, parts.len(), parts.into_iter());
}

/// A group's entries-read counter as ENTRIESREAD takes it: -1 when unknown.
fn entries_read_arg(group: &crate::group::ConsumerGroup) -> Bytes {
    Bytes::from(
        group
            .entries_read
            .map_or_else(|| "-1".to_string(), |n| n.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(effects: &[Effect]) -> Vec<(usize, String)> {
        effects
            .iter()
            .map(|e| {
                let args: Vec<String> = e
                    .args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                (e.db, args.join(" "))
            })
            .collect()
    }

    fn unit(commands: &[(usize, &str)]) -> Unit {
        let mut unit = Unit::default();
        for (db, text) in commands {
            let args: Vec<&[u8]> = text.split(' ').map(str::as_bytes).collect();
            unit.push_parts(*db, args.len(), args.into_iter());
        }
        unit
    }

    #[test]
    fn deliveries_share_one_claim() {
        let ids = [crate::StreamId::new(12, 3), crate::StreamId::new(12, 4)];
        let last = crate::StreamId::new(99, 0);
        let mut group = crate::group::ConsumerGroup::new(last, None);
        group.touch_consumer(b"alice", 0);
        group.force_pending(ids[1], 0);
        group.claim(ids[1], b"alice", 1_800, Some(2), false);
        let shared = ((&b"s"[..], &b"g"[..]), &b"alice"[..], last);
        let mut batch = Unit::default();
        deliveries_effect(&mut batch, 2, shared, &ids, (1_700, 1));
        assert_eq!(
            words(&batch.effects()),
            [(
                2,
                "XCLAIM s g alice 0 12-3 12-4 TIME 1700 RETRYCOUNT 1 FORCE JUSTID LASTID 99-0"
                    .to_string()
            )]
        );
        // A claim of one entry is the same command as a delivery of one.
        let mut one = Unit::default();
        claim_effect(&mut one, 2, (b"s", b"g"), &group, ids[1]);
        let mut single = Unit::default();
        deliveries_effect(&mut single, 2, shared, &ids[1..], (1_800, 2));
        assert_eq!(one.bytes, single.bytes);
    }

    #[test]
    fn a_huge_read_is_logged_in_bounded_claims() {
        let ids: Vec<_> = (0..2500).map(|i| crate::StreamId::new(1, i)).collect();
        let mut batch = Unit::default();
        let last = crate::StreamId::new(1, 2499);
        deliveries_effect(&mut batch, 0, ((b"s", b"g"), b"alice", last), &ids, (5, 1));
        let effects = batch.effects();
        let sizes: Vec<usize> = effects
            .iter()
            .filter(|e| &e.args[0][..] == b"XCLAIM")
            .map(|e| e.args.len() - 13)
            .collect();
        assert_eq!(sizes, [1024, 1024, 452]);
    }

    #[test]
    fn a_unit_of_one_command_is_no_transaction() {
        let one = unit(&[(0, "XADD s 1-1 f v")]);
        assert!(!one.is_transaction());
        assert_eq!(words(&one.effects()), [(0, "XADD s 1-1 f v".into())]);
    }

    #[test]
    fn inserted_commands_land_before_the_one_at_their_place() {
        let mut running = unit(&[(0, "SET a 1"), (2, "SET b 2")]);
        running.insert(1, unit(&[(1, "DEL x"), (1, "DEL y")]));
        running.insert(0, unit(&[(0, "DEL z")]));
        running.insert(9, unit(&[(3, "DEL w")]));
        let expected = [
            (0, "MULTI"),
            (0, "DEL z"),
            (0, "SET a 1"),
            (1, "DEL x"),
            (1, "DEL y"),
            (2, "SET b 2"),
            (3, "DEL w"),
            (3, "EXEC"),
        ];
        let expected: Vec<(usize, String)> =
            expected.iter().map(|(d, w)| (*d, w.to_string())).collect();
        assert_eq!(words(&running.effects()), expected);
        let dbs: Vec<usize> = running.commands().map(|(db, _)| db).collect();
        assert_eq!(dbs, [0, 0, 1, 1, 2, 3]);
    }
}
