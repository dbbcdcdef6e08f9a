//! `XADD key [NOMKSTREAM] [KEEPREF|DELREF|ACKED] [IDMPAUTO pid | IDMP pid iid] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]`
//!
//! Appends an entry, creating the stream unless NOMKSTREAM, then trims if asked. The ID is
//! `*` (from the clock), `ms-*` (the sequence is picked), or explicit; it must be greater than
//! the stream's last ID. With IDMP or IDMPAUTO (Redis 8.6) a producer's retry of an entry the
//! stream already holds adds nothing and answers the first attempt's ID.

use bytes::Bytes;

use super::trim_args::{self, AddOrTrimArgs, IdmpArgs};
use super::{Ctx, Group, Spec};
use crate::error;
use crate::id::StreamId;
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::stream::idmp::auto_iid;
use crate::stream::references::{RefPolicy, TrimOutcome};

/// XADD's table entry: arity -5 (key, ID and at least one field/value pair), flagged `denyoom`
/// because it grows memory.
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xadd",
        -5,
        Group::Stream,
        &["write", "denyoom", "fast"],
        (1, 1, 1),
        "Appends a new entry to a stream, creating it if needed.",
        run,
    )
    .since("5.0.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = ctx.state.config.node_limits;
    let opts = match trim_args::parse(args, true, limits) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let field_pos = opts.id_index + 1;
    let rest = args.len().saturating_sub(field_pos);
    if rest < 2 || rest % 2 == 1 {
        return Reply::error(error::arity("xadd"));
    }
    if let Some(p) = opts.id {
        if p.seq_given && p.id == StreamId::MIN {
            return Reply::error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    // A replayed log carries the ID the entry got; a client must let the stream pick it.
    if opts.idmp.is_some() && opts.id.is_some() && !ctx.session.loader {
        return Reply::error("ERR IDMP/IDMPAUTO can be used only with auto-generated IDs");
    }
    let idempotency = match opts
        .idmp
        .map(|idmp| producer_and_iid(args, idmp, field_pos))
    {
        Some(Err(e)) => return e,
        Some(Ok(pair)) => Some(pair),
        None => None,
    };
    let pairs = args[field_pos..]
        .chunks_exact(2)
        .map(|kv| (kv[0].as_ref(), kv[1].as_ref()));
    with_pairs(pairs, |pairs| {
        add(ctx, &args[1], &opts, idempotency, pairs, |ctx, id| {
            // Logged with the ID it got (see `add`), IDMP words kept, trim options dropped.
            let (idmp, idmp_len): ([&[u8]; 3], usize) = match opts.idmp {
                Some(IdmpArgs::Given { pid, iid }) => ([b"IDMP", &args[pid], &args[iid]], 3),
                Some(IdmpArgs::Auto { pid }) => ([b"IDMPAUTO", &args[pid], b""], 2),
                None => ([b""; 3], 0),
            };
            let mut text = [0u8; 41];
            let fields = &args[field_pos..];
            let parts = [&b"XADD"[..], &args[1]]
                .into_iter()
                .chain(idmp.into_iter().take(idmp_len))
                .chain([id.text(&mut text)])
                .chain(fields.iter().map(|a| a.as_ref()));
            ctx.propagate_parts(3 + idmp_len + fields.len(), parts);
        })
    })
}

/// The most field-value pairs [`with_pairs`] lays out on the stack.
const STACK_PAIRS: usize = 8;

/// Runs `f` on `pairs` laid out as a slice: on the stack when there are at most
/// [`STACK_PAIRS`] of them (nearly every entry), else in a vector; an XADD then allocates
/// nothing for its argument list.
fn with_pairs<'a, R>(
    pairs: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>,
    f: impl FnOnce(&[(&'a [u8], &'a [u8])]) -> R,
) -> R {
    let n = pairs.len();
    if n > STACK_PAIRS {
        let all: Vec<_> = pairs.collect();
        return f(&all);
    }
    let mut stack: [(&[u8], &[u8]); STACK_PAIRS] = [(&[], &[]); STACK_PAIRS];
    for (slot, pair) in stack.iter_mut().zip(pairs) {
        *slot = pair;
    }
    f(&stack[..n])
}

/// `XADD key * field value ...` given as values (see [`super::prepared`]).
pub(crate) fn add_fields(ctx: &mut Ctx, key: &Bytes, fields: &[(Bytes, Bytes)]) -> Reply {
    let pairs = fields.iter().map(|(f, v)| (&f[..], &v[..]));
    with_pairs(pairs, |pairs| {
        add(
            ctx,
            key,
            &AddOrTrimArgs::default(),
            None,
            pairs,
            |ctx, id| {
                let mut text = [0u8; 41];
                let parts = [&b"XADD"[..], key, id.text(&mut text)]
                    .into_iter()
                    .chain(pairs.iter().flat_map(|&(f, v)| [f, v]));
                ctx.propagate_parts(3 + 2 * pairs.len(), parts);
            },
        )
    })
}

/// Appends `pairs` to the stream at `key` once the options are checked: creates the stream,
/// answers a retry's first ID (IDMP), picks the ID, trims, and logs the XADD through `log`,
/// given the ID the entry got.
fn add(
    ctx: &mut Ctx,
    key: &Bytes,
    opts: &AddOrTrimArgs,
    idempotency: Option<(Bytes, Bytes)>,
    pairs: &[(&[u8], &[u8])],
    log: impl FnOnce(&mut Ctx, StreamId),
) -> Reply {
    let limits = ctx.state.config.node_limits;
    let now = ctx.now_ms;
    let replaying = ctx.session.loader;
    let db = ctx.db();
    let stream = match db.get_mut(key, now) {
        Some(Value::Stream(s)) => s,
        Some(_) => return Reply::error(error::WRONGTYPE),
        None if opts.no_mkstream => return Reply::Null,
        None => {
            let fresh = ctx.state.config.new_stream();
            let db = &mut ctx.state.keyspace.dbs[ctx.session.db];
            db.set(key.clone(), Value::Stream(Box::new(fresh)), false);
            match db.get_mut(key, now) {
                Some(Value::Stream(s)) => s,
                _ => return Reply::error(error::WRONGTYPE),
            }
        }
    };
    if let Some((pid, iid)) = idempotency.as_ref().filter(|_| !replaying) {
        // A retry: nothing is added or trimmed, nothing is logged. (A logged XADD always
        // appends when replayed: the settings it met may have been different.)
        if let Some(original) = stream.idmp.find_duplicate(pid, iid, now) {
            return original.to_reply();
        }
    }
    if stream.last_id == StreamId::MAX {
        return Reply::error(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        );
    }
    let id = match opts.id {
        None => StreamId::next_auto(stream.last_id, now),
        Some(p) if p.seq_given => p.id,
        Some(p) => {
            if stream.last_id.ms == p.id.ms {
                if stream.last_id.seq == u64::MAX {
                    return too_small();
                }
                StreamId::new(p.id.ms, stream.last_id.seq + 1)
            } else {
                p.id
            }
        }
    };
    if id <= stream.last_id {
        return too_small();
    }
    stream.append(id, pairs, limits);
    if let Some((pid, iid)) = &idempotency {
        stream.idmp.record(pid, iid, id);
    }
    let trimmed = opts
        .trim
        .map(|trim| stream.trim_with(trim, opts.policy))
        .unwrap_or_default();
    let len_after = stream.len();
    if idempotency.is_some() {
        ctx.db().track_idmp(key);
    }
    ctx.notify(crate::notify::STREAM, "xadd", key);
    if trimmed.removed > 0 {
        ctx.notify(crate::notify::STREAM, "xtrim", key);
    }
    ctx.touch(key);
    if ctx.state.propagation.enabled() {
        // Logged with the ID it got and, when it trimmed, an exact trim to the length it
        // left: replayed, both remove the same entries whatever `~` and LIMIT allowed.
        log(ctx, id);
        if trimmed.removed > 0 {
            ctx.propagate(logged_trim(key, len_after, trimmed, opts.policy));
        }
    }
    id.to_reply()
}

/// How a trim is logged, whatever form it was asked in, so that a replay removes exactly
/// the same entries: a KEEPREF trim removed a prefix, logged as `XTRIM key MAXLEN = len`;
/// a DELREF or ACKED trim removed, from the oldest, every entry it could up to the last it
/// removed, logged as `XTRIM key MINID = <just after it> DELREF|ACKED`.
pub fn logged_trim(key: &Bytes, len: u64, outcome: TrimOutcome, policy: RefPolicy) -> Vec<Bytes> {
    let (strategy, threshold) = match outcome.last_removed {
        Some(last) if policy != RefPolicy::KeepRef => (
            &b"MINID"[..],
            last.successor().unwrap_or(StreamId::MAX).to_string(),
        ),
        _ => (&b"MAXLEN"[..], len.to_string()),
    };
    let mut logged = vec![
        Bytes::from_static(b"XTRIM"),
        key.clone(),
        Bytes::from_static(strategy),
        Bytes::from_static(b"="),
        Bytes::from(threshold),
    ];
    if policy != RefPolicy::KeepRef {
        logged.push(Bytes::from_static(policy.name().as_bytes()));
    }
    logged
}

/// The producer ID and idempotent ID of an IDMP or IDMPAUTO request.
fn producer_and_iid(
    args: &[Bytes],
    idmp: IdmpArgs,
    field_pos: usize,
) -> Result<(Bytes, Bytes), Reply> {
    match idmp {
        IdmpArgs::Given { pid, iid } => Ok((args[pid].clone(), args[iid].clone())),
        IdmpArgs::Auto { pid } => match auto_iid(&args[field_pos..]) {
            Some(iid) => Ok((args[pid].clone(), Bytes::copy_from_slice(&iid))),
            None => Err(Reply::error("ERR Failed to create idempotency hash")),
        },
    }
}

fn too_small() -> Reply {
    Reply::error("ERR The ID specified in XADD is equal or smaller than the target stream top item")
}
