//! The sorted-set commands over ranges of ranks, scores or members: ZRANGE (BYSCORE, BYLEX,
//! REV, LIMIT, WITHSCORES), ZRANGESTORE, the older ZRANGEBYSCORE, ZREVRANGEBYSCORE,
//! ZRANGEBYLEX, ZREVRANGEBYLEX and ZREVRANGE, ZCOUNT, ZLEXCOUNT and ZREMRANGEBYRANK, -SCORE,
//! -LEX. Ranges are parsed before the key is looked up, with Redis's errors, as Redis does.

use bytes::Bytes;

use super::typed::changed;
use super::zsets::{entries_reply, read_zset, write_zset};
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::keyspace::Value;
use crate::notify::{GENERIC, ZSET};
use crate::reply::Reply;
use crate::score;
use crate::zset::{Entry, ZSet};

/// The range commands' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::SortedSet);
    let one = (1, 1, 1);
    let read: &'static [&'static str] = &["readonly"];
    let read_fast: &'static [&'static str] = &["readonly", "fast"];
    let remove: &'static [&'static str] = &["write"];
    vec![
        spec("zrange", -4, read, one, "1.2.0", "Returns members in a sorted set within a range of indexes.", zrange),
        spec("zrangestore", -5, &["write", "denyoom"], (1, 2, 1), "6.2.0", "Stores a range of members from sorted set in a key.", zrangestore),
        spec("zrangebyscore", -4, read, one, "1.0.5", "Returns members in a sorted set within a range of scores.", zrangebyscore),
        spec("zrevrangebyscore", -4, read, one, "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", zrevrangebyscore),
        spec("zrangebylex", -4, read, one, "2.8.9", "Returns members in a sorted set within a lexicographical range.", zrangebylex),
        spec("zrevrangebylex", -4, read, one, "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", zrevrangebylex),
        spec("zrevrange", -4, read, one, "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", zrevrange),
        spec("zcount", 4, read_fast, one, "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", zcount),
        spec("zlexcount", 4, read_fast, one, "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", zlexcount),
        spec("zremrangebyrank", 4, remove, one, "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", zremrangebyrank),
        spec("zremrangebyscore", 4, remove, one, "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", zremrangebyscore),
        spec("zremrangebylex", 4, remove, one, "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", zremrangebylex),
    ]
}

const NOT_FLOAT: &str = "ERR min or max is not a float";
const NOT_LEX: &str = "ERR min or max not valid string range item";

/// A score interval, each end open or closed.
#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: f64,
    max: f64,
    min_open: bool,
    max_open: bool,
}

impl ScoreRange {
    /// `min` and `max` as ZRANGEBYSCORE reads them: `(` opens an end, `-inf`/`+inf` allowed.
    fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let end = |a: &[u8]| match a.strip_prefix(b"(") {
            Some(rest) => score::parse_lax(rest).map(|v| (v, true)),
            None => score::parse_lax(a).map(|v| (v, false)),
        };
        let (min, min_open) = end(min)?;
        let (max, max_open) = end(max)?;
        Some(ScoreRange {
            min,
            max,
            min_open,
            max_open,
        })
    }

    fn above_min(&self, s: f64) -> bool {
        if self.min_open {
            s > self.min
        } else {
            s >= self.min
        }
    }

    fn below_max(&self, s: f64) -> bool {
        if self.max_open {
            s < self.max
        } else {
            s <= self.max
        }
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_open || self.max_open))
    }
}

/// One end of a member interval: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone)]
enum LexEnd {
    Lowest,
    Highest,
    Closed(Bytes),
    Open(Bytes),
}

impl LexEnd {
    fn parse(a: &Bytes) -> Option<LexEnd> {
        match a.first()? {
            b'+' if a.len() == 1 => Some(LexEnd::Highest),
            b'-' if a.len() == 1 => Some(LexEnd::Lowest),
            b'[' => Some(LexEnd::Closed(a.slice(1..))),
            b'(' => Some(LexEnd::Open(a.slice(1..))),
            _ => None,
        }
    }

    /// The bound's place among members: (rank of its kind, text) compared as Redis's
    /// `sdscmplex` compares its shared min and max strings.
    fn key(&self) -> (u8, &[u8]) {
        match self {
            LexEnd::Lowest => (0, b""),
            LexEnd::Closed(m) | LexEnd::Open(m) => (1, m),
            LexEnd::Highest => (2, b""),
        }
    }

    fn is_open(&self) -> bool {
        !matches!(self, LexEnd::Closed(_))
    }
}

/// A member interval.
#[derive(Debug, Clone)]
struct LexRange {
    min: LexEnd,
    max: LexEnd,
}

impl LexRange {
    fn parse(min: &Bytes, max: &Bytes) -> Option<LexRange> {
        Some(LexRange {
            min: LexEnd::parse(min)?,
            max: LexEnd::parse(max)?,
        })
    }

    fn above_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexEnd::Lowest => true,
            LexEnd::Highest => false,
            LexEnd::Closed(b) => m >= &b[..],
            LexEnd::Open(b) => m > &b[..],
        }
    }

    fn below_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexEnd::Lowest => false,
            LexEnd::Highest => true,
            LexEnd::Closed(b) => m <= &b[..],
            LexEnd::Open(b) => m < &b[..],
        }
    }

    fn is_empty(&self) -> bool {
        let order = self.min.key().cmp(&self.max.key());
        order.is_gt() || (order.is_eq() && (self.min.is_open() || self.max.is_open()))
    }
}

/// A test of one entry against one end of a range.
type EntryTest<'a> = Box<dyn Fn(&Entry) -> bool + 'a>;

/// What a range selects.
#[derive(Debug, Clone)]
enum Selection {
    Ranks(i64, i64),
    Scores(ScoreRange),
    Members(LexRange),
}

impl Selection {
    /// For the score and member forms: whether an entry is past the low end, and not past
    /// the high end.
    fn bounds(&self) -> Option<(EntryTest<'_>, EntryTest<'_>)> {
        match self {
            Selection::Ranks(..) => None,
            Selection::Scores(r) => Some((
                Box::new(move |e: &Entry| r.above_min(e.0)),
                Box::new(move |e: &Entry| r.below_max(e.0)),
            )),
            Selection::Members(r) => Some((
                Box::new(move |e: &Entry| r.above_min(&e.1)),
                Box::new(move |e: &Entry| r.below_max(&e.1)),
            )),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Selection::Ranks(..) => false,
            Selection::Scores(r) => r.is_empty(),
            Selection::Members(r) => r.is_empty(),
        }
    }
}

/// The ranks `lo..hi` a selection covers in `z` (ranks clamped as ZRANGE clamps them).
fn covered(z: &ZSet, selection: &Selection) -> (usize, usize) {
    let len = z.len() as i64;
    if let Selection::Ranks(start, end) = *selection {
        let start = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        let end = if end < 0 { len + end } else { end.min(len - 1) };
        if start > end || start >= len {
            return (0, 0);
        }
        return (start as usize, end as usize + 1);
    }
    let Some((above_min, below_max)) = selection.bounds() else {
        return (0, 0);
    };
    if selection.is_empty() {
        return (0, 0);
    }
    let lo = first_failing(z, |e| !above_min(e));
    let hi = first_failing(z, |e| below_max(e));
    (lo, hi.max(lo))
}

/// How many leading entries satisfy `pred`: a scan of a listpack (as Redis walks it), a
/// binary search of a skiplist's order.
fn first_failing(z: &ZSet, pred: impl Fn(&Entry) -> bool) -> usize {
    if z.encoding() == "listpack" {
        z.iter().position(|e| !pred(&e)).unwrap_or(z.len())
    } else {
        z.count_before(pred)
    }
}

/// ZRANGE's LIMIT: entries skipped, then at most this many (negative: all).
#[derive(Debug, Clone, Copy)]
struct Limit {
    offset: i64,
    count: i64,
}

/// The entries `selection` picks from `z`, in reply order.
fn select(z: &ZSet, selection: &Selection, rev: bool, limit: Option<Limit>) -> Vec<Entry> {
    let (mut lo, mut hi) = covered(z, selection);
    if lo >= hi {
        return Vec::new();
    }
    if rev && matches!(selection, Selection::Ranks(..)) {
        // Ranks counted from the top: the same span seen from the bottom.
        (lo, hi) = (z.len() - hi, z.len() - lo);
    }
    let Limit { offset, count } = limit.unwrap_or(Limit {
        offset: 0,
        count: -1,
    });
    // A negative offset skips everything, as Redis's countdown does; so does one past the
    // range.
    if offset < 0 || offset as u64 >= (hi - lo) as u64 {
        return Vec::new();
    }
    let available = (hi - lo).saturating_sub(offset as usize);
    let take = if count < 0 {
        available
    } else {
        available.min(count as usize)
    };
    if rev {
        z.slice(hi - 1 - offset as usize, take, true)
    } else {
        z.slice(lo + offset as usize, take, false)
    }
}

/// How ZRANGE's arguments may choose the kind of range and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Any,
    Rank,
    Score,
    Lex,
}

/// Parsed ZRANGE-family arguments.
struct Request {
    selection: Selection,
    rev: bool,
    limit: Option<Limit>,
    with_scores: bool,
}

/// Parses `key min max [options]` from `args[at]` (the key) as Redis's `zrangeGenericCommand`:
/// `by` and `rev` fixed by the older commands, chosen by the options of ZRANGE and ZRANGESTORE.
fn parse_request(
    args: &[Bytes],
    at: usize,
    store: bool,
    by: By,
    rev: Option<bool>,
) -> Result<Request, Reply> {
    let (mut by, mut rev_word, mut limit, mut with_scores) = (by, None, None, false);
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "withscores") {
            with_scores = true;
        } else if is(a, "limit") && left >= 2 {
            let offset = int_arg(&args[j + 1])?;
            let count = int_arg(&args[j + 2])?;
            limit = Some(Limit { offset, count });
            j += 2;
        } else if rev.is_none() && rev_word.is_none() && is(a, "rev") {
            rev_word = Some(true);
        } else if by == By::Any && is(a, "bylex") {
            by = By::Lex;
        } else if by == By::Any && is(a, "byscore") {
            by = By::Score;
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
        j += 1;
    }
    let rev = rev.or(rev_word).unwrap_or(false);
    let by = if by == By::Any { By::Rank } else { by };
    if by == By::Rank {
        // As Redis: only a count other than -1 conflicts with a range of ranks; `LIMIT n -1`
        // is taken and ignored.
        if limit.take().is_some_and(|l| l.count != -1) {
            return Err(Reply::error(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
    }
    if with_scores && by == By::Lex {
        return Err(Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min, mut max) = (&args[at + 1], &args[at + 2]);
    if rev && by != By::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let selection = match by {
        By::Score => {
            Selection::Scores(ScoreRange::parse(min, max).ok_or_else(|| Reply::error(NOT_FLOAT))?)
        }
        By::Lex => {
            Selection::Members(LexRange::parse(min, max).ok_or_else(|| Reply::error(NOT_LEX))?)
        }
        By::Rank | By::Any => Selection::Ranks(int_arg(min)?, int_arg(max)?),
    };
    Ok(Request {
        selection,
        rev,
        limit,
        with_scores,
    })
}

/// The read forms: `key min max [options]` from `args[1]`.
fn range_reply(ctx: &mut Ctx, args: &[Bytes], by: By, rev: Option<bool>) -> Reply {
    let request = match parse_request(args, 1, false, by, rev) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let resp3 = ctx.session.protocol >= 3;
    match read_zset(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(z)) => {
            let entries = select(z, &request.selection, request.rev, request.limit);
            entries_reply(entries, request.with_scores, resp3)
        }
    }
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_reply(ctx, args, By::Any, None)
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_reply(ctx, args, By::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_reply(ctx, args, By::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_reply(ctx, args, By::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_reply(ctx, args, By::Lex, Some(true))
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_reply(ctx, args, By::Rank, Some(true))
}

/// Stores `entries` as the sorted set at `dst` (replacing whatever was there), or deletes
/// `dst` when there are none; the reply is the new size. (ZRANGESTORE and the store forms of
/// the set operations.)
pub(super) fn store(ctx: &mut Ctx, dst: &Bytes, entries: Vec<Entry>, event: &'static str) -> Reply {
    let n = entries.len();
    if n == 0 {
        let existed = ctx.db().remove(dst).is_some();
        if existed {
            ctx.notify(GENERIC, "del", dst);
            ctx.touch(dst);
        }
        return Reply::Integer(0);
    }
    let limits = ctx.state.config.zset_limits();
    let z = ZSet::from_entries(entries, limits);
    ctx.db().set(dst.clone(), Value::ZSet(z), false);
    ctx.notify(ZSET, event, dst);
    ctx.touch(dst);
    Reply::Integer(n as i64)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let request = match parse_request(args, 2, true, By::Any, None) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let entries = match read_zset(ctx, &args[2]) {
        Err(e) => return e,
        Ok(None) => Vec::new(),
        Ok(Some(z)) => select(z, &request.selection, request.rev, request.limit),
    };
    store(ctx, &args[1], entries, "zrangestore")
}

/// How many entries of the sorted set at `key` `selection` covers.
fn count(ctx: &mut Ctx, key: &[u8], selection: Selection) -> Reply {
    match read_zset(ctx, key) {
        Err(e) => e,
        Ok(None) => Reply::Integer(0),
        Ok(Some(z)) => {
            let (lo, hi) = covered(z, &selection);
            Reply::Integer(hi.saturating_sub(lo) as i64)
        }
    }
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ScoreRange::parse(&args[2], &args[3]) {
        None => Reply::error(NOT_FLOAT),
        Some(r) => count(ctx, &args[1], Selection::Scores(r)),
    }
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match LexRange::parse(&args[2], &args[3]) {
        None => Reply::error(NOT_LEX),
        Some(r) => count(ctx, &args[1], Selection::Members(r)),
    }
}

/// Removes what `selection` covers from the sorted set at `key`.
fn remove(ctx: &mut Ctx, key: &Bytes, selection: Selection, event: &'static str) -> Reply {
    let z = match write_zset(ctx, key) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(z)) => z,
    };
    let (lo, hi) = covered(z, &selection);
    let removed = z.remove_ranks(lo, hi).len();
    let emptied = z.is_empty();
    if removed > 0 {
        changed(ctx, key, emptied, (ZSET, event));
    }
    Reply::Integer(removed as i64)
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(start), Ok(end)) => remove(
            ctx,
            &args[1],
            Selection::Ranks(start, end),
            "zremrangebyrank",
        ),
        (Err(e), _) | (_, Err(e)) => e,
    }
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ScoreRange::parse(&args[2], &args[3]) {
        None => Reply::error(NOT_FLOAT),
        Some(r) => remove(ctx, &args[1], Selection::Scores(r), "zremrangebyscore"),
    }
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match LexRange::parse(&args[2], &args[3]) {
        None => Reply::error(NOT_LEX),
        Some(r) => remove(ctx, &args[1], Selection::Members(r), "zremrangebylex"),
    }
}
