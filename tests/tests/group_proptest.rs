//! Random sequences of consumer-group commands, run on redis-server and on Rill, replies compared.
//!
//! One stream `s`, groups `g1`/`g2`, consumers `c1`..`c3`, IDs from a small space (ms 0..10,
//! seq 0..4) so that groups overtake each other, claims hit entries that were deleted, and
//! acknowledgements hit entries another consumer owns. Commands that name existing state (an
//! entry to delete, a pending entry to claim) pick it at run time from Redis's answer to
//! `XRANGE` / `XPENDING`, so they hit far more often than random IDs would; both servers are
//! then sent the very same command.
//!
//! Each sequence starts with a few XADDs and one or two XGROUP CREATEs, so that most random
//! commands meet a group instead of a NOGROUP error. No BLOCK: blocking is the business of
//! `group_concurrency.rs`.
//!
//! What may differ, and only that, is set aside (see cases/newer_than_7_0.md):
//!
//! - the idle column of extended XPENDING: a clock reading (masked by type);
//! - XINFO GROUPS `lag` and `entries-read` (whole values: 7.4 may answer nil where 7.0 answers a
//!   number) for every group once an XDEL or XTRIM has removed something: Rill follows the 7.4
//!   lag rules for tombstones and trimmed heads (redis/redis#13338, #13473, #13958);
//! - the same two fields for a group whose counter came from an arbitrary `ENTRIESREAD` while it
//!   sat below the stream's first entry (or the stream was empty): 7.0 keeps incrementing such a
//!   counter, the fixed releases re-estimate it (#13958); or above the stream's entries-added,
//!   which Redis 8.2.2 on lowers to it. Other `ENTRIESREAD`s, and exact ones, stay compared;
//! - consumer creation: Redis 7.2 (#11099) creates the consumer named by any successful
//!   XREADGROUP, XCLAIM or XAUTOCLAIM, 7.0 only when it delivers or claims something. After each
//!   such command the oracle is brought to the 7.2 state with `XGROUP CREATECONSUMER` (sent to
//!   Redis only), so XINFO GROUPS `consumers` and CREATECONSUMER replies stay compared.
//!
//! Everything else is compared exactly. XINFO CONSUMERS and XINFO STREAM FULL are left out:
//! their shape changed after 7.0. A failure shrinks to a minimal sequence, printed with Redis's
//! replies and as a case block. 64 sequences by default; `PROPTEST_CASES=N` overrides;
//! `RILL_DIFF_DUMP=1` prints every sequence; `RILL_DIFF_SELFTEST=1` runs Redis against Redis
//! to validate the masking.

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use rill_tests::case::Action;
use rill_tests::diff::{describe, Duel, Servers, DUMP_ENV};
use rill_tests::mask::{parse_path, Masking};
use rill_tests::reply::Reply;
use rill_tests::rill::selftest;
use std::collections::BTreeSet;
use std::io::Write;

/// The one stream every command targets.
const KEY: &str = "s";

const GROUPS: [&str; 2] = ["g1", "g2"];
const CONSUMERS: [&str; 3] = ["c1", "c2", "c3"];

/// A stream ID in the small space.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Id(u64, u64);

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// An ID argument: literal, or chosen at run time among what Redis holds.
#[derive(Debug, Clone)]
enum IdRef {
    Lit(Id),
    /// The n-th (modulo) entry of the group's PEL per `XPENDING`; the literal when it is empty.
    Pending(usize, Id),
    /// The n-th (modulo) entry of the stream per `XRANGE`; the literal when it is empty.
    Entry(usize, Id),
}

/// How XADD names its entry.
#[derive(Debug, Clone)]
enum NewId {
    /// Just past the largest ID named so far (same ms with a higher seq, or the next ms).
    Forward { dms: u64, step: u64 },
    /// Anywhere: collisions and "equal or smaller than the top item" errors.
    Explicit(Id),
}

/// Where XGROUP CREATE / SETID put the group.
#[derive(Debug, Clone)]
enum Start {
    Dollar,
    Zero,
    At(IdRef),
}

/// XGROUP CREATE / SETID `ENTRIESREAD`.
#[derive(Debug, Clone)]
enum EntriesRead {
    /// Any small number, often not the group's true position (see the module doc).
    Arbitrary(u64),
    /// The true number of entries up to the start ID, computed from Redis's XRANGE.
    Exact,
}

/// XPENDING / range bounds.
#[derive(Debug, Clone)]
enum Bound {
    Min,
    Max,
    At(IdRef),
    Exclusive(Id),
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        id: NewId,
        fields: u8,
    },
    Create {
        group: usize,
        start: Start,
        mkstream: bool,
        entries_read: Option<EntriesRead>,
    },
    SetId {
        group: usize,
        start: Start,
        entries_read: Option<EntriesRead>,
    },
    Destroy {
        group: usize,
    },
    CreateConsumer {
        group: usize,
        consumer: usize,
    },
    DelConsumer {
        group: usize,
        consumer: usize,
    },
    ReadNew {
        group: usize,
        consumer: usize,
        count: Option<u64>,
        noack: bool,
    },
    ReadHistory {
        group: usize,
        consumer: usize,
        /// `None`: from `0`.
        after: Option<IdRef>,
        count: Option<u64>,
    },
    Ack {
        group: usize,
        ids: Vec<IdRef>,
    },
    Claim {
        group: usize,
        consumer: usize,
        ids: Vec<IdRef>,
        justid: bool,
        force: bool,
        retrycount: Option<u64>,
        lastid: Option<Id>,
    },
    AutoClaim {
        group: usize,
        consumer: usize,
        /// `None`: from `0-0`.
        start: Option<IdRef>,
        count: Option<u64>,
        justid: bool,
    },
    Del(Vec<IdRef>),
    /// XTRIM, exact: `MAXLEN [=] n` or `MINID [=] id`.
    Trim {
        maxlen: Option<u64>,
        minid: Option<IdRef>,
        equals: bool,
    },
    PendingSummary {
        group: usize,
    },
    PendingRange {
        group: usize,
        idle0: bool,
        start: Bound,
        end: Bound,
        count: u64,
        consumer: Option<usize>,
    },
    InfoGroups,
}

/// State a sequence carries between commands: the ID cursor and what the masking depends on.
#[derive(Debug, Default)]
struct Run {
    /// The largest ID any command named, for `Forward` XADDs.
    cursor: Option<Id>,
    /// XDEL or XTRIM ran: lag and entries-read follow 7.4 rules from here on, for every group.
    deleted: bool,
    /// Groups whose entries-read counter came from an arbitrary `ENTRIESREAD` while the group
    /// sat below the stream's first entry (or the stream was empty): 7.0 keeps incrementing
    /// such a counter, later releases re-estimate it (redis/redis#13473, #13958).
    blurred: BTreeSet<usize>,
}

impl Run {
    fn follow(&mut self, id: Id) {
        if self.cursor.is_none_or(|c| id > c) {
            self.cursor = Some(id);
        }
    }

    /// Whether XINFO GROUPS may show `group`'s lag and entries-read as 7.0 does.
    fn lag_comparable(&self, group: &[u8]) -> bool {
        !self.deleted && !self.blurred.iter().any(|g| GROUPS[*g].as_bytes() == group)
    }
}

fn parse_id(text: &[u8]) -> Option<Id> {
    let text = std::str::from_utf8(text).ok()?;
    let (ms, seq) = text.split_once('-')?;
    Some(Id(ms.parse().ok()?, seq.parse().ok()?))
}

/// IDs in the first column of an array of arrays (XRANGE entries, XPENDING rows).
fn first_column(reply: &Reply) -> Vec<Id> {
    let Reply::Array(rows) = reply else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|row| match row {
            Reply::Array(cols) => cols.first().and_then(Reply::as_text).and_then(parse_id),
            _ => None,
        })
        .collect()
}

fn args_of(words: &[String]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Asks Redis (only) for state that decides an argument.
fn ask(duel: &mut Duel, words: &[&str]) -> Reply {
    let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
    duel.ask_redis(&args)
}

fn resolve(duel: &mut Duel, group: usize, id: &IdRef) -> Id {
    let (n, fallback, ids) = match id {
        IdRef::Lit(id) => return *id,
        IdRef::Pending(n, fallback) => (
            n,
            fallback,
            first_column(&ask(
                duel,
                &["XPENDING", KEY, GROUPS[group], "-", "+", "1000"],
            )),
        ),
        IdRef::Entry(n, fallback) => (
            n,
            fallback,
            first_column(&ask(duel, &["XRANGE", KEY, "-", "+"])),
        ),
    };
    if ids.is_empty() {
        *fallback
    } else {
        ids[n % ids.len()]
    }
}

/// How many entries Redis holds up to `id` (all of them for `None`).
fn entries_up_to(duel: &mut Duel, id: Option<Id>) -> u64 {
    let end = id.map_or("+".to_string(), |id| id.to_string());
    match ask(duel, &["XRANGE", KEY, "-", &end]) {
        Reply::Array(items) => items.len() as u64,
        _ => 0,
    }
}

/// Pushes the start ID (and ENTRIESREAD) of XGROUP CREATE / SETID; returns the resolved start
/// (`None` for `$`).
fn push_start(
    duel: &mut Duel,
    group: usize,
    start: &Start,
    er: &Option<EntriesRead>,
    words: &mut Vec<String>,
) -> Option<Id> {
    let start_id = match start {
        Start::Dollar => {
            words.push("$".into());
            None
        }
        Start::Zero => {
            words.push("0".into());
            Some(Id(0, 0))
        }
        Start::At(id) => {
            let id = resolve(duel, group, id);
            words.push(id.to_string());
            Some(id)
        }
    };
    match er {
        None => {}
        Some(EntriesRead::Arbitrary(n)) => words.extend(["ENTRIESREAD".into(), n.to_string()]),
        Some(EntriesRead::Exact) => {
            let n = entries_up_to(duel, start_id);
            words.extend(["ENTRIESREAD".into(), n.to_string()]);
        }
    }
    start_id
}

/// The stream's entries-added counter, as Redis reports it.
fn entries_added(duel: &mut Duel) -> u64 {
    let Reply::Array(fields) = ask(duel, &["XINFO", "STREAM", KEY]) else {
        return 0;
    };
    fields
        .chunks(2)
        .find(|p| p[0].as_text() == Some(b"entries-added".as_slice()))
        .and_then(|p| match p.get(1) {
            Some(Reply::Integer(n)) => Some(*n as u64),
            _ => None,
        })
        .unwrap_or(0)
}

/// Records whether a group's new counter is one that 7.0 and later releases treat differently.
fn set_counter_origin(
    duel: &mut Duel,
    run: &mut Run,
    group: usize,
    start: Option<Id>,
    er: &Option<EntriesRead>,
) {
    let first = first_column(&ask(duel, &["XRANGE", KEY, "-", "+", "COUNT", "1"]))
        .first()
        .copied();
    let below_first = match (first, start) {
        (None, _) => true,        // empty stream: the first entry will be above the group
        (Some(_), None) => false, // `$` on a non-empty stream: the last entry
        (Some(first), Some(start)) => start < first,
    };
    // Redis 8.2.2 on lowers an ENTRIESREAD above entries-added to it; 7.0 keeps the value.
    let over_added = match er {
        Some(EntriesRead::Arbitrary(n)) => *n > entries_added(duel),
        _ => false,
    };
    if matches!(er, Some(EntriesRead::Arbitrary(_))) && (below_first || over_added) {
        run.blurred.insert(group);
    } else {
        run.blurred.remove(&group);
    }
}

impl Op {
    /// The command's words, resolving run-time IDs against Redis, and updating `run`.
    fn command(&self, duel: &mut Duel, run: &mut Run) -> Vec<String> {
        let mut w: Vec<String> = Vec::new();
        let s = |x: &str| x.to_string();
        match self {
            Op::Add { id, fields } => {
                w.extend([s("XADD"), s(KEY)]);
                let id = match id {
                    NewId::Forward { dms, step } => match run.cursor {
                        None => Id(*dms + 1, *step),
                        Some(c) if *dms == 0 => Id(c.0, c.1 + step + 1),
                        Some(c) => Id(c.0 + dms, *step),
                    },
                    NewId::Explicit(id) => *id,
                };
                run.follow(id);
                w.push(id.to_string());
                for i in 0..*fields {
                    w.extend([format!("f{i}"), format!("v{i}")]);
                }
            }
            Op::Create {
                group,
                start,
                mkstream,
                entries_read,
            } => {
                w.extend([s("XGROUP"), s("CREATE"), s(KEY), s(GROUPS[*group])]);
                let start = push_start(duel, *group, start, entries_read, &mut w);
                if *mkstream {
                    w.push(s("MKSTREAM"));
                }
                // CREATE of an existing group fails (BUSYGROUP) and changes nothing.
                if !group_exists(duel, *group) {
                    set_counter_origin(duel, run, *group, start, entries_read);
                }
            }
            Op::SetId {
                group,
                start,
                entries_read,
            } => {
                w.extend([s("XGROUP"), s("SETID"), s(KEY), s(GROUPS[*group])]);
                let start = push_start(duel, *group, start, entries_read, &mut w);
                set_counter_origin(duel, run, *group, start, entries_read);
            }
            Op::Destroy { group } => {
                w.extend([s("XGROUP"), s("DESTROY"), s(KEY), s(GROUPS[*group])]);
                run.blurred.remove(group);
            }
            Op::CreateConsumer { group, consumer } => w.extend([
                s("XGROUP"),
                s("CREATECONSUMER"),
                s(KEY),
                s(GROUPS[*group]),
                s(CONSUMERS[*consumer]),
            ]),
            Op::DelConsumer { group, consumer } => w.extend([
                s("XGROUP"),
                s("DELCONSUMER"),
                s(KEY),
                s(GROUPS[*group]),
                s(CONSUMERS[*consumer]),
            ]),
            Op::ReadNew {
                group,
                consumer,
                count,
                noack,
            } => {
                w.extend([
                    s("XREADGROUP"),
                    s("GROUP"),
                    s(GROUPS[*group]),
                    s(CONSUMERS[*consumer]),
                ]);
                if let Some(n) = count {
                    w.extend([s("COUNT"), n.to_string()]);
                }
                if *noack {
                    w.push(s("NOACK"));
                }
                w.extend([s("STREAMS"), s(KEY), s(">")]);
            }
            Op::ReadHistory {
                group,
                consumer,
                after,
                count,
            } => {
                w.extend([
                    s("XREADGROUP"),
                    s("GROUP"),
                    s(GROUPS[*group]),
                    s(CONSUMERS[*consumer]),
                ]);
                if let Some(n) = count {
                    w.extend([s("COUNT"), n.to_string()]);
                }
                let after = match after {
                    None => s("0"),
                    Some(id) => resolve(duel, *group, id).to_string(),
                };
                w.extend([s("STREAMS"), s(KEY), after]);
            }
            Op::Ack { group, ids } => {
                w.extend([s("XACK"), s(KEY), s(GROUPS[*group])]);
                for id in ids {
                    w.push(resolve(duel, *group, id).to_string());
                }
            }
            Op::Claim {
                group,
                consumer,
                ids,
                justid,
                force,
                retrycount,
                lastid,
            } => {
                w.extend([
                    s("XCLAIM"),
                    s(KEY),
                    s(GROUPS[*group]),
                    s(CONSUMERS[*consumer]),
                    s("0"),
                ]);
                for id in ids {
                    w.push(resolve(duel, *group, id).to_string());
                }
                if let Some(n) = retrycount {
                    w.extend([s("RETRYCOUNT"), n.to_string()]);
                }
                if *force {
                    w.push(s("FORCE"));
                }
                if *justid {
                    w.push(s("JUSTID"));
                }
                if let Some(id) = lastid {
                    w.extend([s("LASTID"), id.to_string()]);
                }
            }
            Op::AutoClaim {
                group,
                consumer,
                start,
                count,
                justid,
            } => {
                w.extend([
                    s("XAUTOCLAIM"),
                    s(KEY),
                    s(GROUPS[*group]),
                    s(CONSUMERS[*consumer]),
                    s("0"),
                ]);
                w.push(match start {
                    None => s("0-0"),
                    Some(id) => resolve(duel, *group, id).to_string(),
                });
                if let Some(n) = count {
                    w.extend([s("COUNT"), n.to_string()]);
                }
                if *justid {
                    w.push(s("JUSTID"));
                }
            }
            Op::Del(ids) => {
                w.extend([s("XDEL"), s(KEY)]);
                for id in ids {
                    w.push(resolve(duel, 0, id).to_string());
                }
            }
            Op::Trim {
                maxlen,
                minid,
                equals,
            } => {
                w.extend([s("XTRIM"), s(KEY)]);
                let (strategy, threshold) = match (maxlen, minid) {
                    (Some(n), _) => ("MAXLEN", n.to_string()),
                    (None, Some(id)) => ("MINID", resolve(duel, 0, id).to_string()),
                    (None, None) => ("MAXLEN", s("0")),
                };
                w.push(s(strategy));
                if *equals {
                    w.push(s("="));
                }
                w.push(threshold);
            }
            Op::PendingSummary { group } => w.extend([s("XPENDING"), s(KEY), s(GROUPS[*group])]),
            Op::PendingRange {
                group,
                idle0,
                start,
                end,
                count,
                consumer,
            } => {
                w.extend([s("XPENDING"), s(KEY), s(GROUPS[*group])]);
                if *idle0 {
                    w.extend([s("IDLE"), s("0")]);
                }
                for bound in [start, end] {
                    w.push(match bound {
                        Bound::Min => s("-"),
                        Bound::Max => s("+"),
                        Bound::At(id) => resolve(duel, *group, id).to_string(),
                        Bound::Exclusive(id) => format!("({id}"),
                    });
                }
                w.push(count.to_string());
                if let Some(c) = consumer {
                    w.push(s(CONSUMERS[*c]));
                }
            }
            Op::InfoGroups => w.extend([s("XINFO"), s("GROUPS"), s(KEY)]),
        }
        w
    }

    /// The consumer an XREADGROUP / XCLAIM / XAUTOCLAIM acts for.
    fn names_consumer(&self) -> Option<usize> {
        match self {
            Op::ReadNew { consumer, .. }
            | Op::ReadHistory { consumer, .. }
            | Op::Claim { consumer, .. }
            | Op::AutoClaim { consumer, .. } => Some(*consumer),
            _ => None,
        }
    }

    /// The group a group command addresses.
    fn group(&self) -> Option<usize> {
        match self {
            Op::Create { group, .. }
            | Op::SetId { group, .. }
            | Op::Destroy { group }
            | Op::CreateConsumer { group, .. }
            | Op::DelConsumer { group, .. }
            | Op::ReadNew { group, .. }
            | Op::ReadHistory { group, .. }
            | Op::Ack { group, .. }
            | Op::Claim { group, .. }
            | Op::AutoClaim { group, .. }
            | Op::PendingSummary { group }
            | Op::PendingRange { group, .. } => Some(*group),
            Op::Add { .. } | Op::Del(_) | Op::Trim { .. } | Op::InfoGroups => None,
        }
    }

    /// What may legitimately differ in this command's reply, given the run so far.
    fn masking(&self) -> Masking {
        let paths: Vec<&str> = match self {
            Op::PendingRange { .. } => vec!["*.2"],
            _ => vec![],
        };
        Masking {
            paths: paths
                .into_iter()
                .map(|p| parse_path(p).unwrap_or_else(|e| panic!("bad mask path {p}: {e}")))
                .collect(),
            ..Masking::default()
        }
    }
}

/// Whether Redis has the group (so CREATE will fail with BUSYGROUP).
fn group_exists(duel: &mut Duel, group: usize) -> bool {
    match ask(duel, &["XINFO", "GROUPS", KEY]) {
        Reply::Array(groups) => groups.iter().any(|g| match g {
            Reply::Array(fields) => fields.chunks(2).any(|pair| {
                pair[0].as_text() == Some(b"name")
                    && pair.get(1).and_then(Reply::as_text) == Some(GROUPS[group].as_bytes())
            }),
            _ => false,
        }),
        _ => false,
    }
}

fn id() -> impl Strategy<Value = Id> {
    (0u64..10, 0u64..4).prop_map(|(ms, seq)| Id(ms, seq))
}

fn id_ref() -> impl Strategy<Value = IdRef> {
    prop_oneof![
        2 => id().prop_map(IdRef::Lit),
        3 => (0usize..8, id()).prop_map(|(n, id)| IdRef::Pending(n, id)),
        3 => (0usize..8, id()).prop_map(|(n, id)| IdRef::Entry(n, id)),
    ]
}

fn entry_ref() -> impl Strategy<Value = IdRef> {
    prop_oneof![
        1 => id().prop_map(IdRef::Lit),
        4 => (0usize..8, id()).prop_map(|(n, id)| IdRef::Entry(n, id)),
    ]
}

fn group() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => Just(1usize)]
}

fn consumer() -> impl Strategy<Value = usize> {
    0usize..CONSUMERS.len()
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        2 => Just(Start::Dollar),
        2 => Just(Start::Zero),
        3 => entry_ref().prop_map(Start::At),
    ]
}

fn entries_read() -> impl Strategy<Value = Option<EntriesRead>> {
    prop_oneof![
        3 => Just(None),
        2 => (0u64..12).prop_map(|n| Some(EntriesRead::Arbitrary(n))),
        2 => Just(Some(EntriesRead::Exact)),
    ]
}

fn bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        3 => Just(Bound::Min),
        3 => Just(Bound::Max),
        3 => id_ref().prop_map(Bound::At),
        1 => id().prop_map(Bound::Exclusive),
    ]
}

fn count() -> impl Strategy<Value = Option<u64>> {
    prop::option::weighted(0.4, 0u64..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => add(),
        4 => (group(), start(), prop::bool::weighted(0.3), entries_read())
            .prop_map(|(group, start, mkstream, entries_read)| Op::Create { group, start, mkstream, entries_read }),
        2 => (group(), start(), entries_read())
            .prop_map(|(group, start, entries_read)| Op::SetId { group, start, entries_read }),
        1 => group().prop_map(|group| Op::Destroy { group }),
        1 => (group(), consumer()).prop_map(|(group, consumer)| Op::CreateConsumer { group, consumer }),
        1 => (group(), consumer()).prop_map(|(group, consumer)| Op::DelConsumer { group, consumer }),
        8 => (group(), consumer(), count(), prop::bool::weighted(0.15))
            .prop_map(|(group, consumer, count, noack)| Op::ReadNew { group, consumer, count, noack }),
        3 => (group(), consumer(), prop::option::weighted(0.4, id_ref()), count())
            .prop_map(|(group, consumer, after, count)| Op::ReadHistory { group, consumer, after, count }),
        4 => (group(), prop::collection::vec(id_ref(), 1..4)).prop_map(|(group, ids)| Op::Ack { group, ids }),
        4 => (
            group(),
            consumer(),
            prop::collection::vec(id_ref(), 1..4),
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop::option::weighted(0.2, 0u64..4),
            prop::option::weighted(0.1, id()),
        )
            .prop_map(|(group, consumer, ids, justid, force, retrycount, lastid)| Op::Claim {
                group, consumer, ids, justid, force, retrycount, lastid,
            }),
        3 => (group(), consumer(), prop::option::weighted(0.4, id_ref()), prop::option::weighted(0.5, 1u64..4), any::<bool>())
            .prop_map(|(group, consumer, start, count, justid)| Op::AutoClaim { group, consumer, start, count, justid }),
        2 => prop::collection::vec(entry_ref(), 1..3).prop_map(Op::Del),
        1 => (prop::option::weighted(0.5, 0u64..6), entry_ref(), any::<bool>())
            .prop_map(|(maxlen, minid, equals)| Op::Trim { minid: maxlen.is_none().then_some(minid), maxlen, equals }),
        2 => group().prop_map(|group| Op::PendingSummary { group }),
        3 => (group(), prop::bool::weighted(0.1), bound(), bound(), 0u64..6, prop::option::weighted(0.4, consumer()))
            .prop_map(|(group, idle0, start, end, count, consumer)| Op::PendingRange { group, idle0, start, end, count, consumer }),
        3 => Just(Op::InfoGroups),
    ]
}

fn add() -> impl Strategy<Value = Op> {
    (
        prop_oneof![
            5 => (0u64..2, 0u64..2).prop_map(|(dms, step)| NewId::Forward { dms, step }),
            1 => id().prop_map(NewId::Explicit),
        ],
        1u8..3,
    )
        .prop_map(|(id, fields)| Op::Add { id, fields })
}

/// A few entries and one or two groups first, so that most random commands meet a group
/// (without this, half the sequence is NOGROUP errors), then up to 36 random commands.
fn sequence() -> impl Strategy<Value = Vec<Op>> {
    let create = |group| {
        (start(), entries_read()).prop_map(move |(start, entries_read)| Op::Create {
            group,
            start,
            mkstream: true,
            entries_read,
        })
    };
    (
        prop::collection::vec(add(), 0..6),
        prop::option::weighted(0.9, create(0)),
        prop::option::weighted(0.4, create(1)),
        prop::collection::vec(op(), 1..36),
    )
        .prop_map(|(adds, g1, g2, ops)| adds.into_iter().chain(g1).chain(g2).chain(ops).collect())
}

/// Replaces `lag` and `entries-read` of the groups whose counters 7.0 computes by older rules.
/// Whole values are replaced, type included: 7.4 answers nil where 7.0 answers a number.
fn blur_lag(reply: Reply, run: &Run) -> Reply {
    let blur_group = |fields: Vec<Reply>| {
        let name = fields
            .chunks(2)
            .find(|pair| pair[0].as_text() == Some(b"name"))
            .and_then(|pair| pair.get(1).and_then(Reply::as_text))
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        if run.lag_comparable(&name) {
            return fields;
        }
        let mut fields = fields;
        for i in (0..fields.len().saturating_sub(1)).step_by(2) {
            if matches!(fields[i].as_text(), Some(b"lag" | b"entries-read")) {
                fields[i + 1] = Reply::Masked("newer-than-7.0".into());
            }
        }
        fields
    };
    match reply {
        Reply::Array(groups) => Reply::Array(
            groups
                .into_iter()
                .map(|g| match g {
                    Reply::Array(fields) => Reply::Array(blur_group(fields)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

/// One command on both servers: (Redis's reply, the other's, whether they match).
fn exchange(duel: &mut Duel, op: &Op, run: &Run, args: Vec<Vec<u8>>) -> (Reply, Reply, bool) {
    if matches!(op, Op::InfoGroups) {
        let redis = blur_lag(duel.ask_redis(&args), run);
        let other = blur_lag(duel.ask_other(&args), run);
        let matches = redis == other;
        return (redis, other, matches);
    }
    let outcome = duel.exchange(0, &Action::Command(args), &op.masking());
    (outcome.redis, outcome.other, outcome.matches)
}

/// Runs one sequence on fresh state and fails at the first reply that differs.
fn run_sequence(servers: &Servers, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut duel = Duel::new(servers, false);
    let flush = Action::Command(vec![b"FLUSHALL".to_vec()]);
    let outcome = duel.exchange(0, &flush, &Masking::default());
    if !outcome.matches {
        return Err(TestCaseError::fail(format!(
            "FLUSHALL differs: redis {} / other {}",
            outcome.redis, outcome.other
        )));
    }
    let mut run = Run::default();
    let mut transcript = String::new();
    let mut case = String::from("### proptest: shrunk failure\n");
    for (i, op) in ops.iter().enumerate() {
        let words = op.command(&mut duel, &mut run);
        let args = args_of(&words);
        let line = describe(&Action::Command(args.clone()));
        let (redis, other, matches) = exchange(&mut duel, op, &run, args);
        if matches!(op, Op::Del(_) | Op::Trim { .. }) && !matches!(redis, Reply::Integer(0)) {
            // From the first entry actually removed, lag follows the 7.4 rules.
            run.deleted = true;
        }
        if let Some(consumer) = op.names_consumer() {
            if !redis.is_error() {
                // Redis 7.2+ (and Rill) create the consumer named by a successful XREADGROUP,
                // XCLAIM or XAUTOCLAIM even when nothing was read or claimed; 7.0 only when
                // something was (newer_than_7_0.md). Bring the oracle to the newer state so
                // that later replies (XINFO GROUPS `consumers`, CREATECONSUMER) stay comparable.
                let group = GROUPS[op.group().unwrap_or(0)];
                let create = ["XGROUP", "CREATECONSUMER", KEY, group, CONSUMERS[consumer]];
                ask(&mut duel, &create);
                if selftest() {
                    // Redis 7.0 stands in for Rill: it needs the same nudge.
                    duel.ask_other(&args_of(&create.map(String::from)));
                }
            }
        }
        match op {
            Op::PendingRange { .. } => case.push_str("!mask-path=*.2 "),
            Op::InfoGroups if redis.to_string().contains("newer-than-7.0") => {
                case.push_str("# lag / entries-read of some groups not comparable with 7.0 here\n")
            }
            _ => {}
        }
        case.push_str(&format!("{line}\n"));
        transcript.push_str(&format!("{:>3} {line}  => {redis}\n", i + 1));
        if !matches {
            return Err(TestCaseError::fail(format!(
                "command {} differs\n  command: {line}\n  redis:   {redis}\n  other:   {other}\n\
                 transcript (Redis's replies):\n{transcript}\nas a case (paste into tests/cases/):\n{case}",
                i + 1,
            )));
        }
    }
    if std::env::var(DUMP_ENV).as_deref() == Ok("1") {
        eprintln!("{transcript}");
    }
    Ok(())
}

#[test]
fn random_consumer_group_sequences_match_redis() {
    let Some(servers) = Servers::start() else {
        return; // redis-server missing: the oracle printed a loud warning.
    };
    let config = rill_tests::property::config();
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&sequence(), |ops| run_sequence(&servers, &ops));
    let _ = writeln!(
        std::io::stderr(),
        "group proptest: {cases} sequences against {}",
        servers.under_test.label()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, minimal)) => panic!(
            "Rill differs from Redis on a generated sequence of consumer-group commands \
             ({} commands after shrinking).\n{reason}",
            minimal.len()
        ),
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
}
