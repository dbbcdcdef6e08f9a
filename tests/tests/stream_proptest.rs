//! Random sequences of stream commands, run on redis-server and on Rill, replies compared.
//!
//! Hand-written cases check what someone thought of; this checks the interactions nobody wrote
//! down: trims after deletes, XSETID after trims, approximate trims across node boundaries.
//! IDs come from a deliberately small space (ms 0..20, seq 0..5) so that collisions, "equal or
//! smaller than the top item" errors and exact-boundary ranges happen often; most XADDs step
//! just past the previous one so streams still grow. Node size is drawn
//! per sequence (`stream-node-max-entries` 3, 5 or 100) so `~` trims actually remove nodes.
//!
//! A failure shrinks to a minimal sequence and is printed in case-file syntax, ready to paste
//! into `tests/cases/`. 64 sequences by default; `PROPTEST_CASES=N` overrides.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rill_tests::case::Action;
use rill_tests::diff::{describe, Duel, Servers};
use rill_tests::mask::Masking;
use rill_tests::reply::Reply;

/// The one stream every command targets (plus a missing key now and then).
const KEY: &str = "s";

/// A stream ID in the small space.
#[derive(Debug, Clone, Copy)]
struct Id(u64, u64);

impl Id {
    /// Moves this cursor up to `other` if `other` is larger.
    fn follow(&mut self, other: Id) {
        if (other.0, other.1) > (self.0, self.1) {
            *self = other;
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// How XADD names its entry.
#[derive(Debug, Clone)]
enum NewId {
    /// After the largest id named so far: `dms` ms later with sequence `step`, or (dms 0) in the
    /// same ms with the sequence `step + 1` higher. Most entries are added like this, so streams
    /// grow instead of drowning in "equal or smaller than the target stream top item" errors.
    Forward {
        dms: u64,
        step: u64,
    },
    /// Anywhere in the small space: collisions and ordering errors.
    Explicit(Id),
    MsOnly(u64),
    Partial(u64),
    Auto,
}

/// A trimming clause for XADD or XTRIM.
#[derive(Debug, Clone)]
struct Trim {
    /// `MAXLEN n` or `MINID id` (the id written in full or as ms only).
    maxlen: Option<u64>,
    minid: Option<(Id, bool)>,
    /// `None`: no operator; `Some(false)`: `=`; `Some(true)`: `~`.
    approx: Option<bool>,
    /// `LIMIT n` (an error without `~`, which is worth testing too).
    limit: Option<u64>,
}

/// A range bound for XRANGE/XREVRANGE.
#[derive(Debug, Clone)]
enum Bound {
    Min,
    Max,
    Full(Id),
    Ms(u64),
    Exclusive(Id),
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        nomkstream: bool,
        trim: Option<Trim>,
        id: NewId,
        fields: u8,
    },
    Del(Vec<Id>),
    TrimOnly(Trim),
    Range {
        rev: bool,
        start: Bound,
        end: Bound,
        count: Option<i64>,
    },
    SetId {
        id: Id,
        entries_added: Option<u64>,
        max_deleted: Option<Id>,
    },
    Len,
    Info,
}

impl Op {
    /// The command's arguments. `cursor` approximates the stream's top id (the largest id any
    /// earlier command named) so that `Forward` ids land just past it.
    fn args(&self, cursor: &mut Id) -> Vec<Vec<u8>> {
        let mut args: Vec<String> = Vec::new();
        match self {
            Op::Add {
                nomkstream,
                trim,
                id,
                fields,
            } => {
                args.extend(["XADD".into(), KEY.into()]);
                if *nomkstream {
                    args.push("NOMKSTREAM".into());
                }
                if let Some(trim) = trim {
                    trim.push_args(&mut args);
                }
                args.push(match id {
                    NewId::Forward { dms, step } => {
                        *cursor = match dms {
                            0 => Id(cursor.0, cursor.1 + step + 1),
                            _ => Id(cursor.0 + dms, *step),
                        };
                        cursor.to_string()
                    }
                    NewId::Explicit(id) => {
                        cursor.follow(*id);
                        id.to_string()
                    }
                    NewId::MsOnly(ms) => {
                        cursor.follow(Id(*ms, 0));
                        ms.to_string()
                    }
                    NewId::Partial(ms) => {
                        cursor.follow(Id(*ms, 0));
                        format!("{ms}-*")
                    }
                    NewId::Auto => "*".into(),
                });
                for i in 0..*fields {
                    args.extend([format!("f{i}"), format!("v{i}")]);
                }
            }
            Op::Del(ids) => {
                args.extend(["XDEL".into(), KEY.into()]);
                args.extend(ids.iter().map(Id::to_string));
            }
            Op::TrimOnly(trim) => {
                args.extend(["XTRIM".into(), KEY.into()]);
                trim.push_args(&mut args);
            }
            Op::Range {
                rev,
                start,
                end,
                count,
            } => {
                args.push(if *rev { "XREVRANGE" } else { "XRANGE" }.into());
                args.push(KEY.into());
                let (first, second) = if *rev { (end, start) } else { (start, end) };
                args.extend([first.render(), second.render()]);
                if let Some(count) = count {
                    args.extend(["COUNT".into(), count.to_string()]);
                }
            }
            Op::SetId {
                id,
                entries_added,
                max_deleted,
            } => {
                cursor.follow(*id);
                args.extend(["XSETID".into(), KEY.into(), id.to_string()]);
                if let Some(n) = entries_added {
                    args.extend(["ENTRIESADDED".into(), n.to_string()]);
                }
                if let Some(m) = max_deleted {
                    args.extend(["MAXDELETEDID".into(), m.to_string()]);
                }
            }
            Op::Len => args.extend(["XLEN".into(), KEY.into()]),
            Op::Info => args.extend(["XINFO".into(), "STREAM".into(), KEY.into()]),
        }
        args.into_iter().map(String::into_bytes).collect()
    }

    /// XINFO's `radix-tree-nodes` is Redis's rax internals; everything else must match.
    fn masking(&self) -> Masking {
        match self {
            Op::Info => Masking {
                fields: vec![b"radix-tree-nodes".to_vec()],
                ..Masking::default()
            },
            _ => Masking::default(),
        }
    }
}

impl Trim {
    fn push_args(&self, args: &mut Vec<String>) {
        if let Some(n) = self.maxlen {
            args.push("MAXLEN".into());
            self.push_operator(args);
            args.push(n.to_string());
        } else if let Some((id, ms_only)) = self.minid {
            args.push("MINID".into());
            self.push_operator(args);
            args.push(if ms_only {
                id.0.to_string()
            } else {
                id.to_string()
            });
        }
        if let Some(limit) = self.limit {
            args.extend(["LIMIT".into(), limit.to_string()]);
        }
    }

    fn push_operator(&self, args: &mut Vec<String>) {
        match self.approx {
            Some(true) => args.push("~".into()),
            Some(false) => args.push("=".into()),
            None => {}
        }
    }
}

impl Bound {
    fn render(&self) -> String {
        match self {
            Bound::Min => "-".into(),
            Bound::Max => "+".into(),
            Bound::Full(id) => id.to_string(),
            Bound::Ms(ms) => ms.to_string(),
            Bound::Exclusive(id) => format!("({id}"),
        }
    }
}

fn id() -> impl Strategy<Value = Id> {
    (0u64..20, 0u64..5).prop_map(|(ms, seq)| Id(ms, seq))
}

fn new_id() -> impl Strategy<Value = NewId> {
    prop_oneof![
        30 => (0u64..2, 0u64..3).prop_map(|(dms, step)| NewId::Forward { dms, step }),
        10 => id().prop_map(NewId::Explicit),
        4 => (0u64..20).prop_map(NewId::MsOnly),
        8 => (0u64..20).prop_map(NewId::Partial),
        1 => Just(NewId::Auto),
    ]
}

fn trim() -> impl Strategy<Value = Trim> {
    let strategy = prop_oneof![
        (0u64..12).prop_map(|n| (Some(n), None)),
        (id(), any::<bool>()).prop_map(|(id, ms_only)| (None, Some((id, ms_only)))),
    ];
    let approx = prop_oneof![2 => Just(None), 1 => Just(Some(false)), 3 => Just(Some(true))];
    let limit = prop_oneof![4 => Just(None), 1 => (0u64..8).prop_map(Some)];
    (strategy, approx, limit).prop_map(|((maxlen, minid), approx, limit)| Trim {
        maxlen,
        minid,
        approx,
        limit,
    })
}

fn bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        2 => Just(Bound::Min),
        2 => Just(Bound::Max),
        4 => id().prop_map(Bound::Full),
        2 => (0u64..20).prop_map(Bound::Ms),
        3 => id().prop_map(Bound::Exclusive),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (prop::bool::weighted(0.1), prop::option::weighted(0.3, trim()), new_id(), 1u8..4)
            .prop_map(|(nomkstream, trim, id, fields)| Op::Add { nomkstream, trim, id, fields }),
        3 => prop::collection::vec(id(), 1..4).prop_map(Op::Del),
        3 => trim().prop_map(Op::TrimOnly),
        4 => (any::<bool>(), bound(), bound(), prop::option::weighted(0.4, -1i64..5))
            .prop_map(|(rev, start, end, count)| Op::Range { rev, start, end, count }),
        2 => (id(), prop::option::weighted(0.3, 0u64..30), prop::option::weighted(0.3, id()))
            .prop_map(|(id, entries_added, max_deleted)| Op::SetId { id, entries_added, max_deleted }),
        1 => Just(Op::Len),
        2 => Just(Op::Info),
    ]
}

/// One generated sequence: the node size it runs with, and the commands.
#[derive(Debug, Clone)]
struct Sequence {
    node_max_entries: u32,
    ops: Vec<Op>,
}

impl Sequence {
    /// Each op with its arguments, `Forward` ids resolved in order.
    fn commands(&self) -> Vec<(&Op, Vec<Vec<u8>>)> {
        let mut cursor = Id(0, 0);
        self.ops
            .iter()
            .map(|op| (op, op.args(&mut cursor)))
            .collect()
    }

    /// The sequence as a case block, so a shrunk failure can be pasted into `tests/cases/`.
    fn as_case(&self) -> String {
        let mut out = format!(
            "### proptest: shrunk failure\nCONFIG SET stream-node-max-entries {}\n",
            self.node_max_entries
        );
        for (op, args) in self.commands() {
            let prefix = if matches!(op, Op::Info) {
                "!mask=radix-tree-nodes "
            } else {
                ""
            };
            out.push_str(&format!("{prefix}{}\n", describe(&Action::Command(args))));
        }
        out
    }
}

fn sequence() -> impl Strategy<Value = Sequence> {
    (
        prop_oneof![Just(3u32), Just(5), Just(100)],
        prop::collection::vec(op(), 1..40),
    )
        .prop_map(|(node_max_entries, ops)| Sequence {
            node_max_entries,
            ops,
        })
}

/// Redis 7.4 refuses XSETID below the stream's current max-deleted-entry-id; the 7.0 oracle
/// accepts it. Rill follows 7.4, so such commands are left out (see newer_than_7_0.md).
fn differs_between_7_0_and_7_4(duel: &mut Duel, op: &Op) -> bool {
    let Op::SetId { id, .. } = op else {
        return false;
    };
    let info = duel.ask_redis(&[
        b"XINFO".to_vec(),
        b"STREAM".to_vec(),
        KEY.as_bytes().to_vec(),
    ]);
    let Reply::Array(items) = info else {
        return false;
    };
    let max_deleted = items
        .chunks(2)
        .find(|pair| pair[0].as_text() == Some(b"max-deleted-entry-id"))
        .and_then(|pair| pair.get(1).and_then(Reply::as_text))
        .and_then(|text| std::str::from_utf8(text).ok())
        .and_then(|text| text.split_once('-'))
        .and_then(|(ms, seq)| Some((ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?)));
    max_deleted.is_some_and(|deleted| (id.0, id.1) < deleted)
}

/// Runs one sequence on fresh state and fails at the first reply that differs.
fn run_sequence(servers: &Servers, sequence: &Sequence) -> Result<(), TestCaseError> {
    let mut duel = Duel::new(servers, false);
    let node_size = sequence.node_max_entries.to_string().into_bytes();
    let setup = [
        vec![b"FLUSHALL".to_vec()],
        vec![
            b"CONFIG".to_vec(),
            b"SET".to_vec(),
            b"stream-node-max-entries".to_vec(),
            node_size,
        ],
    ];
    for args in setup {
        let action = Action::Command(args);
        let outcome = duel.exchange(0, &action, &Masking::default());
        if !outcome.matches {
            return Err(TestCaseError::fail(format!(
                "setup `{}` differs: redis {} / other {}",
                describe(&action),
                outcome.redis,
                outcome.other
            )));
        }
    }
    let mut transcript = String::new();
    for (i, (op, args)) in sequence.commands().into_iter().enumerate() {
        let action = Action::Command(args);
        if differs_between_7_0_and_7_4(&mut duel, op) {
            transcript.push_str(&format!(
                "{:>3} {}  (skipped: 7.0 and 7.4 differ)\n",
                i + 1,
                describe(&action)
            ));
            continue;
        }
        rill_tests::property::step(&mut duel, i, &action, &op.masking(), &mut transcript)?;
    }
    Ok(())
}

#[test]
fn random_stream_command_sequences_match_redis() {
    let Some(servers) = Servers::start() else {
        return; // redis-server missing: the oracle printed a loud warning.
    };
    rill_tests::property::check(
        "stream",
        &servers,
        &sequence(),
        |sequence| run_sequence(&servers, sequence),
        |minimal| minimal.as_case(),
    );
}
